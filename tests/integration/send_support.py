"""Builders for the sending tests (test_send_*): rows by SQL, the shared fake Graph server, media bytes.

Their fixtures (`graph`, `s3`, `moto_s3`, `events`) are in tests/integration/conftest.py."""

from __future__ import annotations

import json
import struct
import uuid
from typing import Any

from chalicelib import db

BUCKET = "crm-inbox-media-test"


# The fake Graph server ----------------------------------------------------------------------
_shared_graph = None


def shared_graph_server():
    """One fake Graph server for every sending test (stopping one costs 0.5 s); the `graph`
    fixture (tests/integration/conftest.py) empties it for each test."""
    global _shared_graph
    if _shared_graph is None:
        from devstack.fake_graph import FakeGraph

        _shared_graph = FakeGraph().start()
    return _shared_graph


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


def bearer(admin_id: str) -> dict[str, str]:
    from chalicelib.services.auth import issue_token

    token, _ = issue_token(admin_id)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(client, path: str, body, headers: dict[str, str]):
    return client.http.post(path, body=json.dumps(body), headers=headers)


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
