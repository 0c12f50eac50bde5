"""SQL for mensagens: inbound storage and delivery statuses.

Status rules (docs/inbound.md, Statuses): a status only moves forward in
pendente < enviada < falhou < entregue < lida < reproduzida, so `falhou` applies only before
the message was delivered, and evidence of delivery wins over an earlier failure. `recebida`
(inbound) is last: no status changes it. Every status object is kept in
dados.statuses[<meta status word>], errors in dados.errors, unknown words included.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db

STATUS_ORDER = ("pendente", "enviada", "falhou", "entregue", "lida", "reproduzida", "recebida")
_ORDER_SQL = "ARRAY[" + ", ".join(f"'{s}'" for s in STATUS_ORDER) + "]"


def existing_by_whatsapp_ids(whatsapp_ids: list[str]) -> list[dict[str, Any]]:
    """Stored messages among these wamids, with whether their media is still to be fetched."""
    if not whatsapp_ids:
        return []
    return db.query(
        "SELECT m.id, m.whatsapp_id, m.tipo, m.media_type,"
        " (m.tipo = 'media' AND m.media_type <> 'location' AND m.media_url IS NULL"
        "  AND NOT EXISTS (SELECT 1 FROM media_files f WHERE f.mensagem_id = m.id)) AS media_pendente"
        " FROM mensagens m"
        " WHERE m.whatsapp_id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))",
        ids=json.dumps(list(whatsapp_ids)),  # one JSON text: pg8000 escapes arrays char by char
    )


# Inbound messages of one payload in one statement: insert (a wamid already stored does
# nothing, also when two deliveries race), then only for the rows really inserted: the window
# (never backwards), the contact's first-message opt-in, opt-out and ad referral, and their
# eventos. The unread counter and last activity follow from 0005's statement trigger.
_INSERT_INBOUND_SQL = """
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        whatsapp_id text, conversa_id uuid, contato_id uuid, conteudo text, tipo tipo_mensagem,
        media_type media_type, media_mime text, dados jsonb, created_at timestamptz,
        abre_janela boolean, opt_out boolean, referral jsonb, campanha text, ordem integer,
        direcao direcao_mensagem)
),
gravadas AS (
    -- direcao 'saida': an echo of a message our staff sent from the WhatsApp Business app
    -- (0010), already delivered to WhatsApp: 'enviada', never pendente, so never sent again.
    INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio, created_at,
                           media_type, media_mime, dados)
    SELECT conversa_id, coalesce(direcao, 'entrada'), conteudo, tipo, whatsapp_id,
           CASE WHEN direcao = 'saida' THEN 'enviada' ELSE 'recebida' END::status_envio, created_at,
           media_type, media_mime, dados
    FROM entrada
    ORDER BY ordem  -- seq (0009) is drawn in this order: same-second messages keep it
    ON CONFLICT (whatsapp_id) WHERE whatsapp_id IS NOT NULL DO NOTHING
    RETURNING *
),
novas AS (
    SELECT g.id, g.whatsapp_id, g.conversa_id, g.created_at, g.conteudo, g.direcao,
           e.contato_id, e.abre_janela, e.opt_out, e.referral, e.campanha
    FROM gravadas g JOIN entrada e ON e.whatsapp_id = g.whatsapp_id
),
janelas AS (
    UPDATE conversas c SET window_expires_at = greatest(c.window_expires_at, n.ultima + interval '24 hours')
    FROM (SELECT conversa_id, max(created_at) AS ultima FROM novas WHERE abre_janela GROUP BY conversa_id) n
    WHERE c.id = n.conversa_id
      AND c.window_expires_at IS DISTINCT FROM greatest(c.window_expires_at, n.ultima + interval '24 hours')
    RETURNING c.id
),
por_contato AS (
    SELECT contato_id, min(created_at) AS primeira, bool_or(opt_out) AS opt_out,
           max(created_at) FILTER (WHERE opt_out) AS ultimo_opt_out,
           bool_or(referral IS NOT NULL) AS anuncio,
           (array_agg(campanha ORDER BY created_at DESC) FILTER (WHERE campanha IS NOT NULL))[1] AS campanha
    FROM novas WHERE direcao = 'entrada' GROUP BY contato_id
),
contatos_alterados AS (
    UPDATE contatos k SET
        -- An opt-out word older than a 'resume' the customer gave later in WhatsApp's own
        -- settings (user_preferences; webhooks arrive out of order) does not undo it.
        opt_in_status = CASE
            WHEN p.opt_out AND NOT EXISTS (
                SELECT 1 FROM eventos ev
                WHERE ev.contato_id = k.id AND ev.tipo = 'opt_in' AND ev.created_at > p.ultimo_opt_out
                  AND ev.dados ->> 'source' = 'whatsapp_user_preferences') THEN false
            WHEN k.opt_in_at IS NULL THEN true
            ELSE k.opt_in_status END,
        opt_in_at = coalesce(k.opt_in_at, p.primeira),
        opt_in_source = CASE WHEN k.opt_in_at IS NULL THEN 'whatsapp_first_message' ELSE k.opt_in_source END,
        origem = CASE WHEN p.anuncio THEN 'anuncio' ELSE k.origem END,
        origem_campanha = CASE WHEN p.anuncio THEN coalesce(p.campanha, k.origem_campanha) ELSE k.origem_campanha END
    FROM por_contato p
    WHERE k.id = p.contato_id AND (k.opt_in_at IS NULL OR p.opt_out OR p.anuncio)
    RETURNING k.id, k.opt_in_at, k.opt_in_source, p.primeira
),
registrados AS (
    INSERT INTO eventos (contato_id, tipo, dados, created_at, chave)
    SELECT id, 'opt_in', jsonb_build_object('source', 'whatsapp_first_message', 'opt_in_at', opt_in_at),
           opt_in_at, 'opt_in_primeira_mensagem:' || id
    FROM contatos_alterados WHERE opt_in_source = 'whatsapp_first_message' AND opt_in_at = primeira
    UNION ALL
    SELECT contato_id, 'opt_out', jsonb_build_object('source', 'whatsapp_message', 'whatsapp_id', whatsapp_id,
                                                     'mensagem_id', id, 'texto', conteudo),
           created_at, 'opt_out:' || whatsapp_id
    FROM novas WHERE opt_out
    UNION ALL
    SELECT contato_id, 'referral', jsonb_build_object('referral', referral, 'whatsapp_id', whatsapp_id,
                                                      'mensagem_id', id),
           created_at, 'referral:' || whatsapp_id
    FROM novas WHERE referral IS NOT NULL
    ON CONFLICT (chave) WHERE chave IS NOT NULL DO NOTHING
)
SELECT to_jsonb(g) AS mensagem, n.contato_id
FROM gravadas g JOIN novas n ON n.id = g.id
ORDER BY g.created_at, g.seq
"""


def insert_inbound(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows: {whatsapp_id, conversa_id, contato_id, conteudo, tipo, media_type, media_mime,
    dados, created_at, abre_janela, opt_out, referral, campanha}, inserted in list order (their
    seq follows it). Returns the rows really inserted, oldest first: {mensagem (the whole row
    as a JSON object), contato_id}."""
    rows = [{**row, "ordem": i} for i, row in enumerate(rows)]
    if not rows:
        return []
    return db.query(_INSERT_INBOUND_SQL, rows=json.dumps(rows))


