"""SQL for login_tentativas: failed sign-ins per email, for the lockout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import db


def lock_email(email: str) -> None:
    """Serialise sign-ins for one email until the transaction ends, so parallel guesses
    cannot all slip in under the limit."""
    db.execute("SELECT pg_advisory_xact_lock(hashtext('login:' || :email))", email=email)


def recent_failures(email: str, window_seconds: int) -> dict[str, Any]:
    """How many failures inside the window, and when the oldest of them happened."""
    return db.query_one(
        "SELECT count(*) AS falhas, min(created_at) AS primeira, now() AS agora FROM login_tentativas"
        " WHERE email = :email AND created_at > now() - make_interval(secs => :window)",
        email=email,
        window=window_seconds,
    )


def oldest_blocking(email: str, window_seconds: int, limit: int) -> datetime | None:
    """When the lock ends: the moment the `limit`-th newest failure leaves the window."""
    return db.scalar(
        "SELECT created_at + make_interval(secs => :window) FROM login_tentativas"
        " WHERE email = :email AND created_at > now() - make_interval(secs => :window)"
        " ORDER BY created_at DESC OFFSET :offset LIMIT 1",
        email=email,
        window=window_seconds,
        offset=limit - 1,
    )


def record_failure(email: str) -> None:
    db.execute("INSERT INTO login_tentativas (email) VALUES (:email)", email=email)


def clear(email: str) -> None:
    db.execute("DELETE FROM login_tentativas WHERE email = :email", email=email)


def prune(window_seconds: int) -> None:
    db.execute(
        "DELETE FROM login_tentativas WHERE created_at < now() - make_interval(secs => :window)",
        window=window_seconds,
    )
