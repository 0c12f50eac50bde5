"""Inbound messages through the real handler and PostgreSQL: stored once, nothing lost."""

from __future__ import annotations

import datetime as dt
import threading
import time

from devstack import payloads as wa
from tests.integration.webhook_support import count, one, rows

ANA = "5511987654321"
ANA_E164 = "+5511987654321"


def test_every_message_type_is_stored_with_its_mapping(webhook):
    target = wa.new_wamid()
    msgs = [
        wa.text(ANA, "Olá"),
        wa.image(ANA, caption="foto"),
        wa.video(ANA),
        wa.audio(ANA),
        wa.document(ANA, filename="ficha.pdf"),
        wa.sticker(ANA),
        wa.location(ANA),
        wa.contacts(ANA),
        wa.button_reply(ANA, reply_id="b1"),
        wa.list_reply(ANA, reply_id="l1"),
        wa.nfm_reply(ANA),
        wa.button(ANA, payload="P"),
        wa.reaction(ANA, target),
        wa.reaction(ANA, target, emoji=None),
        wa.system(ANA),
        wa.unsupported(ANA),
        wa.order(ANA),
        wa.message(ANA, "tipo_futuro", {"x": 1}),
    ]
    summary = webhook.deliver(wa.value(msgs))
    assert summary["mensagens"] == len(msgs)
    stored = {r["whatsapp_id"]: r for r in rows("SELECT * FROM mensagens")}
    expected = [
        ("texto", None),
        ("media", "image"),
        ("media", "video"),
        ("media", "audio"),
        ("media", "document"),
        ("media", "image"),
        ("media", "location"),
        ("contatos", None),
        ("interativo", None),
        ("interativo", None),
        ("interativo", None),
        ("interativo", None),
        ("reacao", None),
        ("reacao", None),
        ("sistema", None),
        ("nao_suportado", None),
        ("texto", None),  # an order reads as text (issue 11), the order kept in dados.order
        ("nao_suportado", None),
    ]
    for msg, (tipo, media_type) in zip(msgs, expected, strict=True):
        row = stored[msg["id"]]
        assert (row["tipo"], row["media_type"]) == (tipo, media_type), msg["type"]
        assert row["direcao"] == "entrada" and row["status_envio"] == "recebida"
        assert row["created_at"] == dt.datetime.fromtimestamp(int(msg["timestamp"]), tz=dt.UTC)
        assert row["dados"]["raw"]["id"] == msg["id"]
    assert stored[msgs[1]["id"]]["conteudo"] == "foto"
    assert stored[msgs[4]["id"]]["dados"]["filename"] == "ficha.pdf"
    assert stored[msgs[12]["id"]]["dados"]["reaction"]["message_id"] == target
    assert stored[msgs[13]["id"]]["dados"]["reaction"]["removed"] is True
    # Five media messages with a file (not the location): five jobs, each for its row.
    jobs = webhook.media_jobs()
    assert sorted(j["whatsapp_media_id"] for j in jobs) == sorted(m[m["type"]]["id"] for m in msgs[1:6])
    assert {j["mensagem_id"] for j in jobs} == {str(stored[m["id"]]["id"]) for m in msgs[1:6]}


def test_batch_of_entries_changes_and_messages_is_stored_whole(webhook):
    senders = [f"55119876500{i:02d}" for i in range(6)]
    entries = []
    expected = []
    for e in range(3):
        changes = []
        for c in range(2):
            sender = senders[e * 2 + c]
            msgs = [wa.text(sender, f"entrada {e} mudança {c} nº {n}") for n in range(4)]
            expected += [m["id"] for m in msgs]
            changes.append(wa.value(msgs))
        entries.append(changes)
    summary = webhook.deliver(entries=entries)
    assert summary["mensagens"] == 24
    assert sorted(r["whatsapp_id"] for r in rows("SELECT whatsapp_id FROM mensagens")) == sorted(expected)
    assert count("contatos") == 6 and count("conversas") == 6
    assert {r["nao_lidas"] for r in rows("SELECT nao_lidas FROM conversas")} == {4}


