"""A local stand-in for API Gateway's WebSocket API, for the local stack and tests.

Browsers connect to `ws://127.0.0.1:<port>/?token=...`. Like API Gateway, the gateway
gives each socket a connection id, turns the handshake, every client message and the close
into `$connect` / `$default` / `$disconnect` Lambda events (same shape as API Gateway's)
and invokes the app's websocket handlers with them; a `$connect` answering non-2xx refuses
the handshake with that status. The management API (`POST|GET|DELETE /@connections/{id}`,
what boto3's apigatewaymanagementapi client calls at WS_MANAGEMENT_URL) delivers to the
socket, or answers 410 GoneException for a connection that is not open.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

STAGE = "api"
API_ID = "local"
SEND_TIMEOUT_SECONDS = 5


def _new_connection_id() -> str:
    # API Gateway's ids are 16 base64 characters; url-safe ones need no quoting in a path.
    return base64.urlsafe_b64encode(os.urandom(12)).decode()


def _request_time() -> str:
    return datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class LocalWebSocketGateway:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        management_port: int = 0,
        app_module=None,
        management_latency: float = 0.0,
    ):
        self.host = host
        # Seconds added to every management call: API Gateway is a network hop away in AWS
        # (benchmarks use it to show what concurrency buys there).
        self.management_latency = management_latency
        self.port = port
        self.management_port = management_port
        self._app_module = app_module
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._sockets: dict[str, Any] = {}  # connection id -> websockets ServerConnection
        self._connected_at: dict[str, int] = {}
        self._user_agent: dict[str, str] = {}
        self._last_active_at: dict[str, int] = {}  # epoch ms of the last client message
        self._lambda_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ws-lambda")
        self.invocations: list[dict[str, Any]] = []  # every event built, for tests

    # ---- addresses -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    def connection_ids(self) -> list[str]:
        return list(self._sockets)

    # ---- the app's handlers ----------------------------------------------------------
    def _app(self):
        if self._app_module is None:
            from devstack.stack import PROJECT_DIR

            if str(PROJECT_DIR) not in sys.path:
                sys.path.insert(0, str(PROJECT_DIR))
            self._app_module = importlib.import_module("app")
        return self._app_module

    def _invoke(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run the Lambda handler of a route key as API Gateway would; returns its answer."""
        from chalice.local import LambdaContext

        self.invocations.append(event)
        module = self._app()
        config = module.app.websocket_handlers.get(route_key)
        if config is None and route_key not in ("$connect", "$disconnect"):
            config = module.app.websocket_handlers.get("$default")
        if config is None:
            return {"statusCode": 200}
        handler = getattr(module, config.handler_string.rsplit(".", 1)[-1])
        context = LambdaContext(f"crm-inbox-local-websocket-{route_key.strip('$')}", 256, max_runtime_ms=30_000)
        context.aws_request_id = str(uuid.uuid4())
        try:
            return handler(event, context) or {"statusCode": 200}
        except Exception as exc:  # noqa: BLE001 - API Gateway turns a crashed handler into a 500
            import traceback

            traceback.print_exc()
            return {"statusCode": 500, "body": str(exc)}

    def _request_context(self, connection_id: str, route_key: str, event_type: str) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": _request_time(),
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": self._connected_at.get(connection_id, now_ms),
            "requestTimeEpoch": now_ms,
            "identity": {"sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "domainName": f"{self.host}:{self.port}",
            "connectionId": connection_id,
            "apiId": API_ID,
        }
        if event_type == "MESSAGE":
            context["messageId"] = str(uuid.uuid4())
        return context

    def connect_event(self, connection_id: str, request) -> dict[str, Any]:
        query = parse_qs(urlsplit(request.path).query)
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            headers.setdefault(name, []).append(value)
        return {
            "headers": {k: v[-1] for k, v in headers.items()},
            "multiValueHeaders": headers,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "requestContext": self._request_context(connection_id, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }

    def message_event(self, connection_id: str, body: str | bytes) -> dict[str, Any]:
        binary = isinstance(body, bytes)
        return {
            "requestContext": self._request_context(connection_id, "$default", "MESSAGE"),
            "body": base64.b64encode(body).decode() if binary else body,
            "isBase64Encoded": binary,
        }

    def disconnect_event(self, connection_id: str, code: int | None, reason: str) -> dict[str, Any]:
        context = self._request_context(connection_id, "$disconnect", "DISCONNECT")
        context["disconnectStatusCode"] = code if code is not None else 1006
        context["disconnectReason"] = reason or ""
        return {"headers": {}, "multiValueHeaders": {}, "requestContext": context, "isBase64Encoded": False}

    async def _call(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(self._lambda_pool, self._invoke, route_key, event)

    # ---- websocket side --------------------------------------------------------------
    async def _process_request(self, connection, request):
        connection_id = _new_connection_id()
        connection.gateway_connection_id = connection_id
        self._connected_at[connection_id] = int(time.time() * 1000)
        self._user_agent[connection_id] = request.headers.get("User-Agent", "")
        answer = await self._call("$connect", self.connect_event(connection_id, request))
        status = int(answer.get("statusCode", 200))
        if not 200 <= status < 300:
            self._connected_at.pop(connection_id, None)
            self._user_agent.pop(connection_id, None)
            connection.gateway_connection_id = None
            return connection.respond(HTTPStatus(status) if status in HTTPStatus._value2member_map_ else 500, "")
        return None

    async def _handle(self, connection) -> None:
        connection_id = connection.gateway_connection_id
        self._sockets[connection_id] = connection
        try:
            async for message in connection:
                self._last_active_at[connection_id] = int(time.time() * 1000)
                await self._call("$default", self.message_event(connection_id, message))
        except Exception:  # noqa: BLE001, S110 - a dropped socket ends like a closed one
            pass
        finally:
            self._sockets.pop(connection_id, None)
            # Built before forgetting connectedAt: API Gateway keeps it for the $disconnect too.
            event = self.disconnect_event(connection_id, connection.close_code, connection.close_reason or "")
            self._connected_at.pop(connection_id, None)
            self._user_agent.pop(connection_id, None)
            self._last_active_at.pop(connection_id, None)
            await self._call("$disconnect", event)

    # ---- management API --------------------------------------------------------------
    def post_to_connection(self, connection_id: str, data: bytes) -> bool:
        connection = self._sockets.get(connection_id)
        if connection is None or self._loop is None:
            return False
        try:
            message: str | bytes = data.decode()
        except UnicodeDecodeError:
            message = data
        future = asyncio.run_coroutine_threadsafe(connection.send(message), self._loop)
        try:
            future.result(timeout=SEND_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - the socket went away while we wrote: it is gone
            return False
        return True

    def delete_connection(self, connection_id: str) -> bool:
        connection = self._sockets.get(connection_id)
        if connection is None or self._loop is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.close(), self._loop).result(timeout=SEND_TIMEOUT_SECONDS)
        return True

    def drop(self, connection_id: str) -> None:
        """Forget a socket without telling the app, as when API Gateway loses a $disconnect."""
        connection = self._sockets.pop(connection_id, None)
        if connection is not None and self._loop is not None:
            connection.gateway_connection_id = None
            self._loop.call_soon_threadsafe(connection.transport.abort)

    def _management_handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connections

            def log_message(self, *args) -> None:  # quiet
                pass

            def _connection_id(self) -> str | None:
                parts = unquote(urlsplit(self.path).path).strip("/").split("/")
                if parts and parts[0] == STAGE:  # tolerate a stage prefix, as in https://.../api
                    parts = parts[1:]
                if len(parts) == 2 and parts[0] == "@connections" and parts[1]:
                    return parts[1]
                return None

            def _answer(self, status: int, body: dict | None = None, error_type: str | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _gone(self) -> None:
                self._answer(410, {"message": None}, "GoneException")

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if gateway.management_latency:
                    time.sleep(gateway.management_latency)
                connection_id = self._connection_id()
                if connection_id is None:
                    return self._answer(404, {"message": "Not Found"}, "NotFoundException")
                if gateway.post_to_connection(connection_id, data):
                    return self._answer(200)
                return self._gone()

            def do_GET(self) -> None:
                connection_id = self._connection_id()
                if connection_id is None or connection_id not in gateway._sockets:
                    return self._gone()
                connected_ms = gateway._connected_at.get(connection_id, 0)
                active_ms = gateway._last_active_at.get(connection_id, connected_ms)
                # GetConnection's wire names (botocore maps them to ConnectedAt, Identity...).
                self._answer(
                    200,
                    {
                        "connectedAt": datetime.fromtimestamp(connected_ms / 1000, UTC).isoformat(),
                        "identity": {"sourceIp": "127.0.0.1", "userAgent": gateway._user_agent.get(connection_id, "")},
                        "lastActiveAt": datetime.fromtimestamp(active_ms / 1000, UTC).isoformat(),
                    },
                )

            def do_DELETE(self) -> None:
                connection_id = self._connection_id()
                if connection_id is None or not gateway.delete_connection(connection_id):
                    return self._gone()
                self._answer(204)

        return Handler

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> LocalWebSocketGateway:
        from websockets.asyncio.server import serve

        started = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                self._server = await serve(
                    self._handle,
                    self.host,
                    self.port,
                    process_request=self._process_request,
                    ping_interval=None,  # API Gateway's idle timeout is 10 min; no pings needed locally
                    max_size=128 * 1024,  # API Gateway's frame limit is 32 KB, messages 128 KB
                )
            except BaseException as exc:
                failure.append(exc)
                started.set()
                raise
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            await self._server.serve_forever()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            # Stopping the loop under serve_forever() raises; that is how the gateway stops.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                self._loop.run_until_complete(main())

        self._thread = threading.Thread(target=run, name="ws-gateway", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]

        self._http = ThreadingHTTPServer((self.host, self.management_port), self._management_handler())
        self._http.daemon_threads = True
        self._http.request_queue_size = 256
        self.management_port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="ws-management", daemon=True
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._loop is not None and self._server is not None:
            loop, server = self._loop, self._server

            async def close() -> None:
                server.close()
                await server.wait_closed()

            with contextlib.suppress(Exception):  # best effort on shutdown
                asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._lambda_pool.shutdown(wait=True, cancel_futures=True)
        self._loop = None
        self._server = None


class WebSocketGatewayComponent:
    """Local-stack component: the gateway, with WS_MANAGEMENT_URL pointing at it."""

    def __init__(self, stack):
        ephemeral = getattr(stack, "ephemeral", False)  # tests: every port picked by the OS
        port = 0 if ephemeral else int(os.environ.get("WS_PORT", "8001"))
        management_port = 0 if ephemeral else int(os.environ.get("WS_MANAGEMENT_PORT", "8002"))
        self.gateway = LocalWebSocketGateway(stack.host, port, management_port)

    def start(self) -> None:
        _ensure_vapid_keys()
        self.gateway.start()
        os.environ["WS_MANAGEMENT_URL"] = self.gateway.management_url
        from chalicelib.services import realtime

        realtime.reset_client()

    def stop(self) -> None:
        self.gateway.stop()
        if os.environ.get("WS_MANAGEMENT_URL") == self.gateway.management_url:
            os.environ.pop("WS_MANAGEMENT_URL")

    def describe(self) -> str:
        return (
            f"WebSocket API     {self.gateway.url}/?token=<session token>"
            f"   (management {self.gateway.management_url}/@connections/{{id}})"
        )


def _ensure_vapid_keys() -> None:
    """Web Push needs a VAPID key pair: make one for this local run if none is configured."""
    if os.environ.get("VAPID_PUBLIC_KEY") and os.environ.get("VAPID_PRIVATE_KEY"):
        return
    from chalicelib.services.push import generate_vapid_keys

    public, private = generate_vapid_keys()
    os.environ["VAPID_PUBLIC_KEY"] = public
    os.environ["VAPID_PRIVATE_KEY"] = private
