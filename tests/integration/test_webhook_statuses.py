"""Delivery statuses, orphan statuses and template status updates."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import payloads as wa
from tests.integration.webhook_support import count, one, rows

ANA = "5511987654321"


@pytest.fixture
def outbound(webhook):
    """An outbound message as the sending stream stores it (pendente, with its wamid)."""
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    conversa = one("SELECT id FROM conversas")["id"]
    wamid = wa.new_wamid()
    rows(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
        " VALUES (:c, 'saida', 'Olá! Como posso ajudar?', 'texto', :w, 'pendente') RETURNING id",
        c=conversa,
        w=wamid,
    )
    return wamid


def _message(wamid):
    return one("SELECT status_envio, billing_category, dados FROM mensagens WHERE whatsapp_id = :w", w=wamid)


def test_statuses_out_of_order_end_as_read(webhook, outbound):
    for word in ("read", "delivered", "sent"):
        webhook.deliver(wa.value(statuses=[wa.status(outbound, word, category="utility")]))
    msg = _message(outbound)
    assert msg["status_envio"] == "lida"
    assert set(msg["dados"]["statuses"]) == {"read", "delivered", "sent"}
    assert msg["billing_category"] == "utility"
    assert one("SELECT billing_category FROM conversas")["billing_category"] == "utility"


def test_statuses_in_one_payload_take_the_furthest(webhook, outbound):
    sts = [wa.status(outbound, w) for w in ("delivered", "read", "sent")]
    webhook.deliver(wa.value(statuses=sts))
    assert _message(outbound)["status_envio"] == "lida"


def test_failed_after_delivered_stays_delivered_with_error_kept(webhook, outbound):
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "delivered")]))
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "failed", errors=wa.failed_error(131026))]))
    msg = _message(outbound)
    assert msg["status_envio"] == "entregue"
    assert msg["dados"]["errors"][0]["code"] == 131026
    assert msg["dados"]["statuses"]["failed"]["errors"][0]["error_data"]["details"]


def test_failed_before_delivery_fails(webhook, outbound):
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "sent")]))
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "failed", errors=wa.failed_error(131047))]))
    assert _message(outbound)["status_envio"] == "falhou"
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "sent")]))  # late: does not undo the failure
    assert _message(outbound)["status_envio"] == "falhou"


def test_played_follows_read(webhook, outbound):
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "played")]))
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "read")]))
    assert _message(outbound)["status_envio"] == "reproduzida"


def test_unknown_status_is_kept_without_changing_anything(webhook, outbound):
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "delivered")]))
    response = webhook.post(wa.envelope(wa.value(statuses=[wa.status(outbound, "warning")])))
    assert response.status_code == 200
    msg = _message(outbound)
    assert msg["status_envio"] == "entregue" and "warning" in msg["dados"]["statuses"]


def test_pricing_category_variants(webhook, outbound):
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "sent", category="marketing_lite")]))
    assert _message(outbound)["billing_category"] == "marketing"
    webhook.deliver(wa.value(statuses=[wa.status(outbound, "delivered", category="referral_conversion")]))
    msg = _message(outbound)
    assert msg["billing_category"] == "marketing"  # unknown category: raw kept, column unchanged
    assert msg["dados"]["statuses"]["delivered"]["pricing"]["category"] == "referral_conversion"


def test_orphan_status_waits_and_is_applied_when_the_message_appears(webhook):
    from chalicelib import db
    from chalicelib.repositories import mensagens

    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    wamid = wa.new_wamid()
    webhook.deliver(wa.value(statuses=[wa.status(wamid, "delivered", category="marketing")]))
    webhook.deliver(wa.value(statuses=[wa.status(wamid, "sent")]))
    webhook.deliver(wa.value(statuses=[wa.status(wamid, "sent")]))  # redelivered: kept once
    assert count("whatsapp_status_pendentes") == 2
    # The send call returns and stores its wamid, then applies what waited.
    with db.transaction():
        rows(
            "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
            " SELECT id, 'saida', 'promo', 'template', :w, 'pendente' FROM conversas RETURNING id",
            w=wamid,
        )
        applied = mensagens.apply_pending_statuses([wamid])
    assert [(a["whatsapp_id"], a["status_envio"], a["billing_category"]) for a in applied] == [
        (wamid, "entregue", "marketing")
    ]
    assert _message(wamid)["status_envio"] == "entregue"
    assert count("whatsapp_status_pendentes") == 0
    assert mensagens.apply_pending_statuses([wamid]) == []


def test_apply_pending_without_ids_sweeps_every_matchable(webhook, outbound):
    from chalicelib.repositories import mensagens

    stranger = wa.new_wamid()
    webhook.deliver(wa.value(statuses=[wa.status(stranger, "read")]))
    rows("UPDATE mensagens SET whatsapp_id = :s WHERE whatsapp_id = :w RETURNING id", s=stranger, w=outbound)
    assert [a["status_envio"] for a in mensagens.apply_pending_statuses()] == ["lida"]


def test_template_status_update_changes_the_template(webhook):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000001', 'boas_vindas', 'utility', 'pending', 'pt_BR') RETURNING id"
    )
    update = wa.template_status_update("boas_vindas", event="APPROVED", template_id="900000000000001")
    summary = webhook.deliver(("message_template_status_update", update))
    assert summary["templates"] == 1
    assert one("SELECT status FROM templates")["status"] == "approved"
    webhook.deliver(("message_template_status_update", wa.template_status_update("boas_vindas", event="PAUSED")))
    assert one("SELECT status FROM templates")["status"] == "paused"
    # An event with no template_status (e.g. FLAGGED) changes nothing and is not an error.
    webhook.deliver(("message_template_status_update", wa.template_status_update("boas_vindas", event="FLAGGED")))
    assert one("SELECT status FROM templates")["status"] == "paused"


def test_value_level_errors_are_recorded(webhook):
    errors = [{"code": 131000, "title": "Something went wrong", "message": "Something went wrong"}]
    webhook.deliver(wa.value(errors=errors))
    assert one("SELECT dados FROM eventos WHERE tipo = 'whatsapp_erro'")["dados"]["errors"][0]["code"] == 131000


_ORDER = ["sent", "failed", "delivered", "read", "played"]  # pendente < enviada < falhou < entregue < ...
_NAMES = {"sent": "enviada", "failed": "falhou", "delivered": "entregue", "read": "lida", "played": "reproduzida"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(_ORDER), min_size=1, max_size=6), batch=st.booleans())
def test_any_arrival_order_ends_at_the_furthest_status(webhook, words, batch):
    if count("conversas") == 0:
        webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    wamid = wa.new_wamid()
    rows(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
        " SELECT id, 'saida', 'olá', 'texto', :w, 'pendente' FROM conversas LIMIT 1 RETURNING id",
        w=wamid,
    )
    statuses = [wa.status(wamid, w) for w in words]
    if batch:
        webhook.deliver(wa.value(statuses=statuses))
    else:
        for s in statuses:
            webhook.deliver(wa.value(statuses=[s]))
    expected = _NAMES[max(words, key=_ORDER.index)]
    assert _message(wamid)["status_envio"] == expected


def test_status_arriving_while_the_send_stores_its_wamid_is_not_lost(webhook):
    """The sender holds its transaction open (message inserted, pending applied) while the
    status arrives: the webhook waits for it and then sees the message; nothing stays pending."""
    import threading
    import time

    from chalicelib import db
    from chalicelib.repositories import mensagens
    from chalicelib.services import inbound

    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    conversa = one("SELECT id FROM conversas")["id"]
    wamid = wa.new_wamid()
    inside = threading.Event()
    errors: list[BaseException] = []

    def sender():
        try:
            with db.transaction():
                rows(
                    "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
                    " VALUES (:c, 'saida', 'olá', 'texto', :w, 'pendente') RETURNING id",
                    c=conversa,
                    w=wamid,
                )
                mensagens.apply_pending_statuses([wamid])
                inside.set()
                time.sleep(0.5)  # the status arrives now
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    def status():
        try:
            inside.wait(5)
            inbound.handle_payload(wa.envelope(wa.value(statuses=[wa.status(wamid, "delivered")])))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=sender), threading.Thread(target=status)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert _message(wamid)["status_envio"] == "entregue"
    assert count("whatsapp_status_pendentes") == 0


def test_status_with_an_odd_part_is_still_applied(webhook, outbound):
    raw = wa.status(outbound, "failed", errors=wa.failed_error(131026))
    raw["pricing"] = "gratuito"
    raw["conversation"] = ["não", "objeto"]
    webhook.deliver(wa.value(statuses=[raw]))
    msg = _message(outbound)
    assert msg["status_envio"] == "falhou" and msg["dados"]["errors"][0]["code"] == 131026
    assert msg["dados"]["statuses"]["failed"]["pricing"] == "gratuito"


def test_value_level_errors_are_recorded_once(webhook):
    errors = [{"code": 131000, "title": "Something went wrong", "message": "Something went wrong"}]
    payload = wa.envelope(wa.value(errors=errors))
    for _ in range(2):
        assert webhook.post(payload).status_code == 200
    assert count("eventos WHERE tipo = 'whatsapp_erro'") == 1


def test_template_quality_category_and_unknown_fields_are_kept(webhook):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000001', 'boas_vindas', 'utility', 'approved', 'pt_BR') RETURNING id"
    )
    payload = wa.envelope(
        ("message_template_quality_update", wa.template_quality_update("boas_vindas", new="RED")),
        ("template_category_update", wa.template_category_update("boas_vindas")),
        ("message_template_status_update", wa.template_status_update("boas_vindas", event="FLAGGED")),
        ("account_update", {"phone_number": "5511940000000", "event": "ACCOUNT_VIOLATION"}),
        ("campo_do_futuro", {"qualquer": ["coisa"]}),
    )
    for _ in range(2):  # redelivered: still one row each
        assert webhook.post(payload).status_code == 200
    kept = {r["tipo"]: r["dados"] for r in rows("SELECT tipo, dados FROM eventos WHERE contato_id IS NULL")}
    assert set(kept) == {
        "template_qualidade",
        "template_categoria",
        "template_status",
        "whatsapp_conta",
        "whatsapp_webhook",
    }
    assert count("eventos") == 5
    assert kept["template_qualidade"]["value"]["new_quality_score"] == "RED"
    assert kept["template_categoria"]["value"]["new_category"] == "MARKETING"
    assert kept["template_status"]["value"]["event"] == "FLAGGED"
    assert kept["whatsapp_webhook"] == {
        "field": "campo_do_futuro",
        "entry_id": wa.DEFAULT_WABA_ID,
        "value": {"qualquer": ["coisa"]},
    }
    assert one("SELECT status FROM templates")["status"] == "approved"  # FLAGGED changes no column


def test_template_rejection_reason_is_kept(webhook):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000009', 'promo', 'marketing', 'pending', 'pt_BR') RETURNING id"
    )
    update = wa.template_status_update("promo", event="REJECTED", template_id="900000000000009", reason="ABUSIVE")
    webhook.deliver(("message_template_status_update", update))
    assert one("SELECT status FROM templates")["status"] == "rejected"
    assert one("SELECT dados FROM eventos WHERE tipo = 'template_status'")["dados"]["value"]["reason"] == "ABUSIVE"


def test_account_changes_of_another_waba_are_ignored(webhook):
    rows(
        "INSERT INTO templates (whatsapp_id, name, category, status, language)"
        " VALUES ('900000000000001', 'boas_vindas', 'utility', 'pending', 'pt_BR') RETURNING id"
    )
    update = wa.template_status_update("boas_vindas", event="APPROVED")
    webhook.deliver(("message_template_status_update", update), waba_id="999999999999999")
    assert one("SELECT status FROM templates")["status"] == "pending" and count("eventos") == 0


def test_status_updates_are_hot_updates(webhook):
    """No index names a column a status changes, and pages keep room: after a message's first
    status, its later ones update the row in place (HOT: no new index entries)."""
    from chalicelib import db

    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    conversa = one("SELECT id FROM conversas")["id"]
    wamids = [wa.new_wamid() for _ in range(200)]
    db.execute(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
        " SELECT :c, 'saida', 'Olá!', 'texto', w, 'pendente' FROM unnest(CAST(:w AS text[])) AS w",
        c=conversa,
        w=wamids,
    )

    def counters() -> tuple[int, int]:
        db.scalar("SELECT pg_stat_force_next_flush()")
        db.scalar("SELECT pg_stat_clear_snapshot()")
        row = db.query_one("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'mensagens'")
        return row["n_tup_hot_upd"], row["n_tup_upd"]

    rounds = []
    for word in ("sent", "delivered", "read"):  # as WhatsApp reports a broadcast, one round after another
        before = counters()
        for start in range(0, len(wamids), 50):
            statuses = [wa.status(w, word, category="utility") for w in wamids[start : start + 50]]
            webhook.deliver(wa.value(statuses=statuses))
        after = counters()
        rounds.append((after[0] - before[0], after[1] - before[1]))
    assert all(updated >= 200 for _, updated in rounds)
    # Before 0012 no status update was HOT (an index named status_envio). Now every round has
    # HOT updates, more as pages make room by pruning the versions of earlier rounds.
    assert all(hot > 0 for hot, _ in rounds), rounds
    assert rounds[-1][0] >= 0.5 * rounds[-1][1], rounds
    assert one("SELECT count(*) AS n FROM mensagens WHERE status_envio = 'lida'")["n"] == 200
