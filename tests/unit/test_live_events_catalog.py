"""The live events: one catalogue (live_events' models), one way to publish, each event named
where it happens."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.services.live_events import EVENT_MODELS, EVENTS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "chalicelib" / "services"
# What each event's namer is called: message:new -> message_new, conversation:window_closed -> windows_closed.
NAMERS = {
    "message:new": "message_new",
    "message:updated": "message_updated",
    "message:status": "message_status",
    "conversation:new": "conversation_new",
    "conversation:updated": "conversation_updated",
    "conversation:assigned": "conversation_assigned",
    "conversation:closed": "conversation_closed",
    "conversation:window_closed": "windows_closed",
    "template:updated": "template_updated",
    "contact:updated": "contact_updated",
    "note:new": "note_new",
}


def _sources() -> dict[str, str]:
    paths = [
        ROOT / "app.py",
        *SERVICES.glob("*.py"),
        *SERVICES.glob("*/*.py"),
        *(ROOT / "chalicelib" / "routes").glob("*.py"),
    ]
    # Keyed by file name; a route module and its service (lgpd.py) count as one, and the
    # modules of a service package (services/inbound/) as the package's name (inbound.py).
    texts: dict[str, str] = {}
    for p in paths:
        name = f"{p.parent.name}.py" if p.parent.parent == SERVICES else p.name
        # The event path itself: the shapes, the delivery, the drain and the pushes it derives.
        if name not in ("live_events.py", "realtime.py", "outbox.py", "push.py", "live_drain.py"):
            texts[name] = texts.get(name, "") + p.read_text(encoding="utf-8")
    return texts


def _named_in() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, text in _sources().items():
        for event, namer in NAMERS.items():
            if re.search(rf"live_events\.{namer}\(", text):
                found.setdefault(event, set()).add(name)
    return found


def test_the_catalogue_is_the_documented_set_and_every_model_names_its_event():
    assert set(NAMERS) == EVENTS
    for event, model in EVENT_MODELS.items():
        assert model.model_json_schema()["properties"]["type"]["const"] == event


def test_nothing_publishes_around_the_after_commit_path():
    """Services name events through live_events; none builds a payload or calls the sender."""
    for name, text in _sources().items():
        assert not re.search(r"realtime\.publish", text), name
        assert not re.search(r"""["'](?:message|conversation|template|contact):[a-z_]+["']""", text), name


def test_the_events_are_named_where_they_happen():
    named = _named_in()
    expected = {
        "message:new": {"inbound.py", "sending.py"},  # webhook, and the attendant's send
        # media ready / failed, send failed, send never confirmed (swept)
        "message:updated": {"media.py", "sending.py", "send_sweep.py"},
        "message:status": {"inbound.py", "sending.py", "send_sweep.py"},
        "conversation:new": {"inbound.py"},
        "conversation:assigned": {"assignment.py", "auth.py"},  # atribuir, transferir, liberar, a send that takes it
        # marked read, reopened, new inbound message, sent / window closed by WhatsApp,
        # contact renamed or moved in the journey, anonymised
        "conversation:updated": {"inbox.py", "assignment.py", "inbound.py", "sending.py", "contacts.py", "lgpd.py"},
        "conversation:closed": {"assignment.py", "lgpd.py"},
        "conversation:window_closed": {"window_expiry.py"},
        "template:updated": {"templates.py", "inbound.py"},  # sync, and the status webhook
        # edits, the lead form, anonymisation; deactivation frees conversations (assigned)
        "contact:updated": {"contacts.py", "lgpd.py"},
    }
    for event, modules in expected.items():
        assert modules <= named.get(event, set()), (event, named.get(event))
