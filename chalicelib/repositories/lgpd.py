"""SQL of LGPD requests: one contact's data for export, and its anonymisation.

Every function is one set-based statement over the contact's rows (no query per
conversation or message). The message wipe itself is 0008's trigger: marking a message
`anonimizada` is what clears it.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db

# --- export ---------------------------------------------------------------------------------


def conversas(contato_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT * FROM conversas WHERE contato_id = CAST(:id AS uuid) ORDER BY created_at, id",
        id=contato_id,
    )


def mensagens(
    contato_id: str, limit: int, after_created_at: str | None = None, after_seq: int | None = None
) -> list[dict[str, Any]]:
    """Messages of all the contact's conversations, oldest first, at most `limit`, after the
    (created_at, seq) keyset when given, each with the files stored for it (`media_files`,
    aggregated: one statement, no query per message)."""
    return db.query(
        """
        SELECT m.*, a.nome AS enviado_por_nome,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'id', f.id, 'storage_key', f.storage_key, 'thumbnail_key', f.thumbnail_key,
                                    'mime_type', f.mime_type, 'size_bytes', f.size_bytes, 'sha256', f.sha256,
                                    'width', f.width, 'height', f.height, 'created_at', f.created_at)
                                ORDER BY f.created_at)
                         FROM media_files f WHERE f.mensagem_id = m.id), '[]'::jsonb) AS media_files
          FROM mensagens m
          JOIN conversas c ON c.id = m.conversa_id
          LEFT JOIN administradores a ON a.id = m.enviado_por
         WHERE c.contato_id = CAST(:id AS uuid)
           AND (CAST(:after_seq AS bigint) IS NULL
                OR (m.created_at, m.seq) > (CAST(:after_ts AS timestamptz), CAST(:after_seq AS bigint)))
         ORDER BY m.created_at, m.seq
         LIMIT :limit
        """,
        id=contato_id,
        limit=limit,
        after_ts=after_created_at,
        after_seq=after_seq,
    )


def eventos(contato_id: str, limit: int) -> list[dict[str, Any]]:
    return db.query(
        "SELECT id, contato_id, tipo, dados, created_at FROM eventos WHERE contato_id = CAST(:id AS uuid)"
        " ORDER BY created_at, id LIMIT :limit",
        id=contato_id,
        limit=limit,
    )


# --- anonymisation --------------------------------------------------------------------------


def media_locations(contato_id: str) -> list[str]:
    """Every S3 location the contact's messages point at: the message's media and thumbnail,
    the upload an outbound media was sent from (dados.media.key), and media_files' keys."""
    rows = db.query(
        """
        WITH msgs AS (
            SELECT m.id, m.media_url, m.thumbnail_url, m.dados
              FROM mensagens m JOIN conversas c ON c.id = m.conversa_id
             WHERE c.contato_id = CAST(:id AS uuid)
        )
        SELECT DISTINCT loc FROM (
            SELECT media_url AS loc FROM msgs
            UNION ALL SELECT thumbnail_url FROM msgs
            UNION ALL SELECT dados -> 'media' ->> 'key' FROM msgs WHERE jsonb_typeof(dados -> 'media') = 'object'
            UNION ALL SELECT f.storage_key FROM media_files f JOIN msgs ON msgs.id = f.mensagem_id
            UNION ALL SELECT f.thumbnail_key FROM media_files f JOIN msgs ON msgs.id = f.mensagem_id
        ) l
        WHERE loc IS NOT NULL AND loc <> '' AND loc !~* '^https?://'
        ORDER BY loc
        """,
        id=contato_id,
    )
    return [r["loc"] for r in rows]


def anonymize_contato(contato_id: str, telefone: str, wa_id: str) -> dict[str, Any] | None:
    """Identity out, placeholder in; the lead goes with it. Returns the contact as it now is."""
    return db.query_one(
        """
        WITH lead AS (DELETE FROM interessados WHERE contato_id = CAST(:id AS uuid) RETURNING id)
        UPDATE contatos SET
            anonimizado = true,
            telefone = :telefone,
            wa_id = :wa_id,
            bsuid = NULL,        -- 0010: the BSUID and the username say who the person is too
            bsuid_pai = NULL,
            username = NULL,
            nome = NULL,
            nome_perfil = NULL,
            nome_editado = false,
            origem_campanha = NULL,
            opt_in_status = false
         WHERE id = CAST(:id AS uuid) AND NOT anonimizado
        RETURNING *, (SELECT count(*) FROM lead) AS interessados_removidos
        """,
        id=contato_id,
        telefone=telefone,
        wa_id=wa_id,
    )


