"""The smaller findings of issue 16 §5, one test (or a few) each."""

from __future__ import annotations

import json

import pytest

from chalicelib import db
from tests.integration.api_support import auth, body, dumps, make_admin, make_contato, make_conversa

JSON = {"Content-Type": "application/json"}


# --- API answers: nosniff and no-store ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/me", "/conversas", "/health", "/nao-existe"])
def test_every_api_answer_says_nosniff_and_no_store(client, path):
    ana = make_admin("Ana")
    r = client.http.get(path, headers=auth(ana))
    assert r.headers.get("X-Content-Type-Options") == "nosniff", (path, r.headers)
    assert r.headers.get("Cache-Control") == "no-store", (path, r.headers)


def test_a_login_answer_is_never_cached(client):
    make_admin("Ana")
    r = client.http.post(
        "/auth/login", headers=JSON, body=dumps({"email": "ana@escola.com.br", "senha": "senha-segura-1"})
    )
    assert r.status_code == 200
    assert r.headers.get("Cache-Control") == "no-store"


# --- nesting and NUL: 4xx, never 500 ---------------------------------------------------------------


def test_deeply_nested_json_is_a_400(client):
    ana = make_admin("Ana")
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/administradores", "/auth/login"):
        r = client.http.post(path, headers=auth(ana), body=deep)
        assert r.status_code == 400, (path, r.status_code, r.body)
        assert body(r)["Code"] == "BadRequestError"
    nested = '{"nome": ' * 5000 + '"x"' + "}" * 5000
    r = client.http.post("/administradores", headers=auth(ana), body=nested)
    assert 400 <= r.status_code < 500


def test_a_nul_in_text_is_a_422(client):
    ana = make_admin("Ana")
    contato = make_contato()
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=json.dumps({"nome": "Ma\u0000ria"}))
    assert r.status_code == 422, r.body
    r = client.http.post(
        "/auth/login", headers=JSON, body=json.dumps({"email": "ana@escola.com.br", "senha": "a\u0000b"})
    )
    assert r.status_code in (400, 422), r.body


def test_a_nul_in_the_idempotency_key_is_a_422(client):
    ana = make_admin("Ana")
    conversa = make_conversa(make_contato(), atendente_id=ana["id"], atribuida_em="2026-11-01T00:00:00Z")
    r = client.http.post(
        f"/conversas/{conversa['id']}/mensagens",
        headers={**auth(ana), "Idempotency-Key": "abc\x00def"},
        body=json.dumps({"tipo": "texto", "conteudo": "oi"}),
    )
    assert r.status_code == 422, r.body
    assert body(r)["field"] == "Idempotency-Key"


# --- an anonymised contact's conversation stays closed ----------------------------------------------


def test_an_anonymised_contacts_conversation_cannot_be_reopened(client):
    ana = make_admin("Ana")
    contato = make_contato(anonimizado=True, telefone="+999123456789012", nome=None)
    conversa = make_conversa(contato, status="encerrada", closed_at="2026-11-01T00:00:00Z")
    r = client.http.post(f"/conversas/{conversa['id']}/reabrir", headers=auth(ana))
    assert r.status_code == 409, r.body
    assert body(r)["Code"] == "ContactAnonymized"
    assert db.scalar("SELECT status FROM conversas WHERE id = :id", id=conversa["id"]) == "encerrada"


# --- password policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "senha", ["12345678", "password", " " * 8, " " * 12, "password123", "1234567890", "aaaaaaaaaaaa"]
)
def test_weak_passwords_are_refused(client, senha):
    ana = make_admin("Ana")
    r = client.http.post(
        "/administradores",
        headers=auth(ana),
        body=dumps({"nome": "Carla", "email": "carla@escola.com.br", "senha": senha}),
    )
    assert r.status_code == 422, (senha, r.body)
    assert body(r)["field"] == "senha"


def test_a_long_uncommon_passphrase_is_accepted(client):
    ana = make_admin("Ana")
    r = client.http.post(
        "/administradores",
        headers=auth(ana),
        body=dumps({"nome": "Carla", "email": "carla@escola.com.br", "senha": "violão azul na escola"}),
    )
    assert r.status_code == 201, r.body


def test_the_cli_refuses_a_common_password(db_clean):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ADMIN_PASSWORD": "password123"}
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "create-admin", "--email", "a@b.co", "--nome", "A"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert db.scalar("SELECT count(*) FROM administradores") == 0


# --- lockout: per source and e-mail, so nobody can lock an attendant out from elsewhere ----------


def _try(email, senha, source):
    from chalicelib.http import ApiError
    from chalicelib.services import auth as auth_service

    try:
        auth_service.login(email, senha, source=source)
        return 200
    except ApiError as exc:
        return exc.status


def test_failures_from_one_source_do_not_lock_the_attendant_out_elsewhere(db_clean):
    make_admin("Ana")
    for _ in range(5):
        assert _try("ana@escola.com.br", "errada-errada", "203.0.113.9") == 401
    assert _try("ana@escola.com.br", "senha-segura-1", "203.0.113.9") == 429  # the attacker's source
    assert _try("ana@escola.com.br", "senha-segura-1", "198.51.100.7") == 200  # Ana, from the school


