"""Session tokens (JWT, HS256, signed with AUTH_SECRET), sessions that end, and sign-in.

A token carries the account's `token_version` (claim `ver`). `session_for` accepts it only
while the account exists, is active and still has that version: deactivating an account or
resetting its password bumps the version and so ends every session issued before. The
authorizer runs on every request (ttl 0), so the check is one primary-key read per request;
we chose this over short access tokens plus refresh tokens because it ends a session at
once (not at the next refresh) and keeps the console's sign-in a single token.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

TOKEN_LIFETIME = timedelta(hours=12)
ALGORITHM = "HS256"
# Five failures for one e-mail from one source (IP) inside this window lock that e-mail from
# that source until the window passes; twenty failures from one source on any e-mails lock the
# source. Failures elsewhere never lock the attendant out of their own sign-in.
MAX_FAILED_LOGINS = 5
MAX_FAILED_PER_SOURCE = 20
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
# HS256 keys shorter than the hash output (32 bytes) are brute-forceable offline from a single
# token (RFC 7518 §3.2): refuse them instead of signing sessions anyone could forge.
MIN_SECRET_BYTES = 32


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed or expired, or its session has ended."""


class AuthNotConfigured(RuntimeError):
    """AUTH_SECRET is unset or too short: no token is issued or accepted (a deploy error)."""


def _secret() -> str:
    from chalicelib.config import get_settings

    secret = get_settings().auth_secret or ""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        # An empty or short key makes every token forgeable; refuse rather than sign with it.
        raise AuthNotConfigured(f"AUTH_SECRET must have at least {MIN_SECRET_BYTES} bytes")
    return secret


