"""Shared attendance: take, assign, transfer, release, close, reopen.

Each change is one conditional UPDATE (chalicelib.repositories.conversas) plus an `eventos`
row and the live event it implies, named in the same transaction (live_events publishes it
after the commit and never fails the request). When the UPDATE matches nothing, the
conversation is read again to say why.
"""

from __future__ import annotations

from typing import Any

from pg8000.exceptions import DatabaseError

from chalicelib import db
from chalicelib.http import ApiError, not_found
from chalicelib.repositories import administradores, conversas, eventos
from chalicelib.services import live_events


def _assigned_to_other(atual: dict[str, Any]) -> ApiError:
    nome = atual.get("atendente_nome") or "outro atendente"
    return ApiError(
        409,
        "AssignedToOther",
        f"Esta conversa já está sendo atendida por {nome}.",
        atendente_id=atual["atendente_id"],
        atendente={"id": atual["atendente_id"], "nome": atual.get("atendente_nome")},
    )


def _closed() -> ApiError:
    return ApiError(409, "ConversationClosed", "Esta conversa está encerrada; reabra-a antes.")


def _refusal(conversa_id: str, admin_id: str) -> ApiError:
    """Why a conditional UPDATE matched nothing."""
    atual = conversas.estado(conversa_id)
    if atual is None:
        return not_found("Conversa")
    if atual["status"] == "encerrada":
        return _closed()
    if atual["atendente_id"] is None:
        return ApiError(409, "NotAssigned", "Esta conversa não está atribuída a ninguém.")
    if str(atual["atendente_id"]) != str(admin_id):
        return _assigned_to_other(atual)
    return ApiError(409, "Conflict", "A conversa mudou enquanto a operação era feita; tente novamente.")


def _admin_or_422(admin_id: Any, field: str = "atendente_id") -> dict[str, Any]:
    admin = administradores.get(str(admin_id))
    if admin is None:
        raise ApiError(422, "ValidationError", "Administrador não encontrado.", field=field)
    return admin


def _record_assignment(row: dict[str, Any], admin_id: str, tipo: str) -> None:
    """The timeline row and the live event of a change of hands (inside the transaction)."""
    eventos.record(
        row["contato_id"],
        tipo,
        {
            "conversa_id": row["id"],
            "por": admin_id,
            "atendente_id": row["atendente_id"],
            "anterior_id": row["anterior_id"],
        },
    )
    live_events.conversation_assigned(row["id"], row["anterior_id"])


