"""Local-stack component: runs the app's scheduled handlers (template sync, window expiry).

Intervals come from the same TEMPLATE_SYNC_SCHEDULE / WINDOW_EXPIRY_SCHEDULE expressions
the deployed schedules use (`rate(N unit)`); LOCAL_TEMPLATE_SYNC_SECONDS and
LOCAL_WINDOW_EXPIRY_SECONDS override them for a quicker local loop.
"""

from __future__ import annotations

import os
import re
import threading
import time
import traceback
from collections.abc import Callable

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str, default: float) -> float:
    """Seconds between runs of a `rate(...)` expression; `default` for anything else (cron)."""
    match = _RATE.match(expression.strip())
    if not match:
        return default
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


class Job:
    def __init__(self, name: str, interval: float, run: Callable[[], object], first_delay: float):
        self.name = name
        self.interval = interval
        self.run = run
        self.next_at = time.monotonic() + first_delay
        self.runs = 0
        self.last_error: str | None = None


class LocalScheduler:
    def __init__(self, jobs: list[Job]):
        self.jobs = jobs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LocalScheduler:
        self._thread = threading.Thread(target=self._loop, name="local-scheduler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for job in self.jobs:
                    if now >= job.next_at and not self._stop.is_set():
                        self.run_job(job)
                        job.next_at = time.monotonic() + job.interval
                wake = min(job.next_at for job in self.jobs) if self.jobs else now + 1
                self._stop.wait(max(0.05, min(1.0, wake - time.monotonic())))
        finally:
            from chalicelib import db

            db.close()  # the jobs' connection is this thread's own (db keeps one per thread)

    def run_job(self, job: Job) -> None:
        try:
            job.run()
            job.last_error = None
        except Exception as exc:  # noqa: BLE001 - like a failed Lambda run: log it, try next time
            job.last_error = str(exc)
            print(f"scheduled {job.name} failed: {exc}")
            traceback.print_exc()
        finally:
            job.runs += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def _scheduled_event(name: str) -> dict:
    # What EventBridge hands a scheduled Lambda; the handlers ignore it but Chalice parses it.
    from datetime import UTC, datetime

    return {
        "version": "0",
        "id": name,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "resources": [f"arn:aws:events:local:000000000000:rule/{name}"],
        "detail": {},
    }


def invoke_scheduled(name: str) -> object:
    """Invoke the handler as Lambda would: through the app's registered event source handler."""
    import importlib
    import sys

    from chalice.local import LambdaContext

    from devstack.stack import PROJECT_DIR

    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    app_module = importlib.import_module("app")
    handler = app_module.app.handler_map[name]  # blueprints register under the handler's name
    return handler(_scheduled_event(name), LambdaContext(name, 256, max_runtime_ms=300_000))


class SchedulerComponent:
    def __init__(self, stack):
        sync_default = rate_seconds(os.environ.get("TEMPLATE_SYNC_SCHEDULE", "rate(1 hour)"), 3600)
        expiry_default = rate_seconds(os.environ.get("WINDOW_EXPIRY_SCHEDULE", "rate(5 minutes)"), 300)
        sync_every = float(os.environ.get("LOCAL_TEMPLATE_SYNC_SECONDS") or sync_default)
        expiry_every = float(os.environ.get("LOCAL_WINDOW_EXPIRY_SECONDS") or expiry_default)
        # `make run`: first runs soon after start, so the inbox has its templates without waiting
        # an hour. Test stacks (ephemeral): only on schedule, so no run lands in a test's middle.
        ephemeral = getattr(stack, "ephemeral", False)
        self.scheduler = LocalScheduler(
            [
                Job(
                    "handle_template_sync",
                    sync_every,
                    lambda: invoke_scheduled("handle_template_sync"),
                    sync_every if ephemeral else 2.0,
                ),
                Job(
                    "handle_window_expiry",
                    expiry_every,
                    lambda: invoke_scheduled("handle_window_expiry"),
                    expiry_every if ephemeral else 5.0,
                ),
            ]
        )

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()

    def describe(self) -> str:
        parts = ", ".join(f"{job.name} every {job.interval:g} s" for job in self.scheduler.jobs)
        return f"scheduler         {parts}"
