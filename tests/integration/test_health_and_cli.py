"""GET /health and the create-admin command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chalice.test import Client

from chalicelib import db
from chalicelib.config import reset_settings
from chalicelib.security import verify_password

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_health_is_200_when_the_database_answers(db_clean):
    from app import app

    with Client(app) as client:
        response = client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_unreachable(db_clean, monkeypatch):
    from app import app

    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/none")
    reset_settings()
    db.close()
    try:
        with Client(app) as client:
            response = client.http.get("/health")
        assert response.status_code == 503
        assert response.json_body["database"] == "unreachable"
        # Any other route answers 503 too (not 500): a retry can help.
        with Client(app) as client:
            response = client.http.post(
                "/auth/login", body=b'{"email": "a@b.co", "senha": "x"}', headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 503
        assert response.json_body["Code"] == "ServiceUnavailable"
        assert response.headers["Retry-After"] == "5"
    finally:
        monkeypatch.undo()
        reset_settings()
        db.close()


def test_create_admin_stores_an_argon2_hash_and_resets_on_rerun(db_clean):
    env = {**os.environ, "ADMIN_PASSWORD": "segredo-forte-1"}
    command = [sys.executable, "-m", "chalicelib.cli", "create-admin", "--email", "Ana@Escola.com.br"]
    done = subprocess.run([*command, "--nome", "Ana"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    row = db.query_one("SELECT nome, email, senha_hash FROM administradores")
    assert row["email"] == "ana@escola.com.br"
    assert row["senha_hash"].startswith("$argon2id$")
    assert verify_password(row["senha_hash"], "segredo-forte-1")
    assert not verify_password(row["senha_hash"], "outra")

    env["ADMIN_PASSWORD"] = "nova-senha-forte"
    done = subprocess.run([*command, "--nome", "Ana B"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    row = db.query_one("SELECT nome, senha_hash, count(*) OVER () AS n FROM administradores")
    assert row["n"] == 1 and row["nome"] == "Ana B"
    assert verify_password(row["senha_hash"], "nova-senha-forte")


def test_create_admin_refuses_a_short_password(db_clean):
    env = {**os.environ, "ADMIN_PASSWORD": "curta"}
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "create-admin", "--email", "a@b.co", "--nome", "A"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert db.scalar("SELECT count(*) FROM administradores") == 0
