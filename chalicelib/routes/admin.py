"""Administrators and the API description."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import pagination
from chalicelib.api_models import Administrador, AdministradoresPage, AdministradorIn, PageQuery
from chalicelib.http import parse_body, parse_query
from chalicelib.openapi import build, doc
from chalicelib.repositories import administradores
from chalicelib.routes.authorizer import authorizer, current_admin_id, current_admin_role
from chalicelib.routes.params import path_uuid
from chalicelib.services import auth

bp = Blueprint(__name__)


@bp.route("/administradores", methods=["GET"], authorizer=authorizer)
@doc(summary="Administradores, por nome", query=PageQuery, response=AdministradoresPage, tags=["administradores"])
def list_administradores():
    q = parse_query(PageQuery)
    rows = administradores.list_page(*pagination.decode_text_id(q.cursor), q.limit + 1)
    return pagination.page(rows, q.limit, lambda r: (r["nome"], r["id"]))


@bp.route("/administradores", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Cadastrar administrador",
    body=AdministradorIn,
    response=Administrador,
    status=201,
    tags=["administradores"],
)
def create_administrador():
    auth.require_admin(current_admin_role())
    body = parse_body(AdministradorIn)
    return Response(body=auth.create_admin(body.nome, body.email, body.senha, body.papel), status_code=201)


@bp.route("/administradores/{admin_id}", methods=["DELETE"], authorizer=authorizer)
@doc(
    summary="Desativar uma conta: encerra as sessões, as notificações e os websockets dela",
    status=204,
    tags=["administradores"],
)
def deactivate_administrador(admin_id):
    auth.require_admin(current_admin_role())
    auth.deactivate_admin(path_uuid(admin_id, "Administrador"), current_admin_id())
    return Response(body="", status_code=204)


@bp.route("/openapi.json", methods=["GET"])
@doc(summary="Esta descrição da API (OpenAPI 3.1), pública: não contém segredos", tags=["meta"])
def openapi_json():
    request = bp.current_request
    domain, stage = request.context.get("domainName"), request.context.get("stage")
    # Deployed, API Gateway serves the API under its stage; `chalice local` at the root.
    server = f"https://{domain}/{stage}" if domain and "." in domain and stage else None
    return build(bp.current_app, server_url=server)
