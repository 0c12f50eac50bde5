"""SQL of the window expiry job (conversas.window_closed_handled_for, eventos)."""

from __future__ import annotations

from typing import Any

from chalicelib import db

EVENTO_TIPO = "janela_expirada"

# One statement: pick the ativa conversations whose window passed and whose closing was not
# announced yet, mark them, and write one eventos row each. SKIP LOCKED lets two overlapping
# runs split the work instead of waiting for (or repeating) each other.
_HANDLE_EXPIRED_SQL = """
WITH vencidas AS (
    SELECT id FROM conversas
    WHERE status = 'ativa'
      AND window_expires_at IS NOT NULL
      AND window_expires_at <= now()
      AND window_closed_handled_for IS DISTINCT FROM window_expires_at
    ORDER BY window_expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
),
marcadas AS (
    UPDATE conversas c SET window_closed_handled_for = c.window_expires_at
    FROM vencidas v WHERE c.id = v.id
    RETURNING c.id, c.contato_id, c.window_expires_at
),
registradas AS (
    INSERT INTO eventos (contato_id, tipo, dados)
    SELECT contato_id, :tipo,
           jsonb_build_object('conversa_id', id, 'window_expires_at', window_expires_at)
    FROM marcadas
    RETURNING id
)
SELECT id AS conversa_id, contato_id, window_expires_at FROM marcadas ORDER BY window_expires_at
"""


def handle_expired(limit: int) -> list[dict[str, Any]]:
    """Mark up to `limit` newly closed windows and record their eventos rows; returns them."""
    return db.query(_HANDLE_EXPIRED_SQL, limit=limit, tipo=EVENTO_TIPO)