def issue_token(admin_id: Any, now: datetime | None = None, version: int | None = None) -> tuple[str, datetime]:
    """A token for `admin_id` and the moment it expires (12 h from now). `version` is the
    account's token_version (read from the database when not given; 1 for an unknown id)."""
    import jwt

    if version is None:
        from chalicelib.repositories import administradores

        session = administradores.session(str(admin_id)) if _is_uuid(admin_id) else None
        version = session["token_version"] if session else 1
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires_at = issued + TOKEN_LIFETIME
    claims = {
        "sub": str(admin_id),
        "ver": int(version),
        "iat": int(issued.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, _secret(), algorithm=ALGORITHM), expires_at


def verify_token(token: str | None) -> dict[str, Any]:
    """The token's claims; raises InvalidToken for anything but a valid, unexpired token."""
    import jwt

    if not token:
        raise InvalidToken("token ausente")
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        claims = jwt.decode(token, _secret(), algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    # Every route casts the caller's id to uuid: a sub that is not one would be a 500 there.
    if not _is_uuid(claims.get("sub")):
        raise InvalidToken("sub inválido")
    return claims


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def session_for(token: str | None) -> dict[str, Any]:
    """{admin_id, papel} of a token whose session is still open: valid signature, not
    expired, the account exists and is active, and the token's version is the account's
    (a deactivation or a password reset bumps it). Raises InvalidToken otherwise."""
    from chalicelib.repositories import administradores

    claims = verify_token(token)
    version = claims.get("ver")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidToken("token sem versão")  # issued before sessions could end: sign in again
    account = administradores.session(claims["sub"])
    if account is None or not account["ativo"] or account["token_version"] != version:
        raise InvalidToken("sessão encerrada")
    return {"admin_id": claims["sub"], "papel": account["papel"]}


# A real Argon2 hash of a random password: an unknown email costs the same verify as a known one,
# so response time does not reveal which emails exist.
_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        import secrets

        from chalicelib.security import hash_password

        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def login(email: str, senha: str, source: str | None = None) -> dict[str, Any]:
    """Check the password under the lockout (per e-mail and source, and per source);
    returns {token, expires_at, administrador}. `source` is the caller's IP."""
    import math

    from chalicelib import db
    from chalicelib.http import ApiError
    from chalicelib.repositories import administradores, login_attempts
    from chalicelib.security import verify_password

    _secret()  # a deploy without a usable AUTH_SECRET fails before touching the lockout
    email = email.strip().lower()
    origem = (source or "")[:64]
    window = int(FAILED_LOGIN_WINDOW.total_seconds())
    with db.transaction():
        login_attempts.lock_email(email, origem)
        recent = login_attempts.recent_failures(email, origem, window)
        blocked_by = None
        if recent["falhas"] >= MAX_FAILED_LOGINS:
            blocked_by = (email, MAX_FAILED_LOGINS)
        elif recent["falhas_origem"] >= MAX_FAILED_PER_SOURCE:
            blocked_by = (None, MAX_FAILED_PER_SOURCE)
        if blocked_by:
            unlock_at = login_attempts.oldest_blocking(blocked_by[0], origem, window, blocked_by[1])
            retry_after = max(1, math.ceil((unlock_at - recent["agora"]).total_seconds())) if unlock_at else window
            raise ApiError(
                429,
                "TooManyRequests",
                "Muitas tentativas de login. Tente novamente mais tarde.",
                headers={"Retry-After": str(retry_after)},
                retry_after=retry_after,
            )
        admin = administradores.get_by_email_with_hash(email)
        ok = verify_password(admin["senha_hash"] if admin else _dummy_hash(), senha)
        ok = ok and admin["ativo"]  # a deactivated account answers like a wrong password
        if not (admin and ok):
            login_attempts.record_failure(email, origem)
        else:
            login_attempts.clear(email, origem)
    if not (admin and ok):
        raise ApiError(401, "InvalidCredentials", "E-mail ou senha incorretos.")
    if recent["falhas"] == 0:
        login_attempts.prune(window)  # cheap housekeeping on a quiet path
    admin.pop("senha_hash", None)
    token, expires_at = issue_token(admin["id"], version=admin.pop("token_version"))
    return {"token": token, "expires_at": expires_at, "administrador": admin}


def require_admin(papel: str | None, message: str = "Só administradores podem gerenciar a equipe.") -> None:
    """403 unless the caller has the administrator role (team management, the rate card)."""
    from chalicelib.http import ApiError

    if papel != "admin":
        raise ApiError(403, "ForbiddenError", message)


def create_admin(nome: str, email: str, senha: str, papel: str = "atendente") -> dict[str, Any]:
    from chalicelib.http import ApiError
    from chalicelib.repositories import administradores
    from chalicelib.security import hash_password

    email = email.strip().lower()
    if administradores.get_by_email_with_hash(email):
        raise ApiError(409, "EmailInUse", "Já existe um administrador com este e-mail.", field="email")
    try:
        return administradores.create(nome.strip(), email, hash_password(senha), papel=papel)
    except Exception as exc:  # a concurrent create of the same email hit the unique key
        from chalicelib.db import sqlstate  # not at the top: the authorizer imports this module

        if sqlstate(exc) == "23505":
            raise ApiError(409, "EmailInUse", "Já existe um administrador com este e-mail.", field="email") from exc
        raise


def deactivate_admin(admin_id: str, by_admin_id: str) -> None:
    """End an account: inactive, every session ended (version bumped), its browsers'
    push subscriptions and open websockets gone, its open conversations back in the queue
    (a `conversa_liberada` timeline row and a `conversation:assigned` event each). The row
    stays: messages and the timeline keep their author's name."""
    from chalicelib import db
    from chalicelib.http import ApiError, not_found
    from chalicelib.repositories import administradores, conversas, eventos, push_subscriptions, ws_conexoes
    from chalicelib.services import live_events

    if str(admin_id) == str(by_admin_id):
        raise ApiError(409, "Conflict", "Você não pode desativar a sua própria conta.")
    with db.transaction():
        if not administradores.deactivate(admin_id):
            raise not_found("Administrador")
        push_subscriptions.delete_for_admin_all(admin_id)
        connection_ids = ws_conexoes.remove_for_admin(admin_id)
        for row in conversas.release_all_of(str(admin_id)):
            eventos.record(
                row["contato_id"],
                "conversa_liberada",
                {
                    "conversa_id": row["id"],
                    "por": by_admin_id,
                    "atendente_id": None,
                    "anterior_id": row["anterior_id"],
                    "motivo": "atendente_desativado",
                },
            )
            live_events.conversation_assigned(row["id"], row["anterior_id"])
    from chalicelib.services import realtime

    realtime.close_connections(connection_ids)  # after commit: a reconnect is refused by now


def change_password(admin_id: str, atual: str, nova: str) -> tuple[str, Any]:
    """The signed-in account's own password: the current one must match (a stolen open session
    cannot lock its owner out); every session ends (the version is bumped), so the caller gets
    a fresh token. A wrong current password is a 422 on `senha_atual` (not a 401: the session
    itself is fine)."""
    from chalicelib import db
    from chalicelib.http import ApiError
    from chalicelib.security import hash_password, verify_password

    row = db.query_one("SELECT senha_hash FROM administradores WHERE id = :id AND ativo", id=admin_id)
    if row is None or not verify_password(row["senha_hash"], atual):
        raise ApiError(422, "ValidationError", "A senha atual não confere.", field="senha_atual")
    if atual == nova:
        raise ApiError(422, "ValidationError", "A nova senha precisa ser diferente da atual.", field="senha_nova")
    db.execute(
        "UPDATE administradores SET senha_hash = :h, token_version = token_version + 1 WHERE id = :id",
        h=hash_password(nova),
        id=admin_id,
    )
    return issue_token(admin_id)
