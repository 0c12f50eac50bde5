"""SQL for eventos (the contact's timeline)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db
from chalicelib.http import jsonable

_INSERT_MANY_SQL = """
INSERT INTO eventos (contato_id, tipo, dados, created_at, chave)
SELECT contato_id, tipo, dados, coalesce(created_at, now()), chave
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    contato_id uuid, tipo text, dados jsonb, created_at timestamptz, chave text)
ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
"""


def insert_many(rows: list[dict[str, Any]]) -> int:
    """rows: {contato_id?, tipo, dados, created_at?, chave?}; a row whose chave exists is skipped."""
    if not rows:
        return 0
    return db.execute(_INSERT_MANY_SQL, rows=json.dumps(rows, default=str))


# --- timeline as the API writes and reads it ----------------------------------
# SQL of a contact's timeline (eventos) as the API writes and reads it.


def record(contato_id: Any, tipo: str, dados: dict[str, Any]) -> dict[str, Any]:
    return db.query_one(
        "INSERT INTO eventos (contato_id, tipo, dados) VALUES (CAST(:contato_id AS uuid), :tipo, CAST(:dados AS jsonb))"
        " RETURNING *",
        contato_id=str(contato_id) if contato_id else None,
        tipo=tipo,
        dados=json.dumps(jsonable(dados)),
    )


def page(contato_id: str, *, limit: int, after: tuple[str, str] | tuple[None, None] = (None, None)) -> list[dict]:
    """A contact's events, newest first, keyset on (created_at, id)."""
    params: dict[str, Any] = {"contato_id": contato_id, "limit": limit}
    keyset = ""
    if after[0] is not None:
        keyset = " AND (created_at, id) < (CAST(:after_ts AS timestamptz), CAST(:after_id AS uuid))"
        params["after_ts"], params["after_id"] = after
    return db.query(
        "SELECT * FROM eventos WHERE contato_id = CAST(:contato_id AS uuid)"  # noqa: S608
        + keyset
        + " ORDER BY created_at DESC, id DESC LIMIT :limit",
        **params,
    )
