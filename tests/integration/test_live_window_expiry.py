"""handle_window_expiry: set-based, idempotent, announced; enforcement never waits for it."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.live_helpers import make_admin, make_conversa, token_for


def _bulk_expired(n: int) -> None:
    """n contacts, each with an ativa conversation whose window closed 1 to n minutes ago."""
    from chalicelib import db

    db.execute(
        "WITH c AS (INSERT INTO contatos (telefone) SELECT '+5511' || (900000000 + g) FROM generate_series(1, :n) g"
        " RETURNING id)"
        " INSERT INTO conversas (contato_id, window_expires_at)"
        " SELECT id, now() - make_interval(mins => (row_number() OVER ())::int) FROM c",
        n=n,
    )


def _eventos(tipo: str = "janela_expirada") -> int:
    from chalicelib import db

    return db.scalar("SELECT count(*) FROM eventos WHERE tipo = :tipo", tipo=tipo)


def test_ten_thousand_expired_windows_are_handled_in_one_run_and_none_twice(db_clean):
    from chalicelib.services.window_expiry import expire_windows

    _bulk_expired(10_000)
    open_window = make_conversa(window_seconds=3600)

    # A deadline no machine reaches: what is tested is one run, batch after batch, each window
    # once. The deadline itself is the next test's; the speed is bench/'s, not a test's.
    handled = expire_windows(deadline_seconds=600)

    assert len(handled) == 10_000
    assert len({str(row["conversa_id"]) for row in handled}) == 10_000
    assert str(open_window["id"]) not in {str(row["conversa_id"]) for row in handled}
    assert _eventos() == 10_000

    assert expire_windows() == []
    assert _eventos() == 10_000


def test_a_backlog_goes_in_bounded_batches_and_what_the_deadline_leaves_waits_for_the_next_run(db_clean, monkeypatch):
    from chalicelib.repositories import window_expiry as repo
    from chalicelib.services.window_expiry import expire_windows

    _bulk_expired(2_500)
    sizes: list[int] = []
    real = repo.handle_expired
    monkeypatch.setattr(repo, "handle_expired", lambda limit: sizes.append(limit) or real(limit))
    assert len(expire_windows(batch_size=1_000, deadline_seconds=0)) == 1_000  # the deadline stops it
    assert sizes == [1_000]
    sizes.clear()
    assert len(expire_windows(batch_size=1_000)) == 1_500  # the next run finishes
    assert sizes == [1_000, 1_000]  # short statements; the last one finds 500
    assert _eventos() == 2_500 and expire_windows() == []


def test_closed_conversations_and_never_opened_windows_are_not_announced(db_clean):
    from chalicelib import db
    from chalicelib.services.window_expiry import expire_windows

    encerrada = make_conversa(window_seconds=-60)
    db.execute("UPDATE conversas SET status = 'encerrada', closed_at = now() WHERE id = :id", id=encerrada["id"])
    make_conversa(window_seconds=None)

    assert expire_windows() == []


def test_a_window_renewed_by_the_customer_is_announced_again_when_it_closes_again(db_clean):
    from chalicelib import db
    from chalicelib.services.window_expiry import expire_windows

    conversa = make_conversa(window_seconds=-60)
    assert [str(r["conversa_id"]) for r in expire_windows()] == [str(conversa["id"])]

    # A new customer message moved the window; it has since passed again.
    db.execute("UPDATE conversas SET window_expires_at = now() - interval '1 second' WHERE id = :id", id=conversa["id"])

    assert [str(r["conversa_id"]) for r in expire_windows()] == [str(conversa["id"])]
    assert _eventos() == 2


def test_the_event_row_and_the_live_event_carry_the_window(db_clean, monkeypatch):
    from websockets.sync.client import connect

    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime
    from chalicelib.services.window_expiry import expire_windows
    from devstack.ws_gateway import LocalWebSocketGateway
    from tests.live_capture import drain_on_nudge, recv_event

    drain_on_nudge(monkeypatch)
    conversa = make_conversa(window_seconds=-60)
    updated_before = db.scalar("SELECT updated_at FROM conversas WHERE id = :id", id=conversa["id"])
    gateway = LocalWebSocketGateway().start()
    try:
        monkeypatch.setenv("WS_MANAGEMENT_URL", gateway.management_url)
        reset_settings()
        realtime.reset_client()
        with connect(f"{gateway.url}/?token={token_for(make_admin())}") as ws:
            time.sleep(0.1)
            expire_windows()
            message = recv_event(ws)
    finally:
        gateway.stop()
        monkeypatch.delenv("WS_MANAGEMENT_URL")
        reset_settings()

    assert message["type"] == "conversation:window_closed"
    assert message["data"]["conversa_id"] == str(conversa["id"])
    assert message["data"]["contato_id"] == str(conversa["contato_id"])
    assert message["data"]["window_expires_at"].startswith(conversa["window_expires_at"].strftime("%Y-%m-%dT%H:%M"))
    evento = db.query_one("SELECT contato_id, dados FROM eventos WHERE tipo = 'janela_expirada'")
    assert evento["contato_id"] == conversa["contato_id"]
    assert evento["dados"]["conversa_id"] == str(conversa["id"])
    # Announcing is not an edit: the inbox order (updated_at) must not change.
    assert db.scalar("SELECT updated_at FROM conversas WHERE id = :id", id=conversa["id"]) == updated_before


def test_the_cli_and_the_scheduled_handler_run_the_job(db_clean, capsys):
    from chalice.local import LambdaContext

    import app
    from chalicelib.cli import main

    make_conversa(window_seconds=-60)
    assert main(["expire-windows"]) == 0
    assert "1 janela(s)" in capsys.readouterr().out

    make_conversa(window_seconds=-30)
    event = {
        **{"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events"},
        **{"account": "0", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}},
    }
    handler = app.app.handler_map["handle_window_expiry"]  # what the deployed rule invokes
    # The same run sweeps unconfirmed sends (test_send_sweep): none here.
    assert handler(event, LambdaContext("handle_window_expiry", 256)) == {
        "handled": 1,
        "envios_recuperados": 0,
        "envios_sem_confirmacao": 0,
        "chaves_concluidas": 0,
        "statuses_aplicados": 0,
        "statuses_orfaos_removidos": 0,
        "outbox_renudged": 0,  # the outbox's rows are fresh: nothing lost its nudge
    }


@pytest.mark.parametrize("assigned", [False, True])
def test_sending_free_text_is_refused_once_the_window_passed_even_if_the_job_never_ran(db_clean, assigned):
    from chalice.test import Client

    import app

    admin_id = make_admin()
    conversa = make_conversa(window_seconds=-1, atendente_id=admin_id if assigned else None)
    with Client(app.app) as client:
        response = client.http.post(
            f"/conversas/{conversa['id']}/mensagens",
            headers={"Authorization": f"Bearer {token_for(admin_id)}", "Content-Type": "application/json"},
            body=json.dumps({"tipo": "texto", "conteudo": "Olá!"}),
        )
    assert response.status_code == 409, response.body
    assert json.loads(response.body)["Code"] == "WindowClosed"
    assert _eventos() == 0  # the job did not run: the API decided by itself


def test_a_backlog_is_one_outbox_row_per_batch_and_leaves_the_job_at_once(db_clean, monkeypatch):
    """Thousands of announcements after an outage are the drain's work, not the job's: each
    batch commits one outbox row, and the drain delivers them in one round of frames."""
    from chalicelib import db
    from chalicelib.services import outbox, window_expiry
    from tests.live_capture import capture_live_events

    nudges = []
    monkeypatch.setattr(outbox, "nudge", lambda: nudges.append(1) or True)
    for _ in range(5):
        make_conversa(window_seconds=-60)

    window_expiry.expire_windows(batch_size=2)

    rows = db.query("SELECT itens FROM outbox ORDER BY id")
    assert [len(r["itens"]) for r in rows] == [2, 2, 1]
    assert {i[0] for r in rows for i in r["itens"]} == {"conversation:window_closed"}
    assert len(nudges) == 3  # one per committed batch (the queue deduplicates a burst)

    published = capture_live_events(monkeypatch)
    outbox.drain()
    assert [e for e, _ in published] == ["conversation:window_closed"] * 5
    assert len(published.calls) == 1
    assert db.scalar("SELECT count(*) FROM outbox") == 0


def test_under_stage_local_without_make_run_the_cli_says_so_and_marks_nothing(db_clean, capsys, monkeypatch):
    """Marking windows announced with no gateway to announce them would lose the events."""
    from chalicelib import db
    from chalicelib.cli import main
    from devstack.stack import free_port

    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("WS_MANAGEMENT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # keep the CLI off any real AWS
    make_conversa(window_seconds=-60)
    assert main(["expire-windows"]) == 1
    assert "não responde" in capsys.readouterr().err
    assert _eventos() == 0
    assert db.scalar("SELECT count(*) FROM conversas WHERE window_closed_handled_for IS NOT NULL") == 0


def test_under_stage_local_the_cli_reaches_make_runs_gateway(db_clean, capsys, monkeypatch):
    from chalicelib.cli import main
    from devstack.ws_gateway import LocalWebSocketGateway

    gateway = LocalWebSocketGateway(port=0, management_port=0).start()
    try:
        monkeypatch.setenv("STAGE", "local")
        monkeypatch.setenv("WS_MANAGEMENT_URL", gateway.management_url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        make_conversa(window_seconds=-60)
        assert main(["expire-windows"]) == 0
        assert "1 janela(s)" in capsys.readouterr().out
    finally:
        gateway.stop()
