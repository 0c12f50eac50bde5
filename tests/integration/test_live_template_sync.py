"""Template sync against the fake Graph API: paging, upsert, deletions, live events."""

from __future__ import annotations

import json

import pytest

from devstack.fake_graph import FakeGraph
from tests.integration.live_helpers import make_admin, token_for


def _template(tid: str, name: str, language: str, status: str = "APPROVED", category: str = "UTILITY",
              text: str = "Olá {{1}}, tudo bem?") -> dict:  # fmt: skip
    return {
        "id": tid,
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "components": [{"type": "BODY", "text": text, "example": {"body_text": [["Ana"]]}}],
    }


TEMPLATES = [
    _template("1001", "boas_vindas", "pt_BR"),
    _template("1002", "boas_vindas", "en_US", text="Hello {{1}}!"),
    _template("1003", "aula_experimental", "pt_BR", category="MARKETING", text="Oi {{nome}}, aula {{dia}}?"),
    _template("1004", "lembrete_aula", "pt_BR"),
    _template("1005", "pagamento", "pt_BR", status="PENDING"),
]


@pytest.fixture
def graph(db_clean, monkeypatch):
    """A fresh fake Graph server per test (not conftest.py's shared one), the app pointed at it."""
    from chalicelib.config import reset_settings
    from chalicelib.whatsapp.graph import reset_graph_client

    fake = FakeGraph().start()
    monkeypatch.setenv("WHATSAPP_GRAPH_URL", fake.base_url)
    reset_settings()
    reset_graph_client()
    yield fake
    fake.stop()
    monkeypatch.undo()
    reset_settings()
    reset_graph_client()


def _stored() -> dict[tuple[str, str], dict]:
    from chalicelib.repositories import templates

    return {(t["name"], t["language"]): t for t in templates.list_all()}


def _template_requests(graph) -> list:
    return [r for r in graph.requests if "message_templates" in r[1]]


def test_sync_follows_three_pages_and_stores_a_template_in_two_languages(graph, published):
    from chalicelib.services.templates import sync_templates

    graph.set_templates(TEMPLATES)

    result = sync_templates(page_limit=2)

    assert result == {"pages": 3, "templates": 5, "changed": 5, "deleted": 0}
    assert len(_template_requests(graph)) == 3
    stored = _stored()
    assert set(stored) == {(t["name"], t["language"]) for t in TEMPLATES}
    assert stored[("boas_vindas", "pt_BR")]["whatsapp_id"] == "1001"
    assert stored[("boas_vindas", "en_US")]["body"] == "Hello {{1}}!"
    assert stored[("aula_experimental", "pt_BR")]["category"] == "marketing"
    assert [v["name"] for v in stored[("aula_experimental", "pt_BR")]["variables"]] == ["nome", "dia"]
    assert stored[("pagamento", "pt_BR")]["status"] == "pending"
    assert all(t["last_synced_at"] is not None for t in stored.values())
    assert sorted(d["template"]["whatsapp_id"] for e, d in published) == ["1001", "1002", "1003", "1004", "1005"]
    assert {e for e, _ in published} == {"template:updated"}


def test_each_page_is_one_set_based_statement(graph, published, monkeypatch):
    from chalicelib import db
    from chalicelib.services.templates import sync_templates

    statements: list[str] = []
    for name in ("query", "query_one", "execute", "scalar"):
        real = getattr(db, name)
        monkeypatch.setattr(db, name, lambda sql, _real=real, **params: statements.append(sql) or _real(sql, **params))
    graph.set_templates(TEMPLATES)

    sync_templates(page_limit=2)

    # 3 pages (2 + 2 + 1 templates), then the one marking the missing ones (the read that
    # builds the live events after the commit is not a write)
    writes = [s for s in statements if "templates" in s and not s.startswith("SELECT")]
    assert len(writes) == 4, writes
    assert sum("INSERT INTO templates" in s for s in writes) == 3
    assert len(_stored()) == 5


