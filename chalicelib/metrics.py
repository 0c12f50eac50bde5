"""The app's own CloudWatch metrics (Powertools, embedded metric format): what the dashboard
and the on-call read besides AWS's metrics. Flushed by the `log_metrics` middleware of each
handler; with POWERTOOLS_METRICS_DISABLED (tests, make run) nothing is printed."""

from __future__ import annotations


def count(name: str, value: float = 1) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.observability import metrics

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.observability import metrics

    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
