"""GET|POST /webhooks/whatsapp: Meta's verification handshake and its event deliveries.

POST checks the signature over the raw bytes before anything else; a body that is not
ours or not understood is answered 200 (a retry cannot help), a database outage 503 (it can).
"""

from __future__ import annotations

import json

from chalice import Blueprint, Response

from chalicelib import metrics
from chalicelib.config import get_settings
from chalicelib.http import ApiError
from chalicelib.observability import logger

bp = Blueprint(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's payloads are at most 3 MB
PATH = "/webhooks/whatsapp"


def _error(status: int, code: str, message: str) -> Response:
    return ApiError(status, code, message).to_response()


@bp.route(PATH, methods=["GET"])
def verify_webhook():
    import hmac

    params = bp.current_request.query_params or {}
    token = get_settings().whatsapp_verify_token
    given = params.get("hub.verify_token") or ""
    if params.get("hub.mode") == "subscribe" and token and hmac.compare_digest(given.encode(), token.encode()):
        return Response(body=params.get("hub.challenge") or "", status_code=200, headers={"Content-Type": "text/plain"})
    logger.warning("webhook verification refused", extra={"mode": params.get("hub.mode")})
    return _error(403, "ForbiddenError", "Token de verificação inválido.")


@bp.route(PATH, methods=["POST"], content_types=["application/json"])
def receive_webhook():
    from chalicelib.db import DatabaseUnavailable
    from chalicelib.services import inbound
    from chalicelib.whatsapp import signature

    request = bp.current_request
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        logger.warning("webhook body too large", extra={"bytes": len(raw)})
        return _error(413, "PayloadTooLarge", "Corpo acima de 3 MB.")
    header = request.headers.get("x-hub-signature-256")
    if not header:
        logger.warning("webhook without signature")
        return _error(401, "Unauthorized", "Assinatura ausente.")
    secret = get_settings().whatsapp_app_secret
    if not secret:  # fail closed: without the secret nothing can be trusted
        logger.error("WHATSAPP_APP_SECRET is not set: every webhook delivery is refused")
    if not signature.is_valid(raw, header, secret):
        logger.warning("webhook with a wrong signature")
        return _error(403, "ForbiddenError", "Assinatura inválida.")
    try:
        payload = json.loads(raw, parse_constant=lambda _c: None)
    except (ValueError, UnicodeDecodeError, RecursionError):
        start = raw[:200].decode("utf-8", "replace")
        logger.warning("webhook body is not JSON", extra={"bytes": len(raw), "start": start})
        return _error(400, "BadRequestError", "O corpo não é um JSON válido.")
    try:
        summary = inbound.handle_payload(payload)
    except inbound.PayloadRejected as exc:
        logger.warning("webhook body refused", extra={"reason": str(exc)})
        return _error(400, "BadRequestError", "O corpo não é um payload do WhatsApp.")
    except inbound.MediaQueueUnavailable:
        return _error(500, "MediaQueueUnavailable", "Fila de mídia indisponível; tente novamente.")
    except DatabaseUnavailable:
        logger.exception("webhook: database unavailable")
        metrics.count("WebhookUnavailable")
        return _error(503, "ServiceUnavailable", "Banco de dados indisponível; tente novamente.")
    metrics.count("WebhookPayloads")
    metrics.count("WebhookMessages", summary.get("mensagens", 0))
    metrics.count("WebhookStatuses", summary.get("statuses", 0))
    return {"status": "ok", **summary}
