"""POST /contatos/{id}/anonimizar: irreversible erasure that keeps what the cost report needs."""

from __future__ import annotations

import re
import uuid

from chalicelib import db
from chalicelib.services import lgpd
from devstack import payloads as wa
from tests.integration.api_support import make_contato, make_conversa, make_mensagem
from tests.integration.lgpd_support import TELEFONE, WA_ID, body, row, seed_contact_with_everything

PLACEHOLDER = re.compile(r"^\+999[0-9]{12}$")


def _anonimizar(env, contato_id, payload=None):
    return env.post(f"/contatos/{contato_id}/anonimizar", {"confirmar": True} if payload is None else payload)


def _mensagens(conversa_id, erased: bool = False):
    """By wamid; after the erasure the rows hold its keyed hash, so `erased` maps it back."""
    from chalicelib.services.pseudonym import keyed

    rows = db.query("SELECT * FROM mensagens WHERE conversa_id = CAST(:c AS uuid)", c=str(conversa_id))
    if not erased:
        return {r["whatsapp_id"]: r for r in rows}
    seeded = ("wamid.texto1", "wamid.imagem1", "wamid.local1", "wamid.tpl1", "wamid.doc1")
    back = {keyed(w): w for w in seeded}
    return {back.get(r["whatsapp_id"], r["whatsapp_id"]): r for r in rows}


