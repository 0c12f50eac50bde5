"""Attendance depth (issue 13): quick replies, internal notes, typing, settings, metrics."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.http import parse_body, parse_query
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer, current_admin_id, current_admin_role
from chalicelib.routes.params import path_uuid
from chalicelib.services import atendimento as svc
from chalicelib.services import auth

bp = Blueprint(__name__)
TAGS = ["atendimento"]


def _conversa(conversa_id: str) -> str:
    return path_uuid(conversa_id, "Conversa")


def _resposta(resposta_id: str) -> str:
    return path_uuid(resposta_id, "Resposta rápida")


@bp.route("/respostas-rapidas", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Respostas rápidas (com conversa_id: placeholders preenchidos com o contato)",
    query=svc.RespostasQuery,
    response=svc.RespostasRapidasOut,
    tags=TAGS,
)
def list_respostas_rapidas():
    return svc.list_respostas(parse_query(svc.RespostasQuery))


@bp.route("/respostas-rapidas", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Criar resposta rápida",
    body=svc.RespostaRapidaIn,
    response=svc.RespostaRapida,
    status=201,
    tags=TAGS,
    errors=(409,),
)
def create_resposta_rapida():
    body = parse_body(svc.RespostaRapidaIn)
    return Response(body=svc.create_resposta(current_admin_id(), body), status_code=201)


@bp.route("/respostas-rapidas/{resposta_id}", methods=["PATCH"], authorizer=authorizer)
@doc(
    summary="Alterar resposta rápida",
    body=svc.RespostaRapidaPatch,
    response=svc.RespostaRapida,
    tags=TAGS,
    errors=(409,),
)
def update_resposta_rapida(resposta_id):
    return svc.update_resposta(_resposta(resposta_id), parse_body(svc.RespostaRapidaPatch))


@bp.route("/respostas-rapidas/{resposta_id}", methods=["DELETE"], authorizer=authorizer)
@doc(summary="Apagar resposta rápida", status=204, tags=TAGS)
def delete_resposta_rapida(resposta_id):
    svc.delete_resposta(_resposta(resposta_id))
    return Response(body="", status_code=204)


@bp.route("/conversas/{conversa_id}/notas", methods=["GET"], authorizer=authorizer)
@doc(summary="Notas internas da conversa (nunca enviadas ao contato)", response=svc.NotasOut, tags=TAGS)
def list_notas(conversa_id):
    return svc.list_notas(_conversa(conversa_id))


@bp.route("/conversas/{conversa_id}/notas", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Escrever nota interna (@nome avisa o atendente)",
    body=svc.NotaIn,
    response=svc.Nota,
    status=201,
    tags=TAGS,
)
def create_nota(conversa_id):
    body = parse_body(svc.NotaIn)
    return Response(body=svc.create_nota(_conversa(conversa_id), current_admin_id(), body), status_code=201)


@bp.route("/conversas/{conversa_id}/digitando", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Mostrar 'digitando…' ao contato (no máximo um pedido a cada 10 s)",
    response=svc.DigitandoOut,
    tags=TAGS,
)
def typing(conversa_id):
    return svc.typing(_conversa(conversa_id))


@bp.route("/configuracoes/atendimento", methods=["GET"], authorizer=authorizer)
@doc(summary="Configurações de atendimento", response=svc.ConfiguracoesOut, tags=TAGS)
def get_configuracoes():
    return svc.get_configuracoes()


@bp.route("/configuracoes/atendimento", methods=["PUT"], authorizer=authorizer)
@doc(
    summary="Alterar distribuição automática, capacidade, horário e mensagem de ausência",
    body=svc.ConfiguracoesIn,
    response=svc.ConfiguracoesOut,
    tags=TAGS,
)
def put_configuracoes():
    auth.require_admin(current_admin_role(), "Só administradores podem alterar as configurações de atendimento.")
    return svc.put_configuracoes(current_admin_id(), parse_body(svc.ConfiguracoesIn))
