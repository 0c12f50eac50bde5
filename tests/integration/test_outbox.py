"""The outbox (issue 15 §1): live events and pushes leave the request that caused them.

The request commits its rows and one outbox row, and nudges a FIFO queue (moto); the drain
Lambda (`drain_live_events`, invoked by the dev stack's queue pump exactly as Lambda's event
source does) delivers the events to real WebSocket connections of the local gateway.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from websockets.sync.client import connect

from devstack import payloads as wa
from tests.integration.live_helpers import make_admin, make_conversa, token_for, wait_until
from tests.integration.webhook_support import Webhook
from tests.live_capture import unwrap

ANA = "5511987654321"


@pytest.fixture
def stack(db_clean, monkeypatch):
    """The webhook (media queue and live-events FIFO queue in moto), the local WebSocket
    gateway, and a pump that invokes the drain Lambda with the queue's messages."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.config import reset_settings
    from chalicelib.services import media_jobs, outbox, realtime
    from devstack.queue_pump import LiveEventsPump
    from devstack.ws_gateway import LocalWebSocketGateway

    gateway = LocalWebSocketGateway().start()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        media_url = sqs.create_queue(QueueName="media-test")["QueueUrl"]
        live_url = sqs.create_queue(
            QueueName="live-test.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "60"}
        )["QueueUrl"]
        monkeypatch.setenv("MEDIA_QUEUE_URL", media_url)
        monkeypatch.setenv("LIVE_EVENTS_QUEUE_URL", live_url)
        monkeypatch.setenv("WS_MANAGEMENT_URL", gateway.management_url)
        reset_settings()
        for module in (media_jobs, outbox, realtime):
            module.reset_client()
        pump = LiveEventsPump(queue_url=live_url, wait_seconds=0)  # invokes app's drain_live_events
        try:
            with Client(app) as client:
                yield Stack(Webhook(client, sqs, media_url), gateway, pump, sqs, live_url)
        finally:
            gateway.stop()
            for name in ("MEDIA_QUEUE_URL", "LIVE_EVENTS_QUEUE_URL", "WS_MANAGEMENT_URL"):
                monkeypatch.delenv(name, raising=False)
            reset_settings()
            for module in (media_jobs, outbox, realtime):
                module.reset_client()


class Stack:
    def __init__(self, webhook, gateway, pump, sqs, live_url):
        self.webhook, self.gateway, self.pump, self.sqs, self.live_url = webhook, gateway, pump, sqs, live_url

    def nudges_waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.live_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def browser(self, admin_id: str):
        ws = connect(f"{self.gateway.url}/?token={token_for(admin_id)}")
        return ws


def _outbox_rows() -> list[dict]:
    from chalicelib import db

    return db.query("SELECT id, itens FROM outbox ORDER BY id")


def _received(ws, quiet: float = 0.3) -> list[dict]:
    events = []
    while True:
        try:
            events.extend(unwrap(ws.recv(timeout=quiet)))
        except TimeoutError:
            return events


def _slow_posts(monkeypatch, seconds_for) -> None:
    """Each post to a connection first waits seconds_for(connection id) (a slow or stalled
    socket behind API Gateway); the post itself is real."""
    from chalicelib.services import realtime

    real_send = realtime._send

    class Slow:
        def __init__(self, client):
            self._client = client
            self.exceptions = client.exceptions

        def post_to_connection(self, ConnectionId, Data):  # boto3's argument names
            time.sleep(seconds_for(ConnectionId))
            return self._client.post_to_connection(ConnectionId=ConnectionId, Data=Data)

    monkeypatch.setattr(realtime, "_send", lambda client, *args: real_send(Slow(client), *args))


def _connections() -> int:
    from chalicelib import db

    return db.scalar("SELECT count(*) FROM ws_conexoes")


