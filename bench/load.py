"""Load benchmark (issue 15): webhook bursts against the local stack with 100 browsers open.

    .venv/bin/python bench/load.py [--clients 100] [--messages 300] [--inbound 300] [--contacts 100]
                                   [--concurrency 40] [--max-connections 20] [--burst-seconds 60]
                                   [--settle-seconds 45]

Starts the local stack (`make run`'s components, on free ports, with a throwaway embedded
PostgreSQL limited to --max-connections: `ALTER SYSTEM SET max_connections` and a restart
before anything else connects), logs in through POST /auth/login and opens --clients
WebSocket connections to the local gateway with that token, each counting the live events it
receives (a frame is one event `{"type", "data"}`, a list of events, or `{"type": "batch",
"events": [...]}`: every event inside counts). The clients and the webhook senders run in a
child process (like browsers and Meta: not sharing the stack's interpreter). Then two bursts,
each POSTed over HTTP to /webhooks/whatsapp by --concurrency senders, signed like Meta
(X-Hub-Signature-256 with the app secret), no retries:

1. Status burst: --messages outbound messages with wamids are seeded straight into the
   database (their contacts and conversations through the webhook, before the clients
   connect), then one webhook per status: every message's `sent`, then every `delivered`,
   then every `read` (a broadcast's ticks): 3 x --messages webhooks.
2. Inbound burst: --inbound text messages from --contacts new contacts, one per webhook,
   the contacts interleaved.

Printed per burst:
- webhook latency p50/p95/p99/max (ms, from the sender: connect, request, answer) and the
  rate; answers by status, the 5xx apart, and whether every 503 carried Retry-After;
- events: what each client should know, from what the data implies for the acknowledged
  (200) webhooks only, counted the way the console applies events (a frame may hold one event,
  a list, or a batch; repeats and coalesced events are fine):
  status burst: expected = the messages with an acknowledged status; a client has one when
  the highest tick it received for it (`message:status`'s status_envio, ticks only advance)
  is the highest acknowledged one (read > delivered > sent);
  inbound burst: expected = the acknowledged messages + their conversations; a client has a
  message when a `message:new` named its wamid, a conversation when a `conversation:new` or
  `conversation:updated` named it during the burst;
  min/median/max over the clients and the clients short of it; also the events received by
  type (all clients; one per webhook when each is published alone, fewer when coalesced)
  and the WebSocket frames per client;
- time from the burst's first POST until the last client got its last event (and that
  minus the time of the last answer: negative means every browser had it before the sender
  got its 200);
- rows lost: every acknowledged status must be in its message's `dados.statuses`, every
  acknowledged inbound message must be a row in `mensagens` (must be 0; the first five lost
  are printed with their answer and the row as it is); also the rows stored although their
  webhook did not answer 200 (a redelivery would find them);
- PostgreSQL client connections (pg_stat_activity, client backends, sampled every 50 ms by
  one connection of the benchmark's own, which counts): peak during the burst, how many
  were active, and the server's "too many clients" refusals (from its log).

At the end: connections still open after the bursts settled, PostgreSQL's log lines that
matter here (refusals, COMMIT outside a transaction, statement timeouts, deadlocks, clients
gone mid-transaction), the app's ERROR and WARNING log lines by message (the app's log is
counted, not printed). The sending stops at --burst-seconds
per burst (what was not sent is reported as NOT SENT), the wait for events at --settle-seconds
(or after --quiet-seconds without any event): with the defaults the run takes at most about
4 minutes, typically 2. 127.0.0.1 only. The machine may be shared: run it twice and compare.
Not part of the test suite (`make bench` runs it with its defaults).

Knobs of the bench only (nothing in the stack changes): PostgreSQL's max_connections as said;
the local API server's listen backlog (--api-backlog, 128: chalice's ThreadedHTTPServer listens
with 5, and with 5 about 8 % of a burst's connections were reset by the kernel before the
app saw them, which API Gateway in front of Lambda does not do); chalice's per-request log
line is muted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

ADMIN_EMAIL = "carga@bench.local"
ADMIN_PASSWORD = "Carga-de-Teste-Piano-2026!"  # a throwaway database's admin
SEED_PHONE = 5511960000000  # the outbound messages' contacts
INBOUND_PHONE = 5511970000000  # the inbound burst's new contacts
CONVERSATION_EVENTS = ("conversation:new", "conversation:updated")


# ---- the stack's modules (devstack/) ---------------------------------------------------------
def _local(module: str):
    import importlib

    return importlib.import_module(f"devstack.{module}")


# ---- the child process: browsers and Meta ----------------------------------------------------------
def _events_of(frame) -> list[dict]:
    """The events in one WebSocket frame: an event, a list of them, or {"type": "batch", ...}."""
    try:
        obj = json.loads(frame)
    except (TypeError, ValueError):
        return [{"type": "<not json>"}]
    if isinstance(obj, list):
        items = obj
    elif isinstance(obj, dict) and obj.get("type") == "batch" and isinstance(obj.get("events"), list):
        items = obj["events"]
    else:
        items = [obj]
    return [e if isinstance(e, dict) else {"type": "<not an object>"} for e in items]


STATUS_RANK = {"pendente": 0, "enviada": 1, "entregue": 2, "lida": 3, "falhou": 4}
STATUS_OF_WORD = {"sent": "enviada", "delivered": "entregue", "read": "lida"}


class _Browser:
    """What one browser knows: counts by event type, and what the console would show (the
    highest tick of each message, the messages and conversations it heard of)."""

    __slots__ = ("closed", "conversations", "counts", "frames", "last_at", "new_wamids", "ticks")

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self.ticks: dict[str, int] = {}  # wamid -> highest STATUS_RANK seen (ticks only advance)
        self.new_wamids: set[str] = set()
        self.conversations: set[str] = set()
        self.last_at = 0.0
        self.frames = 0
        self.closed: str | None = None

    def apply(self, event: dict) -> None:
        kind = str(event.get("type"))
        self.counts[kind] += 1
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        if kind == "message:status":
            wamid, rank = str(data.get("whatsapp_id")), STATUS_RANK.get(str(data.get("status_envio")), -1)
            self.ticks[wamid] = max(rank, self.ticks.get(wamid, -1))
        elif kind == "message:new":
            self.new_wamids.add(str((data.get("mensagem") or {}).get("whatsapp_id")))
        elif kind in CONVERSATION_EVENTS:
            self.conversations.add(str((data.get("conversa") or {}).get("id")))


class _Browsers:
    """N WebSocket clients on one event loop (a thread of the child process)."""

    def __init__(self, url: str, n: int):
        import asyncio

        self.url, self.n = url, n
        self.browsers = [_Browser() for _ in range(n)]
        self._sockets: list = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _open(self, browser: _Browser) -> None:
        from websockets.asyncio.client import connect

        ws = await connect(self.url, open_timeout=60, ping_interval=None, max_size=None)
        self._sockets.append(ws)

        async def read() -> None:
            try:
                async for frame in ws:
                    now = time.time()
                    browser.frames += 1
                    for event in _events_of(frame):
                        browser.apply(event)
                    browser.last_at = now
            except Exception as exc:  # noqa: BLE001 - recorded: a client that lost its socket
                browser.closed = repr(exc)[:200]
            else:
                browser.closed = f"closed {ws.close_code}"

        self.loop.create_task(read())

    def connect_all(self) -> float:
        import asyncio

        async def go() -> None:
            for start in range(0, self.n, 20):  # in waves, like browsers arriving
                await asyncio.gather(*(self._open(b) for b in self.browsers[start : start + 20]))

        started = time.monotonic()
        asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout=300)
        return time.monotonic() - started

    def snapshot(self) -> list[tuple[collections.Counter, set[str], int]]:
        return [(collections.Counter(b.counts), set(b.conversations), b.frames) for b in self.browsers]

    def close(self) -> None:
        import asyncio

        async def go() -> None:
            await asyncio.gather(*(ws.close() for ws in self._sockets), return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


def _post(host: str, port: int, body: bytes, headers: dict[str, str]) -> dict:
    import http.client

    started = time.time()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.request("POST", "/webhooks/whatsapp", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        status = response.status
        retry_after = response.getheader("Retry-After")
        detail = data[:200].decode("utf-8", "replace")
    except Exception as exc:  # noqa: BLE001 - a refused or reset connection is an answer too
        status, retry_after, detail = 0, None, repr(exc)[:200]
    return {"start": started, "end": time.time(), "status": status, "retry_after": retry_after, "detail": detail}


def _burst(config: dict, items: list[tuple[str, bytes, dict]]) -> dict:
    """POST every (key, body, headers) with config['concurrency'] senders; stop starting new
    posts after config['burst_seconds']."""
    from concurrent.futures import ThreadPoolExecutor

    host, port = config["api_host"], config["api_port"]
    stop_at = time.time() + config["burst_seconds"]

    def one(item):
        key, body, headers = item
        if time.time() >= stop_at:
            return {"key": key, "status": None}
        return {"key": key, **_post(host, port, body, headers)}

    started = time.time()
    with ThreadPoolExecutor(max_workers=config["concurrency"]) as pool:
        answers = list(pool.map(one, items))
    return {"started": started, "ended": time.time(), "answers": answers}


def _settle(browsers: _Browsers, before: list, delivered, expected: int, config: dict) -> dict:
    """Wait until every client has what it should (`delivered(browser, before) >= expected`),
    no event arrived for --quiet-seconds, or --settle-seconds passed."""
    deadline = time.time() + config["settle_seconds"]
    quiet = config["quiet_seconds"]
    pairs = list(zip(browsers.browsers, before, strict=True))
    while True:
        now = time.time()
        if all(delivered(b, base) >= expected for b, base in pairs):
            break
        last = max((b.last_at for b in browsers.browsers), default=0.0)
        if now >= deadline or now - max(last, config["_burst_end"]) >= quiet:
            break
        time.sleep(0.1)
    received = sum((b.counts - base[0] for b, base in pairs), collections.Counter())
    frames = [b.frames - base[2] for b, base in pairs]
    return {
        "delivered": [min(delivered(b, base), expected) for b, base in pairs],
        "expected": expected,
        "received_by_type": dict(received),
        "frames": [min(frames), statistics.median(frames), max(frames)],
        "last_event_at": max((b.last_at for b in browsers.browsers), default=0.0),
        "closed": [b.closed for b in browsers.browsers if b.closed],
    }


def _child(config: dict, pipe) -> None:
    """Browsers and Meta: connect the clients, run both bursts, send the results back."""
    import http.client

    os.environ["WHATSAPP_APP_SECRET"] = config["app_secret"]
    os.environ["WHATSAPP_PHONE_NUMBER_ID"] = config["phone_number_id"]
    os.environ["WHATSAPP_WABA_ID"] = config["waba_id"]
    payloads = _local("payloads")

    conn = http.client.HTTPConnection(config["api_host"], config["api_port"], timeout=60)
    body = json.dumps({"email": ADMIN_EMAIL, "senha": ADMIN_PASSWORD})
    conn.request("POST", "/auth/login", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    login = json.loads(response.read())
    if response.status != 200:
        pipe.send(("error", f"login answered {response.status}: {login}"))
        return
    browsers = _Browsers(f"{config['ws_url']}/?token={login['token']}", config["clients"])
    results: dict = {"connect_seconds": browsers.connect_all()}
    pipe.send(("ready", None))
    if pipe.recv() != "go":
        browsers.close()
        return

    # Status burst: every message's sent, then every delivered, then every read.
    items = []
    for word in ("sent", "delivered", "read"):
        for wamid, phone in config["outbound"]:
            st = payloads.status(wamid, word, phone)
            items.append((f"{wamid} {word}", *payloads.signed(payloads.envelope(payloads.value(statuses=[st])))))
    before = browsers.snapshot()
    burst = _burst(config, items)
    config["_burst_end"] = burst["ended"]
    # What the data implies: every acknowledged message shows its highest acknowledged tick.
    final: dict[str, int] = {}
    for a in burst["answers"]:
        if a["status"] == 200:
            wamid, word = a["key"].split(" ")
            final[wamid] = max(STATUS_RANK[STATUS_OF_WORD[word]], final.get(wamid, -1))

    def ticks_right(browser: _Browser, _base) -> int:
        return sum(1 for wamid, rank in final.items() if browser.ticks.get(wamid) == rank)

    burst["events"] = _settle(browsers, before, ticks_right, len(final), config)
    results["status"] = burst
    pipe.send(("phase", "status"))

    # Inbound burst: --inbound texts from --contacts new contacts, interleaved.
    items = []
    phone_of: dict[str, str] = {}
    for i in range(config["inbound"]):
        phone = str(INBOUND_PHONE + i % config["contacts"])
        msg = payloads.text(phone, f"Olá! Quero saber das aulas de violão ({i})")
        phone_of[msg["id"]] = phone
        items.append((msg["id"], *payloads.signed(payloads.envelope(payloads.value(messages=[msg])))))
    before = browsers.snapshot()
    burst = _burst(config, items)
    config["_burst_end"] = burst["ended"]
    # What the data implies: each acknowledged message once, each of their conversations.
    acked = {a["key"] for a in burst["answers"] if a["status"] == 200}
    contacts = {phone_of[k] for k in acked}

    def heard(browser: _Browser, base) -> int:
        return len(acked & browser.new_wamids) + min(len(browser.conversations - base[1]), len(contacts))

    burst["events"] = _settle(browsers, before, heard, len(acked) + len(contacts), config)
    burst["expected_parts"] = [len(acked), len(contacts)]
    results["inbound"] = burst
    browsers.close()
    pipe.send(("result", results))


# ---- the parent: the stack, its database, the checks -----------------------------------------------
class _ConnectionSampler:
    """pg_stat_activity every 50 ms from one connection of its own (it counts itself)."""

    def __init__(self) -> None:
        from chalicelib import db

        self._conn = db.connect()
        self.samples: list[tuple[float, int, int, int]] = []  # (time, client backends, active, idle in tx)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[float, int, int, int]:
        row = self._conn.run(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active'),"
            " count(*) FILTER (WHERE state LIKE 'idle in transaction%')"
            " FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )[0]
        return (time.time(), int(row[0]), int(row[1]), int(row[2]))

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # the sampler must not end the run
                self.samples.append(self._sample())
            self._stop.wait(0.05)

    def start(self) -> _ConnectionSampler:
        self._thread.start()
        return self

    def now(self) -> tuple[float, int, int, int]:
        return self.samples[-1] if self.samples else self._sample()

    def peak(self, start: float, end: float) -> dict:
        window = [s for s in self.samples if start <= s[0] <= end]
        if not window:
            return {"peak": None}
        top = max(window, key=lambda s: s[1])
        return {
            "peak": top[1],
            "active_at_peak": top[2],
            "max_active": max(s[2] for s in window),
            "max_idle_in_tx": max(s[3] for s in window),
        }

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()


class _LogCounter(logging.Handler):
    """The app's log lines of WARNING and above, counted by message (printed at the end)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        why = ""
        if record.exc_info and record.exc_info[1] is not None:
            why = f" [{type(record.exc_info[1]).__name__}: {str(record.exc_info[1])[:70]}]"
        elif getattr(record, "error", None):
            why = f" [{str(record.error)[:70]}]"
        self.counts[(record.levelname, str(record.msg)[:60] + why)] += 1


