"""Powertools Logger, Metrics and Tracer, shared by every handler.

The Tracer is built on the first invocation that traces, never at import: building it loads
the X-Ray SDK (and botocore with it), about a third of a cold start, which a function with
tracing off would pay for nothing.
"""

from __future__ import annotations

import os
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

SERVICE = "crm-inbox"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CrmInbox")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ["POWERTOOLS_METRICS_NAMESPACE"], service=SERVICE)


def tracing_enabled() -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled): off when POWERTOOLS_TRACE_DISABLED is
    true, and outside Lambda or under SAM local / chalice local, where no X-Ray daemon listens."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


@cache
def get_tracer():
    """The container's one Tracer, built on first use."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def capture_lambda_handler(handler):
    """`tracer.capture_lambda_handler` where tracing is on; the handler unchanged where it is off.

    Registered on the app with ConvertToMiddleware, which applies it on every invocation, so
    the Tracer (and the X-Ray SDK) is built by the first traced invocation, once per container."""
    if not tracing_enabled():
        return handler
    return get_tracer().capture_lambda_handler(handler)
