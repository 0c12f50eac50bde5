"""After the commit: live events, media jobs, and which failures ask Meta to retry."""

from __future__ import annotations

import json
import os
from datetime import datetime

from devstack import payloads as wa
from tests.integration.webhook_support import count, one, rows

ANA = "5511987654321"


def test_new_conversation_and_message_are_published_after_commit(webhook, published):
    msg = wa.text(ANA, "oi")
    webhook.deliver(wa.value([msg], profiles={ANA: "Ana"}))
    assert [e for e, _ in published] == ["conversation:new", "message:new"]
    conversa = published[0][1]["conversa"]
    assert conversa["contato"]["telefone"] == "+5511987654321" and conversa["contato"]["nome"] == "Ana"
    assert conversa["id"] == str(one("SELECT id FROM conversas")["id"])
    assert conversa["window_expires_at"] is not None and conversa["nao_lidas"] == 1
    assert conversa["janela_aberta"] is True and conversa["ultima_mensagem"]["conteudo"] == "oi"
    nova = published[1][1]
    assert nova["mensagem"]["whatsapp_id"] == msg["id"] and nova["mensagem"]["conteudo"] == "oi"
    assert nova["conversa_id"] == conversa["id"] == nova["mensagem"]["conversa_id"]
    published.clear()
    webhook.deliver(wa.value([msg]))  # a duplicate announces nothing
    assert published == []


def test_status_is_published(webhook, published):
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    wamid = wa.new_wamid()
    rows(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
        " SELECT id, 'saida', 'olá', 'texto', :w, 'enviada' FROM conversas RETURNING id",
        w=wamid,
    )
    published.clear()
    webhook.deliver(wa.value(statuses=[wa.status(wamid, "delivered", category="utility")]))
    assert published == [
        (
            "message:status",
            {
                "mensagem_id": str(one("SELECT id FROM mensagens WHERE whatsapp_id = :w", w=wamid)["id"]),
                "whatsapp_id": wamid,
                "conversa_id": str(one("SELECT id FROM conversas")["id"]),
                "status_envio": "entregue",
                "billing_category": "utility",
                "erro": None,
            },
        )
    ]


def test_publishing_failure_never_fails_the_webhook(webhook, monkeypatch):
    from chalicelib.services import realtime
    from tests.live_capture import drain_on_nudge

    def broken(_events, **_):
        raise RuntimeError("gateway down")

    drain_on_nudge(monkeypatch)
    monkeypatch.setattr(realtime, "audience", lambda: ["c1"])
    monkeypatch.setattr(realtime, "publish_many", broken)
    webhook.deliver(wa.value([wa.text(ANA, "oi"), wa.image(ANA, caption="foto")]))
    assert count("mensagens") == 2
    # The live events go out first: their failure must not keep the media job off the queue.
    [job] = webhook.media_jobs()
    assert job["mensagem_id"] == str(one("SELECT id FROM mensagens WHERE tipo = 'media'")["id"])


def test_queue_failure_answers_500_and_the_retry_enqueues(webhook):
    from chalicelib.config import reset_settings

    payload = wa.envelope(wa.value([wa.audio(ANA)]))
    os.environ["MEDIA_QUEUE_URL"] = webhook.queue_url + "-inexistente"
    reset_settings()
    try:
        response = webhook.post(payload)
    finally:
        os.environ["MEDIA_QUEUE_URL"] = webhook.queue_url
        reset_settings()
    assert response.status_code == 500  # Meta retries
    assert json.loads(response.body)["Code"] == "MediaQueueUnavailable"
    assert count("mensagens") == 1  # the message itself is safe
    assert webhook.post(payload).status_code == 200
    jobs = webhook.media_jobs()
    assert len(jobs) == 1 and jobs[0]["voice"] is True
    assert jobs[0]["mensagem_id"] == str(one("SELECT id FROM mensagens")["id"])


def test_database_outage_is_503(webhook, monkeypatch):
    from chalicelib import db

    def down():
        raise db.DatabaseUnavailable("connection refused")

    db.close()
    monkeypatch.setattr(db, "connect", down)
    response = webhook.post(wa.envelope(wa.value([wa.text(ANA, "oi")])))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert json.loads(response.body)["Code"] == "ServiceUnavailable"


