"""Unit tests do no I/O: no database, no network, no AWS (subprocesses of the interpreter are
fine). Any database access fails the test at once, so a unit test cannot come to depend on the
embedded PostgreSQL that another level's tests happened to start first."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_database(monkeypatch):
    from chalicelib import db

    def refuse(*_args, **_kwargs):
        raise RuntimeError("a unit test touched the database: stub the repository, or move the test to integration")

    monkeypatch.setattr(db, "connect", refuse)
    monkeypatch.setattr(db, "get_connection", refuse)
