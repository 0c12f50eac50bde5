"""The inbox: conversation pages, one conversation, its messages (media presigned), read marks."""

from __future__ import annotations

from typing import Any

from chalicelib import db, pagination
from chalicelib.http import not_found
from chalicelib.observability import logger
from chalicelib.repositories import conversas, inbox


def _key(row: dict[str, Any]) -> tuple[Any, Any]:
    return row["ultima_atividade_em"], row["id"]


def list_conversas(admin_id: str, q) -> dict[str, Any]:
    """One page of GET /conversas; `q` is a ConversasQuery."""
    atendente_id = None
    if q.atendente == "me":
        atendente_id = admin_id
    elif q.atendente and q.atendente != "nenhum":
        atendente_id = q.atendente
    rows = inbox.conversas_page(
        limit=q.limit + 1,
        status=q.status,
        atendente_id=atendente_id,
        sem_atendente=q.atendente == "nenhum",
        janela=q.janela,
        busca=q.busca or None,
        after=pagination.decode_time_id(q.cursor),
    )
    return pagination.page(rows, q.limit, _key)


def get_conversa(conversa_id: str) -> dict[str, Any]:
    row = inbox.conversa_item(conversa_id)
    if row is None:
        raise not_found("Conversa")
    return row


def presign_or_none(key: str | None) -> str | None:
    """media_urls.presign for a row being listed: a URL passes through, a signing failure is None."""
    if not key:
        return None
    if key.startswith(("http://", "https://")):
        return key  # already a URL (e.g. a provider link): nothing to sign
    try:
        from chalicelib.services.media_urls import presign

        return presign(key)
    except Exception:  # noqa: BLE001 - a message without a viewable file still lists
        logger.exception("presign failed", extra={"key": key})
        return None


def shape_mensagem(row: dict[str, Any]) -> dict[str, Any]:
    """A mensagens row as the API shows it: media locations become short-lived URLs."""
    row = dict(row)
    row["media_url"] = presign_or_none(row.get("media_url"))
    row["thumbnail_url"] = presign_or_none(row.get("thumbnail_url"))
    return row


def list_mensagens(conversa_id: str, q) -> dict[str, Any]:
    after = pagination.decode_time_seq(q.cursor)
    rows = inbox.mensagens_page(conversa_id, limit=q.limit + 1, after=after)
    if not rows and not conversas.exists(conversa_id):
        raise not_found("Conversa")
    result = pagination.page(rows, q.limit, lambda r: (r["created_at"], r["seq"]))
    result["items"] = [shape_mensagem(r) for r in result["items"]]
    return result


def mark_read(conversa_id: str) -> dict[str, Any]:
    from chalicelib.services import live_events

    with db.transaction():
        row = inbox.mark_read(conversa_id)
        if row is None:
            raise not_found("Conversa")
        live_events.conversation_updated(conversa_id)
    # Issue 13: the customer sees blue ticks on the newest message, once (best effort).
    from chalicelib.services import atendimento

    atendimento.send_read_receipt(conversa_id)
    return {"conversa": row}
