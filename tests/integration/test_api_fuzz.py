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

# Every route of the attendants' API, sending and media uploads included: the world below runs
# the fake Graph server and moto S3, so a valid send really goes through (and WhatsApp's
# answers are part of what is fuzzed). Other streams' routes are fuzzed by their own tests.
FUZZED_MODULES = {
    "chalicelib.routes.auth",
    "chalicelib.routes.admin",
    "chalicelib.routes.conversas",
    "chalicelib.routes.contatos",
    "chalicelib.routes.templates",
    "chalicelib.routes.mensagens",
    "chalicelib.routes.lgpd",  # export and the anonymisation's confirmation check
    "chalicelib.routes.relatorios",
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
    # sending and uploads
    "conteudo", "upload_id", "key", "media_type", "mime_type", "filename", "caption", "voz", "name", "language",
    "parametros", "size",
]  # fmt: skip
UPLOAD_ID = "4c1f6c1e-2a55-4e1e-9a43-1b0f3e3b6b7d"
texts = st.text(min_size=1, max_size=30)
# Well-formed sends and uploads too, so the fuzz gets past validation into the window,
# template, S3 and Graph paths.
valid_sends = st.one_of(
    st.fixed_dictionaries({"tipo": st.just("texto"), "conteudo": texts}),
    st.fixed_dictionaries(
        {
            "tipo": st.just("template"),
            "name": st.sampled_from(["lembrete_aula", "nao_existe"]),
            "language": st.sampled_from(["pt_BR", "en_US"]),
            "parametros": st.lists(texts, max_size=3) | st.dictionaries(st.sampled_from(["1", "2", "x"]), texts),
        }
    ),
    st.fixed_dictionaries(
        {
            "tipo": st.just("media"),
            "upload_id": st.sampled_from([UPLOAD_ID, str(uuid.UUID(int=1))]),
            "media_type": st.sampled_from(["image", "audio", "document"]),
            "mime_type": st.sampled_from(["image/jpeg", "audio/ogg; codecs=opus", "application/pdf"]),
        },
        optional={"caption": texts, "filename": texts, "voz": st.booleans()},
    ),
    st.fixed_dictionaries(
        {
            "media_type": st.sampled_from(["image", "audio", "video", "document"]),
            "mime_type": st.sampled_from(["image/jpeg", "audio/ogg; codecs=opus", "video/mp4", "text/plain"]),
            "size": st.integers(-1, 120 * 1024 * 1024),
        },
        optional={"filename": texts, "voz": st.booleans()},
    ),
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6).map(json.dumps),
    valid_sends.map(json.dumps),
    valid_sends.map(json.dumps),  # twice: well-formed sends are what reaches S3 and the Graph API
    json_values.map(json.dumps),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)
# WhatsApp's answers that map to a 4xx (others are a deliberate 502/504: nothing to fuzz there).
graph_faults = st.sampled_from([None, None, None, 131047, 130429, 131056, 132000, 132001, 100, 131053])
QUERY_KEYS = ["status", "atendente", "janela", "busca", "cursor", "limit", "category", "language"]
QUERY_KEYS += ["de", "ate", "agrupar"]  # the cost report
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS),
    st.text(max_size=20)
    | st.sampled_from(["me", "nenhum", "0", "-1", "100", "mes", "0001-01-01", "9999-12-31"])
    | st.dates().map(str),
)


@pytest.fixture(scope="module")
def world(database_url):
    """One conversation and its contact, an approved template, an uploaded JPEG; the fake
    Graph API and moto S3 behind the app for the whole module."""
    from moto import mock_aws

    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.services.media_urls import reset_clients, s3_client
    from chalicelib.whatsapp import graph as graph_module
    from tests.integration.send_support import BUCKET, JPEG, make_template
    from tests.integration.send_support import shared_graph_server as graph_server

    fake = graph_server()
    fake.clear_faults()
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        mp.setenv("WHATSAPP_GRAPH_URL", fake.base_url)
        mp.setenv("MEDIA_BUCKET", BUCKET)
        reset_settings()
        reset_clients()
        graph_module.reset_graph_client()
        graph_module.get_graph_client().timeout = (1.0, 1.0)
        s3_client().create_bucket(Bucket=BUCKET)
        seeded = _populate(db)
        s3_client().put_object(Bucket=BUCKET, Key=f"uploads/{seeded['admin']['id']}/{UPLOAD_ID}", Body=JPEG)
        make_template()
        seeded["graph"] = fake
        yield seeded
        fake.clear_faults()
        graph_module.reset_graph_client()
        reset_clients()
    reset_settings()


def _populate(db) -> dict:
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
    # Known ids by path parameter name, so half the requests reach real rows.
    return {"admin": admin, "known": {"contato_id": str(contato["id"]), "conversa_id": str(conversa["id"])}}


def test_the_fuzz_covers_sending_and_uploads():
    assert {("/conversas/{conversa_id}/mensagens", "POST"), ("/media/uploads", "POST")} <= set(ROUTES)
    assert {module for module in FUZZED_MODULES if not any(m == module for _, _, m in _ROUTE_MODULES)} == set()


_ROUTE_MODULES = [
    (path, method, entry.view_function.__module__)
    for path, methods in app.routes.items()
    for method, entry in methods.items()
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    route=st.sampled_from(ROUTES),
    ids=st.lists(st.one_of(st.text(min_size=1, max_size=40), st.uuids().map(str)), min_size=3, max_size=3),
    use_known=st.booleans(),
    query=queries,
    raw_body=bodies,
    fault=graph_faults,
    idempotency_key=st.none() | st.text(max_size=40),
)
def test_no_route_answers_5xx(world, route, ids, use_known, query, raw_body, fault, idempotency_key):
    from urllib.parse import quote, urlencode

    from chalicelib import db

    path, method = route
    # Earlier examples may have closed, taken or expired the conversation: start each one
    # from a sendable state so the fuzz keeps reaching the Graph API.
    db.execute(
        "UPDATE conversas SET status = 'ativa', closed_at = NULL, atendente_id = NULL, atribuida_em = NULL,"
        " window_expires_at = now() + interval '10 hours' WHERE id = CAST(:id AS uuid)",
        id=world["known"]["conversa_id"],
    )
    world["graph"].clear_faults()
    if fault is not None:
        world["graph"].fail("messages", code=fault)
    headers = auth(world["admin"])
    if idempotency_key is not None and idempotency_key.isascii() and idempotency_key.isprintable():
        headers["Idempotency-Key"] = idempotency_key
    values = iter(ids)

    def fill(match: re.Match) -> str:
        value = world["known"].get(match.group(1)) if use_known else None
        return quote(value or next(values, str(uuid.uuid4())), safe="")

    concrete = re.sub(r"{(\w+)}", fill, path)
    if concrete.endswith("/") or "//" in concrete:
        return  # not a route at all: API Gateway would not route it
    if query:
        concrete += "?" + urlencode(query)
    with Client(app) as client:
        r = client.http.request(method, concrete, headers=headers, body=raw_body.encode("utf-8", "surrogatepass"))
    assert r.status_code < 500, (method, concrete, raw_body, r.status_code, r.body)
