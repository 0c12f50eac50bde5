"""Embedded PostgreSQL (pgserver) for the local stack and tests when DATABASE_URL is unset."""

from __future__ import annotations

import os
import tempfile
import threading

_lock = threading.Lock()
_server = None
_url: str | None = None


def ensure_embedded_database(data_dir: str | None = None) -> str:
    """Start (or reuse) an embedded server and return its URL; also exported as DATABASE_URL."""
    global _server, _url
    with _lock:
        if _url:
            return _url
        import pgserver  # heavy and dev-only: imported on demand

        from chalicelib.config import get_settings, reset_settings

        if data_dir is None:
            if get_settings().stage == "local":
                data_dir = os.path.join(os.getcwd(), ".local", "pgdata")
            else:
                data_dir = tempfile.mkdtemp(prefix="crm-pg-")
        os.makedirs(data_dir, exist_ok=True)
        _server = pgserver.get_server(data_dir, cleanup_mode="stop")
        _url = _server.get_uri()
        os.environ["DATABASE_URL"] = _url
        reset_settings()
        return _url


def stop_embedded_database() -> None:
    global _server, _url
    with _lock:
        if _server is not None:
            _server.cleanup()
        _server = None
        _url = None
