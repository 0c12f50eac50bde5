"""Sessions that end (issue 16 §1): a removed or deactivated attendant's token, and a token
older than the last password reset, open nothing; only administrators manage the team."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from chalice.test import Client

from app import app
from chalicelib import db
from tests.integration.api_support import auth, body, dumps, make_admin

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(db_clean):
    with Client(app) as c:
        yield c


def _login(client, email, senha="senha-segura-1"):
    return client.http.post("/auth/login", headers=JSON, body=dumps({"email": email, "senha": senha}))


def _make(nome: str, papel: str = "atendente") -> dict:
    admin = make_admin(nome)
    db.execute("UPDATE administradores SET papel = :papel WHERE id = :id", papel=papel, id=admin["id"])
    return admin


# Routes a removed attendant must lose, including the ones that leak or destroy data.
SENSITIVE = [
    ("GET", "/me"),
    ("GET", "/conversas"),
    ("GET", "/administradores"),
    ("GET", "/contatos/00000000-0000-0000-0000-000000000001/export"),
]


def test_new_accounts_default_to_attendants(client):
    ana = _make("Ana", "admin")
    r = client.http.post(
        "/administradores",
        headers=auth(ana),
        body=dumps({"nome": "Carla", "email": "carla@escola.com.br", "senha": "violão azul na escola"}),
    )
    assert r.status_code == 201, r.body
    assert body(r)["papel"] == "atendente"
    assert body(r)["ativo"] is True


def test_an_attendant_cannot_create_or_remove_accounts(client):
    bia = _make("Bia", "atendente")
    ana = _make("Ana", "admin")
    r = client.http.post(
        "/administradores",
        headers=auth(bia),
        body=dumps({"nome": "Eu De Novo", "email": "eu@escola.com.br", "senha": "violão azul na escola"}),
    )
    assert r.status_code == 403
    assert body(r)["Code"] == "ForbiddenError"
    assert db.scalar("SELECT count(*) FROM administradores") == 2
    r = client.http.delete(f"/administradores/{ana['id']}", headers=auth(bia))
    assert r.status_code == 403
    assert body(r)["Code"] == "ForbiddenError"


def test_a_deactivated_attendant_loses_every_route_and_cannot_sign_in(client):
    ana = _make("Ana", "admin")
    bia = _make("Bia", "atendente")
    headers = auth(bia)
    for method, path in SENSITIVE:
        assert client.http.request(method, path, headers=headers).status_code != 401, path
    r = client.http.delete(f"/administradores/{bia['id']}", headers=auth(ana))
    assert r.status_code == 204, r.body
    for method, path in [*SENSITIVE, ("POST", "/administradores")]:
        r = client.http.request(method, path, headers=headers, body=b"{}")
        assert r.status_code == 401, (method, path, r.status_code)
    assert _login(client, "bia@escola.com.br").status_code == 401
    # The account stays (its messages keep their author) but is marked inactive.
    row = db.query_one("SELECT ativo, desativado_em FROM administradores WHERE id = :id", id=bia["id"])
    assert row["ativo"] is False and row["desativado_em"] is not None
    listed = body(client.http.get("/administradores", headers=auth(ana)))["items"]
    assert {a["nome"]: a["ativo"] for a in listed} == {"Ana": True, "Bia": False}


def test_an_admin_cannot_deactivate_themself(client):
    ana = _make("Ana", "admin")
    r = client.http.delete(f"/administradores/{ana['id']}", headers=auth(ana))
    assert r.status_code == 409
    assert client.http.get("/me", headers=auth(ana)).status_code == 200


def test_a_deleted_attendants_token_opens_nothing(client):
    bia = _make("Bia")
    headers = auth(bia)
    db.execute("DELETE FROM administradores WHERE id = :id", id=bia["id"])
    for method, path in SENSITIVE:
        assert client.http.request(method, path, headers=headers).status_code == 401, path


def test_a_password_reset_ends_the_sessions_issued_before_it(client):
    make_admin("Ana")
    old = body(_login(client, "ana@escola.com.br"))["token"]
    assert client.http.get("/me", headers={"Authorization": f"Bearer {old}"}).status_code == 200
    env = {**os.environ, "ADMIN_PASSWORD": "uma senha nova e longa"}
    command = [sys.executable, "-m", "chalicelib.cli", "create-admin", "--email", "ana@escola.com.br", "--nome", "Ana"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    assert client.http.get("/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    new = body(_login(client, "ana@escola.com.br", "uma senha nova e longa"))["token"]
    assert client.http.get("/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_a_token_without_a_version_is_refused(client):
    import time

    import jwt

    ana = make_admin("Ana")
    now = int(time.time())
    legacy = jwt.encode({"sub": str(ana["id"]), "iat": now, "exp": now + 600}, os.environ["AUTH_SECRET"], "HS256")
    assert client.http.get("/me", headers={"Authorization": f"Bearer {legacy}"}).status_code == 401


@pytest.fixture
def gateway(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime
    from devstack.ws_gateway import LocalWebSocketGateway

    gw = LocalWebSocketGateway().start()
    monkeypatch.setenv("WS_MANAGEMENT_URL", gw.management_url)
    reset_settings()
    realtime.reset_client()
    yield gw
    gw.stop()
    monkeypatch.delenv("WS_MANAGEMENT_URL")
    reset_settings()
    realtime.reset_client()


def test_deactivation_closes_open_sockets_and_refuses_new_ones(gateway):
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    from chalicelib.services import auth as auth_service
    from tests.integration.api_support import token_for

    ana = _make("Ana", "admin")
    bia = _make("Bia", "atendente")
    token = token_for(bia)
    with connect(f"{gateway.url}/?token={token}") as ws:
        assert db.scalar("SELECT count(*) FROM ws_conexoes") == 1
        auth_service.deactivate_admin(str(bia["id"]), str(ana["id"]))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert db.scalar("SELECT count(*) FROM ws_conexoes") == 0
    with pytest.raises(InvalidStatus):
        connect(f"{gateway.url}/?token={token}", open_timeout=5)
