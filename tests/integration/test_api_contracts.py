"""What a browser relies on: one error envelope on every route, CORS for the console's origin,
one shape per live event whatever triggered it, nothing published by a rolled-back change,
a send WhatsApp accepted never sent twice, and contract files that match the code."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from app import app
from chalicelib import db, errors
from chalicelib.services import live_events, sending
from tests.integration.api_support import auth, body, dumps, make_admin, make_contato, make_conversa

CONSOLE = "http://127.0.0.1:8080"  # tests/conftest.py's CONSOLE_ORIGINS
TOKEN_TEXT = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXRleHQ.c2lnbmF0dXJl"


def _routes():
    for path, methods in sorted(app.routes.items()):
        for method in sorted(methods):
            if method != "OPTIONS":
                yield path, method


def _concrete(path: str) -> str:
    return re.sub(r"{\w+}", str(uuid.uuid4()), path)


def _assert_envelope(response, status: int | None = None) -> dict:
    data = body(response)
    assert isinstance(data, dict) and set(data) >= {"Code", "Message"}, response.body
    assert data["Code"] in errors.CODES, data
    assert TOKEN_TEXT not in response.body.decode() and "Bearer" not in response.body.decode()
    if status is not None:
        assert response.status_code == status, (response.status_code, response.body)
    # Portuguese for people: none of the frameworks' English texts.
    assert not re.search(r"Unauthorized\b|Missing Authentication|Unsupported|Field required", data["Message"])
    return data


# Errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,method", list(_routes()), ids=[f"{m} {p}" for p, m in _routes()])
def test_every_route_answers_the_envelope_without_a_token_with_a_bad_one_and_to_a_wrong_method(client, path, method):
    url = _concrete(path)
    protected = app.routes[path][method].authorizer is not None
    for headers in ({}, {"Authorization": f"Bearer {TOKEN_TEXT}"}):
        r = client.http.request(method, url, headers={"Content-Type": "application/json", **headers}, body=b"{")
        if protected:
            _assert_envelope(r, 401)
        elif r.status_code >= 400:
            _assert_envelope(r)
    wrong = next(m for m in ("PUT", "DELETE", "PATCH", "GET") if m not in app.routes[path])
    r = client.http.request(wrong, url, headers={"Authorization": f"Bearer {TOKEN_TEXT}"}, body=b"")
    assert r.status_code in (401, 405), (wrong, path, r.status_code)
    _assert_envelope(r)


def test_unknown_paths_answer_404_in_the_envelope_and_never_echo_the_token(client):
    for headers in ({}, {"Authorization": f"Bearer {TOKEN_TEXT}"}, {"Authorization": TOKEN_TEXT}):
        r = client.http.get("/nao-existe/de-jeito-nenhum", headers=headers)
        data = _assert_envelope(r, 404)
        assert data == {"Code": "NotFoundError", "Message": errors.ROUTE_NOT_FOUND_MESSAGE}


def test_a_known_route_with_a_wrong_method_and_a_wrong_content_type(client):
    admin = make_admin("Ana")
    r = client.http.put("/health", body=b"")
    assert _assert_envelope(r, 405)["Code"] == "MethodNotAllowed" and "GET" in r.headers["Allow"]
    r = client.http.post("/auth/login", headers={"Content-Type": "text/plain"}, body=b"x")
    assert _assert_envelope(r, 415)["Code"] == "UnsupportedMediaType"
    r = client.http.post("/conversas", headers=auth(admin), body=b"{}")
    assert _assert_envelope(r, 405)["Code"] == "MethodNotAllowed"


def test_validation_errors_speak_portuguese_and_name_the_field(client):
    admin = make_admin("Ana")
    r = client.http.post("/auth/login", headers={"Content-Type": "application/json"}, body=dumps({"email": "a@b.co"}))
    data = _assert_envelope(r, 422)
    assert data["field"] == "senha" and data["Message"] == "Campo inválido: senha (campo obrigatório)."
    cid = make_conversa(make_contato())["id"]
    r = client.http.post(
        f"/conversas/{cid}/mensagens", headers=auth(admin), body=dumps({"tipo": "texto", "conteudo": ""})
    )
    data = _assert_envelope(r, 422)
    assert data["field"] == "texto.conteudo" and "pelo menos 1 caractere" in data["Message"]
    r = client.http.get("/conversas?status=aberta", headers=auth(admin))
    data = _assert_envelope(r, 422)
    assert data["field"] == "status" and "'ativa'" in data["Message"] and "'encerrada'" in data["Message"]
    for detail in data["errors"]:
        assert not re.search(r"[Ii]nput should|Field required|String should", detail["message"])


def test_an_unexpected_exception_is_a_500_envelope_without_internals(client, monkeypatch):
    from chalicelib.services import inbox

    def boom(*_a, **_k):
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(inbox, "list_conversas", boom)
    r = client.http.get("/conversas", headers=auth(make_admin("Ana")))
    data = _assert_envelope(r, 500)
    assert data["Code"] == "InternalError" and "SELECT" not in r.body.decode()


def test_every_error_code_raised_in_the_code_is_in_the_catalogue():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    used = set()
    for path in [root / "app.py", *(root / "chalicelib").rglob("*.py")]:
        used |= set(re.findall(r"""ApiError\(\s*\d+,\s*"([A-Za-z]+)\"""", path.read_text(encoding="utf-8")))
        used |= set(re.findall(r"""envelope\(\s*"([A-Za-z]+)\"""", path.read_text(encoding="utf-8")))
    assert used and used <= set(errors.CODES), used - set(errors.CODES)
    with pytest.raises(ValueError):
        from chalicelib.http import ApiError

        ApiError(400, "SomethingNew", "x")


