"""SQL for conversas."""

from __future__ import annotations

from typing import Any

from chalicelib import db

# The ativa conversation of each contact, opening one where there is none. The partial
# unique index idx_conversa_ativa_por_contato arbitrates between concurrent openers: the
# loser's INSERT does nothing and the next SELECT (a new snapshot) finds the winner's row.
_FIND_OR_OPEN_SQL = """
WITH alvo AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS contato_id),
abertas AS (
    INSERT INTO conversas (contato_id, canal)
    SELECT contato_id, 'whatsapp' FROM alvo
    ON CONFLICT (contato_id) WHERE status = 'ativa' DO NOTHING
    RETURNING id, contato_id
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados, chave)
    SELECT contato_id, 'conversa_aberta', jsonb_build_object('conversa_id', id, 'canal', 'whatsapp',
                                                             'origem', 'whatsapp_webhook'),
           'conversa_aberta:' || id
    FROM abertas
    ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
)
SELECT contato_id, id AS conversa_id, true AS conversa_nova FROM abertas
UNION ALL
SELECT c.contato_id, c.id, false FROM conversas c JOIN alvo a ON a.contato_id = c.contato_id
WHERE c.status = 'ativa'
"""


def find_or_open_ativas(contato_ids: list[str]) -> list[dict[str, Any]]:
    """{contato_id, conversa_id, conversa_nova} for each contact (a racing opener may leave
    one out for this snapshot: call again for the missing ones)."""
    if not contato_ids:
        return []
    return db.query(_FIND_OR_OPEN_SQL, ids=[str(i) for i in contato_ids])


def get_many_json(conversa_ids: list[str]) -> list[dict[str, Any]]:
    """Whole rows as JSON objects (for live events)."""
    if not conversa_ids:
        return []
    rows = db.query(
        "SELECT to_jsonb(c) AS conversa FROM conversas c WHERE c.id = ANY(CAST(:ids AS uuid[]))",
        ids=[str(i) for i in conversa_ids],
    )
    return [row["conversa"] for row in rows]
