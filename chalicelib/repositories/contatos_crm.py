"""SQL of the contacts screen: list/search, one contact with its lead, edits."""

from __future__ import annotations

from typing import Any

from chalicelib import db


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page(*, limit: int, busca: str | None, after: tuple[str, str] | tuple[None, None]) -> list[dict[str, Any]]:
    """Contacts, newest first, keyset on (created_at, id); `busca` matches name or phone."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if busca:
        conds = ["nome ILIKE :busca", "nome_perfil ILIKE :busca"]
        params["busca"] = _like(busca)
        digits = "".join(ch for ch in busca if ch.isdigit())
        if len(digits) >= 3:
            conds.append("telefone LIKE :fone")
            params["fone"] = _like(digits)
        where.append("(" + " OR ".join(conds) + ")")
    if after[0] is not None:
        where.append("(created_at, id) < (CAST(:after_ts AS timestamptz), CAST(:after_id AS uuid))")
        params["after_ts"], params["after_id"] = after
    sql = "SELECT * FROM contatos"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return db.query(sql + " ORDER BY created_at DESC, id DESC LIMIT :limit", **params)


def get(contato_id: str, for_update: bool = False) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT * FROM contatos WHERE id = CAST(:id AS uuid)" + (" FOR UPDATE" if for_update else ""),  # noqa: S608
        id=contato_id,
    )


# Column names come from ContatoPatch's fields only, never from the client's keys as such.
_EDITABLE = {
    "nome": "nome = :nome, nome_editado = true",
    "tipo": "tipo = CAST(:tipo AS tipo_contato)",
    "estado_jornada": "estado_jornada = CAST(:estado_jornada AS estado_jornada)",
    "origem": "origem = CAST(:origem AS origem_contato)",
    "origem_campanha": "origem_campanha = :origem_campanha",
}


def update(contato_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    sets = [_EDITABLE[field] for field in changes]
    return db.query_one(
        "UPDATE contatos SET " + ", ".join(sets) + " WHERE id = CAST(:id AS uuid) RETURNING *",  # noqa: S608
        id=contato_id,
        **changes,
    )
