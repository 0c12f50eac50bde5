"""SQL for sending: the conversation as a send sees it, outbound messages, idempotency keys."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db
from chalicelib.repositories import mensagens
from chalicelib.repositories.conversas import JANELA_ABERTA_SQL

MENSAGEM_COLUMNS = (
    "id, conversa_id, direcao, conteudo, tipo, enviado_por, whatsapp_id, status_envio, created_at,"
    " template_id, media_type, media_url, media_mime, thumbnail_url, billing_category, dados, updated_at"
)

# Idempotency keys live this long; a retry after that is a new request. The f-strings in
# this module interpolate only these module constants (noqa: S608), never input.
IDEMPOTENCY_TTL = "24 hours"


# Conversation ---------------------------------------------------------------------------
def lock_conversa(conversa_id: str) -> dict[str, Any] | None:
    """The conversation with its contact's send address, locked for this transaction.

    The lock orders concurrent sends in one conversation with assignment changes; the
    window is evaluated here, by the database clock, at request time.
    """
    return db.query_one(
        "SELECT c.id, c.contato_id, c.status, c.atendente_id, c.atribuida_em, c.window_expires_at,"  # noqa: S608
        " c.anuncio_em, c.free_entry_point_ate,"
        f" {JANELA_ABERTA_SQL} AS janela_aberta,"
        " ct.telefone, ct.wa_id, ct.bsuid, ct.opt_in_status, ct.opt_in_at, ct.anonimizado"
        " FROM conversas c JOIN contatos ct ON ct.id = c.contato_id"
        " WHERE c.id = CAST(:conversa_id AS uuid)"
        " FOR UPDATE OF c",
        conversa_id=conversa_id,
    )


def open_free_entry_point(conversa_id: str) -> dict[str, Any] | None:
    """Our first reply within 24 h of an ad's referral message: 72 h from that message, free."""
    return db.query_one(
        "UPDATE conversas c SET free_entry_point_ate = c.anuncio_em + interval '72 hours',"  # noqa: S608
        " window_expires_at = greatest(c.window_expires_at, c.anuncio_em + interval '72 hours')"
        " WHERE c.id = CAST(:id AS uuid) AND c.anuncio_em IS NOT NULL AND c.free_entry_point_ate IS NULL"
        " AND now() < c.anuncio_em + interval '24 hours'"
        " AND NOT EXISTS (SELECT 1 FROM mensagens m WHERE m.conversa_id = c.id AND m.direcao = 'saida'"
        "                 AND m.status_envio <> 'falhou')"
        f" RETURNING c.free_entry_point_ate, c.window_expires_at, {JANELA_ABERTA_SQL} AS janela_aberta",
        id=conversa_id,
    )


def mensagem_da_conversa(conversa_id: str, mensagem_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT id, whatsapp_id, direcao, conteudo, tipo FROM mensagens"
        " WHERE id = CAST(:mensagem AS uuid) AND conversa_id = CAST(:conversa AS uuid)",
        mensagem=mensagem_id,
        conversa=conversa_id,
    )


def set_reaction(mensagem_id: str, emoji: str, admin_id: str, whatsapp_id: str) -> None:
    """Our reaction on a message (dados.reacao_enviada); an empty emoji removes it."""
    db.execute(
        "UPDATE mensagens SET dados = CASE WHEN :emoji = '' THEN dados - 'reacao_enviada'"
        " ELSE dados || jsonb_build_object('reacao_enviada', jsonb_build_object('emoji', CAST(:emoji AS text),"
        " 'por', CAST(:admin AS text), 'whatsapp_id', CAST(:wamid AS text), 'em', now())) END,"
        " updated_at = now()"
        " WHERE id = CAST(:id AS uuid)",
        id=mensagem_id,
        emoji=emoji,
        admin=admin_id,
        wamid=whatsapp_id,
    )


def get_template(name: str, language: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT id, whatsapp_id, name, category, status, language, body, components, variables"
        " FROM templates WHERE name = :name AND language = :language",
        name=name,
        language=language,
    )


# Messages ---------------------------------------------------------------------------------
def insert_pendente(
    *,
    conversa_id: str,
    admin_id: str,
    tipo: str,
    conteudo: str,
    billing_category: str,
    dados: dict[str, Any],
    template_id: str | None = None,
    media_type: str | None = None,
    media_url: str | None = None,
    media_mime: str | None = None,
) -> dict[str, Any]:
    """The outbound message as stored before WhatsApp hears of it: pendente, with its sender."""
    return db.query_one(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, enviado_por, status_envio, template_id,"  # noqa: S608
        " media_type, media_url, media_mime, billing_category, dados)"
        " VALUES (CAST(:conversa_id AS uuid), 'saida', :conteudo, CAST(:tipo AS tipo_mensagem),"
        " CAST(:admin_id AS uuid), 'pendente', CAST(:template_id AS uuid), CAST(:media_type AS media_type),"
        " :media_url, :media_mime, CAST(:billing_category AS billing_category), CAST(:dados AS jsonb))"
        f" RETURNING {MENSAGEM_COLUMNS}",
        conversa_id=conversa_id,
        conteudo=conteudo,
        tipo=tipo,
        admin_id=admin_id,
        template_id=template_id,
        media_type=media_type,
        media_url=media_url,
        media_mime=media_mime,
        billing_category=billing_category,
        dados=json.dumps(dados),
    )


