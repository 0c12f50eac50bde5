# ruff: noqa: F811 - the `webhook` fixture is imported from webhook_support
"""`cli simulate` against a real HTTP webhook and the fake Graph API: the conversation arrives."""

from __future__ import annotations

import threading

from tests.integration.webhook_support import one, rows, webhook  # noqa: F401


def test_simulate_posts_a_conversation_that_arrives_with_fetchable_media(webhook):
    from chalice.config import Config
    from chalice.local import create_local_server

    from app import app
    from chalicelib.local import simulate
    from chalicelib.local.fake_graph import FakeGraph
    from chalicelib.local.stack import free_port

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
