"""Sending through the fake Graph API: error mapping, idempotency, raced statuses, media."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import pytest

from chalicelib import db
from chalicelib.http import ApiError
from chalicelib.services import graph_errors, idempotency, sending
from tests.integration import send_support
from tests.integration.send_support import (
    BUCKET,
    JPEG,
    make_admin,
    make_conversa,
    make_template,
    mensagens,
    ogg_opus,
    ogg_vorbis,
)

# Fixtures shared by the sending tests.
events = send_support.events
graph = send_support.graph
s3 = send_support.s3


def texto(conteudo: str = "Oi! Tudo bem?") -> sending.EnviarTexto:
    return sending.EnviarTexto(tipo="texto", conteudo=conteudo)


@pytest.fixture
def minha_conversa(db_clean):
    admin = make_admin()
    return admin, make_conversa(atendente_id=admin)


# Graph errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("graph_code", "status", "code"),
    [
        (131047, 409, "WindowClosed"),
        (130429, 429, "RateLimited"),
        (131056, 429, "RateLimited"),
        (132000, 422, "ValidationError"),
        (132001, 422, "ValidationError"),
        (190, 502, "WhatsAppAuthError"),
        (131000, 502, "WhatsAppError"),
        (100, 422, "WhatsAppRejected"),
        (131026, 502, "WhatsAppError"),
    ],
)
def test_graph_errors_are_mapped_and_the_message_fails(minha_conversa, graph, events, graph_code, status, code):
    admin, conversa_id = minha_conversa
    graph.fail("messages", code=graph_code)

    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())

    assert (caught.value.status, caught.value.code) == (status, code)
    [stored] = mensagens(conversa_id)
    assert stored["status_envio"] == "falhou"
    assert stored["whatsapp_id"] is None
    assert stored["dados"]["erro"]["code"] == graph_code
    assert f"#{graph_code}" in stored["dados"]["erro"]["message"] or graph_code == 190
    assert caught.value.extra["mensagem_id"] == str(stored["id"])
    assert caught.value.extra["whatsapp_error"]["code"] == graph_code
    assert ("message:status", "falhou") in [(e, d.get("status_envio")) for e, d in events]


@pytest.mark.parametrize(
    ("graph_code", "header", "expected"), [(130429, None, "2"), (131056, None, "6"), (130429, 30, "30")]
)
def test_rate_limits_answer_retry_after(minha_conversa, graph, events, graph_code, header, expected):
    admin, conversa_id = minha_conversa
    graph.fail("messages", code=graph_code, retry_after=header)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())
    assert caught.value.headers == {"Retry-After": expected}


def test_whatsapp_saying_the_window_closed_closes_it_here_too(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.fail("messages", code=131047)
    with pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto())
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())  # refused here now, without asking Meta
    assert caught.value.code == "WindowClosed"
    assert len(mensagens(conversa_id)) == 1 and graph.sent_messages == []


def test_bare_http_500_without_body_is_502(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.fail("messages", status=500)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())
    assert (caught.value.status, caught.value.code) == (502, "WhatsAppError")
    assert mensagens(conversa_id)[0]["status_envio"] == "falhou"


def test_expired_token_is_logged_as_an_alarm(minha_conversa, graph, events, caplog):
    admin, conversa_id = minha_conversa
    graph.fail("messages", code=190)
    with caplog.at_level(logging.ERROR), pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto())
    alarms = [r for r in caplog.records if r.levelno == logging.ERROR and graph_errors.ALARM_MARKER in r.getMessage()]
    assert len(alarms) == 1


def test_a_slow_graph_times_out_instead_of_hanging(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.delay("messages", 2.5)  # the client's read timeout is 1 s in these tests
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto(), idempotency_key="lento-1")
    assert (caught.value.status, caught.value.code) == (504, "WhatsAppUnavailable")
    stored = mensagens(conversa_id)[0]
    assert stored["status_envio"] == "falhou" and stored["dados"]["erro"]["incerto"] is True

    # WhatsApp may have taken it: a retry with the same key answers the same, sending nothing.
    graph.clear_faults()
    replay = sending.send(conversa_id, admin, texto(), idempotency_key="lento-1")
    assert replay.status == 504 and replay.headers["Idempotent-Replayed"] == "true"
    assert len(mensagens(conversa_id)) == 1

    # And indeed the slow Graph took the first one after we stopped waiting: sent exactly once.
    deadline = time.monotonic() + 5
    while not graph.sent_messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(graph.sent_messages) == 1


# Idempotency --------------------------------------------------------------------------------
def test_a_retry_with_the_same_key_sends_once(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    first = sending.send(conversa_id, admin, texto(), idempotency_key="k-1")
    again = sending.send(conversa_id, admin, texto(), idempotency_key="k-1")

    assert len(graph.sent_messages) == 1
    assert len(mensagens(conversa_id)) == 1
    assert (again.status, again.body) == (first.status, first.body)
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_two_concurrent_identical_requests_send_once(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.delay("messages", 0.3)  # both requests are in flight together
    results: list = []
    barrier = threading.Barrier(2)

    def request():
        barrier.wait()
        try:
            results.append(sending.send(conversa_id, admin, texto(), idempotency_key="dup"))
        finally:
            db.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert len(graph.sent_messages) == 1
    assert len(mensagens(conversa_id)) == 1
    assert sorted(r.status for r in results) == [201, 201]
    assert results[0].body["mensagem"]["id"] == results[1].body["mensagem"]["id"]
    assert sorted(r.headers.get("Idempotent-Replayed", "no") for r in results) == ["no", "true"]


def test_a_claim_left_by_a_dead_request_answers_409_at_once(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    db.execute(
        "INSERT INTO envio_idempotencia (admin_id, chave, request_hash, conversa_id, created_at)"
        " VALUES (CAST(:a AS uuid), 'morto', :h, CAST(:c AS uuid), now() - interval '5 minutes')",
        a=admin,
        h=idempotency.request_hash(conversa_id, texto()),
        c=conversa_id,
    )
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto(), idempotency_key="morto")
    assert (caught.value.status, caught.value.code) == (409, "IdempotencyInProgress")
    assert caught.value.headers == {"Retry-After": "2"}
    assert time.monotonic() - started < 2
    assert graph.sent_messages == []


def test_a_media_upload_timeout_sent_nothing_so_the_key_is_freed(minha_conversa, graph, events, s3):
    from chalicelib.whatsapp.graph import GraphError, get_graph_client

    admin, conversa_id = minha_conversa
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/z", Body=JPEG)
    client = get_graph_client()
    real_upload = client.upload_media
    calls = []

    def slow_upload(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise GraphError(status=None, message="Graph API timeout: read timed out")
        return real_upload(*args, **kwargs)

    client.upload_media = slow_upload
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key=f"uploads/{admin}/z"), idempotency_key="up")
    assert (caught.value.status, caught.value.code) == (502, "WhatsAppUnavailable")
    assert "incerto" not in mensagens(conversa_id)[0]["dados"]["erro"]
    assert sending.send(conversa_id, admin, media(key=f"uploads/{admin}/z"), idempotency_key="up").status == 201
    assert len(graph.sent_messages) == 1


# The 29 s of API Gateway ------------------------------------------------------------------------
def test_no_send_starts_after_a_slow_upload_ate_the_request_budget(minha_conversa, graph, events, s3, monkeypatch):
    admin, conversa_id = minha_conversa
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/lenta", Body=JPEG)
    # Scaled down: 6 s of budget, no Graph call with fewer than 5 s left; the upload takes 1.5 s.
    monkeypatch.setattr(sending, "REQUEST_BUDGET_SECONDS", 6.0)
    monkeypatch.setattr(sending, "MIN_GRAPH_SECONDS", 5.0)
    graph.delay("upload", 1.5)

    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key=f"uploads/{admin}/lenta"), idempotency_key="lenta")

    assert (caught.value.status, caught.value.code) == (504, "WhatsAppUnavailable")
    assert len(graph.uploads) == 1 and graph.sent_messages == []
    [stored] = mensagens(conversa_id)
    assert stored["status_envio"] == "falhou" and stored["dados"]["erro"]["type"] == "prazo_esgotado"
    assert caught.value.extra["mensagem_id"] == str(stored["id"])
    # Nothing reached the customer, so the same key may try again, and this time it goes.
    graph.clear_faults()
    retry = sending.send(conversa_id, admin, media(key=f"uploads/{admin}/lenta"), idempotency_key="lenta")
    assert retry.status == 201 and "Idempotent-Replayed" not in retry.headers
    assert len(graph.sent_messages) == 1


def test_a_request_with_no_budget_left_stores_and_sends_nothing(minha_conversa, graph, events, monkeypatch):
    admin, conversa_id = minha_conversa
    monkeypatch.setattr(sending, "REQUEST_BUDGET_SECONDS", 4.0)
    monkeypatch.setattr(sending, "MIN_GRAPH_SECONDS", 5.0)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())
    assert (caught.value.status, caught.value.code) == (504, "WhatsAppUnavailable")
    assert mensagens(conversa_id) == [] and graph.sent_messages == []


def test_the_budget_fits_api_gateway():
    # API Gateway cuts a REST request at 29 s: the budget must end before it, leaving a Graph call
    # at least a couple of seconds (a normal send answers in well under one).
    assert sending.REQUEST_BUDGET_SECONDS <= 26.0  # and a cold start may have taken 2-3 s of them
    assert 2.0 <= sending.MIN_GRAPH_SECONDS < sending.REQUEST_BUDGET_SECONDS


def test_the_same_key_for_a_different_request_is_refused(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    sending.send(conversa_id, admin, texto("um"), idempotency_key="k-2")
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto("outro"), idempotency_key="k-2")
    assert (caught.value.status, caught.value.extra["field"]) == (422, "Idempotency-Key")
    assert len(graph.sent_messages) == 1


def test_keys_are_per_admin(db_clean, graph, events):
    a, b = make_admin("A"), make_admin("B")
    ca, cb = make_conversa(atendente_id=a), make_conversa(atendente_id=b)
    sending.send(ca, a, texto(), idempotency_key="same")
    sending.send(cb, b, texto(), idempotency_key="same")
    assert len(graph.sent_messages) == 2


def test_a_rejected_send_frees_the_key_so_the_retry_sends(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.fail("messages", code=130429)
    with pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto(), idempotency_key="k-3")
    result = sending.send(conversa_id, admin, texto(), idempotency_key="k-3")
    assert result.status == 201 and "Idempotent-Replayed" not in result.headers
    assert len(graph.sent_messages) == 1
    assert [m["status_envio"] for m in mensagens(conversa_id)] == ["falhou", "enviada"]


def test_a_refusal_before_sending_frees_the_key(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(window_seconds=-5, atendente_id=admin)
    with pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto(), idempotency_key="k-4")
    db.execute("UPDATE conversas SET window_expires_at = now() + interval '1 hour'")
    assert sending.send(conversa_id, admin, texto(), idempotency_key="k-4").status == 201


# Stored before WhatsApp hears of it ---------------------------------------------------------
def test_the_message_is_committed_pendente_with_its_sender_before_graph_is_called(
    minha_conversa, graph, events, monkeypatch
):
    from chalicelib.whatsapp.graph import get_graph_client

    admin, conversa_id = minha_conversa
    client = get_graph_client()
    real_send = client.send_message
    seen_by_others: list[list[dict]] = []

    def look_from_another_connection_then_send(payload, **kwargs):
        # A second thread has its own connection: it sees only what is committed.
        def read():
            try:
                seen_by_others.append(
                    db.query(
                        "SELECT status_envio, CAST(enviado_por AS text) AS enviado_por, whatsapp_id FROM mensagens"
                        " WHERE conversa_id = CAST(:id AS uuid)",
                        id=conversa_id,
                    )
                )
            finally:
                db.close()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(10)
        return real_send(payload, **kwargs)

    monkeypatch.setattr(client, "send_message", look_from_another_connection_then_send)
    sending.send(conversa_id, admin, texto())

    assert seen_by_others == [[{"status_envio": "pendente", "enviado_por": admin, "whatsapp_id": None}]]
    [stored] = mensagens(conversa_id)
    assert stored["status_envio"] == "enviada" and stored["whatsapp_id"] == graph.sent_messages[0]["_wamid"]


# Statuses that raced ahead ------------------------------------------------------------------
def test_a_status_that_arrived_before_the_send_returned_is_applied(minha_conversa, graph, events, monkeypatch):
    from chalicelib.repositories import mensagens as mensagens_repo
    from chalicelib.whatsapp.graph import get_graph_client

    admin, conversa_id = minha_conversa
    client = get_graph_client()
    real_send = client.send_message

    def send_and_webhook_first(payload, **kwargs):
        answer = real_send(payload, **kwargs)
        wamid = answer["messages"][0]["id"]
        # The webhook's delivered status lands before our send call has returned.
        applied = mensagens_repo.apply_statuses(
            [
                {
                    "whatsapp_id": wamid,
                    "status": "delivered",
                    "status_envio": "entregue",
                    "billing_category": "utility",
                    "errors": None,
                    "payload": {"id": wamid, "status": "delivered"},
                    "status_at": "2026-11-26T12:00:00+00:00",
                }
            ]
        )
        assert applied == []  # no message has this wamid yet: it waits
        return answer

    monkeypatch.setattr(client, "send_message", send_and_webhook_first)
    result = sending.send(conversa_id, admin, texto())

    [stored] = mensagens(conversa_id)
    assert stored["status_envio"] == "entregue"
    assert stored["billing_category"] == "utility"  # the pricing of the status corrects the estimate
    assert result.body["mensagem"]["status_envio"] == "entregue"
    assert db.scalar("SELECT count(*) FROM whatsapp_status_pendentes") == 0
    statuses = [data for event, data in events if event == "message:status"]
    assert statuses[-1]["status_envio"] == "entregue"


# Media ----------------------------------------------------------------------------------------
def media(upload_id=None, key=None, **kw) -> sending.EnviarMedia:
    base = {"tipo": "media", "media_type": "image", "mime_type": "image/jpeg"}
    return sending.EnviarMedia(**{**base, **kw, "upload_id": upload_id, "key": key})


def test_media_is_uploaded_to_graph_and_sent_by_id(minha_conversa, graph, events, s3):
    from chalicelib.services.media_uploads import upload_key

    admin, conversa_id = minha_conversa
    upload_id = "4c1f6c1e-2a55-4e1e-9a43-1b0f3e3b6b7d"
    s3.put_object(Bucket=BUCKET, Key=upload_key(admin, upload_id), Body=JPEG, ContentType="image/jpeg")

    result = sending.send(conversa_id, admin, media(upload_id=upload_id, caption="Nossa sala", filename="sala.jpg"))

    assert result.status == 201
    [upload] = graph.uploads
    assert (upload["mime_type"], upload["size"], upload["filename"]) == ("image/jpeg", len(JPEG), "sala.jpg")
    [sent] = graph.sent_messages
    assert sent["type"] == "image" and sent["image"] == {"id": upload["id"], "caption": "Nossa sala"}
    [stored] = mensagens(conversa_id)
    assert (stored["tipo"], stored["media_type"], stored["media_mime"]) == ("media", "image", "image/jpeg")
    assert stored["conteudo"] == "Nossa sala" and stored["billing_category"] == "service"
    assert stored["dados"]["whatsapp_media_id"] == upload["id"]
    assert stored["media_url"] == upload_key(admin, upload_id)
    assert result.body["mensagem"]["media_url"].startswith("https://")  # presigned, not the key


def test_voice_note_must_be_ogg_opus(minha_conversa, graph, events, s3):
    admin, conversa_id = minha_conversa
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/voz", Body=ogg_opus())
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/vorbis", Body=ogg_vorbis())
    opus = "audio/ogg; codecs=opus"

    with pytest.raises(ApiError) as caught:
        sending.send(
            conversa_id, admin, media(key=f"uploads/{admin}/voz", media_type="audio", mime_type="audio/mpeg", voz=True)
        )
    assert caught.value.extra["field"] == "mime_type"
    with pytest.raises(ApiError) as caught:
        sending.send(
            conversa_id, admin, media(key=f"uploads/{admin}/vorbis", media_type="audio", mime_type=opus, voz=True)
        )
    assert caught.value.code == "ValidationError"  # declared opus, the bytes are Vorbis
    assert graph.sent_messages == []

    sending.send(conversa_id, admin, media(key=f"uploads/{admin}/voz", media_type="audio", mime_type=opus, voz=True))
    [sent] = graph.sent_messages
    assert sent["type"] == "audio" and set(sent["audio"]) == {"id"}
    assert graph.uploads[0]["mime_type"] == opus


def test_media_outside_the_window_is_refused(db_clean, graph, events, s3):
    admin = make_admin()
    conversa_id = make_conversa(window_seconds=-1, atendente_id=admin)
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/x", Body=JPEG)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key=f"uploads/{admin}/x"))
    assert caught.value.code == "WindowClosed" and graph.uploads == []


def test_media_that_was_never_uploaded_or_is_not_an_upload(minha_conversa, graph, events, s3):
    admin, conversa_id = minha_conversa
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key=f"uploads/{admin}/nada"))
    assert caught.value.extra["field"] == "key"
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key="media/2026/11/alheia.jpg"))
    assert caught.value.extra["field"] == "key"
    assert mensagens(conversa_id) == []


def test_another_admins_upload_cannot_be_sent_by_naming_its_key(minha_conversa, graph, events, s3):
    admin, conversa_id = minha_conversa
    outro = make_admin("Bia")
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{outro}/foto", Body=JPEG)
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/foto", Body=JPEG)
    for key in (f"uploads/{outro}/foto", f"uploads/{admin}/", f"uploads/{admin}x/foto"):
        with pytest.raises(ApiError) as caught:
            sending.send(conversa_id, admin, media(key=key))
        assert (caught.value.status, caught.value.extra["field"]) == (422, "key"), key
    assert graph.uploads == [] and mensagens(conversa_id) == []
    assert sending.send(conversa_id, admin, media(key=f"uploads/{admin}/foto")).status == 201


def test_oversized_media_is_refused(minha_conversa, graph, events, s3):
    admin, conversa_id = minha_conversa
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/grande", Body=JPEG + b"\x00" * (5 * 1024 * 1024))
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key=f"uploads/{admin}/grande"))
    assert caught.value.extra["field"] == "size"


def test_media_upload_failure_marks_the_message_failed(minha_conversa, graph, events, s3):
    admin, conversa_id = minha_conversa
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/y", Body=JPEG)
    graph.fail("upload", code=131053)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, media(key=f"uploads/{admin}/y"))
    assert caught.value.status == 422
    assert graph.sent_messages == [] and mensagens(conversa_id)[0]["status_envio"] == "falhou"


def test_template_mismatch_from_graph_keeps_the_template_row(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    make_template()
    graph.fail("messages", code=132001)
    with pytest.raises(ApiError) as caught:
        sending.send(
            conversa_id,
            admin,
            sending.EnviarTemplate(tipo="template", name="lembrete_aula", language="pt_BR", parametros=["a", "b"]),
        )
    assert caught.value.extra["field"] == "language"


# Live conversation updates ------------------------------------------------------------------
def test_a_sent_message_announces_the_conversation_with_its_new_activity(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    result = sending.send(conversa_id, admin, texto())
    assert result.status == 201
    # Shown at once as pendente (with the inbox item), then its tick and the item again.
    assert [e for e, _ in events] == ["message:new", "conversation:updated", "message:status", "conversation:updated"]
    assert events[1][1]["conversa"]["ultima_mensagem"]["status_envio"] == "pendente"
    assert events[-1][1]["conversa"]["ultima_mensagem"]["status_envio"] == "enviada"
    conversa = events[-1][1]["conversa"]
    stored = send_support.conversa(conversa_id)
    assert conversa["id"] == conversa_id and conversa["janela_aberta"] is True
    assert datetime.fromisoformat(conversa["ultima_atividade_em"]) == stored["ultima_atividade_em"]


def test_whatsapp_closing_the_window_greys_the_composer_out_at_once(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.fail("messages", code=131047)
    with pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto())
    assert [e for e, _ in events][-1] == "conversation:updated"
    conversa = events[-1][1]["conversa"]
    assert conversa["janela_aberta"] is False
    assert (
        datetime.fromisoformat(conversa["window_expires_at"]) == send_support.conversa(conversa_id)["window_expires_at"]
    )


def test_other_send_failures_do_not_announce_the_conversation(minha_conversa, graph, events):
    admin, conversa_id = minha_conversa
    graph.fail("messages", status=500)
    with pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto())
    names = [e for e, _ in events]
    assert names[:2] == ["message:new", "conversation:updated"]  # the attempt, shown at once
    assert "conversation:updated" not in names[2:]  # the window did not move
