"""Issue 14 §4: the rate card (R$ per billed message, per category, versioned by date) and the
cost report's estimated reais: each billed message costs the rate in force on its São Paulo day."""

from __future__ import annotations

import json

import pytest

from chalicelib import db
from tests.integration.api_support import auth, body, make_admin, make_contato, make_conversa, make_mensagem
from tests.integration.lgpd_support import status_payload


def _saida(conversa, at: str, categoria: str | None, cobrada: bool | None = True):
    statuses = None
    if cobrada is True:
        statuses = {"sent": status_payload("sent", categoria)}
    elif cobrada is False:
        statuses = {"sent": status_payload("sent", categoria, billable=False, type="free_customer_service")}
    return make_mensagem(
        conversa,
        "x",
        direcao="saida",
        tipo="template",
        billing_category=categoria,
        created_at=at,
        dados=json.dumps({"statuses": statuses} if statuses else {}),
    )


def _tarifa(categoria: str, desde: str, valor: str) -> None:
    db.execute(
        "INSERT INTO tarifas (categoria, vigente_desde, valor_brl) VALUES (CAST(:c AS billing_category), :d, :v)",
        c=categoria,
        d=desde,
        v=valor,
    )


@pytest.fixture
def seeded(env):
    _tarifa("marketing", "2026-10-01", "0.30")
    _tarifa("marketing", "2026-11-01", "0.50")  # Meta raised marketing on 1 November
    _tarifa("utility", "2026-10-01", "0.04")
    # no authentication rate at all
    conversa = make_conversa(make_contato())
    _saida(conversa, "2026-10-20T12:00:00Z", "marketing")  # 0.30
    # 31 Oct 22:30 in São Paulo (1 Nov in UTC): still October's rate
    _saida(conversa, "2026-11-01T01:30:00Z", "marketing")  # 0.30
    _saida(conversa, "2026-11-01T12:00:00Z", "marketing")  # 0.50
    _saida(conversa, "2026-11-02T12:00:00Z", "marketing")  # 0.50
    _saida(conversa, "2026-11-02T13:00:00Z", "marketing", cobrada=False)  # free: no money
    _saida(conversa, "2026-11-02T14:00:00Z", "utility")  # 0.04
    _saida(conversa, "2026-11-02T15:00:00Z", "utility", cobrada=None)  # no pricing yet
    _saida(conversa, "2026-11-02T16:00:00Z", "authentication")  # billed, no rate
    return env


def test_each_billed_message_costs_the_rate_of_its_category_on_its_day(seeded):
    r = seeded.get("/relatorios/custos?de=2026-10-01&ate=2026-11-30&agrupar=mes")
    assert r.status_code == 200, r.body
    got = body(r)
    assert "estimad" in got["aviso"].lower()
    by = {(p["periodo"], p["billing_category"]): p for p in got["periodos"]}
    assert by[("2026-10-01", "marketing")]["valor_estimado_brl"] == pytest.approx(0.60)
    nov_mkt = by[("2026-11-01", "marketing")]
    assert nov_mkt["valor_estimado_brl"] == pytest.approx(1.00)
    assert (nov_mkt["cobradas"], nov_mkt["gratuitas"]) == (2, 1)
    nov_util = by[("2026-11-01", "utility")]
    assert nov_util["valor_estimado_brl"] == pytest.approx(0.04)
    assert (nov_util["cobradas"], nov_util["sem_informacao"]) == (1, 1)
    nov_auth = by[("2026-11-01", "authentication")]
    assert (nov_auth["cobradas"], nov_auth["cobradas_sem_tarifa"], nov_auth["valor_estimado_brl"]) == (1, 1, 0)
    assert got["total"]["valor_estimado_brl"] == pytest.approx(1.64)
    assert got["total"]["cobradas_sem_tarifa"] == 1
    cats = {c["billing_category"]: c["valor_estimado_brl"] for c in got["categorias"]}
    assert cats["marketing"] == pytest.approx(1.60)


def test_daily_figures_switch_rate_on_the_day_it_starts(seeded):
    got = body(seeded.get("/relatorios/custos?de=2026-10-31&ate=2026-11-01&agrupar=dia"))
    by = {(p["periodo"], p["billing_category"]): p["valor_estimado_brl"] for p in got["periodos"]}
    assert by == {("2026-10-31", "marketing"): pytest.approx(0.30), ("2026-11-01", "marketing"): pytest.approx(0.50)}


def test_a_new_rate_changes_only_the_days_from_its_date(seeded):
    admin_headers = seeded.headers
    r = seeded.client.http.post(
        "/tarifas",
        headers=admin_headers,
        body=json.dumps({"categoria": "utility", "vigente_desde": "2026-11-02", "valor_brl": "0.05"}),
    )
    assert r.status_code == 201, r.body
    assert body(r)["valor_brl"] == pytest.approx(0.05)
    got = body(seeded.get("/relatorios/custos?de=2026-11-02&ate=2026-11-02"))
    util = next(p for p in got["periodos"] if p["billing_category"] == "utility")
    assert util["valor_estimado_brl"] == pytest.approx(0.05)
    listed = body(seeded.get("/tarifas"))["items"]
    assert [(t["categoria"], t["vigente_desde"]) for t in listed if t["categoria"] == "utility"] == [
        ("utility", "2026-11-02"),
        ("utility", "2026-10-01"),
    ]
    # The same category and day again corrects that row instead of adding one.
    r = seeded.client.http.post(
        "/tarifas",
        headers=admin_headers,
        body=json.dumps({"categoria": "utility", "vigente_desde": "2026-11-02", "valor_brl": 0.06}),
    )
    assert r.status_code == 201
    assert db.scalar("SELECT count(*) FROM tarifas WHERE categoria = 'utility'") == 2


def test_only_admins_change_the_rate_card(env):
    bia = make_admin("Bia", papel="atendente")
    payload = json.dumps({"categoria": "marketing", "vigente_desde": "2026-01-01", "valor_brl": 1})
    r = env.client.http.post("/tarifas", headers=auth(bia), body=payload)
    assert r.status_code == 403
    assert body(r)["Code"] == "ForbiddenError"
    assert env.client.http.get("/tarifas", headers=auth(bia)).status_code == 200  # reading is for everyone


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"categoria": "sms", "vigente_desde": "2026-01-01", "valor_brl": 1}, "categoria"),
        ({"categoria": "marketing", "vigente_desde": "2026-01-01", "valor_brl": -1}, "valor_brl"),
        ({"categoria": "marketing", "vigente_desde": "amanhã", "valor_brl": 1}, "vigente_desde"),
    ],
)
def test_bad_rates_are_422(env, payload, field):
    r = env.post("/tarifas", payload)
    assert r.status_code == 422
    assert body(r)["field"] == field
