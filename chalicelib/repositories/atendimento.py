"""SQL of attendance depth (0013): quick replies, notes, settings, distribution, away message,
read receipts, typing and the response-time report."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from chalicelib import db


# Quick replies -------------------------------------------------------------------------------
def contato_da_conversa(conversa_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT ct.nome, ct.nome_perfil, ct.telefone, i.nome AS nome_aluno, i.instrumento_desejado,"
        " i.instrumento_sugerido"
        " FROM conversas c JOIN contatos ct ON ct.id = c.contato_id"
        " LEFT JOIN interessados i ON i.contato_id = ct.id"
        " WHERE c.id = CAST(:id AS uuid)",
        id=conversa_id,
    )


def respostas(busca: str | None) -> list[dict[str, Any]]:
    if busca:
        padrao = "%" + busca.lstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return db.query(
            "SELECT * FROM respostas_rapidas WHERE atalho ILIKE :p OR titulo ILIKE :p ORDER BY atalho", p=padrao
        )
    return db.query("SELECT * FROM respostas_rapidas ORDER BY atalho")


def create_resposta(admin_id: str, atalho: str, titulo: str, conteudo: str) -> dict[str, Any]:
    return db.query_one(
        "INSERT INTO respostas_rapidas (atalho, titulo, conteudo, criado_por)"
        " VALUES (:atalho, :titulo, :conteudo, CAST(:admin AS uuid)) RETURNING *",
        atalho=atalho,
        titulo=titulo,
        conteudo=conteudo,
        admin=admin_id,
    )


def update_resposta(resposta_id: str, campos: dict[str, Any]) -> dict[str, Any] | None:
    return db.query_one(
        "UPDATE respostas_rapidas SET atalho = coalesce(:atalho, atalho), titulo = coalesce(:titulo, titulo),"
        " conteudo = coalesce(:conteudo, conteudo), updated_at = now()"
        " WHERE id = CAST(:id AS uuid) RETURNING *",
        id=resposta_id,
        atalho=campos.get("atalho"),
        titulo=campos.get("titulo"),
        conteudo=campos.get("conteudo"),
    )


def delete_resposta(resposta_id: str) -> bool:
    return db.execute("DELETE FROM respostas_rapidas WHERE id = CAST(:id AS uuid)", id=resposta_id) > 0


# Notes ------------------------------------------------------------------------------------------
def administradores() -> list[dict[str, Any]]:
    return db.query("SELECT id, nome FROM administradores")


def create_nota(conversa_id: str, autor_id: str, conteudo: str, mencoes: list[str]) -> str:
    return str(
        db.scalar(
            "INSERT INTO notas (conversa_id, autor_id, conteudo, mencoes)"
            " VALUES (CAST(:conversa AS uuid), CAST(:autor AS uuid), :conteudo,"
            " ARRAY(SELECT jsonb_array_elements_text(CAST(:mencoes AS jsonb)))::uuid[]) RETURNING id",
            conversa=conversa_id,
            autor=autor_id,
            conteudo=conteudo,
            mencoes=json.dumps(mencoes),
        )
    )


_NOTA_SELECT = """
SELECT n.id, n.conversa_id, n.autor_id, a.nome AS autor_nome, n.conteudo, n.created_at,
       coalesce((SELECT json_agg(json_build_object('id', m.id, 'nome', m.nome) ORDER BY m.nome)
                   FROM administradores m WHERE m.id = ANY(n.mencoes)), '[]'::json) AS mencoes
