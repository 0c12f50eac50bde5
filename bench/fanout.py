"""Fan-out benchmark: one live event to 200 local WebSocket connections.

    .venv/bin/python bench/fanout.py [--connections 200] [--runs 5]

Starts the local WebSocket gateway (the app's real $connect handler stores each connection),
connects N real clients, then times `realtime` delivering one event to all of them through
the management API (boto3 apigatewaymanagementapi, as in AWS): one by one, then concurrently.
Prints the median of each and their ratio. Runs on a fresh embedded PostgreSQL of its
own, in a temporary directory (never DATABASE_URL). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_database

os.environ.setdefault("STAGE", "local")
os.environ.setdefault("AUTH_SECRET", "bench-auth-secret-0123456789abcdef0123456789abcdef")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class Clients:
    """N websocket clients on their own event loop, counting what they receive."""

    def __init__(self, url: str, n: int):
        self.url, self.n = url, n
        self.received = 0
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._sockets: list = []
        self._readers: list = []
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _one(self) -> None:
        from websockets.asyncio.client import connect

        ws = await connect(self.url, open_timeout=60, ping_interval=None)
        self._sockets.append(ws)

        async def reader() -> None:
            async for _ in ws:
                with self._lock:
                    self.received += 1

        self._readers.append(asyncio.ensure_future(reader()))

    def connect_all(self) -> None:
        async def go() -> None:
            for start in range(0, self.n, 20):  # in waves, like browsers arriving
                await asyncio.gather(*(self._one() for _ in range(min(20, self.n - start))))

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout=300)

    def wait_for(self, total: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.received < total and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.received < total:
            raise SystemExit(f"only {self.received} of {total} messages arrived")

    def close(self) -> None:
        async def go() -> None:
            await asyncio.gather(*(ws.close() for ws in self._sockets), return_exceptions=True)

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="*",
        default=[0.0, 20.0],
        help="simulated API Gateway round trip per send (0 = the bare local gateway)",
    )
    args = parser.parse_args()

    with bench_database():
        _measure(args)


def _measure(args) -> None:
    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.repositories import administradores, ws_conexoes
    from chalicelib.services import realtime
    from chalicelib.services.auth import issue_token
    from devstack.ws_gateway import LocalWebSocketGateway

    db.execute("DELETE FROM ws_conexoes")
    admin = administradores.upsert("Bench", "bench-fanout@escola.com.br", "x" * 20)
    token = issue_token(admin["id"])[0]
    gateway = LocalWebSocketGateway().start()
    os.environ["WS_MANAGEMENT_URL"] = gateway.management_url
    reset_settings()
    clients = Clients(f"{gateway.url}/?token={token}", args.connections)
    try:
        started = time.monotonic()
        clients.connect_all()
        ids = ws_conexoes.list_ids()
        assert len(ids) == args.connections, f"{len(ids)} connections stored"
        print(f"{args.connections} connections opened in {time.monotonic() - started:.2f} s")

        payload = realtime.encode("message:new", {"mensagem": {"conteudo": "Olá! Quero aula de piano."}})
        realtime.send_to_connections(ids, [payload])  # warm up the HTTP connection pool
        expected = len(ids)
        clients.wait_for(expected)
        for latency_ms in args.latency_ms:
            gateway.management_latency = latency_ms / 1000
            timings: dict[str, list[float]] = {"one-by-one": [], "concurrent": []}
            for _ in range(args.runs):
                for mode, concurrent in (("one-by-one", False), ("concurrent", True)):
                    started = time.monotonic()
                    counts = realtime.send_to_connections(ids, [payload], concurrent=concurrent)
                    expected += len(ids)
                    clients.wait_for(expected)
                    timings[mode].append(time.monotonic() - started)
                    assert counts["ok"] == len(ids), counts
            serial = statistics.median(timings["one-by-one"])
            parallel = statistics.median(timings["concurrent"])
            print(
                f"one event to {len(ids)} connections, {latency_ms:g} ms simulated round trip"
                f" (median of {args.runs} runs, until every client has it):"
            )
            print(f"  one-by-one   {serial * 1000:8.1f} ms")
            print(f"  concurrent   {parallel * 1000:8.1f} ms   ({realtime.MAX_PARALLEL_SENDS} parallel sends)")
            print(f"  ratio        {serial / parallel:8.1f}x")
    finally:
        clients.close()
        gateway.stop()
        db.execute("DELETE FROM ws_conexoes")
        db.close()


if __name__ == "__main__":
    main()
