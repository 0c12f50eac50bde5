"""Web Push: subscriptions API, encrypted delivery to a local push service, gone endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.live_helpers import make_admin, make_conversa, token_for


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed_cert(directory) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = str(directory / "push.crt"), str(directory / "push.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


class PushService:
    """A local HTTPS push service: records what it receives; paths decide the answer."""

    def __init__(self, tmp_path):
        self.received: list[dict] = []
        self.status_by_path: dict[str, int] = {}
        self.delay_by_path: dict[str, float] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(service.delay_by_path.get(self.path, 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                service.received.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(service.status_by_path.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.cert_path, key_path = _self_signed_cert(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def endpoint(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/push/{name}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """A browser's push keys: the subscription it sends us and what it needs to decrypt."""

    def __init__(self, endpoint: str):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.private_key = ec.generate_private_key(ec.SECP256R1())
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.auth = os.urandom(16)
        self.subscription = {"endpoint": endpoint, "keys": {"p256dh": _b64url(public), "auth": _b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        import http_ece

        return json.loads(
            http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        )


@pytest.fixture
def vapid(db_clean, monkeypatch):
    from chalicelib.config import reset_settings
    from chalicelib.services.push import generate_vapid_keys

    public, private = generate_vapid_keys()
    monkeypatch.setenv("VAPID_PUBLIC_KEY", public)
    monkeypatch.setenv("VAPID_PRIVATE_KEY", private)
    monkeypatch.setenv("VAPID_SUBJECT", "mailto:secretaria@escola.com.br")
    reset_settings()
    yield public
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def push_service(vapid, tmp_path, monkeypatch):
    # The first push in a process imports pywebpush (and requests) inside the 2.5 s deadline,
    # about 3 s on a loaded machine: import them here, so that this module's first test does not
    # depend on an earlier module having done it.
    import pywebpush  # noqa: F401

    from chalicelib.config import reset_settings

    service = PushService(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", service.cert_path)  # trust the local service's certificate
    monkeypatch.setenv("PUSH_EXTRA_HOSTS", f"127.0.0.1:{service.port}")  # the setting for more push services
    reset_settings()
    yield service
    service.stop()


def _subscribe(client, admin_id: str, subscription: dict):
    return client.http.post(
        "/push/subscriptions",
        headers={"Authorization": f"Bearer {token_for(admin_id)}", "Content-Type": "application/json"},
        body=json.dumps(subscription),
    )


def test_an_inbound_message_is_pushed_encrypted_to_the_assignee_only(vapid, push_service, client):
    from chalicelib.services import push

    ana, bia = make_admin("Ana"), make_admin("Bia")
    ana_browser, bia_browser = Browser(push_service.endpoint("ana")), Browser(push_service.endpoint("bia"))
    assert _subscribe(client, ana, ana_browser.subscription).status_code == 201
    assert _subscribe(client, bia, bia_browser.subscription).status_code == 201
    conversa = make_conversa(atendente_id=ana)

    result = push.notify_inbound(
        [{"id": "m1", "conversa_id": conversa["id"], "conteudo": "Quero aula de violão!", "tipo": "texto"}]
    )

    assert result["sent"] == 1
    assert [r["path"] for r in push_service.received] == ["/push/ana"]
    request = push_service.received[0]
    assert request["headers"]["content-encoding"] == "aes128gcm"
    assert f"k={vapid}" in request["headers"]["authorization"]  # signed with our VAPID key
    payload = ana_browser.decrypt(request["body"])
    assert payload["body"] == "Quero aula de violão!"
    assert payload["title"] == "Bruna Lima"
    assert payload["conversa_id"] == str(conversa["id"])


def test_an_unassigned_conversation_is_pushed_to_every_admin(push_service, client):
    from chalicelib.services import push

    browsers = {}
    for nome in ("Ana", "Bia", "Caio"):
        browsers[nome] = Browser(push_service.endpoint(nome.lower()))
        assert _subscribe(client, make_admin(nome), browsers[nome].subscription).status_code == 201
    conversa = make_conversa(atendente_id=None)

    push.notify_inbound([{"id": "m1", "conversa_id": conversa["id"], "conteudo": "", "tipo": "media",
                          "media_type": "image"}])  # fmt: skip

    assert sorted(r["path"] for r in push_service.received) == ["/push/ana", "/push/bia", "/push/caio"]
    for request in push_service.received:
        browser = browsers[request["path"].rsplit("/", 1)[1].capitalize()]
        assert browser.decrypt(request["body"])["body"] == "📷 Foto"


def test_without_subscriptions_an_inbound_message_costs_one_query_and_no_wait(db_clean, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib import db
    from chalicelib.services import push

    conversa_id = make_conversa()["id"]
    statements = []
    real_query = db.query
    me = threading.get_ident()  # another test's leftover thread must not count here

    def counting_query(sql, **kw):
        if threading.get_ident() == me:
            statements.append(sql)
        return real_query(sql, **kw)

    monkeypatch.setattr(db, "query", counting_query)

    pools = []  # notify_inbound swallows errors: record, do not raise
    monkeypatch.setattr(push, "ThreadPoolExecutor", lambda *a, **kw: pools.append(a) or ThreadPoolExecutor(*a, **kw))
    result = push.notify_inbound([{"id": "m", "conversa_id": conversa_id, "conteudo": "oi", "tipo": "texto"}])

    assert result == {"sent": 0, "gone": 0, "failed": 0, "timed_out": 0}
    assert len(statements) == 1 and pools == []
    assert push.notify_inbound([{"id": "m", "conversa_id": conversa_id, "direcao": "saida"}])["sent"] == 0
    assert len(statements) == 1  # outbound messages are not pushed: not even the lookup


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_says_is_gone_is_deleted(push_service, client, status):
    from chalicelib import db
    from chalicelib.services import push

    admin = make_admin()
    gone, alive = Browser(push_service.endpoint("gone")), Browser(push_service.endpoint("alive"))
    _subscribe(client, admin, gone.subscription)
    _subscribe(client, admin, alive.subscription)
    push_service.status_by_path["/push/gone"] = status

    result = push.notify_inbound([{"id": "m", "conversa_id": make_conversa()["id"], "conteudo": "oi", "tipo": "texto"}])

    assert result["gone"] == 1 and result["sent"] == 1
    endpoints = [r["endpoint"] for r in db.query("SELECT endpoint FROM push_subscriptions")]
    assert endpoints == [alive.subscription["endpoint"]]


def test_a_slow_push_service_never_holds_the_caller_beyond_the_deadline(push_service, client, monkeypatch):
    from chalicelib.services import push

    monkeypatch.setattr(push, "PUSH_REQUEST_TIMEOUT_SECONDS", 0.8)
    admin = make_admin()
    slow = Browser(push_service.endpoint("slow"))
    _subscribe(client, admin, slow.subscription)
    push_service.delay_by_path["/push/slow"] = 1.5

    started = time.monotonic()
    result = push.notify_inbound(
        [{"id": "m", "conversa_id": make_conversa()["id"], "conteudo": "oi", "tipo": "texto"}], deadline=0.3
    )
    elapsed = time.monotonic() - started

    assert elapsed < 0.7, elapsed
    assert result["timed_out"] == 1 and result["sent"] == 0
    time.sleep(0.7)  # let the abandoned request time out while this test still captures its log


def test_subscriptions_api(vapid, client):
    from chalicelib import db

    admin = make_admin()
    headers = {"Authorization": f"Bearer {token_for(admin)}", "Content-Type": "application/json"}
    key = client.http.get("/push/vapid-public-key", headers=headers)
    assert key.status_code == 200 and json.loads(key.body) == {"public_key": vapid}

    browser = Browser("https://fcm.googleapis.com/fcm/send/abc")
    assert _subscribe(client, admin, browser.subscription).status_code == 201
    # The same endpoint again (new keys) replaces the row instead of adding one.
    again = Browser("https://fcm.googleapis.com/fcm/send/abc")
    assert _subscribe(client, admin, again.subscription).status_code == 201
    rows = db.query("SELECT p256dh FROM push_subscriptions")
    assert [r["p256dh"] for r in rows] == [again.subscription["keys"]["p256dh"]]

    insecure = {**browser.subscription, "endpoint": "http://push.example.com/x"}
    response = _subscribe(client, admin, insecure)
    assert response.status_code == 422 and json.loads(response.body)["field"] == "endpoint"
    bad_keys = {**browser.subscription, "keys": {"p256dh": "abc", "auth": browser.subscription["keys"]["auth"]}}
    response = _subscribe(client, admin, bad_keys)
    assert response.status_code == 422 and json.loads(response.body)["field"] == "keys.p256dh"
    assert client.http.post("/push/subscriptions", body="{}").status_code == 401

    body = json.dumps({"endpoint": browser.subscription["endpoint"]})
    assert client.http.delete("/push/subscriptions", headers=headers, body=body).status_code == 204
    assert db.scalar("SELECT count(*) FROM push_subscriptions") == 0
    assert client.http.delete("/push/subscriptions", headers=headers, body=body).status_code == 404


_KEYS = {"p256dh": Browser("https://fcm.googleapis.com/fcm/send/k").subscription["keys"]["p256dh"], "auth": "A" * 22}
_URL = "https://fcm.googleapis.com/fcm/send/x"
_BAD_SUBSCRIPTIONS = {
    "a list": ([], None),
    "a string": ("https://fcm.googleapis.com/x", None),
    "no endpoint": ({"keys": _KEYS}, "endpoint"),
    "endpoint null": ({"endpoint": None, "keys": _KEYS}, "endpoint"),
    "endpoint a number": ({"endpoint": 42, "keys": _KEYS}, "endpoint"),
    "endpoint a broken url": ({"endpoint": "https://[::1", "keys": _KEYS}, "endpoint"),
    "endpoint without host": ({"endpoint": "https://", "keys": _KEYS}, "endpoint"),
    "keys a string": ({"endpoint": _URL, "keys": "k"}, "keys"),
    "keys a list": ({"endpoint": _URL, "keys": [_KEYS]}, "keys"),
    "p256dh a number": ({"endpoint": _URL, "keys": {**_KEYS, "p256dh": 4}}, "keys.p256dh"),
    "p256dh not ascii": ({"endpoint": _URL, "keys": {**_KEYS, "p256dh": "é" * 87}}, "keys.p256dh"),
    "auth too short": ({"endpoint": _URL, "keys": {**_KEYS, "auth": "AAAA"}}, "keys.auth"),
    "auth null": ({"endpoint": _URL, "keys": {**_KEYS, "auth": None}}, "keys.auth"),
}


@pytest.mark.parametrize("body, field", _BAD_SUBSCRIPTIONS.values(), ids=_BAD_SUBSCRIPTIONS.keys())
def test_a_subscription_body_of_the_wrong_shape_is_a_422_naming_the_field(db_clean, client, body, field):
    from chalicelib import db

    response = _subscribe(client, make_admin(), body)
    assert response.status_code == 422, response.body
    if field is not None:
        assert json.loads(response.body)["field"] == field
    assert db.scalar("SELECT count(*) FROM push_subscriptions") == 0


@pytest.mark.parametrize("body", ["{", "[1, 2]", '{"endpoint": 42}', '{"endpoint": ""}', '"x"'])
def test_an_unsubscribe_body_of_the_wrong_shape_is_a_4xx(db_clean, client, body):
    headers = {"Authorization": f"Bearer {token_for(make_admin())}", "Content-Type": "application/json"}
    response = client.http.delete("/push/subscriptions", headers=headers, body=body)
    assert response.status_code == (400 if body == "{" else 422), response.body


def _post_webhook(client, payload):
    from devstack.payloads import signed

    body, headers = signed(payload)
    return client.http.post("/webhooks/whatsapp", headers=headers, body=body)


def test_a_signed_inbound_webhook_pushes_the_message_preview(push_service, client):
    from devstack import payloads

    browser = Browser(push_service.endpoint("ana"))
    assert _subscribe(client, make_admin("Ana"), browser.subscription).status_code == 201

    response = _post_webhook(
        client, payloads.envelope(payloads.value(messages=[payloads.text("5511987650000", "Tem aula de bateria?")]))
    )

    assert response.status_code == 200
    assert push_service.received == []  # the webhook pushes nothing itself: the drain does

    from chalicelib.services import outbox

    assert outbox.drain()["pushes"] == 1
    assert len(push_service.received) == 1
    assert browser.decrypt(push_service.received[0]["body"])["body"] == "Tem aula de bateria?"


def test_a_slow_push_service_holds_neither_the_webhook_nor_the_drain(push_service, client, monkeypatch):
    from chalicelib.services import outbox, push
    from devstack import payloads

    monkeypatch.setattr(push, "PUSH_DEADLINE_SECONDS", 0.3)
    monkeypatch.setattr(push, "PUSH_REQUEST_TIMEOUT_SECONDS", 0.8)
    _subscribe(client, make_admin("Ana"), Browser(push_service.endpoint("slow")).subscription)
    push_service.delay_by_path["/push/slow"] = 1.5

    started = time.monotonic()
    response = _post_webhook(client, payloads.envelope(payloads.value(messages=[payloads.text("5511987650001", "Oi")])))
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 1.0, elapsed
    started = time.monotonic()
    outbox.drain()
    assert time.monotonic() - started < 1.0  # the drain waits PUSH_DEADLINE_SECONDS, not the service
    # The message was stored before the push was attempted, and a push that timed out keeps it.
    from chalicelib import db

    assert db.scalar("SELECT count(*) FROM mensagens WHERE conteudo = 'Oi' AND direcao = 'entrada'") == 1
    time.sleep(0.7)  # let the abandoned request time out while this test still captures its log


def test_a_gone_answer_arriving_after_the_deadline_is_deleted_by_the_next_send(push_service, client, monkeypatch):
    from chalicelib import db
    from chalicelib.services import push

    monkeypatch.setattr(push, "PUSH_REQUEST_TIMEOUT_SECONDS", 2.0)
    admin = make_admin()
    _subscribe(client, admin, Browser(push_service.endpoint("late-gone")).subscription)
    push_service.delay_by_path["/push/late-gone"] = 0.5
    push_service.status_by_path["/push/late-gone"] = 410
    conversa_id = make_conversa()["id"]

    first = push.notify_inbound([{"id": "m", "conversa_id": conversa_id, "conteudo": "oi", "tipo": "texto"}], 0.1)
    assert first["timed_out"] == 1 and first["gone"] == 0
    assert db.scalar("SELECT count(*) FROM push_subscriptions") == 1  # not known to be gone yet
    time.sleep(0.8)  # the push service has answered 410 by now

    second = push.notify_inbound([{"id": "m2", "conversa_id": conversa_id, "conteudo": "oi", "tipo": "texto"}], 0.1)
    assert second["gone"] == 1
    assert db.scalar("SELECT count(*) FROM push_subscriptions") == 0
    time.sleep(0.6)  # let the second, abandoned request end while this test still captures its log
