"""Chalice app: wiring only. Routes parse input and call a service."""

from __future__ import annotations

from chalice import Chalice, ConvertToMiddleware, Response

from chalicelib import errors, http, observability
from chalicelib.observability import logger, metrics
from chalicelib.routes.table import RouteModules

app = Chalice(app_name="crm-inbox", configure_logs=False)
# WebSocket handlers are still an experimental Chalice feature: deploys refuse them without this.
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
# Powertools' tracer.capture_lambda_handler where tracing is on, built on the first traced call.
app.register_middleware(ConvertToMiddleware(observability.capture_lambda_handler))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
http.install(app)

# Blueprints, one per area (routes stay thin; logic lives in chalicelib/services). The functions
# other than the API (the authorizer, the media worker, the scheduled jobs) are registered as they
# are: their handlers live in these modules, which stay light. The API's route modules load on
# their routes' first call (chalicelib/routes/table.py): a cold start pays only for its own.
from chalicelib.routes import authorizer, jobs, live_drain, media_worker  # noqa: E402 - the app and its middleware must exist first

route_modules = RouteModules(app)
# In the order app.routes always had (the Swagger of `chalice package` follows it).
for _area in (
    authorizer, "auth", "admin", "conversas", "mensagens", "contatos", "templates", "push", "webhook", media_worker,
    live_drain, jobs, "lgpd", "relatorios", "tarifas", "atendimento",
):  # fmt: skip
    if isinstance(_area, str):
        route_modules.register(_area, authorizer.authorizer)
    else:
        app.register_blueprint(_area.bp)


@app.route("/health", methods=["GET"])
def health():
    """Saúde do serviço e do banco de dados"""
    from chalicelib import db

    if db.ping():
        return {"status": "ok", "database": "ok"}
    logger.warning("health check: database unreachable")
    return Response(
        body={**errors.envelope("ServiceUnavailable"), "status": "degraded", "database": "unreachable"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


# Every path answers the console's CORS preflight (after all routes exist).
http.install_cors_preflight(app)


# WebSocket API: decorators must be on the app (Chalice registers them unwrapped in a blueprint).
@app.on_ws_connect()
def ws_connect(event):
    from chalicelib.services import connections

    token = (event.to_dict().get("queryStringParameters") or {}).get("token")
    try:
        connections.connect(event.connection_id, token)
    except connections.ConnectionRefused as exc:
        return Response(body=errors.envelope("Unauthorized", str(exc)), status_code=403)
    return None


@app.on_ws_message()
def ws_message(event):
    from chalicelib.services import connections

    reply = connections.answer(event.body)
    if reply is not None:
        connections.reply(event.connection_id, reply)


@app.on_ws_disconnect()
def ws_disconnect(event):
    from chalicelib.services import connections

    connections.disconnect(event.connection_id)
