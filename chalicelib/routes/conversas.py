"""The inbox and shared attendance."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api_models import (
    AtribuirIn,
    ConversaItem,
    ConversaOut,
    ConversasPage,
    ConversasQuery,
    MensagensPage,
    PageQuery,
    TransferirIn,
)
from chalicelib.http import parse_body, parse_query
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer, current_admin_id
from chalicelib.routes.params import path_uuid
from chalicelib.services import assignment, inbox

bp = Blueprint(__name__)
TAGS = ["conversas"]


def _id(conversa_id: str) -> str:
    return path_uuid(conversa_id, "Conversa")


@bp.route("/conversas", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Caixa de entrada: conversas, atividade mais recente primeiro",
    query=ConversasQuery,
    response=ConversasPage,
    tags=TAGS,
)
def list_conversas():
    return inbox.list_conversas(current_admin_id(), parse_query(ConversasQuery))


@bp.route("/conversas/{conversa_id}", methods=["GET"], authorizer=authorizer)
@doc(summary="Uma conversa, como na caixa de entrada", response=ConversaItem, tags=TAGS)
def get_conversa(conversa_id):
    return inbox.get_conversa(_id(conversa_id))


@bp.route("/conversas/{conversa_id}/mensagens", methods=["GET"], authorizer=authorizer)
@doc(summary="Mensagens da conversa, mais recentes primeiro", query=PageQuery, response=MensagensPage, tags=TAGS)
def list_mensagens(conversa_id):
    return inbox.list_mensagens(_id(conversa_id), parse_query(PageQuery))


@bp.route("/conversas/{conversa_id}/lida", methods=["POST"], authorizer=authorizer)
@doc(summary="Marcar como lida (zera nao_lidas)", response=ConversaOut, tags=TAGS, errors=(409,))
def mark_read(conversa_id):
    return inbox.mark_read(_id(conversa_id))


@bp.route("/conversas/{conversa_id}/atribuir", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Assumir a conversa (ou atribuí-la a atendente_id)",
    body=AtribuirIn,
    response=ConversaOut,
    tags=TAGS,
    errors=(409,),
)
def assign(conversa_id):
    body = parse_body(AtribuirIn)
    return assignment.assign(_id(conversa_id), current_admin_id(), body.atendente_id)


@bp.route("/conversas/{conversa_id}/transferir", methods=["POST"], authorizer=authorizer)
@doc(summary="Transferir (só quem atende)", body=TransferirIn, response=ConversaOut, tags=TAGS, errors=(409,))
def transfer(conversa_id):
    body = parse_body(TransferirIn)
    return assignment.transfer(_id(conversa_id), current_admin_id(), str(body.atendente_id))


@bp.route("/conversas/{conversa_id}/liberar", methods=["POST"], authorizer=authorizer)
@doc(summary="Liberar (só quem atende)", response=ConversaOut, tags=TAGS, errors=(409,))
def release(conversa_id):
    return assignment.release(_id(conversa_id), current_admin_id())


@bp.route("/conversas/{conversa_id}/encerrar", methods=["POST"], authorizer=authorizer)
@doc(summary="Encerrar", response=ConversaOut, tags=TAGS, errors=(409,))
def close(conversa_id):
    return assignment.close(_id(conversa_id), current_admin_id())


@bp.route("/conversas/{conversa_id}/reabrir", methods=["POST"], authorizer=authorizer)
@doc(summary="Reabrir", response=ConversaOut, tags=TAGS, errors=(409,))
def reopen(conversa_id):
    return assignment.reopen(_id(conversa_id), current_admin_id())
