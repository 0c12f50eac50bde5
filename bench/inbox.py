"""Inbox benchmark: 100k conversations, 2M messages, the first page through the app.

    .venv/bin/python bench/inbox.py [--conversas 100000] [--mensagens 2000000] [--runs 200]

Runs on a fresh embedded PostgreSQL of its own, in a temporary directory (never DATABASE_URL).
Seeding is set-based (generate_series); then it prints p50/p95 of GET /conversas (all, and
atendente=me) through the Chalice app with a real token, and the EXPLAIN ANALYZE of both
pages, failing loudly if mensagens is read by a sequential scan. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_database

os.environ.setdefault("STAGE", "local")
os.environ.setdefault("AUTH_SECRET", "bench-auth-secret-0123456789abcdef0123456789abcdef")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
# Seeding statements run for minutes; the app's 15 s guard is for requests, not for this.
os.environ.setdefault("DB_STATEMENT_TIMEOUT_MS", "1800000")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def _seed(conversas: int, mensagens: int) -> str:
    from chalicelib import db
    from chalicelib.security import hash_password

    started = time.perf_counter()
    senha = hash_password("bench-senha")
    db.execute(
        "INSERT INTO administradores (nome, email, senha_hash)"
        " SELECT 'Atendente ' || i, 'atendente' || i || '@bench.local', :senha FROM generate_series(1, 10) i",
        senha=senha,
    )
    me = db.scalar("SELECT id FROM administradores WHERE email = 'atendente1@bench.local'")
    db.execute(
        "INSERT INTO contatos (telefone, nome, created_at)"
        " SELECT '+5511' || lpad(i::text, 9, '0'), 'Contato ' || i, now() - make_interval(days => 60)"
        " FROM generate_series(1, :n) i",
        n=conversas,
    )
    # A third unassigned, the rest spread over the 10 admins; a fifth closed; windows mixed.
    db.execute(
        """
        WITH admins AS (SELECT array_agg(id ORDER BY email) AS ids FROM administradores),
        numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contatos)
        INSERT INTO conversas (contato_id, status, closed_at, atendente_id, atribuida_em, window_expires_at, created_at)
        SELECT numbered.id,
               CAST(CASE WHEN n % 5 = 0 THEN 'encerrada' ELSE 'ativa' END AS status_conversa),
               CASE WHEN n % 5 = 0 THEN now() - interval '1 day' END,
               CASE WHEN n % 3 = 0 THEN NULL ELSE admins.ids[1 + (n % 10)] END,
               CASE WHEN n % 3 = 0 THEN NULL ELSE now() - interval '2 days' END,
               now() + make_interval(hours => (n % 48)::int - 24),
               now() - make_interval(days => 30)
        FROM numbered, admins
        """
    )
    db.execute("CREATE TEMP TABLE bench_cv AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM conversas")
    db.execute("CREATE UNIQUE INDEX ON bench_cv (n)")
    print(f"seeded admins, {conversas} contatos and conversas in {time.perf_counter() - started:.1f}s", flush=True)
    chunk = 500_000
    for start in range(0, mensagens, chunk):
        stop = min(start + chunk, mensagens)
        t0 = time.perf_counter()
        db.execute(
            """
            INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, status_envio, created_at)
            SELECT cv.id,
                   CAST(CASE WHEN g % 3 = 0 THEN 'saida' ELSE 'entrada' END AS direcao_mensagem),
                   'mensagem ' || g,
                   CAST('texto' AS tipo_mensagem),
                   CAST(CASE WHEN g % 3 = 0 THEN 'entregue' ELSE 'recebida' END AS status_envio),
                   now() - make_interval(secs => (g::bigint * 7919 % 2592000)::double precision)
            FROM generate_series(:start, :stop - 1) g
            JOIN bench_cv cv ON cv.n = g % :conversas
            """,
            start=start,
            stop=stop,
            conversas=conversas,
        )
        print(f"  mensagens {stop:>9,} ({time.perf_counter() - t0:.1f}s)", flush=True)
    db.execute("ANALYZE")
    print(f"seed done in {time.perf_counter() - started:.1f}s", flush=True)
    return str(me)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _measure(client, path: str, headers: dict[str, str], runs: int) -> tuple[float, float, int]:
    for _ in range(5):  # warm the plan cache and the buffer cache
        client.http.get(path, headers=headers)
    samples = []
    items = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.http.get(path, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.body
    import json

    items = len(json.loads(r.body)["items"])
    p50, p95 = _percentiles(samples)
    return p50, p95, items


def _explain(label: str, **filters) -> bool:
    from chalicelib import db
    from chalicelib.repositories import inbox

    sql, params = inbox.conversas_page_statement(limit=31, **filters)
    plan = [r["QUERY PLAN"] for r in db.query("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, **params)]
    print(f"\nEXPLAIN ANALYZE — {label}")
    print("\n".join("  " + line for line in plan))
    seq = [line for line in plan if "Seq Scan on mensagens" in line or "Seq Scan on conversas" in line]
    return not seq


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversas", type=int, default=100_000)
    parser.add_argument("--mensagens", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    with bench_database("crm-bench-inbox-pg-"):
        return _run(args)


def _run(args) -> int:
    from chalicelib import db

    if db.scalar("SELECT count(*) FROM conversas"):
        print("the benchmark's own database is not empty", file=sys.stderr)
        return 2
    me = _seed(args.conversas, args.mensagens)
    counts = db.query_one("SELECT (SELECT count(*) FROM conversas) AS c, (SELECT count(*) FROM mensagens) AS m")
    print(f"rows: conversas={counts['c']:,} mensagens={counts['m']:,}")

    from chalice.test import Client

    from app import app
    from chalicelib.services.auth import issue_token

    headers = {"Authorization": f"Bearer {issue_token(me)[0]}"}
    print(f"\nfirst inbox page through the app ({args.runs} requests each, limit=30):")
    with Client(app) as client:
        for label, path in [("all", "/conversas"), ("atendente=me", "/conversas?atendente=me")]:
            p50, p95, items = _measure(client, path, headers, args.runs)
            print(f"  {label:<14} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   ({items} items)")
    ok = _explain("all") & _explain("atendente=me", atendente_id=me)
    print("\nno sequential scan on mensagens/conversas:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
