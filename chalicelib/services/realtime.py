"""Live events to the browsers through the API Gateway WebSocket management API.

`publish(event, data)` sends `{"type": event, "data": data}` to every open connection,
concurrently, and forgets connections API Gateway says are gone (410). `publish_many`
sends several events with one lookup of the connections (the window job's batches).
Both never raise: the data is already committed, live updates are best effort.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from chalicelib.config import get_settings
from chalicelib.http import jsonable
from chalicelib.observability import logger

MAX_PARALLEL_SENDS = 32


@lru_cache(maxsize=4)
def _management_client(endpoint_url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name=get_settings().aws_region,
        # Short timeouts and no retries: a slow socket must not hold the request that published.
        config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1}, max_pool_connections=64),
    )


def reset_client() -> None:
    _management_client.cache_clear()


def _send(client, connection_id: str, payloads: list[bytes]) -> str:
    """'ok', 'gone' or 'error' for one connection (its payloads go in order)."""
    try:
        for payload in payloads:
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


def send_to_connections(connection_ids: list[str], payloads: list[bytes], concurrent: bool = True) -> dict[str, int]:
    """Deliver payloads to the given connections; removes the gone ones. Counts by outcome."""
    from chalicelib.repositories import ws_conexoes

    endpoint = get_settings().ws_management_url
    counts = {"ok": 0, "gone": 0, "error": 0}
    if not endpoint or not connection_ids or not payloads:
        return counts
    client = _management_client(endpoint)
    if concurrent and len(connection_ids) > 1:
        workers = min(MAX_PARALLEL_SENDS, len(connection_ids))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda cid: _send(client, cid, payloads), connection_ids))
    else:
        outcomes = [_send(client, cid, payloads) for cid in connection_ids]
    for outcome in outcomes:
        counts[outcome] += 1
    gone = [cid for cid, outcome in zip(connection_ids, outcomes, strict=True) if outcome == "gone"]
    if gone:
        ws_conexoes.remove_many(gone)
        logger.info("websocket connections gone", extra={"count": len(gone)})
    return counts


def publish_many(events: list[tuple[str, dict[str, Any]]]) -> int:
    """Send events to every connection; returns how many connections received them all."""
    if not events or not get_settings().ws_management_url:
        return 0
    try:
        from chalicelib.repositories import ws_conexoes

        connection_ids = ws_conexoes.list_ids()
        payloads = [encode(event, data) for event, data in events]
        return send_to_connections(connection_ids, payloads)["ok"]
    except Exception:  # noqa: BLE001 - live updates are best effort; the data is already stored
        logger.exception("publishing %s failed", ", ".join(sorted({e for e, _ in events})))
        return 0


def publish(event: str, data: dict[str, Any]) -> int:
    """Send an event to every connection; returns how many received it. Never raises."""
    return publish_many([(event, data)])
