"""The app's own CloudWatch metrics (Powertools, embedded metric format): what the dashboard
and the on-call read besides AWS's metrics. Flushed by the `log_metrics` middleware of each
handler; with POWERTOOLS_METRICS_DISABLED (tests, make run) nothing is printed."""

from __future__ import annotations


def count(name: str, value: float = 1) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.observability import metrics

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def flushed(handler):
    """For the Lambdas deployed straight from their module (media worker, scheduled jobs): they
    do not pass through app.py's log_metrics middleware, so they write their metrics here."""
    from functools import wraps

    @wraps(handler)
    def run(event):
        try:
            return handler(event)
        finally:
            from chalicelib.observability import metrics

            metrics.flush_metrics(raise_on_empty_metrics=False)

    return run


def milliseconds(name: str, value: float) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.observability import metrics

    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
