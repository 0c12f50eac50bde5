"""Sign-in, the lockout, /me, /administradores and the auth matrix over every route."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import app
from chalicelib import db
from chalicelib.openapi import PUBLIC_ROUTES
from tests.integration.api_support import auth, body, dumps, make_admin, token_for

JSON = {"Content-Type": "application/json"}


def _login(client, email, senha):
    return client.http.post("/auth/login", headers=JSON, body=dumps({"email": email, "senha": senha}))


def test_login_returns_a_token_that_opens_me(client):
    admin = make_admin("Ana")
    r = _login(client, "ANA@escola.com.br ", "senha-segura-1")
    assert r.status_code == 200
    data = body(r)
    assert data["administrador"]["id"] == str(admin["id"])
    assert "senha_hash" not in data["administrador"]
    assert datetime.fromisoformat(data["expires_at"]) > datetime.now(UTC) + timedelta(hours=11, minutes=59)
    me = client.http.get("/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert me.status_code == 200
    assert body(me)["email"] == "ana@escola.com.br"


@pytest.mark.parametrize(
    "payload", [{"email": "ana@escola.com.br", "senha": "errada"}, {"email": "ninguem@escola.com.br", "senha": "x"}]
)
def test_wrong_password_or_unknown_email_is_401(client, payload):
    make_admin("Ana")
    r = client.http.post("/auth/login", headers=JSON, body=dumps(payload))
    assert r.status_code == 401
    assert body(r)["Code"] == "InvalidCredentials"


@pytest.mark.parametrize("raw", ["", "{", '{"email": "a@b.co"}', '{"email": "nope", "senha": "x"}', "[]"])
def test_bad_login_input_is_4xx(client, raw):
    r = client.http.post("/auth/login", headers=JSON, body=raw)
    assert r.status_code in (400, 422)


def test_five_failures_lock_the_email_until_the_window_passes(client):
    make_admin("Ana")
    make_admin("Bia")
    for _ in range(5):
        assert _login(client, "ana@escola.com.br", "errada").status_code == 401
    locked = _login(client, "ana@escola.com.br", "senha-segura-1")
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    assert body(locked)["Code"] == "TooManyRequests"
    # Another email is not affected.
    assert _login(client, "bia@escola.com.br", "senha-segura-1").status_code == 200
    # Once the failures are older than 15 minutes, the right password works again.
    db.execute("UPDATE login_tentativas SET created_at = created_at - interval '15 minutes 1 second'")
    assert _login(client, "ana@escola.com.br", "senha-segura-1").status_code == 200


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client):
    make_admin("Ana")
    for _ in range(4):
        _login(client, "ana@escola.com.br", "errada")
    assert _login(client, "ana@escola.com.br", "senha-segura-1").status_code == 200
    for _ in range(4):
        assert _login(client, "ana@escola.com.br", "errada").status_code == 401
    assert _login(client, "ana@escola.com.br", "senha-segura-1").status_code == 200


def test_me_with_token_of_deleted_admin_is_401(client):
    assert client.http.get("/me", headers=auth(str(uuid.uuid4()))).status_code == 401


def test_create_and_list_administradores(client):
    ana = make_admin("Ana")
    r = client.http.post(
        "/administradores",
        headers=auth(ana),
        body=dumps({"nome": "Carla", "email": "Carla@Escola.com.br", "senha": "violão azul na escola"}),
    )
    assert r.status_code == 201
    assert body(r)["email"] == "carla@escola.com.br"
    assert "senha_hash" not in body(r)
    dup = client.http.post(
        "/administradores",
        headers=auth(ana),
        body=dumps({"nome": "C", "email": "carla@escola.com.br", "senha": "violão azul na escola"}),
    )
    assert dup.status_code == 409
    short = client.http.post(
        "/administradores", headers=auth(ana), body=dumps({"nome": "D", "email": "d@escola.com.br", "senha": "1234"})
    )
    assert short.status_code == 422
    assert body(short)["field"] == "senha"
    assert _login(client, "carla@escola.com.br", "violão azul na escola").status_code == 200
    page1 = body(client.http.get("/administradores?limit=1", headers=auth(ana)))
    page2 = body(client.http.get(f"/administradores?limit=1&cursor={page1['next_cursor']}", headers=auth(ana)))
    assert [a["nome"] for a in page1["items"] + page2["items"]] == ["Ana", "Carla"]
    assert page2["next_cursor"] is None


# --- the auth matrix: every route of the app, so routes added later are covered too -------


def _routes():
    """Every route but the CORS preflights (public by design: test_api_contracts covers them)."""
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            if method != "OPTIONS":
                yield path, method, entry


def _concrete(path: str) -> str:
    return re.sub(r"{\w+}", str(uuid.uuid4()), path)


def test_only_the_public_routes_lack_the_authorizer():
    unprotected = {(path, method) for path, method, entry in _routes() if entry.authorizer is None}
    assert unprotected <= PUBLIC_ROUTES, f"routes without authorizer: {sorted(unprotected - PUBLIC_ROUTES)}"


PROTECTED = [(p, m) for p, m, e in _routes() if e.authorizer is not None]


@pytest.mark.parametrize("path,method", PROTECTED, ids=[f"{m} {p}" for p, m in PROTECTED])
def test_protected_route_answers_401_without_bad_or_expired_token(client, path, method):
    admin = make_admin("Ana")
    expired = token_for(admin, now=datetime.now(UTC) - timedelta(hours=12, seconds=1))
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {expired}"}):
        r = client.http.request(method, _concrete(path), headers={**JSON, **headers}, body=b"{}")
        assert r.status_code == 401, (method, path, headers, r.status_code, r.body)
    ok = client.http.request(method, _concrete(path), headers=auth(admin), body=b"{}")
    assert ok.status_code != 401, (method, path, ok.body)
