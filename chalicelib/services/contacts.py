"""Contacts and leads: search, edit (journey changes are events), timeline, lead qualification."""

from __future__ import annotations

from typing import Any

from chalicelib import db, pagination
from chalicelib.http import ApiError, not_found
from chalicelib.repositories import contatos, eventos, inbox, interessados
from chalicelib.services import live_events


def list_contatos(q) -> dict[str, Any]:
    rows = contatos.page(limit=q.limit + 1, busca=q.busca or None, after=pagination.decode_time_id(q.cursor))
    return pagination.page(rows, q.limit, lambda r: (r["created_at"], r["id"]))


def get_contato(contato_id: str) -> dict[str, Any]:
    contato = contatos.get(contato_id)
    if contato is None:
        raise not_found("Contato")
    contato["interessado"] = interessados.get_by_contato(contato_id)
    return contato


def _lock_editable(contato_id: str) -> dict[str, Any]:
    """The contact, locked for this transaction; 404 if unknown, 409 if anonymised."""
    contato = contatos.get(contato_id, for_update=True)
    if contato is None:
        raise not_found("Contato")
    if contato.get("anonimizado"):
        raise ApiError(409, "ContactAnonymized", "Este contato foi anonimizado e não pode ser editado.")
    return contato


def update_contato(contato_id: str, admin_id: str, patch) -> dict[str, Any]:
    """PATCH: only the fields sent change; a new `nome` marks it as set by an attendant."""
    try:
        changes = patch.changes()
    except ValueError as exc:
        field = str(exc)
        raise ApiError(422, "ValidationError", f"Campo inválido: {field} (não pode ser nulo)", field=field) from None
    with db.transaction():
        antes = _lock_editable(contato_id)
        if not changes:
            return antes
        depois = contatos.update(contato_id, changes)
        alterados = {f: {"de": antes.get(f), "para": depois.get(f)} for f in changes if antes.get(f) != depois.get(f)}
        if "estado_jornada" in alterados:
            eventos.record(
                contato_id,
                "jornada_alterada",
                {"de": antes["estado_jornada"], "para": depois["estado_jornada"], "por": admin_id},
            )
        outros = {f: v for f, v in alterados.items() if f != "estado_jornada"}
        if outros:
            eventos.record(contato_id, "contato_atualizado", {"campos": outros, "por": admin_id})
        if CAMPOS_DO_RESUMO & alterados.keys():
            # Every inbox shows the new name or journey at once (the item carries the summary).
            for conversa_id in inbox.conversa_ids_ativas_do_contato(contato_id):
                live_events.conversation_updated(conversa_id)
        if alterados:
            live_events.contact_updated(contato_id)
    return depois


# The contact fields the inbox shows with each conversation (inbox's contato summary).
CAMPOS_DO_RESUMO = frozenset({"nome", "tipo", "estado_jornada"})


def list_eventos(contato_id: str, q) -> dict[str, Any]:
    rows = eventos.page(contato_id, limit=q.limit + 1, after=pagination.decode_time_id(q.cursor))
    if not rows and contatos.get(contato_id) is None:
        raise not_found("Contato")
    return pagination.page(rows, q.limit, lambda r: (r["created_at"], r["id"]))


def get_interessado(contato_id: str) -> dict[str, Any]:
    row = interessados.get_by_contato(contato_id)
    if row is None:
        if contatos.get(contato_id) is None:
            raise not_found("Contato")
        raise not_found("Interessado")
    return row


def put_interessado(contato_id: str, admin_id: str, body) -> tuple[dict[str, Any], bool]:
    """Create or replace the lead; returns (row, created)."""
    data = body.model_dump()
    with db.transaction():
        _lock_editable(contato_id)
        row = interessados.upsert(contato_id, data)
        criado = bool(row.pop("criado"))
        eventos.record(
            contato_id,
            "interessado_registrado" if criado else "interessado_atualizado",
            {"por": admin_id, "instrumento_desejado": row["instrumento_desejado"], "idade": row["idade"]},
        )
        live_events.contact_updated(contato_id)
    return row, criado
