"""The app's own metrics (the dashboard's): webhook outcomes, sends, fan-out."""

from __future__ import annotations

import pytest

from chalicelib.services import sending
from devstack import payloads as wa
from tests.integration import send_support


@pytest.fixture
def recorded(monkeypatch):
    from chalicelib.observability import metrics

    seen: dict[str, float] = {}

    def add_metric(name, unit, value, **_):
        seen[name] = seen.get(name, 0) + value

    monkeypatch.setattr(metrics, "add_metric", add_metric)
    return seen


def test_webhook_payloads_messages_and_statuses_are_counted(webhook, recorded):
    webhook.deliver(wa.value([wa.text("5511987654321", "oi"), wa.text("5511987654321", "tudo bem?")]))
    assert recorded == {"WebhookPayloads": 1, "WebhookMessages": 2, "WebhookStatuses": 0}


def test_sends_are_counted_by_outcome_and_replays_are_not_sends(db_clean, graph, recorded, published):
    admin = send_support.make_admin()
    conversa_id = send_support.make_conversa(atendente_id=admin)
    texto = sending.EnviarTexto(tipo="texto", conteudo="Olá!")
    sending.send(conversa_id, admin, texto, idempotency_key="k1")
    sending.send(conversa_id, admin, texto, idempotency_key="k1")  # a replay: nothing sent
    graph.fail("messages", status=500)
    with pytest.raises(Exception):  # noqa: B017 - the mapped ApiError; its class is not the point
        sending.send(conversa_id, admin, texto)
    assert recorded["MessagesSent"] == 1 and recorded["SendsFailed"] == 1
