"""Apply sql/migrations/*.sql in order, each once, under an advisory lock.

Every file runs in its own transaction and is recorded in `schema_migrations` with the
sha256 of its text; an applied file whose text changed is refused, because the database
no longer matches what the repository says it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from chalicelib import db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql" / "migrations"
# Any constant works; it only has to be the same for every deploy of this app.
ADVISORY_LOCK_KEY = 7_281_903_341


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        version = path.name.split("_", 1)[0]
        if not version.isdigit():
            raise MigrationError(f"migration file name must start with a number: {path.name}")
        found.append(Migration(version, path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def migrate(directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the file names applied by this call."""
    migrations = discover(directory)
    conn = db.connect()  # own session: the advisory lock lives as long as it does
    applied_now: list[str] = []
    try:
        conn.run("SELECT pg_advisory_lock(:key)", key=ADVISORY_LOCK_KEY)
        conn.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY,"
            " filename text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0]: row[1] for row in conn.run("SELECT version, checksum FROM schema_migrations")}
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{migration.filename} was changed after it was applied "
                        "(checksum differs); write a new migration instead"
                    )
                continue
            conn.run("BEGIN")
            try:
                conn.execute_simple(migration.sql)
                conn.run(
                    "INSERT INTO schema_migrations (version, filename, checksum)"
                    " VALUES (:version, :filename, :checksum)",
                    version=migration.version,
                    filename=migration.filename,
                    checksum=migration.checksum,
                )
                conn.run("COMMIT")
            except Exception as exc:
                conn.run("ROLLBACK")
                raise MigrationError(f"{migration.filename} failed: {exc}") from exc
            applied_now.append(migration.filename)
    finally:
        try:
            conn.run("SELECT pg_advisory_unlock(:key)", key=ADVISORY_LOCK_KEY)
        finally:
            conn.close()
    return applied_now