class _DropMetricLines:
    """Powertools prints a metric set when one metric reaches 100 values, even with
    POWERTOOLS_METRICS_DISABLED (the local API never flushes): counted, not printed."""

    def __init__(self, stream) -> None:
        self.stream, self.dropped, self._after = stream, 0, False

    def write(self, text: str) -> int:
        after, self._after = self._after, False
        if text.startswith('{"_aws"'):
            self.dropped, self._after = self.dropped + 1, True
            return len(text)
        if after and text == "\n":  # print()'s newline, written apart
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _limited_database(data_dir: str, max_connections: int) -> str:
    """An embedded PostgreSQL in data_dir whose max_connections is the given one."""
    from chalicelib import db
    from chalicelib.config import reset_settings

    embedded = _local("embedded_pg")
    os.environ["DATABASE_URL"] = embedded.ensure_embedded_database(data_dir)
    reset_settings()
    db.execute(f"ALTER SYSTEM SET max_connections = {int(max_connections)}")
    db.close()
    embedded.stop_embedded_database()  # max_connections is read at server start only
    os.environ["DATABASE_URL"] = embedded.ensure_embedded_database(data_dir)
    reset_settings()
    shown = db.scalar("SHOW max_connections")
    if int(shown) != max_connections:
        raise SystemExit(f"max_connections is {shown}, not {max_connections}")
    return shown


