"""Chalice app: wiring only. Routes parse input and call a service."""

from __future__ import annotations

from chalice import Chalice, ConvertToMiddleware, Response

from chalicelib.observability import logger, metrics, tracer

app = Chalice(app_name="crm-inbox", configure_logs=False)
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
app.register_middleware(ConvertToMiddleware(tracer.capture_lambda_handler))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))


@app.route("/health", methods=["GET"])
def health():
    from chalicelib import db

    if db.ping():
        return {"status": "ok", "database": "ok"}
    logger.warning("health check: database unreachable")
    return Response(body={"status": "degraded", "database": "unreachable"}, status_code=503)
