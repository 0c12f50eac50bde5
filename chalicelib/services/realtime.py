"""Delivery of live events through the API Gateway WebSocket management API.

What the events are and when they go out is chalicelib.services.live_events' business;
this module only delivers built payloads: `publish_many` sends `{"type", "data"}` frames to
every open connection, concurrently, and forgets connections API Gateway says are gone (410).
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
# Payloads per task when order does not matter (see send_to_connections).
UNORDERED_CHUNK = 25
# API Gateway answers 410 to a post for a connection whose $connect has not finished yet, and
# our $connect stores the row before it returns: a publish in that moment must not forget a
# connection that is about to open. Rows younger than this survive a 410 (a later publish,
# or the $disconnect, removes them if they really are gone).
CONNECT_GRACE_SECONDS = 10
# A publish inside a request (a send, an assignment) starts no new post after this long, so
# a slow management API cannot push the request towards API Gateway's 29 s: what was not sent
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
    import time

    try:
        for payload in payloads:
            if stop_at is not None and time.monotonic() >= stop_at:
                return "skipped"
            client.post_to_connection(ConnectionId=connection_id, Data=payload)
        return "ok"
    except client.exceptions.GoneException:
        return "gone"
    except Exception as exc:  # noqa: BLE001 - one bad socket must not stop the others
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 410:
            return "gone"
        logger.warning("websocket send failed", extra={"connection_id": connection_id, "error": str(exc)})
        return "error"


def encode(event: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"type": event, "data": jsonable(data)}, separators=(",", ":"), ensure_ascii=False).encode()


def send_to_connections(
    connection_ids: list[str],
    payloads: list[bytes],
    concurrent: bool = True,
    ordered: bool = True,
    deadline: float | None = None,
) -> dict[str, int]:
    """Deliver payloads to the given connections; removes the gone ones. Counts by outcome.

    `ordered` keeps each connection's payloads in order (one worker per connection). Events
    whose order does not matter (the window job's, thousands after a backlog) go with
    `ordered=False`: chunks of them are spread over every worker, so a run is not one
    connection's round trips end to end. `deadline` (seconds) stops starting new sends after
    that long; what was not sent counts as "skipped" (the Lambda must end before its timeout).
    """
    from chalicelib.repositories import ws_conexoes

    endpoint = get_settings().ws_management_url
    counts = {"ok": 0, "gone": 0, "error": 0, "skipped": 0}
    if not endpoint or not connection_ids or not payloads:
        return counts
    client = _management_client(endpoint)
    if ordered or len(payloads) <= UNORDERED_CHUNK:
        budget = PUBLISH_DEADLINE_SECONDS if deadline is None else deadline
        outcomes = _send_ordered(client, connection_ids, payloads, concurrent, time.monotonic() + budget)
    else:
        outcomes = _send_unordered(client, connection_ids, payloads, deadline)
    for outcome in outcomes:
        counts[outcome] += 1
    gone = [cid for cid, outcome in zip(connection_ids, outcomes, strict=True) if outcome == "gone"]
    if gone:
        removed = ws_conexoes.remove_many(gone, older_than_seconds=CONNECT_GRACE_SECONDS)
        logger.info("websocket connections gone", extra={"count": len(gone), "removed": removed})
    if counts["skipped"]:
        logger.warning("live events skipped at the deadline", extra={"connections": counts["skipped"]})
    return counts


def _send_ordered(
    client, connection_ids: list[str], payloads: list[bytes], concurrent: bool, stop_at: float
) -> list[str]:
    if concurrent and len(connection_ids) > 1:
        workers = min(MAX_PARALLEL_SENDS, len(connection_ids))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda cid: _send(client, cid, payloads, stop_at), connection_ids))
    return [_send(client, cid, payloads, stop_at) for cid in connection_ids]


_SEVERITY = {"ok": 0, "skipped": 1, "error": 2, "gone": 3}


def _send_unordered(client, connection_ids: list[str], payloads: list[bytes], deadline: float | None) -> list[str]:
    """Chunks of payloads x connections over the pool; a gone connection's other chunks are skipped."""
    import time

    stop_at = None if deadline is None else time.monotonic() + deadline
    chunks = [payloads[i : i + UNORDERED_CHUNK] for i in range(0, len(payloads), UNORDERED_CHUNK)]
    # Chunk-major order: every connection gets its first chunk before anyone gets a second.
    tasks = [(cid, chunk) for chunk in chunks for cid in connection_ids]
    result = dict.fromkeys(connection_ids, "ok")

    def run(task: tuple[str, list[bytes]]) -> None:
        cid, chunk = task
        if result[cid] == "gone":
            return
        outcome = _send(client, cid, chunk, stop_at)
        # The worst outcome of a connection's chunks is its outcome: gone > error > skipped > ok.
        if _SEVERITY[outcome] > _SEVERITY[result[cid]]:
            result[cid] = outcome

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SENDS, len(tasks))) as pool:
        list(pool.map(run, tasks))
    return [result[cid] for cid in connection_ids]


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
    events: list[tuple[str, dict[str, Any]]],
    ordered: bool = True,
    deadline: float | None = None,
    connection_ids: list[str] | None = None,
) -> int:
    """Send events to every connection (or the given ones); returns how many connections
    received them all. `ordered` / `deadline`: see send_to_connections."""
    if not events or not get_settings().ws_management_url:
        return 0
    try:
        import time

        from chalicelib import metrics

        started = time.monotonic()
        if connection_ids is None:
            connection_ids = audience()
        payloads = [encode(event, data) for event, data in events]
        delivered = send_to_connections(connection_ids, payloads, ordered=ordered, deadline=deadline)["ok"]
        metrics.milliseconds("FanoutMilliseconds", (time.monotonic() - started) * 1000)
        metrics.count("FanoutConnections", len(connection_ids))
        return delivered
    except Exception:  # noqa: BLE001 - live updates are best effort; the data is already stored
        logger.exception("publishing %s failed", ", ".join(sorted({e for e, _ in events})))
        return 0
