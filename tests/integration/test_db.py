"""Connection reuse, reconnection and transactions."""

from __future__ import annotations

import os
import time

import pytest

from chalicelib import db


def test_connection_is_reused_between_calls(db_clean):
    first = db.scalar("SELECT pg_backend_pid()")
    assert db.scalar("SELECT pg_backend_pid()") == first


def _terminate(pid: int) -> None:
    """Kill a backend and wait until it is gone (the connection was closed while idle)."""
    killer = db.connect()
    try:
        killer.run("SELECT pg_terminate_backend(:pid)", pid=pid)
        for _ in range(200):
            if not killer.run("SELECT 1 FROM pg_stat_activity WHERE pid = :pid", pid=pid):
                break
            time.sleep(0.01)
    finally:
        killer.close()


def test_next_query_succeeds_after_server_killed_the_connection(db_clean):
    victim = db.scalar("SELECT pg_backend_pid()")
    _terminate(victim)
    assert db.scalar("SELECT 41 + 1") == 42
    assert db.scalar("SELECT pg_backend_pid()") != victim


def test_transaction_after_killed_connection_starts_on_a_fresh_one(db_clean):
    victim = db.scalar("SELECT pg_backend_pid()")
    _terminate(victim)
    with db.transaction():
        db.execute("INSERT INTO administradores (nome, email, senha_hash) VALUES ('A', 'a@x.io', 'h')")
    assert db.scalar("SELECT count(*) FROM administradores") == 1


def test_a_transaction_whose_connection_the_server_ended_fails_at_commit(db_clean):
    """Not a 200 for work the server rolled back: the COMMIT must not go to a new connection."""
    db.execute("CREATE TABLE IF NOT EXISTS commit_probe_t (x int)")
    db.execute("TRUNCATE commit_probe_t")
    with pytest.raises(db.DatabaseUnavailable), db.transaction():
        db.execute("INSERT INTO commit_probe_t VALUES (1)")
        _terminate(db.scalar("SELECT pg_backend_pid()"))
    assert db.scalar("SELECT count(*) FROM commit_probe_t") == 0
    db.execute("DROP TABLE commit_probe_t")


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


def test_on_commit_runs_after_commit_in_order_and_never_after_a_rollback(db_clean):
    ran: list[str] = []
    with db.transaction():
        db.on_commit(lambda: ran.append("first"))
        with db.transaction():  # a nested block joins: its callbacks wait for the outer commit
            db.on_commit(lambda: ran.append("nested"))
        assert ran == []
    assert ran == ["first", "nested"]

    with pytest.raises(RuntimeError), db.transaction():
        db.on_commit(lambda: ran.append("rolled back"))
        raise RuntimeError("boom")
    with db.transaction():
        pass  # a later commit must not run what the rollback dropped
    assert ran == ["first", "nested"]

    db.on_commit(lambda: ran.append("no transaction"))  # nothing open: committed already, runs now
    assert ran[-1] == "no transaction"


def test_a_failing_after_commit_callback_neither_undoes_nor_fails_the_commit(db_clean):
    ran: list[str] = []

    def boom():
        raise RuntimeError("gateway down")

    with db.transaction():
        db.execute("INSERT INTO administradores (nome, email, senha_hash) VALUES ('A', 'a@x.io', 'h')")
        db.on_commit(boom)
        db.on_commit(lambda: ran.append("next"))
    assert ran == ["next"]
    assert db.scalar("SELECT count(*) FROM administradores") == 1


def test_a_statement_that_times_out_on_the_socket_is_not_run_again(db_clean, monkeypatch):
    """The server may still run (or have committed) what we stopped waiting for: no retry."""
    from chalicelib.config import reset_settings

    db.execute("CREATE TABLE IF NOT EXISTS retry_probe (n int)")
    db.execute("TRUNCATE retry_probe")
    monkeypatch.setenv("DB_SOCKET_TIMEOUT_SECONDS", "0.5")
    reset_settings()
    db.close()
    try:
        with pytest.raises(db.DatabaseUnavailable):
            db.execute("INSERT INTO retry_probe SELECT 1 FROM pg_sleep(1.5)")
    finally:
        monkeypatch.delenv("DB_SOCKET_TIMEOUT_SECONDS")
        reset_settings()
        db.close()
    time.sleep(1.5)  # let the first run finish on the server
    assert db.scalar("SELECT count(*) FROM retry_probe") == 1
    db.execute("DROP TABLE retry_probe")


def test_no_connection_slot_left_is_named_not_a_network_error(db_clean, monkeypatch):
    """A full server (53300) must read differently from a database that is down."""
    import uuid

    from chalicelib import db
    from chalicelib.config import reset_settings

    role = f"full_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")  # generated identifier, not input
    url = os.environ["DATABASE_URL"]
    try:
        monkeypatch.setenv("DATABASE_URL", url.replace("postgresql://postgres", f"postgresql://{role}", 1))
        reset_settings()
        with pytest.raises(db.DatabaseUnavailable, match=r"no connection slot left \(53300\)"):
            db.connect()
    finally:
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        db.execute(f"DROP ROLE {role}")
