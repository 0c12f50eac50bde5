"""The WebSocket API through the local gateway: $connect/$disconnect/$default and publishing."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.integration.live_helpers import make_admin, token_for, wait_until


@pytest.fixture
def gateway(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.local.ws_gateway import LocalWebSocketGateway
    from chalicelib.services import realtime

    gw = LocalWebSocketGateway().start()
    monkeypatch.setenv("WS_MANAGEMENT_URL", gw.management_url)
    reset_settings()
    realtime.reset_client()
    yield gw
    gw.stop()
    monkeypatch.delenv("WS_MANAGEMENT_URL")
    reset_settings()
    realtime.reset_client()


def _rows():
    from chalicelib.repositories import ws_conexoes

    return ws_conexoes.list_all()


def test_connect_with_a_valid_token_stores_the_connection_and_receives_published_events(gateway):
    from chalicelib.services import realtime

    admin_id = make_admin()
    with connect(f"{gateway.url}/?token={token_for(admin_id)}") as ws:
        rows = wait_until(_rows)
        assert [str(r["admin_id"]) for r in rows] == [admin_id]
        assert rows[0]["connection_id"] in gateway.connection_ids()

        delivered = realtime.publish("conversation:closed", {"conversa_id": "c1", "closed_at": "2026-01-01T00:00:00Z"})

        assert delivered == 1
        message = json.loads(ws.recv(timeout=5))
        assert message == {
            "type": "conversation:closed",
            "data": {"conversa_id": "c1", "closed_at": "2026-01-01T00:00:00Z"},
        }


def test_the_connect_event_is_built_like_api_gateways(gateway):
    admin_id = make_admin()
    token = token_for(admin_id)
    with connect(f"{gateway.url}/?token={token}"):
        wait_until(_rows)
    event = gateway.invocations[0]
    context = event["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert context["stage"] == "api"
    assert context["connectionId"] == _connection_id_of(gateway)
    assert event["queryStringParameters"] == {"token": token}
    assert isinstance(context["connectedAt"], int)


def _connection_id_of(gateway):
    return gateway.invocations[0]["requestContext"]["connectionId"]


@pytest.mark.parametrize("token", ["", "not-a-jwt", "expired"])
def test_a_bad_or_expired_token_is_refused_and_nothing_is_stored(gateway, token):
    from datetime import UTC, datetime, timedelta

    if token == "expired":
        token = token_for(make_admin(), now=datetime.now(UTC) - timedelta(days=2))
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}/?token={token}", open_timeout=5)
    assert refused.value.response.status_code == 403
    assert _rows() == []
    assert gateway.connection_ids() == []


def test_a_token_of_a_removed_admin_is_refused(gateway):
    from chalicelib import db

    admin_id = make_admin()
    token = token_for(admin_id)
    db.execute("DELETE FROM administradores WHERE id = :id", id=admin_id)
    with pytest.raises(InvalidStatus):
        connect(f"{gateway.url}/?token={token}", open_timeout=5)
    assert _rows() == []


def test_ping_gets_a_pong_and_anything_else_is_ignored_without_closing(gateway):
    admin_id = make_admin()
    with connect(f"{gateway.url}/?token={token_for(admin_id)}") as ws:
        ws.send("this is not json")
        ws.send(json.dumps({"type": "something-else"}))
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}  # the first reply is the pong
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}
    routes = [e["requestContext"]["routeKey"] for e in gateway.invocations]
    assert routes.count("$default") == 4


def test_disconnect_removes_the_connection(gateway):
    admin_id = make_admin()
    with connect(f"{gateway.url}/?token={token_for(admin_id)}"):
        assert wait_until(_rows)
    assert wait_until(lambda: _rows() == [])
    assert gateway.invocations[-1]["requestContext"]["routeKey"] == "$disconnect"


def test_a_connection_whose_disconnect_was_lost_is_removed_on_the_next_publish(gateway):
    from chalicelib.services import realtime

    admin_id = make_admin()
    with (
        connect(f"{gateway.url}/?token={token_for(admin_id)}") as alive,
        connect(f"{gateway.url}/?token={token_for(admin_id)}"),
    ):
        rows = wait_until(lambda: len(_rows()) == 2 and _rows())
        ids = [r["connection_id"] for r in rows]  # in connection order: ids[0] is `alive`
        lost = ids[1]
        gateway.drop(lost)  # the socket is gone, the app was never told

        delivered = realtime.publish("template:updated", {"template": {"id": "t1"}})

        assert delivered == 1
        assert [r["connection_id"] for r in _rows()] == [ids[0]]
        assert json.loads(alive.recv(timeout=5))["type"] == "template:updated"


def test_publish_without_a_management_url_is_a_no_op(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime

    monkeypatch.delenv("WS_MANAGEMENT_URL", raising=False)
    reset_settings()
    assert realtime.publish("message:new", {"x": 1}) == 0


def test_an_unreachable_management_api_neither_raises_nor_forgets_connections(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.local.stack import free_port
    from chalicelib.repositories import ws_conexoes
    from chalicelib.services import realtime

    ws_conexoes.add("abc123", make_admin())
    monkeypatch.setenv("WS_MANAGEMENT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    reset_settings()
    realtime.reset_client()
    try:
        assert realtime.publish("message:new", {"mensagem": {}}) == 0
    finally:
        monkeypatch.delenv("WS_MANAGEMENT_URL")
        reset_settings()
        realtime.reset_client()
    assert ws_conexoes.exists("abc123")  # a failed send is not a gone connection
