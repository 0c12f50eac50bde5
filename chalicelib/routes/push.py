"""Web Push subscriptions of the signed-in admin's browsers."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.http import ApiError, parse_body
from chalicelib.routes.authorizer import authorizer, current_admin_id

bp = Blueprint(__name__)


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")  # browsers may add keys we do not use

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        from chalicelib.services.push import valid_p256dh

        if not valid_p256dh(value):
            raise ValueError("chave p256dh inválida (ponto P-256 em base64url)")
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        from chalicelib.services.push import valid_auth

        if not valid_auth(value):
            raise ValueError("segredo auth inválido (16 bytes em base64url)")
        return value


class SubscriptionIn(BaseModel):
    """The browser's PushSubscription.toJSON(): endpoint, keys, expirationTime."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(max_length=2000)
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        from chalicelib.services.outbound import push_endpoint_allowed

        value = value.strip()
        # Only the browsers' push services: the server POSTs to this URL on every new message.
        if not push_endpoint_allowed(value):
            raise ValueError("o endpoint precisa ser uma URL https de um serviço de push conhecido")
        return value


class UnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(min_length=1, max_length=2000)


@bp.route("/push/vapid-public-key", methods=["GET"], authorizer=authorizer)
def vapid_public_key():
    from chalicelib.services import push

    key = push.vapid_public_key()
    if not key:
        raise ApiError(503, "PushNotConfigured", "As notificações push não estão configuradas no servidor.")
    return {"public_key": key}


@bp.route("/push/subscriptions", methods=["POST"], authorizer=authorizer)
def subscribe():
    from chalicelib.services import push

    body = parse_body(SubscriptionIn)
    row = push.subscribe(current_admin_id(), body.endpoint, body.keys.p256dh, body.keys.auth)
    return Response(
        body={k: row[k] for k in ("id", "admin_id", "endpoint", "created_at")},
        status_code=201,
    )


@bp.route("/push/subscriptions", methods=["DELETE"], authorizer=authorizer)
def unsubscribe():
    from chalicelib.repositories import push_subscriptions

    body = parse_body(UnsubscribeIn)
    if not push_subscriptions.delete_for_admin(current_admin_id(), body.endpoint):
        raise ApiError(404, "NotFoundError", "Inscrição de push não encontrada.")
    return Response(body="", status_code=204)
