"""Reports for the school's management: what WhatsApp messaging costs, and how attendance goes."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import parse_query
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer
from chalicelib.services import atendimento, custos

bp = Blueprint(__name__)
TAGS = ["relatorios"]


@bp.route("/relatorios/custos", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Mensagens enviadas por categoria de cobrança e período (cobradas, gratuitas)",
    query=custos.CustosQuery,
    response=custos.CustosOut,
    tags=TAGS,
)
def relatorio_custos():
    return custos.relatorio(parse_query(custos.CustosQuery))


@bp.route("/relatorios/atendimento", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Tempo de primeira resposta, resolução e volume, por atendente e no total",
    query=atendimento.MetricasQuery,
    response=atendimento.MetricasOut,
    tags=TAGS,
)
def relatorio_atendimento():
    return atendimento.relatorio(parse_query(atendimento.MetricasQuery))
