"""Capture the live events a test causes, exactly as they would go on the wire.

Every captured event is JSON-encoded by the real encoder and validated against its contract
model (chalicelib.services.live_events): a payload of the wrong shape fails the test that
caused it, whichever test that is.
"""

from __future__ import annotations

import json
from typing import Any


class Published(list):
    """The (event, data) pairs in order; `calls` keeps them grouped by publish call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[tuple[str, dict[str, Any]]]] = []

    def clear(self) -> None:
        super().clear()
        self.calls.clear()


def capture_live_events(monkeypatch, into: list[tuple[str, dict[str, Any]]] | None = None) -> Published:
    """Route published events into a list (returned); a connection is pretended so events are built."""
    from chalicelib.services import live_events, realtime

    events = Published() if into is None else into

    def publish_many(batch, **_kwargs) -> int:
        call = []
        for event, data in batch:
            wire = json.loads(realtime.encode(event, data))
            live_events.validate(wire["type"], wire["data"])
            call.append((wire["type"], wire["data"]))
        events.extend(call)
        if isinstance(events, Published):
            events.calls.append(call)
        return 1

    monkeypatch.setattr(realtime, "audience", lambda: ["test-connection"])
    monkeypatch.setattr(realtime, "publish_many", publish_many)
    return events
