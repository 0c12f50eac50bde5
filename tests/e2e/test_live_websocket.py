"""The WebSocket API through the local gateway: $connect/$disconnect/$default and publishing."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.integration.live_helpers import make_admin, token_for, wait_until
from tests.live_capture import recv_event, unwrap

pytestmark = pytest.mark.e2e


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

        delivered = realtime.publish_many(
            [("7-0", "conversation:closed", {"conversa_id": "c1", "closed_at": "2026-01-01T00:00:00Z"})],
            connection_ids=realtime.audience(),
        )

        assert delivered["ok"] == 1
        message = json.loads(ws.recv(timeout=5))
        assert message == {
            "type": "batch",
            "events": [
                {
                    "id": "7-0",
                    "type": "conversation:closed",
                    "data": {"conversa_id": "c1", "closed_at": "2026-01-01T00:00:00Z"},
                }
            ],
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
    # Like API Gateway: a refused handshake never opened, so there is no $disconnect for it.
    time.sleep(0.1)
    assert [e["requestContext"]["routeKey"] for e in gateway.invocations] == ["$connect"]


def _signed(claims: dict, secret: str | None = None, algorithm: str = "HS256") -> str:
    """A JWT signed with `secret` (the app's own by default; no key for alg "none")."""
    import jwt

    from chalicelib.config import get_settings

    key = None if algorithm == "none" else secret or get_settings().auth_secret
    return jwt.encode(claims, key, algorithm=algorithm)


_NOW = int(time.time())
_GARBAGE_QUERIES = {
    "no query string": "",
    "no token": "?other=1",
    "bearer prefix only": "?token=Bearer%20",
    "undecodable bytes": "?token=%FF%FE%00",
    "three dots": "?token=a.b.c",
    "wrong secret": "?token=" + _signed({"sub": "x", "exp": _NOW + 600, "iat": _NOW}, secret="s" * 40),
    "alg none": "?token=" + _signed({"sub": "x", "exp": _NOW + 600, "iat": _NOW}, algorithm="none"),
}


@pytest.mark.parametrize("query", _GARBAGE_QUERIES.values(), ids=_GARBAGE_QUERIES.keys())
def test_garbage_in_the_connect_query_is_a_403_never_a_500(gateway, query):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}/{query}", open_timeout=5)
    assert refused.value.response.status_code == 403
    assert _rows() == []


@pytest.mark.parametrize("sub", ["root", 42, ""])
def test_a_validly_signed_token_naming_no_admin_of_ours_is_a_403(gateway, sub):
    now = int(time.time())
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}/?token={_signed({'sub': sub, 'exp': now + 600, 'iat': now})}", open_timeout=5)
    assert refused.value.response.status_code == 403
    assert _rows() == []


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
        _age(ids)  # past the grace a just-opened connection gets (see the next test)

        delivered = realtime.publish_many(
            [("1-0", "template:updated", {"template": {"id": "t1"}})], connection_ids=realtime.audience()
        )

        assert delivered["ok"] == 1
        assert [r["connection_id"] for r in _rows()] == [ids[0]]
        assert recv_event(alive)["type"] == "template:updated"


def _age(connection_ids, seconds: int = 60) -> None:
    from chalicelib import db

    db.execute(
        "UPDATE ws_conexoes SET created_at = now() - make_interval(secs => :s) WHERE connection_id = ANY(:ids)",
        s=seconds,
        ids=list(connection_ids),
    )


def test_a_410_for_a_connection_still_opening_does_not_forget_it(gateway):
    """API Gateway answers 410 while a $connect has not returned yet, and our $connect stores
    the row before returning: that row must survive a publish landing in between."""
    from chalicelib.repositories import ws_conexoes
    from chalicelib.services import realtime

    admin_id = make_admin()
    ws_conexoes.add("opening-now", admin_id)  # stored by $connect; the gateway does not know it yet
    ws_conexoes.add("long-gone", admin_id)
    _age(["long-gone"])

    realtime.publish_many(
        [("1-0", "conversation:closed", {"conversa_id": "c1", "closed_at": None})], connection_ids=realtime.audience()
    )

    assert ws_conexoes.exists("opening-now")
    assert not ws_conexoes.exists("long-gone")


def test_the_message_and_disconnect_events_are_built_like_api_gateways(gateway):
    admin_id = make_admin()
    with connect(f"{gateway.url}/?token={token_for(admin_id)}") as ws:
        ws.send(json.dumps({"type": "ping"}))
        ws.recv(timeout=5)
    wait_until(lambda: _rows() == [])
    connect_event, message_event, disconnect_event = gateway.invocations
    connection_id = connect_event["requestContext"]["connectionId"]
    for event, route, kind in (
        (connect_event, "$connect", "CONNECT"),
        (message_event, "$default", "MESSAGE"),
        (disconnect_event, "$disconnect", "DISCONNECT"),
    ):
        context = event["requestContext"]
        assert (context["routeKey"], context["eventType"]) == (route, kind)
        assert context["connectionId"] == connection_id
        assert context["domainName"] == f"127.0.0.1:{gateway.port}"
        assert (context["stage"], context["apiId"]) == ("api", "local")
        assert context["connectedAt"] == connect_event["requestContext"]["connectedAt"]
    assert message_event["body"] == '{"type": "ping"}' and message_event["isBase64Encoded"] is False
    assert message_event["requestContext"]["messageId"]
    assert disconnect_event["requestContext"]["disconnectStatusCode"] == 1000


