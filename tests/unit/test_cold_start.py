"""Cold start (issue 17): every Lambda of the app imports app.py before its first answer, so
`import app` loads only what every function needs; the rest loads where it is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Never loaded by `import app`. Powertools' package __init__ imports the bare `botocore` package
# (1 ms: it tags boto3's user agent), so for botocore the guard is on the SDK proper.
DENIED = [
    "PIL",
    "requests",
    "pywebpush",
    "argon2",
    "boto3",
    "botocore.session",
    "botocore.client",
    "aws_xray_sdk",
    "jwt",
    "pg8000",
    "aws_lambda_powertools.utilities.batch",
    "chalicelib.api_models",
    "chalicelib.db",
    "chalicelib.openapi",
    "chalicelib.repositories",
    "chalicelib.whatsapp",
    *(f"chalicelib.routes.{m}" for m in ("auth", "admin", "conversas", "mensagens", "contatos", "templates")),
    *(f"chalicelib.routes.{m}" for m in ("push", "webhook", "lgpd", "relatorios")),
]
# The services package is denied but for the authorizer's token check (no imports of its own).
ALLOWED_SERVICES = {"chalicelib.services", "chalicelib.services.auth"}


def _run(script: str, **env: str) -> dict:
    """Run `script` in a fresh interpreter at the project root; it prints one JSON line."""
    environ = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_LOADED = f"""
import json, sys, app
denied = {DENIED!r}
loaded = [m for m in denied if any(n == m or n.startswith(m + ".") for n in sys.modules)]
loaded += [n for n in sys.modules if n.startswith("chalicelib.services.") and n not in {ALLOWED_SERVICES!r}]
print(json.dumps(loaded))
"""


def test_import_app_loads_nothing_on_the_deny_list():
    assert _run(_LOADED) == []


def test_in_lambda_with_tracing_disabled_the_xray_sdk_is_not_loaded():
    assert _run(_LOADED, LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="true") == []


def test_with_tracing_on_the_tracer_is_built_on_the_first_invocation_once():
    script = """
import json, sys, app
from chalicelib import observability
at_import = "aws_xray_sdk" in sys.modules
def handler(event, context):
    return "ok"
wrapped = observability.capture_lambda_handler(handler)
print(json.dumps({
    "at_import": at_import,
    "traced": wrapped is not handler and "aws_xray_sdk" in sys.modules,
    "once": observability.get_tracer() is observability.get_tracer(),
}))
"""
    result = _run(script, LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="false")
    assert result == {"at_import": False, "traced": True, "once": True}


def test_with_tracing_off_the_handler_runs_untraced():
    script = """
import json, sys, app
from chalicelib import observability
def handler(event, context):
    return "ok"
print(json.dumps([observability.capture_lambda_handler(handler) is handler, "aws_xray_sdk" in sys.modules]))
"""
    assert _run(script, POWERTOOLS_TRACE_DISABLED="true") == [True, False]


def test_a_route_loads_its_module_on_its_first_call_and_no_other():
    script = """
import json, sys, app
event = {
    "resource": "/webhooks/whatsapp", "path": "/webhooks/whatsapp", "httpMethod": "GET",
    "headers": {}, "multiValueHeaders": {}, "queryStringParameters": {"hub.mode": "subscribe"},
    "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
    "requestContext": {"resourcePath": "/webhooks/whatsapp", "httpMethod": "GET", "path": "/api/webhooks/whatsapp",
                       "stage": "api", "requestId": "r", "identity": {"sourceIp": "127.0.0.1"}},
    "body": None, "isBase64Encoded": False,
}
class Context:  # what Powertools' logger reads of a Lambda context
    function_name, memory_limit_in_mb, aws_request_id = "f", 128, "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
before = "chalicelib.routes.webhook" in sys.modules
stand_in = app.app.routes["/webhooks/whatsapp"]["GET"]
answer = app.app(event, Context())
from chalicelib.routes import webhook
entry = app.app.routes["/webhooks/whatsapp"]["GET"]
print(json.dumps({
    "before": before,
    "status": answer["statusCode"],
    "real_view": entry.view_function is webhook.verify_webhook,
    "same_entry": entry is stand_in,  # what was set on it after import (CORS...) stays
    "others": [m for m in ("chalicelib.routes.conversas", "chalicelib.routes.admin") if m in sys.modules],
}))
"""
    result = _run(script, WHATSAPP_VERIFY_TOKEN="", POWERTOOLS_TRACE_DISABLED="true")
    assert result == {"before": False, "status": 403, "real_view": True, "same_entry": True, "others": []}


_DESCRIBE = """
def described(routes):
    return sorted(
        [path, method, e.view_name, e.view_function.__module__, getattr(e.authorizer, "name", None),
         e.content_types, e.api_key_required, e.cors]
        for path, methods in routes.items() for method, e in methods.items()
    )
"""


def test_the_route_table_is_what_the_route_modules_declare():
    """app.routes at import (the stand-ins of chalicelib/routes/table.py) must equal what the
    blueprints register, route for route, and once loaded the views must be the modules' own.
    The blueprints are registered eagerly in another process: a Chalice blueprint can be
    registered only once (the second registration loses its routes' methods)."""
    lazy = (
        _DESCRIBE
        + """
import importlib, json, app as app_module
from chalicelib.routes import table
app = app_module.app
at_import = described(app.routes)
app_module.route_modules.load_all()
modules = {m: importlib.import_module(f"chalicelib.routes.{m}") for m in table.ROUTES}
other_views = [
    route for m, routes in table.ROUTES.items() for route, view in routes.items()
    if app.routes[route.split()[1]][route.split()[0]].view_function is not getattr(modules[m], view)
]
print(json.dumps({"at_import": at_import, "loaded": described(app.routes), "other_views": other_views}))
"""
    )
    eager = (
        _DESCRIBE
        + """
import importlib, json
from chalice import Chalice
from chalicelib import http
from chalicelib.routes import table
declared = Chalice(app_name="declared")
for name in ("authorizer", *table.ROUTES, "media_worker", "jobs"):
    declared.register_blueprint(importlib.import_module(f"chalicelib.routes.{name}").bp)
@declared.route("/health", methods=["GET"])
def health():  # app.py's own route
    pass
health.__module__ = "app"
http.install_cors_preflight(declared)  # as app.py does, after every route

print(json.dumps(described(declared.routes)))
"""
    )
    got = _run(lazy, POWERTOOLS_TRACE_DISABLED="true")
    declared = _run(eager)
    assert len(declared) > 30
    assert got["at_import"] == declared
    assert got["loaded"] == declared
    assert got["other_views"] == []
