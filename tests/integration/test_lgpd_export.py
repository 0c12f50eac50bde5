"""GET /contatos/{id}/export: everything stored about a contact, as one JSON document."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from chalicelib import db
from chalicelib.services import lgpd
from tests.integration.api_support import make_contato, make_conversa, make_mensagem
from tests.integration.lgpd_support import BUCKET, TELEFONE, body, seed_contact_with_everything


def _export(env, contato_id):
    return env.get(f"/contatos/{contato_id}/export")


def test_export_has_contact_lead_conversations_messages_media_urls_and_events(env):
    seed = seed_contact_with_everything(env)
    kid = str(seed["contato"]["id"])
    segunda = make_conversa({"id": kid}, status="encerrada", closed_at=seed["texto"]["created_at"], window_hours=None)
    make_mensagem(segunda, "conversa antiga", whatsapp_id="wamid.antiga")
    outro = make_contato("+5521999990000", "Outra Pessoa")
    make_mensagem(make_conversa(outro), "não é da Maria")

    r = _export(env, kid)

    assert r.status_code == 200, r.body
    doc = body(r)
    lgpd.ExportOut.model_validate(doc)
    assert doc["contato"]["id"] == kid and doc["contato"]["telefone"] == TELEFONE
    assert doc["contato"]["nome"] == "Maria Souza" and doc["contato"]["origem_campanha"] == "violao-nov"
    assert doc["interessado"]["instrumento_desejado"] == "Violão"
    assert doc["interessado"]["experiencia_musical"] == "Toquei na igreja"
    assert doc["exportado_por"] == str(env.admin["id"])
    assert doc["truncado"] is False
    conversas = {c["id"]: c for c in doc["conversas"]}
    assert set(conversas) == {str(seed["conversa"]["id"]), str(segunda["id"])}
    principal = conversas[str(seed["conversa"]["id"])]
    assert [m["whatsapp_id"] for m in principal["mensagens"]] == [
        "wamid.texto1",
        "wamid.imagem1",
        "wamid.local1",
        "wamid.tpl1",
        "wamid.doc1",
    ]
    assert [m["conteudo"] for m in conversas[str(segunda["id"])]["mensagens"]] == ["conversa antiga"]
    todas = [m for c in doc["conversas"] for m in c["mensagens"]]
    assert "não é da Maria" not in [m["conteudo"] for m in todas]
    por_wamid = {m["whatsapp_id"]: m for m in todas}
    imagem = por_wamid["wamid.imagem1"]
    media = urlparse(imagem["media_url"])
    assert BUCKET in media.netloc + media.path
    assert media.path.endswith(f"media/2026/11/{seed['imagem']['id']}/mid-1.jpg")
    assert "X-Amz-Signature=" in media.query and "X-Amz-Expires=" in media.query
    assert "mid-1.thumb.webp" in imagem["thumbnail_url"] and "X-Amz-Signature=" in imagem["thumbnail_url"]
    assert len(imagem["media_files"]) == 1
    arquivo = imagem["media_files"][0]
    assert "storage_key" not in arquivo and "mid-1.jpg" in arquivo["url"] and arquivo["mime_type"] == "image/jpeg"
    assert por_wamid["wamid.doc1"]["media_url"].split("?")[0].endswith(seed["keys"][2])
    assert por_wamid["wamid.tpl1"]["enviado_por_nome"] == "Ana"
    assert por_wamid["wamid.tpl1"]["dados"]["template"]["parametros"][0]["valor"] == "Maria"
    assert por_wamid["wamid.local1"]["dados"]["location"]["name"] == "Casa da Maria"
    assert {e["tipo"] for e in doc["eventos"]} == {
        "contato_criado",
        "conversa_aberta",
        "contato_atualizado",
        "referral",
    }
    # The export itself is recorded, after the document was read (it is not in it).
    registro = db.query("SELECT dados FROM eventos WHERE tipo = 'dados_exportados'")
    assert [e["dados"] for e in registro] == [{"por": str(env.admin["id"]), "truncado": False}]


def test_export_is_a_fixed_number_of_queries_whatever_the_contact_holds(env, monkeypatch):
    from chalicelib import db as db_module

    def count_queries(contato_id):
        calls = []
        real = db_module._run
        monkeypatch.setattr(db_module, "_run", lambda sql, params: calls.append(sql) or real(sql, params))
        try:
            assert _export(env, contato_id).status_code == 200
        finally:
            monkeypatch.setattr(db_module, "_run", real)
        return len(calls)

    pequeno = make_contato("+5511911110000", "Pequeno")
    make_mensagem(make_conversa(pequeno), "oi")
    grande = make_contato("+5511922220000", "Grande")
    for i in range(4):
        conversa = make_conversa(grande, status="encerrada", closed_at="2026-11-01T00:00:00Z", window_hours=None)
        for j in range(6):
            make_mensagem(conversa, f"m{i}-{j}", tipo="media", media_type="image", media_url=f"media/a/b/{i}{j}/x.jpg")
    assert count_queries(str(grande["id"])) == count_queries(str(pequeno["id"]))


def test_export_is_bounded_and_says_when_it_was_cut(env, monkeypatch):
    monkeypatch.setattr(lgpd, "MAX_MENSAGENS", 3)
    contato = make_contato(TELEFONE, "Maria")
    conversa = make_conversa(contato)
    for i in range(5):
        make_mensagem(conversa, f"m{i}", created_at=f"2026-11-0{i + 1}T12:00:00Z")
    doc = body(_export(env, str(contato["id"])))
    assert doc["truncado"] is True
    assert doc["limites"]["mensagens"] == 3
    assert [m["conteudo"] for m in doc["conversas"][0]["mensagens"]] == ["m0", "m1", "m2"]


def test_export_of_an_anonymised_contact_holds_no_personal_data(env):
    seed = seed_contact_with_everything(env)
    kid = str(seed["contato"]["id"])
    assert env.post(f"/contatos/{kid}/anonimizar", {"confirmar": True}).status_code == 200
    doc = body(_export(env, kid))
    assert doc["contato"]["anonimizado"] is True and doc["interessado"] is None
    text = str(doc)
    for personal in ("Maria", "5511987654321", "violão", "Flores", "contrato-maria", "Casa"):
        assert personal not in text, personal
    mensagens = [m for c in doc["conversas"] for m in c["mensagens"]]
    assert len(mensagens) == 5 and all(m["media_url"] is None and m["media_files"] == [] for m in mensagens)


def test_unknown_contact_is_404_and_no_token_is_401(env):
    assert _export(env, str(uuid.uuid4())).status_code == 404
    assert body(_export(env, str(uuid.uuid4())))["Code"] == "NotFoundError"
    assert _export(env, "123").status_code == 404
    kid = str(make_contato(TELEFONE, "Maria")["id"])
    assert env.client.http.get(f"/contatos/{kid}/export").status_code == 401
    assert env.client.http.get(f"/contatos/{kid}/export", headers={"Authorization": "Bearer x"}).status_code == 401
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'dados_exportados'") == 0
