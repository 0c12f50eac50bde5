"""The `Idempotency-Key` of a send: a retried request answers the first one's result instead of
sending twice.

A key (per attendant) is in one of the states Powertools' idempotency utility names:
- **in progress**: claimed by one INSERT (the primary key arbitrates between concurrent
  duplicates) and no answer stored yet; a duplicate waits up to `WAIT_SECONDS` for it, then
  answers 409 `IdempotencyInProgress`. Claimed more than `IN_PROGRESS_EXPIRY_SECONDS` ago, its
  request died (a Lambda timeout): duplicates get the 409 at once instead of waiting;
- **completed**: the first answer (status, body, headers) is stored and replayed with
  `Idempotent-Replayed: true`; a 201 is read again (the status moved on, URLs expire);
- **expired**: older than `envios.IDEMPOTENCY_TTL` (24 h): the next request claims it anew.
A key whose send never reached WhatsApp is released (deleted), so a retry may try again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from chalicelib import db
from chalicelib.http import ApiError, jsonable
from chalicelib.observability import logger
from chalicelib.repositories import envios

# How long a duplicate request waits for the first one to finish before answering 409.
WAIT_SECONDS = 25.0
# A claim still in progress after this long belongs to a request that died (Lambda timeout):
# nobody will finish it, so duplicates are answered at once instead of waiting.
IN_PROGRESS_EXPIRY_SECONDS = 90.0
POLL_SECONDS = 0.1

IN_PROGRESS: Literal["in_progress"] = "in_progress"
IN_PROGRESS_EXPIRED: Literal["in_progress_expired"] = "in_progress_expired"
COMPLETED: Literal["completed"] = "completed"


@dataclass
class SendResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StoredFailure(ApiError):
    """A failure after the message reached (or may have reached) WhatsApp: the idempotency
    key keeps it, so a retry does not send again."""


def request_hash(conversa_id: str, pedido: Any) -> str:
    """What a key is bound to: the same key with another request is refused (422)."""
    canonical = json.dumps(
        {"conversa_id": conversa_id, "pedido": pedido.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def state(row: dict[str, Any]) -> str:
    """The state of a stored key (an expired one is never read: claiming replaces it)."""
    if row["status_code"] is not None:
        return COMPLETED
    if (datetime.now(UTC) - row["created_at"]).total_seconds() > IN_PROGRESS_EXPIRY_SECONDS:
        return IN_PROGRESS_EXPIRED
    return IN_PROGRESS


def claim_or_replay(
    admin_id: str,
    chave: str,
    hash_: str,
    conversa_id: str,
    reread: Callable[[str, bool], dict[str, Any]],
) -> SendResult | None:
    """None when this request owns the key; else the first request's stored answer.
    `reread(mensagem_id, atribuida)` builds a replayed 201's body from the message as it is now."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            claimed = envios.claim_key(admin_id, chave, hash_, conversa_id)
        except Exception as exc:
            # The key row references the conversation: an unknown id is a 404, not a 500.
            if db.sqlstate(exc) == "23503":
                raise ApiError(404, "NotFoundError", "Conversa não encontrada.") from exc
            raise
        if claimed:
            return None
        row = envios.get_key(admin_id, chave)
        if row is None:
            continue  # released between our INSERT and SELECT: claim again
        if row["request_hash"].strip() != hash_:
            raise ApiError(
                422,
                "ValidationError",
                "Esta Idempotency-Key já foi usada para outra requisição.",
                field="Idempotency-Key",
            )
        current = state(row)
        if current == COMPLETED:
            body = row["resposta"]
            if int(row["status_code"]) == 201 and row["mensagem_id"]:
                # Read again: the status moved on since, and stored presigned URLs expire.
                body = reread(str(row["mensagem_id"]), bool((body or {}).get("atribuida")))
            headers = {**(row["resposta_headers"] or {}), "Idempotent-Replayed": "true"}
            return SendResult(int(row["status_code"]), body, headers)
        if current == IN_PROGRESS_EXPIRED or time.monotonic() >= deadline:
            raise ApiError(
                409,
                "IdempotencyInProgress",
                "Uma requisição com esta Idempotency-Key ainda está em andamento.",
                headers={"Retry-After": "2"},
                mensagem_id=row["mensagem_id"],
            )
        time.sleep(POLL_SECONDS)


def complete_quietly(admin_id: str, chave: str, status: int, body: Any, headers: dict[str, str]) -> None:
    """in progress → completed with this answer."""
    try:
        envios.complete_key(admin_id, chave, status, jsonable(body), headers)
    except Exception:  # noqa: BLE001 - the send happened; a retry will find the key in progress
        logger.exception("could not store idempotent response", extra={"chave": chave})


def release_quietly(admin_id: str, chave: str) -> None:
    """in progress → gone: nothing reached WhatsApp, a retry may send."""
    try:
        envios.release_key(admin_id, chave)
    except Exception:  # noqa: BLE001
        logger.exception("could not release idempotency key", extra={"chave": chave})
