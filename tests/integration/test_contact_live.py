"""Issue 14 §1-2: every screen showing a contact hears when it changes (`contact:updated`):
edits, the lead form and anonymisation."""

from __future__ import annotations

from tests.integration.api_support import auth, dumps, make_admin, make_contato


def _contact_events(published):
    return [data for event, data in published if event == "contact:updated"]


def test_edit_and_lead_form_publish_contact_updated(client, published):
    ana = make_admin("Ana")
    contato = make_contato()
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"nome": "Maria S."}))
    assert r.status_code == 200, r.body
    assert _contact_events(published) == [{"contato_id": str(contato["id"])}]
    lead = {
        "nome": "Maria S.",
        "idade": 12,
        "instrumento_desejado": "violão",
        "disponibilidade_horario": True,
    }
    r = client.http.put(f"/contatos/{contato['id']}/interessado", headers=auth(ana), body=dumps(lead))
    assert r.status_code == 201, r.body
    assert len(_contact_events(published)) == 2


def test_a_patch_that_changes_nothing_publishes_nothing(client, published):
    ana = make_admin("Ana")
    contato = make_contato()
    r = client.http.patch(f"/contatos/{contato['id']}", headers=auth(ana), body=dumps({"nome": "Maria Souza"}))
    assert r.status_code == 200
    assert _contact_events(published) == []
