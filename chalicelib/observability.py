"""Powertools Logger, Metrics and Tracer, shared by every handler."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "crm-inbox"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CrmInbox")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ["POWERTOOLS_METRICS_NAMESPACE"], service=SERVICE)
tracer = Tracer(service=SERVICE)
