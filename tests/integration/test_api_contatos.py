"""Contacts, the timeline, lead qualification and templates."""

from __future__ import annotations

import base64

import pytest

from chalicelib import db
from tests.integration.api_support import auth, body, dumps, make_admin, make_contato

LEAD = {"nome": "João", "idade": 9, "instrumento_desejado": "Piano", "disponibilidade_horario": True}


def test_search_contacts_by_name_or_phone_with_pagination(client):
    ana = make_admin("Ana")
    make_contato("+5511987650001", "Maria Souza")
    make_contato("+5511987650002", "Mariana Lima")
    make_contato("+5521999990003", "Pedro")
    page = body(client.http.get("/contatos?busca=mari&limit=1", headers=auth(ana)))
    rest = body(client.http.get(f"/contatos?busca=mari&limit=1&cursor={page['next_cursor']}", headers=auth(ana)))
    assert {c["nome"] for c in page["items"] + rest["items"]} == {"Maria Souza", "Mariana Lima"}
    assert rest["next_cursor"] is None
    by_phone = body(client.http.get("/contatos?busca=21%2099999", headers=auth(ana)))
    assert [c["nome"] for c in by_phone["items"]] == ["Pedro"]


def test_patch_sets_name_as_edited_and_journey_change_is_an_event(client):
    ana = make_admin("Ana")
    contato = make_contato()
    r = client.http.patch(
        f"/contatos/{contato['id']}",
        headers=auth(ana),
        body=dumps({"nome": "Maria S.", "estado_jornada": "qualificado"}),
    )
    assert r.status_code == 200
    assert body(r)["nome"] == "Maria S." and body(r)["nome_editado"] is True
    assert body(r)["estado_jornada"] == "qualificado"
    timeline = body(client.http.get(f"/contatos/{contato['id']}/eventos", headers=auth(ana)))["items"]
    jornada = [e for e in timeline if e["tipo"] == "jornada_alterada"]
    assert len(jornada) == 1
    assert jornada[0]["dados"]["de"] == "novo" and jornada[0]["dados"]["para"] == "qualificado"
    assert jornada[0]["dados"]["por"] == str(ana["id"])
    # The same value again is no journey change.
    client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"estado_jornada": "qualificado"}))
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'jornada_alterada'") == 1


def test_patch_only_changes_fields_sent(client):
    ana = make_admin("Ana")
    contato = make_contato(origem_campanha="verao")
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"tipo": "aluno"}))
    assert body(r)["tipo"] == "aluno" and body(r)["nome"] == "Maria Souza" and body(r)["nome_editado"] is False
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"origem_campanha": None}))
    assert r.status_code == 200 and body(r)["origem_campanha"] is None


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"estado_jornada": "inexistente"}, "estado_jornada"),
        ({"tipo": 3}, "tipo"),
        ({"nome": ""}, "nome"),
        ({"nome": None}, "nome"),
        ({"telefone": "+5511"}, "telefone"),
        ({"nome": "a" * 201}, "nome"),
    ],
)
def test_patch_validation_names_the_field(client, payload, field):
    contato = make_contato()
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(make_admin("Ana")), body=dumps(payload))
    assert r.status_code == 422
    assert body(r)["field"] == field


def test_anonymised_contact_cannot_be_edited(client):
    contato = make_contato(anonimizado=True)
    ana = make_admin("Ana")
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"nome": "X"}))
    assert r.status_code == 409 and body(r)["Code"] == "ContactAnonymized"
    r = client.http.put(f"/contatos/{contato['id']}/interessado", headers=auth(ana), body=dumps(LEAD))
    assert r.status_code == 409 and body(r)["Code"] == "ContactAnonymized"
    assert db.query_one("SELECT nome, nome_editado FROM contatos WHERE id = :id", id=contato["id"]) == {
        "nome": contato["nome"],
        "nome_editado": False,
    }
    assert db.scalar("SELECT count(*) FROM interessados") == 0
    assert db.scalar("SELECT count(*) FROM eventos") == 0


def test_interessado_put_creates_then_replaces_and_get_reads_it(client):
    ana = make_admin("Ana")
    contato = make_contato()
    assert client.http.get(f"/contatos/{contato['id']}/interessado", headers=auth(ana)).status_code == 404
    r = client.http.put(f"/contatos/{contato['id']}/interessado", headers=auth(ana), body=dumps(LEAD))
    assert r.status_code == 201
    criado = body(r)
    assert criado["contato_id"] == str(contato["id"]) and criado["instrumento_desejado"] == LEAD["instrumento_desejado"]
    assert "criado" not in criado  # the upsert's flag is the status code, not a field
    r = client.http.put(
        f"/contatos/{contato['id']}/interessado",
        headers=auth(ana),
        body=dumps({**LEAD, "instrumento_desejado": "Violino"}),
    )
    assert r.status_code == 200
    got = body(client.http.get(f"/contatos/{contato['id']}/interessado", headers=auth(ana)))
    assert got["instrumento_desejado"] == "Violino" and got["idade"] == 9 and got["compativel"] is True
    assert db.scalar("SELECT count(*) FROM interessados") == 1
    assert body(client.http.get(f"/contatos/{contato['id']}", headers=auth(ana)))["interessado"]["id"] == got["id"]
    tipos = {e["tipo"] for e in body(client.http.get(f"/contatos/{contato['id']}/eventos", headers=auth(ana)))["items"]}
    assert {"interessado_registrado", "interessado_atualizado"} <= tipos


