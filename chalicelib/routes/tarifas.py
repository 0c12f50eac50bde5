"""The rate card of the cost report: R$ per billed message, per category, versioned by date."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.http import parse_body
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer, current_admin_id, current_admin_role
from chalicelib.services import auth, custos

bp = Blueprint(__name__)
TAGS = ["relatorios"]


@bp.route("/tarifas", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Tabela de tarifas (R$ por mensagem cobrada), por categoria e data de vigência",
    response=custos.TarifasOut,
    tags=TAGS,
)
def list_tarifas():
    return custos.tarifas()


@bp.route("/tarifas", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Nova tarifa de uma categoria a partir de uma data (só administradores)",
    body=custos.TarifaIn,
    response=custos.Tarifa,
    status=201,
    tags=TAGS,
)
def create_tarifa():
    auth.require_admin(current_admin_role(), "Só administradores podem alterar as tarifas.")
    body = parse_body(custos.TarifaIn)
    return Response(body=custos.save_tarifa(body, current_admin_id()), status_code=201)
