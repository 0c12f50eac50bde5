"""SQL for ws_conexoes: the open websocket connections (API Gateway connection ids)."""

from __future__ import annotations

from typing import Any

from chalicelib import db


def add(connection_id: str, admin_id: str) -> None:
    # API Gateway may retry $connect: the same id stored twice is the same connection.
    db.execute(
        "INSERT INTO ws_conexoes (connection_id, admin_id) VALUES (:connection_id, :admin_id)"
        " ON CONFLICT (connection_id) DO UPDATE SET admin_id = EXCLUDED.admin_id",
        connection_id=connection_id,
        admin_id=admin_id,
    )


def remove(connection_id: str) -> int:
    return db.execute("DELETE FROM ws_conexoes WHERE connection_id = :connection_id", connection_id=connection_id)


def remove_for_admin(admin_id: str) -> list[str]:
    """Forget an account's connections; returns their ids (to close them)."""
    rows = db.query("DELETE FROM ws_conexoes WHERE admin_id = :admin_id RETURNING connection_id", admin_id=admin_id)
    return [row["connection_id"] for row in rows]


def remove_many(connection_ids: list[str], older_than_seconds: float = 0) -> int:
    """Forget connections; those stored less than `older_than_seconds` ago are kept."""
    if not connection_ids:
        return 0
    return db.execute(
        "DELETE FROM ws_conexoes WHERE connection_id = ANY(CAST(:ids AS varchar[]))"
        " AND created_at <= now() - make_interval(secs => CAST(:grace AS double precision))",
        ids=list(connection_ids),
        grace=older_than_seconds,
    )


def list_ids() -> list[str]:
    return [row["connection_id"] for row in db.query("SELECT connection_id FROM ws_conexoes")]


def list_all() -> list[dict[str, Any]]:
    return db.query("SELECT connection_id, admin_id, created_at FROM ws_conexoes ORDER BY created_at")


def exists(connection_id: str) -> bool:
    return bool(
        db.scalar("SELECT 1 FROM ws_conexoes WHERE connection_id = :connection_id", connection_id=connection_id)
    )
