"""SQL of the cost report: outbound messages by billing category and period."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalicelib import db

# One statement over the range (idx_mensagens_saida_created of 0008): each outbound message
# is classified once by the `pricing` objects its status webhooks left in
# dados.statuses[<word>] (Meta's authority on what was billed): `billable` when Meta says so,
# otherwise `type` regular = charged, free_* = free; no pricing at all = unknown (failed
# sends, or statuses not received yet). A billed message costs the rate (0014's `tarifas`) of
# its category in force on its São Paulo day; none in force = billed without a rate. GROUPING
# SETS give the per-period rows, the totals per category and the grand total in the same scan.
_REPORT_SQL = """
WITH saida AS (
    SELECT date_trunc(:unidade, m.created_at AT TIME ZONE :fuso)::date AS periodo,
           m.billing_category::text AS billing_category,
           m.status_envio,
           -- No pricing yet: a message sent inside an ad's 72 h free entry point is free.
           coalesce(p.cobrada, CASE WHEN m.dados ? 'free_entry_point' THEN false END) AS cobrada,
           t.valor_brl
      FROM mensagens m
      LEFT JOIN LATERAL (
          SELECT bool_or(CASE
                     WHEN jsonb_typeof(s.value -> 'pricing' -> 'billable') = 'boolean'
                         THEN (s.value -> 'pricing' ->> 'billable')::boolean
                     WHEN s.value -> 'pricing' ->> 'type' = 'regular' THEN true
                     WHEN s.value -> 'pricing' ->> 'type' LIKE 'free%' THEN false
                 END) AS cobrada
            FROM jsonb_each(CASE WHEN jsonb_typeof(m.dados -> 'statuses') = 'object'
                                 THEN m.dados -> 'statuses' ELSE '{}'::jsonb END) AS s
           WHERE jsonb_typeof(s.value -> 'pricing') = 'object'
      ) p ON true
      LEFT JOIN LATERAL (
          SELECT tf.valor_brl FROM tarifas tf
           WHERE tf.categoria = m.billing_category
             AND tf.vigente_desde <= (m.created_at AT TIME ZONE :fuso)::date
           ORDER BY tf.vigente_desde DESC LIMIT 1
      ) t ON true
     WHERE m.direcao = 'saida'
       -- Echoes of what our staff sent from the WhatsApp Business app (0010) are not Cloud
       -- API sends: Meta does not bill them to us here.
       AND m.dados ->> 'origem' IS DISTINCT FROM 'whatsapp_business_app'
       AND m.created_at >= (CAST(:de AS date)::timestamp AT TIME ZONE :fuso)
       AND m.created_at < ((CAST(:ate AS date) + 1)::timestamp AT TIME ZONE :fuso)
)
SELECT periodo, billing_category,
       GROUPING(periodo) AS sem_periodo, GROUPING(billing_category) AS sem_categoria,
       count(*) AS mensagens,
       count(*) FILTER (WHERE cobrada) AS cobradas,
       count(*) FILTER (WHERE NOT cobrada) AS gratuitas,
       count(*) FILTER (WHERE cobrada IS NULL) AS sem_informacao,
       count(*) FILTER (WHERE status_envio = 'falhou') AS falhas,
       count(*) FILTER (WHERE cobrada AND valor_brl IS NULL) AS cobradas_sem_tarifa,
       coalesce(sum(valor_brl) FILTER (WHERE cobrada), 0) AS valor_estimado_brl
  FROM saida
 GROUP BY GROUPING SETS ((periodo, billing_category), (billing_category), ())
 ORDER BY GROUPING(periodo), periodo, billing_category NULLS LAST
"""


def report(de: date, ate: date, unidade: str, fuso: str) -> list[dict[str, Any]]:
    """unidade: 'day' or 'month' (date_trunc's words); fuso: the IANA zone days are counted in."""
    return db.query(_REPORT_SQL, de=de.isoformat(), ate=ate.isoformat(), unidade=unidade, fuso=fuso)


_TARIFAS_COLS = "id, categoria::text AS categoria, vigente_desde, valor_brl, observacao, criado_por, created_at"


def list_tarifas() -> list[dict[str, Any]]:
    """Every rate, by category and then newest first."""
    return db.query(f"SELECT {_TARIFAS_COLS} FROM tarifas ORDER BY categoria, vigente_desde DESC")  # noqa: S608


def upsert_tarifa(
    categoria: str, vigente_desde: date, valor_brl: Any, observacao: str | None, criado_por: str
) -> dict[str, Any]:
    """A category's rate from a day on; the same category and day again replaces the value."""
    return db.query_one(
        "INSERT INTO tarifas (categoria, vigente_desde, valor_brl, observacao, criado_por)"  # noqa: S608
        " VALUES (CAST(:categoria AS billing_category), :vigente_desde, CAST(:valor AS numeric), :observacao,"
        " CAST(:criado_por AS uuid))"
        " ON CONFLICT (categoria, vigente_desde) DO UPDATE SET valor_brl = EXCLUDED.valor_brl,"
        " observacao = EXCLUDED.observacao, criado_por = EXCLUDED.criado_por, created_at = now()"
        f" RETURNING {_TARIFAS_COLS}",
        categoria=categoria,
        vigente_desde=vigente_desde.isoformat(),
        valor=str(valor_brl),
        observacao=observacao,
        criado_por=criado_por,
    )