def test_same_payload_three_times_is_one_row_each(webhook):
    payload = wa.envelope(wa.value([wa.text(ANA, "oi"), wa.image(ANA), wa.text(ANA, "tudo bem?")]))
    for _ in range(3):
        assert webhook.post(payload).status_code == 200
    assert count("mensagens") == 3 and count("contatos") == 1 and count("conversas") == 1
    assert one("SELECT nao_lidas FROM conversas")["nao_lidas"] == 3
    assert rows("SELECT tipo, count(*) AS n FROM eventos GROUP BY tipo ORDER BY tipo") == [
        {"tipo": "contato_criado", "n": 1},
        {"tipo": "conversa_aberta", "n": 1},
        {"tipo": "opt_in", "n": 1},
    ]


def test_duplicate_of_media_still_not_fetched_is_enqueued_again(webhook):
    payload = wa.envelope(wa.value([wa.image(ANA)]))
    webhook.post(payload)
    webhook.post(payload)
    jobs = webhook.media_jobs()
    assert len(jobs) == 2 and jobs[0] == jobs[1]
    assert count("mensagens") == 1


def test_two_concurrent_identical_deliveries_store_one_row_each(webhook):
    from chalicelib import db
    from chalicelib.services import inbound

    for round_ in range(4):  # several rounds: the race must be hit, not hoped for
        sender = f"55219876543{round_:02d}"
        payload = wa.envelope(wa.value([wa.text(sender, "primeira"), wa.location(sender), wa.text(sender, "3")]))
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def deliver(payload=payload, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                inbound.handle_payload(payload)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                db.close()

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        telefone = "+" + sender
        assert one("SELECT count(*) AS n FROM contatos WHERE telefone = :t", t=telefone)["n"] == 1
        conversa = one(
            "SELECT c.id, c.nao_lidas FROM conversas c JOIN contatos k ON k.id = c.contato_id WHERE k.telefone = :t",
            t=telefone,
        )
        assert conversa["nao_lidas"] == 3
        assert one("SELECT count(*) AS n FROM mensagens WHERE conversa_id = :c", c=conversa["id"])["n"] == 3
    assert one("SELECT count(*) AS n FROM eventos WHERE tipo = 'opt_in'")["n"] == 4
    assert one("SELECT count(*) AS n FROM eventos WHERE tipo = 'contato_criado'")["n"] == 4


def test_both_brazilian_forms_are_one_contact_and_wa_id_is_kept(webhook):
    webhook.deliver(wa.value([wa.text("5511987654321", "com nove")], profiles={"5511987654321": "Ana"}))
    webhook.deliver(wa.value([wa.text("551187654321", "sem nove")], profiles={"551187654321": "Ana Paula"}))
    contato = one("SELECT * FROM contatos")
    assert contato["telefone"] == ANA_E164
    assert contato["wa_id"] == "551187654321"  # the address WhatsApp last used
    assert (contato["nome"], contato["nome_perfil"]) == ("Ana Paula", "Ana Paula")
    assert count("conversas") == 1 and count("mensagens") == 2


def test_profile_name_never_overwrites_an_attendants_name(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi")], profiles={ANA: "Ana"}))
    rows("UPDATE contatos SET nome = 'Ana (mãe do Pedro)', nome_editado = true RETURNING id")
    webhook.deliver(wa.value([wa.text(ANA, "oi de novo")], profiles={ANA: "Ana P."}))
    contato = one("SELECT nome, nome_perfil FROM contatos")
    assert contato == {"nome": "Ana (mãe do Pedro)", "nome_perfil": "Ana P."}


def test_first_message_records_opt_in_once(webhook):
    first = wa.text(ANA, "oi", timestamp=1_763_000_000)
    webhook.deliver(wa.value([first]))
    webhook.deliver(wa.value([wa.text(ANA, "oi de novo", timestamp=1_763_000_100)]))
    contato = one("SELECT opt_in_status, opt_in_at, opt_in_source FROM contatos")
    assert contato == {
        "opt_in_status": True,
        "opt_in_at": dt.datetime.fromtimestamp(1_763_000_000, tz=dt.UTC),
        "opt_in_source": "whatsapp_first_message",
    }
    assert count("eventos WHERE tipo = 'opt_in'") == 1


def test_opt_out_word_sets_opt_in_status_false(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    webhook.deliver(wa.value([wa.text(ANA, "Sáir!")]))
    assert one("SELECT opt_in_status FROM contatos")["opt_in_status"] is False
    evento = one("SELECT dados FROM eventos WHERE tipo = 'opt_out'")
    assert evento["dados"]["texto"] == "Sáir!"
    # A later ordinary message does not opt the contact back in.
    webhook.deliver(wa.value([wa.text(ANA, "quanto custa?")]))
    assert one("SELECT opt_in_status FROM contatos")["opt_in_status"] is False


def test_user_preferences_stop_and_resume(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    webhook.deliver(("user_preferences", wa.user_preferences(ANA, "stop", timestamp=1_763_000_000)))
    assert one("SELECT opt_in_status FROM contatos")["opt_in_status"] is False
    webhook.deliver(("user_preferences", wa.user_preferences(ANA, "resume", timestamp=1_763_000_500)))
    contato = one("SELECT opt_in_status, opt_in_source FROM contatos")
    assert contato == {"opt_in_status": True, "opt_in_source": "whatsapp_user_preferences"}
    assert [
        r["tipo"]
        for r in rows(
            "SELECT tipo FROM eventos WHERE dados->>'source' = 'whatsapp_user_preferences' ORDER BY created_at"
        )
    ] == ["opt_out", "opt_in"]


def test_referral_marks_the_contact_as_from_an_ad(webhook):
    msg = wa.text(ANA, "Vi o anúncio", referral=wa.referral("120200000000000042"))
    webhook.deliver(wa.value([msg]))
    webhook.deliver(wa.value([msg]))
    contato = one("SELECT origem, origem_campanha FROM contatos")
    assert contato == {"origem": "anuncio", "origem_campanha": "120200000000000042"}
    evento = one("SELECT dados FROM eventos WHERE tipo = 'referral'")
    assert evento["dados"]["referral"]["ctwa_clid"] == "ARAkLkA8rmlFeiCktEJQ"
    assert evento["dados"]["whatsapp_id"] == msg["id"]
    assert one("SELECT dados FROM mensagens")["dados"]["referral"]["headline"] == "Aulas de violão"


def test_window_is_message_time_plus_24h_and_never_moves_back(webhook):
    recent = int(time.time()) - 60
    webhook.deliver(wa.value([wa.text(ANA, "agora", timestamp=recent)]))
    webhook.deliver(wa.value([wa.text(ANA, "atrasada", timestamp=recent - 3600)]))
    conversa = one("SELECT window_expires_at FROM conversas")
    assert conversa["window_expires_at"] == dt.datetime.fromtimestamp(recent, tz=dt.UTC) + dt.timedelta(hours=24)


def test_closed_conversation_is_not_reused(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    rows("UPDATE conversas SET status = 'encerrada', closed_at = now() RETURNING id")
    webhook.deliver(wa.value([wa.text(ANA, "voltei")]))
    assert rows("SELECT status FROM conversas ORDER BY created_at") == [{"status": "encerrada"}, {"status": "ativa"}]
    assert count("eventos WHERE tipo = 'conversa_aberta'") == 2


def test_nul_characters_are_stripped(webhook):
    body = b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":' + (
        b'{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"A\\u0000na"},"wa_id":"5511987654321"}],'
        b'"messages":[{"from":"5511987654321","id":"wamid.nul","timestamp":"1763000000","type":"text",'
        b'"text":{"body":"ol\\u0000\\u00e1"}}]}}]}]}'
    )
    response = webhook.post(body)
    assert response.status_code == 200
    mensagem = one("SELECT conteudo, dados FROM mensagens")
    assert mensagem["conteudo"] == "olá" and mensagem["dados"]["raw"]["text"]["body"] == "olá"
    assert one("SELECT nome FROM contatos")["nome"] == "Ana"


def test_user_changed_number_moves_the_contact_to_the_new_number(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    change = wa.system(ANA, new_wa_id="5521998765432")
    webhook.deliver(wa.value([change]))
    webhook.deliver(wa.value([change]))  # redelivered: one event
    contato = one("SELECT telefone, wa_id FROM contatos")
    assert contato == {"telefone": "+5521998765432", "wa_id": "5521998765432"}
    evento = one("SELECT dados FROM eventos WHERE tipo = 'numero_alterado'")["dados"]
    assert (evento["de"], evento["para"], evento["telefone_atualizado"]) == (ANA_E164, "+5521998765432", True)
    # The customer's next message, from the new number, is the same contact and conversation.
    webhook.deliver(wa.value([wa.text("5521998765432", "sou eu, número novo")]))
    assert count("contatos") == 1 and count("conversas") == 1 and count("mensagens") == 3
    # The change itself is a system message: stored, but it does not open the window.
    assert one("SELECT tipo FROM mensagens WHERE whatsapp_id = :w", w=change["id"])["tipo"] == "sistema"


def test_user_changed_number_to_a_number_already_known_moves_nothing(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi")]))
    webhook.deliver(wa.value([wa.text("5521998765432", "cheguei antes do aviso")]))
    webhook.deliver(wa.value([wa.system(ANA, new_wa_id="5521998765432")]))
    assert sorted(r["telefone"] for r in rows("SELECT telefone FROM contatos")) == [ANA_E164, "+5521998765432"]
    evento = one("SELECT dados FROM eventos WHERE tipo = 'numero_alterado'")["dados"]
    novo = one("SELECT id FROM contatos WHERE telefone = '+5521998765432'")["id"]
    assert evento["telefone_atualizado"] is False and evento["outro_contato_id"] == str(novo)


def test_twelve_digit_form_first_then_thirteen_is_one_contact(webhook):
    webhook.deliver(wa.value([wa.text("552187654321", "sem nove")]))
    webhook.deliver(wa.value([wa.text("5521987654321", "com nove")]))
    assert [r["telefone"] for r in rows("SELECT telefone FROM contatos")] == ["+5521987654321"]
    assert count("conversas") == 1 and count("mensagens") == 2


def test_nul_is_stripped_from_names_captions_filenames_and_json(webhook):
    msgs = [
        wa.image(ANA, caption="fo\x00to", referral={**wa.referral("ad\x001"), "headline": "Vi\x00olão"}),
        wa.document(ANA, filename="fi\x00cha.pdf", caption="do\x00c"),
        wa.location(ANA, name="Es\x00cola", address="Rua\x00 A"),
        wa.message(ANA, "tipo_futuro", {"ch\x00ave": ["va\x00lor", {"\x00": "\x00"}]}),
        wa.reaction(ANA, "wamid.x", emoji="\x00"),
    ]
    response = webhook.post(wa.envelope(wa.value(msgs, profiles={ANA: "A\x00na"}), waba_id=None))
    assert response.status_code == 200, response.body
    stored = {r["whatsapp_id"]: r for r in rows("SELECT whatsapp_id, conteudo, dados FROM mensagens")}
    assert stored[msgs[0]["id"]]["conteudo"] == "foto"
    assert stored[msgs[1]["id"]]["conteudo"] == "doc" and stored[msgs[1]["id"]]["dados"]["filename"] == "ficha.pdf"
    assert stored[msgs[2]["id"]]["conteudo"] == "Escola - Rua A"
    assert stored[msgs[3]["id"]]["dados"]["raw"]["tipo_futuro"] == {"chave": ["valor", {"": ""}]}
    assert stored[msgs[4]["id"]]["dados"]["reaction"]["removed"] is True  # a NUL emoji is no emoji
    assert one("SELECT nome, nome_perfil, origem_campanha FROM contatos") == {
        "nome": "Ana",
        "nome_perfil": "Ana",
        "origem_campanha": "ad1",
    }
    assert one("SELECT dados FROM eventos WHERE tipo = 'referral'")["dados"]["referral"]["headline"] == "Violão"
    jobs = {j["whatsapp_media_id"]: j for j in webhook.media_jobs()}
    assert jobs[msgs[1]["document"]["id"]]["filename"] == "ficha.pdf"
    assert rows("SELECT count(*) AS n FROM mensagens WHERE strpos(dados::text, '\\u0000') > 0") == [{"n": 0}]


def test_context_forwarding_referral_and_unsupported_errors_are_kept(webhook):
    reply = wa.text(ANA, "essa", context={"from": "5511940000000", "id": "wamid.original"})
    forwarded = wa.image(ANA, context={"forwarded": True})
    viral = wa.text(ANA, "corrente", context={"frequently_forwarded": True, "forwarded": True})
    unsupported = wa.unsupported(ANA)
    webhook.deliver(wa.value([reply, forwarded, viral, unsupported]))
    dados = {r["whatsapp_id"]: r["dados"] for r in rows("SELECT whatsapp_id, dados FROM mensagens")}
    assert dados[reply["id"]]["context"] == {"from": "5511940000000", "id": "wamid.original"}
    assert dados[forwarded["id"]]["context"] == {"forwarded": True}
    assert dados[viral["id"]]["context"] == {"frequently_forwarded": True, "forwarded": True}
    assert dados[unsupported["id"]]["errors"][0]["code"] == 131051


def test_order_is_kept_with_its_text(webhook):
    msg = wa.order(ANA)
    webhook.deliver(wa.value([msg]))
    row = one("SELECT tipo, conteudo, dados FROM mensagens")
    # Readable for the attendant (issue 11): items, quantities, prices, total, the note.
    assert (row["tipo"], row["conteudo"]) == ("texto", "Pedido:\n1 × aula-1: BRL 150,00\nTotal: BRL 150,00\nPedido")
    assert row["dados"]["order"]["product_items"][0]["product_retailer_id"] == "aula-1"
    assert row["dados"]["raw"]["order"]["product_items"][0]["product_retailer_id"] == "aula-1"


def test_late_stop_never_undoes_a_newer_resume(webhook):
    webhook.deliver(wa.value([wa.text(ANA, "oi", timestamp=1_763_000_000)]))
    webhook.deliver(("user_preferences", wa.user_preferences(ANA, "resume", timestamp=1_763_000_900)))
    webhook.deliver(("user_preferences", wa.user_preferences(ANA, "stop", timestamp=1_763_000_500)))  # late
    assert one("SELECT opt_in_status FROM contatos")["opt_in_status"] is True
    # An opt-out word sent before the resume, arriving after it, does not undo it either...
    webhook.deliver(wa.value([wa.text(ANA, "PARAR", timestamp=1_763_000_600)]))
    assert one("SELECT opt_in_status FROM contatos")["opt_in_status"] is True
    # ...but one sent after it does. Every fact is recorded either way.
    webhook.deliver(wa.value([wa.text(ANA, "PARAR", timestamp=1_763_001_000)]))
    assert one("SELECT opt_in_status FROM contatos")["opt_in_status"] is False
    assert count("eventos WHERE tipo = 'opt_out'") == 3


def test_message_without_a_usable_sender_is_kept_in_eventos_once(webhook):
    payload = wa.envelope(wa.value([wa.text("desconhecido", "oi"), wa.text(ANA, "oi")]))
    webhook.post(payload)
    webhook.post(payload)
    assert count("mensagens") == 1
    evento = one("SELECT contato_id, dados FROM eventos WHERE tipo = 'whatsapp_descartado'")
    assert evento["contato_id"] is None and evento["dados"]["raw"]["from"] == "desconhecido"


def test_a_conversation_a_racing_payload_opened_is_joined_not_duplicated(webhook, monkeypatch):
    from chalicelib.repositories import contatos

    upsert = contatos.upsert_inbound

    def raced(items):  # as if a concurrent payload opened the conversation after our snapshot
        return [{**r, "conversa_id": None, "conversa_nova": False} for r in upsert(items)]

    monkeypatch.setattr(contatos, "upsert_inbound", raced)
    summary = webhook.deliver(wa.value([wa.text(ANA, "oi"), wa.text("5511912345678", "olá")]))

    assert summary["mensagens"] == 2 and summary["conversas_novas"] == 0  # the other payload announced them
    stored = rows(
        "SELECT k.telefone, m.conversa_id FROM mensagens m JOIN conversas c ON c.id = m.conversa_id"
        " JOIN contatos k ON k.id = c.contato_id ORDER BY k.telefone"
    )
    assert [r["telefone"] for r in stored] == ["+5511912345678", ANA_E164]  # each in its contact's conversation
    assert count("conversas") == 2 and stored[0]["conversa_id"] != stored[1]["conversa_id"]