def test_the_webhook_commits_an_outbox_row_and_a_nudge_and_posts_nothing_itself(stack):
    admin_id = make_admin()
    with stack.browser(admin_id) as ws, stack.browser(admin_id):
        wait_until(lambda: _connections() == 2)
        posts_before = len(stack.gateway.invocations)

        stack.webhook.deliver(wa.value([wa.text(ANA, "Oi, tem aula de canto?")]))

        [row] = _outbox_rows()
        assert [item[0] for item in row["itens"]] == ["conversation:new", "message:new"]
        assert stack.nudges_waiting() == 1
        assert _received(ws, quiet=0.2) == []  # nothing reached a browser from the request
        assert len(stack.gateway.invocations) == posts_before

        result = stack.pump.poll_once(wait_seconds=0)

        assert result.received == 1 and result.succeeded == 1
        events = _received(ws)
        assert [e["type"] for e in events] == ["conversation:new", "message:new"]
        assert [e["id"] for e in events] == [f"{row['id']}-0", f"{row['id']}-1"]
        assert events[1]["data"]["mensagem"]["conteudo"] == "Oi, tem aula de canto?"
        assert _outbox_rows() == []


def test_events_reach_every_connection_once_and_in_order_across_transactions(stack):
    admin_id = make_admin()
    with stack.browser(admin_id) as one, stack.browser(admin_id) as two:
        wait_until(lambda: _connections() == 2)
        stack.webhook.deliver(wa.value([wa.text(ANA, "primeira")]))
        stack.webhook.deliver(wa.value([wa.text(ANA, "segunda")]))
        stack.webhook.deliver(wa.value([wa.text(ANA, "terceira")]))
        assert len(_outbox_rows()) == 3

        stack.pump.poll_once(wait_seconds=0)

        for ws in (one, two):
            events = _received(ws)
            news = [e["data"]["mensagem"]["conteudo"] for e in events if e["type"] == "message:new"]
            assert news == ["primeira", "segunda", "terceira"]
            ids = [e["id"] for e in events]
            assert len(ids) == len(set(ids))


def test_a_rolled_back_transaction_writes_no_row_and_delivers_nothing(stack):
    from chalicelib import db
    from chalicelib.services import live_events

    conversa = make_conversa()
    with pytest.raises(RuntimeError), db.transaction():
        live_events.conversation_updated(conversa["id"])
        raise RuntimeError("the service failed after naming its event")

    assert _outbox_rows() == []
    assert stack.nudges_waiting() == 0


def test_a_failing_outbox_insert_rolls_the_change_back(stack, monkeypatch):
    """The change and its announcement commit together or not at all."""
    from chalicelib import db
    from chalicelib.repositories import outbox as repo
    from chalicelib.services import live_events

    conversa = make_conversa()

    def broken(_itens):
        raise RuntimeError("outbox insert failed")

    monkeypatch.setattr(repo, "insert", broken)
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("UPDATE conversas SET nao_lidas = 42 WHERE id = :id", id=conversa["id"])
        live_events.conversation_updated(conversa["id"])
    assert db.scalar("SELECT nao_lidas FROM conversas WHERE id = :id", id=conversa["id"]) != 42


def test_a_drain_that_dies_before_deleting_delivers_again_with_the_same_ids(stack, monkeypatch):
    from chalicelib.repositories import outbox as repo

    admin_id = make_admin()
    real_delete = repo.delete
    calls = []

    def dies_once(ids):
        calls.append(ids)
        if len(calls) == 1:
            raise RuntimeError("the Lambda timed out")
        return real_delete(ids)

    monkeypatch.setattr(repo, "delete", dies_once)
    with stack.browser(admin_id) as ws:
        wait_until(lambda: _connections() == 1)
        stack.webhook.deliver(wa.value([wa.text(ANA, "oi")]))

        first = stack.pump.poll_once(wait_seconds=0)
        assert first.failed  # the invocation failed: SQS keeps the nudge
        assert len(_outbox_rows()) == 1
        delivered_first = _received(ws)

        # SQS makes the nudge visible again after the visibility timeout; here the next drain
        # runs at once.
        from chalicelib.services import outbox

        outbox.drain()
        delivered_again = _received(ws)

    assert [e["id"] for e in delivered_again] == [e["id"] for e in delivered_first]
    assert _outbox_rows() == []


