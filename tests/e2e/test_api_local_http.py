"""The authorizer over real HTTP (`chalice local`, as `make run` serves it): 401 for a missing,
bad or expired token — never 403 or 500 — and a sign-in whose token opens the API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.stack_support import running_stack
from tests.integration.api_support import make_admin, make_contato, make_conversa, token_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(db_clean):
    with running_stack(components=[]) as local:
        yield local


def test_tokens_over_http(stack):
    admin = make_admin("Ana")
    conversa = make_conversa(make_contato())
    expired = token_for(admin, now=datetime.now(UTC) - timedelta(hours=12, seconds=1))
    paths = ["/me", "/conversas", f"/conversas/{conversa['id']}"]
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer x.y.z"}, {"Authorization": f"Bearer {expired}"}):
            r = requests.get(stack.api_url + path, headers=headers, timeout=10)
            assert r.status_code == 401, (path, headers, r.status_code, r.text)
            assert r.json()["Code"] == "Unauthorized" and "x.y.z" not in r.text
    # Over real HTTP too: an unknown route is a 404 envelope, the preflight answers the console.
    r = requests.get(stack.api_url + "/nada", headers={"Authorization": "Bearer x.y.z"}, timeout=10)
    assert r.status_code == 404 and r.json()["Code"] == "NotFoundError" and "x.y.z" not in r.text
    origin = "http://127.0.0.1:8080"
    r = requests.options(
        stack.api_url + "/conversas",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == origin
    assert requests.get(stack.api_url + "/openapi.json", timeout=10).status_code == 200  # public
    r = requests.post(
        stack.api_url + f"/conversas/{conversa['id']}/atribuir", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert r.status_code == 401

    login = requests.post(
        stack.api_url + "/auth/login",
        data=json.dumps({"email": "ana@escola.com.br", "senha": "senha-segura-1"}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    assert requests.get(stack.api_url + "/me", headers=auth, timeout=10).json()["id"] == str(admin["id"])
    taken = requests.post(stack.api_url + f"/conversas/{conversa['id']}/atribuir", headers=auth, timeout=10)
    assert taken.status_code == 200
    assert taken.json()["conversa"]["atendente_id"] == str(admin["id"])
    health = requests.get(stack.api_url + "/health", timeout=10)  # open to all, no token
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok"}


def test_twenty_admins_take_one_conversation_over_http_exactly_one_wins(stack):
    import threading

    admins = [make_admin(f"Atendente {i}") for i in range(20)]
    conversa = make_conversa(make_contato())
    barrier = threading.Barrier(20)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def take(admin):
        headers = {"Authorization": f"Bearer {token_for(admin)}"}
        barrier.wait()
        r = requests.post(stack.api_url + f"/conversas/{conversa['id']}/atribuir", headers=headers, timeout=30)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=take, args=(a,)) for a in admins]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * 19, statuses
    winner = next(r for r in answers if r.status_code == 200).json()["conversa"]["atendente_id"]
    assert {r.json()["atendente_id"] for r in answers if r.status_code == 409} == {winner}
    assert {r.json()["Code"] for r in answers if r.status_code == 409} == {"AssignedToOther"}


def test_a_burst_leaves_no_connection_behind(stack):
    """Each request thread closes its database connection when it ends (not at garbage
    collection): after a burst the slots are free again."""
    import threading

    from chalicelib import db

    admin = make_admin("Ana")
    headers = {"Authorization": f"Bearer {token_for(admin)}"}

    def app_connections() -> int:
        return int(
            db.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crm-inbox' AND pid <> pg_backend_pid()"
            )
        )

    before = app_connections()
    threads = [
        threading.Thread(target=lambda: requests.get(stack.api_url + "/conversas", headers=headers, timeout=30))
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    deadline = time.monotonic() + 5
    while app_connections() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app_connections() <= before