def test_anonymisation_wipes_identity_lead_texts_media_and_event_data(env):
    seed = seed_contact_with_everything(env)
    kid, cid = str(seed["contato"]["id"]), str(seed["conversa"]["id"])
    outro = make_contato("+5521999990000", "Outra Pessoa")
    outra_msg = make_mensagem(make_conversa(outro), "não é da Maria", whatsapp_id="wamid.outra")
    env.put_object(f"media/2026/11/{outra_msg['id']}/mid-9.jpg")
    antes = _mensagens(cid)

    r = _anonimizar(env, kid)

    assert r.status_code == 200, r.body
    answer = body(r)
    lgpd.AnonimizarOut.model_validate(answer)
    assert answer["mensagens_anonimizadas"] == 5
    assert answer["objetos_removidos"] == 4  # two versions of the image, its thumbnail, the upload
    assert answer["conversas_encerradas"] == [cid]
    contato = row("SELECT * FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)
    assert contato["anonimizado"] is True
    assert PLACEHOLDER.match(contato["telefone"]), contato["telefone"]
    assert contato["wa_id"] == contato["telefone"][1:]
    assert answer["contato"]["telefone"] == contato["telefone"]
    assert (contato["nome"], contato["nome_perfil"], contato["origem_campanha"]) == (None, None, None)
    assert contato["opt_in_status"] is False
    # What is not identifying stays: the journey, the origin, the consent history, the creation.
    assert contato["origem"] == "anuncio"
    assert contato["created_at"] == seed["contato"]["created_at"]
    assert db.scalar("SELECT count(*) FROM interessados WHERE contato_id = CAST(:k AS uuid)", k=kid) == 0

    depois = _mensagens(cid, erased=True)
    assert set(depois) == set(antes)  # every wamid is kept as its keyed hash (test_security_erasure)
    for wamid, m in depois.items():
        assert m["anonimizada"] is True
        assert m["conteudo"] == ""
        assert (m["media_url"], m["thumbnail_url"], m["media_mime"], m["media_type"]) == (None, None, None, None)
        for kept in ("direcao", "tipo", "status_envio", "billing_category", "created_at", "enviado_por", "conversa_id"):
            assert m[kept] == antes[wamid][kept], (wamid, kept)
    assert depois["wamid.texto1"]["dados"] == {}
    assert depois["wamid.imagem1"]["dados"] == {}
    assert depois["wamid.local1"]["dados"] == {}
    assert depois["wamid.doc1"]["dados"] == {}
    tpl = depois["wamid.tpl1"]["dados"]
    assert tpl["template"] == {"name": "aula_experimental", "language": "pt_BR", "category": "marketing"}
    assert set(tpl["statuses"]) == {"sent", "delivered"}
    sent = tpl["statuses"]["sent"]
    assert "recipient_id" not in sent and "id" not in sent
    assert sent["pricing"] == {"pricing_model": "PMP", "category": "marketing", "billable": True}
    assert sent["status"] == "sent" and sent["timestamp"] == "1764100000"
    assert tpl["errors"] == [{"code": 131026, "title": "Undeliverable"}]
    assert WA_ID not in str(tpl) and "Maria" not in str(depois)

    assert db.scalar("SELECT count(*) FROM media_files") == 0
    for key in seed["keys"]:
        assert env.versions(key) == [], key
    assert env.versions(f"media/2026/11/{outra_msg['id']}/") != []  # someone else's media stays
    assert db.scalar("SELECT count(*) FROM envio_idempotencia") == 0
    assert db.scalar("SELECT count(*) FROM whatsapp_status_pendentes") == 0
    # The other contact is untouched.
    assert row("SELECT conteudo FROM mensagens WHERE id = CAST(:id AS uuid)", id=str(outra_msg["id"]))["conteudo"]

    eventos = db.query(
        "SELECT tipo, dados, created_at FROM eventos WHERE contato_id = CAST(:k AS uuid) ORDER BY created_at, tipo",
        k=kid,
    )
    por_tipo = {e["tipo"]: e for e in eventos}
    assert por_tipo["contato_criado"]["dados"] == {"canal": "whatsapp", "origem": "whatsapp_webhook"}
    assert por_tipo["conversa_aberta"]["dados"] == {"conversa_id": cid, "canal": "whatsapp"}
    assert por_tipo["contato_atualizado"]["dados"] == {"por": "x"}
    assert por_tipo["referral"]["dados"] == {}
    assert WA_ID not in str([e["dados"] for e in eventos]) and "Maria" not in str([e["dados"] for e in eventos])
    registro = por_tipo["anonimizado"]["dados"]
    assert registro["por"] == str(env.admin["id"]) and registro["por_nome"] == "Ana"
    assert registro["interessado_removido"] is True and registro["mensagens"] == 5

    conversa = row("SELECT * FROM conversas WHERE id = CAST(:c AS uuid)", c=cid)
    assert conversa["status"] == "encerrada" and conversa["closed_at"] is not None
    events = [e for e, _ in env.published]
    assert events == ["conversation:closed", "conversation:updated", "contact:updated"]
    assert env.published[1][1]["conversa"]["id"] == cid
    assert env.published[1][1]["conversa"]["status"] == "encerrada"


def test_second_call_is_409_and_changes_nothing(env):
    kid = str(make_contato(TELEFONE, "Maria")["id"])
    assert _anonimizar(env, kid).status_code == 200
    telefone = row("SELECT telefone FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)["telefone"]
    again = _anonimizar(env, kid)
    assert again.status_code == 409
    assert body(again)["Code"] == "ContactAnonymized"
    assert row("SELECT telefone FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)["telefone"] == telefone
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'anonimizado'") == 1


def test_anonymisation_cannot_be_undone_in_the_database(env):
    kid = str(make_contato(TELEFONE, "Maria")["id"])
    assert _anonimizar(env, kid).status_code == 200
    try:
        db.execute("UPDATE contatos SET anonimizado = false WHERE id = CAST(:k AS uuid)", k=kid)
    except Exception as exc:  # noqa: BLE001 - any database refusal will do
        assert "irreversível" in str(exc)
    else:
        raise AssertionError("anonimizado was set back to false")
    db.close()  # the failed statement left the connection in an aborted state under no transaction
    assert row("SELECT anonimizado FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)["anonimizado"] is True


def test_confirmation_is_required_and_unknown_or_invalid_ids_are_404(env):
    kid = str(make_contato(TELEFONE, "Maria")["id"])
    for payload in ({"confirmar": False}, {}, {"confirmar": True, "extra": 1}, {"confirmar": 1}, {"confirmar": "true"}):
        r = _anonimizar(env, kid, payload)
        assert r.status_code == 422, payload
        assert body(r)["Code"] == "ValidationError"
    assert row("SELECT anonimizado FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)["anonimizado"] is False
    assert _anonimizar(env, str(uuid.uuid4())).status_code == 404
    assert _anonimizar(env, "nao-e-uuid").status_code == 404


def test_without_token_is_401(env):
    kid = str(make_contato(TELEFONE, "Maria")["id"])
    r = env.client.http.post(
        f"/contatos/{kid}/anonimizar", headers={"Content-Type": "application/json"}, body='{"confirmar": true}'
    )
    assert r.status_code == 401
    assert row("SELECT anonimizado FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)["anonimizado"] is False


def test_storage_failure_rolls_everything_back(env):
    from chalicelib.services import media_urls

    seed = seed_contact_with_everything(env)
    kid = str(seed["contato"]["id"])
    client = media_urls.s3_client()

    def refuse(**kwargs):
        raise RuntimeError("S3 is down")

    client.delete_objects = refuse  # on this instance only; removed below
    try:
        r = _anonimizar(env, kid)
    finally:
        del client.delete_objects
    assert r.status_code == 503
    assert body(r)["Code"] == "StorageUnavailable"
    contato = row("SELECT * FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)
    assert (contato["anonimizado"], contato["telefone"], contato["nome"]) == (False, TELEFONE, "Maria Souza")
    assert db.scalar("SELECT count(*) FROM interessados") == 1
    assert db.scalar("SELECT count(*) FROM mensagens WHERE anonimizada") == 0
    assert db.scalar("SELECT count(*) FROM media_files") == 1
    assert env.published == []
    assert _anonimizar(env, kid).status_code == 200  # the request can simply be repeated


def test_same_number_writing_again_is_a_new_contact_and_the_erased_one_stays_erased(env):
    from tests.integration.webhook_support import Webhook

    seed = seed_contact_with_everything(env)
    kid = str(seed["contato"]["id"])
    assert _anonimizar(env, kid).status_code == 200
    apagado = row("SELECT * FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)
    n_msgs = db.scalar("SELECT count(*) FROM mensagens")
    hook = Webhook(env.client, env.sqs, env.queue_url)

    hook.deliver(wa.value(messages=[wa.text(WA_ID, "Oi de novo")], profiles={WA_ID: "Maria Souza"}))

    novo = row("SELECT * FROM contatos WHERE telefone = :t", t=TELEFONE)
    assert str(novo["id"]) != kid
    assert novo["anonimizado"] is False and novo["nome_perfil"] == "Maria Souza"
    assert db.scalar("SELECT count(*) FROM interessados WHERE contato_id = CAST(:k AS uuid)", k=str(novo["id"])) == 0
    conversa = row("SELECT * FROM conversas WHERE contato_id = CAST(:k AS uuid)", k=str(novo["id"]))
    assert conversa["status"] == "ativa" and str(conversa["id"]) != str(seed["conversa"]["id"])
    assert db.scalar("SELECT count(*) FROM mensagens") == n_msgs + 1
    still = row("SELECT * FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)
    for col in ("telefone", "wa_id", "nome", "nome_perfil", "anonimizado", "updated_at"):
        assert still[col] == apagado[col], col
    assert (
        db.scalar(
            "SELECT count(*) FROM mensagens m JOIN conversas c ON c.id = m.conversa_id"
            " WHERE c.contato_id = CAST(:k AS uuid) AND NOT m.anonimizada",
            k=kid,
        )
        == 0
    )


def test_late_webhooks_cannot_write_personal_data_back(env):
    """A status after the erasure carries recipient_id; a redelivered media message would
    enqueue its download again; a queued media job would record its file. None of it sticks."""
    from tests.integration.webhook_support import Webhook

    seed = seed_contact_with_everything(env)
    assert _anonimizar(env, str(seed["contato"]["id"])).status_code == 200
    hook = Webhook(env.client, env.sqs, env.queue_url)

    hook.deliver(wa.value(statuses=[wa.status("wamid.tpl1", "read", recipient_id=WA_ID, category="marketing")]))
    image = wa.image(WA_ID, caption="minha foto com o violão", media_id="mid-1", wamid="wamid.imagem1")
    hook.deliver(wa.value(messages=[image]))

    from chalicelib.services.pseudonym import keyed

    tpl = row("SELECT * FROM mensagens WHERE whatsapp_id = :w", w=keyed("wamid.tpl1"))
    assert tpl["status_envio"] == "lida"  # the status itself still counts
    assert set(tpl["dados"]["statuses"]) == {"sent", "delivered", "read"}
    assert WA_ID not in str(tpl["dados"])
    assert env.media_jobs() == []
    img = row("SELECT * FROM mensagens WHERE whatsapp_id = :w", w=keyed("wamid.imagem1"))
    assert img["conteudo"] == "" and img["media_url"] is None

    # A media job queued before the erasure finishing now: no media_files row, no media field.
    db.execute(
        "INSERT INTO media_files (mensagem_id, storage_key, mime_type, size_bytes)"
        " VALUES (CAST(:m AS uuid), 'media/x/y/z/a.jpg', 'image/jpeg', 1)",
        m=str(img["id"]),
    )
    db.execute("UPDATE mensagens SET media_url = 'media/x/y/z/a.jpg' WHERE id = CAST(:m AS uuid)", m=str(img["id"]))
    assert db.scalar("SELECT count(*) FROM media_files") == 0
    assert row("SELECT media_url FROM mensagens WHERE id = CAST(:m AS uuid)", m=str(img["id"]))["media_url"] is None


def test_contact_without_media_needs_no_storage(env, monkeypatch):
    from chalicelib.services import media_urls

    kid = str(make_contato(TELEFONE, "Maria")["id"])
    make_mensagem(make_conversa({"id": kid}), "oi")
    monkeypatch.setattr(media_urls, "s3_client", lambda: (_ for _ in ()).throw(AssertionError("S3 was called")))
    r = _anonimizar(env, kid)
    assert r.status_code == 200
    assert body(r)["objetos_removidos"] == 0


def test_a_placeholder_that_already_exists_is_drawn_again(env, monkeypatch):
    ocupado = make_contato("+999000000000001", None)
    kid = str(make_contato(TELEFONE, "Maria")["id"])
    draws = iter(["+999000000000001", "+999000000000002"])
    monkeypatch.setattr(lgpd, "new_placeholder", lambda: next(draws))
    r = _anonimizar(env, kid)
    assert r.status_code == 200, r.body
    assert body(r)["contato"]["telefone"] == "+999000000000002"
    assert row("SELECT telefone FROM contatos WHERE id = CAST(:k AS uuid)", k=str(ocupado["id"]))["telefone"] == (
        "+999000000000001"
    )


def test_placeholders_are_random_not_derived_from_the_number():
    drawn = {lgpd.new_placeholder() for _ in range(200)}
    assert len(drawn) == 200
    assert all(PLACEHOLDER.match(t) for t in drawn)
