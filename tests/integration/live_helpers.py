"""Helpers shared by the live-updates tests (test_live_*)."""

from __future__ import annotations

import time
import uuid


def make_admin(nome: str = "Ana") -> str:
    from chalicelib.repositories import administradores

    admin = administradores.create(nome, f"{nome.lower()}-{uuid.uuid4().hex[:8]}@escola.com.br", "x" * 20)
    return str(admin["id"])


def token_for(admin_id: str, **kwargs) -> str:
    from chalicelib.services.auth import issue_token

    return issue_token(admin_id, **kwargs)[0]


def make_conversa(window_seconds: float | None = 3600, atendente_id: str | None = None) -> dict:
    """A contact and its ativa conversation whose window closes `window_seconds` from now
    (negative: already closed; None: never opened)."""
    from chalicelib import db

    contato = db.query_one(
        "INSERT INTO contatos (telefone, nome) VALUES (:telefone, 'Bruna Lima') RETURNING id",
        telefone="+55119" + str(uuid.uuid4().int)[:8],
    )
    return db.query_one(
        "INSERT INTO conversas (contato_id, atendente_id, atribuida_em, window_expires_at)"
        " VALUES (:contato_id, CAST(:atendente_id AS uuid),"
        " CASE WHEN CAST(:atendente_id AS uuid) IS NULL THEN NULL ELSE now() END,"
        " now() + make_interval(secs => CAST(:secs AS double precision)))"
        " RETURNING id, contato_id, window_expires_at",
        contato_id=contato["id"],
        atendente_id=atendente_id,
        secs=window_seconds,
    )


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
