"""A send recording its wamid and the status webhook for that wamid serialise on one lock.

The send stores the wamid and applies the statuses that raced ahead of it in one transaction
under envios.lock_whatsapp_id; the webhook takes mensagens.lock_whatsapp_ids before looking for
the message. Both must be the same advisory lock, or a status can slip between the two steps."""

from __future__ import annotations

import threading
import time

from chalicelib import db
from chalicelib.repositories import envios, mensagens
from devstack import payloads as wa
from tests.integration.webhook_support import count, one, rows

ANA = "5511987654321"


def _waiting_advisory_locks() -> int:
    return db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _in_thread(fn, errors: list[BaseException]) -> threading.Thread:
    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            db.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_send_and_the_webhook_take_the_same_lock_for_a_wamid(db_clean):
    wamid = wa.new_wamid()
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def sender():
        with db.transaction():
            envios.lock_whatsapp_id(wamid)
            held.set()
            release.wait(10)

    def webhook_side():
        with db.transaction():
            mensagens.lock_whatsapp_ids([wamid])

    first = _in_thread(sender, errors)
    assert held.wait(5)
    second = _in_thread(webhook_side, errors)
    try:
        assert _wait_for(lambda: _waiting_advisory_locks() == 1), "the webhook did not wait for the send"
        assert second.is_alive()
    finally:
        release.set()
        first.join(10)
        second.join(10)
    assert not errors, errors
    assert not second.is_alive()


def test_a_status_arriving_while_the_send_records_its_wamid_waits_and_is_applied(webhook):
    """The send holds its wamid lock (wamid stored, pending statuses applied) while the status
    webhook for that wamid arrives: the webhook waits for the commit, then finds the message."""
    from chalicelib.services import inbound

    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    conversa = one("SELECT id FROM conversas")["id"]
    mensagem = rows(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, status_envio)"
        " VALUES (:c, 'saida', 'olá', 'texto', 'pendente') RETURNING id",
        c=conversa,
    )[0]["id"]
    wamid = wa.new_wamid()
    recorded, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def sender():  # sending._deliver's recording step, held open
        with db.transaction():
            envios.lock_whatsapp_id(wamid)
            envios.mark_sent(str(mensagem), wamid, {})
            mensagens.apply_pending_statuses([wamid])
            recorded.set()
            release.wait(10)

    def status():
        inbound.handle_payload(wa.envelope(wa.value(statuses=[wa.status(wamid, "delivered")])))

    first = _in_thread(sender, errors)
    assert recorded.wait(5)
    second = _in_thread(status, errors)
    try:
        assert _wait_for(lambda: _waiting_advisory_locks() == 1), "the status did not wait for the send"
        assert second.is_alive()
    finally:
        release.set()
        first.join(10)
        second.join(30)
    assert not errors, errors
    got = one("SELECT status_envio, whatsapp_id FROM mensagens WHERE id = CAST(:id AS uuid)", id=str(mensagem))
    assert got == {"status_envio": "entregue", "whatsapp_id": wamid}
    assert count("whatsapp_status_pendentes") == 0
