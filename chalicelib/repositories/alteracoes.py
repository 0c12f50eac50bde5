"""SQL of what changes stored messages after the fact: edits, revokes (0010's
mensagens_alteracoes) and echoes of our own replies from the WhatsApp Business app."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db


def record(rows: list[dict[str, Any]]) -> int:
    """rows: {whatsapp_id, original_whatsapp_id, tipo, conteudo, dados, created_at}; one row
    per edit/revoke wamid, so a redelivery (even a concurrent one) records nothing new."""
    if not rows:
        return 0
    return db.execute(
        """
        INSERT INTO mensagens_alteracoes (whatsapp_id, original_whatsapp_id, tipo, conteudo, dados, created_at)
        SELECT whatsapp_id, original_whatsapp_id, tipo, conteudo, dados, created_at
          FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
              whatsapp_id text, original_whatsapp_id text, tipo text, conteudo text, dados jsonb,
              created_at timestamptz)
        ON CONFLICT (whatsapp_id) DO NOTHING
        """,
        rows=json.dumps(rows),
    )


# One step: the oldest pending change of each of these originals that is stored, applied
# once (aplicada_em, re-checked under the row lock: a concurrent delivery applies nothing
# twice). An edit replaces the text (unless a later edit was already applied: webhooks come
# out of order) and appends {whatsapp_id, conteudo_anterior, conteudo, editada_em} to
# dados.edicoes, the history. A revoke (deleted for everyone) empties the text and drops from
# dados what repeats it (raw copy, edit history, location, contact cards, replies): the
# customer withdrew it, so the attendants no longer see it and we keep only that it existed
# (dados.revogada). Edits after a revoke change nothing.
_APLICAR_SQL = """
WITH proxima AS (
    SELECT DISTINCT ON (a.original_whatsapp_id) a.whatsapp_id
      FROM mensagens_alteracoes a
     WHERE a.aplicada_em IS NULL
       AND a.original_whatsapp_id IN (SELECT jsonb_array_elements_text(CAST(:originais AS jsonb)))
       AND EXISTS (SELECT 1 FROM mensagens m WHERE m.whatsapp_id = a.original_whatsapp_id)
     ORDER BY a.original_whatsapp_id, a.created_at, a.whatsapp_id
),
marcadas AS (
    UPDATE mensagens_alteracoes a SET aplicada_em = now()
      FROM proxima p
     WHERE a.whatsapp_id = p.whatsapp_id AND a.aplicada_em IS NULL
    RETURNING a.*
)
UPDATE mensagens m SET
    conteudo = CASE
        WHEN k.tipo = 'revoke' THEN ''
        WHEN m.dados ? 'revogada' THEN m.conteudo
        WHEN k.created_at >= coalesce(CAST(m.dados ->> 'editada_em' AS timestamptz), '-infinity')
            THEN coalesce(k.conteudo, m.conteudo)
        ELSE m.conteudo END,
    dados = CASE
        WHEN k.tipo = 'revoke' THEN
            (m.dados - 'raw' - 'edicoes' - 'location' - 'contacts' - 'nfm_reply' - 'reply_title'
                     - 'reply_description' - 'button_text' - 'order' - 'filename')
            || jsonb_build_object('revogada', jsonb_build_object('whatsapp_id', k.whatsapp_id, 'em', k.created_at))
        WHEN m.dados ? 'revogada' THEN m.dados
        ELSE m.dados || jsonb_build_object(
            'edicoes', coalesce(m.dados -> 'edicoes', '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
                'whatsapp_id', k.whatsapp_id, 'conteudo_anterior', m.conteudo, 'conteudo', k.conteudo,
                'editada_em', k.created_at)),
            'editada_em', greatest(CAST(m.dados ->> 'editada_em' AS timestamptz), k.created_at))
        END,
    updated_at = now()
  FROM marcadas k
 WHERE m.whatsapp_id = k.original_whatsapp_id
RETURNING to_jsonb(m) AS mensagem
"""

MAX_PASSOS = 20  # edits of one message in one payload; more stay pending for the next one


def apply(originais: list[str]) -> list[dict[str, Any]]:
    """Apply every pending change of these originals, oldest first. Returns each changed
    message (the last version of it) as a JSON object."""
    alvo = json.dumps(sorted(set(originais)))
    alteradas: dict[str, dict[str, Any]] = {}
    if not originais:
        return []
    for _passo in range(MAX_PASSOS):
        rows = db.query(_APLICAR_SQL, originais=alvo)
        if not rows:
            break
        for r in rows:
            alteradas[r["mensagem"]["id"]] = r["mensagem"]
    return list(alteradas.values())


def mark_answered(rows: list[dict[str, Any]]) -> int:
    """Echoes count as our reply: a conversation's unread counter keeps only the customer's
    messages after our latest echo (never more than it was)."""
    if not rows:
        return 0
    return db.execute(
        """
        UPDATE conversas c SET
            nao_lidas = least(c.nao_lidas, (SELECT count(*) FROM mensagens m
                                             WHERE m.conversa_id = c.id AND m.direcao = 'entrada'
                                               AND m.created_at > e.ultima)),
            lida_em = now()
          FROM (SELECT conversa_id, max(created_at) AS ultima
                  FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(conversa_id uuid, created_at timestamptz)
                 GROUP BY conversa_id) e
         WHERE c.id = e.conversa_id
        """,
        rows=json.dumps(rows),
    )