def test_one_source_spraying_many_emails_is_slowed_down(db_clean):
    from chalicelib.services.auth import MAX_FAILED_PER_SOURCE

    make_admin("Ana")
    for i in range(MAX_FAILED_PER_SOURCE):
        assert _try(f"pessoa{i}@escola.com.br", "errada-errada", "203.0.113.9") == 401
    assert _try("ana@escola.com.br", "senha-segura-1", "203.0.113.9") == 429
    assert _try("ana@escola.com.br", "senha-segura-1", "198.51.100.7") == 200


# --- template status updates in the order Meta made them -----------------------------------------


def test_a_replayed_older_approved_does_not_undo_a_newer_paused(db_clean):
    from chalicelib.services import inbound
    from devstack import payloads as wa

    db.execute(
        "INSERT INTO templates (whatsapp_id, name, language, status, category, body)"
        " VALUES ('900000000000001', 'aula', 'pt_BR', 'approved', 'marketing', 'Olá')"
    )

    def deliver(event, at):
        payload = wa.envelope(("message_template_status_update", wa.template_status_update("aula", event=event)))
        payload["entry"][0]["time"] = at
        inbound.handle_payload(payload)

    deliver("PAUSED", 1764200000)
    deliver("APPROVED", 1764100000)  # older: a replay, or a delivery that arrived late
    assert db.scalar("SELECT CAST(status AS text) FROM templates") == "paused"
    deliver("APPROVED", 1764300000)  # newer: it applies
    assert db.scalar("SELECT CAST(status AS text) FROM templates") == "approved"


# --- strict MIME types, safe stored objects -------------------------------------------------------


@pytest.mark.parametrize(
    "mime", ["image/jpeg; x=1\r\nX-Evil: 1", "image/jpeg\r\n", 'image/jpeg; name="a\nb"', "image/jpeg;\x00"]
)
def test_a_mime_type_with_control_characters_is_refused(db_clean, mime):
    from chalicelib.http import ApiError
    from chalicelib.services.media_uploads import check_declared

    with pytest.raises(ApiError) as refused:
        check_declared("image", mime, False)
    assert refused.value.status == 422 and refused.value.extra["field"] == "mime_type"


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_customer_media_declared_as_html_is_stored_as_an_inert_download(media_env, kind):
    from chalicelib.services import media
    from tests.integration.media_support import job_for, mensagem

    job = job_for(media_env.graph, b"<html><script>alert(1)</script></html>", "text/html", kind)
    outcome = media.process_job(job)
    assert outcome.status == "stored", outcome
    obj = media_env.get(mensagem(job.mensagem_id)["media_url"])
    assert obj["ContentType"] == "application/octet-stream"
    assert obj["ContentDisposition"].startswith("attachment")


def test_every_stored_customer_file_has_a_content_disposition(media_env):
    from chalicelib.services import media
    from tests.integration.media_support import job_for, mensagem
    from tests.media_images import ogg_opus_voice_note

    job = job_for(media_env.graph, ogg_opus_voice_note(), "audio/ogg; codecs=opus", "audio")
    assert media.process_job(job).status == "stored"
    obj = media_env.get(mensagem(job.mensagem_id)["media_url"])
    assert obj["ContentType"].startswith("audio/ogg")
    assert obj["ContentDisposition"] == "inline"


# --- the WhatsApp id survives a database failure after the send -------------------------------------


def test_a_send_whose_recording_failed_gets_its_whatsapp_id_back_from_the_idempotency_record(
    db_clean, graph, monkeypatch
):
    from chalicelib.http import ApiError
    from chalicelib.repositories import envios
    from chalicelib.services import send_sweep, sending
    from tests.integration.send_support import make_admin as send_admin
    from tests.integration.send_support import make_conversa as send_conversa

    admin = send_admin()
    conversa_id = send_conversa(atendente_id=admin)
    real = envios.mark_sent

    def database_dies(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(envios, "mark_sent", database_dies)
    pedido = sending.EnviarTexto(tipo="texto", conteudo="Sua aula é amanhã")
    with pytest.raises(ApiError) as failed:
        sending.send(conversa_id, admin, pedido, idempotency_key="k-db-caiu")
    whatsapp_id = failed.value.extra["whatsapp_id"]
    monkeypatch.setattr(envios, "mark_sent", real)
    row = db.query_one("SELECT status_envio::text AS s, whatsapp_id FROM mensagens")
    assert (row["s"], row["whatsapp_id"]) == ("pendente", None)

    result = send_sweep.sweep_unconfirmed_sends()
    assert result["envios_recuperados"] == 1
    row = db.query_one("SELECT status_envio::text AS s, whatsapp_id FROM mensagens")
    assert (row["s"], row["whatsapp_id"]) == ("enviada", whatsapp_id)


def test_an_idempotency_key_on_an_unknown_conversation_is_a_404(client):
    import uuid

    ana = make_admin("Ana")
    r = client.http.post(
        f"/conversas/{uuid.uuid4()}/mensagens",
        headers={**auth(ana), "Idempotency-Key": "k-1"},
        body=json.dumps({"tipo": "texto", "conteudo": "oi"}),
    )
    assert r.status_code == 404, r.body
