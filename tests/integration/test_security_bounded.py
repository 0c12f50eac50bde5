"""Bounded work per request (issue 16 §4): no hidden retries towards the WebSocket management
API, and a total deadline for one publish."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class SlowManagementApi:
    """Answers every post_to_connection with `status` after `delay` seconds; counts them."""

    def __init__(self, status: int = 503, delay: float = 0.0):
        self.posts: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.posts.append(self.path)
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def management(monkeypatch, db_clean):
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime

    apis = []

    def start(**kwargs):
        api = SlowManagementApi(**kwargs)
        apis.append(api)
        monkeypatch.setenv("WS_MANAGEMENT_URL", api.url)
        reset_settings()
        realtime.reset_client()
        return api

    yield start
    for api in apis:
        api.stop()
    monkeypatch.delenv("WS_MANAGEMENT_URL", raising=False)
    reset_settings()
    realtime.reset_client()


def test_a_failing_management_api_is_called_once_per_post(management):
    from chalicelib.services import realtime

    api = management(status=503)
    realtime.send_to_connections(["c1"], [b"{}"])
    time.sleep(0.2)
    assert len(api.posts) == 1  # botocore's legacy mode retried once despite max_attempts 1


def test_one_publish_stops_starting_sends_at_its_deadline(management, monkeypatch):
    from chalicelib.services import realtime

    monkeypatch.setattr(realtime, "MAX_PARALLEL_SENDS", 1)
    monkeypatch.setattr(realtime, "PUBLISH_DEADLINE_SECONDS", 0.5)
    api = management(status=200, delay=0.3)
    started = time.monotonic()
    counts = realtime.send_to_connections([f"c{i}" for i in range(10)], [b"{}"])
    assert time.monotonic() - started < 1.5
    assert counts["skipped"] >= 7
    assert len(api.posts) <= 3


# --- the LGPD export, bounded in bytes ------------------------------------------------------


def test_the_export_is_bounded_in_bytes_and_pages_through_the_rest(env, monkeypatch):
    import json

    from chalicelib import db
    from chalicelib.services import lgpd
    from tests.integration.api_support import body, make_contato, make_conversa

    monkeypatch.setattr(lgpd, "MAX_EXPORT_BYTES", 400_000)
    contato = make_contato("+5511988887777", "Maria")
    conversa = make_conversa(contato)
    # 150 messages of 8 KB each: 1.2 MB, three times the page budget.
    db.execute(
        "INSERT INTO mensagens (conversa_id, conteudo, direcao, tipo, status_envio, created_at)"
        " SELECT :c, repeat('x', 8000) || g, 'entrada', 'texto', 'recebida', now() - make_interval(secs => 200 - g)"
        " FROM generate_series(1, 150) g",
        c=contato and conversa["id"],
    )
    seen, cursor, pages = [], None, 0
    while True:
        path = f"/contatos/{contato['id']}/export" + (f"?cursor={cursor}" if cursor else "")
        r = env.get(path)
        assert r.status_code == 200, r.body
        assert len(r.body) <= 400_000 + 20_000  # the budget, plus one message's worth at most
        doc = body(r)
        pages += 1
        seen += [m["conteudo"] for c in doc["conversas"] for m in c["mensagens"]]
        cursor = doc["next_cursor"]
        assert doc["truncado"] is (cursor is not None)
        if cursor is None:
            break
        assert pages < 10
    assert pages >= 3
    assert seen == ["x" * 8000 + str(g) for g in range(1, 151)]
    assert json.loads(json.dumps(doc))["contato"]["telefone"] == "+5511988887777"