def _answer(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row.pop("anterior_id", None)
    return row


def assign(conversa_id: str, admin_id: str, atendente_id: str | None = None) -> dict[str, Any]:
    """POST /atribuir: to me (unassigned only; idempotent if already mine) or to a named admin
    (allowed when unassigned or when I hold it)."""
    alvo = str(atendente_id) if atendente_id else str(admin_id)
    atendente = _admin_or_422(alvo) if alvo != str(admin_id) else administradores.get(str(admin_id))
    if atendente is None:
        raise ApiError(401, "Unauthorized", "Sessão inválida: administrador não existe mais.")
    with db.transaction():
        if alvo == str(admin_id):
            row = conversas.take(conversa_id, alvo)
        else:
            row = conversas.assign(conversa_id, str(admin_id), alvo)
        if row is None:
            atual = conversas.estado(conversa_id)
            if atual and atual["status"] == "ativa" and str(atual["atendente_id"]) == alvo:
                return {"conversa": atribuicao_row(conversa_id), "alterada": False}
            raise _refusal(conversa_id, admin_id)
        if str(row["anterior_id"]) == alvo:
            return {"conversa": _answer(row), "alterada": False}
        _record_assignment(row, admin_id, "conversa_atribuida")
    return {"conversa": _answer(row), "alterada": True}


def atribuicao_row(conversa_id: str) -> dict[str, Any] | None:
    return conversas.get(conversa_id)


def transfer(conversa_id: str, admin_id: str, atendente_id: str) -> dict[str, Any]:
    _admin_or_422(atendente_id)
    with db.transaction():
        row = conversas.transfer(conversa_id, str(admin_id), str(atendente_id))
        if row is None:
            raise _refusal(conversa_id, admin_id)
        # To oneself: nothing changed hands, so no timeline row and no live event.
        if str(row["anterior_id"]) != str(row["atendente_id"]):
            _record_assignment(row, admin_id, "conversa_transferida")
    return {"conversa": _answer(row)}


def release(conversa_id: str, admin_id: str) -> dict[str, Any]:
    with db.transaction():
        row = conversas.release(conversa_id, str(admin_id))
        if row is None:
            raise _refusal(conversa_id, admin_id)
        _record_assignment(row, admin_id, "conversa_liberada")
    return {"conversa": _answer(row)}


def close(conversa_id: str, admin_id: str) -> dict[str, Any]:
    with db.transaction():
        row = conversas.close(conversa_id, str(admin_id))
        if row is None:
            atual = conversas.estado(conversa_id)
            if atual and atual["status"] == "encerrada":
                raise ApiError(409, "ConversationClosed", "Esta conversa já está encerrada.")
            raise _refusal(conversa_id, admin_id)
        eventos.record(row["contato_id"], "conversa_encerrada", {"conversa_id": row["id"], "por": admin_id})
        live_events.conversation_closed(row["id"])
    return {"conversa": _answer(row)}


def reopen(conversa_id: str, admin_id: str) -> dict[str, Any]:
    try:
        with db.transaction():
            row = conversas.reopen(conversa_id)
            if row is None:
                atual = conversas.estado(conversa_id)
                if atual is None:
                    raise not_found("Conversa")
                if atual.get("contato_anonimizado"):
                    raise ApiError(
                        409, "ContactAnonymized", "O contato foi anonimizado: a conversa não pode ser reaberta."
                    )
                raise ApiError(409, "ConversationActive", "Esta conversa já está ativa.")
            eventos.record(row["contato_id"], "conversa_reaberta", {"conversa_id": row["id"], "por": admin_id})
            live_events.conversation_updated(row["id"])
    except DatabaseError as exc:
        if db.sqlstate(exc) != "23505":
            raise
        atual = conversas.estado(conversa_id)
        ativa = conversas.conversa_ativa_do_contato(atual["contato_id"]) if atual else None
        raise ApiError(
            409,
            "ActiveConversationExists",
            "Este contato já tem outra conversa ativa.",
            conversa_id=ativa,
        ) from exc
    return {"conversa": _answer(row)}


def ensure_can_send(conversa_id: str, admin_id: str) -> dict[str, Any]:
    """Whether `admin_id` may send in the conversation now, for chalicelib.services.sending.

    Its caller holds the conversation's row lock and has already answered 404 and 409
    ConversationClosed, so here: one held by someone else raises 409 AssignedToOther, and an
    unassigned one is taken for `admin_id` (one conditional UPDATE, its eventos row, and
    conversation:assigned). The caller's transaction is joined, so the take commits, and its
    live event goes out, only if the send is stored: a send refused later for its window or
    template takes nothing. Returns the assignment row (the caller does not need it); the 404
    and ConversationClosed branches serve a caller that has not checked.
    """
    if administradores.get(str(admin_id)) is None:
        raise ApiError(401, "Unauthorized", "Sessão inválida: administrador não existe mais.")
    with db.transaction():
        row = conversas.take(conversa_id, str(admin_id))
        if row is None:
            atual = conversas.estado(conversa_id)
            if atual is None:
                raise not_found("Conversa")
            if atual["status"] != "ativa":
                raise _closed()
            if str(atual["atendente_id"]) != str(admin_id):
                raise _assigned_to_other(atual)
            return atribuicao_row(conversa_id)
        _record_assignment(row, admin_id, "conversa_atribuida")
    return _answer(row)
