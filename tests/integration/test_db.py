"""Connection reuse, reconnection and transactions."""

from __future__ import annotations

import pytest

from chalicelib import db


def test_connection_is_reused_between_calls(db_clean):
    first = db.scalar("SELECT pg_backend_pid()")
    assert db.scalar("SELECT pg_backend_pid()") == first


def test_next_query_succeeds_after_server_killed_the_connection(db_clean):
    victim = db.scalar("SELECT pg_backend_pid()")
    killer = db.connect()
    try:
        killer.run("SELECT pg_terminate_backend(:pid)", pid=victim)
    finally:
        killer.close()
    assert db.scalar("SELECT 41 + 1") == 42
    assert db.scalar("SELECT pg_backend_pid()") != victim


def test_transaction_after_killed_connection_starts_on_a_fresh_one(db_clean):
    victim = db.scalar("SELECT pg_backend_pid()")
    killer = db.connect()
    killer.run("SELECT pg_terminate_backend(:pid)", pid=victim)
    killer.close()
    with db.transaction():
        db.execute("INSERT INTO administradores (nome, email, senha_hash) VALUES ('A', 'a@x.io', 'h')")
    assert db.scalar("SELECT count(*) FROM administradores") == 1


def test_transaction_rolls_back_on_error(db_clean):
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO administradores (nome, email, senha_hash) VALUES ('A', 'a@x.io', 'h')")
        raise RuntimeError("boom")
    assert db.scalar("SELECT count(*) FROM administradores") == 0


def test_nested_transaction_joins_the_outer_one(db_clean):
    with pytest.raises(RuntimeError), db.transaction():
        with db.transaction():
            db.execute("INSERT INTO administradores (nome, email, senha_hash) VALUES ('A', 'a@x.io', 'h')")
        raise RuntimeError("outer fails")
    assert db.scalar("SELECT count(*) FROM administradores") == 0


def test_statement_timeout_is_set(db_clean):
    assert db.scalar("SHOW statement_timeout") == "15s"


def test_parameters_are_bound_not_interpolated(db_clean):
    hostile = "x'); DROP TABLE administradores; --"
    db.execute("INSERT INTO administradores (nome, email, senha_hash) VALUES (:nome, 'b@x.io', 'h')", nome=hostile)
    assert db.scalar("SELECT nome FROM administradores") == hostile


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://u:p%40ss@db.example.com:6543/crm",
            {"user": "u", "password": "p@ss", "host": "db.example.com", "port": 6543, "database": "crm"},
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            {"user": "postgres", "unix_sock": "/tmp/pg/.s.PGSQL.5432", "database": "postgres"},
        ),
    ],
)
def test_database_url_is_parsed_into_connection_params(url, expected):
    params = db.connection_params(url)
    assert {key: params.get(key) for key in expected} == expected


def test_sslmode_require_encrypts_without_verifying_and_verify_full_checks_the_host():
    import ssl

    required = db.connection_params("postgresql://u:p@db.example.com/crm?sslmode=require")["ssl_context"]
    assert required.verify_mode == ssl.CERT_NONE and not required.check_hostname
    full = db.connection_params("postgresql://u:p@db.example.com/crm?sslmode=verify-full")["ssl_context"]
    assert full.verify_mode == ssl.CERT_REQUIRED and full.check_hostname
    assert "ssl_context" not in db.connection_params("postgresql://u:p@db.example.com/crm")
    with pytest.raises(ValueError, match="sslmode"):
        db.connection_params("postgresql://u:p@db.example.com/crm?sslmode=sometimes")


def test_database_url_with_another_scheme_is_refused():
    with pytest.raises(ValueError):
        db.connection_params("mysql://u@h/db")
