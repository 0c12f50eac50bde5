"""`cli simulate` against a real HTTP webhook and the fake Graph API: the conversation arrives."""

from __future__ import annotations

import threading

import pytest

from tests.integration.webhook_support import one, rows

pytestmark = pytest.mark.e2e


def test_simulate_posts_a_conversation_that_arrives_with_fetchable_media(webhook):
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app
    from devstack import simulate
    from devstack.fake_graph import FakeGraph
    from devstack.stack import free_port

    port = free_port()
    server = create_local_server(app, Config(), "127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    lines: list[str] = []
    try:
        with FakeGraph() as graph:
            code = simulate.run(
                url=f"http://127.0.0.1:{port}/webhooks/whatsapp",
                secret="test-app-secret",
                graph_root=graph.root_url,
                pause=0,
                out=lines.append,
            )
            registered = set(graph.state.media)
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert code == 0, lines
    tipos = [
        (r["tipo"], r["media_type"]) for r in rows("SELECT tipo, media_type FROM mensagens ORDER BY created_at, tipo")
    ]
    assert sorted(tipos, key=str) == sorted(
        [("texto", None), ("media", "image"), ("media", "audio"), ("media", "location"), ("reacao", None)], key=str
    )
    assert one("SELECT origem, nome FROM contatos") == {"origem": "anuncio", "nome": "Joana Silva"}
    jobs = webhook.media_jobs()
    assert {j["kind"] for j in jobs} == {"image", "audio"}
    assert {j["whatsapp_media_id"] for j in jobs} <= registered  # the worker will find them
    assert one("SELECT count(*) AS n FROM whatsapp_status_pendentes")["n"] == 3  # no outbound message yet


def test_simulate_username_posts_a_user_with_no_phone_that_arrives(webhook, monkeypatch):
    import requests

    from chalicelib import cli
    from devstack import simulate

    args = cli.build_parser().parse_args(["simulate", "--username"])
    assert (args.username, args.bsuid) == ("joana.violao", None)  # run() takes simulate.DEFAULT_BSUID

    class Answer:
        def __init__(self, response):
            self.status_code = response.status_code

    def post(url, data=None, headers=None, **_):
        if "/_fake/media" in url:  # no fake Graph here: the media rows still arrive
            raise requests.ConnectionError("no fake Graph")
        return Answer(webhook.post_bytes(data, headers))  # the webhook through the app, as over HTTP

    monkeypatch.setattr(requests, "post", post)
    lines: list[str] = []
    code = simulate.run(secret="test-app-secret", pause=0, out=lines.append, username=args.username)
    assert code == 0, lines
    contato = one("SELECT telefone, wa_id, bsuid, username, nome, origem FROM contatos")
    assert contato == {
        "telefone": None,
        "wa_id": None,
        "bsuid": simulate.DEFAULT_BSUID,
        "username": "joana.violao",
        "nome": "Joana Silva",
        "origem": "anuncio",
    }
    assert one("SELECT count(*) AS n FROM mensagens")["n"] == 5
    pendentes = rows("SELECT payload FROM whatsapp_status_pendentes")
    assert len(pendentes) == 3 and all("recipient_id" not in p["payload"] for p in pendentes)
    assert {p["payload"]["recipient_user_id"] for p in pendentes} == {simulate.DEFAULT_BSUID}