def _management_client(gateway):
    import boto3

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.management_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_the_management_api_answers_like_api_gateways(gateway):
    """POST delivers, GET describes, DELETE closes (and the app hears $disconnect); gone is 410."""
    client = _management_client(gateway)
    admin_id = make_admin()
    with connect(f"{gateway.url}/?token={token_for(admin_id)}") as ws:
        connection_id = wait_until(_rows)[0]["connection_id"]

        client.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"x"}')
        assert json.loads(ws.recv(timeout=5)) == {"type": "x"}

        described = client.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        assert described["Identity"]["UserAgent"].startswith("Python/")  # the websockets client's
        assert described["ConnectedAt"].timestamp() == pytest.approx(
            gateway.invocations[0]["requestContext"]["connectedAt"] / 1000, abs=1
        )

        client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert wait_until(lambda: _rows() == [])
    assert gateway.invocations[-1]["requestContext"]["routeKey"] == "$disconnect"
    for call in (
        lambda: client.post_to_connection(ConnectionId=connection_id, Data=b"{}"),
        lambda: client.get_connection(ConnectionId=connection_id),
        lambda: client.delete_connection(ConnectionId=connection_id),
    ):
        with pytest.raises(client.exceptions.GoneException):
            call()


def _drain(ws, quiet: float = 0.3) -> list[dict]:
    received = []
    while True:
        try:
            received.extend(unwrap(ws.recv(timeout=quiet)))
        except TimeoutError:
            return received


def test_a_round_of_events_travels_in_a_few_frames_and_stops_at_the_deadline(gateway):
    """A drain round's hundreds of events (the window job's, a status burst's) are a few posts
    per connection, not one per event; and a slow API stops at the deadline."""
    import time

    from chalicelib.services import realtime

    admin_id = make_admin()
    gateway.management_latency = 0.01  # API Gateway is a network hop away in AWS
    events = [(f"9-{i}", "conversation:window_closed", {"conversa_id": str(i)}) for i in range(250)]
    with (
        connect(f"{gateway.url}/?token={token_for(admin_id)}") as one,
        connect(f"{gateway.url}/?token={token_for(admin_id)}") as two,
    ):
        wait_until(lambda: len(_rows()) == 2)

        started = time.monotonic()
        assert realtime.publish_many(events, connection_ids=realtime.audience())["ok"] == 2
        elapsed = time.monotonic() - started

        # One post per event would wait 250 x 10 ms per connection; a busy machine adds to the
        # few posts' time, never that much.
        assert elapsed < 125 * gateway.management_latency, elapsed
        for ws in (one, two):
            got = _drain(ws)
            assert [e["id"] for e in got] == [i for i, _, _ in events]  # all of them, in order

        # Frames stay under API Gateway's 128 KB, and cut nowhere but between events.
        small = realtime.frames(events, max_bytes=2_000)
        assert len(small) > 1 and all(len(f) <= 2_000 for f in small)
        assert [e["id"] for f in small for e in unwrap(f)] == [i for i, _, _ in events]

        gateway.management_latency = 0.05
        ids = [r["connection_id"] for r in _rows()]
        started = time.monotonic()
        counts = realtime.send_to_connections(ids, [realtime.encode(e, d, i) for i, e, d in events], deadline=0.3)
        elapsed = time.monotonic() - started
        assert counts["skipped"] == 2 and counts["ok"] == 0, counts
        assert elapsed < 1.5, elapsed
        for ws in (one, two):  # what went before the deadline arrived, and nothing after it
            assert 0 < len(_drain(ws)) < len(events)
    gateway.management_latency = 0.0


def test_publish_without_a_management_url_is_a_no_op(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime

    monkeypatch.delenv("WS_MANAGEMENT_URL", raising=False)
    reset_settings()
    assert realtime.publish_many([("1-0", "message:new", {"x": 1})], connection_ids=["c1"])["ok"] == 0


def test_an_unreachable_management_api_neither_raises_nor_forgets_connections(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.repositories import ws_conexoes
    from chalicelib.services import realtime
    from devstack.stack import free_port

    ws_conexoes.add("abc123", make_admin())
    monkeypatch.setenv("WS_MANAGEMENT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    reset_settings()
    realtime.reset_client()
    try:
        counts = realtime.publish_many([("1-0", "message:new", {"mensagem": {}})], connection_ids=["abc123"])
        assert counts["ok"] == 0 and counts["error"] == 1
    finally:
        monkeypatch.delenv("WS_MANAGEMENT_URL")
        reset_settings()
        realtime.reset_client()
    assert ws_conexoes.exists("abc123")  # a failed send is not a gone connection


# A session that ends (issue 16 §1; its HTTP side is tests/integration/test_security_sessions.py).
def _make(nome: str, papel: str = "atendente") -> dict:
    from chalicelib import db
    from tests.integration.api_support import make_admin

    admin = make_admin(nome)
    db.execute("UPDATE administradores SET papel = :papel WHERE id = :id", papel=papel, id=admin["id"])
    return admin


def test_deactivation_closes_open_sockets_and_refuses_new_ones(gateway):
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    from chalicelib import db
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