def mark_sent(mensagem_id: str, whatsapp_id: str, dados: dict[str, Any]) -> dict[str, Any]:
    """WhatsApp accepted the message: it has its wamid and counts as sent.

    Only a pendente message moves to enviada: a status webhook may already have moved it
    further (statuses only move forward). A message the sweep of unconfirmed sends failed
    (fail_unconfirmed) while this request was still alive is confirmed after all.
    """
    return db.query_one(
        "UPDATE mensagens SET whatsapp_id = :whatsapp_id,"  # noqa: S608
        " status_envio = CASE WHEN status_envio = 'pendente' OR dados #>> '{erro,type}' = 'sem_confirmacao'"
        " THEN 'enviada' ELSE status_envio END,"
        " dados = CASE WHEN dados #>> '{erro,type}' = 'sem_confirmacao' THEN dados - 'erro' ELSE dados END"
        " || CAST(:dados AS jsonb)"
        f" WHERE id = CAST(:id AS uuid) RETURNING {MENSAGEM_COLUMNS}",
        id=mensagem_id,
        whatsapp_id=whatsapp_id,
        dados=json.dumps(dados),
    )


def mark_failed(mensagem_id: str, erro: dict[str, Any]) -> dict[str, Any]:
    """The send failed: falhou, with Meta's error kept in dados.erro."""
    return db.query_one(
        "UPDATE mensagens SET status_envio = 'falhou',"  # noqa: S608
        " dados = dados || jsonb_build_object('erro', CAST(:erro AS jsonb))"
        f" WHERE id = CAST(:id AS uuid) RETURNING {MENSAGEM_COLUMNS}",
        id=mensagem_id,
        erro=json.dumps(erro),
    )


# A send whose request died between storing the message and WhatsApp's answer (the Lambda
# was killed) leaves it pendente without a wamid, and its Idempotency-Key in progress. One
# statement fails those rows and completes their keys with the stored answer, so a retry
# with the key replays the failure instead of sending again (WhatsApp may have the message).
# SKIP LOCKED: a row a send still holds is left for the next run.
_FAIL_UNCONFIRMED_SQL = f"""
WITH presas AS (
    SELECT id FROM mensagens
    WHERE direcao = 'saida' AND status_envio = 'pendente' AND whatsapp_id IS NULL
      AND created_at < now() - CAST(:idade AS interval)
    ORDER BY created_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
),
falhas AS (
    UPDATE mensagens m SET status_envio = 'falhou',
           dados = m.dados || jsonb_build_object('erro', CAST(:erro AS jsonb))
    FROM presas p WHERE m.id = p.id
    RETURNING {", ".join("m." + c.strip() for c in MENSAGEM_COLUMNS.split(","))}
),
chaves AS (
    UPDATE envio_idempotencia k SET
        status_code = :status_code,
        resposta = CAST(:resposta AS jsonb) || jsonb_build_object('mensagem_id', f.id),
        resposta_headers = '{{}}'::jsonb,
        completed_at = now()
    FROM falhas f
    WHERE k.mensagem_id = f.id AND k.completed_at IS NULL
    RETURNING k.mensagem_id
)
SELECT f.*, (SELECT count(*) FROM chaves) AS chaves_concluidas FROM falhas f ORDER BY f.created_at
"""  # noqa: S608 - column names only


# A send WhatsApp accepted whose recording then failed (the database went away between the
# answer and mark_sent) left the message pendente without its wamid; the failure answer was
# stored with its Idempotency-Key and carries the wamid. One statement gives the message its
# wamid back (enviada), before the sweep below would fail it as uncertain. A wamid already on
# another row (a status webhook cannot create one, but be safe) is left alone.
_RECOVER_SENT_SQL = """
WITH achadas AS (
    SELECT m.id, k.resposta ->> 'whatsapp_id' AS whatsapp_id
    FROM mensagens m JOIN envio_idempotencia k ON k.mensagem_id = m.id
    WHERE m.direcao = 'saida' AND m.status_envio = 'pendente' AND m.whatsapp_id IS NULL
      AND jsonb_typeof(k.resposta -> 'whatsapp_id') = 'string'
      AND NOT EXISTS (SELECT 1 FROM mensagens o WHERE o.whatsapp_id = k.resposta ->> 'whatsapp_id')
    ORDER BY m.created_at
    LIMIT :limit
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE mensagens m SET whatsapp_id = a.whatsapp_id, status_envio = 'enviada'
FROM achadas a WHERE m.id = a.id
RETURNING m.id, m.whatsapp_id
"""


