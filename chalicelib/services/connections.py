"""The browsers' websocket connections: who may connect, and what they may say."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.observability import logger


class ConnectionRefused(Exception):
    """$connect must fail: API Gateway then closes the handshake with 403."""


def connect(connection_id: str, token: str | None) -> str:
    """Store the connection of the admin the session token names; returns the admin id."""
    from chalicelib.repositories import ws_conexoes
    from chalicelib.services.auth import InvalidToken, session_for

    # The same check as the HTTP authorizer: a removed or deactivated account's token, or one
    # older than its last password reset, must not keep receiving the inbox.
    try:
        admin_id = session_for(token)["admin_id"]
    except InvalidToken as exc:
        raise ConnectionRefused("token inválido, expirado ou sessão encerrada") from exc
    ws_conexoes.add(connection_id, admin_id)
    logger.info("websocket connected", extra={"connection_id": connection_id, "admin_id": admin_id})
    return admin_id


def disconnect(connection_id: str) -> None:
    from chalicelib.repositories import ws_conexoes

    ws_conexoes.remove(connection_id)


def answer(body: str | None) -> dict[str, Any] | None:
    """The reply to a client message: a pong for a ping, nothing for anything else."""
    try:
        message = json.loads(body or "")
    except (ValueError, TypeError):
        return None
    if isinstance(message, dict) and message.get("type") == "ping":
        return {"type": "pong"}
    return None


def reply(connection_id: str, message: dict[str, Any]) -> None:
    from chalicelib.services import realtime

    realtime.send_to_connections([connection_id], [json.dumps(message).encode()])
