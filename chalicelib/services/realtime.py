"""Delivery of live events through the API Gateway WebSocket management API.

What the events are and when they go out is chalicelib.services.live_events' and the
outbox drain's business; this module only delivers built payloads: `publish_many` packs
events into `{"type": "batch", "events": [...]}` frames (one post per connection for a whole
drain round, not one per event) and sends them to every open connection, concurrently, each
connection's frames in order, and forgets connections API Gateway says are gone (410).
It never raises: the data is already committed, live updates are best effort.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from chalicelib.config import get_settings
from chalicelib.http import jsonable
from chalicelib.observability import logger

MAX_PARALLEL_SENDS = 32
# API Gateway refuses a WebSocket message over 128 KB: a frame is cut before this many bytes.
FRAME_MAX_BYTES = 96 * 1024
# API Gateway answers 410 to a post for a connection whose $connect has not finished yet, and
# our $connect stores the row before it returns: a publish in that moment must not forget a
# connection that is about to open. Rows younger than this survive a 410 (a later publish,
# or the $disconnect, removes them if they really are gone).
CONNECT_GRACE_SECONDS = 10
# A delivery starts no new post after this long (unless the caller gives its own deadline),
# so a slow management API cannot run the drain into its Lambda timeout: what was not sent
# counts as skipped (the browsers catch up on their next fetch).
PUBLISH_DEADLINE_SECONDS = 5.0


@lru_cache(maxsize=4)
def _management_client(endpoint_url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name=get_settings().aws_region,
        # Short timeouts and no retries: a slow socket must not hold the request that published.
        # "standard" mode with total_max_attempts 1 is exactly one attempt; the legacy mode's
        # max_attempts 1 still retried once, doubling every slow publish.
        config=Config(
            connect_timeout=2,
            read_timeout=3,
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=64,
        ),
    )


def reset_client() -> None:
    _management_client.cache_clear()


def _send(client, connection_id: str, payloads: list[bytes], stop_at: float | None = None) -> str:
    """'ok', 'gone' or 'error' for one connection (its payloads go in order); 'skipped' when
    the monotonic clock passed `stop_at` before every payload went."""
    try:
        for payload in payloads:
            if stop_at is not None and time.monotonic() >= stop_at:
                return "skipped"
            client.post_to_connection(ConnectionId=connection_id, Data=payload)
        return "ok"
    except client.exceptions.GoneException:
        return "gone"
    except Exception as exc:  # noqa: BLE001 - one bad socket must not stop the others
        # botocore's ClientError has a response; its read timeouts and closed connections have
        # `response = None`.
        status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 410:
            return "gone"
        logger.warning("websocket send failed", extra={"connection_id": connection_id, "error": str(exc)})
        return "error"


def encode(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One event as it travels (inside a batch frame, or alone as a reply)."""
    message = {"id": event_id, "type": event, "data": jsonable(data)}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def frames(events: list[tuple[str, str, dict[str, Any]]], max_bytes: int | None = None) -> list[bytes]:
    """(event id, event, data) packed in order into batch frames of at most `max_bytes`
    (FRAME_MAX_BYTES by default; an event larger than that travels alone in its frame)."""
    max_bytes = max_bytes or FRAME_MAX_BYTES
    out: list[bytes] = []
    current: list[bytes] = []
    size = len(_frame([]))
    for event_id, event, data in events:
        encoded = encode(event, data, event_id)
        if current and size + len(encoded) + 1 > max_bytes:  # +1: the comma
            out.append(_frame(current))
            current, size = [], len(_frame([]))
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        out.append(_frame(current))
    return out


def _frame(encoded_events: list[bytes]) -> bytes:
    return b'{"type":"batch","events":[' + b",".join(encoded_events) + b"]}"


def send_to_connections(
    connection_ids: list[str],
    payloads: list[bytes],
    concurrent: bool = True,
    deadline: float | None = None,
) -> dict[str, int]:
    """Deliver payloads, in order, to each of the given connections (one worker per
    connection, up to MAX_PARALLEL_SENDS at once: a slow or dead socket holds its own worker,
    not the others); removes the gone ones. Counts by outcome. `deadline` (seconds) stops
    starting new posts after that long; what was not sent counts as "skipped"."""
    from chalicelib.repositories import ws_conexoes

    endpoint = get_settings().ws_management_url
    counts = {"ok": 0, "gone": 0, "error": 0, "skipped": 0}
    if not endpoint or not connection_ids or not payloads:
        return counts
    client = _management_client(endpoint)
    budget = PUBLISH_DEADLINE_SECONDS if deadline is None else deadline
    stop_at = time.monotonic() + budget
    if concurrent and len(connection_ids) > 1:
        workers = min(MAX_PARALLEL_SENDS, len(connection_ids))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda cid: _send(client, cid, payloads, stop_at), connection_ids))
    else:
        outcomes = [_send(client, cid, payloads, stop_at) for cid in connection_ids]
    for outcome in outcomes:
        counts[outcome] += 1
    gone = [cid for cid, outcome in zip(connection_ids, outcomes, strict=True) if outcome == "gone"]
    if gone:
        removed = ws_conexoes.remove_many(gone, older_than_seconds=CONNECT_GRACE_SECONDS)
        logger.info("websocket connections gone", extra={"count": len(gone), "removed": removed})
    if counts["skipped"]:
        logger.warning("live events skipped at the deadline", extra={"connections": counts["skipped"]})
    return counts


def close_connections(connection_ids: list[str]) -> int:
    """Close sockets (a deactivated account's); returns how many API Gateway closed. Best
    effort: a socket that cannot be closed now receives nothing, since its row is gone."""
    endpoint = get_settings().ws_management_url
    if not endpoint or not connection_ids:
        return 0
    client = _management_client(endpoint)
    closed = 0
    for connection_id in connection_ids:
        try:
            client.delete_connection(ConnectionId=connection_id)
            closed += 1
        except Exception as exc:  # noqa: BLE001 - already gone, or the API is slow: the row is gone anyway
            logger.info("websocket close failed", extra={"connection_id": connection_id, "error": str(exc)})
    return closed


def audience() -> list[str]:
    """The open connections, or none when there is no management API to reach them."""
    if not get_settings().ws_management_url:
        return []
    from chalicelib.repositories import ws_conexoes

    return ws_conexoes.list_ids()


def publish_many(
    events: list[tuple[str, str, dict[str, Any]]],
    *,
    connection_ids: list[str],
    deadline: float | None = None,
) -> dict[str, int]:
    """Send (event id, event, data) to the given connections in batch frames; counts
    connections by outcome (see send_to_connections; `deadline` too)."""
    counts = {"ok": 0, "gone": 0, "error": 0, "skipped": 0}
    if not events or not connection_ids or not get_settings().ws_management_url:
        return counts
    try:
        from chalicelib import metrics

        started = time.monotonic()
        payloads = frames(events)
        counts = send_to_connections(connection_ids, payloads, deadline=deadline)
        metrics.milliseconds("FanoutMilliseconds", (time.monotonic() - started) * 1000)
        metrics.count("FanoutConnections", len(connection_ids))
        metrics.count("FanoutFrames", len(payloads) * len(connection_ids))
    except Exception:  # noqa: BLE001 - live updates are best effort; the data is already stored
        logger.exception("publishing %s failed", ", ".join(sorted({e for _, e, _ in events})))
        counts["error"] = len(connection_ids)
    return counts