# Shared by the webhook and apply_pending_statuses: `entrada` holds status rows
# (whatsapp_id, status, status_envio, billing_category, errors, payload, status_at).
_APPLY_TAIL_SQL = f"""
agrupados AS (
    SELECT whatsapp_id,
           (array_agg(status_envio ORDER BY array_position({_ORDER_SQL}, status_envio::text) DESC)
               FILTER (WHERE status_envio IS NOT NULL))[1] AS status_envio,
           (array_agg(billing_category ORDER BY status_at DESC NULLS LAST)
               FILTER (WHERE billing_category IS NOT NULL))[1] AS billing_category,
           (array_agg(errors ORDER BY status_at DESC NULLS LAST) FILTER (WHERE errors IS NOT NULL))[1] AS errors,
           jsonb_object_agg(status, payload) AS statuses
    FROM entrada GROUP BY whatsapp_id
),
atualizadas AS (
    UPDATE mensagens m SET
        status_envio = CASE
            WHEN a.status_envio IS NOT NULL
                 AND array_position({_ORDER_SQL}, a.status_envio::text)
                     > array_position({_ORDER_SQL}, m.status_envio::text)
            THEN a.status_envio ELSE m.status_envio END,
        billing_category = coalesce(a.billing_category, m.billing_category),
        dados = m.dados
            || jsonb_build_object('statuses',
                   CASE WHEN jsonb_typeof(m.dados -> 'statuses') = 'object' THEN m.dados -> 'statuses'
                        ELSE '{{}}'::jsonb END || a.statuses)
            || CASE WHEN a.errors IS NULL THEN '{{}}'::jsonb ELSE jsonb_build_object('errors', a.errors) END
    FROM agrupados a
    WHERE m.whatsapp_id = a.whatsapp_id
    RETURNING m.id AS mensagem_id, m.whatsapp_id, m.conversa_id, m.status_envio, m.billing_category
),
cobranca AS (
    UPDATE conversas c SET billing_category = u.billing_category
    FROM (SELECT DISTINCT ON (conversa_id) conversa_id, billing_category FROM atualizadas
          WHERE billing_category IS NOT NULL ORDER BY conversa_id) u
    WHERE c.id = u.conversa_id AND c.billing_category IS DISTINCT FROM u.billing_category
)"""  # noqa: S608 - built from constants only

