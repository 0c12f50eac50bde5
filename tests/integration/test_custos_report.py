"""GET /relatorios/custos: outbound messages by billing category and period, billed vs free."""

from __future__ import annotations

import json

import pytest

from chalicelib import db
from chalicelib.services import custos
from tests.integration.api_support import make_contato, make_conversa, make_mensagem
from tests.integration.lgpd_support import body, status_payload


def _saida(conversa, at: str, categoria: str | None, statuses: dict | None = None, **extra):
    dados = {"statuses": statuses} if statuses else {}
    return make_mensagem(
        conversa,
        "x",
        direcao="saida",
        tipo="template",
        billing_category=categoria,
        created_at=at,
        dados=json.dumps(dados),
        **extra,
    )


def _cobrada(categoria):
    return {"sent": status_payload("sent", categoria), "delivered": status_payload("delivered", categoria)}


@pytest.fixture
def seeded(env):
    conversa = make_conversa(make_contato())
    # Days are São Paulo days (UTC-3): 2026-11-01T01:30Z is still 31 October there.
    _saida(conversa, "2026-10-01T02:00:00Z", "marketing", _cobrada("marketing"))  # 30 Sep in SP: outside
    _saida(conversa, "2026-10-01T03:00:00Z", "marketing", _cobrada("marketing"))  # 1 Oct 00:00 in SP
    _saida(conversa, "2026-10-31T15:00:00Z", "marketing", _cobrada("marketing"))
    _saida(
        conversa,
        "2026-11-01T01:30:00Z",
        "utility",
        {"sent": status_payload("sent", "utility", billable=False, type="free_customer_service")},
    )
    _saida(
        conversa,
        "2026-11-01T12:00:00Z",
        "service",
        {"sent": status_payload("sent", "service", billable=None, type="free_customer_service")},
    )
    _saida(conversa, "2026-11-01T13:00:00Z", "service")  # no status yet: unknown
    _saida(conversa, "2026-11-01T14:00:00Z", "marketing", {"failed": {"status": "failed"}}, status_envio="falhou")
    _saida(
        conversa, "2026-11-01T15:00:00Z", "marketing", {"sent": status_payload("sent", billable=None, type="regular")}
    )
    _saida(conversa, "2026-11-01T16:00:00Z", "authentication", _cobrada("authentication"))
    _saida(conversa, "2026-11-01T17:00:00Z", None)
    make_mensagem(conversa, "entrada não conta", created_at="2026-11-01T12:30:00Z")
    _saida(conversa, "2026-12-01T03:30:00Z", "marketing", _cobrada("marketing"))  # 1 Dec in SP: outside
    return env


def _report(env, query: str):
    return env.get(f"/relatorios/custos?{query}")


def _c(mensagens, cobradas=0, gratuitas=0, sem_informacao=0, falhas=0):
    return {
        "mensagens": mensagens,
        "cobradas": cobradas,
        "gratuitas": gratuitas,
        "sem_informacao": sem_informacao,
        "falhas": falhas,
        # No rate card here (db_clean empties 0014's seed): every billed message is unpriced.
        "cobradas_sem_tarifa": cobradas,
        "valor_estimado_brl": 0.0,
    }


def test_daily_report_counts_by_category_and_sao_paulo_day(seeded):
    r = _report(seeded, "de=2026-10-01&ate=2026-11-30")
    assert r.status_code == 200, r.body
    data = body(r)
    custos.CustosOut.model_validate(data)
    assert (data["de"], data["ate"], data["agrupar"], data["fuso"]) == (
        "2026-10-01",
        "2026-11-30",
        "dia",
        "America/Sao_Paulo",
    )
    assert data["periodos"] == [
        {"periodo": "2026-10-01", "billing_category": "marketing", **_c(1, cobradas=1)},
        {"periodo": "2026-10-31", "billing_category": "marketing", **_c(1, cobradas=1)},
        {"periodo": "2026-10-31", "billing_category": "utility", **_c(1, gratuitas=1)},
        {"periodo": "2026-11-01", "billing_category": "authentication", **_c(1, cobradas=1)},
        {"periodo": "2026-11-01", "billing_category": "marketing", **_c(2, cobradas=1, sem_informacao=1, falhas=1)},
        {"periodo": "2026-11-01", "billing_category": "service", **_c(2, gratuitas=1, sem_informacao=1)},
        {"periodo": "2026-11-01", "billing_category": None, **_c(1, sem_informacao=1)},
    ]
    assert data["categorias"] == [
        {"billing_category": "authentication", **_c(1, cobradas=1)},
        {"billing_category": "marketing", **_c(4, cobradas=3, sem_informacao=1, falhas=1)},
        {"billing_category": "service", **_c(2, gratuitas=1, sem_informacao=1)},
        {"billing_category": "utility", **_c(1, gratuitas=1)},
        {"billing_category": None, **_c(1, sem_informacao=1)},
    ]
    assert data["total"] == _c(9, cobradas=4, gratuitas=2, sem_informacao=3, falhas=1)


def test_monthly_report_groups_by_month(seeded):
    data = body(_report(seeded, "de=2026-10-01&ate=2026-12-31&agrupar=mes"))
    assert [(p["periodo"], p["billing_category"], p["mensagens"], p["cobradas"]) for p in data["periodos"]] == [
        ("2026-10-01", "marketing", 2, 2),
        ("2026-10-01", "utility", 1, 0),
        ("2026-11-01", "authentication", 1, 1),
        ("2026-11-01", "marketing", 2, 1),
        ("2026-11-01", "service", 2, 0),
        ("2026-11-01", None, 1, 0),
        ("2026-12-01", "marketing", 1, 1),
    ]
    assert data["total"]["mensagens"] == 10


def test_an_empty_range_is_all_zeros(seeded):
    data = body(_report(seeded, "de=2025-01-01&ate=2025-01-31"))
    assert data["periodos"] == [] and data["categorias"] == []
    assert data["total"] == _c(0)


@pytest.mark.parametrize(
    "query,field",
    [
        ("de=2026-11-02&ate=2026-11-01", "de"),
        ("de=2026-01-01&ate=2027-01-02", "ate"),  # 367 days
        ("de=2026-13-01&ate=2026-12-31", "de"),
        ("de=2026-11-01", "ate"),
        ("ate=2026-11-01", "de"),
        ("de=ontem&ate=2026-11-01", "de"),
        ("de=2026-11-01&ate=2026-11-02&agrupar=semana", "agrupar"),
    ],
)
def test_bad_ranges_are_422(env, query, field):
    r = _report(env, query)
    assert r.status_code == 422, (query, r.body)
    assert body(r)["Code"] == "ValidationError"
    assert body(r)["field"] == field


def test_a_whole_leap_year_is_allowed(env):
    assert _report(env, "de=2024-01-01&ate=2024-12-31").status_code == 200


def test_without_token_is_401(env):
    assert env.client.http.get("/relatorios/custos?de=2026-11-01&ate=2026-11-02").status_code == 401


def test_the_report_scans_the_outbound_index(env):
    from chalicelib.repositories import custos as custos_repo

    db.execute("SET enable_seqscan = off")  # a tiny table would be scanned anyway
    try:
        plan = db.query(
            "EXPLAIN " + custos_repo._REPORT_SQL,
            de="2026-11-01",
            ate="2026-11-30",
            unidade="day",
            fuso="America/Sao_Paulo",
        )
    finally:
        db.execute("RESET enable_seqscan")
    assert "idx_mensagens_saida_created" in "\n".join(r["QUERY PLAN"] for r in plan)
