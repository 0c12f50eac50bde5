"""Cold start: what a new Lambda container pays before its first answer.

    .venv/bin/python bench/cold_start.py [--runs 7]

1. Whole processes, one after another: `python -c "import app"` against `python -c "import boto3"`
   (the yardstick of issue 17), median CPU time (user+sys of the child, from
   getrusage(RUSAGE_CHILDREN) around it) and median peak RSS (the child's own, from wait4).
2. For each function of the app, a fresh process that imports app and invokes its handler once
   with the event Lambda would give it: CPU of the whole process and wall time from start to the
   first answer.

The functions that need a database get a migrated embedded PostgreSQL in a temporary directory
(never DATABASE_URL: this must not write into a database it did not create), the template sync
a fake Graph API on localhost; both are stopped at the end. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# The deployed functions' settings that matter here (tracing off as in .chalice/config.json's
# local/test stages; not in Lambda either, so Powertools would not trace anyway).
os.environ.update(
    {
        "STAGE": "test",
        "AWS_REGION": "us-east-1",  # set by the Lambda runtime; the websocket handlers need it
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AUTH_SECRET": "bench-auth-secret-" + "x" * 32,
        "WHATSAPP_APP_SECRET": "bench-app-secret",
        "WHATSAPP_ACCESS_TOKEN": "bench-access-token",
        "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
        "WHATSAPP_WABA_ID": "200000000000002",
    }
)
os.environ.pop("DATABASE_URL", None)  # only the database made below
os.environ.pop("WS_MANAGEMENT_URL", None)  # no browsers: publishing is a no-op
os.environ.pop("MEDIA_QUEUE_URL", None)

# Prepended to every function's script: a Lambda context and the clock started before `import app`.
_PRELUDE = """
import json, time
_t0 = time.perf_counter()
class Ctx:
    function_name = "crm-inbox-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:crm-inbox-bench"
    aws_request_id = "bench-request"
    log_group_name = log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30_000
import app
_t1 = time.perf_counter()
"""
_REPORT = """
_t2 = time.perf_counter()
# The process's own high-water mark: wait4's figure would include the benchmark's memory at fork.
_hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
_times = {"import_ms": (_t1 - _t0) * 1000, "answer_ms": (_t2 - _t0) * 1000, "rss_mb": int(_hwm) / 1024}
print(json.dumps({**_times, "answer": _describe(answer)}))
"""


def _api_event(method: str, path: str, body: str | None = None, headers: dict | None = None, admin=None) -> dict:
    """An API Gateway REST (v1) proxy event, as the APIHandler function receives it (with the
    authorizer's context when `admin` is given: API Gateway ran the authorizer before)."""
    authorizer = {"principalId": admin, "admin_id": admin} if admin else None
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "bench.local", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _scripts(token: str, admin_id: str) -> dict[str, str]:
    """One script per function: the call made after `import app` (its result is `answer`)."""
    from devstack import payloads as wa

    body, headers = wa.signed(wa.envelope([wa.text("5511970000001", "Olá, quero saber das aulas")]))
    if isinstance(body, bytes):
        body = body.decode()
    ws_event = {
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": "bench-connection=",
            "domainName": "ws.bench.local",
            "stage": "api",
            "apiId": "bench",
        },
        "queryStringParameters": {"token": token},
        "isBase64Encoded": False,
    }
    scheduled = {
        "version": "0",
        "id": "bench",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
    }
    scheduled |= {"time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}
    authorizer = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token}",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:bench/api/GET/me",
    }
    # Powertools refuses an empty batch; one record that is not a job is answered as a failure
    # (SQS would redeliver it) without touching S3 or Graph, after the worker's imports.
    sqs = {"Records": [{"messageId": "bench-1", "receiptHandle": "r", "body": "{}", "attributes": {}}]}
    sqs["Records"][0] |= {"messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1"}
    sqs["Records"][0]["attributes"]["ApproximateReceiveCount"] = "1"
    webhook = _api_event("POST", "/webhooks/whatsapp", body, headers)
    calls = {
        "API GET /health": f"answer = app.app({_api_event('GET', '/health')!r}, Ctx())",
        "API POST /webhooks/whatsapp": f"answer = app.app({webhook!r}, Ctx())",
        "API GET /me": f"answer = app.app({_api_event('GET', '/me', admin=admin_id)!r}, Ctx())",
        "authorizer": "from chalicelib.routes.authorizer import authorizer\n"
        f"answer = authorizer({authorizer!r}, Ctx())",
        "ws connect": f"answer = app.ws_connect({ws_event!r}, Ctx())",
        "media worker (1 bad record)": "from chalicelib.routes.media_worker import handle_media_download\n"
        f"answer = handle_media_download({sqs!r}, Ctx())",
        "handle_window_expiry": "from chalicelib.routes.jobs import handle_window_expiry\n"
        f"answer = handle_window_expiry({scheduled!r}, Ctx())",
        "handle_template_sync": "from chalicelib.routes.jobs import handle_template_sync\n"
        f"answer = handle_template_sync({scheduled!r}, Ctx())",
    }
    describe = (
        "def _describe(a):\n"
        "    if isinstance(a, dict) and 'statusCode' in a:\n"
        "        return a['statusCode']\n"
        "    return str(a)[:60]\n"
    )
    return {name: _PRELUDE + describe + call + "\n" + _REPORT for name, call in calls.items()}


