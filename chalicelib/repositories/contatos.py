"""SQL for contatos (and, for the inbound webhook, the conversation each contact talks in)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db
from chalicelib.repositories import identidades

# Contacts of one webhook payload, their ativa conversations and the eventos of what was
# created, in one statement. The profile name fills nome_perfil and nome, but never a name an
# attendant set (nome_editado) nor an anonymised contact. `criado` comes from xmax = 0: the
# row was inserted, not updated. A contact whose ativa conversation was opened by a
# concurrent payload after this statement's snapshot comes back with conversa_id NULL; the
# caller then asks conversas.find_or_open_ativas.
_UPSERT_INBOUND_SQL = """
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(telefone text, wa_id text, nome_perfil text)
),
gravados AS (
    INSERT INTO contatos AS k (telefone, wa_id, nome_perfil, nome, canal)
    SELECT telefone, wa_id, nome_perfil, nome_perfil, 'whatsapp' FROM entrada
    ON CONFLICT (telefone) DO UPDATE SET
        wa_id = CASE WHEN k.anonimizado THEN k.wa_id ELSE coalesce(EXCLUDED.wa_id, k.wa_id) END,
        nome_perfil = CASE WHEN k.anonimizado THEN k.nome_perfil
                           ELSE coalesce(EXCLUDED.nome_perfil, k.nome_perfil) END,
        nome = CASE WHEN k.anonimizado OR k.nome_editado THEN k.nome
                    ELSE coalesce(EXCLUDED.nome_perfil, k.nome) END
    RETURNING k.id, k.telefone, k.nome, k.wa_id, (k.xmax = 0) AS criado
),
abertas AS (
    INSERT INTO conversas (contato_id, canal)
    SELECT id, 'whatsapp' FROM gravados
    ON CONFLICT (contato_id) WHERE status = 'ativa' DO NOTHING
    RETURNING id, contato_id
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados, chave)
    SELECT id, 'contato_criado', jsonb_build_object('telefone', telefone, 'wa_id', wa_id, 'canal', 'whatsapp',
                                                    'origem', 'whatsapp_webhook'),
           'contato_criado:' || id
    FROM gravados WHERE criado
    UNION ALL
    SELECT contato_id, 'conversa_aberta', jsonb_build_object('conversa_id', id, 'canal', 'whatsapp',
                                                             'origem', 'whatsapp_webhook'),
           'conversa_aberta:' || id
    FROM abertas
    ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
)
SELECT g.id AS contato_id, g.telefone, g.nome, g.criado,
       coalesce(a.id, c.id) AS conversa_id, (a.id IS NOT NULL) AS conversa_nova
FROM gravados g
LEFT JOIN abertas a ON a.contato_id = g.id
LEFT JOIN conversas c ON c.contato_id = g.id AND c.status = 'ativa'
"""


def upsert_inbound(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows: {telefone, wa_id, nome_perfil}, one per telefone. Returns one row per contact:
    contato_id, telefone, nome, criado, conversa_id (None: see above), conversa_nova."""
    if not rows:
        return []
    return db.query(_UPSERT_INBOUND_SQL, rows=json.dumps(rows))


# A user_preferences webhook: the customer stopped, resumed or signed up to (a signup link,
# 0010) marketing messages in WhatsApp itself; any other category or value is kept as
# consent evidence (tipo preferencia_whatsapp) and changes nothing. The contact is found by
# BSUID first, then by phone (an item may carry only one of them, 0010). Contacts we do not
# know still get their eventos row (contato_id NULL). Webhooks arrive out of order: a
# preference older than the contact's latest explicit choice (another user_preferences item,
# or an opt-out word in a message) is recorded but changes nothing, so a late 'stop' never
# undoes a newer 'resume' and vice versa.
_USER_PREFERENCES_SQL = """
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        telefone text, bsuid text, optar boolean, valor text, payload jsonb, created_at timestamptz, chave text)
),
alvo AS (
    SELECT e.*,
           (SELECT k.id FROM contatos k
             WHERE (e.bsuid IS NOT NULL AND k.bsuid = e.bsuid) OR (e.telefone IS NOT NULL AND k.telefone = e.telefone)
             ORDER BY (k.bsuid IS NOT DISTINCT FROM e.bsuid) DESC, k.created_at LIMIT 1) AS contato_id
    FROM entrada e
),
ultima AS (
    SELECT DISTINCT ON (contato_id) contato_id, optar, valor, created_at
    FROM alvo WHERE contato_id IS NOT NULL AND optar IS NOT NULL
    ORDER BY contato_id, created_at DESC
),
alterados AS (
    UPDATE contatos k SET
        opt_in_status = u.optar,
        opt_in_at = CASE WHEN u.optar THEN u.created_at ELSE k.opt_in_at END,
        opt_in_source = CASE WHEN NOT u.optar THEN k.opt_in_source
                             WHEN u.valor = 'signup' THEN 'whatsapp_signup'
                             ELSE 'whatsapp_user_preferences' END
    FROM ultima u
    WHERE k.id = u.contato_id
      AND NOT EXISTS (
          SELECT 1 FROM eventos ev
          WHERE ev.contato_id = k.id AND ev.tipo IN ('opt_in', 'opt_out') AND ev.created_at > u.created_at
            AND ev.dados ->> 'source' IN ('whatsapp_user_preferences', 'whatsapp_message'))
    RETURNING k.id, k.telefone
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados, created_at, chave)
    SELECT a.contato_id,
           CASE WHEN a.optar THEN 'opt_in' WHEN NOT a.optar THEN 'opt_out' ELSE 'preferencia_whatsapp' END,
           jsonb_build_object('source', 'whatsapp_user_preferences', 'user_preferences', a.payload),
           a.created_at, a.chave
    FROM alvo a
    ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
)
SELECT id AS contato_id, telefone FROM alterados
"""