def _seed(messages: int) -> list[tuple[str, str]]:
    """One contact and conversation per message through the real webhook (in-process, before
    any browser connects), then the outbound messages with their wamids in one INSERT."""
    from chalice.test import Client

    from app import app
    from chalicelib import db
    from chalicelib.services import auth

    payloads = _local("payloads")
    auth.create_admin("Carga", ADMIN_EMAIL, ADMIN_PASSWORD, papel="admin")
    phones = [str(SEED_PHONE + i) for i in range(messages)]
    with Client(app) as client:
        for start in range(0, len(phones), 100):
            msgs = [payloads.text(p, "Oi, quero uma aula experimental") for p in phones[start : start + 100]]
            body, headers = payloads.signed(payloads.envelope(payloads.value(messages=msgs)))
            response = client.http.post("/webhooks/whatsapp", headers=headers, body=body)
            assert response.status_code == 200, response.body
    rows = db.query(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
        " SELECT cv.id, 'saida', 'Olá! Temos turmas de violão às terças.', 'texto',"
        "        'wamid.bench.load.' || ct.telefone, 'pendente'"
        " FROM contatos ct JOIN conversas cv ON cv.contato_id = ct.id AND cv.status = 'ativa'"
        " WHERE ct.telefone = ANY(CAST(:phones AS text[]))"
        " RETURNING whatsapp_id",
        phones=["+" + p for p in phones],
    )
    assert len(rows) == messages, f"{len(rows)} outbound messages seeded"
    return [(r["whatsapp_id"], r["whatsapp_id"].rsplit(".", 1)[1].lstrip("+")) for r in rows]


