"""The inbox: filters, order, keyset pagination, unread counts, previews, messages."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import db
from tests.integration.api_support import auth, body, make_admin, make_contato, make_conversa, make_mensagem


def _get(client, admin, path):
    r = client.http.get(path, headers=auth(admin))
    assert r.status_code == 200, r.body
    return body(r)


def _set_activity(conversa, when):
    db.execute("UPDATE conversas SET ultima_atividade_em = :t WHERE id = :id", t=when, id=conversa["id"])


def test_item_has_contact_assignee_preview_window_and_unread(client):
    ana = make_admin("Ana")
    contato = make_contato(nome="Maria Souza")
    conversa = make_conversa(contato, window_hours=5, atendente_id=ana["id"], atribuida_em=datetime.now(UTC))
    make_mensagem(conversa, "primeira")
    make_mensagem(conversa, "segunda")
    make_mensagem(conversa, "resposta", "saida", enviado_por=ana["id"])
    item = _get(client, ana, "/conversas")["items"][0]
    assert item["id"] == str(conversa["id"])
    assert item["contato"]["nome"] == "Maria Souza"
    assert item["contato"]["telefone"] == "+5511988887777"
    assert item["atendente"] == {"id": str(ana["id"]), "nome": "Ana"}
    assert item["ultima_mensagem"]["conteudo"] == "resposta"
    assert item["janela_aberta"] is True
    assert item["window_expires_at"] is not None
    assert item["nao_lidas"] == 2


def test_mark_read_resets_unread_and_new_inbound_counts_again(client):
    ana = make_admin("Ana")
    conversa = make_conversa(make_contato())
    make_mensagem(conversa, "a")
    make_mensagem(conversa, "b")
    r = client.http.post(f"/conversas/{conversa['id']}/lida", headers=auth(ana))
    assert r.status_code == 200
    assert body(r)["conversa"]["nao_lidas"] == 0
    make_mensagem(conversa, "c")
    make_mensagem(conversa, "minha", "saida")
    assert _get(client, ana, f"/conversas/{conversa['id']}")["nao_lidas"] == 1


def test_newest_activity_first_and_new_message_moves_conversation_up(client):
    ana = make_admin("Ana")
    old = make_conversa(make_contato("+5511900000001"))
    new = make_conversa(make_contato("+5511900000002"))
    make_mensagem(old, "antiga", created_at=datetime.now(UTC) - timedelta(hours=2))
    make_mensagem(new, "nova", created_at=datetime.now(UTC) - timedelta(hours=1))
    assert [i["id"] for i in _get(client, ana, "/conversas")["items"]] == [str(new["id"]), str(old["id"])]
    make_mensagem(old, "agora")
    assert [i["id"] for i in _get(client, ana, "/conversas")["items"]] == [str(old["id"]), str(new["id"])]


def test_filters_atendente_status_janela_busca(client):
    ana, bia = make_admin("Ana"), make_admin("Bia")
    now = datetime.now(UTC)
    minha = make_conversa(make_contato("+5511911110001", "Carlos Lima"), atendente_id=ana["id"], atribuida_em=now)
    dela = make_conversa(make_contato("+5511911110002", "Daniela"), atendente_id=bia["id"], atribuida_em=now)
    livre = make_conversa(make_contato("+5521933330003", "Eduardo"), window_hours=-1)
    fechada = make_conversa(
        make_contato("+5511911110004", "Fábio"), window_hours=None, status="encerrada", closed_at=now
    )

    def ids(query):
        return {i["id"] for i in _get(client, ana, f"/conversas?{query}")["items"]}

    assert ids("atendente=me") == {str(minha["id"])}
    assert ids(f"atendente={bia['id']}") == {str(dela["id"])}
    assert ids("atendente=nenhum") == {str(livre["id"]), str(fechada["id"])}
    assert ids("status=encerrada") == {str(fechada["id"])}
    assert ids("status=ativa&atendente=nenhum") == {str(livre["id"])}
    assert ids("janela=aberta") == {str(minha["id"]), str(dela["id"])}
    assert ids("janela=fechada") == {str(livre["id"]), str(fechada["id"])}
    assert ids("busca=carlos") == {str(minha["id"])}
    assert ids("busca=21%209333") == {str(livre["id"])}
    assert ids("busca=%25") == set()  # a LIKE wildcard is a literal character here


@pytest.mark.parametrize("query", ["status=aberta", "atendente=joao", "janela=x", "limit=0", "limit=101", "cursor=%%%"])
def test_bad_filters_are_422(client, query):
    r = client.http.get(f"/conversas?{query}", headers=auth(make_admin("Ana")))
    assert r.status_code == 422
    assert body(r)["Code"] == "ValidationError"


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b'["not a time", "1"]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "not-a-uuid"]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]').decode(),
    ],
)
def test_tampered_cursor_is_422_not_500(client, cursor):
    r = client.http.get(f"/conversas?cursor={cursor}", headers=auth(make_admin("Ana")))
    assert r.status_code == 422
    assert body(r)["Code"] == "ValidationError" and body(r)["field"] == "cursor"


def test_pagination_is_stable_under_concurrent_inserts(client):
    ana = make_admin("Ana")
    base = datetime.now(UTC) - timedelta(days=1)
    originais = []
    for i in range(25):
        conversa = make_conversa(make_contato(f"+55119000{i:05d}"))
        # Pairs share a timestamp: the id tiebreak must keep them apart and in order.
        _set_activity(conversa, base + timedelta(minutes=i // 2))
        originais.append(str(conversa["id"]))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = _get(client, ana, f"/conversas?{query}")
        seen += [i["id"] for i in page["items"]]
        pages += 1
        # Meanwhile new conversations arrive (newer than everything seen).
        make_conversa(make_contato(f"+55219000{pages:05d}"))
        cursor = page["next_cursor"]
        if not cursor:
            break
    novos = set(seen) - set(originais)
    assert novos == set()  # what arrived later is above the cursor, never inside later pages
    assert len(seen) == len(set(seen)) == 25
    atividade = {
        str(r["id"]): (r["ultima_atividade_em"], str(r["id"]))
        for r in db.query("SELECT id, ultima_atividade_em FROM conversas")
    }
    keys = [atividade[i] for i in seen]
    assert keys == sorted(keys, reverse=True)


def test_conversation_404_for_unknown_or_malformed_id(client):
    ana = make_admin("Ana")
    for path in ["/conversas/00000000-0000-0000-0000-000000000000", "/conversas/xyz", "/conversas/xyz/mensagens"]:
        assert client.http.get(path, headers=auth(ana)).status_code == 404
    assert (
        client.http.post("/conversas/00000000-0000-0000-0000-000000000000/lida", headers=auth(ana)).status_code == 404
    )


def test_messages_newest_first_paginated_with_presigned_media(client, monkeypatch):
    monkeypatch.setenv("MEDIA_BUCKET", "midia-teste")
    from chalicelib.config import reset_settings

    reset_settings()
    ana = make_admin("Ana")
    conversa = make_conversa(make_contato())
    base = datetime.now(UTC) - timedelta(minutes=10)
    for i in range(5):
        make_mensagem(conversa, f"m{i}", created_at=base + timedelta(minutes=i))
    make_mensagem(
        conversa,
        "foto",
        tipo="media",
        media_type="image",
        media_url="media/2026/11/x/foto.jpg",
        thumbnail_url="media/2026/11/x/thumb.jpg",
        created_at=base + timedelta(minutes=6),
    )
    first = _get(client, ana, f"/conversas/{conversa['id']}/mensagens?limit=4")
    assert [m["conteudo"] for m in first["items"]] == ["foto", "m4", "m3", "m2"]
    foto = first["items"][0]
    assert foto["media_url"].startswith("http") and "X-Amz-Signature=" in foto["media_url"]
    assert "midia-teste" in foto["media_url"] and "foto.jpg" in foto["media_url"]
    assert "X-Amz-Expires=900" in foto["media_url"]
    assert "thumb.jpg" in foto["thumbnail_url"]
    second = _get(client, ana, f"/conversas/{conversa['id']}/mensagens?limit=4&cursor={first['next_cursor']}")
    assert [m["conteudo"] for m in second["items"]] == ["m1", "m0"]
    assert second["next_cursor"] is None
    reset_settings()


# --- one statement per page, served by indexes ------------------------------------------


# The session check (issue 16: the account's role, state and token version, one primary-key
# read by the authorizer on every request, and by the test's token issuance) is not the page's.
_SESSION_READ = "SELECT papel, ativo, token_version FROM administradores WHERE id = :id"


@pytest.fixture
def statements(monkeypatch):
    """The SQL text of every statement the app sends for the route, in order (session reads aside)."""
    sent: list[str] = []
    real_run = db._run

    def counting_run(sql, params):
        if sql != _SESSION_READ:
            sent.append(sql)
        return real_run(sql, params)

    monkeypatch.setattr(db, "_run", counting_run)
    return sent


def _page_statements(statements):
    """The page's own statements: without the session check every request pays once (the
    authorizer's read of the account, issue 16) and the test's token minting."""
    return [s for s in statements if "token_version FROM administradores" not in str(s)]


def test_a_page_is_one_statement_however_many_rows_it_has(client, statements):
    ana, bia = make_admin("Ana"), make_admin("Bia")
    conversas = []
    for i in range(12):
        holder = (ana, bia, None)[i % 3]
        assigned = {"atendente_id": holder["id"], "atribuida_em": datetime.now(UTC)} if holder else {}
        conversa = make_conversa(make_contato(f"+55119100{i:05d}", f"Contato {i}"), **assigned)
        make_mensagem(conversa, f"oi {i}")
        make_mensagem(conversa, f"resposta {i}", "saida", enviado_por=ana["id"])
        conversas.append(conversa)
    first = _get(client, ana, "/conversas?limit=4")
    paths = [
        "/conversas?limit=2",
        "/conversas?limit=100",
        f"/conversas?limit=4&cursor={first['next_cursor']}",
        "/conversas?atendente=me&status=ativa&janela=aberta",
        "/conversas?atendente=nenhum",
        f"/conversas?atendente={bia['id']}",
        "/conversas?busca=contato%201",
        f"/conversas/{conversas[0]['id']}",
        f"/conversas/{conversas[0]['id']}/mensagens?limit=1",
        f"/conversas/{conversas[0]['id']}/mensagens?limit=100",
    ]
    for path in paths:
        statements.clear()
        page = _get(client, ana, path)
        assert len(_page_statements(statements)) == 1, (path, statements)
        items = page.get("items", [page])
        assert items and all("id" in item for item in items), path
    statements.clear()
    everything = _get(client, ana, "/conversas?limit=100")["items"]
    assert len(_page_statements(statements)) == 1 and len(everything) == 12
    # What that single statement brought back is complete: no item needs a second look-up.
    assert all(item["contato"]["nome"] and item["ultima_mensagem"]["conteudo"] for item in everything)
    assert sum(item["atendente"] is not None for item in everything) == 8


@pytest.mark.parametrize(
    "filters",
    [{}, {"atendente": "me"}, {"status": "ativa"}, {"cursor": True}],
    ids=["all", "atendente=me", "status=ativa", "next-page"],
)
def test_page_plan_reads_indexes_in_order_never_scans_or_sorts_mensagens(db_clean, filters):
    """The plan of a page: the keyset order comes from an index (no Sort node) and the last
    message from an index probe per row (no scan of mensagens)."""
    from chalicelib.repositories import inbox

    ana = make_admin("Ana")
    for i in range(5):
        conversa = make_conversa(
            make_contato(f"+55119200{i:05d}"), atendente_id=ana["id"], atribuida_em=datetime.now(UTC)
        )
        make_mensagem(conversa, f"m{i}")
    kwargs = {
        "atendente_id": str(ana["id"]) if filters.get("atendente") else None,
        "status": filters.get("status"),
        "after": (datetime.now(UTC).isoformat(), "ffffffff-ffff-ffff-ffff-ffffffffffff")
        if filters.get("cursor")
        else (None, None),
    }
    sql, params = inbox.conversas_page_statement(limit=31, **kwargs)
    with db.transaction():
        # A handful of rows would rightly be read by scans and sorts; price those out, so a
        # Sort or Seq Scan left in the plan means no index can serve this page at any size.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            db.execute(f"SET LOCAL {setting} = off")
        plan = "\n".join(r["QUERY PLAN"] for r in db.query("EXPLAIN (COSTS OFF) " + sql, **params))
    assert "Seq Scan on mensagens" not in plan and "Seq Scan on conversas" not in plan, plan
    assert "Sort" not in plan, plan
    assert "idx_mensagens_conversa_recentes" in plan, plan
    assert "idx_conversas_" in plan, plan


# --- messages of one second ---------------------------------------------------------------


def _same_second_payload(n: int = 5):
    """n messages of one customer in one payload, all with one timestamp; their wamids sort
    against the payload order and their uuids are random, so only the order stored counts."""
    from devstack import payloads as wa

    ts = int(datetime.now(UTC).timestamp()) - 60
    cliente = "5511977776666"
    first = wa.text(cliente, "m0", wamid="wamid.Z0", timestamp=ts)
    msgs = [first]
    for i in range(1, n):
        if i == 1:
            msgs.append(wa.reaction(cliente, first["id"], "👍", wamid=f"wamid.Z{9 - i}", timestamp=ts))
        else:
            msgs.append(wa.text(cliente, f"m{i}", wamid=f"wamid.Z{9 - i}", timestamp=ts))
    return wa.envelope(wa.value(msgs)), ["m0", "👍", *[f"m{i}" for i in range(2, n)]]


def test_messages_of_one_second_keep_the_payload_order_across_pages(client):
    from chalicelib.services import inbound

    ana = make_admin("Ana")
    payload, sent = _same_second_payload(5)
    assert inbound.handle_payload(payload)["mensagens"] == 5
    conversa_id = db.scalar("SELECT id FROM conversas")
    assert db.scalar("SELECT count(DISTINCT created_at) FROM mensagens") == 1

    newest_first = list(reversed(sent))
    whole = _get(client, ana, f"/conversas/{conversa_id}/mensagens?limit=100")
    assert [m["conteudo"] for m in whole["items"]] == newest_first
    for limit in (1, 2, 3):
        seen, cursor = [], None
        while True:
            query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = _get(client, ana, f"/conversas/{conversa_id}/mensagens?{query}")
            seen += [m["conteudo"] for m in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == newest_first, limit  # no message twice, none skipped, same order
    # The inbox preview is the last one the customer sent, not a random one of that second.
    item = _get(client, ana, "/conversas")["items"][0]
    assert item["ultima_mensagem"]["conteudo"] == sent[-1]

    # A redelivery of the payload changes nothing, and what comes later in the same second
    # still lands after it.
    inbound.handle_payload(payload)
    make_mensagem(
        {"id": conversa_id}, "resposta", "saida", created_at=db.scalar("SELECT max(created_at) FROM mensagens")
    )
    top = _get(client, ana, f"/conversas/{conversa_id}/mensagens?limit=2")["items"]
    assert [m["conteudo"] for m in top] == ["resposta", sent[-1]]


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", true]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", 99999999999999999999]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", 5]').decode(),
    ],
)
def test_tampered_message_cursor_is_422_not_500(client, cursor):
    conversa = make_conversa(make_contato())
    r = client.http.get(f"/conversas/{conversa['id']}/mensagens?cursor={cursor}", headers=auth(make_admin("Ana")))
    assert r.status_code == 422, r.body


def test_the_message_page_with_a_cursor_is_served_by_the_index_in_order(client, statements):
    from chalicelib import pagination
    from chalicelib.repositories import inbox

    conversa = make_conversa(make_contato())
    make_mensagem(conversa, "a")
    statements.clear()
    inbox.mensagens_page(
        str(conversa["id"]), limit=31, after=pagination.decode_time_seq(pagination.encode(datetime.now(UTC), 10))
    )
    sql = statements[-1]
    params = {
        "conversa_id": str(conversa["id"]),
        "limit": 31,
        "after_ts": datetime.now(UTC).isoformat(),
        "after_seq": 10,
    }
    with db.transaction():
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            db.execute(f"SET LOCAL {setting} = off")
        plan = "\n".join(r["QUERY PLAN"] for r in db.query("EXPLAIN (COSTS OFF) " + sql, **params))
    assert "idx_mensagens_conversa_recentes" in plan and "Sort" not in plan, plan
    assert "Seq Scan on mensagens" not in plan, plan
