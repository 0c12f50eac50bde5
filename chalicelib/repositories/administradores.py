"""SQL for administradores."""

from __future__ import annotations

from typing import Any

from chalicelib import db


def create(nome: str, email: str, senha_hash: str) -> dict[str, Any]:
    return db.query_one(
        "INSERT INTO administradores (nome, email, senha_hash) VALUES (:nome, :email, :senha_hash)"
        " RETURNING id, nome, email, created_at, updated_at",
        nome=nome,
        email=email,
        senha_hash=senha_hash,
    )


def upsert(nome: str, email: str, senha_hash: str) -> dict[str, Any]:
    """create-admin run twice for one email resets the password instead of failing."""
    return db.query_one(
        "INSERT INTO administradores (nome, email, senha_hash) VALUES (:nome, :email, :senha_hash)"
        " ON CONFLICT (email) DO UPDATE SET nome = EXCLUDED.nome, senha_hash = EXCLUDED.senha_hash"
        " RETURNING id, nome, email, created_at, updated_at",
        nome=nome,
        email=email,
        senha_hash=senha_hash,
    )


def get_by_email_with_hash(email: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT id, nome, email, created_at, updated_at, senha_hash FROM administradores WHERE email = :email",
        email=email,
    )


def get(admin_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT id, nome, email, created_at, updated_at FROM administradores WHERE id = :id", id=admin_id
    )


def list_page(after_nome: str | None, after_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Admins by name, keyset after (nome, id)."""
    return db.query(
        "SELECT id, nome, email, created_at, updated_at FROM administradores"
        " WHERE CAST(:after_id AS uuid) IS NULL OR (nome, id) > (CAST(:after_nome AS varchar), CAST(:after_id AS uuid))"
        " ORDER BY nome, id LIMIT :limit",
        after_nome=after_nome,
        after_id=after_id,
        limit=limit,
    )
