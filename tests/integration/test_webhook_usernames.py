"""Usernames and BSUIDs (issue 11) through the real webhook and PostgreSQL: contacts without a
phone, completion, merging (also under concurrent deliveries), BSUID changes, statuses by
recipient_user_id, and the payloads Meta documents for them (docs/identity.md)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from devstack import payloads as wa
from tests.integration.webhook_support import count, one, rows

BSUID = "BR.1502576394655843"
OUTRO_BSUID = "BR.9988776655443322"
PAI = "BR.ENT.11815799212886844830"
ANA = "5511987654321"
ANA_E164 = "+5511987654321"


@pytest.fixture
def pushed(monkeypatch):
    """Web Push targets as push.notify_inbound builds them (the real query), not sent."""
    from chalicelib import db
    from chalicelib.services import push

    admin = db.scalar(
        "INSERT INTO administradores (nome, email, senha_hash) VALUES ('Ana', 'ana@escola.com.br', 'x') RETURNING id"
    )
    db.execute(
        "INSERT INTO push_subscriptions (admin_id, endpoint, p256dh, auth)"
        " VALUES (:a, 'https://push.example/ana', 'p256dh', 'auth')",
        a=admin,
    )
    sent: list[tuple[dict, dict]] = []
    monkeypatch.setattr(push, "send", lambda targets, deadline=None: sent.extend(targets) or {"sent": len(targets)})
    # The drain pushes only where VAPID is configured (push.wanted).
    from chalicelib.config import reset_settings

    monkeypatch.setenv("VAPID_PRIVATE_KEY", "configured")
    reset_settings()
    yield sent
    monkeypatch.undo()
    reset_settings()


def contato() -> dict:
    return one("SELECT * FROM contatos")


# First contact without a phone ----------------------------------------------------------------
def test_bsuid_only_first_contact_creates_contact_conversation_message_publishes_and_pushes(webhook, published, pushed):
    msg = wa.text(None, "Oi, vi o anúncio das aulas de violão", referral=wa.referral())
    summary = webhook.deliver(wa.username_value([msg], BSUID, username="joao.violao", parent_user_id=PAI))
    assert summary["mensagens"] == 1 and summary["conversas_novas"] == 1
    k = contato()
    assert k["telefone"] is None and k["wa_id"] is None
    assert (k["bsuid"], k["bsuid_pai"], k["username"]) == (BSUID, PAI, "joao.violao")
    assert k["nome_exibicao"] == "@joao.violao"  # no profile name: the username, never empty
    assert k["origem"] == "anuncio" and k["opt_in_status"] is True  # ads and consent as for phones
    m = one("SELECT * FROM mensagens")
    assert (m["conteudo"], m["direcao"]) == ("Oi, vi o anúncio das aulas de violão", "entrada")
    conversa = one("SELECT * FROM conversas")
    assert conversa["contato_id"] == k["id"] and conversa["nao_lidas"] == 1 and conversa["window_expires_at"]
    assert [e for e, _ in published] == ["conversation:new", "message:new"]
    item = published[0][1]["conversa"]["contato"]  # the inbox item, as GET /conversas lists it
    assert (item["id"], item["nome"], item["telefone"]) == (str(k["id"]), None, None)
    assert (item["username"], item["bsuid"], item["nome_exibicao"]) == ("joao.violao", BSUID, "@joao.violao")
    assert [p["title"] for _, p in pushed] == ["@joao.violao"]
    criado = one("SELECT dados FROM eventos WHERE tipo = 'contato_criado'")["dados"]
    assert criado["bsuid"] == BSUID and criado["telefone"] is None
    # Redelivery changes nothing.
    published.clear()
    webhook.deliver(wa.username_value([dict(msg)], BSUID, username="joao.violao", parent_user_id=PAI))
    assert (count("contatos"), count("conversas"), count("mensagens")) == (1, 1, 1)
    assert published == []


def test_a_later_payload_with_the_phone_completes_the_same_contact_and_keeps_username_history(webhook):
    webhook.deliver(wa.username_value([wa.text(None, "oi")], BSUID, username="joao.violao"))
    webhook.deliver(wa.username_value([wa.text(None, "meu número")], BSUID, username="joao.musica", wa_id=ANA))
    k = contato()
    assert (k["bsuid"], k["telefone"], k["wa_id"], k["username"]) == (BSUID, ANA_E164, ANA, "joao.musica")
    assert count("conversas") == 1 and count("mensagens") == 2
    historico = one("SELECT dados FROM eventos WHERE tipo = 'username_alterado'")["dados"]
    assert historico == {"de": "joao.violao", "para": "joao.musica"}
    # The 12-digit form of the same Brazilian mobile, BSUID only in contacts[]: still one contact.
    msg = wa.text("551187654321", "sem o nove")
    webhook.deliver(wa.value([msg], contacts=[wa.user_contact(BSUID, wa_id="551187654321", name="João")]))
    k = contato()
    assert (k["telefone"], k["nome"], k["nome_exibicao"]) == (ANA_E164, "João", "João")
    assert count("mensagens") == 3 and count("contatos") == 1


def test_a_known_phone_contact_gets_its_bsuid_from_the_first_payload_that_carries_it(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "antes de abril")], profiles={ANA: "Ana"}))
    antes = contato()
    assert antes["bsuid"] is None
    webhook.deliver(wa.username_value([wa.text(None, "depois")], BSUID, wa_id=ANA, username=None, name="Ana"))
    k = contato()
    assert k["id"] == antes["id"] and k["bsuid"] == BSUID and k["nome"] == "Ana"
    assert count("conversas") == 1 and count("contatos") == 1


# Merging ----------------------------------------------------------------------------------------
def _two_contacts(webhook):
    """A phone contact (with a lead and an attendant's name) and a BSUID-only contact, both
    with an open conversation: until a payload names both identifiers, two people."""
    from chalicelib import db

    webhook.deliver(wa.value([wa.text(ANA, "sou a Ana", timestamp=1_763_000_000)], profiles={ANA: "Ana"}))
    fone = contato()
    db.execute("UPDATE contatos SET nome = 'Ana Paula (aluna)', nome_editado = true WHERE id = :id", id=fone["id"])
    db.execute(
        "INSERT INTO interessados (contato_id, nome, idade, instrumento_desejado, disponibilidade_horario)"
        " VALUES (:id, 'Ana', 30, 'violão', true)",
        id=fone["id"],
    )
    webhook.deliver(wa.username_value([wa.text(None, "oi", timestamp=1_763_000_100)], BSUID, username="ana.violao"))
    bsuid_only = one("SELECT * FROM contatos WHERE bsuid = :b", b=BSUID)
    assert count("contatos") == 2 and count("conversas") == 2
    return fone, bsuid_only


def test_a_payload_with_both_identifiers_merges_the_two_contacts_into_one(webhook, published):
    fone, bsuid_only = _two_contacts(webhook)
    published.clear()
    prova = wa.text(None, "agora com número", timestamp=1_763_000_200)
    webhook.deliver(wa.username_value([prova], BSUID, wa_id=ANA, username="ana.violao"))
    # Every inbox hears of both conversations: the one closed and the one that moved.
    eventos_conversa = [(e, d["conversa"]) for e, d in published if e.startswith("conversation:")]
    fechadas = [c for e, c in eventos_conversa if e == "conversation:closed"]
    assert len(fechadas) == 1 and fechadas[0]["status"] == "encerrada"
    assert len({c["id"] for _, c in eventos_conversa}) == 2
    assert {c["contato_id"] for _, c in eventos_conversa} == {str(fone["id"])}
    k = contato()  # one contact left: the older, with both identifiers and what each had
    assert k["id"] == fone["id"]
    assert (k["telefone"], k["bsuid"], k["username"], k["nome"]) == (ANA_E164, BSUID, "ana.violao", "Ana Paula (aluna)")
    assert one("SELECT count(*) AS n FROM interessados WHERE contato_id = :id", id=k["id"])["n"] == 1
    conversas = rows("SELECT * FROM conversas ORDER BY created_at")
    assert {c["contato_id"] for c in conversas} == {k["id"]}
    assert [c["status"] for c in conversas] == ["encerrada", "ativa"]  # one open: the latest active
    aberta = conversas[1]
    assert one("SELECT conversa_id FROM mensagens WHERE whatsapp_id = :w", w=prova["id"])["conversa_id"] == aberta["id"]
    assert count("mensagens") == 3
    assert rows("SELECT * FROM eventos WHERE contato_id = :id", id=bsuid_only["id"]) == []  # all moved
    mescla = one("SELECT * FROM eventos WHERE tipo = 'contatos_mesclados'")
    assert mescla["contato_id"] == k["id"]
    assert mescla["dados"]["absorvido_id"] == str(bsuid_only["id"])
    assert mescla["dados"]["conversa_encerrada_id"] == str(conversas[0]["id"])
    assert mescla["dados"]["motivo"] == "bsuid_e_telefone"
    # Redelivery merges nothing again and changes nothing.
    antes = rows("SELECT * FROM eventos ORDER BY id")
    webhook.deliver(wa.username_value([dict(prova)], BSUID, wa_id=ANA, username="ana.violao"))
    assert rows("SELECT * FROM eventos ORDER BY id") == antes
    assert (count("contatos"), count("conversas"), count("mensagens")) == (1, 2, 3)


def test_concurrent_deliveries_merge_once(webhook):
    from chalicelib import db
    from chalicelib.services import inbound

    for round_ in range(3):  # several rounds: the race must be hit, not hoped for
        db.execute("TRUNCATE contatos, conversas, mensagens, eventos, interessados CASCADE")
        _two_contacts(webhook)
        payload = wa.envelope(
            wa.username_value([wa.text(None, f"prova {round_}")], BSUID, wa_id=ANA, username="ana.violao")
        )
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def deliver(payload=payload, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                inbound.handle_payload(json.loads(json.dumps(payload)))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                db.close()

        threads = [threading.Thread(target=deliver) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert count("contatos") == 1
        assert one("SELECT count(*) AS n FROM eventos WHERE tipo = 'contatos_mesclados'")["n"] == 1
        assert one("SELECT count(*) AS n FROM conversas WHERE status = 'ativa'")["n"] == 1
        assert count("mensagens") == 3


def test_a_bsuid_change_system_message_keeps_one_contact(webhook):
    webhook.deliver(wa.username_value([wa.text(None, "oi")], BSUID, username="ana.violao"))
    antes = contato()
    mudanca = wa.system_user_id_change(BSUID, OUTRO_BSUID)
    webhook.deliver(wa.value([mudanca]))
    k = contato()
    assert k["id"] == antes["id"] and k["bsuid"] == OUTRO_BSUID
    evento = one("SELECT dados FROM eventos WHERE tipo = 'bsuid_alterado'")["dados"]
    assert (evento["de"], evento["para"], evento["whatsapp_id"]) == (BSUID, OUTRO_BSUID, mudanca["id"])
    webhook.deliver(wa.username_value([wa.text(None, "com o id novo")], OUTRO_BSUID, username="ana.violao"))
    assert count("contatos") == 1 and count("conversas") == 1 and count("mensagens") == 3
    webhook.deliver(wa.value([dict(mudanca)]))  # redelivery: nothing
    assert one("SELECT count(*) AS n FROM eventos WHERE tipo = 'bsuid_alterado'")["n"] == 1


def test_messages_from_the_new_bsuid_before_the_system_message_are_merged_by_it(webhook):
    webhook.deliver(wa.username_value([wa.text(None, "oi", timestamp=1_763_000_000)], BSUID, username="ana"))
    primeiro = contato()
    # Out of order: the new BSUID writes first (a second contact), then Meta's announcement.
    webhook.deliver(wa.username_value([wa.text(None, "novo", timestamp=1_763_000_300)], OUTRO_BSUID, username="ana"))
    assert count("contatos") == 2
    webhook.deliver(wa.value([wa.system_user_id_change(BSUID, OUTRO_BSUID, timestamp=1_763_000_200)]))
    k = contato()
    assert k["id"] == primeiro["id"] and k["bsuid"] == OUTRO_BSUID
    assert one("SELECT dados FROM eventos WHERE tipo = 'contatos_mesclados'")["dados"]["motivo"] == "bsuid_alterado"
    assert one("SELECT count(*) AS n FROM conversas WHERE status = 'ativa'")["n"] == 1


# Statuses ------------------------------------------------------------------------------------------
def test_a_status_with_only_recipient_user_id_applies_and_fills_a_missing_bsuid(webhook):
    from chalicelib import db

    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    k = contato()
    conversa = one("SELECT id FROM conversas")
    db.execute(
        "INSERT INTO mensagens (conversa_id, direcao, conteudo, tipo, whatsapp_id, status_envio)"
        " VALUES (:c, 'saida', 'Olá!', 'texto', 'wamid.nosso', 'enviada')",
        c=conversa["id"],
    )
    webhook.deliver(wa.value(statuses=[wa.status("wamid.nosso", "delivered", None, recipient_user_id=BSUID)]))
    assert one("SELECT status_envio FROM mensagens WHERE whatsapp_id = 'wamid.nosso'")["status_envio"] == "entregue"
    assert contato()["bsuid"] == BSUID and contato()["id"] == k["id"]
    webhook.deliver(wa.value(statuses=[wa.status("wamid.nosso", "read", None, recipient_user_id=OUTRO_BSUID)]))
    assert contato()["bsuid"] == BSUID  # filled once, never overwritten by a status


# user_preferences ------------------------------------------------------------------------------------
def test_signup_by_bsuid_only_is_an_opt_in_and_unknown_values_are_consent_evidence(webhook):
    webhook.deliver(wa.username_value([wa.text(None, "oi", timestamp=1_763_000_000)], BSUID, username="ana"))
    signup = wa.user_preferences(None, "signup", timestamp=1_763_000_100, user_id=BSUID)
    webhook.deliver(("user_preferences", signup))
    k = contato()
    assert (k["opt_in_status"], k["opt_in_source"]) == (True, "whatsapp_signup")
    evento = one("SELECT * FROM eventos WHERE tipo = 'opt_in' AND dados ->> 'source' = 'whatsapp_user_preferences'")
    assert evento["contato_id"] == k["id"] and evento["dados"]["user_preferences"]["value"] == "signup"
    stop = wa.user_preferences(None, "stop", timestamp=1_763_000_200, user_id=BSUID)
    webhook.deliver(("user_preferences", stop))
    assert contato()["opt_in_status"] is False
    desconhecida = wa.user_preferences(None, "talvez", timestamp=1_763_000_300, user_id=BSUID, category="novidades")
    webhook.deliver(("user_preferences", desconhecida))
    assert contato()["opt_in_status"] is False  # evidence only
    prova = one("SELECT * FROM eventos WHERE tipo = 'preferencia_whatsapp'")
    assert prova["contato_id"] == k["id"] and prova["dados"]["user_preferences"]["category"] == "novidades"
    n = count("eventos")
    for item in (signup, stop, desconhecida):  # redelivery: nothing new
        webhook.deliver(("user_preferences", item))
    assert count("eventos") == n and contato()["opt_in_status"] is False
    # Of someone we do not know yet: still recorded, without a contact.
    webhook.deliver(("user_preferences", wa.user_preferences(None, "signup", user_id=OUTRO_BSUID)))
    assert (
        one("SELECT contato_id FROM eventos WHERE dados -> 'user_preferences' ->> 'user_id' = :b", b=OUTRO_BSUID)[
            "contato_id"
        ]
        is None
    )


# Edits, revokes, echoes, orders, typeless locations ----------------------------------------------
def test_an_edit_changes_the_text_keeps_the_previous_one_and_publishes_message_updated(webhook, published):
    original = wa.text(ANA, "Aula na terça?", timestamp=1_763_000_000)
    webhook.deliver(wa.value([original]))
    published.clear()
    edicao = wa.edit(ANA, original["id"], "Aula na quarta?", timestamp=1_763_000_060)
    summary = webhook.deliver(wa.value([edicao]))
    assert summary["mensagens"] == 0 and summary["alteradas"] == 1
    m = one("SELECT * FROM mensagens")  # not a message of its own
    assert m["conteudo"] == "Aula na quarta?"
    assert [(e["conteudo_anterior"], e["conteudo"], e["whatsapp_id"]) for e in m["dados"]["edicoes"]] == [
        ("Aula na terça?", "Aula na quarta?", edicao["id"])
    ]
    assert [e for e, _ in published] == ["message:updated"]
    assert published[0][1]["mensagem"]["conteudo"] == "Aula na quarta?"
    assert published[0][1]["conversa_id"] == str(m["conversa_id"])
    published.clear()
    webhook.deliver(wa.value([dict(edicao)]))  # redelivery: nothing changes, nothing published
    assert one("SELECT * FROM mensagens") == m and published == []


def test_an_edit_of_an_unknown_message_waits_and_applies_when_the_original_arrives(webhook, published):
    original = wa.text(ANA, "Quanto custa?", timestamp=1_763_000_000)
    webhook.deliver(wa.value([wa.edit(ANA, original["id"], "Quanto custa o violão?", timestamp=1_763_000_030)]))
    assert count("mensagens") == 0
    assert one("SELECT * FROM mensagens_alteracoes")["aplicada_em"] is None
    published.clear()
    webhook.deliver(wa.value([original]))
    m = one("SELECT * FROM mensagens")
    assert (
        m["conteudo"] == "Quanto custa o violão?" and m["dados"]["edicoes"][0]["conteudo_anterior"] == "Quanto custa?"
    )
    assert [e for e, _ in published] == ["conversation:new", "message:new", "message:updated"]
    assert one("SELECT * FROM mensagens_alteracoes")["aplicada_em"] is not None


def test_a_revoke_hides_the_text_and_later_edits_do_not_bring_it_back(webhook, published):
    original = wa.text(ANA, "meu CPF é 123", timestamp=1_763_000_000)
    webhook.deliver(wa.value([original]))
    published.clear()
    revogacao = wa.revoke(ANA, original["id"], timestamp=1_763_000_010)
    webhook.deliver(wa.value([revogacao]))
    m = one("SELECT * FROM mensagens")
    assert m["conteudo"] == "" and "raw" not in m["dados"]
    assert m["dados"]["revogada"]["whatsapp_id"] == revogacao["id"]
    assert "123" not in json.dumps(m["dados"], default=str)
    assert [e for e, _ in published] == ["message:updated"]
    webhook.deliver(wa.value([wa.edit(ANA, original["id"], "meu CPF é 456", timestamp=1_763_000_005)]))
    assert one("SELECT conteudo FROM mensagens")["conteudo"] == ""
    published.clear()
    webhook.deliver(wa.value([dict(revogacao)]))
    assert one("SELECT dados FROM mensagens")["dados"]["revogada"]["whatsapp_id"] == revogacao["id"]
    assert published == []


def test_echoes_are_outbound_messages_in_order_count_as_our_reply_and_are_never_sent(webhook, published):
    pergunta = wa.text(ANA, "Tem aula sábado?", timestamp=1_763_000_000)
    webhook.deliver(wa.value([pergunta]))
    assert one("SELECT nao_lidas FROM conversas")["nao_lidas"] == 1
    eco1 = wa.echo(ANA, "Temos sim, às 10h!", timestamp=1_763_000_100)
    eco2 = wa.echo(ANA, "Quer agendar?", timestamp=1_763_000_100)
    webhook.deliver(wa.echoes(eco1, eco2))
    stored = rows("SELECT * FROM mensagens ORDER BY created_at, seq")
    assert [(m["direcao"], m["conteudo"]) for m in stored] == [
        ("entrada", "Tem aula sábado?"),
        ("saida", "Temos sim, às 10h!"),
        ("saida", "Quer agendar?"),
    ]
    for m in stored[1:]:
        assert m["status_envio"] == "enviada" and m["enviado_por"] is None
        assert m["dados"]["origem"] == "whatsapp_business_app"
    conversa = one("SELECT * FROM conversas")
    assert conversa["nao_lidas"] == 0  # answered
    assert count("contatos") == 1 and count("conversas") == 1
    webhook.deliver(wa.echoes(dict(eco1), dict(eco2)))  # redelivery
    assert count("mensagens") == 3
    # Never re-sent: nothing for the unconfirmed-send sweep.
    assert rows("SELECT id FROM mensagens WHERE status_envio = 'pendente'") == []
    # The cost report does not bill them (Meta does not bill app messages to the Cloud API).
    from chalicelib.repositories import custos

    totals = [r for r in custos.report(dt.date(2025, 11, 1), dt.date(2025, 11, 30), "month", "UTC") if r["sem_periodo"]]
    assert all(r["mensagens"] == 0 for r in totals)


def test_an_echo_to_a_username_user_files_into_its_conversation(webhook):
    webhook.deliver(wa.username_value([wa.text(None, "oi")], BSUID, username="ana"))
    webhook.deliver(wa.echoes(wa.echo(None, "Olá, Ana!", to_user_id=BSUID)))
    assert count("contatos") == 1 and count("conversas") == 1
    assert [m["direcao"] for m in rows("SELECT direcao FROM mensagens ORDER BY created_at, seq")] == [
        "entrada",
        "saida",
    ]


def test_a_location_without_type_is_stored_as_a_location(webhook):
    msg = wa.location(ANA)
    del msg["type"]
    webhook.deliver(wa.value([msg]))
    m = one("SELECT * FROM mensagens")
    assert (m["tipo"], m["media_type"], m["conteudo"]) == ("media", "location", "Escola de Música - Av. Paulista, 1000")
    assert m["dados"]["location"]["latitude"] == -23.561414
    webhook.deliver(wa.value([dict(msg)]))
    assert count("mensagens") == 1


def test_an_order_is_readable_and_its_redelivery_changes_nothing(webhook):
    msg = wa.order(ANA)
    webhook.deliver(wa.value([msg]))
    m = one("SELECT * FROM mensagens")
    assert m["conteudo"].startswith("Pedido:\n1 × aula-1: BRL 150,00")
    webhook.deliver(wa.value([dict(msg)]))
    assert one("SELECT * FROM mensagens") == m
