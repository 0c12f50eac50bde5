"""SQL for administradores."""

from __future__ import annotations

from typing import Any

from chalicelib import db

# Every query lists what the API shows of an account: never the hash nor the token version
# (except the sign-in's, which needs them).


def create(nome: str, email: str, senha_hash: str, papel: str = "atendente") -> dict[str, Any]:
    return db.query_one(
        "INSERT INTO administradores (nome, email, senha_hash, papel) VALUES (:nome, :email, :senha_hash, :papel)"
        " RETURNING id, nome, email, papel, ativo, desativado_em, created_at, updated_at",
        nome=nome,
        email=email,
        senha_hash=senha_hash,
        papel=papel,
    )


def upsert(nome: str, email: str, senha_hash: str) -> dict[str, Any]:
    """create-admin (the operator's bootstrap and password reset): an administrator. Run again
    for one email it resets the password, reactivates the account and, by bumping the token
    version, ends every session issued before the reset."""
    return db.query_one(
        "INSERT INTO administradores (nome, email, senha_hash, papel) VALUES (:nome, :email, :senha_hash, 'admin')"
        " ON CONFLICT (email) DO UPDATE SET nome = EXCLUDED.nome, senha_hash = EXCLUDED.senha_hash,"
        " papel = 'admin', ativo = true, desativado_em = NULL,"
        " token_version = administradores.token_version + 1"
        " RETURNING id, nome, email, papel, ativo, desativado_em, created_at, updated_at",
        nome=nome,
        email=email,
        senha_hash=senha_hash,
    )


def get_by_email_with_hash(email: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT id, nome, email, papel, ativo, desativado_em, created_at, updated_at, senha_hash, token_version"
        " FROM administradores WHERE email = :email",
        email=email,
    )


def get(admin_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT id, nome, email, papel, ativo, desativado_em, created_at, updated_at FROM administradores"
        " WHERE id = :id",
        id=admin_id,
    )


def session(admin_id: str) -> dict[str, Any] | None:
    """What the authorizer checks on every request (a primary-key read)."""
    return db.query_one("SELECT papel, ativo, token_version FROM administradores WHERE id = :id", id=admin_id)


def deactivate(admin_id: str) -> bool:
    """Mark inactive and end its sessions; False when there is no such account. Deactivating
    twice keeps the first moment but still ends any session."""
    return bool(
        db.execute(
            "UPDATE administradores SET ativo = false, desativado_em = coalesce(desativado_em, now()),"
            " token_version = token_version + 1 WHERE id = :id",
            id=admin_id,
        )
    )


def list_page(after_nome: str | None, after_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Admins by name, keyset after (nome, id)."""
    return db.query(
        "SELECT id, nome, email, papel, ativo, desativado_em, created_at, updated_at FROM administradores"
        " WHERE CAST(:after_id AS uuid) IS NULL OR (nome, id) > (CAST(:after_nome AS varchar), CAST(:after_id AS uuid))"
        " ORDER BY nome, id LIMIT :limit",
        after_nome=after_nome,
        after_id=after_id,
        limit=limit,
    )
