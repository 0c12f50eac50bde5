"""Inbound webhook throughput: messages/s through the real handler and PostgreSQL.

    .venv/bin/python bench/webhook_ingest.py [--single 500] [--batches 20] [--contacts 50] [--repeat 3]

Posts signed text payloads (1 message each, then 100 messages each) through
chalice.test.Client(app) (signature check, parsing, one transaction, live-event hook), and
compares with the raw pg8000 INSERT rate of the same rows into mensagens on the same
database (one INSERT per row for the 1-message case, one multi-row INSERT per 100). Also
counts the statements a 1-message payload costs. Runs on a fresh embedded PostgreSQL of
its own, in a temporary directory (never DATABASE_URL). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_database

os.environ.setdefault("STAGE", "local")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("WHATSAPP_APP_SECRET", "bench-app-secret")
os.environ.setdefault("WHATSAPP_PHONE_NUMBER_ID", "100000000000001")
os.environ.setdefault("WHATSAPP_WABA_ID", "200000000000002")
os.environ.pop("WS_MANAGEMENT_URL", None)  # no browsers: publishing is a no-op


def _senders(n: int) -> list[str]:
    return [f"55119{7000_0000 + i:08d}" for i in range(n)]


def _post(client, payload) -> None:
    from devstack import payloads as wa

    body, headers = wa.signed(payload)
    response = client.http.post("/webhooks/whatsapp", headers=headers, body=body)
    if response.status_code != 200:
        raise SystemExit(f"webhook answered {response.status_code}: {response.body[:300]!r}")


def _count_statements(client, payload) -> int:
    import pg8000.native

    calls = 0
    original = pg8000.native.Connection.run

    def counting(self, sql, *args, **kwargs):
        nonlocal calls
        calls += 1
        return original(self, sql, *args, **kwargs)

    pg8000.native.Connection.run = counting
    try:
        _post(client, payload)
    finally:
        pg8000.native.Connection.run = original
    return calls


def _raw_rows(conversa_ids: list[str], n: int, tag: str) -> list[dict]:
    now = time.time()
    return [
        {
            "conversa_id": conversa_ids[i % len(conversa_ids)],
            "whatsapp_id": f"wamid.raw.{tag}.{i}",
            "conteudo": f"Olá, quero saber das aulas de violão ({i})",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "dados": json.dumps({"raw": {"id": f"wamid.raw.{tag}.{i}", "type": "text"}}),
        }
        for i in range(n)
    ]


def _raw_single(rows: list[dict]) -> float:
    from chalicelib import db

    conn = db.connect()
    started = time.perf_counter()
    for r in rows:
        conn.run(
            "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio, created_at, dados)"
            " VALUES (CAST(:conversa_id AS uuid), 'entrada', :conteudo, 'texto', :whatsapp_id, 'recebida',"
            " CAST(:created_at AS timestamptz), CAST(:dados AS jsonb))",
            **r,
        )
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def _raw_batches(rows: list[dict], size: int) -> float:
    from chalicelib import db

    conn = db.connect()
    started = time.perf_counter()
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        conn.run(
            "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio, created_at, dados)"
            " SELECT conversa_id, 'entrada', conteudo, 'texto', whatsapp_id, 'recebida', created_at, dados"
            " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(conversa_id uuid, conteudo text, whatsapp_id text,"
            " created_at timestamptz, dados jsonb)",
            rows=json.dumps([{**r, "dados": json.loads(r["dados"])} for r in batch]),
        )
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single", type=int, default=500, help="1-message payloads to post")
    parser.add_argument("--batches", type=int, default=20, help="100-message payloads to post")
    parser.add_argument("--contacts", type=int, default=50, help="distinct senders")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best is printed)")
    args = parser.parse_args()

    with bench_database():
        _measure(args)


def _measure(args: argparse.Namespace) -> None:
    from chalice.test import Client

    from app import app
    from chalicelib import db
    from devstack import payloads as wa

    senders = _senders(args.contacts)
    with Client(app) as client:
        db.ping()  # the connection's own setup statements are not the webhook's
        # Warm-up: every sender's contact and conversation exist, caches are warm.
        new_contact = _count_statements(client, wa.envelope(wa.value([wa.text(senders[0], "primeira")])))
        for s in senders[1:]:
            _post(client, wa.envelope(wa.value([wa.text(s, "primeira mensagem")])))
        existing = wa.envelope(wa.value([wa.text(senders[1], "de novo")]))
        known_contact = _count_statements(client, existing)
        duplicate = _count_statements(client, existing)

        # Best of --repeat runs: the machine may be shared, the best run is the least disturbed.
        single_rate = batch_rate = 0.0
        for run in range(args.repeat):
            payloads = [
                wa.envelope(wa.value([wa.text(senders[i % len(senders)], f"Olá, quero saber das aulas ({run}/{i})")]))
                for i in range(args.single)
            ]
            started = time.perf_counter()
            for p in payloads:
                _post(client, p)
            single_rate = max(single_rate, args.single / (time.perf_counter() - started))

            batches = []
            for b in range(args.batches):
                msgs = [wa.text(senders[(b * 100 + i) % len(senders)], f"lote {run}/{b} nº {i}") for i in range(100)]
                batches.append(wa.envelope(wa.value(msgs)))
            started = time.perf_counter()
            for p in batches:
                _post(client, p)
            batch_rate = max(batch_rate, args.batches * 100 / (time.perf_counter() - started))

    conversa_ids = [str(r["id"]) for r in db.query("SELECT id FROM conversas")]
    raw_single = max(
        _raw_single(_raw_rows(conversa_ids, args.single, f"s{time.time_ns()}")) for _ in range(args.repeat)
    )
    raw_batch = max(
        _raw_batches(_raw_rows(conversa_ids, args.batches * 100, f"b{time.time_ns()}"), 100) for _ in range(args.repeat)
    )

    print("inbound webhook ingest (chalice.test.Client -> handler -> PostgreSQL)")
    print(
        f"  statements per 1-message payload (incl. BEGIN/COMMIT and the Web Push lookup):"
        f" new contact {new_contact}, known contact {known_contact}, duplicate {duplicate}"
    )

    print(
        f"  1-message payloads:   {single_rate:8.0f} msg/s   raw pg8000 INSERT per row: {raw_single:8.0f} rows/s"
        f"   ratio {single_rate / raw_single:.2f}"
    )
    print(
        f"  100-message payloads: {batch_rate:8.0f} msg/s   raw pg8000 INSERT per 100: {raw_batch:8.0f} rows/s"
        f"   ratio {batch_rate / raw_batch:.2f}"
    )


if __name__ == "__main__":
    main()
