"""Outbound requests only where they belong (issue 16 §2): push endpoints only on the push
services' hosts, media downloads only from Meta's media hosts, no redirects followed, the
WhatsApp token never sent anywhere else. A local HTTPS server stands in for the attacker."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib import db
from tests.integration.live_helpers import make_admin, make_conversa, token_for
from tests.integration.test_live_push import Browser, _self_signed_cert


class Attacker:
    """An HTTPS server on 127.0.0.1 that records every request (and its headers) and answers
    `redirect_to` with a 302 when set; `internal` is a plain-HTTP server that must stay untouched."""

    def __init__(self, tmp_path):
        self.requests: list[dict] = []
        self.internal_hits: list[str] = []
        self.redirect_to: str | None = None
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                attacker.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
                )
                if attacker.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", attacker.redirect_to)
                else:
                    self.send_response(404)  # "gone": the oracle answer
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

        class Internal(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                attacker.internal_hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

        self.cert_path, key_path = _self_signed_cert(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.internal = ThreadingHTTPServer(("127.0.0.1", 0), Internal)
        self.internal.daemon_threads = True
        self.internal_url = f"http://127.0.0.1:{self.internal.server_address[1]}/latest/meta-data/"
        for server in (self.server, self.internal):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str = "/x") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def stop(self):
        for server in (self.server, self.internal):
            server.shutdown()
            server.server_close()


@pytest.fixture
def attacker(tmp_path, monkeypatch):
    a = Attacker(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", a.cert_path)  # its certificate is trusted: only policy stops it
    yield a
    a.stop()


def _vapid(monkeypatch, **env):
    from chalicelib.config import reset_settings
    from chalicelib.services.push import generate_vapid_keys

    public, private = generate_vapid_keys()
    monkeypatch.setenv("VAPID_PUBLIC_KEY", public)
    monkeypatch.setenv("VAPID_PRIVATE_KEY", private)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()


def _subscribe(client, admin_id, endpoint):
    return client.http.post(
        "/push/subscriptions",
        headers={"Authorization": f"Bearer {token_for(admin_id)}", "Content-Type": "application/json"},
        body=json.dumps(Browser(endpoint).subscription),
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/push",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/x",
        "https://[::1]/x",
        "https://user:pass@fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com:8443/fcm/send/abc",
        "https://fcm.googleapis.com.evil.example/fcm/send/abc",
        "https://evil.example/push",
        "http://fcm.googleapis.com/fcm/send/abc",
    ],
)
def test_a_push_endpoint_off_the_push_services_is_refused(db_clean, client, monkeypatch, endpoint):
    _vapid(monkeypatch)
    r = _subscribe(client, make_admin(), endpoint)
    assert r.status_code == 422, (endpoint, r.body)
    assert json.loads(r.body)["field"] == "endpoint"
    assert db.scalar("SELECT count(*) FROM push_subscriptions") == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://web.push.apple.com/QGx",
        "https://wns2-by3p.notify.windows.com/w/?token=AwY",
    ],
)
def test_the_known_push_services_are_accepted(db_clean, client, monkeypatch, endpoint):
    _vapid(monkeypatch)
    assert _subscribe(client, make_admin(), endpoint).status_code == 201


def test_a_stored_endpoint_off_the_push_services_is_never_called_and_is_dropped(db_clean, attacker, monkeypatch):
    """Rows stored before the check existed: the fan-out checks again and drops them."""
    from chalicelib.repositories import push_subscriptions
    from chalicelib.services import push

    _vapid(monkeypatch)
    admin_id = make_admin()
    browser = Browser(attacker.url("/push"))
    push_subscriptions.upsert(admin_id, browser.subscription["endpoint"], **browser.subscription["keys"])
    conversa = make_conversa(atendente_id=admin_id)
    push.notify_inbound([{"id": "m1", "conversa_id": conversa["id"], "conteudo": "Oi", "tipo": "texto"}])
    assert attacker.requests == []
    assert db.scalar("SELECT count(*) FROM push_subscriptions") == 0


def test_the_push_fan_out_follows_no_redirect(db_clean, attacker, monkeypatch):
    from chalicelib.repositories import push_subscriptions
    from chalicelib.services import push

    # The attacker's host is allowed here only to reach the redirect: the setting for more hosts.
    _vapid(monkeypatch, PUSH_EXTRA_HOSTS=f"127.0.0.1:{attacker.port}")
    attacker.redirect_to = attacker.internal_url
    admin_id = make_admin()
    browser = Browser(attacker.url("/push"))
    push_subscriptions.upsert(admin_id, browser.subscription["endpoint"], **browser.subscription["keys"])
    conversa = make_conversa(atendente_id=admin_id)
    result = push.notify_inbound([{"id": "m1", "conversa_id": conversa["id"], "conteudo": "Oi", "tipo": "texto"}])
    assert len(attacker.requests) == 1
    assert attacker.internal_hits == []
    assert result["failed"] == 1


def test_an_attendant_keeps_only_a_handful_of_subscriptions_the_oldest_replaced(db_clean, client, monkeypatch):
    from chalicelib.services.push import MAX_SUBSCRIPTIONS_PER_ADMIN

    _vapid(monkeypatch)
    admin_id = make_admin()
    other = make_admin("Bia")
    assert _subscribe(client, other, "https://fcm.googleapis.com/fcm/send/other").status_code == 201
    for i in range(MAX_SUBSCRIPTIONS_PER_ADMIN + 3):
        assert _subscribe(client, admin_id, f"https://fcm.googleapis.com/fcm/send/{i}").status_code == 201
    kept = [
        r["endpoint"].rsplit("/", 1)[1]
        for r in db.query("SELECT endpoint FROM push_subscriptions WHERE admin_id = :a ORDER BY created_at", a=admin_id)
    ]
    assert kept == [str(i) for i in range(3, MAX_SUBSCRIPTIONS_PER_ADMIN + 3)]
    assert db.scalar("SELECT count(*) FROM push_subscriptions WHERE admin_id = :a", a=other) == 1


def test_one_webhook_pushes_to_a_bounded_number_of_subscriptions(db_clean, monkeypatch):
    """Bounded work: even with rows beyond the per-attendant cap (stored before it), one call
    sends at most MAX_PUSHES_PER_CALL."""
    from chalicelib.services import push

    sent = []
    monkeypatch.setattr(push, "_send_one", lambda sub, *a: sent.append(sub["endpoint"]) or 201)
    _vapid(monkeypatch)
    admins = [make_admin(f"A{i}") for i in range(5)]
    for i in range(push.MAX_PUSHES_PER_CALL * 2):
        db.execute(
            "INSERT INTO push_subscriptions (admin_id, endpoint, p256dh, auth) VALUES (:a, :e, 'x', 'y')",
            a=admins[i % 5],
            e=f"https://fcm.googleapis.com/fcm/send/{i}",
        )
    conversa = make_conversa()  # unassigned: every attendant's browsers
    push.notify_inbound([{"id": "m1", "conversa_id": conversa["id"], "conteudo": "Oi", "tipo": "texto"}])
    assert len(sent) == push.MAX_PUSHES_PER_CALL


# --- media downloads ------------------------------------------------------------------------


def _graph_answering(media_env, monkeypatch, url: str):
    from chalicelib.whatsapp.graph import get_graph_client

    graph = get_graph_client()
    real = graph.get_media

    def get_media(media_id, timeout=None):
        meta = real(media_id, timeout=timeout)
        return {**meta, "url": url}

    monkeypatch.setattr(graph, "get_media", get_media)
    return graph


@pytest.mark.parametrize("path", ["/media", "/latest/meta-data/"])
def test_media_is_never_downloaded_from_a_host_that_is_not_metas(media_env, attacker, monkeypatch, path):
    from chalicelib.services import media
    from tests.integration.media_support import job_for, mensagem

    job = job_for(media_env.graph, b"\xff\xd8\xff" + b"x" * 100, "image/jpeg", "image")
    graph = _graph_answering(media_env, monkeypatch, attacker.url(path))
    outcome = media.process_job(job, graph=graph)
    assert attacker.requests == []  # neither the request nor, above all, the access token
    assert outcome.status != "stored"
    assert mensagem(job.mensagem_id)["dados"]["media_error"]["code"] == "url_nao_permitida"


def test_media_downloads_follow_no_redirect(media_env, attacker, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.services import media
    from tests.integration.media_support import job_for, mensagem

    monkeypatch.setenv("MEDIA_DOWNLOAD_HOSTS", f"127.0.0.1:{attacker.port}")
    reset_settings()
    attacker.redirect_to = attacker.internal_url
    job = job_for(media_env.graph, b"\xff\xd8\xff" + b"x" * 100, "image/jpeg", "image")
    graph = _graph_answering(media_env, monkeypatch, attacker.url("/media"))
    outcome = media.process_job(job, graph=graph)
    assert len(attacker.requests) == 1
    assert attacker.internal_hits == []
    assert outcome.status != "stored"
    assert mensagem(job.mensagem_id)["dados"]["media_error"]["code"] == "url_nao_permitida"
