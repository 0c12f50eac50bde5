"""Hypothesis over the routes: whatever a signed-in client sends, the answer is never a 5xx."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import app
from tests.integration.api_support import auth, make_admin, make_contato, make_conversa, make_mensagem

# The API stream's routes. Other streams' routes talk to WhatsApp, S3 or need VAPID keys on a
# valid request, so they are fuzzed by their own streams with their fakes running; add a module
# here once its route is safe to call without them.
FUZZED_MODULES = {
    "chalicelib.routes.auth",
    "chalicelib.routes.admin",
    "chalicelib.routes.conversas",
    "chalicelib.routes.contatos",
    "chalicelib.routes.templates",
}

ROUTES = sorted(
    (path, method)
    for path, methods in app.routes.items()
    for method, entry in methods.items()
    if entry.view_function.__module__ in FUZZED_MODULES
)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=15), inner, max_size=4),
    max_leaves=8,
)
FIELD_NAMES = [
    "email", "senha", "nome", "atendente_id", "tipo", "estado_jornada", "origem", "origem_campanha", "idade",
    "instrumento_desejado", "disponibilidade_horario", "compativel", "status", "cursor", "limit",
]  # fmt: skip
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)
QUERY_KEYS = ["status", "atendente", "janela", "busca", "cursor", "limit", "category", "language"]
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS), st.text(max_size=20) | st.sampled_from(["me", "nenhum", "0", "-1", "100"])
)


@pytest.fixture(scope="module")
def world(database_url):
    from chalicelib import db

    db.close()
    tables = [
        r["tablename"]
        for r in db.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
    ]
    db.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    admin = make_admin("Fuzz")
    contato = make_contato()
    conversa = make_conversa(contato)
    make_mensagem(conversa, "oi")
    return {"admin": admin, "ids": [str(contato["id"]), str(conversa["id"]), str(admin["id"])]}


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    route=st.sampled_from(ROUTES),
    ids=st.lists(st.one_of(st.text(min_size=1, max_size=40), st.uuids().map(str)), min_size=3, max_size=3),
    use_known=st.booleans(),
    query=queries,
    raw_body=bodies,
)
def test_no_route_answers_5xx(world, route, ids, use_known, query, raw_body):
    from urllib.parse import quote, urlencode

    path, method = route
    values = iter(world["ids"] if use_known else ids)
    concrete = re.sub(r"{\w+}", lambda m: quote(next(values, str(uuid.uuid4())), safe=""), path)
    if concrete.endswith("/") or "//" in concrete:
        return  # not a route at all: API Gateway would not route it
    if query:
        concrete += "?" + urlencode(query)
    with Client(app) as client:
        r = client.http.request(
            method, concrete, headers=auth(world["admin"]), body=raw_body.encode("utf-8", "surrogatepass")
        )
    assert r.status_code < 500, (method, concrete, raw_body, r.status_code, r.body)
