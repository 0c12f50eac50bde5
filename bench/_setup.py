"""What every benchmark needs first: a migrated database, cleaned up afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bench_database(prefix: str = "crm-bench-pg-") -> Iterator[None]:
    """An embedded PostgreSQL of its own in a temporary directory, stopped and deleted at the
    end (a large seed leaves gigabytes behind in /tmp). Never DATABASE_URL: the benchmarks
    seed and truncate tables, which must not happen to a database they did not create."""
    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.migrate import migrate
    from devstack.embedded_pg import ensure_embedded_database, stop_embedded_database

    db.close()
    data_dir = tempfile.mkdtemp(prefix=prefix)
    os.environ["DATABASE_URL"] = ensure_embedded_database(data_dir)
    reset_settings()
    migrate()
    try:
        yield
    finally:
        db.close()
        stop_embedded_database()
        shutil.rmtree(data_dir, ignore_errors=True)
