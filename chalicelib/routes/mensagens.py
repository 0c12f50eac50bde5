"""Sending: POST /conversas/{id}/mensagens and the presigned uploads it needs for media."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.http import parse_body
from chalicelib.openapi import IDEMPOTENCY_KEY, doc
from chalicelib.routes.authorizer import authorizer, current_admin_id
from chalicelib.services import media_uploads, sending

bp = Blueprint(__name__)
TAGS = ["mensagens"]


@bp.route("/conversas/{conversa_id}/mensagens", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Enviar texto, mídia ou template",
    body=sending.EnviarMensagemIn,
    response=sending.EnviarMensagemOut,
    status=201,
    tags=TAGS,
    errors=(409, 429, 502, 504),
    headers=(IDEMPOTENCY_KEY,),
)
def send_mensagem(conversa_id):
    pedido = parse_body(sending.EnviarMensagemIn).root
    chave = (bp.current_request.headers or {}).get("idempotency-key")
    result = sending.send(conversa_id, current_admin_id(), pedido, chave)
    return Response(body=result.body, status_code=result.status, headers=result.headers)


@bp.route("/media/uploads", methods=["POST"], authorizer=authorizer)
@doc(
    summary="URL de upload (PUT pré-assinado no S3) para uma mídia a enviar",
    body=media_uploads.MediaUploadIn,
    response=media_uploads.MediaUploadOut,
    status=201,
    tags=TAGS,
)
def create_upload():
    pedido = parse_body(media_uploads.MediaUploadIn)
    return Response(body=media_uploads.create_upload(current_admin_id(), pedido), status_code=201)
