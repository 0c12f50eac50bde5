"""Fixtures and builders shared by the media integration tests (tests/integration/test_media_*.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest

BUCKET = "crm-inbox-media-test"


@dataclass
class MediaEnv:
    graph: Any
    s3: Any
    bucket: str
    published: list[tuple[str, dict]] = field(default_factory=list)

    def objects(self, prefix: str = "media/") -> dict[str, int]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"]: item["Size"] for item in listing.get("Contents", [])}

    def get(self, key: str) -> dict[str, Any]:
        return self.s3.get_object(Bucket=self.bucket, Key=key)

    def graph_requests(self, media_id: str) -> list[str]:
        return [path for _, path in self.graph.requests if media_id in path]


def reset_clients() -> None:
    from chalicelib.config import reset_settings
    from chalicelib.services import media_jobs, media_urls
    from chalicelib.whatsapp.graph import reset_graph_client

    reset_settings()
    reset_graph_client()
    media_urls.reset_clients()
    media_jobs.reset_client()


@pytest.fixture
def media_env(db_clean, monkeypatch):
    """PostgreSQL (empty), S3 and SQS in moto, the fake Graph API, publish recorded."""
    import boto3
    from moto import mock_aws

    from devstack.fake_graph import FakeGraph
    from tests.live_capture import capture_live_events

    with mock_aws(), FakeGraph() as graph:
        monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
        monkeypatch.setenv("WHATSAPP_GRAPH_URL", graph.base_url)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        reset_clients()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        env = MediaEnv(graph=graph, s3=s3, bucket=BUCKET)
        capture_live_events(monkeypatch, env.published)
        yield env
    monkeypatch.undo()
    reset_clients()


@pytest.fixture
def moto_http(monkeypatch):
    """moto's threaded server on a free port (real HTTP), AWS_ENDPOINT_URL pointing at it, and
    the media bucket created there."""
    import boto3

    from devstack.aws import start_moto_server
    from devstack.stack import free_port

    port = free_port()
    server = start_moto_server("127.0.0.1", port)
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    reset_clients()
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    monkeypatch.undo()
    reset_clients()


def new_mensagem(media_type: str = "image", dados: dict | None = None) -> str:
    """A contact, an open conversation and an inbound media message, as the webhook stores them."""
    from chalicelib import db

    telefone = "+55119" + "".join(secrets.choice("0123456789") for _ in range(8))
    contato_id = db.scalar("INSERT INTO contatos (telefone) VALUES (:t) RETURNING id", t=telefone)
    conversa_id = db.scalar("INSERT INTO conversas (contato_id) VALUES (:c) RETURNING id", c=contato_id)
    mensagem_id = db.scalar(
        """
        INSERT INTO mensagens (conversa_id, direcao, tipo, status_envio, media_type, whatsapp_id, dados)
        VALUES (:c, 'entrada', 'media', 'recebida', CAST(:mt AS media_type), :w, CAST(:dados AS jsonb))
        RETURNING id
        """,
        c=conversa_id,
        mt=media_type,
        w="wamid." + secrets.token_hex(12),
        dados=json.dumps(dados or {}),
    )
    return str(mensagem_id)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def job_for(graph, data: bytes | None, mime_type: str, kind: str, **kwargs):
    """Register `data` with the fake Graph API, create its message, and build the queue job."""
    from chalicelib.services.media_jobs import MediaJob

    path = kwargs.pop("path", None)
    lie = {k: kwargs.pop(k) for k in ("file_size", "sha256_hex") if k in kwargs}
    media = graph.add_media(data, mime_type, path=path, filename=kwargs.get("filename"), **lie)
    media_type = {"sticker": "image"}.get(kind, kind)
    sha = kwargs.pop("sha256", media.sha256_b64)
    # The webhook keeps WhatsApp's media object in dados.media; the worker must not touch it.
    mensagem_id = new_mensagem(media_type, {"media": {"id": media.media_id, "mime_type": mime_type, "sha256": sha}})
    return MediaJob(
        mensagem_id=mensagem_id,
        whatsapp_media_id=media.media_id,
        kind=kind,
        mime_type=mime_type,
        sha256=sha,
        **kwargs,
    )


def mensagem(mensagem_id: str) -> dict[str, Any]:
    from chalicelib import db

    row = db.query_one("SELECT * FROM mensagens WHERE id = CAST(:id AS uuid)", id=mensagem_id)
    assert row is not None
    if isinstance(row.get("dados"), str):
        row["dados"] = json.loads(row["dados"])
    return row


def media_rows(mensagem_id: str | None = None) -> list[dict[str, Any]]:
    from chalicelib import db

    if mensagem_id is None:
        return db.query("SELECT * FROM media_files")
    return db.query("SELECT * FROM media_files WHERE mensagem_id = CAST(:id AS uuid)", id=mensagem_id)


def sqs_event(jobs, ids: list[str] | None = None) -> dict[str, Any]:
    """Lambda's SQS event for these jobs (the shape the queue pump also builds)."""
    ids = ids or [f"msg-{i}" for i in range(len(jobs))]
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"rh-{message_id}",
                "body": job.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:crm-inbox-test-media",
                "awsRegion": "us-east-1",
            }
            for message_id, job in zip(ids, jobs, strict=True)
        ]
    }