def _lost_statuses(answers: list[dict]) -> tuple[int, int, int, list[str]]:
    """(acknowledged statuses missing from the database, acknowledged, stored without a 200);
    prints what is known of the first missing ones."""
    from chalicelib import db

    stored = {
        (r["whatsapp_id"], r["status"])
        for r in db.query(
            "SELECT m.whatsapp_id, s.status FROM mensagens m,"
            " jsonb_object_keys(CASE WHEN jsonb_typeof(m.dados -> 'statuses') = 'object'"
            "                   THEN m.dados -> 'statuses' ELSE '{}'::jsonb END) AS s(status)"
            " WHERE m.whatsapp_id LIKE 'wamid.bench.load.%'"
        )
    }
    acked = [tuple(a["key"].split(" ")) for a in answers if a["status"] == 200]
    unacked = [tuple(a["key"].split(" ")) for a in answers if a["status"] not in (200, None)]
    missing = [a for a in answers if a["status"] == 200 and tuple(a["key"].split(" ")) not in stored]
    lines = []
    for a in missing[:5]:
        wamid, word = a["key"].split(" ")
        row = db.query_one(
            "SELECT status_envio::text AS status_envio, dados -> 'statuses' AS statuses, updated_at"
            " FROM mensagens WHERE whatsapp_id = :w",
            w=wamid,
        )
        parked = db.scalar("SELECT count(*) FROM whatsapp_status_pendentes WHERE whatsapp_id = :w", w=wamid)
        keys = sorted((row or {}).get("statuses") or {})
        lines.append(
            f"    LOST: {word} of {wamid}: answered at {a['end']:.3f} with {a['detail'][:90]};"
            f" row now {row and row['status_envio']} with statuses {keys} (updated {row and row['updated_at']});"
            f" parked: {parked}"
        )
    return len(missing), len(acked), sum(1 for k in unacked if k in stored), lines


