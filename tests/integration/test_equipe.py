"""Issue 14 §5, the team: a deactivated attendant's open conversations go back to the queue
with a live event (history keeps their name), their token is refused on the next request (the
websocket: tests/e2e/test_live_websocket.py), one's own password can be changed,
and only admins manage the team."""

from __future__ import annotations

import json

import pytest

from chalicelib import db
from tests.integration.api_support import auth, body, dumps, make_admin, make_contato, make_conversa


def test_deactivation_puts_open_conversations_back_in_the_queue_live(client, published):
    ana = make_admin("Ana", papel="admin")
    bia = make_admin("Bia", papel="atendente")
    aberta = make_conversa(make_contato("+5511911110001", "Rita"), atendente_id=bia["id"], atribuida_em="2026-11-01")
    encerrada = make_conversa(
        make_contato("+5511911110002", "Caio"),
        atendente_id=bia["id"],
        atribuida_em="2026-11-01",
        status="encerrada",
        closed_at="2026-11-01",
    )
    outra = make_conversa(make_contato("+5511911110003", "Lia"), atendente_id=ana["id"], atribuida_em="2026-11-01")
    bia_headers = auth(bia)
    assert client.http.get("/conversas", headers=bia_headers).status_code == 200

    r = client.http.delete(f"/administradores/{bia['id']}", headers=auth(ana))
    assert r.status_code == 204, r.body

    # The next request with Bia's token is refused.
    assert client.http.get("/conversas", headers=bia_headers).status_code == 401
    atendentes = {str(row["id"]): row["atendente_id"] for row in db.query("SELECT id, atendente_id FROM conversas")}
    assert atendentes[str(aberta["id"])] is None
    assert str(atendentes[str(encerrada["id"])]) == str(bia["id"])  # closed: history untouched
    assert str(atendentes[str(outra["id"])]) == str(ana["id"])
    assigned = [data for event, data in published if event == "conversation:assigned"]
    assert len(assigned) == 1
    assert assigned[0]["conversa"]["id"] == str(aberta["id"])
    assert assigned[0]["conversa"]["atendente"] is None
    assert assigned[0]["anterior_id"] == str(bia["id"])
    evento = db.query_one("SELECT dados FROM eventos WHERE tipo = 'conversa_liberada'")
    assert evento["dados"]["anterior_id"] == str(bia["id"])
    assert evento["dados"]["motivo"] == "atendente_desativado"
    # The account's name stays for the history.
    listed = body(client.http.get("/administradores", headers=auth(ana)))["items"]
    assert {a["nome"] for a in listed} == {"Ana", "Bia"}


@pytest.mark.parametrize(
    "method,path,payload",
    [
        ("POST", "/administradores", {"nome": "Caio", "email": "caio@escola.com.br", "senha": "violão azul na escola"}),
        ("DELETE", "/administradores/{ana}", None),
        ("POST", "/tarifas", {"categoria": "marketing", "vigente_desde": "2026-01-01", "valor_brl": 1}),
    ],
)
def test_team_and_rate_routes_are_for_admins_only(client, method, path, payload):
    ana = make_admin("Ana", papel="admin")
    bia = make_admin("Bia", papel="atendente")
    path = path.format(ana=ana["id"])
    data = dumps(payload) if payload is not None else None
    r = client.http.request(method, path, headers=auth(bia), body=data)
    assert r.status_code == 403, r.body
    assert body(r)["Code"] == "ForbiddenError"
    assert db.scalar("SELECT count(*) FROM administradores WHERE ativo") == 2
    assert db.scalar("SELECT count(*) FROM tarifas") == 0


def test_change_own_password_ends_other_sessions_and_returns_a_new_token(client):
    bia = make_admin("Bia", papel="atendente")
    old = auth(bia)
    r = client.http.post(
        "/me/senha",
        headers=old,
        body=dumps({"senha_atual": "senha-segura-1", "senha_nova": "um violão no quintal da escola"}),
    )
    assert r.status_code == 200, r.body
    new = body(r)["token"]
    assert client.http.get("/me", headers=old).status_code == 401
    assert client.http.get("/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    login = client.http.post(
        "/auth/login",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"email": "bia@escola.com.br", "senha": "um violão no quintal da escola"}),
    )
    assert login.status_code == 200


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"senha_atual": "errada", "senha_nova": "um violão no quintal da escola"}, "senha_atual"),
        ({"senha_atual": "senha-segura-1", "senha_nova": "password123"}, "senha_nova"),
        ({"senha_atual": "senha-segura-1", "senha_nova": "senha-segura-1"}, "senha_nova"),
    ],
)
def test_a_wrong_current_or_weak_new_password_is_422(client, payload, field):
    bia = make_admin("Bia", papel="atendente")
    r = client.http.post("/me/senha", headers=auth(bia), body=dumps(payload))
    assert r.status_code == 422, r.body
    assert body(r)["field"] == field
    assert client.http.get("/me", headers=auth(bia)).status_code == 200
