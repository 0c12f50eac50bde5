"""The app never starts a database of its own: without DATABASE_URL it says so, on every stage
(the dev stack, tests/conftest.py and bench/_setup.py start the embedded one and set it)."""

from __future__ import annotations

import pytest

from chalicelib import db
from chalicelib.config import reset_settings


@pytest.mark.parametrize("stage", ["prod", "dev", "local", "test"])
def test_no_database_url_is_a_clear_error_not_an_embedded_database(stage, monkeypatch):
    monkeypatch.setenv("STAGE", stage)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_settings()
    try:
        with pytest.raises(db.DatabaseUnavailable, match="DATABASE_URL is not set"):
            db.database_url()
    finally:
        monkeypatch.undo()
        reset_settings()


def test_database_url_is_taken_as_given(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/crm")
    reset_settings()
    try:
        assert db.database_url() == "postgresql://u:p@db.example:5432/crm"
    finally:
        monkeypatch.undo()
        reset_settings()
