"""What every benchmark needs first: a migrated database, cleaned up afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bench_database(prefix: str = "crm-bench-pg-") -> Iterator[None]:
    """DATABASE_URL if set; otherwise an embedded PostgreSQL in a temporary directory that is
    stopped and deleted at the end (a large seed leaves gigabytes behind in /tmp)."""
    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.local.embedded_pg import ensure_embedded_database, stop_embedded_database
    from chalicelib.migrate import migrate

    data_dir = None
    if not os.environ.get("DATABASE_URL"):
        data_dir = tempfile.mkdtemp(prefix=prefix)
        os.environ["DATABASE_URL"] = ensure_embedded_database(data_dir)
    reset_settings()
    migrate()
    try:
        yield
    finally:
        if data_dir is not None:
            db.close()
            stop_embedded_database()
            shutil.rmtree(data_dir, ignore_errors=True)