def test_deadlock_is_retried_and_stores_once(webhook, monkeypatch):
    from pg8000.exceptions import DatabaseError

    from chalicelib.repositories import mensagens

    real = mensagens.insert_inbound
    calls = []

    def deadlocking_once(rows_):
        calls.append(len(rows_))
        if len(calls) == 1:
            real(rows_)  # the work is done, then the transaction dies as a deadlock victim
            raise DatabaseError({"C": "40P01", "M": "deadlock detected"})
        return real(rows_)

    monkeypatch.setattr(mensagens, "insert_inbound", deadlocking_once)
    summary = webhook.deliver(wa.value([wa.text(ANA, "oi"), wa.image(ANA)]))
    assert calls == [2, 2] and summary["mensagens"] == 2
    assert count("mensagens") == 2 and count("contatos") == 1 and count("eventos WHERE tipo = 'opt_in'") == 1
    assert len(webhook.media_jobs()) == 1


def test_template_update_is_published(webhook, published):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000007', 'promo_ferias', 'marketing', 'pending', 'pt_BR') RETURNING id"
    )
    update = wa.template_status_update("promo_ferias", event="REJECTED", template_id="900000000000007")
    webhook.deliver(("message_template_status_update", update))
    assert [(e, d["template"]["name"], d["template"]["status"]) for e, d in published] == [
        ("template:updated", "promo_ferias", "rejected")
    ]


def test_user_preferences_of_an_unknown_number_is_still_recorded(webhook):
    webhook.deliver(("user_preferences", wa.user_preferences("5521999990000", "stop")))
    assert count("contatos") == 0
    evento = one("SELECT contato_id, tipo, dados FROM eventos")
    assert (evento["contato_id"], evento["tipo"]) == (None, "opt_out")
    assert evento["dados"]["user_preferences"]["wa_id"] == "5521999990000"


def test_live_event_shapes_follow_the_team_contract(webhook, published):
    webhook.deliver(wa.value([wa.image(ANA, caption="foto")], profiles={ANA: "Ana"}))
    (kind_c, conversa), (kind_m, nova) = published
    assert (kind_c, kind_m) == ("conversation:new", "message:new")
    assert set(conversa) == {"conversa"} and conversa["conversa"]["contato"]["nome"] == "Ana"
    assert set(nova) == {"mensagem", "conversa_id"}
    mensagem = nova["mensagem"]
    # An inbound media message has no file yet: its URLs are null, never a storage key.
    assert "media_url" in mensagem and mensagem["media_url"] is None and mensagem["thumbnail_url"] is None
    assert (mensagem["tipo"], mensagem["media_type"], mensagem["conteudo"]) == ("media", "image", "foto")
    assert conversa["conversa"]["contato_id"] == str(one("SELECT id FROM contatos")["id"])


def test_message_events_never_carry_a_raw_storage_key(webhook, published, monkeypatch):
    """A stored file is announced by a presigned URL, whichever event carries the message."""
    from moto import mock_aws

    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.services import live_events
    from chalicelib.services.media_urls import reset_clients

    webhook.deliver(wa.value([wa.image(ANA)]))
    row = one(
        "UPDATE mensagens SET media_url = 'media/2026/foto.jpg', thumbnail_url = 'media/2026/foto_thumb.jpg'"
        " RETURNING id, conversa_id"
    )
    published.clear()
    monkeypatch.setenv("MEDIA_BUCKET", "crm-media-test")
    reset_settings()
    with mock_aws():
        reset_clients()
        try:
            with db.transaction():
                live_events.message_updated(row["id"])
        finally:
            reset_clients()
            monkeypatch.delenv("MEDIA_BUCKET")
            reset_settings()
    [(event, data)] = published
    shaped = data["mensagem"]
    assert event == "message:updated" and data["conversa_id"] == str(row["conversa_id"])
    assert one("SELECT media_url FROM mensagens")["media_url"] == "media/2026/foto.jpg"  # the row is not rewritten
    assert shaped["media_url"].startswith("http") and "X-Amz-Signature=" in shaped["media_url"]
    assert "foto_thumb.jpg" in shaped["thumbnail_url"] and "X-Amz-Signature=" in shaped["thumbnail_url"]


