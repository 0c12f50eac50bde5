"""SQL for eventos (the contact's timeline)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db

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