def _child(code: str) -> tuple[float, float, float, str]:
    """(CPU seconds, peak RSS in MB, wall seconds, stdout) of one fresh `python -c code`.

    The peak RSS counts the benchmark's own memory at fork: only meaningful while it is small."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage: its peak RSS
        except BaseException:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{code}\n{stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, usage.ru_maxrss / 1024, wall, stdout


def _median_of(code: str, runs: int) -> tuple[float, float, list[str]]:
    results = [_child(code) for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        [r[3] for r in results],
    )


def _imports(runs: int) -> None:
    # Interleaved, so a neighbour's load on the machine hits both alike.
    app_cpu, app_rss, boto_cpu, boto_rss = [], [], [], []
    for _ in range(runs):
        cpu, rss, _, _ = _child("import app")
        app_cpu.append(cpu)
        app_rss.append(rss)
        cpu, rss, _, _ = _child("import boto3")
        boto_cpu.append(cpu)
        boto_rss.append(rss)
    a, b = statistics.median(app_cpu), statistics.median(boto_cpu)
    print(f"import, median of {runs} whole processes (CPU = user+sys):")
    print(f"  import app    {a * 1000:7.0f} ms CPU  {statistics.median(app_rss):5.0f} MB peak RSS")
    print(f"  import boto3  {b * 1000:7.0f} ms CPU  {statistics.median(boto_rss):5.0f} MB peak RSS")
    print(f"  ratio app/boto3: {a / b:.2f}x CPU (aim: <= 1.3x)")
    return b


def _functions(runs: int, boto_cpu: float) -> None:
    from _setup import bench_database

    from devstack.fake_graph import FakeGraph

    with bench_database("crm-bench-cold-"), FakeGraph() as graph:
        os.environ["WHATSAPP_GRAPH_URL"] = graph.base_url
        from chalicelib.config import reset_settings
        from chalicelib.services import auth

        reset_settings()
        admin = auth.create_admin("Bench", "bench@example.com", "bench-senha-123")
        token, _ = auth.issue_token(admin["id"])
        print(f"\nfirst answer per function, fresh process each, median of {runs}:")
        print(f"  {'function':30} {'CPU ms':>7} {'xboto3':>6} {'RSS MB':>6} {'import ms':>9} {'answer ms':>9}  answer")
        for name, code in _scripts(token, str(admin["id"])).items():
            results = [_child(code) for _ in range(runs)]
            reports = [json.loads(r[3].strip().splitlines()[-1]) for r in results]
            cpu = statistics.median(r[0] for r in results)
            rss = statistics.median(r["rss_mb"] for r in reports)
            imp = statistics.median(r["import_ms"] for r in reports)
            ans = statistics.median(r["answer_ms"] for r in reports)
            print(
                f"  {name:30} {cpu * 1000:7.0f} {cpu / boto_cpu:6.2f} {rss:6.0f} {imp:9.0f} {ans:9.0f}"
                f"  {reports[-1]['answer']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    boto_cpu = _imports(args.runs)
    _functions(args.runs, boto_cpu)


if __name__ == "__main__":
    main()
