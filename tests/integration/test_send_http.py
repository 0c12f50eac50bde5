"""The sending routes over Chalice's test client: auth, headers, the browser's upload flow."""

from __future__ import annotations

import json
import socket

import pytest
from chalice.test import Client

from tests.integration import send_support
from tests.integration.send_support import (
    make_admin,
    make_conversa,
    mensagens,
    ogg_opus,
)

# Fixtures shared by the sending tests.
events = send_support.events
graph = send_support.graph


@pytest.fixture
def client():
    from app import app

    with Client(app) as test_client:
        yield test_client


def bearer(admin_id: str) -> dict[str, str]:
    from chalicelib.services.auth import issue_token

    token, _ = issue_token(admin_id)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(client, path: str, body, headers: dict[str, str]):
    return client.http.post(path, body=json.dumps(body), headers=headers)


def test_send_text_answers_201_with_the_message(db_clean, graph, events, client):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=None)
    response = post(client, f"/conversas/{conversa_id}/mensagens", {"tipo": "texto", "conteudo": "Olá!"}, bearer(admin))
    assert response.status_code == 201
    body = response.json_body
    assert body["mensagem"]["status_envio"] == "enviada"
    assert body["mensagem"]["enviado_por"] == admin
    assert body["atribuida"] is True
    assert len(graph.sent_messages) == 1


def test_routes_need_a_token(db_clean, client):
    conversa_id = make_conversa()
    body = json.dumps({"tipo": "texto", "conteudo": "x"})
    assert client.http.post(f"/conversas/{conversa_id}/mensagens", body=body).status_code == 401
    bad = {"Authorization": "Bearer nope", "Content-Type": "application/json"}
    assert client.http.post(f"/conversas/{conversa_id}/mensagens", body=body, headers=bad).status_code == 401
    assert client.http.post("/media/uploads", body="{}", headers=bad).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tipo": "audio", "conteudo": "x"}, None),
        ({"tipo": "texto", "conteudo": ""}, "texto.conteudo"),
        ({"tipo": "texto", "conteudo": "x" * 4097}, "texto.conteudo"),
        ({"tipo": "media", "media_type": "image", "mime_type": "image/jpeg"}, "media"),
        ({"tipo": "template", "name": "x"}, "template.language"),
        ({"tipo": "texto", "conteudo": "x", "extra": 1}, "texto.extra"),
    ],
)
def test_invalid_bodies_are_422(db_clean, client, body, field):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    response = post(client, f"/conversas/{conversa_id}/mensagens", body, bearer(admin))
    assert response.status_code == 422
    assert response.json_body["Code"] == "ValidationError"
    if field:
        assert response.json_body["field"] == field
    assert mensagens(conversa_id) == []


def test_idempotency_key_header_replays_the_first_answer(db_clean, graph, events, client):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    headers = {**bearer(admin), "Idempotency-Key": "4f7d-retry"}
    first = post(client, f"/conversas/{conversa_id}/mensagens", {"tipo": "texto", "conteudo": "Oi"}, headers)
    second = post(client, f"/conversas/{conversa_id}/mensagens", {"tipo": "texto", "conteudo": "Oi"}, headers)
    assert first.status_code == second.status_code == 201
    assert first.json_body == second.json_body
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(graph.sent_messages) == 1


def test_rate_limit_answers_429_with_retry_after_header(db_clean, graph, events, client):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    graph.fail("messages", code=131056)
    response = post(client, f"/conversas/{conversa_id}/mensagens", {"tipo": "texto", "conteudo": "Oi"}, bearer(admin))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "6"
    assert response.json_body["Code"] == "RateLimited"


def test_assigned_to_other_over_http(db_clean, graph, events, client):
    dono, outro = make_admin("Dono"), make_admin("Outro")
    conversa_id = make_conversa(atendente_id=dono)
    response = post(client, f"/conversas/{conversa_id}/mensagens", {"tipo": "texto", "conteudo": "Oi"}, bearer(outro))
    assert response.status_code == 409
    assert response.json_body["Code"] == "AssignedToOther"
    assert response.json_body["atendente"]["nome"] == "Dono"


# Uploads ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def moto_s3(monkeypatch):
    """A real HTTP S3 (moto server): the browser's PUT goes to the presigned URL for real."""
    from chalicelib.config import reset_settings
    from chalicelib.services.media_urls import s3_client
    from devstack.aws import start_moto_server

    port = _free_port()
    server = start_moto_server("127.0.0.1", port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MEDIA_BUCKET", "crm-inbox-media-http")
    reset_settings()
    s3_client().create_bucket(Bucket="crm-inbox-media-http")
    yield s3_client()
    server.stop()
    reset_settings()


def test_browser_uploads_through_the_presigned_put_then_sends(db_clean, graph, events, client, moto_s3):
    import requests

    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    pedido = {"media_type": "audio", "mime_type": "audio/ogg; codecs=opus", "size": 4000, "voz": True}

    upload = post(client, "/media/uploads", pedido, bearer(admin))

    assert upload.status_code == 201
    slot = upload.json_body
    assert slot["method"] == "PUT" and slot["expires_in"] == 300
    assert slot["key"] == f"uploads/{admin}/{slot['upload_id']}"
    assert "X-Amz-Expires=300" in slot["url"]
    put = requests.put(slot["url"], data=ogg_opus(4000), headers=slot["headers"], timeout=5)
    assert put.status_code == 200

    body = {"tipo": "media", "upload_id": slot["upload_id"], "media_type": "audio", "mime_type": pedido["mime_type"]}
    sent = post(client, f"/conversas/{conversa_id}/mensagens", {**body, "voz": True}, bearer(admin))

    assert sent.status_code == 201, sent.json_body
    assert graph.uploads[0]["size"] == 4000
    assert graph.sent_messages[0]["audio"] == {"id": graph.uploads[0]["id"]}


@pytest.mark.parametrize(
    ("pedido", "field"),
    [
        ({"media_type": "image", "mime_type": "image/jpeg", "size": 5 * 1024 * 1024 + 1}, "size"),
        ({"media_type": "image", "mime_type": "image/gif", "size": 10}, "mime_type"),
        ({"media_type": "audio", "mime_type": "audio/ogg", "size": 10}, "mime_type"),
        ({"media_type": "audio", "mime_type": "audio/mpeg", "size": 10, "voz": True}, "mime_type"),
        ({"media_type": "document", "mime_type": "application/x-msdownload", "size": 10}, "mime_type"),
        ({"media_type": "video", "mime_type": "video/mp4", "size": 0}, "size"),
    ],
)
def test_upload_limits(db_clean, client, moto_s3, pedido, field):
    admin = make_admin()
    response = post(client, "/media/uploads", pedido, bearer(admin))
    assert response.status_code == 422
    assert response.json_body["field"] == field


def test_document_upload_allows_100_mb(db_clean, client, moto_s3):
    admin = make_admin()
    pedido = {"media_type": "document", "mime_type": "application/pdf", "size": 100 * 1024 * 1024}
    assert post(client, "/media/uploads", pedido, bearer(admin)).status_code == 201
