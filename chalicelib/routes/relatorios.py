"""Reports for the school's management: what WhatsApp messaging costs."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import parse_query
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer
from chalicelib.services import custos

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
