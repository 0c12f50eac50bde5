"""LGPD requests of a contact: export of everything stored, and anonymisation."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api_models import Query
from chalicelib.http import parse_body, parse_query
from chalicelib.openapi import doc
from chalicelib.routes.authorizer import authorizer, current_admin_id
from chalicelib.routes.params import path_uuid
from chalicelib.services import lgpd

bp = Blueprint(__name__)
TAGS = ["lgpd"]


class ExportQuery(Query):
    cursor: str | None = Field(None, max_length=500, description="next_cursor da página anterior")


@bp.route("/contatos/{contato_id}/export", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Exportar todos os dados do contato (LGPD art. 18: acesso e portabilidade), em páginas de até 4 MB",
    query=ExportQuery,
    response=lgpd.ExportOut,
    tags=TAGS,
)
def export_contato(contato_id):
    query = parse_query(ExportQuery)
    return lgpd.export(path_uuid(contato_id, "Contato"), current_admin_id(), query.cursor)


@bp.route("/contatos/{contato_id}/anonimizar", methods=["POST"], authorizer=authorizer)
@doc(
    summary="Anonimizar o contato a pedido do titular (irreversível)",
    body=lgpd.AnonimizarIn,
    response=lgpd.AnonimizarOut,
    tags=TAGS,
)
def anonymize_contato(contato_id):
    contato_id = path_uuid(contato_id, "Contato")
    return lgpd.anonymize(contato_id, current_admin_id(), parse_body(lgpd.AnonimizarIn))