# CORS ------------------------------------------------------------------------------------------
def test_the_console_origin_gets_cors_headers_and_any_other_origin_none(client):
    admin = make_admin("Ana")
    ok = client.http.get("/conversas", headers={**auth(admin), "Origin": CONSOLE})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == CONSOLE and "Origin" in ok.headers["Vary"]
    assert "Retry-After" in ok.headers["Access-Control-Expose-Headers"]
    other = client.http.get("/conversas", headers={**auth(admin), "Origin": "https://evil.example"})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    # Errors too, including the gateway's own 401: the console must read them to sign out.
    denied = client.http.get("/conversas", headers={"Origin": CONSOLE})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == CONSOLE
    missing = client.http.get("/nada", headers={"Origin": CONSOLE})
    assert missing.status_code == 404 and missing.headers["Access-Control-Allow-Origin"] == CONSOLE


@pytest.mark.parametrize("path", sorted(app.routes))
def test_every_path_answers_the_preflight_for_its_methods_without_the_database(client, path, monkeypatch):
    def no_database():
        raise AssertionError("a preflight must not touch the database")

    monkeypatch.setattr(db, "get_connection", no_database)
    methods = sorted(m for m in app.routes[path] if m != "OPTIONS")
    for method in methods:
        r = client.http.request(
            "OPTIONS",
            _concrete(path),
            headers={
                "Origin": CONSOLE,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,idempotency-key,content-type",
            },
            body=b"",
        )
        assert r.status_code == 204, (path, method, r.body)
        assert r.headers["Access-Control-Allow-Origin"] == CONSOLE
        assert method in r.headers["Access-Control-Allow-Methods"].split(",")
        allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "idempotency-key", "content-type"} <= allowed
    stranger = client.http.request(
        "OPTIONS", _concrete(path), headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert stranger.status_code == 204 and "Access-Control-Allow-Origin" not in stranger.headers


# One shape per event ------------------------------------------------------------------------------
CONVERSATION_EVENTS = {"conversation:new", "conversation:updated", "conversation:assigned", "conversation:closed"}


def _conversation_items(published) -> list[dict]:
    return [data["conversa"] for event, data in published if event in CONVERSATION_EVENTS]


def test_every_trigger_of_a_conversation_event_sends_the_inbox_item(webhook, published, graph):
    """inbound, send, lida, atribuir, transferir, liberar, encerrar, reabrir, contact edit,
    window closed by WhatsApp, anonymise: the same validated item as GET /conversas lists."""
    from chalicelib.services import lgpd
    from devstack import payloads as wa

    ana, bia = make_admin("Ana"), make_admin("Bia")
    keys_by_trigger: dict[str, set[str]] = {}

    def check(trigger: str, expect: str | None = None) -> None:
        events = [e for e, _ in published]
        items = _conversation_items(published)
        assert items, (trigger, events)
        if expect:
            assert expect in events, (trigger, events)
        for item in items:
            keys_by_trigger[trigger] = set(item)
            assert set(item) == set(keys_by_trigger.get("inbound", item))
        last = items[-1]  # events are snapshots: the last one is what the inbox shows now
        listed = body(client.http.get(f"/conversas/{last['id']}", headers=auth(ana)))
        assert set(last) == set(listed), (trigger, set(last) ^ set(listed))
        for key in ("janela_aberta", "atendente", "status", "nao_lidas", "contato", "ultima_mensagem"):
            assert last[key] == listed[key], (trigger, key, last[key], listed[key])
        published.clear()

    client = webhook.client
    webhook.deliver(wa.value([wa.text("5511987654321", "oi")], profiles={"5511987654321": "Joana"}))
    check("inbound", "conversation:new")
    cid = str(db.scalar("SELECT id FROM conversas"))
    kid = str(db.scalar("SELECT id FROM contatos"))
    webhook.deliver(wa.value([wa.text("5511987654321", "tudo bem?")]))
    check("inbound again", "conversation:updated")
    steps = [
        ("lida", "POST", f"/conversas/{cid}/lida", None, ana, "conversation:updated"),
        ("atribuir", "POST", f"/conversas/{cid}/atribuir", "{}", ana, "conversation:assigned"),
        ("send", "POST", f"/conversas/{cid}/mensagens", dumps({"tipo": "texto", "conteudo": "Olá!"}), ana, None),
        (
            "transferir",
            "POST",
            f"/conversas/{cid}/transferir",
            dumps({"atendente_id": str(bia["id"])}),
            ana,
            "conversation:assigned",
        ),
        ("liberar", "POST", f"/conversas/{cid}/liberar", None, bia, "conversation:assigned"),
        ("contact edit", "PATCH", f"/contatos/{kid}", dumps({"nome": "Joana S."}), ana, "conversation:updated"),
        ("encerrar", "POST", f"/conversas/{cid}/encerrar", None, ana, "conversation:closed"),
        ("reabrir", "POST", f"/conversas/{cid}/reabrir", None, ana, "conversation:updated"),
    ]
    for trigger, method, url, raw, who, expect in steps:
        r = client.http.request(method, url, headers=auth(who), body=(raw or "").encode())
        assert r.status_code in (200, 201), (trigger, r.body)
        check(trigger, expect)
    assert keys_by_trigger["contact edit"] and _named(client, ana, kid) == "Joana S."

    graph.fail("messages", code=131047)  # WhatsApp says the window is closed
    r = client.http.post(
        f"/conversas/{cid}/mensagens", headers=auth(ana), body=dumps({"tipo": "texto", "conteudo": "Oi?"})
    )
    assert body(r)["Code"] == "WindowClosed"
    closed = [d["conversa"] for e, d in published if e == "conversation:updated"]
    assert closed[-1]["janela_aberta"] is False
    check("window closed by WhatsApp", "conversation:updated")
    graph.clear_faults()

    lgpd.anonymize(kid, str(ana["id"]), lgpd.AnonimizarIn(confirmar=True))  # no media: no S3 involved
    check("anonymise", "conversation:closed")
    assert len({frozenset(keys) for keys in keys_by_trigger.values()}) == 1  # one shape, every trigger


def _named(client, admin, contato_id) -> str:
    return body(client.http.get(f"/contatos/{contato_id}", headers=auth(admin)))["nome"]


def test_a_rolled_back_change_publishes_nothing(db_clean, published, monkeypatch):
    from chalicelib.repositories import eventos
    from chalicelib.services import assignment

    ana = make_admin("Ana")
    cid = make_conversa(make_contato())["id"]

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(eventos, "record", broken)  # after the UPDATE and its live event were named
    with pytest.raises(RuntimeError):
        assignment.assign(cid, str(ana["id"]))
    assert published == []
    assert db.scalar("SELECT atendente_id FROM conversas WHERE id = :id", id=cid) is None


def test_events_of_one_transaction_go_in_one_publish_in_the_order_named(db_clean, published):
    cid = make_conversa(make_contato())["id"]
    with db.transaction():
        live_events.conversation_updated(cid)
        live_events.conversation_closed(cid)
        live_events.conversation_updated(cid)  # a repeat goes once
        assert published == []
    assert [[e for e, _ in call] for call in published.calls] == [["conversation:updated", "conversation:closed"]]


def test_nobody_connected_means_no_reads_to_build_events(db_clean, monkeypatch):
    from chalicelib.services import realtime

    monkeypatch.setattr(realtime, "audience", lambda: [])
    monkeypatch.setattr(live_events, "build", lambda items: pytest.fail("built events for nobody"))
    with db.transaction():
        live_events.conversation_updated(make_conversa(make_contato())["id"])


# A send WhatsApp accepted is never sent again ---------------------------------------------------
def test_a_failure_after_whatsapp_accepted_replays_and_never_sends_twice(db_clean, graph, published, monkeypatch):
    from tests.integration import send_support

    admin = send_support.make_admin()
    conversa_id = send_support.make_conversa(atendente_id=admin)
    pedido = sending.EnviarTexto(tipo="texto", conteudo="Sua aula é amanhã às 15h.")
    real = sending.answer_body
    calls = {"n": 0}

    def shaping_fails_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("presign service down")
        return real(*args, **kwargs)

    monkeypatch.setattr(sending, "answer_body", shaping_fails_once)
    with pytest.raises(RuntimeError):
        sending.send(conversa_id, admin, pedido, idempotency_key="k-aceita")
    assert len(graph.sent_messages) == 1

    again = sending.send(conversa_id, admin, pedido, idempotency_key="k-aceita")
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.body["mensagem"]["status_envio"] == "enviada" and again.body["mensagem"]["conteudo"] == pedido.conteudo
    assert len(graph.sent_messages) == 1  # never a second send
    assert db.scalar("SELECT count(*) FROM mensagens WHERE direcao = 'saida'") == 1


def test_an_unreadable_graph_answer_keeps_the_key_as_uncertain(db_clean, graph, published, monkeypatch):
    """The request reached WhatsApp; whether it took the message is unknown: no new send."""
    from chalicelib.whatsapp import graph as graph_module
    from tests.integration import send_support

    admin = send_support.make_admin()
    conversa_id = send_support.make_conversa(atendente_id=admin)
    client = graph_module.get_graph_client()
    real_send = client.send_message
    monkeypatch.setattr(client, "send_message", lambda payload, **kw: {**real_send(payload, **kw), "messages": []})
    pedido = sending.EnviarTexto(tipo="texto", conteudo="Olá")
    with pytest.raises(IndexError):
        sending.send(conversa_id, admin, pedido, idempotency_key="k-incerta")
    again = sending.send(conversa_id, admin, pedido, idempotency_key="k-incerta")
    assert again.status == 504 and again.body["incerto"] is True
    assert len(graph.sent_messages) == 1


# The contract files ------------------------------------------------------------------------------
def test_the_committed_contract_files_match_the_code():
    """Regenerate with `python -m chalicelib.cli export-contracts` when this fails."""
    from devstack import contracts

    assert contracts.OPENAPI_FILE.read_text(encoding="utf-8") == contracts.openapi_text()
    current = contracts.EVENTS_DOC.read_text(encoding="utf-8")
    assert contracts.events_doc_text(current) == current
    document = json.loads(contracts.OPENAPI_FILE.read_text(encoding="utf-8"))
    assert "LiveEvent" in document["components"]["schemas"]


def test_the_response_enums_are_the_database_enums(db_clean):
    from typing import get_args

    from chalicelib import api_models

    pairs = {
        "status_envio": api_models.StatusEnvio,
        "tipo_mensagem": api_models.TipoMensagem,
        "direcao_mensagem": api_models.DirecaoMensagem,
        "media_type": api_models.MediaType,
        "billing_category": api_models.BillingCategory,
        "status_conversa": api_models.StatusConversa,
        "template_status": api_models.TemplateStatus,
        "template_category": api_models.TemplateCategory,
        "tipo_contato": api_models.TipoContato,
        "origem_contato": api_models.OrigemContato,
        "estado_jornada": api_models.EstadoJornada,
    }
    for enum, literal in pairs.items():
        labels = db.query(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = :n", n=enum
        )
        assert {r["enumlabel"] for r in labels} == set(get_args(literal)), enum