def _lost_messages(answers: list[dict]) -> tuple[int, int, int, list[str]]:
    from chalicelib import db

    keys = [a["key"] for a in answers if a["status"] is not None]
    rows = db.query("SELECT whatsapp_id FROM mensagens WHERE whatsapp_id = ANY(:ids)", ids=keys)
    stored = {r["whatsapp_id"] for r in rows}
    acked = [a["key"] for a in answers if a["status"] == 200]
    unacked = [a["key"] for a in answers if a["status"] not in (200, None)]
    lines = [
        f"    LOST: message {a['key']}: answered at {a['end']:.3f} with {a['detail'][:90]}"
        for a in answers
        if a["status"] == 200 and a["key"] not in stored
    ][:5]
    return sum(1 for k in acked if k not in stored), len(acked), sum(1 for k in unacked if k in stored), lines


_SERVER_LOG_LINES = {
    "too many clients": r"too many clients already|remaining connection slots are reserved",
    "COMMIT outside a transaction": r"there is no transaction in progress",
    "statement timeout": r"canceling statement due to statement timeout",
    "deadlock": r"deadlock detected",
    "client gone mid-transaction": r"unexpected EOF on client connection with an open transaction",
}


def _server_log(data_dir: str) -> dict[str, int]:
    """Lines of PostgreSQL's log (pgserver writes it to <pgdata>/log) by kind."""
    log = Path(data_dir) / "log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return {kind: len(re.findall(pattern, text)) for kind, pattern in _SERVER_LOG_LINES.items()}


