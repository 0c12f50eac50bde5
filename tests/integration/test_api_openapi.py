"""GET /openapi.json describes exactly the app's routes, with the pydantic schemas."""

from __future__ import annotations

import json
import re

import pytest
from chalice.test import Client

from app import app
from tests.integration.api_support import auth, make_admin

METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


@pytest.fixture
def spec(db_clean):
    with Client(app) as c:
        r = c.http.get("/openapi.json")  # public: clients and tools fetch it without a token
        assert r.status_code == 200
        return json.loads(r.body)


def test_every_route_is_documented_and_every_documented_route_exists(spec):
    assert spec["openapi"].startswith("3.1")
    documented = {(path, m.upper()) for path, item in spec["paths"].items() for m in item if m in METHODS}
    # Every path answers the CORS preflight; that OPTIONS is not an operation of the API.
    actual = {(path, m) for path, methods in app.routes.items() for m in methods if m != "OPTIONS"}
    assert documented == actual
    assert spec["paths"]["/openapi.json"]["get"]["security"] == []
    assert spec["servers"][0]["url"].startswith("http")


def test_headers_errors_and_enums_are_declared(spec):
    schemas = spec["components"]["schemas"]
    send = spec["paths"]["/conversas/{conversa_id}/mensagens"]["post"]
    [key] = [p for p in send["parameters"] if p["in"] == "header"]
    assert key["name"] == "Idempotency-Key" and key["required"] is False
    assert {"401", "404", "409", "422", "429", "502", "504"} <= set(send["responses"])
    for status in ("401", "409", "422"):
        assert send["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert {"WindowClosed", "AssignedToOther", "ValidationError", "Unauthorized"} <= set(
        schemas["Error"]["properties"]["Code"]["enum"]
    )
    assert "401" not in spec["paths"]["/health"]["get"]["responses"]
    mensagem = schemas["Mensagem"]["properties"]
    assert "reproduzida" in json.dumps(mensagem["status_envio"]) and "template" in json.dumps(mensagem["tipo"])
    assert set(schemas["ConversaItem"]["properties"]["status"]["enum"]) == {"ativa", "encerrada"}


def test_the_live_events_are_in_the_document(spec):
    from chalicelib.services.live_events import EVENT_MODELS

    schemas = spec["components"]["schemas"]
    union = schemas["LiveEvent"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in union["oneOf"]} == {m.__name__ for m in EVENT_MODELS.values()}
    assert union["discriminator"]["propertyName"] == "type"
    assert schemas["ConversationUpdatedEvent"]["properties"]["data"]["$ref"].endswith("/ConversationData")
    assert schemas["ConversationData"]["properties"]["conversa"]["$ref"].endswith("/ConversaItem")


def test_every_ref_resolves_and_models_are_in_components(spec):
    text = json.dumps(spec)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert refs <= set(spec["components"]["schemas"])
    assert {"LoginIn", "InteressadoIn", "ContatoPatch", "AtribuirIn", "TransferirIn"} <= refs
    login = spec["paths"]["/auth/login"]["post"]
    assert login["security"] == []
    assert spec["components"]["schemas"]["LoginIn"]["required"] == ["email", "senha"]
    inbox = spec["paths"]["/conversas"]["get"]
    assert inbox["security"] == [{"bearerAuth": []}]
    assert {"status", "atendente", "janela", "busca", "cursor", "limit"} <= {p["name"] for p in inbox["parameters"]}
    idade = spec["components"]["schemas"]["InteressadoIn"]["properties"]["idade"]
    assert idade["minimum"] == 3 and idade["maximum"] == 120


def test_path_parameters_are_declared(spec):
    for path, item in spec["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_real_answers_match_the_documented_response_models(db_clean):
    from tests.integration.api_support import dumps, make_contato, make_conversa, make_mensagem

    admin = make_admin("Ana")
    contato = make_contato()
    conversa = make_conversa(contato)
    make_mensagem(conversa, "oi")
    db_template = (
        "INSERT INTO templates (name, category, status, language, body)"
        " VALUES ('boas_vindas', 'utility', 'approved', 'pt_BR', 'Olá')"
    )
    from chalicelib import db

    db.execute(db_template)
    cid, kid = conversa["id"], contato["id"]
    lead = {"nome": "João", "idade": 9, "instrumento_desejado": "Piano", "disponibilidade_horario": True}
    calls = [
        ("GET", "/conversas", "/conversas?atendente=nenhum", None),
        ("GET", "/conversas/{conversa_id}", f"/conversas/{cid}", None),
        ("GET", "/conversas/{conversa_id}/mensagens", f"/conversas/{cid}/mensagens", None),
        ("POST", "/conversas/{conversa_id}/lida", f"/conversas/{cid}/lida", None),
        ("POST", "/conversas/{conversa_id}/atribuir", f"/conversas/{cid}/atribuir", "{}"),
        ("POST", "/conversas/{conversa_id}/liberar", f"/conversas/{cid}/liberar", None),
        ("POST", "/conversas/{conversa_id}/encerrar", f"/conversas/{cid}/encerrar", None),
        ("POST", "/conversas/{conversa_id}/reabrir", f"/conversas/{cid}/reabrir", None),
        ("PUT", "/contatos/{contato_id}/interessado", f"/contatos/{kid}/interessado", dumps(lead)),
        ("GET", "/contatos/{contato_id}/interessado", f"/contatos/{kid}/interessado", None),
        ("PATCH", "/contatos/{contato_id}", f"/contatos/{kid}", dumps({"estado_jornada": "qualificado"})),
        ("GET", "/contatos/{contato_id}", f"/contatos/{kid}", None),
        ("GET", "/contatos", "/contatos", None),
        ("GET", "/contatos/{contato_id}/eventos", f"/contatos/{kid}/eventos", None),
        ("GET", "/templates", "/templates", None),
        ("GET", "/administradores", "/administradores", None),
        ("GET", "/me", "/me", None),
    ]
    checked = 0
    with Client(app) as c:
        for method, template, path, raw in calls:
            r = c.http.request(method, path, headers=auth(admin), body=(raw or "").encode())
            assert r.status_code in (200, 201), (method, path, r.body)
            model = app.routes[template][method].view_function.__openapi__["response"]
            assert model is not None, (method, template)
            model.model_validate(json.loads(r.body))
            checked += 1
    assert checked == len(calls)


def test_the_document_is_valid_openapi_3_1(spec):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV31SpecValidator(spec).iter_errors()
    ]
    assert errors == []
    # The sending routes carry their request models too (a discriminated union by `tipo`).
    send = spec["paths"]["/conversas/{conversa_id}/mensagens"]["post"]
    assert send["security"] == [{"bearerAuth": []}] and "201" in send["responses"]
    body_ref = send["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"EnviarTexto", "EnviarMedia", "EnviarTemplate"} <= set(spec["components"]["schemas"]), body_ref
