"""pg8000 access: one connection per Lambda container, reopened when the server dropped it.

Repositories call `query`, `query_one` and `execute` with named parameters
(`:conversa_id`); a service wraps several calls in `with transaction():` so they commit
together. Rows come back as plain dicts. What the world must hear about a change (live
events) is registered with `on_commit(fn)`: it runs after COMMIT and never after a ROLLBACK.

Deployed, the functions reach the database through RDS Proxy, which multiplexes client
sessions over few database connections unless a session pins itself to one. So a new
connection runs no SET: UTC and the 15 s statement timeout are the database's own defaults
(migration 0016), and the password comes from Secrets Manager (DATABASE_SECRET_ARN), read
again once when the server refuses it (28P01: the secret was rotated).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

import pg8000.native
from chalice import ChaliceUnhandledError
from pg8000.exceptions import DatabaseError, InterfaceError

from chalicelib.config import get_settings

# SQLSTATEs that mean "this connection is dead, a fresh one will work".
_CONNECTION_GONE_CODES = {"57P01", "57P02", "57P03", "08000", "08003", "08006"}
# invalid_password: after a rotation the cached secret is stale.
_AUTH_FAILED = "28P01"

_local = threading.local()
T = TypeVar("T")

# pg8000 re-parses each statement's text character by character on every call (~0.5 ms for
# a 3 KB statement). Our SQL is a small fixed set of strings and the parse is a pure
# function of the text, so it is parsed once per container.
if not hasattr(pg8000.native.to_statement, "cache_info"):
    pg8000.native.to_statement = lru_cache(maxsize=512)(pg8000.native.to_statement)


class DatabaseUnavailable(ChaliceUnhandledError, RuntimeError):
    """The database cannot be reached; the API answers 503 (a retry can help).

    A ChaliceUnhandledError so Chalice lets it reach chalicelib.http's middleware instead of
    turning it into a 500."""


def connection_params(url: str, *, refresh_secret: bool = False) -> dict[str, Any]:
    """Turn `postgresql://user:pass@host:port/db?host=/dir` into pg8000 keyword arguments.

    With DATABASE_SECRET_ARN set, user and password come from that secret (`refresh_secret`
    reads it again instead of using the cached copy)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    query = parse_qs(parsed.query)
    params: dict[str, Any] = {
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password) if parsed.password else None,
        "database": (parsed.path or "/postgres").lstrip("/") or "postgres",
        "port": parsed.port or 5432,
        "application_name": "crm-inbox",
        "timeout": get_settings().db_socket_timeout_seconds,
    }
    socket_dir = query.get("host", [None])[0]
    if socket_dir and socket_dir.startswith("/"):
        params["unix_sock"] = f"{socket_dir}/.s.PGSQL.{params['port']}"
    else:
        params["host"] = socket_dir or parsed.hostname or "localhost"
    secret_arn = get_settings().database_secret_arn
    if secret_arn:
        from chalicelib.config import read_secret

        secret = read_secret(secret_arn, refresh=refresh_secret)
        params["user"] = secret.get("username") or params["user"]
        params["password"] = secret["password"]
    ssl_context = _ssl_context(query.get("sslmode", ["disable"])[0], query.get("sslrootcert", [None])[0])
    if ssl_context is not None:
        params["ssl_context"] = ssl_context
    return params


def _ssl_context(sslmode: str, root_cert: str | None):
    """libpq's sslmode names: RDS refuses plain connections (rds.force_ssl=1 from PG 15).

    `require` encrypts without checking the server's certificate; `verify-ca` and
    `verify-full` check it against `sslrootcert`, `verify-full` also the host name.
    `sslrootcert=system` (libpq 16's name for "the platform's trusted roots", and like libpq
    only with verify-full) is certifi's Mozilla bundle: it holds the Amazon Trust Services
    roots that sign RDS Proxy's certificates, and ships in the package as a pinned dependency,
    where the Lambda runtime's own store is not something we control. A direct connection to
    the RDS instance needs Amazon's RDS CA bundle as a file instead (docs/deploy.md).
    """
    import ssl

    if sslmode in ("disable", "allow", "prefer"):
        return None
    if sslmode == "require":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if sslmode in ("verify-ca", "verify-full"):
        if root_cert == "system":
            if sslmode != "verify-full":
                raise ValueError("sslrootcert=system needs sslmode=verify-full (as in libpq)")
            import certifi

            root_cert = certifi.where()
        # No sslrootcert: Python's default store (whatever the host has; not used deployed).
        context = ssl.create_default_context(cafile=root_cert)
        context.check_hostname = sslmode == "verify-full"
        return context
    raise ValueError(f"unknown sslmode {sslmode!r} in DATABASE_URL")


