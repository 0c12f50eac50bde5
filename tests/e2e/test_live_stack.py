"""Live updates end to end on the local stack: a real WebSocket client sees the inbox move."""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.stack_support import running_stack

pytestmark = pytest.mark.e2e

WA_ID = "5511987654321"


@pytest.fixture(scope="module")
def stack(database_url):
    from chalicelib import db

    os.environ["DATABASE_URL"] = database_url  # the session's database (already exported by its fixture)
    db.close()
    db.execute("TRUNCATE administradores, contatos, templates, ws_conexoes, push_subscriptions CASCADE")
    with running_stack() as running:
        yield running


def _component(stack, class_name: str):
    return next(c for c in stack.components if type(c).__name__ == class_name)


def _token() -> str:
    import uuid

    from chalicelib.repositories import administradores
    from chalicelib.services.auth import issue_token

    admin = administradores.create("Ana", f"ana-{uuid.uuid4().hex[:6]}@escola.com.br", "x" * 20)
    return issue_token(admin["id"])[0]


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _post_webhook(stack, payload) -> None:
    from devstack.payloads import signed

    body, headers = signed(payload)
    request = urllib.request.Request(f"{stack.api_url}/webhooks/whatsapp", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def _api(stack, method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{stack.api_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _next_event(ws, wanted, timeout: float = 20.0) -> dict:
    """The first event matching `wanted` (others, e.g. conversation:new, are skipped)."""
    from tests.live_capture import unwrap

    # A frame is a drain round's batch: the events after the match wait for the next call.
    pending = ws.__dict__.setdefault("pending_events", [])
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        while pending:
            event = pending.pop(0)
            if wanted(event):
                return event
            seen.append(event["type"])
        if time.monotonic() >= deadline:
            break
        try:
            pending.extend(unwrap(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
        except TimeoutError:
            break
    raise AssertionError(f"no matching event within {timeout} s; saw {seen}")


def test_a_browser_sees_the_photo_arrive_get_its_thumbnail_and_the_reply_get_delivered(stack):
    from devstack import payloads

    graph = _component(stack, "FakeWhatsAppComponent").graph
    media = graph.add_media(_jpeg(), "image/jpeg")
    token = _token()
    gateway = _component(stack, "WebSocketGatewayComponent").gateway

    with connect(f"{gateway.url}/?token={token}") as ws:
        photo = payloads.image(WA_ID, caption="Minha partitura", media_id=media.media_id, sha256=media.sha256_b64)
        _post_webhook(stack, payloads.envelope(payloads.value(messages=[photo])))

        new = _next_event(ws, lambda e: e["type"] == "message:new")
        mensagem = new["data"]["mensagem"]
        assert mensagem["whatsapp_id"] == photo["id"]
        assert mensagem["conteudo"] == "Minha partitura"
        conversa_id = new["data"]["conversa_id"]

        updated = _next_event(
            ws, lambda e: e["type"] == "message:updated" and e["data"]["mensagem"]["id"] == mensagem["id"]
        )
        assert updated["data"]["mensagem"]["thumbnail_url"], updated
        assert updated["data"]["conversa_id"] == conversa_id

        sent = _api(
            stack, "POST", f"/conversas/{conversa_id}/mensagens", token, {"tipo": "texto", "conteudo": "Linda!"}
        )
        wamid = sent.get("whatsapp_id") or sent["mensagem"]["whatsapp_id"]
        _post_webhook(stack, payloads.envelope(payloads.value(statuses=[payloads.status(wamid, "delivered", WA_ID)])))

        status = _next_event(ws, lambda e: e["type"] == "message:status" and e["data"]["status_envio"] == "entregue")
        assert status["data"]["whatsapp_id"] == wamid
        assert status["data"]["conversa_id"] == conversa_id


def test_a_bad_token_is_refused(stack):
    gateway = _component(stack, "WebSocketGatewayComponent").gateway
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.url}/?token=not-a-session-token", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_a_dropped_clients_connection_is_removed_on_the_next_publish(stack):
    from chalicelib import db
    from chalicelib.repositories import ws_conexoes
    from devstack import payloads

    gateway = _component(stack, "WebSocketGatewayComponent").gateway
    token = _token()
    with connect(f"{gateway.url}/?token={token}") as alive, connect(f"{gateway.url}/?token={token}"):
        dropped = gateway.invocations[-1]["requestContext"]["connectionId"]
        assert ws_conexoes.exists(dropped)
        gateway.drop(dropped)  # gone without a $disconnect reaching the app
        # Past the grace a connection still opening gets (realtime.CONNECT_GRACE_SECONDS).
        db.execute("UPDATE ws_conexoes SET created_at = now() - interval '1 minute'")

        _post_webhook(stack, payloads.envelope(payloads.value(messages=[payloads.text(WA_ID, "Oi de novo")])))

        assert _next_event(alive, lambda e: e["type"] == "message:new")["data"]["mensagem"]["conteudo"] == "Oi de novo"
        assert not ws_conexoes.exists(dropped)


def test_a_browser_sees_the_simulated_conversation_arrive_live(stack):
    """`python -m chalicelib.cli simulate` against the running stack: the inbox moves live."""
    from devstack import simulate

    graph = _component(stack, "FakeWhatsAppComponent").graph
    gateway = _component(stack, "WebSocketGatewayComponent").gateway
    sender = "5511976543210"  # a new customer: their conversation is new

    with connect(f"{gateway.url}/?token={_token()}") as ws:
        lines: list[str] = []
        code = simulate.run(
            url=f"{stack.api_url}/webhooks/whatsapp", sender=sender, name="Joana Silva",
            graph_root=graph.root_url, pause=0, out=lines.append,
        )  # fmt: skip
        assert code == 0, lines

        new = _next_event(ws, lambda e: e["type"] == "conversation:new")
        assert new["data"]["conversa"]["contato"]["telefone"] == f"+{sender}"
        assert new["data"]["conversa"]["contato"]["nome"] == "Joana Silva"
        conversa_id = new["data"]["conversa"]["id"]
        first = _next_event(ws, lambda e: e["type"] == "message:new")
        assert first["data"]["conversa_id"] == conversa_id
        assert first["data"]["mensagem"]["conteudo"].startswith("Olá! Vi o anúncio")
        photo = _next_event(
            ws,
            lambda e: (
                e["type"] == "message:updated"
                and e["data"]["conversa_id"] == conversa_id
                and e["data"]["mensagem"]["media_type"] == "image"
            ),
        )
        assert photo["data"]["mensagem"]["thumbnail_url"]