def test_a_dead_or_stalled_connection_does_not_hold_the_others(stack, monkeypatch):
    """One socket whose posts hang and one that is gone: the live one gets its events at
    once, the gone one is forgotten."""
    from chalicelib.services import outbox

    admin_id = make_admin()
    stalled: set[str] = set()
    _slow_posts(monkeypatch, lambda connection_id: 2.0 if connection_id in stalled else 0)
    with (
        stack.browser(admin_id) as alive,
        stack.browser(admin_id),
        stack.browser(admin_id),
    ):
        wait_until(lambda: _connections() == 3)
        from chalicelib import db

        ids = [r["connection_id"] for r in db.query("SELECT connection_id FROM ws_conexoes ORDER BY created_at")]
        stalled.add(ids[1])
        stack.gateway.drop(ids[2])
        db.execute("UPDATE ws_conexoes SET created_at = now() - interval '1 minute'")  # past the connect grace
        stack.webhook.deliver(wa.value([wa.text(ANA, "oi")]))

        arrived = {}
        drained = threading.Thread(target=outbox.drain)
        started = time.monotonic()
        drained.start()
        first = unwrap(alive.recv(timeout=5))
        arrived["alive"] = time.monotonic() - started
        drained.join(timeout=10)

    assert [e["type"] for e in first] == ["conversation:new", "message:new"]
    assert arrived["alive"] < 1.5  # not after the stalled socket's 2 s
    remaining = {r["connection_id"] for r in db.query("SELECT connection_id FROM ws_conexoes")}
    assert ids[2] not in remaining  # gone (410): forgotten


def test_a_burst_of_ticks_for_one_message_is_one_status_event(stack):
    from chalicelib import db
    from chalicelib.services import outbox

    admin_id = make_admin()
    stack.webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    outbox.drain()
    conversa_id = db.scalar("SELECT id FROM conversas")
    wamid = wa.new_wamid()
    db.execute(
        "INSERT INTO mensagens (conversa_id, whatsapp_id, conteudo, direcao, tipo, status_envio)"
        " VALUES (:c, :w, 'Olá!', 'saida', 'texto', 'enviada')",
        c=conversa_id,
        w=wamid,
    )
    with stack.browser(admin_id) as ws:
        wait_until(lambda: _connections() == 1)
        for status in ("sent", "delivered", "read"):
            stack.webhook.deliver(wa.value(statuses=[wa.status(wamid, status)]))
        outbox.drain()
        events = _received(ws)
    statuses = [e for e in events if e["type"] == "message:status"]
    assert len(statuses) == 1
    assert statuses[0]["data"]["status_envio"] == "lida"  # the row as it is now


def test_nudges_of_one_quarter_second_are_one_message_and_its_drain_waits_for_their_rows(stack):
    from chalicelib.services import outbox

    # Same quarter second: one SQS message (the queue drops the duplicates).
    bucket_start = (int(time.time() / outbox.NUDGE_BUCKET_SECONDS) + 1) * outbox.NUDGE_BUCKET_SECONDS
    time.sleep(max(0.0, bucket_start - time.time()) + 0.01)
    assert outbox.nudge() and outbox.nudge() and outbox.nudge()
    assert stack.nudges_waiting() == 1

    # A row committed after the drain found the outbox empty, but within the nudge's quarter
    # second plus grace, is delivered by that same drain.
    conversa = make_conversa()
    received = []

    def late_row():
        time.sleep(0.2)
        from chalicelib.services import live_events

        live_events.conversation_updated(conversa["id"])  # outside a transaction: its row at once

    admin_id = make_admin()
    with stack.browser(admin_id) as ws:
        wait_until(lambda: _connections() == 1)
        writer = threading.Thread(target=late_row)
        writer.start()
        result = stack.pump.poll_once(wait_seconds=0)  # drains until the quarter second + grace
        writer.join()
        received = _received(ws)
    assert result.succeeded == 1
    assert [e["type"] for e in received] == ["conversation:updated"]
    assert _outbox_rows() == []