FROM notas n LEFT JOIN administradores a ON a.id = n.autor_id
"""


def notas_by_ids(nota_ids: list[str]) -> list[dict[str, Any]]:
    if not nota_ids:
        return []
    return db.query(
        _NOTA_SELECT + " WHERE n.id = ANY(CAST(:ids AS uuid[])) ORDER BY n.created_at",
        ids=[str(i) for i in nota_ids],
    )


def notas_da_conversa(conversa_id: str, limit: int = 500) -> list[dict[str, Any]]:
    return db.query(
        _NOTA_SELECT + " WHERE n.conversa_id = CAST(:id AS uuid) ORDER BY n.created_at, n.id LIMIT :limit",
        id=conversa_id,
        limit=limit,
    )


# Settings ---------------------------------------------------------------------------------------
def configuracoes() -> dict[str, Any] | None:
    return db.query_one("SELECT * FROM configuracoes_atendimento WHERE id")


def save_configuracoes(admin_id: str, dados: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO configuracoes_atendimento"
        " (id, distribuicao_automatica, capacidade, horarios, mensagem_ausencia, atualizado_por, updated_at)"
        " VALUES (true, :dist, :cap, CAST(:horarios AS jsonb), :msg, CAST(:admin AS uuid), now())"
        " ON CONFLICT (id) DO UPDATE SET distribuicao_automatica = EXCLUDED.distribuicao_automatica,"
        " capacidade = EXCLUDED.capacidade, horarios = EXCLUDED.horarios,"
        " mensagem_ausencia = EXCLUDED.mensagem_ausencia, atualizado_por = EXCLUDED.atualizado_por,"
        " updated_at = now()",
        dist=dados["distribuicao_automatica"],
        cap=dados["capacidade"],
        horarios=json.dumps(dados["horarios"]),
        msg=dados["mensagem_ausencia"],
        admin=admin_id,
    )


# Distribution -----------------------------------------------------------------------------------
DISTRIBUICAO_LOCK = 1_300_013  # pg_advisory_xact_lock key of the distribution (0013)


def lock_distribuicao() -> None:
    db.execute("SELECT pg_advisory_xact_lock(:k)", k=DISTRIBUICAO_LOCK)


def carga_online() -> list[dict[str, Any]]:
    """Attendants with a live connection, their active conversations and their latest assignment."""
    return db.query(
        "SELECT a.id AS admin_id, count(c.id) AS carga, max(c.atribuida_em) AS ultima"
        " FROM administradores a"
        " LEFT JOIN conversas c ON c.atendente_id = a.id AND c.status = 'ativa'"
        " WHERE EXISTS (SELECT 1 FROM ws_conexoes w WHERE w.admin_id = a.id)"
        " GROUP BY a.id"
    )


def assign_automatically(conversa_id: str, admin_id: str) -> dict[str, Any] | None:
    # clock_timestamp(): transactions serialised by the lock must see increasing times (now()
    # is the transaction's start), or the round-robin would repeat an attendant.
    return db.query_one(
        "UPDATE conversas SET atendente_id = CAST(:admin AS uuid), atribuida_em = clock_timestamp()"
        " WHERE id = CAST(:id AS uuid) AND status = 'ativa' AND atendente_id IS NULL"
        " RETURNING id, contato_id, atendente_id, atribuida_em",
        id=conversa_id,
        admin=admin_id,
    )


def aguardando() -> int:
    return int(db.scalar("SELECT count(*) FROM conversas WHERE status = 'ativa' AND atendente_id IS NULL") or 0)


# Away message -----------------------------------------------------------------------------------
def claim_ausencia(conversa_ids: list[str], novas_ids: list[str], horas: int) -> list[str]:
    """Claim the away message for conversations whose customer had not written in `horas`
    before this payload (its messages are the newest, inserted in this transaction) and that
    got none in `horas`; a redelivery inserts nothing and never gets here."""
    rows = db.query(
        "UPDATE conversas c SET ausencia_enviada_em = now()"
        " WHERE c.id = ANY(CAST(:ids AS uuid[])) AND c.status = 'ativa'"
        " AND (c.ausencia_enviada_em IS NULL OR c.ausencia_enviada_em < now() - make_interval(hours => :h))"
        " AND NOT EXISTS (SELECT 1 FROM mensagens m WHERE m.conversa_id = c.id AND m.direcao = 'entrada'"
        "   AND m.created_at > now() - make_interval(hours => :h)"
        "   AND m.id <> ALL(CAST(:novas AS uuid[])))"
        " RETURNING c.id",
        ids=[str(i) for i in conversa_ids],
        novas=[str(i) for i in novas_ids],
        h=horas,
    )
    return [str(r["id"]) for r in rows]


# Read receipts and typing -------------------------------------------------------------------------
# The newest inbound message of conversation :id that WhatsApp knows (has a wamid).
_ULTIMA_ENTRADA_SQL = (
    "SELECT id, whatsapp_id FROM mensagens WHERE conversa_id = CAST(:id AS uuid)"
    " AND direcao = 'entrada' AND whatsapp_id IS NOT NULL ORDER BY created_at DESC, seq DESC LIMIT 1"
)


def claim_recibo_lida(conversa_id: str) -> dict[str, Any] | None:
    """The newest inbound message with a wamid, if its receipt was not sent yet (claimed)."""
    return db.query_one(
        f"WITH ultima AS ({_ULTIMA_ENTRADA_SQL}),"  # noqa: S608 - a constant
        " antes AS (SELECT id, recibo_lida_mensagem_id FROM conversas WHERE id = CAST(:id AS uuid) FOR UPDATE)"
        " UPDATE conversas c SET recibo_lida_mensagem_id = u.id FROM ultima u, antes a"
        " WHERE c.id = a.id AND c.recibo_lida_mensagem_id IS DISTINCT FROM u.id"
        " RETURNING u.id AS mensagem_id, u.whatsapp_id, a.recibo_lida_mensagem_id AS anterior",
        id=conversa_id,
    )


def release_recibo_lida(conversa_id: str, mensagem_id: Any, anterior: Any) -> None:
    db.execute(
        "UPDATE conversas SET recibo_lida_mensagem_id = CAST(:anterior AS uuid)"
        " WHERE id = CAST(:id AS uuid) AND recibo_lida_mensagem_id = CAST(:mensagem AS uuid)",
        id=conversa_id,
        mensagem=str(mensagem_id),
        anterior=str(anterior) if anterior else None,
    )


def claim_digitando(conversa_id: str, intervalo: int) -> str | None:
    """The newest inbound wamid, if the window is open and no typing was asked in `intervalo` s."""
    return db.scalar(
        f"WITH ultima AS ({_ULTIMA_ENTRADA_SQL})"  # noqa: S608 - a constant
        " UPDATE conversas c SET digitando_em = now() FROM ultima u"
        " WHERE c.id = CAST(:id AS uuid) AND c.status = 'ativa' AND now() < c.window_expires_at"
        " AND (c.digitando_em IS NULL OR c.digitando_em < now() - make_interval(secs => :s))"
        " RETURNING u.whatsapp_id",
        id=conversa_id,
        s=intervalo,
    )


# Metrics ------------------------------------------------------------------------------------------
# Three measures from three sets, each aggregated per attendant with ROLLUP (the total row has
# total = 1), then joined on the attendant:
# - sent messages and conversations handled: outbound rows with a sender in the period
#   (idx_mensagens_saida_created);
# - first response: for each conversation created in the period (idx_conversa_created), the
#   first inbound message and the first human reply after it (idx_mensagem_conversa), credited
#   to whoever sent that reply;
# - resolution: conversations closed in the period (idx_conversa_closed), created -> closed,
#   credited to the assignee.
_METRICAS_SQL = """
WITH periodo AS (
    SELECT (CAST(:de AS date)::timestamp AT TIME ZONE :fuso) AS ini,
           ((CAST(:ate AS date) + 1)::timestamp AT TIME ZONE :fuso) AS fim
),
enviadas AS (
    SELECT m.enviado_por AS admin_id, m.conversa_id
      FROM mensagens m, periodo p
     WHERE m.direcao = 'saida' AND m.enviado_por IS NOT NULL
       AND m.created_at >= p.ini AND m.created_at < p.fim
       AND (CAST(:atendente AS uuid) IS NULL OR m.enviado_por = CAST(:atendente AS uuid))
),
env AS (
    SELECT admin_id, GROUPING(admin_id) AS total, count(*) AS mensagens_enviadas,
           count(DISTINCT conversa_id) AS conversas_atendidas
      FROM enviadas GROUP BY ROLLUP (admin_id)
),
primeiras AS (
    SELECT fr.admin_id, extract(epoch FROM fr.t - fi.t) AS segundos
      FROM conversas c
      CROSS JOIN periodo p
      CROSS JOIN LATERAL (SELECT min(created_at) AS t FROM mensagens
                           WHERE conversa_id = c.id AND direcao = 'entrada') fi
      CROSS JOIN LATERAL (SELECT created_at AS t, enviado_por AS admin_id FROM mensagens
                           WHERE conversa_id = c.id AND direcao = 'saida' AND enviado_por IS NOT NULL
                             AND created_at >= fi.t
                           ORDER BY created_at, seq LIMIT 1) fr
     WHERE c.created_at >= p.ini AND c.created_at < p.fim
       AND (CAST(:atendente AS uuid) IS NULL OR fr.admin_id = CAST(:atendente AS uuid))
),
pr AS (
    SELECT admin_id, GROUPING(admin_id) AS total,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY segundos) AS pr_mediana,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY segundos) AS pr_p90
      FROM primeiras GROUP BY ROLLUP (admin_id)
),
res AS (
    SELECT c.atendente_id AS admin_id, GROUPING(c.atendente_id) AS total,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.created_at)) AS res_mediana
      FROM conversas c, periodo p
     WHERE c.closed_at >= p.ini AND c.closed_at < p.fim
       AND (CAST(:atendente AS uuid) IS NULL OR c.atendente_id = CAST(:atendente AS uuid))
     GROUP BY ROLLUP (c.atendente_id)
),
chaves AS (
    SELECT admin_id, total FROM env UNION SELECT admin_id, total FROM pr
    UNION SELECT admin_id, total FROM res UNION SELECT NULL, 1
)
SELECT k.admin_id AS atendente_id, a.nome AS atendente_nome, k.total = 1 AS total,
       env.conversas_atendidas, env.mensagens_enviadas, pr.pr_mediana, pr.pr_p90, res.res_mediana
  FROM chaves k
  LEFT JOIN administradores a ON a.id = k.admin_id
  LEFT JOIN env ON env.total = k.total AND env.admin_id IS NOT DISTINCT FROM k.admin_id
  LEFT JOIN pr ON pr.total = k.total AND pr.admin_id IS NOT DISTINCT FROM k.admin_id
  LEFT JOIN res ON res.total = k.total AND res.admin_id IS NOT DISTINCT FROM k.admin_id
 WHERE k.total = 1 OR k.admin_id IS NOT NULL
 ORDER BY k.total, a.nome
"""


def metricas(de: date, ate: date, fuso: str, atendente: str | None) -> list[dict[str, Any]]:
    return db.query(_METRICAS_SQL, de=de.isoformat(), ate=ate.isoformat(), fuso=fuso, atendente=atendente)