def recover_sent(limit: int) -> list[dict[str, Any]]:
    """Pendente messages whose idempotency record holds the wamid WhatsApp returned: enviada
    with that wamid. Returns {id, whatsapp_id} of each."""
    return db.query(_RECOVER_SENT_SQL, limit=limit)


def fail_unconfirmed(
    *, older_than: str, erro: dict[str, Any], status_code: int, resposta: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Outbound messages pendente without a wamid for longer than `older_than` (an interval)
    become falhou with `erro`; their idempotency keys are completed with `resposta`. Returns
    the failed rows (MENSAGEM_COLUMNS, plus chaves_concluidas: keys completed in all)."""
    return db.query(
        _FAIL_UNCONFIRMED_SQL,
        idade=older_than,
        erro=json.dumps(erro),
        status_code=status_code,
        resposta=json.dumps(resposta),
        limit=limit,
    )


def close_window_now(conversa_id: str) -> None:
    """WhatsApp said the window is closed (131047): it is the authority, our clock follows."""
    db.execute(
        "UPDATE conversas SET window_expires_at = now()"
        " WHERE id = CAST(:id AS uuid) AND (window_expires_at IS NULL OR window_expires_at > now())",
        id=conversa_id,
    )


def get_mensagem(mensagem_id: str) -> dict[str, Any] | None:
    return db.query_one(
        f"SELECT {MENSAGEM_COLUMNS} FROM mensagens WHERE id = CAST(:id AS uuid)",  # noqa: S608
        id=mensagem_id,
    )


def lock_whatsapp_id(whatsapp_id: str) -> None:
    """Serialise with a status webhook for the same wamid: the very lock the webhook takes
    (mensagens.lock_whatsapp_ids), until this transaction ends."""
    mensagens.lock_whatsapp_ids([whatsapp_id])


# Idempotency keys -------------------------------------------------------------------------
def claim_key(admin_id: str, chave: str, request_hash: str, conversa_id: str) -> bool:
    """True if this request owns the key now (first use, or the old use expired).

    Runs outside any transaction (autocommit) so a concurrent duplicate sees the claim at
    once; a concurrent INSERT of the same key waits for this one and then finds it taken.
    """
    row = db.query_one(
        "INSERT INTO envio_idempotencia (admin_id, chave, request_hash, conversa_id)"  # noqa: S608
        " VALUES (CAST(:admin_id AS uuid), :chave, :request_hash, CAST(:conversa_id AS uuid))"
        " ON CONFLICT (admin_id, chave) DO UPDATE SET"
        " request_hash = EXCLUDED.request_hash, conversa_id = EXCLUDED.conversa_id, mensagem_id = NULL,"
        " status_code = NULL, resposta = NULL, resposta_headers = '{}'::jsonb, created_at = now(),"
        " completed_at = NULL"
        f" WHERE envio_idempotencia.created_at < now() - interval '{IDEMPOTENCY_TTL}'"
        " RETURNING true AS claimed",
        admin_id=admin_id,
        chave=chave,
        request_hash=request_hash,
        conversa_id=conversa_id,
    )
    return row is not None


def get_key(admin_id: str, chave: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT admin_id, chave, request_hash, conversa_id, mensagem_id, status_code, resposta, resposta_headers,"
        " created_at, completed_at"
        " FROM envio_idempotencia WHERE admin_id = CAST(:admin_id AS uuid) AND chave = :chave",
        admin_id=admin_id,
        chave=chave,
    )


def attach_key_mensagem(admin_id: str, chave: str, mensagem_id: str) -> None:
    db.execute(
        "UPDATE envio_idempotencia SET mensagem_id = CAST(:mensagem_id AS uuid)"
        " WHERE admin_id = CAST(:admin_id AS uuid) AND chave = :chave",
        admin_id=admin_id,
        chave=chave,
        mensagem_id=mensagem_id,
    )


def complete_key(admin_id: str, chave: str, status_code: int, resposta: Any, headers: dict[str, str]) -> None:
    db.execute(
        "UPDATE envio_idempotencia SET status_code = :status_code, resposta = CAST(:resposta AS jsonb),"
        " resposta_headers = CAST(:headers AS jsonb), completed_at = now()"
        " WHERE admin_id = CAST(:admin_id AS uuid) AND chave = :chave",
        admin_id=admin_id,
        chave=chave,
        status_code=status_code,
        resposta=json.dumps(resposta),
        headers=json.dumps(headers),
    )


def release_key(admin_id: str, chave: str) -> None:
    """Nothing reached WhatsApp: forget the key so a retry is evaluated afresh."""
    db.execute(
        "DELETE FROM envio_idempotencia WHERE admin_id = CAST(:admin_id AS uuid) AND chave = :chave"
        " AND completed_at IS NULL",
        admin_id=admin_id,
        chave=chave,
    )


def purge_expired_keys() -> int:
    return db.execute(
        f"DELETE FROM envio_idempotencia WHERE created_at < now() - interval '{IDEMPOTENCY_TTL}'"  # noqa: S608
    )
