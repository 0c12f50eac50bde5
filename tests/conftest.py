"""Shared fixtures: one embedded PostgreSQL per test session, migrated once.

Every test that touches the database asks for `db_clean`, which empties the tables.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# The environment a test run sees, before any app module reads its settings.
os.environ["STAGE"] = "test"
for _key, _value in {
    "WHATSAPP_APP_SECRET": "test-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "test-verify-token",
    "WHATSAPP_ACCESS_TOKEN": "test-access-token",
    "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
    "WHATSAPP_WABA_ID": "200000000000002",
    "AUTH_SECRET": "test-auth-secret-0123456789abcdef0123456789abcdef",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
for _key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "DATABASE_URL"):
    os.environ.pop(_key, None)
# The console's origin in tests (CORS); the local gateway answers its own errors as deployed.
os.environ["CONSOLE_ORIGINS"] = "http://127.0.0.1:8080"

from devstack import gateway  # noqa: E402 - after the environment is set

gateway.install()


@pytest.fixture(scope="session")
def database_url():
    """Start the embedded server in a temporary directory and migrate it."""
    from chalicelib.config import reset_settings
    from chalicelib.migrate import migrate
    from devstack.embedded_pg import ensure_embedded_database

    data_dir = tempfile.mkdtemp(prefix="crm-test-pg-")
    url = ensure_embedded_database(data_dir)
    reset_settings()
    migrate()
    yield url
    # Each session's cluster is ~90 MB: stop it and remove it rather than fill /tmp.
    from chalicelib import db
    from devstack.embedded_pg import stop_embedded_database

    db.close()
    stop_embedded_database()
    shutil.rmtree(data_dir, ignore_errors=True)


_APP_TABLES_SQL = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"


@pytest.fixture
def db_clean(database_url):
    """An empty, migrated database for this test."""
    from chalicelib import db

    db.close()
    tables = [row["tablename"] for row in db.query(_APP_TABLES_SQL)]
    if tables:
        db.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")  # names from pg_tables
    yield database_url
    db.close()


@pytest.fixture
def published(monkeypatch):
    """Live events published by the test, in order, each validated against its contract."""
    from tests.live_capture import capture_live_events

    return capture_live_events(monkeypatch)


def run_admin_sql(sql: str) -> None:
    """CREATE/DROP DATABASE on a connection of its own, without the app's statement or socket
    timeout (a busy machine must not fail a fixture at 15 s) and outside any transaction."""
    import pg8000.native

    from chalicelib import db

    # No socket timeout either: CREATE DATABASE copies a template, slow on a loaded disk.
    conn = pg8000.native.Connection(**{**db.connection_params(db.database_url()), "timeout": None})
    try:
        conn.run("SET statement_timeout = 0")
        conn.run(sql)
    finally:
        conn.close()


@pytest.fixture
def scratch_database(database_url):
    """A new, empty database on the embedded server; DATABASE_URL points at it meanwhile."""
    import uuid

    from chalicelib import db
    from chalicelib.config import reset_settings

    name = f"scratch_{uuid.uuid4().hex[:12]}"
    run_admin_sql(f"CREATE DATABASE {name}")  # generated identifier, not input
    scratch_url = database_url.replace("/postgres?", f"/{name}?")
    db.close()
    os.environ["DATABASE_URL"] = scratch_url
    reset_settings()
    try:
        yield scratch_url
    finally:
        db.close()
        os.environ["DATABASE_URL"] = database_url
        reset_settings()
        run_admin_sql(f"DROP DATABASE {name} WITH (FORCE)")


# Fixtures shared by the integration and end-to-end levels --------------------------------------
@pytest.fixture
def webhook(db_clean):
    """The app's test client posting signed webhooks, with the media queue in moto."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.config import reset_settings
    from chalicelib.services import media_jobs
    from tests.integration.webhook_support import Webhook

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="media-test")["QueueUrl"]
        os.environ["MEDIA_QUEUE_URL"] = queue_url
        reset_settings()
        media_jobs.reset_client()
        try:
            with Client(app) as client:
                yield Webhook(client, sqs, queue_url)
        finally:
            os.environ.pop("MEDIA_QUEUE_URL", None)
            reset_settings()
            media_jobs.reset_client()


@pytest.fixture
def moto_http(monkeypatch):
    """moto's threaded server on a free port (real HTTP), AWS_ENDPOINT_URL pointing at it, and
    the media bucket created there."""
    import boto3

    from devstack.aws import start_moto_server
    from devstack.stack import free_port
    from tests.integration.media_support import BUCKET, reset_clients

    port = free_port()
    server = start_moto_server("127.0.0.1", port)
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    reset_clients()
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    monkeypatch.undo()
    reset_clients()