def test_a_failed_nudge_never_fails_the_request_and_the_window_job_nudges_again(stack, monkeypatch):
    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.services import outbox

    monkeypatch.setenv("LIVE_EVENTS_QUEUE_URL", stack.live_url + "-inexistente")
    reset_settings()
    outbox.reset_client()
    response = stack.webhook.post(wa.envelope(wa.value([wa.text(ANA, "oi")])))
    assert response.status_code == 200
    assert len(_outbox_rows()) == 1 and stack.nudges_waiting() == 0

    monkeypatch.setenv("LIVE_EVENTS_QUEUE_URL", stack.live_url)
    reset_settings()
    assert outbox.renudge_stale() is False  # fresh rows: their nudge may still be on its way
    db.execute("UPDATE outbox SET created_at = now() - interval '2 minutes'")
    assert outbox.renudge_stale() is True
    assert stack.nudges_waiting() == 1


def test_nobody_connected_and_nobody_subscribed_reads_nothing_but_still_empties_the_outbox(stack, monkeypatch):
    from chalicelib.services import live_events, outbox

    def must_not_build(_items):
        raise AssertionError("built events for nobody")

    monkeypatch.setattr(live_events, "build", must_not_build)
    stack.webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    assert outbox.drain()["rows"] == 1
    assert _outbox_rows() == []


def test_a_mention_is_pushed_by_the_drain_to_the_mentioned_attendant_only(stack, monkeypatch):
    from chalicelib.services import outbox, push

    ana, bia = make_admin("Ana"), make_admin("Bia")
    sent = []
    monkeypatch.setattr(push, "send", lambda targets, deadline=None: sent.extend(targets) or {"sent": len(targets)})
    from chalicelib.repositories import push_subscriptions

    push_subscriptions.upsert(ana, "https://fcm.googleapis.com/fcm/send/ana", "p", "a")
    push_subscriptions.upsert(bia, "https://fcm.googleapis.com/fcm/send/bia", "p", "a")
    monkeypatch.setenv("VAPID_PRIVATE_KEY", "configured")
    from chalicelib.config import reset_settings

    reset_settings()
    conversa = make_conversa(atendente_id=bia)
    response = stack.webhook.client.http.post(
        f"/conversas/{conversa['id']}/notas",
        headers={"Authorization": f"Bearer {token_for(bia)}", "Content-Type": "application/json"},
        body=json.dumps({"conteudo": "@Ana pode ligar para ela?"}),
    )
    assert response.status_code in (200, 201), response.body
    assert sent == []  # the request pushes nothing itself

    outbox.drain()

    assert [sub["endpoint"] for sub, _ in sent] == ["https://fcm.googleapis.com/fcm/send/ana"]
    assert sent[0][1]["title"] == "Bia mencionou você"


def test_a_round_cut_by_the_deadline_keeps_its_rows_and_nudges_again(stack, monkeypatch):
    """A slow management API and a drain near its end: what every connection did not get is
    sent again by the next drain (the same ids: the console applies them once)."""
    from chalicelib.services import outbox, realtime

    admin_id = make_admin()
    delay = {"seconds": 0.6}
    _slow_posts(monkeypatch, lambda _connection_id: delay["seconds"])
    monkeypatch.setattr(realtime, "FRAME_MAX_BYTES", 300)  # one event per frame: several posts
    with stack.browser(admin_id) as ws:
        wait_until(lambda: _connections() == 1)
        stack.webhook.deliver(wa.value([wa.text(ANA, "oi")]))
        assert stack.nudges_waiting() == 1
        stack.sqs.purge_queue(QueueUrl=stack.live_url)

        cut = outbox.drain(deadline=time.monotonic() + 0.1)  # a round gets at least 0.5 s

        assert cut["rows"] == 0 and len(_outbox_rows()) == 1
        assert stack.nudges_waiting() == 1  # the next drain is on its way
        first = _received(ws)
        assert 0 < len(first) < 2  # the deadline stopped the posts after the first frame

        delay["seconds"] = 0
        assert outbox.drain()["rows"] == 1
        again = _received(ws)
    assert [e["id"] for e in again][: len(first)] == [e["id"] for e in first]
    assert [e["type"] for e in again] == ["conversation:new", "message:new"]
    assert _outbox_rows() == []