def _pg_refusals(data_dir: str) -> int:
    return _server_log(data_dir)["too many clients"]


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    import math

    ordered = sorted(values)  # nearest rank
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _report(name: str, burst: dict, lost: tuple, db_peak: dict, refusals: int, what: str, meaning: str) -> None:
    answers = burst["answers"]
    sent = [a for a in answers if a["status"] is not None]
    latencies = [(a["end"] - a["start"]) * 1000 for a in sent]
    elapsed = max((a["end"] for a in sent), default=burst["started"]) - burst["started"]
    by_status = collections.Counter(a["status"] for a in sent)
    non2xx = [a for a in sent if not 200 <= a["status"] < 300]
    fivexx = [a for a in sent if a["status"] >= 500]
    s503 = [a for a in sent if a["status"] == 503]
    s503_no_retry = [a for a in s503 if not a["retry_after"]]
    events = burst["events"]
    delivered = events["delivered"]
    short = sum(1 for d in delivered if d < events["expected"])
    last_answer = max((a["end"] for a in sent), default=burst["started"])
    print(f"{name}: {len(sent)} webhooks ({what}) in {elapsed:.1f} s, {len(sent) / max(elapsed, 1e-9):.0f}/s")
    if len(sent) < len(answers):
        print(f"  NOT SENT (--burst-seconds reached): {len(answers) - len(sent)}")
    print(
        f"  latency ms: p50 {_pct(latencies, 50):.0f}  p95 {_pct(latencies, 95):.0f}"
        f"  p99 {_pct(latencies, 99):.0f}  max {max(latencies, default=float('nan')):.0f}"
    )
    for label, subset in (("200", [a for a in sent if a["status"] == 200]), ("non-2xx", non2xx)):
        if subset and len(subset) < len(sent):
            ms = [(a["end"] - a["start"]) * 1000 for a in subset]
            print(f"    of the {label} answers: p50 {_pct(ms, 50):.0f}  p95 {_pct(ms, 95):.0f}  max {max(ms):.0f}")
    print(
        f"  answers: {dict(sorted(by_status.items()))}; non-2xx {len(non2xx)}, 5xx {len(fivexx)},"
        f" 503 {len(s503)} ({len(s503) - len(s503_no_retry)} with Retry-After, {len(s503_no_retry)} without)"
    )
    for detail, n in collections.Counter(f"{a['status']} {a['detail'][:120]}" for a in non2xx).most_common(3):
        print(f"    {n} x {detail}")
    received = ", ".join(f"{k} {v}" for k, v in sorted(events["received_by_type"].items())) or "none"
    print(
        f"  per client, {meaning}: expected {events['expected']}; got min {min(delivered)}"
        f" / median {statistics.median(delivered):.0f} / max {max(delivered)}; clients short: {short}"
    )
    lo, mid, hi = events["frames"]
    print(f"  events received, all clients: {received}; frames per client min {lo} / median {mid:.0f} / max {hi}")
    if events["closed"]:
        print(f"  CLIENTS THAT LOST THEIR SOCKET: {len(events['closed'])}: {events['closed'][:3]}")
    if events["last_event_at"] >= burst["started"]:
        print(
            f"  last event at the last client: {events['last_event_at'] - burst['started']:.2f} s after the first POST"
            f" ({events['last_event_at'] - last_answer:+.2f} s from the last answer)"
        )
    else:
        print("  last event at the last client: no event arrived")
    print(f"  rows lost: {lost[0]} of {lost[1]} acknowledged; stored without a 200: {lost[2]}")
    for line in lost[3]:
        print(line)
    print(
        f"  PostgreSQL client connections: peak {db_peak.get('peak')} (active then {db_peak.get('active_at_peak')},"
        f" max active {db_peak.get('max_active')}, max idle in transaction {db_peak.get('max_idle_in_tx')});"
        f" 'too many clients' refusals in the server log so far: {refusals}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100, help="WebSocket clients (browsers)")
    parser.add_argument("--messages", type=int, default=300, help="outbound messages: 3 status webhooks each")
    parser.add_argument("--inbound", type=int, default=300, help="inbound messages, one per webhook")
    parser.add_argument("--contacts", type=int, default=100, help="distinct senders of the inbound burst")
    parser.add_argument("--concurrency", type=int, default=40, help="concurrent webhook senders")
    parser.add_argument("--max-connections", type=int, default=20, help="PostgreSQL max_connections")
    parser.add_argument("--burst-seconds", type=float, default=60, help="no new POST after this long per burst")
    parser.add_argument("--settle-seconds", type=float, default=45, help="longest wait for events after a burst")
    parser.add_argument("--quiet-seconds", type=float, default=5, help="stop waiting after this long without events")
    parser.add_argument(
        "--api-backlog",
        type=int,
        default=128,
        help="listen backlog of the local API server (chalice's default is 5; API Gateway has no such queue)",
    )
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="crm-bench-load-")
    pgdata = os.path.join(data_dir, "pgdata")
    log_counter = _LogCounter()
    app_logger = logging.getLogger("crm-inbox")
    for handler in list(app_logger.handlers):
        app_logger.removeHandler(handler)
    app_logger.addHandler(log_counter)
    app_logger.propagate = False
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    sys.stdout = _DropMetricLines(sys.stdout)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    stack = None
    try:
        from chalice import local as chalice_local

        chalice_local.ThreadedHTTPServer.request_queue_size = args.api_backlog
        chalice_local.ChaliceRequestHandler.log_message = lambda *a, **k: None  # a line per request
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's line per request
        started = time.monotonic()
        shown = _limited_database(pgdata, args.max_connections)
        stack = _local("stack").LocalStack(api_port=0, moto_port=0).start()
        _quiet_app_logger(app_logger, log_counter)
        outbound = _seed(args.messages)
        gateway = next(c for c in stack.components if type(c).__name__ == "WebSocketGatewayComponent").gateway
        print(
            f"load benchmark: {args.clients} WebSocket clients, PostgreSQL max_connections={shown},"
            f" {args.concurrency} concurrent webhook senders; stack up and seeded in {time.monotonic() - started:.1f} s"
        )
        print(f"  stack components: {', '.join(type(c).__name__ for c in stack.components)}")
        _run(args, stack, gateway, outbound, pgdata, log_counter)
    finally:
        if stack is not None:
            stack.stop()
        from chalicelib import db

        db.close()
        _local("embedded_pg").stop_embedded_database()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def _quiet_app_logger(app_logger: logging.Logger, counter: _LogCounter) -> None:
    """Powertools may re-add its stdout handler on first use: keep only the counter."""
    for handler in list(app_logger.handlers):
        if handler is not counter:
            app_logger.removeHandler(handler)
    if counter not in app_logger.handlers:
        app_logger.addHandler(counter)


