"""The scheduled jobs (template sync, window expiry) and the manual template sync.

Schedules (EventBridge expressions) come from TEMPLATE_SYNC_SCHEDULE and
WINDOW_EXPIRY_SCHEDULE, read when app.py is imported. The rule is made by the process that
imports it to deploy, so set them in the shell that runs `chalice deploy` / `chalice package`
(`TEMPLATE_SYNC_SCHEDULE="rate(30 minutes)" chalice deploy --stage prod`): a stage's
environment_variables in .chalice/config.json reach the Lambda, not the deployer. The local
stack's scheduler reads the same two variables.
"""

from __future__ import annotations

import os

from chalice import Blueprint

from chalicelib import metrics
from chalicelib.http import ApiError
from chalicelib.routes.authorizer import authorizer

bp = Blueprint(__name__)

TEMPLATE_SYNC_SCHEDULE = os.environ.get("TEMPLATE_SYNC_SCHEDULE", "rate(1 hour)")
WINDOW_EXPIRY_SCHEDULE = os.environ.get("WINDOW_EXPIRY_SCHEDULE", "rate(5 minutes)")


@bp.schedule(TEMPLATE_SYNC_SCHEDULE, name="handle_template_sync")
@metrics.flushed
def handle_template_sync(event):
    from chalicelib.services.templates import sync_templates

    return sync_templates()


@bp.schedule(WINDOW_EXPIRY_SCHEDULE, name="handle_window_expiry")
@metrics.flushed
def handle_window_expiry(event):
    """Closed windows, the sweep of sends nobody will finish (first: it is quick) and the
    outbox's lost nudges (last). One failing does not stop the others."""
    from chalicelib.observability import logger
    from chalicelib.services.send_sweep import sweep_unconfirmed_sends
    from chalicelib.services.window_expiry import expire_windows

    result: dict[str, int] = {}
    failure: Exception | None = None
    try:
        result.update(sweep_unconfirmed_sends())
    except Exception as exc:  # noqa: BLE001 - re-raised below, after the windows
        logger.exception("sweep of unconfirmed sends failed")
        failure = exc
    result["handled"] = len(expire_windows())
    try:
        from chalicelib.services.outbox import renudge_stale

        result["outbox_renudged"] = int(renudge_stale())
    except Exception as exc:  # noqa: BLE001 - re-raised below
        logger.exception("outbox re-nudge failed")
        failure = failure or exc
    if failure is not None:
        raise failure
    return result


@bp.route("/templates/sync", methods=["POST"], authorizer=authorizer)
def sync_templates_now():
    from chalicelib.services.templates import sync_templates
    from chalicelib.whatsapp.graph import GraphError

    try:
        return sync_templates()
    except GraphError as exc:
        raise ApiError(
            502, "WhatsAppError", "Não foi possível buscar os templates no WhatsApp.", graph_error=exc.as_dict()
        ) from exc
