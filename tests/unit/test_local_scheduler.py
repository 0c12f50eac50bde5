"""The local scheduler: rate expressions, repeated runs, a failing job does not stop the others."""

from __future__ import annotations

import time

from devstack.scheduler import Job, LocalScheduler, rate_seconds


def test_rate_expressions_become_seconds_and_anything_else_the_default():
    assert rate_seconds("rate(1 hour)", 9) == 3600
    assert rate_seconds("rate(5 minutes)", 9) == 300
    assert rate_seconds("rate(2 days)", 9) == 172800
    assert rate_seconds("cron(0 * * * ? *)", 9) == 9


def test_jobs_run_repeatedly_and_a_failing_one_does_not_stop_the_others():
    runs: list[str] = []

    def boom():
        runs.append("boom")
        raise RuntimeError("Graph fora do ar")

    scheduler = LocalScheduler([Job("ok", 0.05, lambda: runs.append("ok"), 0.0), Job("boom", 0.05, boom, 0.0)]).start()
    try:
        deadline = time.monotonic() + 3
        while (runs.count("ok") < 3 or runs.count("boom") < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert runs.count("ok") >= 3
    assert runs.count("boom") >= 3
    assert scheduler.jobs[1].last_error == "Graph fora do ar"
    assert scheduler.jobs[0].last_error is None


def test_the_schedules_are_configurable_through_the_environment():
    """The expressions the deployer reads from app.py follow the two variables."""
    import json
    import os
    import subprocess
    import sys

    from devstack.stack import PROJECT_DIR

    script = (
        "import json, app\n"
        "print(json.dumps({s.name: s.schedule_expression for s in app.app.event_sources"
        " if hasattr(s, 'schedule_expression')}))"
    )

    def schedules(**env):
        base = {k: v for k, v in os.environ.items() if k not in ("TEMPLATE_SYNC_SCHEDULE", "WINDOW_EXPIRY_SCHEDULE")}
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=PROJECT_DIR, env={**base, **env}, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert schedules() == {"handle_template_sync": "rate(1 hour)", "handle_window_expiry": "rate(5 minutes)"}
    assert schedules(TEMPLATE_SYNC_SCHEDULE="rate(30 minutes)", WINDOW_EXPIRY_SCHEDULE="cron(*/2 * * * ? *)") == {
        "handle_template_sync": "rate(30 minutes)",
        "handle_window_expiry": "cron(*/2 * * * ? *)",
    }
