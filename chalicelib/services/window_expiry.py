"""handle_window_expiry: announce the 24-hour windows that closed since the last run.

Only announces: whether a window is open is always `now() < window_expires_at`, checked
by the senders themselves, so a late or missing run never lets a free message through.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import db
from chalicelib.observability import logger
from chalicelib.repositories import window_expiry
from chalicelib.services import live_events

# A normal 5-minute run closes a handful of windows; after an outage there may be tens of
# thousands. They go in batches, each its own short statement and commit, until none is left
# or the run's deadline (the stages' Lambda timeout is 30 s): a backlog is never one long
# statement near the 15 s statement timeout, and what is left waits for the next run.
BATCH_SIZE = 1_000
RUN_DEADLINE_SECONDS = 12.0


def expire_windows(
    batch_size: int = BATCH_SIZE, deadline_seconds: float = RUN_DEADLINE_SECONDS
) -> list[dict[str, Any]]:
    """Handle newly closed windows once each, batch by batch until done or the deadline;
    returns the conversations handled."""
    stop_at = time.monotonic() + deadline_seconds
    handled: list[dict[str, Any]] = []
    batches = 0
    while True:
        with db.transaction():
            batch = window_expiry.handle_expired(batch_size)
            if batch:
                # One outbox row per batch; the drain announces them, in frames, off this run.
                live_events.windows_closed(batch)
        handled += batch
        batches += 1
        if len(batch) < batch_size or time.monotonic() >= stop_at:
            break
    left = len(batch) == batch_size
    logger.info("window expiry done", extra={"handled": len(handled), "batches": batches, "more_left": left})
    return handled
