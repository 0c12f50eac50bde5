"""The outbox: live events and pushes leave the request that caused them.

1. In the transaction: `live_events.*` name what happened; just before COMMIT the names of
   the transaction go into one `outbox` row (`record`), so the change and its announcement
   commit together or not at all.
2. After the commit: one nudge on the live-events FIFO queue (`nudge`), whatever the number
   of browsers. Nudges of the same quarter second share a deduplication id, so a burst of
   webhooks makes a few SQS messages, not one per webhook. A nudge that cannot be sent is
   logged: the rows wait for the next nudge, or the window job's re-nudge (`renudge_stale`).
3. In the drain (`drain`, the Lambda `drain_live_events`): the rows in id order, built into
   events from the committed data (`live_events.build`: a burst of ticks of one message is
   one event), packed into frames, posted to every connection (one worker per connection:
   a dead socket holds only its own), pushes for new inbound messages (to the assignee, or
   to every attendant while unassigned) and for mentions, then the rows are deleted.

Order: one message group, so one drain at a time (and an advisory lock where there is no
FIFO queue); rows are read in id order, and two transactions that touch the same
conversation lock the same rows, so the later one writes its outbox row after the earlier
one committed. At least once: a drain that dies before deleting leaves its rows to the next,
which sends them again with the same event ids (the console ignores an id it has applied).
Deduplication by quarter second is safe because the drain that takes a nudge keeps reading
the outbox until that quarter second (plus a grace) has passed: every row whose nudge was
deduplicated into it committed before its quarter second ended.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from typing import Any

from chalicelib import db
from chalicelib.observability import logger

MESSAGE_GROUP = "live"
NUDGE_BUCKET_SECONDS = 0.25
# After the nudge's quarter second, how long the drain still looks for its rows: covers the
# clocks of two Lambdas (NTP-synchronised, milliseconds apart) with a wide margin.
NUDGE_GRACE_SECONDS = 0.5
# Rows per round: a round is one read, one build, one post per connection and one delete.
ROWS_PER_ROUND = 200
# While waiting for a nudge's rows, the outbox is read this often.
POLL_SECONDS = 0.05
# Kept back from the Lambda's remaining time for the last round's posts and delete.
RESERVE_SECONDS = 8.0
# A row older than this when the window job runs lost its nudge: it is nudged again.
STALE_SECONDS = 30.0


def record(itens: list[list[Any]]) -> None:
    """The outbox row of one transaction's events (inside it); its nudge after the commit."""
    from chalicelib.repositories import outbox as repo

    if not itens:
        return
    repo.insert(itens)
    db.on_commit(nudge)


@lru_cache(maxsize=4)
def _sqs(endpoint_url: str | None, region: str):
    import boto3
    from botocore.config import Config

    # One quick attempt: a slow SQS must not hold the request that committed. A lost nudge
    # only delays delivery until the next one.
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}),
    )


def reset_client() -> None:
    _sqs.cache_clear()


def nudge() -> bool:
    """Wake the drain (after a commit). Never raises; False when nothing was sent."""
    from chalicelib import metrics
    from chalicelib.config import get_settings

    settings = get_settings()
    if not settings.live_events_queue_url:
        return False
    bucket = int(time.time() / NUDGE_BUCKET_SECONDS)
    try:
        _sqs(settings.aws_endpoint_url, settings.aws_region).send_message(
            QueueUrl=settings.live_events_queue_url,
            MessageBody=json.dumps({"until": (bucket + 1) * NUDGE_BUCKET_SECONDS}),
            MessageGroupId=MESSAGE_GROUP,
            MessageDeduplicationId=f"q{bucket}",
        )
        return True
    except Exception as exc:  # noqa: BLE001 - the rows are committed; the next nudge takes them
        metrics.count("OutboxNudgeFailed")
        logger.warning("live events: nudge failed", extra={"error": str(exc)})
        return False


def deadline_from(lambda_context: Any) -> float | None:
    """time.monotonic() after which a drain starts no new round."""
    remaining_ms = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return time.monotonic() + remaining_ms() / 1000 - RESERVE_SECONDS


