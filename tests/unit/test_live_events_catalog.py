"""Every live event of DESIGN §6 has a publisher, and nothing publishes an event outside it."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.services.realtime import EVENTS

ROOT = Path(__file__).resolve().parents[2]
# An event name as a string literal: "message:new", "conversation:window_closed", ...
_EVENT_LITERAL = re.compile(r"""["']((?:message|conversation|template|contact):[a-z_]+)["']""")


def _published() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    sources = [ROOT / "app.py", *(ROOT / "chalicelib" / "services").glob("*.py")]
    for path in sources:
        if path.name == "realtime.py":  # the catalogue itself
            continue
        for name in _EVENT_LITERAL.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(path.name)
    return found


def test_every_design_event_has_a_publisher_and_no_other_event_is_published():
    published = _published()
    assert set(published) == set(EVENTS), {"missing": EVENTS - set(published), "unknown": set(published) - EVENTS}


def test_the_events_are_published_where_they_happen():
    published = _published()
    expected = {
        "message:new": {"inbound.py", "sending.py"},  # webhook, and the attendant's send
        # media ready / failed, send failed, send never confirmed (swept)
        "message:updated": {"media.py", "sending.py", "send_sweep.py"},
        "message:status": {"inbound.py", "sending.py", "send_sweep.py"},
        "conversation:new": {"inbound.py"},
        "conversation:assigned": {"assignment.py", "sending.py"},
        # marked read, reopened, new inbound message, sent / window closed by WhatsApp,
        # contact renamed or moved in the journey, anonymised
        "conversation:updated": {"inbox.py", "assignment.py", "inbound.py", "sending.py", "contacts.py", "lgpd.py"},
        "conversation:closed": {"assignment.py"},
        "conversation:window_closed": {"window_expiry.py"},
        "template:updated": {"templates.py", "inbound.py"},  # sync, and the status webhook
    }
    for event, modules in expected.items():
        assert modules <= published[event], (event, published[event])
