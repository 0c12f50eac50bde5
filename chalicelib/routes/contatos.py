"""Contacts, their timeline and their lead record."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api_models import (
    Contato,
    ContatoDetalhe,
    ContatoPatch,
    ContatosPage,
    ContatosQuery,
    EventosPage,
    Interessado,
    InteressadoIn,
    PageQuery,
)
from chalicelib.http import parse_body, parse_query
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer, current_admin_id
from chalicelib.routes.params import path_uuid
from chalicelib.services import contacts

bp = Blueprint(__name__)
TAGS = ["contatos"]


def _id(contato_id: str) -> str:
    return path_uuid(contato_id, "Contato")


@bp.route("/contatos", methods=["GET"], authorizer=authorizer)
@doc(summary="Contatos (busca por nome ou telefone)", query=ContatosQuery, response=ContatosPage, tags=TAGS)
def list_contatos():
    return contacts.list_contatos(parse_query(ContatosQuery))


@bp.route("/contatos/{contato_id}", methods=["GET"], authorizer=authorizer)
@doc(summary="Um contato, com seu interessado", response=ContatoDetalhe, tags=TAGS)
def get_contato(contato_id):
    return contacts.get_contato(_id(contato_id))


@bp.route("/contatos/{contato_id}", methods=["PATCH"], authorizer=authorizer)
@doc(summary="Editar contato (nome, tipo, estado_jornada, origem...)", body=ContatoPatch, response=Contato, tags=TAGS)
def patch_contato(contato_id):
    contato_id = _id(contato_id)
    return contacts.update_contato(contato_id, current_admin_id(), parse_body(ContatoPatch))


@bp.route("/contatos/{contato_id}/eventos", methods=["GET"], authorizer=authorizer)
@doc(summary="Linha do tempo do contato", query=PageQuery, response=EventosPage, tags=TAGS)
def list_eventos(contato_id):
    return contacts.list_eventos(_id(contato_id), parse_query(PageQuery))


@bp.route("/contatos/{contato_id}/interessado", methods=["GET"], authorizer=authorizer)
@doc(summary="Qualificação do interessado", response=Interessado, tags=TAGS)
def get_interessado(contato_id):
    return contacts.get_interessado(_id(contato_id))


@bp.route("/contatos/{contato_id}/interessado", methods=["PUT"], authorizer=authorizer)
@doc(summary="Registrar ou substituir a qualificação", body=InteressadoIn, response=Interessado, tags=TAGS)
def put_interessado(contato_id):
    contato_id = _id(contato_id)
    row, criado = contacts.put_interessado(contato_id, current_admin_id(), parse_body(InteressadoIn))
    return Response(body=row, status_code=201 if criado else 200)