def linger_until(records: list[dict[str, Any]]) -> float | None:
    """The wall-clock time until which a drain woken by these nudges reads the outbox."""
    until = []
    for record_ in records:
        try:
            until.append(float(json.loads(record_.get("body") or "{}")["until"]))
        except (ValueError, KeyError, TypeError):
            continue
    return max(until) + NUDGE_GRACE_SECONDS if until else None


def drain(*, deadline: float | None = None, until: float | None = None) -> dict[str, int]:
    """Deliver every outbox row, round after round, until the outbox is empty and the wall
    clock passed `until`, or the monotonic clock passed `deadline`. Returns counts."""
    from chalicelib.repositories import outbox as repo

    totals = {"rounds": 0, "rows": 0, "events": 0, "connections": 0, "pushes": 0}
    repo.lock_drain()
    try:
        while deadline is None or time.monotonic() < deadline:
            rows = repo.pending(ROWS_PER_ROUND)
            if not rows:
                if until is None or time.time() >= until:
                    break
                time.sleep(POLL_SECONDS)
                continue
            delivered, complete = _deliver(rows, deadline)
            totals["rounds"] += 1
            for key, value in delivered.items():
                totals[key] += value
            if not complete:
                # The deadline cut the round: its rows stay, and a new nudge (a later quarter
                # second, so never deduplicated into this one) makes the next drain send the
                # round again; those that had it ignore the repeated ids.
                nudge()
                break
            repo.delete([row["id"] for row in rows])
            totals["rows"] += len(rows)
    finally:
        repo.unlock_drain()
    if totals["rows"]:
        logger.info("live events drained", extra=totals)
    return totals


def _deliver(rows: list[dict[str, Any]], deadline: float | None) -> tuple[dict[str, int], bool]:
    """One round: build, post to every connection, push. Returns counts, and False when the
    deadline stopped posts before every connection had the round (its rows must stay).
    Otherwise best effort per connection (a failed or gone one is not waited for); a failure
    to build is logged and the round's rows are dropped, not retried forever (the browsers
    converge on their next fetch)."""
    from chalicelib import metrics
    from chalicelib.services import live_events, push, realtime

    items = [
        (f"{row['id']}-{position}", event, subject, extra)
        for row in rows
        for position, (event, subject, extra) in enumerate(row["itens"])
    ]
    lag_ms = max((time.time() - _created(row)) * 1000 for row in rows) if rows else 0
    metrics.milliseconds("OutboxLagMilliseconds", lag_ms)
    try:
        connection_ids = realtime.audience()
        pushes = push.wanted(items)
        if not connection_ids and not pushes:
            return {"events": 0, "connections": 0, "pushes": 0}, True  # nobody to tell: nothing read
        events = live_events.build(items)
    except Exception:  # noqa: BLE001
        logger.exception("live events: building a round failed", extra={"rows": [r["id"] for r in rows]})
        return {"events": 0, "connections": 0, "pushes": 0}, True
    budget = None if deadline is None else max(0.5, deadline - time.monotonic())
    counts = realtime.publish_many(events, connection_ids=connection_ids, deadline=budget) if connection_ids else {}
    if counts.get("skipped"):
        return {"events": len(events), "connections": counts.get("ok", 0), "pushes": 0}, False
    pushed = push.for_events(events) if pushes else 0
    return {"events": len(events), "connections": counts.get("ok", 0), "pushes": pushed}, True


def _created(row: dict[str, Any]) -> float:
    created = row.get("created_at")
    return created.timestamp() if created is not None else time.time()


def renudge_stale() -> bool:
    """The window job's check: rows older than STALE_SECONDS lost their nudge; nudge again."""
    from chalicelib.repositories import outbox as repo

    age = repo.oldest_age_seconds()
    if age is None or age < STALE_SECONDS:
        return False
    logger.warning("live events: outbox rows waited too long, nudging again", extra={"age_seconds": round(age)})
    return nudge()
