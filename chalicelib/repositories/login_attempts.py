"""SQL for login_tentativas: failed sign-ins per e-mail and source, for the lockout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import db


def lock_email(email: str, origem: str) -> None:
    """Serialise sign-ins for one e-mail from one source until the transaction ends, so
    parallel guesses cannot all slip in under the limit."""
    db.execute(
        "SELECT pg_advisory_xact_lock(hashtext('login:' || :email || '|' || :origem))", email=email, origem=origem
    )


def recent_failures(email: str, origem: str, window_seconds: int) -> dict[str, Any]:
    """Failures for this e-mail from this source inside the window, and the source's failures
    on any e-mail (a spray)."""
    return db.query_one(
        "SELECT count(*) FILTER (WHERE email = :email) AS falhas, count(*) AS falhas_origem, now() AS agora"
        " FROM login_tentativas"
        " WHERE origem = :origem AND created_at > now() - make_interval(secs => :window)",
        email=email,
        origem=origem,
        window=window_seconds,
    )


def oldest_blocking(email: str | None, origem: str, window_seconds: int, limit: int) -> datetime | None:
    """When the lock ends: the moment the `limit`-th newest failure (of this e-mail from this
    source, or of the source on any e-mail when `email` is None) leaves the window."""
    return db.scalar(
        "SELECT created_at + make_interval(secs => :window) FROM login_tentativas"
        " WHERE origem = :origem AND (CAST(:email AS varchar) IS NULL OR email = :email)"
        " AND created_at > now() - make_interval(secs => :window)"
        " ORDER BY created_at DESC OFFSET :offset LIMIT 1",
        email=email,
        origem=origem,
        window=window_seconds,
        offset=limit - 1,
    )


def record_failure(email: str, origem: str) -> None:
    db.execute("INSERT INTO login_tentativas (email, origem) VALUES (:email, :origem)", email=email, origem=origem)


def clear(email: str, origem: str) -> None:
    db.execute("DELETE FROM login_tentativas WHERE email = :email AND origem = :origem", email=email, origem=origem)


def prune(window_seconds: int) -> None:
    db.execute(
        "DELETE FROM login_tentativas WHERE created_at < now() - make_interval(secs => :window)",
        window=window_seconds,
    )
