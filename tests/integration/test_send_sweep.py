"""Sends nobody will finish: the window-expiry run fails them as uncertain and frees their keys."""

from __future__ import annotations

import pytest

from chalicelib import db
from chalicelib.repositories import envios
from chalicelib.services import idempotency, send_sweep, sending
from tests.integration.send_support import make_admin, make_conversa


def texto() -> sending.EnviarTexto:
    return sending.EnviarTexto(tipo="texto", conteudo="Sua aula é amanhã")


def dead_send(admin: str, conversa_id: str, seconds_ago: int, chave: str | None = None) -> str:
    """What a request killed after storing its message leaves behind: the pendente row, its
    claimed (never completed) key."""
    if chave:
        assert envios.claim_key(admin, chave, idempotency.request_hash(conversa_id, texto()), conversa_id)
    row = envios.insert_pendente(
        conversa_id=conversa_id,
        admin_id=admin,
        tipo="texto",
        conteudo="Sua aula é amanhã",
        billing_category="service",
        dados={},
    )
    if chave:
        envios.attach_key_mensagem(admin, chave, str(row["id"]))
    db.execute(
        "UPDATE mensagens SET created_at = now() - make_interval(secs => :s) WHERE id = CAST(:id AS uuid)",
        s=seconds_ago,
        id=str(row["id"]),
    )
    return str(row["id"])


def mensagem(mensagem_id: str) -> dict:
    return db.query_one("SELECT * FROM mensagens WHERE id = CAST(:id AS uuid)", id=mensagem_id)


def test_a_send_stuck_pendente_fails_as_uncertain_and_its_retry_replays_instead_of_sending(db_clean, graph, published):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    preso = dead_send(admin, conversa_id, seconds_ago=180, chave="k-morto")
    recente = dead_send(admin, conversa_id, seconds_ago=30)  # may still be sending: left alone

    assert send_sweep.sweep_unconfirmed_sends() == {
        "envios_recuperados": 0,
        "envios_sem_confirmacao": 1,
        "chaves_concluidas": 1,
        "statuses_aplicados": 0,
        "statuses_orfaos_removidos": 0,
    }

    falhou = mensagem(preso)
    assert falhou["status_envio"] == "falhou"
    assert falhou["dados"]["erro"]["type"] == "sem_confirmacao"
    assert falhou["dados"]["erro"]["incerto"] is True
    assert "WhatsApp" in falhou["dados"]["erro"]["message"]
    assert mensagem(recente)["status_envio"] == "pendente"
    assert [(e, d["mensagem"]["id"], d["mensagem"]["status_envio"]) for e, d in published[:1]] == [
        ("message:updated", preso, "falhou")
    ]
    [(_, status)] = published[1:]  # and its tick turns red, with the reason
    assert status["status_envio"] == "falhou" and status["erro"]["title"] == "sem_confirmacao"

    # The attendant's app retries with the same key: the failure comes back, nothing is sent.
    again = sending.send(conversa_id, admin, texto(), idempotency_key="k-morto")
    assert again.status == 504 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body["Code"] == "WhatsAppUnavailable" and again.body["incerto"] is True
    assert again.body["mensagem_id"] == preso
    assert graph.sent_messages == []
    assert db.scalar("SELECT count(*) FROM mensagens") == 2

    published.clear()
    assert send_sweep.sweep_unconfirmed_sends()["envios_sem_confirmacao"] == 0  # idempotent
    assert published == []


def test_delivered_and_inbound_messages_and_sent_ones_are_never_swept(db_clean, published):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    enviada = dead_send(admin, conversa_id, seconds_ago=600)
    envios.mark_sent(enviada, "wamid.enviada", {})
    db.execute(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio, created_at)"
        " VALUES (CAST(:c AS uuid), 'entrada', 'oi', 'texto', 'wamid.entrada', 'recebida', now() - interval '1 hour')",
        c=conversa_id,
    )
    assert send_sweep.sweep_unconfirmed_sends()["envios_sem_confirmacao"] == 0
    assert db.scalar("SELECT count(*) FROM mensagens WHERE status_envio = 'falhou'") == 0


def test_a_request_that_was_only_slow_confirms_its_message_after_the_sweep(db_clean, published):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    lento = dead_send(admin, conversa_id, seconds_ago=180)
    send_sweep.sweep_unconfirmed_sends()
    row = envios.mark_sent(lento, "wamid.lento", {})
    assert row["status_envio"] == "enviada" and "erro" not in row["dados"]


def test_the_run_applies_statuses_waiting_for_their_message(db_clean, published):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    db.execute(
        "INSERT INTO whatsapp_status_pendentes (whatsapp_id, status, status_envio, payload, status_at)"
        " VALUES ('wamid.orfao', 'delivered', 'entregue', '{}'::jsonb, now())"
    )
    mensagem_id = dead_send(admin, conversa_id, seconds_ago=5)
    db.execute("UPDATE mensagens SET whatsapp_id = 'wamid.orfao', status_envio = 'enviada'")

    result = send_sweep.sweep_unconfirmed_sends()

    assert result["statuses_aplicados"] == 1
    assert mensagem(mensagem_id)["status_envio"] == "entregue"
    assert db.scalar("SELECT count(*) FROM whatsapp_status_pendentes") == 0
    assert [(e, str(d["mensagem_id"]), d["status_envio"]) for e, d in published] == [
        ("message:status", mensagem_id, "entregue")
    ]


def test_the_scheduled_window_expiry_handler_runs_the_sweep(db_clean, published):
    from devstack.scheduler import invoke_scheduled

    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    preso = dead_send(admin, conversa_id, seconds_ago=300)
    result = invoke_scheduled("handle_window_expiry")
    assert result["envios_sem_confirmacao"] == 1 and result["handled"] == 0
    assert mensagem(preso)["status_envio"] == "falhou"


def test_a_failing_sweep_still_lets_the_windows_close(db_clean, published, monkeypatch):
    from devstack.scheduler import invoke_scheduled

    make_conversa(window_seconds=-5)

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(send_sweep, "sweep_unconfirmed_sends", broken)
    with pytest.raises(RuntimeError, match="boom"):
        invoke_scheduled("handle_window_expiry")
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'janela_expirada'") == 1


def test_statuses_parked_beyond_whatsapps_retry_horizon_are_pruned(db_clean, published):
    """Meta retries a webhook for up to 7 days; a status parked longer never finds its message
    and holds a recipient's number."""
    for days, wamid in ((8, "wamid.velho"), (2, "wamid.recente")):
        db.execute(
            "INSERT INTO whatsapp_status_pendentes (whatsapp_id, status, payload, received_at)"
            " VALUES (:w, 'delivered', CAST(:p AS jsonb), now() - make_interval(days => CAST(:d AS int)))",
            w=wamid,
            p='{"recipient_id": "5511987654321"}',
            d=days,
        )
    assert send_sweep.sweep_unconfirmed_sends()["statuses_orfaos_removidos"] == 1
    assert [r["whatsapp_id"] for r in db.query("SELECT whatsapp_id FROM whatsapp_status_pendentes")] == [
        "wamid.recente"
    ]