def test_a_second_sync_records_a_rejection_and_a_removal_and_publishes_only_those(graph, published):
    from chalicelib.services.templates import sync_templates

    graph.set_templates(TEMPLATES)
    sync_templates(page_limit=2)
    first = _stored()
    published.clear()

    second_list = [t for t in TEMPLATES if t["id"] != "1004"]
    second_list[0] = {**second_list[0], "status": "REJECTED"}
    graph.set_templates(second_list)

    result = sync_templates(page_limit=2)

    stored = _stored()
    assert result["deleted"] == 1 and result["changed"] == 2
    assert stored[("boas_vindas", "pt_BR")]["status"] == "rejected"
    assert stored[("lembrete_aula", "pt_BR")]["status"] == "deleted"
    assert stored[("boas_vindas", "en_US")]["status"] == "approved"
    assert stored[("boas_vindas", "en_US")]["id"] == first[("boas_vindas", "en_US")]["id"]  # updated, not recreated
    assert stored[("boas_vindas", "en_US")]["last_synced_at"] > first[("boas_vindas", "en_US")]["last_synced_at"]
    assert sorted((d["template"]["whatsapp_id"], d["template"]["status"]) for _, d in published) == [
        ("1001", "rejected"),
        ("1004", "deleted"),
    ]

    published.clear()
    assert sync_templates(page_limit=2)["changed"] == 0  # nothing new: nothing published
    assert published == []


def test_a_template_recreated_under_a_new_id_takes_over_its_row(graph, published):
    from chalicelib.services.templates import sync_templates

    graph.set_templates(TEMPLATES[:1])
    sync_templates()
    graph.set_templates([{**TEMPLATES[0], "id": "2001"}])
    sync_templates()
    stored = _stored()
    assert len(stored) == 1
    assert stored[("boas_vindas", "pt_BR")]["whatsapp_id"] == "2001"
    assert stored[("boas_vindas", "pt_BR")]["status"] == "approved"


def test_a_graph_failure_half_way_marks_nothing_deleted(graph, published):
    from chalicelib.services.templates import sync_templates
    from chalicelib.whatsapp.graph import GraphError

    graph.set_templates(TEMPLATES)
    sync_templates(page_limit=2)
    graph.set_templates(TEMPLATES[:2])  # the rest "gone", but Graph fails before the end
    graph.fail("templates", code=2, times=5)
    with pytest.raises(GraphError):
        sync_templates(page_limit=2)
    assert all(t["status"] != "deleted" for t in _stored().values())


def test_post_templates_sync_and_the_cli_run_the_sync(graph, capsys):
    from chalice.test import Client

    import app
    from chalicelib.cli import main

    graph.set_templates(TEMPLATES)
    with Client(app.app) as client:
        response = client.http.post("/templates/sync", headers={"Authorization": f"Bearer {token_for(make_admin())}"})
        unauthenticated = client.http.post("/templates/sync")
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["templates"] == 5
    assert set(_stored()) == {(t["name"], t["language"]) for t in TEMPLATES}
    assert unauthenticated.status_code == 401

    graph.set_templates(TEMPLATES[:4])
    assert main(["sync-templates"]) == 0
    assert "1 removido(s)" in capsys.readouterr().out
    gone = (TEMPLATES[4]["name"], TEMPLATES[4]["language"])
    assert [key for key, t in _stored().items() if t["status"] == "deleted"] == [gone]


def test_post_templates_sync_answers_502_when_whatsapp_fails(graph):
    from chalice.test import Client

    import app

    graph.fail("templates", code=2, times=5)
    with Client(app.app) as client:
        response = client.http.post("/templates/sync", headers={"Authorization": f"Bearer {token_for(make_admin())}"})
    assert response.status_code == 502
    assert json.loads(response.body)["Code"] == "WhatsAppError"
