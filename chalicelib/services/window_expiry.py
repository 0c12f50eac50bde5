"""handle_window_expiry: announce the 24-hour windows that closed since the last run.

Only announces: whether a window is open is always `now() < window_expires_at`, checked
by the senders themselves, so a late or missing run never lets a free message through.
"""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger

# Far above a normal 5-minute run; a cap keeps one backlogged run within the Lambda timeout.
DEFAULT_BATCH_LIMIT = 50_000
# The announcements of one run stop after this long (the stages' Lambda timeout is 30 s).
# The windows are already marked: a browser that misses an announcement still shows the
# window closed by its own clock, since every conversation carries window_expires_at.
PUBLISH_DEADLINE_SECONDS = 20.0


def expire_windows(limit: int = DEFAULT_BATCH_LIMIT) -> list[dict[str, Any]]:
    """Handle every newly closed window once; returns the conversations handled."""
    from chalicelib import db
    from chalicelib.repositories import window_expiry
    from chalicelib.services import live_events

    with db.transaction():
        handled = window_expiry.handle_expired(limit)
        if handled:
            live_events.windows_closed(handled, deadline=PUBLISH_DEADLINE_SECONDS)
    logger.info("window expiry done", extra={"handled": len(handled)})
    return handled