def anonymize_mensagens(contato_id: str) -> dict[str, Any]:
    """Mark every message of the contact (0008's trigger wipes it), drop its media_files rows,
    the stored answers of its idempotent sends (they hold the sent text) and the internal notes
    of its conversations. Counts back."""
    return db.query_one(
        """
        WITH conv AS (SELECT id FROM conversas WHERE contato_id = CAST(:id AS uuid)),
        arquivos AS (
            DELETE FROM media_files f USING mensagens m
             WHERE f.mensagem_id = m.id AND m.conversa_id IN (SELECT id FROM conv)
            RETURNING f.id
        ),
        respostas AS (
            DELETE FROM envio_idempotencia WHERE conversa_id IN (SELECT id FROM conv) RETURNING conversa_id
        ),
        -- Edits and revokes of the contact's messages hold their texts (0010).
        alteracoes AS (
            DELETE FROM mensagens_alteracoes a USING mensagens m
             WHERE a.original_whatsapp_id = m.whatsapp_id AND m.conversa_id IN (SELECT id FROM conv)
            RETURNING a.whatsapp_id
        ),
        marcadas AS (
            UPDATE mensagens SET anonimizada = true WHERE conversa_id IN (SELECT id FROM conv) RETURNING id
        ),
        -- Internal notes (0013) talk about the customer: erased with the conversation's data.
        notas_apagadas AS (
            DELETE FROM notas WHERE conversa_id IN (SELECT id FROM conv) RETURNING id
        )
        SELECT (SELECT count(*) FROM marcadas) AS mensagens,
               (SELECT count(*) FROM notas_apagadas) AS notas,
               (SELECT count(*) FROM arquivos) AS media_files,
               (SELECT count(*) FROM respostas) AS envios
        """,
        id=contato_id,
    )


# Event keys that name only our own rows or people (ids, the channel, journey states); every
# other key may carry the contact's data (telefone, wa_id, names, texts, referral) and goes.
EVENTO_CHAVES_MANTIDAS = (
    "conversa_id",
    "mensagem_id",
    "atendente_id",
    "anterior_id",
    "por",
    "canal",
    "origem",
    "source",
)


def anonymize_eventos(contato_id: str) -> int:
    return db.execute(
        """
        UPDATE eventos e SET dados = (
            SELECT coalesce(jsonb_object_agg(d.key, d.value), '{}'::jsonb)
              FROM jsonb_each(CASE WHEN jsonb_typeof(e.dados) = 'object' THEN e.dados ELSE '{}'::jsonb END) d
             WHERE d.key = ANY(CAST(:chaves AS text[])) AND jsonb_typeof(d.value) IN ('string', 'null')
        )
         WHERE e.contato_id = CAST(:id AS uuid)
        """,
        id=contato_id,
        chaves=list(EVENTO_CHAVES_MANTIDAS),
    )


def delete_status_pendentes(enderecos: list[str], wamids: list[str] | None = None) -> int:
    """Statuses still waiting for their message carry the number as recipient_id (any number
    the contact ever had), the BSUID as recipient_user_id, and the wamid of one of the
    contact's messages."""
    if not enderecos and not wamids:
        return 0
    return db.execute(
        "DELETE FROM whatsapp_status_pendentes"
        " WHERE payload ->> 'recipient_id' IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"
        "    OR payload ->> 'recipient_user_id' IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"
        "    OR whatsapp_id IN (SELECT jsonb_array_elements_text(CAST(:wamids AS jsonb)))",
        ids=json.dumps(sorted(set(enderecos))),
        wamids=json.dumps(sorted(set(wamids or []))),
    )


def delete_alteracoes_pendentes(enderecos: list[str]) -> int:
    """Edits and revokes still waiting for their original (0010) name their sender by phone
    (`from`) or BSUID (`from_user_id`) in the raw copy."""
    if not enderecos:
        return 0
    return db.execute(
        "DELETE FROM mensagens_alteracoes"
        " WHERE dados -> 'raw' ->> 'from' IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"
        "    OR dados -> 'raw' ->> 'from_user_id' IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))",
        ids=json.dumps(sorted(set(enderecos))),
    )


def numeros_historicos(contato_id: str) -> list[str]:
    """Every number the contact's events name (number changes: de/para/wa_id; the contact's
    creation: telefone/wa_id), so erasure also reaches what was parked under an old number."""
    rows = db.query(
        "SELECT DISTINCT v FROM eventos e,"
        " LATERAL (VALUES (e.dados ->> 'de'), (e.dados ->> 'para'), (e.dados ->> 'wa_id'), (e.dados ->> 'telefone'),"
        "                 (e.dados ->> 'telefone_antigo'), (e.dados ->> 'telefone_novo')) AS x(v)"
        " WHERE e.contato_id = CAST(:id AS uuid) AND jsonb_typeof(e.dados) = 'object' AND v ~ '^[+]?[0-9]{8,15}$'",
        id=contato_id,
    )
    return [r["v"] for r in rows]


