"""Sign-in and the signed-in admin."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api_models import Administrador, LoginIn, LoginOut, SenhaIn, SenhaOut
from chalicelib.http import ApiError, parse_body
from chalicelib.openapi import doc
from chalicelib.repositories import administradores
from chalicelib.routes.authorizer import authorizer, current_admin_id
from chalicelib.services import auth

bp = Blueprint(__name__)


@bp.route("/auth/login", methods=["POST"])
@doc(summary="Entrar: devolve um token de 12 h", body=LoginIn, response=LoginOut, tags=["auth"])
def login():
    body = parse_body(LoginIn)
    # The lockout counts per source: API Gateway's view of the caller's IP (not a header the
    # caller could set).
    identity = (bp.current_request.context or {}).get("identity") or {}
    return auth.login(body.email, body.senha, source=identity.get("sourceIp"))


@bp.route("/me", methods=["GET"], authorizer=authorizer)
@doc(summary="O administrador autenticado", response=Administrador, tags=["auth"])
def me():
    admin = administradores.get(current_admin_id())
    if admin is None:
        raise ApiError(401, "Unauthorized", "Sessão inválida: administrador não existe mais.")
    return admin


@bp.route("/me/senha", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Trocar a própria senha (encerra todas as sessões; devolve um token novo)",
    body=SenhaIn,
    response=SenhaOut,
    tags=["auth"],
)
def change_senha():
    body = parse_body(SenhaIn)
    token, expires_at = auth.change_password(current_admin_id(), body.senha_atual, body.senha_nova)
    return {"token": token, "expires_at": expires_at}
