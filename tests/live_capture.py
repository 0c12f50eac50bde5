"""Capture the live events a test causes, exactly as they would go on the wire.

The request writes its outbox row and nudges after the commit, as deployed; here the nudge
runs the real drain at once (a queue with no latency: tests/integration/test_outbox.py
covers the queue itself). Every event the drain delivers is JSON-encoded by the real encoder
and validated against its contract model (chalicelib.services.live_events): a payload of the
wrong shape fails the test that caused it, whichever test that is.
"""

from __future__ import annotations

import json
from typing import Any


class Published(list):
    """The (event, data) pairs in order; `calls` keeps them grouped by delivery round and
    `ids` holds each event's id."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[tuple[str, dict[str, Any]]]] = []
        self.ids: list[str] = []

    def clear(self) -> None:
        super().clear()
        self.calls.clear()
        self.ids.clear()


def drain_on_nudge(monkeypatch) -> None:
    """Each nudge drains the outbox at once, in the thread that committed."""
    from chalicelib.services import outbox

    def nudge() -> bool:
        outbox.drain()
        return True

    monkeypatch.setattr(outbox, "nudge", nudge)


def capture_live_events(monkeypatch, into: list[tuple[str, dict[str, Any]]] | None = None) -> Published:
    """Route delivered events into a list (returned); a connection is pretended so events are built."""
    from chalicelib.services import live_events, realtime

    events = Published() if into is None else into

    def publish_many(batch, **_kwargs) -> dict[str, int]:
        call = []
        for frame in realtime.frames(batch):
            wire = json.loads(frame)
            assert wire["type"] == "batch"
            for event in wire["events"]:
                live_events.validate(event["type"], event["data"], event["id"])
                call.append((event["type"], event["data"]))
                if isinstance(events, Published):
                    events.ids.append(event["id"])
        events.extend(call)
        if isinstance(events, Published):
            events.calls.append(call)
        return {"ok": 1, "gone": 0, "error": 0, "skipped": 0}

    drain_on_nudge(monkeypatch)
    monkeypatch.setattr(realtime, "audience", lambda: ["test-connection"])
    monkeypatch.setattr(realtime, "publish_many", publish_many)
    return events


def unwrap(frame: str | bytes) -> list[dict[str, Any]]:
    """The events of one WebSocket frame: a batch frame's events, or a lone message (a pong)."""
    message = json.loads(frame)
    return message["events"] if message.get("type") == "batch" else [message]


def recv_event(ws, timeout: float = 5) -> dict[str, Any]:
    """The next frame's only event (a test that caused exactly one event reads it this way)."""
    [event] = unwrap(ws.recv(timeout=timeout))
    return event
