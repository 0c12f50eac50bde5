"""Username users (issue 11) through the API: the inbox item and contacts without a phone,
search by username, replies addressed by BSUID to the fake Graph, and anonymisation that
leaves no BSUID or username anywhere."""

from __future__ import annotations

import json

import pytest

from chalicelib import db
from chalicelib.api_models import ContatoDetalhe, ContatosPage, ConversasPage
from chalicelib.services import sending
from devstack import payloads as wa
from tests.integration.lgpd_support import body

BSUID = "BR.1502576394655843"
PAI = "BR.ENT.11815799212886844830"


def _deliver(env, *values) -> None:
    raw, headers = wa.signed(wa.envelope(*values))
    r = env.client.http.post("/webhooks/whatsapp", headers=headers, body=raw)
    assert r.status_code == 200, r.body


def _username_user(env, texto: str = "Oi! Quero aula de bateria", **kw) -> dict:
    value = wa.username_value([wa.text(None, texto)], BSUID, username="bia.bateria", parent_user_id=PAI, **kw)
    _deliver(env, value)
    return db.query_one("SELECT * FROM contatos WHERE bsuid = :b", b=BSUID)


def test_the_inbox_and_contacts_show_a_username_user_without_a_phone(env):
    contato = _username_user(env)
    inbox = body(env.get("/conversas"))
    ConversasPage.model_validate(inbox)
    item = inbox["items"][0]["contato"]
    assert item["telefone"] is None and item["username"] == "bia.bateria" and item["bsuid"] == BSUID
    assert item["nome_exibicao"] == "@bia.bateria"
    detalhe = body(env.get(f"/contatos/{contato['id']}"))
    ContatoDetalhe.model_validate(detalhe)
    assert (detalhe["telefone"], detalhe["username"], detalhe["nome_exibicao"]) == (None, "bia.bateria", "@bia.bateria")
    for busca in ("bia.bat", "@bia", "BATERIA"):
        page = body(env.get(f"/contatos?busca={busca}"))
        ContatosPage.model_validate(page)
        assert [c["id"] for c in page["items"]] == [str(contato["id"])], busca
        assert len(body(env.get(f"/conversas?busca={busca}"))["items"]) == 1, busca
    assert body(env.get("/contatos?busca=ninguem"))["items"] == []


def test_a_reply_to_a_username_user_reaches_the_fake_graph_addressed_by_bsuid(env, graph, events):
    contato = _username_user(env)
    conversa = db.query_one("SELECT id FROM conversas WHERE contato_id = :k", k=contato["id"])
    result = sending.send(
        str(conversa["id"]), str(env.admin["id"]), sending.EnviarTexto(tipo="texto", conteudo="Olá, Bia!")
    )
    assert result.status == 201
    (sent,) = graph.sent_messages
    assert sent["recipient"] == BSUID and "to" not in sent
    assert sent["text"]["body"] == "Olá, Bia!"
    wamid = result.body["mensagem"]["whatsapp_id"]
    assert wamid == sent["_wamid"]
    # Its statuses name only the BSUID (Meta omits recipient_id): they still apply.
    _deliver(env, wa.value(statuses=[wa.status(wamid, "read", None, recipient_user_id=BSUID)]))
    assert db.query_one("SELECT status_envio FROM mensagens WHERE whatsapp_id = :w", w=wamid)["status_envio"] == "lida"


def test_with_both_identifiers_the_reply_goes_to_the_phone_as_meta_recommends(env, graph, events):
    contato = _username_user(env, wa_id="5511987654321")
    conversa = db.query_one("SELECT id FROM conversas WHERE contato_id = :k", k=contato["id"])
    sending.send(str(conversa["id"]), str(env.admin["id"]), sending.EnviarTexto(tipo="texto", conteudo="Oi!"))
    (sent,) = graph.sent_messages
    assert sent["to"] == "5511987654321" and "recipient" not in sent


def test_the_fake_graph_refuses_a_recipient_that_is_no_bsuid(graph):
    import requests

    url = f"{graph.base_url}/{graph.state.phone_number_id}/messages"
    answer = requests.post(
        url,
        json={"messaging_product": "whatsapp", "recipient": "não é bsuid", "type": "text", "text": {"body": "x"}},
        headers={"Authorization": f"Bearer {graph.state.access_token}"},
        timeout=5,
    )
    assert answer.status_code == 400


def test_export_has_the_identifiers_and_anonymisation_leaves_no_bsuid_or_username_anywhere(env):
    contato = _username_user(env, texto="Sou a Bia")
    kid = str(contato["id"])
    original = db.query_one("SELECT whatsapp_id FROM mensagens")["whatsapp_id"]
    _deliver(env, wa.username_value([wa.text(None, "oi de novo")], BSUID, username="bia.batera"))  # history
    _deliver(env, wa.value([wa.from_user(wa.edit(None, original, "Sou a Bia Souza"), BSUID)]))
    _deliver(env, wa.value([wa.from_user(wa.edit(None, "wamid.ainda-nao-chegou", "órfã"), BSUID)]))
    db.execute(
        "INSERT INTO whatsapp_status_pendentes (whatsapp_id, status, payload)"
        " VALUES ('wamid.pendente', 'delivered', CAST(:p AS jsonb))",
        p=json.dumps({"id": "wamid.pendente", "status": "delivered", "recipient_user_id": BSUID}),
    )
    exportado = body(env.get(f"/contatos/{kid}/export"))
    assert exportado["contato"]["bsuid"] == BSUID and exportado["contato"]["username"] == "bia.batera"

    r = env.post(f"/contatos/{kid}/anonimizar", {"confirmar": True})
    assert r.status_code == 200, r.body
    depois = db.query_one("SELECT * FROM contatos WHERE id = CAST(:k AS uuid)", k=kid)
    assert (depois["bsuid"], depois["bsuid_pai"], depois["username"]) == (None, None, None)
    assert depois["nome_exibicao"] == depois["telefone"]  # the placeholder, never empty
    for table in ("contatos", "mensagens", "eventos", "whatsapp_status_pendentes", "mensagens_alteracoes"):
        dump = json.dumps(db.query(f"SELECT * FROM {table}"), default=str)  # noqa: S608 - fixed names
        for secret in (BSUID, PAI, "bia.bateria", "bia.batera", "Bia Souza"):
            assert secret not in dump, (table, secret)
    # The applied edit and the orphan (its sender was this contact) are gone with the texts.
    assert db.query("SELECT * FROM mensagens_alteracoes") == []
    # The same user writing again is a new contact: nothing links it back to the erased one.
    _username_user(env, texto="voltei")
    assert db.query_one("SELECT count(*) AS n FROM contatos")["n"] == 2


@pytest.mark.parametrize("raw", ["BR.123", "US.ENT.987", "br.1", "BR.", "12345", "BR.12-34", "BR." + "1" * 129])
def test_bsuid_format(raw):
    from chalicelib.whatsapp.identity import normalize_bsuid, normalize_parent_bsuid

    ok = raw in ("BR.123",)
    assert (normalize_bsuid(raw) == raw) is ok
    assert (normalize_parent_bsuid(raw) == raw) is (raw == "US.ENT.987")
