"""Message templates the attendants may send."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import pagination
from chalicelib.api_models import TemplatesPage, TemplatesQuery
from chalicelib.http import parse_query
from chalicelib.openapi import doc
from chalicelib.repositories import templates
from chalicelib.routes.authorizer import authorizer

bp = Blueprint(__name__)


@bp.route("/templates", methods=["GET"], authorizer=authorizer)
@doc(
    summary="Templates (aprovados, salvo status=...)", query=TemplatesQuery, response=TemplatesPage, tags=["templates"]
)
def list_templates():
    q = parse_query(TemplatesQuery)
    rows = templates.list_page(
        limit=q.limit + 1,
        status=None if q.status == "todos" else q.status,
        category=q.category,
        language=q.language,
        after=pagination.decode_text_id(q.cursor),
    )
    return pagination.page(rows, q.limit, lambda r: (r["name"], r["id"]))