def test_a_message_in_an_existing_conversation_announces_the_conversation(webhook, published):
    """Window, unread count and last activity moved: the browsers hear it with the message,
    all in one publish (one lookup of the connections)."""
    calls = published.calls
    webhook.deliver(wa.value([wa.text(ANA, "oi")], profiles={ANA: "Ana"}))
    rows("UPDATE conversas SET window_expires_at = now() - interval '1 minute' RETURNING id")  # closed meanwhile
    calls.clear()

    webhook.deliver(wa.value([wa.text(ANA, "ainda estou aqui")]))

    assert len(calls) == 1
    assert [e for e, _ in calls[0]] == ["conversation:updated", "message:new"]
    conversa = calls[0][0][1]["conversa"]
    stored = one("SELECT * FROM conversas")
    assert conversa["id"] == str(stored["id"])
    assert conversa["nao_lidas"] == 2 and stored["nao_lidas"] == 2
    assert conversa["janela_aberta"] is True  # reopened by this message
    for column in ("window_expires_at", "ultima_atividade_em"):
        assert datetime.fromisoformat(conversa[column]) == stored[column], column

    calls.clear()
    webhook.deliver(wa.value([wa.text(ANA, "de novo")]))
    webhook.deliver(wa.value(statuses=[wa.status(wa.new_wamid(), "delivered")]))  # orphan status: no message
    assert [e for e, _ in calls[0]] == ["conversation:updated", "message:new"]
    assert len(calls) == 1  # the status-only payload touched no conversation


def test_message_new_is_published_before_the_media_job_is_queued(webhook, monkeypatch):
    """A fast worker's message:updated must never reach a browser before message:new."""
    from chalicelib.config import reset_settings
    from chalicelib.services import media_jobs, realtime
    from tests.live_capture import drain_on_nudge

    order: list[str] = []
    drain_on_nudge(monkeypatch)
    monkeypatch.setattr(realtime, "audience", lambda: ["c1"])
    monkeypatch.setattr(realtime, "publish_many", lambda evs, **_: order.extend(e for _, e, _ in evs) or {})
    real_enqueue = media_jobs.enqueue

    def enqueue(jobs):
        order.append("enqueue")
        return real_enqueue(jobs)

    monkeypatch.setattr(media_jobs, "enqueue", enqueue)
    webhook.deliver(wa.value([wa.image(ANA)]))
    assert order == ["conversation:new", "message:new", "enqueue"]

    # The queue refusing still answers 500 (Meta retries); the message was announced anyway.
    order.clear()
    payload = wa.envelope(wa.value([wa.audio(ANA)]))
    os.environ["MEDIA_QUEUE_URL"] = webhook.queue_url + "-inexistente"
    reset_settings()
    try:
        response = webhook.post(payload)
    finally:
        os.environ["MEDIA_QUEUE_URL"] = webhook.queue_url
        reset_settings()
    assert response.status_code == 500
    assert order == ["conversation:updated", "message:new", "enqueue"]


def test_template_category_update_changes_the_category_and_is_published(webhook, published):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000001', 'boas_vindas', 'utility', 'approved', 'pt_BR') RETURNING id"
    )
    webhook.deliver(("template_category_update", wa.template_category_update("boas_vindas")))
    assert one("SELECT category, status FROM templates") == {"category": "marketing", "status": "approved"}
    assert [(e, d["template"]["name"], d["template"]["category"]) for e, d in published] == [
        ("template:updated", "boas_vindas", "marketing")
    ]
    assert count("eventos WHERE tipo = 'template_categoria'") == 1  # still kept whole

    published.clear()
    webhook.deliver(("template_category_update", wa.template_category_update("boas_vindas")))  # redelivery
    assert published == []
    # A category we have no enum value for changes nothing.
    webhook.deliver(("template_category_update", wa.template_category_update("boas_vindas", new="SERVICE")))
    assert one("SELECT category FROM templates")["category"] == "marketing" and published == []


def test_status_and_category_updates_of_one_template_in_one_payload_both_apply(webhook, published):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000001', 'boas_vindas', 'utility', 'approved', 'pt_BR') RETURNING id"
    )
    webhook.deliver(
        ("template_category_update", wa.template_category_update("boas_vindas", new="AUTHENTICATION")),
        ("message_template_status_update", wa.template_status_update("boas_vindas", event="PAUSED")),
    )
    assert one("SELECT category, status FROM templates") == {"category": "authentication", "status": "paused"}
    assert len(published) == 1
