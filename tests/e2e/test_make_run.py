"""`make run` brings the whole local stack up, the README's walk-through works against it, and
Ctrl-C takes it down."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.stack import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _wait_healthy(proc: subprocess.Popen, port: int) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                return response.read().decode()
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.5)
    raise AssertionError("no /health answer within 90 s")


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=60)[0].decode()


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
        LOCAL_DATA_DIR=str(tmp_path / "local"),
    )
    proc = _start(env)
    try:
        assert '"database":"ok"' in _wait_healthy(proc, port)
        photo_url = _readme_walk_through(env, port, tmp_path / "local" / "pgdata")
        _console_is_served(console_port, port, int(env["WS_PORT"]))
    finally:
        output = _stop(proc)
    assert f"http://127.0.0.1:{port}" in output
    assert "stopping..." in output
    assert "fake WhatsApp: sent text to 5511987654321" in output  # one line per message sent
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)

    # A restart keeps the media with their rows (the bucket is mirrored under LOCAL_DATA_DIR).
    proc = _start(env)
    try:
        _wait_healthy(proc, port)
        token = _login(port)
        photo = _photo_message(port, token)
        assert photo["media_url"] and photo["media_url"] != photo_url  # freshly presigned
        with urllib.request.urlopen(photo["media_url"], timeout=10) as response:
            assert response.read()[:2] == b"\xff\xd8"  # the JPEG the customer sent
    finally:
        output = _stop(proc)
    restored = re.search(r"(\d+) restored", output)
    assert restored and int(restored.group(1)) >= 3, output  # photo, its thumbnail, the voice note


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

    keep = ("PATH", "HOME", "MOTO_PORT", "FAKE_GRAPH_PORT", "WS_MANAGEMENT_PORT")
    shell = {k: stack_env[k] for k in keep if k in stack_env}
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
    # The fake WhatsApp's approved templates of the school (not Meta's), and make run's gateway.
    assert "4 templates em 1 página(s)" in cli("sync-templates")
    assert "janela(s)" in cli("expire-windows")
    assert cli("media-redrive", "--max", "1").startswith("0 mensagem(ns)")  # moto's queues, not AWS's
    login = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/login",
        data=json.dumps({"email": "ana@escola.com.br", "senha": "uma-senha-forte"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=10) as response:
        token = json.load(response)["token"]
    items = _get(port, token, "/conversas")["items"]
    assert [c["contato"]["nome"] for c in items] == ["Joana Silva"]
    assert items[0]["nao_lidas"] >= 4  # text, photo, voice note, location (and the reaction)
    # An attendant answers; the fake WhatsApp shows what it was sent.
    _post(port, token, f"/conversas/{items[0]['id']}/mensagens", {"tipo": "texto", "conteudo": "Temos sim!"})
    with urllib.request.urlopen(f"http://127.0.0.1:{stack_env['FAKE_GRAPH_PORT']}/_fake/sent", timeout=10) as r:
        sent = json.load(r)
    assert sent[0]["to"] == "5511987654321" and sent[0]["body"]["body"] == "Temos sim!"
    deadline = time.monotonic() + 30  # the media worker stores the photo
    while not (photo := _photo_message(port, token))["media_url"] and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(4)  # one mirror round
    return photo["media_url"]


def _get(port: int, token: str, path: str):
    import json

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _post(port: int, token: str, path: str, data: dict):
    import json

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(data).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _login(port: int) -> str:
    import json

    login = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/login",
        data=json.dumps({"email": "ana@escola.com.br", "senha": "uma-senha-forte"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=10) as response:
        return json.load(response)["token"]


def _photo_message(port: int, token: str) -> dict:
    conversa = _get(port, token, "/conversas")["items"][0]
    mensagens = _get(port, token, f"/conversas/{conversa['id']}/mensagens?limit=100")["items"]
    return next(m for m in mensagens if m.get("media_type") == "image")
