"""The whole system in one process: `make run` and the end-to-end tests use this.

Embedded PostgreSQL (migrated), moto's threaded server with the media bucket and queues,
any extra components (fake WhatsApp, queue pump, websocket gateway, scheduler) and the
Chalice REST API. Components are classes with `start()`, `stop()` and `describe()`,
constructed with the stack; they start in order before the API and stop in reverse.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]

# Import paths of the pluggable components, in start order.
COMPONENTS: list[str] = [
    "devstack.fake_graph:FakeWhatsAppComponent",
    "devstack.queue_pump:QueuePump",
    "devstack.queue_pump:LiveEventsPump",
    "devstack.ws_gateway:WebSocketGatewayComponent",
    "devstack.scheduler:SchedulerComponent",
    # Last: its /config.json hands out the gateway's URL and VAPID key.
    "devstack.console:ConsoleComponent",
]

# Local defaults only: a real deployment sets every one of these in its environment.
LOCAL_ENV_DEFAULTS = {
    "WHATSAPP_APP_SECRET": "local-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "local-verify-token",
    "WHATSAPP_ACCESS_TOKEN": "local-access-token",
    "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
    "WHATSAPP_WABA_ID": "200000000000002",
    "AUTH_SECRET": "local-auth-secret-change-me-in-production-0123456789",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "CONSOLE_ORIGINS": "http://127.0.0.1:8080",  # the console's component sets its real origin
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LocalStack:
    def __init__(
        self,
        host: str = "127.0.0.1",
        api_port: int = 8000,
        moto_port: int = 5001,
        stage: str = "local",
        data_dir: str | None = None,
        components: list[str] | None = None,
    ):
        self.host = host
        # Ports given as 0 mean "any free one" (tests); components follow that choice.
        self.ephemeral = api_port == 0
        self.api_port = api_port or free_port(host)
        self.moto_port = moto_port or free_port(host)
        self.stage = stage
        # make run's data: <data_dir>/pgdata (PostgreSQL) and <data_dir>/s3 (the media bucket's
        # mirror). None (tests): a throwaway database, media in memory only.
        self.data_dir = data_dir
        self._mirror = None
        self.component_paths = COMPONENTS if components is None else components
        self.components: list = []
        self.resources: dict[str, str] = {}
        self._moto = None
        self._api_server = None
        self._api_thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    def start(self) -> LocalStack:
        from chalicelib.config import reset_settings
        from devstack import aws
        from devstack.embedded_pg import ensure_embedded_database

        os.environ["STAGE"] = self.stage
        for key, value in LOCAL_ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        reset_settings()
        if not os.environ.get("DATABASE_URL"):
            ensure_embedded_database(os.path.join(self.data_dir, "pgdata") if self.data_dir else None)
        from chalicelib.migrate import migrate

        migrate()

        aws.use_fake_credentials()
        self._moto = aws.start_moto_server(self.host, self.moto_port)
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        self.resources = aws.create_media_resources(self.aws_endpoint_url)
        os.environ["MEDIA_BUCKET"] = self.resources["bucket"]
        os.environ["MEDIA_QUEUE_URL"] = self.resources["queue_url"]
        os.environ["LIVE_EVENTS_QUEUE_URL"] = self.resources["live_events_queue_url"]
        os.environ["MEDIA_DLQ_URL"] = self.resources["dlq_url"]
        reset_settings()
        # Clients cached by an earlier stack in this process (tests) would still call its moto.
        from chalicelib.services import media_jobs, media_urls

        media_jobs.reset_client()
        media_urls.reset_clients()
        if self.data_dir:
            self._start_media_mirror()

        for path in self.component_paths:
            module_name, class_name = path.split(":")
            component = getattr(importlib.import_module(module_name), class_name)(self)
            component.start()
            self.components.append(component)
            reset_settings()

        # The console's origin is known once its component started: browsers there upload media.
        aws.allow_console_uploads(self.aws_endpoint_url, os.environ.get("CONSOLE_ORIGINS", ""))
        self._start_api()
        return self

    def _start_media_mirror(self) -> None:
        import boto3

        from devstack.s3_store import S3Mirror

        s3 = boto3.client("s3", endpoint_url=self.aws_endpoint_url, region_name=os.environ["AWS_DEFAULT_REGION"])
        self._mirror = S3Mirror(s3, self.resources["bucket"], Path(self.data_dir) / "s3")
        restored = self._mirror.restore()
        self.resources["restored"] = str(restored)
        self._mirror.start()

    def _start_api(self) -> None:
        from chalice.cli.factory import CLIFactory
        from chalice.local import create_local_server

        from devstack import gateway

        gateway.install()  # errors of the gateway itself in our envelope, as deployed

        factory = CLIFactory(project_dir=str(PROJECT_DIR), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=self.stage)
        app = factory.load_chalice_app(config.environment_variables)
        # create_local_server re-bases its CustomLocalChalice on type(app) and then makes the app
        # that class; a second stack in one process (tests) would close an inheritance cycle.
        _restore_app_class(app)
        self._app = app
        self._api_server = create_local_server(app, config, self.host, self.api_port)
        _close_connection_after_each_request(self._api_server.server)
        self._api_thread = threading.Thread(target=self._api_server.server.serve_forever, daemon=True)
        self._api_thread.start()

    def describe(self) -> list[str]:
        lines = [
            f"REST API          {self.api_url}   (GET /health)",
            f"PostgreSQL        {os.environ.get('DATABASE_URL')}",
            f"AWS (moto)        {self.aws_endpoint_url}   bucket {self.resources.get('bucket')}"
            + (f" (kept in {self.data_dir}/s3; {self.resources.get('restored')} restored)" if self._mirror else ""),
            f"media queue       {self.resources.get('queue_url')}",
            f"live-events queue {self.resources.get('live_events_queue_url')}",
            f"dead letters      {self.resources.get('dlq_url')}",
        ]
        lines += [component.describe() for component in self.components]
        return lines

    def stop(self) -> None:
        if self._api_server is not None:
            self._api_server.shutdown()
            self._api_server.server.server_close()
            self._api_server = None
            _restore_app_class(getattr(self, "_app", None))
        for component in reversed(self.components):
            try:
                component.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"stopping {component!r} failed: {exc}")
        self.components.clear()
        if self._mirror is not None:
            try:
                self._mirror.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"saving the media bucket failed: {exc}")
            self._mirror = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        from chalicelib import db

        db.close()


def _close_connection_after_each_request(server) -> None:
    """The local server answers each request on a new thread, and db keeps one connection per
    thread: closed when the thread ends, not left for the garbage collector (a burst would
    otherwise hold every connection slot, and /health stay 503, long after it passed)."""
    handle = server.process_request_thread

    def process_request_thread(request, client_address):
        try:
            handle(request, client_address)
        finally:
            from chalicelib import db

            db.close()

    server.process_request_thread = process_request_thread


def _restore_app_class(app) -> None:
    """Undo chalice.local.create_local_server's class swap on the (process-wide) app object.

    It re-bases CustomLocalChalice on type(app) and makes the app that class: a second local
    server in one process (tests) would close an inheritance cycle, and code that later uses
    the app directly would still see the thread-local request of the local server.
    """
    from chalice.local import LocalChalice

    if app is not None and isinstance(app, LocalChalice):
        app.__class__ = next(c for c in type(app).__mro__ if not issubclass(c, LocalChalice))