def _run(args, stack, gateway, outbound, pgdata: str, log_counter: _LogCounter) -> None:
    from urllib.parse import urlsplit

    from chalicelib import db
    from chalicelib.repositories import ws_conexoes

    api = urlsplit(stack.api_url)
    config = {
        "api_host": api.hostname,
        "api_port": api.port,
        "ws_url": gateway.url,
        "clients": args.clients,
        "concurrency": args.concurrency,
        "burst_seconds": args.burst_seconds,
        "settle_seconds": args.settle_seconds,
        "quiet_seconds": args.quiet_seconds,
        "inbound": args.inbound,
        "contacts": args.contacts,
        "outbound": outbound,
        "app_secret": os.environ["WHATSAPP_APP_SECRET"],
        "phone_number_id": os.environ["WHATSAPP_PHONE_NUMBER_ID"],
        "waba_id": os.environ["WHATSAPP_WABA_ID"],
    }
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_child, args=(config, child_end), daemon=True)
    child.start()
    sampler = None
    try:
        kind, payload = _receive(parent_end, child, 300)
        if kind == "error":
            raise SystemExit(payload)
        stored = len(ws_conexoes.list_ids())
        db.close()  # the main thread's connection is not the app's: leave the slot free
        sampler = _ConnectionSampler().start()
        time.sleep(0.3)
        baseline = sampler.now()
        print(
            f"  {args.clients} clients connected ({stored} connections stored);"
            f" PostgreSQL client connections before the bursts: {baseline[1]} (the sampler's own included)"
        )
        parent_end.send("go")
        phase_start = time.time()
        kind, _ = _receive(parent_end, child, args.burst_seconds + args.settle_seconds + 120)
        status_end = time.time()
        kind, results = _receive(parent_end, child, args.burst_seconds + args.settle_seconds + 120)
        inbound_end = time.time()
        time.sleep(2)
        after = sampler.now()
        refusals_status = _pg_refusals(pgdata)
        _report(
            "status burst",
            results["status"],
            _lost_statuses(results["status"]["answers"]),
            sampler.peak(phase_start, status_end),
            refusals_status,
            f"{len(outbound)} messages x sent/delivered/read",
            "acknowledged messages showing their highest acknowledged tick",
        )
        _report(
            "inbound burst",
            results["inbound"],
            _lost_messages(results["inbound"]["answers"]),
            sampler.peak(status_end, inbound_end),
            _pg_refusals(pgdata),
            f"{args.inbound} texts from {args.contacts} new contacts",
            "acknowledged messages heard of (message:new) + their conversations (conversation:new|updated)"
            + " = {} + {}".format(*results["inbound"]["expected_parts"]),
        )
        print(
            f"after the bursts (2 s later): PostgreSQL client connections {after[1]}"
            f" (active {after[2]}, idle in transaction {after[3]}; before: {baseline[1]})"
        )
        server = ", ".join(f"{kind} {n}" for kind, n in _server_log(pgdata).items())
        print(f"PostgreSQL's log: {server}")
        errors = [(k, n) for k, n in log_counter.counts.most_common() if k[0] in ("ERROR", "CRITICAL")]
        warnings = sum(n for k, n in log_counter.counts.items() if k[0] == "WARNING")
        print(f"app log: {sum(n for _, n in errors)} errors, {warnings} warnings")
        for (level, message), n in errors[:5]:
            print(f"  {n} x {level} {message}")
        for (level, message), n in [(k, n) for k, n in log_counter.counts.most_common() if k[0] == "WARNING"][:3]:
            print(f"  {n} x {level} {message}")
    finally:
        if sampler is not None:
            sampler.stop()
        child.join(timeout=30)
        if child.is_alive():
            child.terminate()


def _receive(pipe, child, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pipe.poll(0.5):
            return pipe.recv()
        if not child.is_alive():
            raise SystemExit(f"the client process ended (exit code {child.exitcode})")
    raise SystemExit(f"the client process said nothing for {timeout:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
