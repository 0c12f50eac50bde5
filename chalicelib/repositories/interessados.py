"""SQL for interessados: one lead record per contact (unique index from 0005)."""

from __future__ import annotations

from typing import Any

from chalicelib import db

_FIELDS = (
    "nome",
    "idade",
    "instrumento_desejado",
    "instrumento_sugerido",
    "experiencia_musical",
    "expectativas",
    "disponibilidade_horario",
    "compativel",
)


def get_by_contato(contato_id: str) -> dict[str, Any] | None:
    return db.query_one("SELECT * FROM interessados WHERE contato_id = CAST(:id AS uuid)", id=contato_id)


def upsert(contato_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Insert or replace the contact's lead; `criado` says which happened."""
    cols = ", ".join(_FIELDS)
    values = ", ".join(f":{f}" for f in _FIELDS)
    updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in _FIELDS)
    return db.query_one(
        f"INSERT INTO interessados (contato_id, {cols}) VALUES (CAST(:contato_id AS uuid), {values})"  # noqa: S608
        f" ON CONFLICT (contato_id) DO UPDATE SET {updates}"
        " RETURNING *, (xmax = 0) AS criado",
        contato_id=contato_id,
        **{f: data.get(f) for f in _FIELDS},
    )
