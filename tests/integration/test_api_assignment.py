"""Shared attendance: atomic take, transfer, release, close, reopen, events and live events."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from chalice.test import Client

from app import app
from chalicelib import db
from chalicelib.http import ApiError
from chalicelib.services import assignment
from tests.integration.api_support import auth, body, dumps, make_admin, make_contato, make_conversa


@pytest.fixture
def client(db_clean):
    with Client(app) as c:
        yield c


def _eventos(tipo):
    return db.query("SELECT * FROM eventos WHERE tipo = :tipo ORDER BY created_at", tipo=tipo)


def test_twenty_admins_take_at_once_exactly_one_wins(db_clean, published):
    admins = [make_admin(f"Atendente {i}") for i in range(20)]
    conversa = make_conversa(make_contato())
    barrier = threading.Barrier(20)
    results: list[tuple[str, object]] = []
    lock = threading.Lock()

    def take(admin):
        try:
            barrier.wait()
            outcome = ("ok", assignment.assign(str(conversa["id"]), str(admin["id"])))
        except ApiError as exc:
            outcome = (exc.code, exc)
        finally:
            db.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=take, args=(a,)) for a in admins]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [r for c, r in results if c == "ok"]
    losers = [r for c, r in results if c != "ok"]
    assert len(results) == 20
    assert len(winners) == 1
    assert all(e.code == "AssignedToOther" and e.status == 409 for e in losers)
    holder = db.query_one("SELECT atendente_id FROM conversas WHERE id = :id", id=conversa["id"])["atendente_id"]
    assert winners[0]["conversa"]["atendente_id"] == holder
    assert {str(e.extra["atendente_id"]) for e in losers} == {str(holder)}
    assert len(_eventos("conversa_atribuida")) == 1
    assert [e for e, _ in published] == ["conversation:assigned"]


def test_take_over_http_then_other_admin_gets_409_naming_the_holder(client, published):
    ana, bia = make_admin("Ana"), make_admin("Bia")
    conversa = make_conversa(make_contato())
    r = client.http.post(f"/conversas/{conversa['id']}/atribuir", headers=auth(ana))
    assert r.status_code == 200
    assert body(r)["conversa"]["atendente_id"] == str(ana["id"])
    again = client.http.post(f"/conversas/{conversa['id']}/atribuir", headers=auth(ana))
    assert again.status_code == 200  # idempotent for the holder
    other = client.http.post(f"/conversas/{conversa['id']}/atribuir", headers=auth(bia))
    assert other.status_code == 409
    assert body(other)["Code"] == "AssignedToOther"
    assert body(other)["atendente"] == {"id": str(ana["id"]), "nome": "Ana"}
    assert "Ana" in body(other)["Message"]
    [(event, data)] = published
    assert event == "conversation:assigned" and data["anterior_id"] is None
    assert data["conversa"]["id"] == str(conversa["id"])
    assert data["conversa"]["atendente"] == {"id": str(ana["id"]), "nome": "Ana"}


def test_assign_to_named_admin_and_transfer_only_by_assignee(client, published):
    ana, bia, caio = make_admin("Ana"), make_admin("Bia"), make_admin("Caio")
    conversa = make_conversa(make_contato())
    cid = conversa["id"]
    r = client.http.post(f"/conversas/{cid}/atribuir", headers=auth(ana), body=dumps({"atendente_id": str(bia["id"])}))
    assert r.status_code == 200
    assert body(r)["conversa"]["atendente_id"] == str(bia["id"])
    # Ana no longer holds it: she can neither reassign nor transfer it.
    r = client.http.post(f"/conversas/{cid}/atribuir", headers=auth(ana), body=dumps({"atendente_id": str(caio["id"])}))
    assert r.status_code == 409 and body(r)["Code"] == "AssignedToOther"
    assert db.scalar("SELECT atendente_id FROM conversas WHERE id = :id", id=cid) == bia["id"]
    r = client.http.post(
        f"/conversas/{cid}/transferir", headers=auth(ana), body=dumps({"atendente_id": str(caio["id"])})
    )
    assert r.status_code == 409 and body(r)["Code"] == "AssignedToOther"
    r = client.http.post(
        f"/conversas/{cid}/transferir", headers=auth(bia), body=dumps({"atendente_id": str(caio["id"])})
    )
    assert r.status_code == 200
    assert body(r)["conversa"]["atendente_id"] == str(caio["id"])
    transfer = published[-1][1]
    assert transfer["anterior_id"] == str(bia["id"]) and transfer["conversa"]["atendente"]["nome"] == "Caio"
    r = client.http.post(
        f"/conversas/{cid}/transferir",
        headers=auth(caio),
        body=dumps({"atendente_id": "00000000-0000-0000-0000-000000000000"}),
    )
    assert r.status_code == 422
    assert len(_eventos("conversa_transferida")) == 1


def test_release_by_assignee_only_then_anyone_can_take(client, published):
    ana, bia = make_admin("Ana"), make_admin("Bia")
    cid = make_conversa(make_contato())["id"]
    client.http.post(f"/conversas/{cid}/atribuir", headers=auth(ana))
    assert client.http.post(f"/conversas/{cid}/liberar", headers=auth(bia)).status_code == 409
    r = client.http.post(f"/conversas/{cid}/liberar", headers=auth(ana))
    assert r.status_code == 200 and body(r)["conversa"]["atendente_id"] is None
    event, data = published[-1]
    assert event == "conversation:assigned" and data["anterior_id"] == str(ana["id"])
    assert data["conversa"]["id"] == str(cid) and data["conversa"]["atendente"] is None
    [liberada] = _eventos("conversa_liberada")
    assert liberada["dados"]["anterior_id"] == str(ana["id"]) and liberada["dados"]["atendente_id"] is None
    assert client.http.post(f"/conversas/{cid}/liberar", headers=auth(ana)).status_code == 409
    assert client.http.post(f"/conversas/{cid}/atribuir", headers=auth(bia)).status_code == 200


def test_close_and_reopen(client, published):
    ana, bia = make_admin("Ana"), make_admin("Bia")
    contato = make_contato()
    cid = make_conversa(contato)["id"]
    client.http.post(f"/conversas/{cid}/atribuir", headers=auth(ana))
    assert client.http.post(f"/conversas/{cid}/encerrar", headers=auth(bia)).status_code == 409
    r = client.http.post(f"/conversas/{cid}/encerrar", headers=auth(ana))
    assert r.status_code == 200
    assert body(r)["conversa"]["status"] == "encerrada" and body(r)["conversa"]["closed_at"]
    event, data = published[-1]
    assert event == "conversation:closed" and data["conversa"]["id"] == str(cid)
    assert data["conversa"]["status"] == "encerrada" and data["conversa"]["closed_at"]
    assert client.http.post(f"/conversas/{cid}/encerrar", headers=auth(ana)).status_code == 409
    # Taking a closed conversation is refused.
    r = client.http.post(f"/conversas/{cid}/atribuir", headers=auth(bia))
    assert r.status_code == 409 and body(r)["Code"] == "ConversationClosed"
    # A new conversation opened meanwhile blocks reopening this one.
    other = make_conversa(contato)
    r = client.http.post(f"/conversas/{cid}/reabrir", headers=auth(bia))
    assert r.status_code == 409 and body(r)["Code"] == "ActiveConversationExists"
    assert body(r)["conversa_id"] == str(other["id"])
    db.execute("DELETE FROM conversas WHERE id = :id", id=other["id"])
    r = client.http.post(f"/conversas/{cid}/reabrir", headers=auth(bia))
    assert r.status_code == 200 and body(r)["conversa"]["status"] == "ativa"
    assert published[-1][0] == "conversation:updated"
    assert client.http.post(f"/conversas/{cid}/reabrir", headers=auth(bia)).status_code == 409
    tipos = [e["tipo"] for e in db.query("SELECT tipo FROM eventos ORDER BY created_at, tipo")]
    assert tipos.count("conversa_encerrada") == 1 and tipos.count("conversa_reaberta") == 1


def test_unknown_conversation_is_404_for_every_action(client):
    ana = make_admin("Ana")
    missing = "00000000-0000-0000-0000-000000000000"
    for action in ("atribuir", "liberar", "encerrar", "reabrir"):
        assert client.http.post(f"/conversas/{missing}/{action}", headers=auth(ana)).status_code == 404, action


def test_ensure_can_send_takes_unassigned_and_refuses_others(db_clean, published):
    ana, bia = make_admin("Ana"), make_admin("Bia")
    conversa = make_conversa(make_contato())
    row = assignment.ensure_can_send(str(conversa["id"]), str(ana["id"]))
    assert row["atendente_id"] == ana["id"]
    assert published[-1][0] == "conversation:assigned"
    assert assignment.ensure_can_send(str(conversa["id"]), str(ana["id"]))["atendente_id"] == ana["id"]
    with pytest.raises(ApiError) as exc:
        assignment.ensure_can_send(str(conversa["id"]), str(bia["id"]))
    assert exc.value.status == 409 and exc.value.code == "AssignedToOther"
    db.execute(
        "UPDATE conversas SET status = 'encerrada', closed_at = :t WHERE id = :id",
        t=datetime.now(UTC),
        id=conversa["id"],
    )
    with pytest.raises(ApiError) as exc:
        assignment.ensure_can_send(str(conversa["id"]), str(ana["id"]))
    assert exc.value.code == "ConversationClosed"


def test_publish_failure_does_not_fail_the_request(client, monkeypatch):
    from chalicelib.services import realtime
    from tests.live_capture import drain_on_nudge

    drain_on_nudge(monkeypatch)

    def boom(events, **_):
        raise RuntimeError("gateway down")

    monkeypatch.setattr(realtime, "audience", lambda: ["c1"])
    monkeypatch.setattr(realtime, "publish_many", boom)
    ana = make_admin("Ana")
    cid = make_conversa(make_contato())["id"]
    assert client.http.post(f"/conversas/{cid}/atribuir", headers=auth(ana)).status_code == 200
    assert db.scalar("SELECT atendente_id FROM conversas WHERE id = :id", id=cid) == ana["id"]


def test_a_database_error_mid_assignment_leaves_nothing_half_written(db_clean, published, monkeypatch):
    from chalicelib.repositories import eventos

    registrar = eventos.record
    failing = [True]

    def broken(*args, **kwargs):
        if failing[0]:
            raise RuntimeError("eventos insert failed")
        return registrar(*args, **kwargs)

    monkeypatch.setattr(eventos, "record", broken)
    ana = make_admin("Ana")
    cid = make_conversa(make_contato())["id"]
    with pytest.raises(RuntimeError):
        assignment.assign(str(cid), str(ana["id"]))
    # The UPDATE that took it was rolled back with the failed event row; nothing was announced.
    assert db.query_one("SELECT atendente_id, atribuida_em FROM conversas WHERE id = :id", id=cid) == {
        "atendente_id": None,
        "atribuida_em": None,
    }
    assert published == []
    failing[0] = False
    assert assignment.assign(str(cid), str(ana["id"]))["alterada"] is True  # and it can simply be retried
    assert [e for e, _ in published] == ["conversation:assigned"]


def test_transfer_to_oneself_changes_nothing_and_records_nothing(client, published):
    ana = make_admin("Ana")
    cid = make_conversa(make_contato())["id"]
    client.http.post(f"/conversas/{cid}/atribuir", headers=auth(ana))
    to_self = dumps({"atendente_id": str(ana["id"])})
    r = client.http.post(f"/conversas/{cid}/transferir", headers=auth(ana), body=to_self)
    assert r.status_code == 200 and body(r)["conversa"]["atendente_id"] == str(ana["id"])
    assert _eventos("conversa_transferida") == []
    assert [e for e, _ in published] == ["conversation:assigned"]  # the take only
