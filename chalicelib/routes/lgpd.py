"""LGPD requests of a contact: export of everything stored, and anonymisation."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import parse_body
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer, current_admin_id
from chalicelib.routes.params import path_uuid
from chalicelib.services import lgpd

bp = Blueprint(__name__)
TAGS = ["lgpd"]


@bp.route("/contatos/{contato_id}/export", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Exportar todos os dados do contato (LGPD art. 18: acesso e portabilidade)",
    response=lgpd.ExportOut,
    tags=TAGS,
)
def exportar_contato(contato_id):
    return lgpd.exportar(path_uuid(contato_id, "Contato"), current_admin_id())


@bp.route("/contatos/{contato_id}/anonimizar", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Anonimizar o contato a pedido do titular (irreversível)",
    body=lgpd.AnonimizarIn,
    response=lgpd.AnonimizarOut,
    tags=TAGS,
)
def anonimizar_contato(contato_id):
    contato_id = path_uuid(contato_id, "Contato")
    return lgpd.anonimizar(contato_id, current_admin_id(), parse_body(lgpd.AnonimizarIn))
