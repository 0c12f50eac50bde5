"""SQL for the outbox of live events (0015): rows written in a transaction, drained in id order."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db

# pg_advisory_lock key of the drain (0015), numbered like the distribution's (0013): one drain
# at a time, also where no FIFO message group serialises the drains (the local stack, tests).
DRAIN_LOCK_KEY = 1_500_015


def insert(itens: list[list[Any]]) -> int:
    return db.scalar(
        "INSERT INTO outbox (itens) VALUES (CAST(:itens AS jsonb)) RETURNING id",
        itens=json.dumps(itens, separators=(",", ":"), default=str),
    )


def pending(limit: int) -> list[dict[str, Any]]:
    """The oldest committed rows (what a concurrent transaction has not committed is not seen:
    it is drained on a later round)."""
    return db.query("SELECT id, itens, created_at FROM outbox ORDER BY id LIMIT :limit", limit=limit)


def delete(ids: list[int]) -> int:
    if not ids:
        return 0
    return db.execute("DELETE FROM outbox WHERE id = ANY(CAST(:ids AS bigint[]))", ids=list(ids))


def oldest_age_seconds() -> float | None:
    """How long the oldest undelivered row has waited (None when the outbox is empty)."""
    return db.scalar("SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM outbox")


def lock_drain() -> None:
    """Wait for the drain lock (session-level: held across the autocommit statements of a drain)."""
    db.scalar("SELECT pg_advisory_lock(:key)", key=DRAIN_LOCK_KEY)


def unlock_drain() -> None:
    db.scalar("SELECT pg_advisory_unlock(:key)", key=DRAIN_LOCK_KEY)