def apply_user_preferences(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows: {telefone, bsuid (either may be None), optar (True = resume/signup, False =
    stop, None = evidence only), valor, payload, created_at, chave}."""
    if not rows:
        return []
    return db.query(_USER_PREFERENCES_SQL, rows=json.dumps(rows))


# Statuses of messages sent to a contact that has no BSUID yet carry it (recipient_user_id):
# the contact takes it, unless another contact already holds it (then the two are one
# person for a later payload with both identifiers to merge; a status proves nothing about
# the phone). The caller holds the BSUIDs' advisory locks.
_FILL_BSUID_SQL = """
UPDATE contatos k SET bsuid = s.bsuid, bsuid_pai = coalesce(k.bsuid_pai, s.bsuid_pai)
FROM (
    SELECT DISTINCT ON (c.contato_id) c.contato_id, e.bsuid, e.bsuid_pai
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS e(whatsapp_id text, bsuid text, bsuid_pai text,
                                                       status_at timestamptz)
    JOIN mensagens m ON m.whatsapp_id = e.whatsapp_id
    JOIN conversas c ON c.id = m.conversa_id
    ORDER BY c.contato_id, e.status_at DESC
) s
WHERE k.id = s.contato_id AND k.bsuid IS NULL AND NOT k.anonimizado
  AND NOT EXISTS (SELECT 1 FROM contatos o WHERE o.bsuid = s.bsuid)
RETURNING k.id
"""


def fill_bsuid_from_statuses(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows: status rows with `bsuid` (and bsuid_pai, whatsapp_id, status_at)."""
    if not rows:
        return []

    identidades.lock([f"b:{r['bsuid']}" for r in rows])
    return db.query(
        _FILL_BSUID_SQL,
        rows=json.dumps([{k: r.get(k) for k in ("whatsapp_id", "bsuid", "bsuid_pai", "status_at")} for r in rows]),
    )


# A `user_changed_number` system message: the contact moves to its new number (telefone in
# E.164 and wa_id, the send address), so the customer's next messages, from the new wa_id,
# find the same contact and conversation. Where the new number already belongs to another
# contact (its messages arrived before the announcement; order is not guaranteed), or two
# contacts claim it, nothing moves: the eventos row names the other contact for a manual
# merge. Anonymised contacts are never given a number back.
_NUMBER_CHANGES_SQL = """
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        contato_id uuid, whatsapp_id text, telefone_antigo text, telefone_novo text, wa_id_novo text,
        created_at timestamptz, disputado boolean)
),
ocupados AS (
    SELECT e.contato_id, k.id AS outro_id
    FROM entrada e JOIN contatos k ON k.telefone = e.telefone_novo AND k.id <> e.contato_id
),
alterados AS (
    UPDATE contatos k SET telefone = e.telefone_novo, wa_id = e.wa_id_novo
    FROM entrada e
    WHERE k.id = e.contato_id AND NOT k.anonimizado AND NOT e.disputado
      AND NOT EXISTS (SELECT 1 FROM ocupados o WHERE o.contato_id = e.contato_id)
    RETURNING k.id
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados, created_at, chave)
    SELECT e.contato_id, 'numero_alterado',
           jsonb_build_object('de', e.telefone_antigo, 'para', e.telefone_novo, 'wa_id', e.wa_id_novo,
                              'whatsapp_id', e.whatsapp_id, 'telefone_atualizado', a.id IS NOT NULL,
                              'outro_contato_id', o.outro_id, 'disputado', e.disputado),
           e.created_at, 'numero_alterado:' || e.whatsapp_id
    FROM entrada e
    LEFT JOIN alterados a ON a.id = e.contato_id
    LEFT JOIN ocupados o ON o.contato_id = e.contato_id
    ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
)
SELECT id AS contato_id FROM alterados
"""


def apply_number_changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows: {contato_id, whatsapp_id, telefone_antigo, telefone_novo, wa_id_novo, created_at,
    disputado}, one per contact. Returns the contacts whose number changed."""
    if not rows:
        return []
    return db.query(_NUMBER_CHANGES_SQL, rows=json.dumps(rows))


# --- contacts screen: list/search, one contact, edits -------------------------
# SQL of the contacts screen: list/search, one contact with its lead, edits.


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def busca_filter(busca: str, alias: str = "") -> tuple[str, dict[str, Any]]:
    """The search of the contacts and inbox screens: name, profile name or WhatsApp username
    contain `busca` (wildcards taken literally; a leading '@' of a username is optional), or
    the phone contains its digits (3 or more). `alias` prefixes the contatos columns ("ct."
    inside a join)."""
    conds = [f"{alias}nome ILIKE :busca", f"{alias}nome_perfil ILIKE :busca", f"{alias}username ILIKE :usuario"]
    params = {"busca": _like(busca), "usuario": _like(busca.lstrip("@"))}
    digits = "".join(ch for ch in busca if ch.isdigit())
    if len(digits) >= 3:
        conds.append(f"{alias}telefone LIKE :fone")
        params["fone"] = _like(digits)
    return "(" + " OR ".join(conds) + ")", params


def page(*, limit: int, busca: str | None, after: tuple[str, str] | tuple[None, None]) -> list[dict[str, Any]]:
    """Contacts, newest first, keyset on (created_at, id); `busca` matches name or phone."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if busca:
        cond, busca_params = busca_filter(busca)
        where.append(cond)
        params.update(busca_params)
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