def wamids(contato_id: str) -> list[str]:
    """The WhatsApp ids of the contact's messages and the ones its events name (they encode
    the number: Meta's format)."""
    rows = db.query(
        """
        SELECT m.whatsapp_id AS w FROM mensagens m JOIN conversas c ON c.id = m.conversa_id
         WHERE c.contato_id = CAST(:id AS uuid) AND m.whatsapp_id IS NOT NULL AND m.whatsapp_id NOT LIKE 'h:%'
        UNION
        SELECT e.dados ->> 'whatsapp_id' FROM eventos e
         WHERE e.contato_id = CAST(:id AS uuid) AND jsonb_typeof(e.dados) = 'object' AND e.dados ? 'whatsapp_id'
        """,
        id=contato_id,
    )
    return [r["w"] for r in rows if r["w"]]


def pseudonymize_wamids(contato_id: str, mapa: dict[str, str]) -> int:
    """The contact's messages keep a keyed hash of their wamid instead of the wamid itself."""
    if not mapa:
        return 0
    return db.execute(
        """
        UPDATE mensagens m SET whatsapp_id = CAST(:mapa AS jsonb) ->> m.whatsapp_id
          FROM conversas c
         WHERE c.id = m.conversa_id AND c.contato_id = CAST(:id AS uuid)
           AND CAST(:mapa AS jsonb) ? m.whatsapp_id
        """,
        id=contato_id,
        mapa=json.dumps(mapa),
    )


def chaves_eventos(contato_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT id, chave FROM eventos WHERE contato_id = CAST(:id AS uuid) AND chave IS NOT NULL"
        " AND chave NOT LIKE 'h:%'",
        id=contato_id,
    )


def pseudonymize_chaves(mapa: dict[str, str]) -> int:
    """eventos.chave by id → its keyed hash (deduplication keeps working, the key says nothing)."""
    if not mapa:
        return 0
    return db.execute(
        "UPDATE eventos e SET chave = CAST(:mapa AS jsonb) ->> CAST(e.id AS text)"
        " WHERE CAST(e.id AS text) IN (SELECT jsonb_object_keys(CAST(:mapa AS jsonb)))",
        mapa=json.dumps(mapa),
    )


def partes_sem_contato(agulhas: list[str], limit: int) -> list[dict[str, Any]]:
    """Webhook parts stored without a contact (discarded items, value-level errors, unknown
    fields) that name one of these numbers or wamids: the contact's data too (export)."""
    if not agulhas:
        return []
    return db.query(
        "SELECT id, tipo, dados, created_at FROM eventos e"
        " WHERE e.contato_id IS NULL AND EXISTS ("
        "   SELECT 1 FROM jsonb_array_elements_text(CAST(:agulhas AS jsonb)) a(v)"
        "   WHERE strpos(CAST(e.dados AS text), a.v) > 0)"
        " ORDER BY e.created_at, e.id LIMIT :limit",
        agulhas=json.dumps(sorted(set(agulhas))),
        limit=limit,
    )


def delete_partes_sem_contato(agulhas: list[str]) -> int:
    """Their data goes; the row (and its key, so a redelivery stays a duplicate) stays."""
    if not agulhas:
        return 0
    return db.execute(
        "UPDATE eventos e SET dados = jsonb_build_object('apagado_lgpd', true)"
        " WHERE e.contato_id IS NULL AND EXISTS ("
        "   SELECT 1 FROM jsonb_array_elements_text(CAST(:agulhas AS jsonb)) a(v)"
        "   WHERE strpos(CAST(e.dados AS text), a.v) > 0)",
        agulhas=json.dumps(sorted(set(agulhas))),
    )


def close_conversas(contato_id: str) -> list[dict[str, Any]]:
    """Close the contact's open conversation (nobody may answer an erased contact)."""
    return db.query(
        "UPDATE conversas SET status = 'encerrada', closed_at = now()"
        " WHERE contato_id = CAST(:id AS uuid) AND status = 'ativa' RETURNING id, closed_at",
        id=contato_id,
    )


def conversas_json(contato_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT to_jsonb(c) AS conversa FROM conversas c WHERE c.contato_id = CAST(:id AS uuid)"
        " ORDER BY c.created_at, c.id",
        id=contato_id,
    )
    return [r["conversa"] for r in rows]


def record_anonimizacao(contato_id: str, dados: dict[str, Any]) -> dict[str, Any]:
    return db.query_one(
        "INSERT INTO eventos (contato_id, tipo, dados, chave)"
        " VALUES (CAST(:id AS uuid), 'anonimizado', CAST(:dados AS jsonb), 'anonimizado:' || :id) RETURNING *",
        id=contato_id,
        dados=json.dumps(dados),
    )