_APPLY_STATUSES_SQL = f"""
WITH entrada AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        whatsapp_id text, status text, status_envio status_envio, billing_category billing_category,
        errors jsonb, payload jsonb, status_at timestamptz)
),
{_APPLY_TAIL_SQL},
pendentes AS (
    INSERT INTO whatsapp_status_pendentes (whatsapp_id, status, status_envio, billing_category, errors, payload,
                                           status_at)
    SELECT e.whatsapp_id, e.status, e.status_envio, e.billing_category, e.errors, e.payload, e.status_at
    FROM entrada e
    WHERE NOT EXISTS (SELECT 1 FROM mensagens m WHERE m.whatsapp_id = e.whatsapp_id)
    ON CONFLICT (whatsapp_id, status) DO NOTHING
)
SELECT * FROM atualizadas
"""  # noqa: S608 - built from constants only

_APPLY_PENDING_SQL = f"""
WITH entrada AS (
    DELETE FROM whatsapp_status_pendentes p
    WHERE (CAST(:ids AS text[]) IS NULL OR p.whatsapp_id = ANY(CAST(:ids AS text[])))
      AND EXISTS (SELECT 1 FROM mensagens m WHERE m.whatsapp_id = p.whatsapp_id)
    RETURNING p.whatsapp_id, p.status, p.status_envio, p.billing_category, p.errors, p.payload, p.status_at
),
{_APPLY_TAIL_SQL}
SELECT * FROM atualizadas
"""  # noqa: S608 - built from constants only


# Transaction-scoped advisory locks per wamid close the race between a status arriving and
# the send call storing its wamid: the webhook takes them before looking for the messages, the
# sender before applying pending statuses; whoever comes second waits for the other's commit,
# and its next statement (a new snapshot under READ COMMITTED) sees the other's rows.
# Sorted, so two lockers never wait on each other in a cycle.
_WAMID_LOCK_CLASS = 0x5741  # "WA": a class of its own in the two-key advisory lock space
_LOCK_SQL = f"""
SELECT count(pg_advisory_xact_lock({_WAMID_LOCK_CLASS}, hashtext(w)))
FROM (SELECT DISTINCT jsonb_array_elements_text(CAST(:ids AS jsonb)) AS w ORDER BY 1) ids
"""  # noqa: S608 - a constant


def lock_whatsapp_ids(whatsapp_ids: list[str]) -> None:
    """Serialise status handling per wamid until the current transaction ends."""
    if whatsapp_ids:
        db.scalar(_LOCK_SQL, ids=json.dumps(sorted(set(whatsapp_ids))))


def apply_statuses(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Status rows from the webhook; those whose wamid is not stored yet wait in
    whatsapp_status_pendentes. Returns {mensagem_id, whatsapp_id, conversa_id, status_envio,
    billing_category} of the messages updated (the message:status event)."""
    if not rows:
        return []
    return db.query(_APPLY_STATUSES_SQL, rows=json.dumps(rows))


def prune_orphan_statuses(older_than_days: int, limit: int) -> int:
    """Delete up to `limit` parked statuses received more than `older_than_days` ago (by the
    received_at index); returns how many."""
    return len(
        db.query(
            "DELETE FROM whatsapp_status_pendentes WHERE id IN ("
            " SELECT id FROM whatsapp_status_pendentes"
            " WHERE received_at < now() - make_interval(days => CAST(:days AS int)) LIMIT :limit)"
            " RETURNING id",
            days=older_than_days,
            limit=limit,
        )
    )


def apply_pending_statuses(whatsapp_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Apply statuses that arrived before their message. The sending stream calls it right
    after storing a whatsapp_id, in the same transaction or after its commit (the wamid locks
    make both safe against a status arriving at that moment). None applies every pending
    status whose message now exists (a sweep; no locks). Returns the rows of apply_statuses."""
    if whatsapp_ids is None:
        return db.query(_APPLY_PENDING_SQL, ids=None)
    if not whatsapp_ids:
        return []
    with db.transaction():  # joins the caller's transaction if there is one
        lock_whatsapp_ids(list(whatsapp_ids))
        return db.query(_APPLY_PENDING_SQL, ids=list(whatsapp_ids))