@pytest.mark.parametrize(
    "change,field",
    [
        ({"idade": 2}, "idade"),
        ({"idade": 121}, "idade"),
        ({"idade": "nove"}, "idade"),
        ({"instrumento_desejado": "  "}, "instrumento_desejado"),
        ({"disponibilidade_horario": None}, "disponibilidade_horario"),
        ({"extra": 1}, "extra"),
    ],
)
def test_interessado_validation(client, change, field):
    contato = make_contato()
    r = client.http.put(
        f"/contatos/{contato['id']}/interessado", headers=auth(make_admin("Ana")), body=dumps({**LEAD, **change})
    )
    assert r.status_code == 422
    assert body(r)["field"] == field


def test_unknown_contact_is_404(client):
    ana = make_admin("Ana")
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.http.get(f"/contatos/{missing}", headers=auth(ana)).status_code == 404
    assert client.http.get(f"/contatos/{missing}/eventos", headers=auth(ana)).status_code == 404
    assert client.http.put(f"/contatos/{missing}/interessado", headers=auth(ana), body=dumps(LEAD)).status_code == 404
    assert client.http.patch(f"/contatos/{missing}", headers=auth(ana), body=dumps({"nome": "x"})).status_code == 404


def test_timeline_is_paginated_newest_first(client):
    ana = make_admin("Ana")
    contato = make_contato()
    for i in range(5):
        db.execute(
            "INSERT INTO eventos (contato_id, tipo, created_at) VALUES (:c, :t, now() - make_interval(mins => :i))",
            c=contato["id"],
            t=f"e{i}",
            i=i,
        )
    first = body(client.http.get(f"/contatos/{contato['id']}/eventos?limit=3", headers=auth(ana)))
    second = body(
        client.http.get(f"/contatos/{contato['id']}/eventos?limit=3&cursor={first['next_cursor']}", headers=auth(ana))
    )
    assert [e["tipo"] for e in first["items"] + second["items"]] == ["e0", "e1", "e2", "e3", "e4"]


def _template(name, category="utility", status="approved", language="pt_BR"):
    db.execute(
        "INSERT INTO templates (name, category, status, language, body)"
        " VALUES (:n, CAST(:c AS template_category), CAST(:s AS template_status), :l, 'Olá {{1}}')",
        n=name,
        c=category,
        s=status,
        l=language,
    )


def test_templates_approved_by_default_and_filters(client):
    ana = make_admin("Ana")
    _template("boas_vindas")
    _template("promo", category="marketing")
    _template("rascunho", status="pending")
    _template("boas_vindas", language="en_US")

    def names(query=""):
        return [
            (t["name"], t["language"]) for t in body(client.http.get(f"/templates{query}", headers=auth(ana)))["items"]
        ]

    assert sorted(names()) == [("boas_vindas", "en_US"), ("boas_vindas", "pt_BR"), ("promo", "pt_BR")]
    assert names("?category=marketing") == [("promo", "pt_BR")]
    assert names("?status=pending") == [("rascunho", "pt_BR")]
    assert len(names("?status=todos")) == 4
    assert names("?language=en_US") == [("boas_vindas", "en_US")]
    assert client.http.get("/templates?category=spam", headers=auth(ana)).status_code == 422
    bad_status = client.http.get("/templates?status=spam", headers=auth(ana))
    assert bad_status.status_code == 422 and body(bad_status)["field"] == "status"
    # A cursor whose name is not a string was not made by us: 422, not a page from "1".
    forged = base64.urlsafe_b64encode(b'[1, "00000000-0000-0000-0000-000000000000"]').decode()
    bad_cursor = client.http.get(f"/templates?cursor={forged}", headers=auth(ana))
    assert bad_cursor.status_code == 422 and body(bad_cursor)["field"] == "cursor"
    page = body(client.http.get("/templates?limit=2", headers=auth(ana)))
    rest = body(client.http.get(f"/templates?limit=2&cursor={page['next_cursor']}", headers=auth(ana)))
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_name_or_journey_change_announces_the_active_conversation_with_the_contact(client, published):
    from tests.integration.api_support import make_conversa

    ana = make_admin("Ana")
    contato = make_contato(nome="Maria Souza")
    ativa = make_conversa(contato)
    db.execute("UPDATE conversas SET status = 'encerrada', closed_at = now() WHERE id = :id", id=ativa["id"])
    ativa = make_conversa(contato)  # the closed one above is history: not announced
    r = client.http.patch(
        f"/contatos/{contato['id']}",
        headers=auth(ana),
        body=dumps({"nome": "Maria S.", "estado_jornada": "qualificado"}),
    )
    assert r.status_code == 200
    inbox = [(e, d) for e, d in published if e != "contact:updated"]  # the panels' event: test_contact_live
    assert [(e, str(d["conversa"]["id"])) for e, d in inbox] == [("conversation:updated", str(ativa["id"]))]
    conversa = inbox[0][1]["conversa"]
    assert conversa["contato"]["nome"] == "Maria S." and conversa["contato"]["estado_jornada"] == "qualificado"
    assert conversa["contato"]["id"] == str(contato["id"]) and "janela_aberta" in conversa

    published.clear()
    client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"origem_campanha": "x"}))
    client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"nome": "Maria S."}))  # same
    # nothing the inbox shows changed (the campaign is the contact panel's: contact:updated only)
    assert [e for e, _ in published] == ["contact:updated"]
