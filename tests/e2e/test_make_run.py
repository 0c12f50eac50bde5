"""`make run` brings the whole local stack up and Ctrl-C takes it down."""

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


def test_make_run_answers_health_within_60_seconds_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STAGE", "AWS_ENDPOINT_URL")}
    # Every listener on a free port, so a developer's own `make run` cannot collide with this.
    env.update(
        PORT=str(port),
        MOTO_PORT=str(free_port()),
        FAKE_GRAPH_PORT=str(free_port()),
        WS_PORT=str(free_port()),
        WS_MANAGEMENT_PORT=str(free_port()),
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
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode()
    assert f"http://127.0.0.1:{port}" in output
    assert "stopping..." in output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
