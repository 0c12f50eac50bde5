"""The transactional outbox of live events and pushes (work in progress: see issue 15)."""

from __future__ import annotations

from typing import Any


def deadline_from(lambda_context: Any) -> float | None:
    import time

    remaining_ms = getattr(lambda_context, "get_remaining_time_in_millis", None)
    return None if remaining_ms is None else time.monotonic() + remaining_ms() / 1000 - 5


def drain(deadline: float | None = None) -> dict[str, int]:
    raise NotImplementedError("the outbox drain lands with issue 15")
