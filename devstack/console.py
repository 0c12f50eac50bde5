"""Local-stack component: the attendants' console (`web/dist`) on CONSOLE_PORT (default 8080).

Static files with the single-page app's fallback (any unknown path gets index.html, so
/conversas/<id> survives a reload) and a runtime `/config.json` built from the running stack:
one build serves every stage, only this file differs. It starts after the WebSocket gateway
(whose URL it hands out) and before the API, which reads CONSOLE_ORIGINS for CORS.
"""

from __future__ import annotations

import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from devstack.stack import PROJECT_DIR

DIST_DIR = PROJECT_DIR / "web" / "dist"


class _ConsoleHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, config, **kwargs):
        self._config = config
        super().__init__(*args, **kwargs)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/config.json":
            body = json.dumps(self._config()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not (Path(self.directory) / path.lstrip("/")).is_file():
            self.path = "/index.html"  # a client-side route
        super().do_GET()

    def end_headers(self):
        # Hashed assets never change; index.html and sw.js must be fetched fresh after a build.
        cacheable = self.path.startswith("/assets/")
        self.send_header("Cache-Control", "public, max-age=31536000, immutable" if cacheable else "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # quiet, like the other local servers
        pass


class ConsoleComponent:
    def __init__(self, stack):
        self.stack = stack
        port = 0 if getattr(stack, "ephemeral", False) else int(os.environ.get("CONSOLE_PORT", "8080"))
        self.dist = Path(os.environ.get("CONSOLE_DIST_DIR") or DIST_DIR)
        self._server = ThreadingHTTPServer(
            (stack.host, port), partial(_ConsoleHandler, directory=str(self.dist), config=self.config)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.stack.host}:{self._server.server_address[1]}"

    def config(self) -> dict:
        """Read per request: the gateway and VAPID key belong to the running stack, not the build."""
        gateway = next((c.gateway for c in self.stack.components if hasattr(c, "gateway")), None)
        return {
            "apiUrl": self.stack.api_url,
            "wsUrl": gateway.url if gateway else os.environ.get("CONSOLE_WS_URL", ""),
            "vapidPublicKey": os.environ.get("VAPID_PUBLIC_KEY"),
        }

    def start(self) -> None:
        if not (self.dist / "index.html").is_file():
            print(f"console: {self.dist}/index.html is missing; build it with `make console`", flush=True)
        # The API allows this origin (the port may be ephemeral), besides any configured ones.
        origins = [o for o in os.environ.get("CONSOLE_ORIGINS", "").split(",") if o]
        if self.url not in origins:
            os.environ["CONSOLE_ORIGINS"] = ",".join([*origins, self.url])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever that must be running
            self._server.shutdown()
        self._server.server_close()

    def describe(self) -> str:
        return f"console           {self.url}/   (web/dist, /config.json)"
