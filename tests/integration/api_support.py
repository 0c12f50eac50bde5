"""Builders for the API stream's tests: admins with tokens, contacts, conversations, messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import db

_HASHES: dict[str, str] = {}


def password_hash(senha: str) -> str:
    # Argon2 is deliberately slow: hash each test password once per session.
    if senha not in _HASHES:
        from chalicelib.security import hash_password

        _HASHES[senha] = hash_password(senha)
    return _HASHES[senha]


def make_admin(
    nome: str = "Ana", email: str | None = None, senha: str = "senha-segura-1", papel: str = "admin"
) -> dict[str, Any]:
    from chalicelib.repositories import administradores

    email = email or f"{nome.lower().replace(' ', '.')}@escola.com.br"
    return administradores.create(nome, email, password_hash(senha), papel=papel)


def token_for(admin: dict[str, Any] | str, **kwargs) -> str:
    from chalicelib.services.auth import issue_token

    admin_id = admin["id"] if isinstance(admin, dict) else admin
    return issue_token(admin_id, **kwargs)[0]


def auth(admin: dict[str, Any] | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(admin)}", "Content-Type": "application/json"}


def make_contato(telefone: str = "+5511988887777", nome: str | None = "Maria Souza", **extra: Any) -> dict[str, Any]:
    cols = {"telefone": telefone, "nome": nome, **extra}
    names = ", ".join(cols)
    values = ", ".join(f":{k}" for k in cols)
    return db.query_one(f"INSERT INTO contatos ({names}) VALUES ({values}) RETURNING *", **cols)  # noqa: S608


def make_conversa(contato: dict[str, Any], *, window_hours: float | None = 10, **extra: Any) -> dict[str, Any]:
    cols: dict[str, Any] = {"contato_id": contato["id"], **extra}
    if window_hours is not None:
        cols["window_expires_at"] = datetime.now(UTC) + timedelta(hours=window_hours)
    names = ", ".join(cols)
    values = ", ".join(f":{k}" for k in cols)
    return db.query_one(f"INSERT INTO conversas ({names}) VALUES ({values}) RETURNING *", **cols)  # noqa: S608


def make_mensagem(conversa: dict[str, Any], conteudo: str = "Olá", direcao: str = "entrada", **extra: Any) -> dict:
    cols: dict[str, Any] = {
        "conversa_id": conversa["id"],
        "conteudo": conteudo,
        "direcao": direcao,
        "tipo": extra.pop("tipo", "texto"),
        "status_envio": extra.pop("status_envio", "recebida" if direcao == "entrada" else "enviada"),
        **extra,
    }
    names = ", ".join(cols)
    values = ", ".join(f"CAST(:{k} AS tipo_mensagem)" if k == "tipo" else f":{k}" for k in cols)
    values = values.replace(":direcao", "CAST(:direcao AS direcao_mensagem)").replace(
        ":status_envio", "CAST(:status_envio AS status_envio)"
    )
    return db.query_one(f"INSERT INTO mensagens ({names}) VALUES ({values}) RETURNING *", **cols)  # noqa: S608


def body(response) -> Any:
    return json.loads(response.body) if response.body else None


def dumps(data: Any) -> str:
    return json.dumps(data)