def database_url() -> str:
    """DATABASE_URL, on every stage: the app never starts a database of its own. Locally, the
    dev stack (`make run`, the CLI under STAGE=local), tests/conftest.py and bench/_setup.py
    start the embedded one and set DATABASE_URL before the app reads it."""
    url = get_settings().database_url
    if not url:
        raise DatabaseUnavailable(
            "DATABASE_URL is not set: a deployment sets it in the function's environment (docs/deploy.md);"
            " locally, make run, the test suite and the benchmarks start the embedded database and set it"
        )
    return url


def connect() -> pg8000.native.Connection:
    url = database_url()
    try:
        try:
            conn = pg8000.native.Connection(**connection_params(url))
        except (InterfaceError, DatabaseError) as exc:
            if not _auth_failed(exc) or not get_settings().database_secret_arn:
                raise
            # The password was rotated since it was cached: read the secret again, once.
            conn = pg8000.native.Connection(**connection_params(url, refresh_secret=True))
    except (InterfaceError, OSError, DatabaseError) as exc:
        # Say why: "network error" would send the on-call to the VPC.
        code = _refusal(exc)
        if code == _AUTH_FAILED:
            raise DatabaseUnavailable("the database refused the credentials (28P01)") from exc
        if code in _NO_SLOT:
            raise DatabaseUnavailable(f"the database has no connection slot left ({code})") from exc
        raise DatabaseUnavailable(str(exc)) from exc
    timeout_ms = get_settings().db_statement_timeout_ms
    if timeout_ms is not None:
        # Only where DB_STATEMENT_TIMEOUT_MS is set (CLI, benchmarks): a SET pins an RDS Proxy
        # session, so deployed functions keep the database's default from migration 0016.
        conn.run(f"SET statement_timeout = {int(timeout_ms)}")  # an int from settings, not input
    return conn


# too_many_connections (max_connections, or a role's CONNECTION LIMIT), and the slots kept for
# superusers/replication being all that is left.
_NO_SLOT = frozenset({"53300", "53400"})


def _auth_failed(exc: BaseException | None) -> bool:
    """Whether the server refused the password."""
    return _refusal(exc) == _AUTH_FAILED


def _refusal(exc: BaseException | None) -> str | None:
    """The SQLSTATE with which the server refused a new connection (28P01, 53300 …). pg8000
    may hide it behind the "network error" of writing Terminate to the socket the server
    already closed, so the whole chain of causes is searched."""
    seen = 0
    while exc is not None and seen < 5:
        args = exc.args if isinstance(exc, DatabaseError) else ()
        if args and isinstance(args[0], dict) and args[0].get("C"):
            return args[0]["C"]
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _is_connection_gone(exc: Exception) -> bool:
    if isinstance(exc, (InterfaceError, OSError)):
        return True
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("C") in _CONNECTION_GONE_CODES
    return False


def _safe_to_retry(exc: Exception) -> bool:
    """Whether the failed statement certainly did not run, so a new connection may run it:
    only when the server answered it by saying it ended the session (57P0x, 08xxx). A socket
    error or a timeout is not retried: the server may be running, or may have committed, the
    statement we stopped hearing about (the caller gets 503 and decides)."""
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("C") in _CONNECTION_GONE_CODES
    return False


