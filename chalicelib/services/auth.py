"""Session tokens (JWT, HS256, signed with AUTH_SECRET) and sign-in with a per-email lockout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

TOKEN_LIFETIME = timedelta(hours=12)
ALGORITHM = "HS256"
# Five failures for one email inside this window lock that email until the window passes.
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
# HS256 keys shorter than the hash output (32 bytes) are brute-forceable offline from a single
# token (RFC 7518 §3.2): refuse them instead of signing sessions anyone could forge.
MIN_SECRET_BYTES = 32


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed or expired."""


class AuthNotConfigured(RuntimeError):
    """AUTH_SECRET is unset or too short: no token is issued or accepted (a deploy error)."""


def _secret() -> str:
    from chalicelib.config import get_settings

    secret = get_settings().auth_secret or ""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        # An empty or short key makes every token forgeable; refuse rather than sign with it.
        raise AuthNotConfigured(f"AUTH_SECRET must have at least {MIN_SECRET_BYTES} bytes")
    return secret


def issue_token(admin_id: Any, now: datetime | None = None) -> tuple[str, datetime]:
    """A token for `admin_id` and the moment it expires (12 h from now)."""
    import jwt

    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires_at = issued + TOKEN_LIFETIME
    claims = {"sub": str(admin_id), "iat": int(issued.timestamp()), "exp": int(expires_at.timestamp())}
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
    try:
        uuid.UUID(claims.get("sub"))
    except (TypeError, ValueError, AttributeError):
        raise InvalidToken("sub inválido") from None
    return claims


# A real Argon2 hash of a random password: an unknown email costs the same verify as a known one,
# so response time does not reveal which emails exist.
_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        import secrets

        from chalicelib.security import hash_password

        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def login(email: str, senha: str) -> dict[str, Any]:
    """Check the password under the per-email lockout; returns {token, expires_at, administrador}."""
    import math

    from chalicelib import db
    from chalicelib.http import ApiError
    from chalicelib.repositories import administradores, login_attempts
    from chalicelib.security import verify_password

    _secret()  # a deploy without a usable AUTH_SECRET fails before touching the lockout
    email = email.strip().lower()
    window = int(FAILED_LOGIN_WINDOW.total_seconds())
    with db.transaction():
        login_attempts.lock_email(email)
        recent = login_attempts.recent_failures(email, window)
        if recent["falhas"] >= MAX_FAILED_LOGINS:
            unlock_at = login_attempts.oldest_blocking(email, window, MAX_FAILED_LOGINS)
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
        if not (admin and ok):
            login_attempts.record_failure(email)
        else:
            login_attempts.clear(email)
    if not (admin and ok):
        raise ApiError(401, "InvalidCredentials", "E-mail ou senha incorretos.")
    if recent["falhas"] == 0:
        login_attempts.prune(window)  # cheap housekeeping on a quiet path
    admin.pop("senha_hash", None)
    token, expires_at = issue_token(admin["id"])
    return {"token": token, "expires_at": expires_at, "administrador": admin}


def create_admin(nome: str, email: str, senha: str) -> dict[str, Any]:
    from chalicelib.http import ApiError
    from chalicelib.repositories import administradores
    from chalicelib.security import hash_password

    email = email.strip().lower()
    if administradores.get_by_email_with_hash(email):
        raise ApiError(409, "EmailInUse", "Já existe um administrador com este e-mail.", field="email")
    try:
        return administradores.create(nome.strip(), email, hash_password(senha))
    except Exception as exc:  # a concurrent create of the same email hit the unique key
        if _sqlstate(exc) == "23505":
            raise ApiError(409, "EmailInUse", "Já existe um administrador com este e-mail.", field="email") from exc
        raise


def _sqlstate(exc: Exception) -> str | None:
    if exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("C")
    return None
