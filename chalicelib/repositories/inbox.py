"""SQL of the inbox: conversation pages, one conversation, its messages, marking read.

A page is ONE statement: the conversation row, its contact summary, its assignee and its
last message (a LATERAL probe of idx_mensagens_conversa_recentes, by (created_at, seq))
come back together. The order is the keyset (ultima_atividade_em, id) of
idx_conversas_atividade and friends, so the next page starts exactly after the last row
seen, however many rows arrive meanwhile.
WHERE clauses are assembled from fixed fragments so that each filter combination gets its
own plan (a catch-all `:x IS NULL OR ...` would defeat the indexes under a generic plan).
"""

from __future__ import annotations

from typing import Any

from chalicelib import db
from chalicelib.repositories import contatos
from chalicelib.repositories.conversas import JANELA_ABERTA_SQL

_ITEM_SELECT = f"""
SELECT c.*,
       {JANELA_ABERTA_SQL} AS janela_aberta,
       json_build_object(
           'id', ct.id, 'nome', ct.nome, 'nome_perfil', ct.nome_perfil, 'telefone', ct.telefone,
           'tipo', ct.tipo, 'estado_jornada', ct.estado_jornada, 'opt_in_status', ct.opt_in_status,
           'anonimizado', ct.anonimizado, 'username', ct.username, 'bsuid', ct.bsuid,
           'nome_exibicao', ct.nome_exibicao
       ) AS contato,
       CASE WHEN a.id IS NULL THEN NULL ELSE json_build_object('id', a.id, 'nome', a.nome) END AS atendente,
       um.ultima_mensagem
FROM conversas c
JOIN contatos ct ON ct.id = c.contato_id
LEFT JOIN administradores a ON a.id = c.atendente_id
LEFT JOIN LATERAL (
    SELECT json_build_object(
               'id', m.id, 'direcao', m.direcao, 'tipo', m.tipo, 'conteudo', left(m.conteudo, 200),
               'media_type', m.media_type, 'status_envio', m.status_envio, 'enviado_por', m.enviado_por,
               'created_at', m.created_at
           ) AS ultima_mensagem
    FROM mensagens m
    WHERE m.conversa_id = c.id
    ORDER BY m.created_at DESC, m.seq DESC
    LIMIT 1
) um ON true
"""  # noqa: S608


def conversas_page(**filters: Any) -> list[dict[str, Any]]:
    """Up to `limit` conversations, newest activity first, strictly after the `after` key."""
    sql, params = conversas_page_statement(**filters)
    return db.query(sql, **params)


def conversas_page_statement(
    *,
    limit: int,
    status: str | None = None,
    atendente_id: str | None = None,
    sem_atendente: bool = False,
    janela: str | None = None,
    busca: str | None = None,
    after: tuple[str, str] | tuple[None, None] = (None, None),
) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of one inbox page (the bench EXPLAINs it as is)."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if status:
        where.append("c.status = CAST(:status AS status_conversa)")
        params["status"] = status
    if atendente_id:
        where.append("c.atendente_id = CAST(:atendente_id AS uuid)")
        params["atendente_id"] = atendente_id
    elif sem_atendente:
        where.append("c.atendente_id IS NULL")
    if janela == "aberta":
        where.append("c.window_expires_at > now()")
    elif janela == "fechada":
        where.append("(c.window_expires_at IS NULL OR c.window_expires_at <= now())")
    if busca:
        cond, busca_params = contatos.busca_filter(busca, alias="ct.")
        where.append(cond)
        params.update(busca_params)
    if after[0] is not None:
        where.append("(c.ultima_atividade_em, c.id) < (CAST(:after_ts AS timestamptz), CAST(:after_id AS uuid))")
        params["after_ts"], params["after_id"] = after
    sql = _ITEM_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY c.ultima_atividade_em DESC, c.id DESC LIMIT :limit"
    return sql, params


def conversa_item(conversa_id: str) -> dict[str, Any] | None:
    return db.query_one(_ITEM_SELECT + " WHERE c.id = CAST(:id AS uuid)", id=conversa_id)


def conversa_items(conversa_ids: list[str]) -> list[dict[str, Any]]:
    """Inbox items of these conversations (live events), in one statement."""
    if not conversa_ids:
        return []
    return db.query(_ITEM_SELECT + " WHERE c.id = ANY(CAST(:ids AS uuid[]))", ids=list(conversa_ids))


def conversa_ids_ativas_do_contato(contato_id: str) -> list[str]:
    rows = db.query(
        "SELECT id FROM conversas WHERE contato_id = CAST(:contato_id AS uuid) AND status = 'ativa'",
        contato_id=contato_id,
    )
    return [str(r["id"]) for r in rows]


_MENSAGEM_SELECT = (
    "SELECT m.*, a.nome AS enviado_por_nome FROM mensagens m LEFT JOIN administradores a ON a.id = m.enviado_por"
)


def mensagens_by_ids(mensagem_ids: list[str]) -> list[dict[str, Any]]:
    """Messages as the message list shows them (live events, a send's answer)."""
    if not mensagem_ids:
        return []
    return db.query(_MENSAGEM_SELECT + " WHERE m.id = ANY(CAST(:ids AS uuid[]))", ids=list(mensagem_ids))


def mensagens_page(
    conversa_id: str, *, limit: int, after: tuple[str, int] | tuple[None, None] = (None, None)
) -> list[dict[str, Any]]:
    """Messages of one conversation, newest first, keyset on (created_at, seq): seq keeps the
    insertion order of messages that share WhatsApp's whole-second timestamp (0009)."""
    params: dict[str, Any] = {"conversa_id": conversa_id, "limit": limit}
    keyset = ""
    if after[0] is not None:
        keyset = " AND (m.created_at, m.seq) < (CAST(:after_ts AS timestamptz), CAST(:after_seq AS bigint))"
        params["after_ts"], params["after_seq"] = after
    return db.query(
        _MENSAGEM_SELECT
        + " WHERE m.conversa_id = CAST(:conversa_id AS uuid)"
        + keyset
        + " ORDER BY m.created_at DESC, m.seq DESC LIMIT :limit",
        **params,
    )


def mark_read(conversa_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "UPDATE conversas SET nao_lidas = 0, lida_em = now() WHERE id = CAST(:id AS uuid) RETURNING *",
        id=conversa_id,
    )
