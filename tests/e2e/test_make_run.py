"""`make run` brings the whole local stack up, the README's walk-through works against it, and
Ctrl-C takes it down."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from chalicelib.local.stack import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_make_run_answers_health_and_the_readme_walk_through_then_stops_on_ctrl_c(tmp_path):
    port = free_port()
    # A fresh machine's shell: none of the test run's settings (its secrets, STAGE, DATABASE_URL).
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    # Every listener on a free port, so a developer's own `make run` cannot collide with this.
    env.update(
        PORT=str(port),
        MOTO_PORT=str(free_port()),
        FAKE_GRAPH_PORT=str(free_port()),
        WS_PORT=str(free_port()),
        WS_MANAGEMENT_PORT=str(free_port()),
        CONSOLE_PORT=str(console_port := free_port()),
        LOCAL_DATA_DIR=str(tmp_path / "pg"),
    )
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.5)
        assert body is not None, "no /health answer within 60 s"
        assert '"database":"ok"' in body
        _readme_walk_through(env, port, tmp_path / "pg")
        _console_is_served(console_port, port, int(env["WS_PORT"]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode()
    assert f"http://127.0.0.1:{port}" in output
    assert "stopping..." in output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def _console_is_served(console_port: int, api_port: int, ws_port: int) -> None:
    """The console's build, its client-side routes, and the runtime config pointing at this stack."""
    import json

    base = f"http://127.0.0.1:{console_port}"
    with urllib.request.urlopen(f"{base}/conversas/qualquer", timeout=10) as response:
        assert '<div id="root">' in response.read().decode()
    with urllib.request.urlopen(f"{base}/config.json", timeout=10) as response:
        config = json.load(response)
    assert config["apiUrl"] == f"http://127.0.0.1:{api_port}"
    assert config["wsUrl"] == f"ws://127.0.0.1:{ws_port}"
    assert config["vapidPublicKey"]


def _readme_walk_through(stack_env: dict[str, str], port: int, data_dir: Path) -> None:
    """The README's "Try it" and "Commands", from another shell: only STAGE, DATABASE_URL (as
    the README spells it) and the ports this test moved are set."""
    import json

    shell = {k: stack_env[k] for k in ("PATH", "HOME", "MOTO_PORT", "FAKE_GRAPH_PORT") if k in stack_env}
    shell.update(STAGE="local", DATABASE_URL=f"postgresql://postgres:@/postgres?host={data_dir}")

    def cli(*args: str, **extra: str) -> str:
        done = subprocess.run(
            [str(PROJECT_DIR / ".venv/bin/python"), "-m", "chalicelib.cli", *args],
            cwd=PROJECT_DIR, env={**shell, **extra}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    cli("create-admin", "--email", "ana@escola.com.br", "--nome", "Ana", ADMIN_PASSWORD="uma-senha-forte")
    cli("simulate", "--url", f"http://127.0.0.1:{port}/webhooks/whatsapp")
    assert "0 templates em 1 página(s)" in cli("sync-templates")  # the fake Graph API, not Meta's
    assert "janela(s)" in cli("expire-windows")
    assert cli("media-redrive", "--max", "1").startswith("0 mensagem(ns)")  # moto's queues, not AWS's
    login = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/login",
        data=json.dumps({"email": "ana@escola.com.br", "senha": "uma-senha-forte"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=10) as response:
        token = json.load(response)["token"]
    inbox = urllib.request.Request(f"http://127.0.0.1:{port}/conversas", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(inbox, timeout=10) as response:
        items = json.load(response)["items"]
    assert [c["contato"]["nome"] for c in items] == ["Joana Silva"]
    assert items[0]["nao_lidas"] >= 4  # text, photo, voice note, location (and the reaction)
