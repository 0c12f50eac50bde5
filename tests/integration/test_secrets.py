"""Secrets at run time (issue 15): deployed functions read the app's secrets and the database
password from Secrets Manager (moto here), cache them 5 minutes, see a rotation after that, and
a database that refuses the cached password (28P01) makes the connection read the secret again,
once. The database part runs on the session's embedded PostgreSQL, with password
authentication switched on for one throwaway role only (pg_hba.conf), so nothing else changes.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib import config, db

APP_SECRET = "crm-inbox/test/app"
DB_SECRET = "crm-inbox/test/database"
# Plain values the test session sets; the secret's must win over none of them by accident.
SECRET_ENV = ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "AUTH_SECRET")


@pytest.fixture
def secrets(monkeypatch):
    """moto's Secrets Manager, Powertools' provider built inside it, the plain variables gone."""
    with mock_aws():
        from aws_lambda_powertools.utilities.parameters import base

        base.DEFAULT_PROVIDERS.clear()  # a client from before the mock must not be reused
        for name in SECRET_ENV:
            monkeypatch.delenv(name, raising=False)
        client = boto3.client("secretsmanager", region_name="us-east-1")
        yield client
        base.DEFAULT_PROVIDERS.clear()
    config.reset_settings()


def _calls(monkeypatch) -> list[str]:
    """Every GetSecretValue Powertools makes, by secret id."""
    from aws_lambda_powertools.utilities.parameters import secrets as provider

    seen: list[str] = []
    original = provider.SecretsProvider._get

    def counting(self, name, **kwargs):
        seen.append(name)
        return original(self, name, **kwargs)

    monkeypatch.setattr(provider.SecretsProvider, "_get", counting)
    return seen


def test_app_secrets_are_read_at_run_time_and_cached(secrets, monkeypatch):
    arn = secrets.create_secret(
        Name=APP_SECRET,
        SecretString=json.dumps({"AUTH_SECRET": "from-secrets-manager-1", "WHATSAPP_ACCESS_TOKEN": "tok-1", "X": "y"}),
    )["ARN"]
    monkeypatch.setenv("APP_SECRET_ARN", arn)
    calls = _calls(monkeypatch)
    config.reset_settings()

    settings = config.get_settings()
    assert settings.auth_secret == "from-secrets-manager-1"
    assert settings.whatsapp_access_token == "tok-1"
    assert settings.whatsapp_app_secret == ""  # absent from the secret, absent from the env
    assert config.get_settings() is settings and calls == [arn]  # cached: one call

    # Rotated: the cached copy stays until it is older than SECRET_MAX_AGE_SECONDS...
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"AUTH_SECRET": "from-secrets-manager-2"}))
    assert config.get_settings().auth_secret == "from-secrets-manager-1"
    # ...then the next read fetches it (Powertools' own cache is dated by wall clock).
    monkeypatch.setattr(config.time, "monotonic", lambda: float("1e12"))
    from aws_lambda_powertools.utilities.parameters import base

    monkeypatch.setattr(base.DEFAULT_PROVIDERS["secrets"], "has_not_expired_in_cache", lambda key: False)
    assert config.get_settings().auth_secret == "from-secrets-manager-2"
    assert len(calls) == 2


def test_a_forced_refresh_reads_the_secret_again(secrets, monkeypatch):
    arn = secrets.create_secret(Name=APP_SECRET, SecretString=json.dumps({"AUTH_SECRET": "one"}))["ARN"]
    monkeypatch.setenv("APP_SECRET_ARN", arn)
    config.reset_settings()
    assert config.get_settings().auth_secret == "one"
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"AUTH_SECRET": "two"}))
    assert config.refresh_settings().auth_secret == "two"
    assert config.get_settings().auth_secret == "two"


def test_without_a_secret_arn_nothing_is_fetched_and_powertools_parameters_never_load():
    """Local and test stages: the plain variables, and no import a cold start would pay for."""
    import subprocess
    import sys

    script = (
        "import json, sys; from chalicelib.config import get_settings; s = get_settings();"
        "print(json.dumps([s.auth_secret, 'aws_lambda_powertools.utilities.parameters' in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("APP_SECRET_ARN", "DATABASE_SECRET_ARN")}
    env["AUTH_SECRET"] = "plain-value"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["plain-value", False]


# --- the database password -------------------------------------------------------------------


@pytest.fixture
def password_role(database_url):
    """A role that must give its password (scram), on the session's server, dropped after."""
    role = f"rot_{uuid.uuid4().hex[:10]}"
    conn = _admin(database_url)
    try:
        conn.run("SET statement_timeout = 0")
        hba = Path(conn.run("SHOW hba_file")[0][0])
        original = hba.read_text()
        conn.run(f"CREATE ROLE {role} LOGIN PASSWORD 'first-password'")  # generated name
        # First matching line wins: only this role loses "trust".
        hba.write_text(f"local all {role} scram-sha-256\nhost all {role} all scram-sha-256\n" + original)
        conn.run("SELECT pg_reload_conf()")
    finally:
        conn.close()
    try:
        yield role
    finally:
        hba.write_text(original)
        conn = _admin(database_url)
        try:
            conn.run("SELECT pg_reload_conf()")
            conn.run(f"DROP ROLE IF EXISTS {role}")
        finally:
            conn.close()


def test_a_rotated_database_password_is_read_again_once(secrets, password_role, database_url, monkeypatch):
    # The session URL is postgresql://postgres:@/postgres?host=...: swap the user, drop the password.
    url = database_url.replace("postgresql://postgres:@", f"postgresql://{password_role}@", 1)
    assert password_role in url
    arn = secrets.create_secret(
        Name=DB_SECRET, SecretString=json.dumps({"username": password_role, "password": "first-password"})
    )["ARN"]
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    calls = _calls(monkeypatch)
    config.reset_settings()

    conn = db.connect()
    assert conn.run("SELECT current_user")[0][0] == password_role
    conn.close()
    assert calls == [arn]

    # Rotation: the database and the secret change, the container still holds the old copy.
    admin = _admin(database_url)
    admin.run(f"ALTER ROLE {password_role} PASSWORD 'second-password'")
    admin.close()
    secrets.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"username": password_role, "password": "second-password"})
    )
    conn = db.connect()  # 28P01 with the cached password, then one fresh read
    assert conn.run("SELECT current_user")[0][0] == password_role
    conn.close()
    assert calls == [arn, arn]

    # A secret that is simply wrong: one refresh, then the failure is the caller's (503).
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": password_role, "password": "wrong"}))
    config.reset_settings()
    calls.clear()
    admin = _admin(database_url)
    admin.run(f"ALTER ROLE {password_role} PASSWORD 'third-password'")
    admin.close()
    with pytest.raises(db.DatabaseUnavailable) as failure:
        db.connect()
    assert "28P01" in str(failure.value)
    assert calls == [arn, arn]  # the cached read and exactly one refresh
    assert "wrong" not in str(failure.value) and "third-password" not in str(failure.value)


def _admin(database_url: str):
    """A superuser connection to the session's server, built without the app's settings (which
    now point at the test role and its secret)."""
    from urllib.parse import parse_qs, urlparse

    import pg8000.native

    parsed = urlparse(database_url)
    socket_dir = parse_qs(parsed.query)["host"][0]
    return pg8000.native.Connection(
        user="postgres", database="postgres", unix_sock=f"{socket_dir}/.s.PGSQL.{parsed.port or 5432}"
    )
