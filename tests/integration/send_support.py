"""Builders and fixtures for the sending tests (test_send_*): rows by SQL, fake Graph, moto S3."""

from __future__ import annotations

import json
import struct
import uuid
from typing import Any

import pytest

from chalicelib import db

BUCKET = "crm-inbox-media-test"


# Fixtures -----------------------------------------------------------------------------------
_shared_graph = None


def _graph_server():
    """One fake Graph server for every sending test (stopping one costs 0.5 s)."""
    global _shared_graph
    if _shared_graph is None:
        from devstack.fake_graph import FakeGraph

        _shared_graph = FakeGraph().start()
    return _shared_graph


@pytest.fixture
def graph(monkeypatch):
    """The fake Graph API, emptied, with the app's client pointed at it (1 s timeouts)."""
    from chalicelib.config import reset_settings
    from chalicelib.whatsapp import graph as graph_module

    fake = _graph_server()
    fake.clear_faults()
    with fake.state.lock:
        fake.state.sent_messages.clear()
        fake.state.read_receipts.clear()
        fake.state.uploads.clear()
        fake.state.requests.clear()
    monkeypatch.setenv("WHATSAPP_GRAPH_URL", fake.base_url)
    reset_settings()
    graph_module.reset_graph_client()
    graph_module.get_graph_client().timeout = (1.0, 1.0)
    yield fake
    graph_module.reset_graph_client()
    reset_settings()


@pytest.fixture
def s3(monkeypatch):
    """moto S3 in-process with the media bucket."""
    from moto import mock_aws

    from chalicelib.config import reset_settings
    from chalicelib.services.media_urls import reset_clients, s3_client

    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    reset_settings()
    # A client cached by an earlier test (made before moto was imported) would bypass the mock
    # and talk to real AWS: every test gets a fresh one inside mock_aws, and leaves none behind.
    reset_clients()
    with mock_aws():
        client = s3_client()
        client.create_bucket(Bucket=BUCKET)
        yield client
    reset_clients()
    reset_settings()


@pytest.fixture
def events(monkeypatch):
    """Every live event published, in order."""
    from tests.live_capture import capture_live_events

    return capture_live_events(monkeypatch)


# Builders -----------------------------------------------------------------------------------
def make_admin(nome: str = "Ana") -> str:
    email = f"{nome.lower()}-{uuid.uuid4().hex[:8]}@escola.com.br"
    return str(
        db.scalar(
            "INSERT INTO administradores (nome, email, senha_hash) VALUES (:nome, :email, 'x') RETURNING id",
            nome=nome,
            email=email,
        )
    )


def make_conversa(
    window_seconds: float | None = 3600,
    atendente_id: str | None = None,
    telefone: str | None = None,
    wa_id: str | None = "5511987654321",
    opt_in_status: bool = False,
    opt_in_at: bool = False,
) -> str:
    """A contact and its ativa conversation whose window closes `window_seconds` from now()."""
    telefone = telefone or f"+55119{uuid.uuid4().int % 10**8:08d}"
    contato_id = db.scalar(
        "INSERT INTO contatos (telefone, wa_id, nome, opt_in_status, opt_in_at)"
        " VALUES (:telefone, :wa_id, 'Cliente', :opt_in_status, CASE WHEN :opt_in_at THEN now() END) RETURNING id",
        telefone=telefone,
        wa_id=wa_id,
        opt_in_status=opt_in_status,
        opt_in_at=opt_in_at,
    )
    return str(
        db.scalar(
            "INSERT INTO conversas (contato_id, atendente_id, atribuida_em, window_expires_at)"
            " VALUES (:contato_id, CAST(:atendente_id AS uuid), CASE WHEN :atendente_id IS NOT NULL THEN now() END,"
            " CASE WHEN CAST(:seconds AS float8) IS NOT NULL"
            "      THEN now() + make_interval(secs => CAST(:seconds AS float8)) END)"
            " RETURNING id",
            contato_id=contato_id,
            atendente_id=atendente_id,
            seconds=window_seconds,
        )
    )


def last_customer_message_at(conversa_id: str, seconds_ago: float) -> None:
    """The window as the webhook sets it: the customer's message timestamp + 24 h."""
    db.execute(
        "UPDATE conversas SET window_expires_at ="
        " (now() - make_interval(secs => CAST(:ago AS float8))) + interval '24 hours'"
        " WHERE id = CAST(:id AS uuid)",
        id=conversa_id,
        ago=seconds_ago,
    )


def make_template(
    name: str = "lembrete_aula",
    language: str = "pt_BR",
    status: str = "approved",
    category: str = "utility",
    body: str = "Olá {{1}}, sua aula é {{2}}.",
    components: list[dict[str, Any]] | None = None,
) -> str:
    from chalicelib.services.templates import extract_body_and_variables

    components = components if components is not None else [{"type": "BODY", "text": body}]
    body_text, variables = extract_body_and_variables(components)
    return str(
        db.scalar(
            "INSERT INTO templates (name, language, status, category, body, components, variables)"
            " VALUES (:name, :language, CAST(:status AS template_status), CAST(:category AS template_category),"
            " :body, CAST(:components AS jsonb), CAST(:variables AS jsonb)) RETURNING id",
            name=name,
            language=language,
            status=status,
            category=category,
            body=body_text,
            components=json.dumps(components),
            variables=json.dumps(variables),
        )
    )


def mensagens(conversa_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT * FROM mensagens WHERE conversa_id = CAST(:id AS uuid) ORDER BY created_at, id", id=conversa_id
    )


def conversa(conversa_id: str) -> dict[str, Any]:
    return db.query_one("SELECT * FROM conversas WHERE id = CAST(:id AS uuid)", id=conversa_id)


# Media bytes ----------------------------------------------------------------------------------
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 2000


def ogg_opus(size: int = 4000) -> bytes:
    """An Ogg page carrying an OpusHead packet, as a browser's MediaRecorder writes."""
    packet = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIh", 312, 48000, 0) + b"\x00"
    header = b"OggS" + bytes([0, 2]) + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8 + bytes([1, len(packet)])
    data = header + packet
    return data + b"\x00" * max(0, size - len(data))


def ogg_vorbis(size: int = 4000) -> bytes:
    packet = b"\x01vorbis" + b"\x00" * 22
    header = b"OggS" + bytes([0, 2]) + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8 + bytes([1, len(packet)])
    data = header + packet
    return data + b"\x00" * max(0, size - len(data))