def _closed_while_idle(conn: pg8000.native.Connection) -> bool:
    """An idle connection has nothing to say: if its socket is readable, the server closed it
    (restart, idle timeout, terminated backend) or the socket is broken. Checked before a
    statement is sent, so a fresh connection runs it instead, with no doubt about a retry."""
    sock = getattr(conn, "_usock", None)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a pg8000 database error (its `C` field, e.g. "23505"); None otherwise."""
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("C")
    return None


def _state() -> threading.local:
    if not hasattr(_local, "conn"):
        _local.conn = None
        _local.depth = 0
        _local.after_commit = []
        _local.before_commit = []
    return _local


def in_transaction() -> bool:
    return _state().depth > 0


def on_commit(fn: Callable[[], Any]) -> None:
    """Run `fn` after the current transaction commits (at once when none is open); dropped
    on rollback. Callbacks run in registration order; one that raises is logged, never
    propagated: the data is committed and the request must say so."""
    state = _state()
    if not state.depth:
        _run_callbacks([fn])
        return
    state.after_commit.append(fn)


def pending_on_commit(kind: type[T]) -> T | None:
    """The callback of type `kind` already queued on the current transaction, if any (lets a
    caller batch its work into one callback per transaction)."""
    return next((fn for fn in _state().after_commit if isinstance(fn, kind)), None)


def before_commit(fn: Callable[[], Any]) -> None:
    """Run `fn` inside the current transaction, just before COMMIT (at once when none is open).
    Unlike an after-commit callback it is part of the transaction: if it raises, everything
    rolls back (the outbox row of a change is written this way, so neither exists alone)."""
    state = _state()
    if not state.depth:
        fn()
        return
    state.before_commit.append(fn)


def pending_before_commit(kind: type[T]) -> T | None:
    """The before-commit callback of type `kind` already queued on the current transaction."""
    return next((fn for fn in _state().before_commit if isinstance(fn, kind)), None)


def _run_callbacks(callbacks: list[Callable[[], Any]]) -> None:
    for fn in callbacks:
        try:
            fn()
        except Exception:  # noqa: BLE001 - after the commit nothing may undo the answer
            from chalicelib.observability import logger

            logger.exception("after-commit callback failed", extra={"callback": repr(fn)})


def get_connection() -> pg8000.native.Connection:
    state = _state()
    if state.conn is not None and not state.depth and _closed_while_idle(state.conn):
        close()
    if state.conn is None:
        state.conn = connect()
    return state.conn


def close() -> None:
    state = _state()
    if state.conn is not None:
        # Closing a dead socket may fail; the connection is gone either way.
        with suppress(Exception):
            state.conn.close()
    state.conn = None
    state.depth = 0
    state.after_commit = []
    state.before_commit = []


def _run(sql: str, params: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    state = _state()
    attempts = 1 if state.depth else 2  # inside a transaction a retry would lose earlier work
    for attempt in range(attempts):
        conn = get_connection()
        try:
            rows = conn.run(sql, **params)
            columns = [c["name"] for c in (conn.columns or [])]
            return rows or [], columns
        except Exception as exc:
            if _is_connection_gone(exc):
                close()
                if attempt + 1 < attempts and _safe_to_retry(exc):
                    continue
                raise DatabaseUnavailable(str(exc)) from exc
            raise
    raise AssertionError("unreachable")


def query(sql: str, **params: Any) -> list[dict[str, Any]]:
    rows, columns = _run(sql, params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def query_one(sql: str, **params: Any) -> dict[str, Any] | None:
    rows = query(sql, **params)
    return rows[0] if rows else None


def scalar(sql: str, **params: Any) -> Any:
    rows, _ = _run(sql, params)
    return rows[0][0] if rows else None


def execute(sql: str, **params: Any) -> int:
    """Run a statement; returns the affected row count."""
    _run(sql, params)
    return get_connection().row_count


@contextmanager
def transaction() -> Iterator[None]:
    """BEGIN/COMMIT around the block; a nested block joins the outer transaction."""
    state = _state()
    if state.depth:
        state.depth += 1
        try:
            yield
        finally:
            state.depth -= 1
        return
    _run("BEGIN", {})  # retried on a dead connection: nothing has happened yet
    state.depth = 1
    state.after_commit = []
    state.before_commit = []
    try:
        yield
        while state.before_commit:  # a callback may queue another: run until none is left
            state.before_commit.pop(0)()
    except BaseException:
        state.depth = 0
        state.after_commit = []
        state.before_commit = []
        try:
            get_connection().run("ROLLBACK")
        except Exception:  # noqa: BLE001 - a dead connection rolls back by itself
            close()
        raise
    # COMMIT goes on the transaction's own connection, never a new one: get_connection() at
    # depth 0 would swap a connection the server closed meanwhile for a fresh one, whose COMMIT
    # succeeds as a no-op ("there is no transaction in progress"), and the caller would
    # report the rolled-back work as stored.
    conn = state.conn
    state.depth = 0
    callbacks, state.after_commit = state.after_commit, []
    try:
        if conn is None:
            raise InterfaceError("the transaction's connection was closed")
        conn.run("COMMIT")
    except Exception as exc:
        if _is_connection_gone(exc):
            close()
            raise DatabaseUnavailable(str(exc)) from exc
        raise
    _run_callbacks(callbacks)


def ping() -> bool:
    try:
        return scalar("SELECT 1") == 1
    except DatabaseUnavailable:
        return False
