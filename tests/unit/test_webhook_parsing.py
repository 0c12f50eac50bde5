"""The pure half of the inbound webhook: signature, phones, models and the type mapping."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.services import inbound
from chalicelib.whatsapp import signature
from chalicelib.whatsapp.phones import normalize_telefone
from devstack import payloads as wa

CUSTOMER = "5511987654321"


def _one(msg: dict) -> inbound.InboundRow:
    parsed = inbound.parse_payload(wa.envelope(wa.value([msg])))
    assert len(parsed.messages) == 1, parsed.ignored
    return parsed.messages[0]


# Signature -----------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_the_raw_bytes():
    body = b'{"a":"caf\\u00e9"}'
    header = signature.sign(body, "segredo")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature.is_valid(body, header, "segredo")
    assert not signature.is_valid(body, header, "outro")
    assert not signature.is_valid(b'{"a":"caf\xc3\xa9"}', header, "segredo")  # same JSON, other bytes
    assert not signature.is_valid(body, None, "segredo")
    assert not signature.is_valid(body, header, "")
    assert not signature.is_valid(body, "sha256=ção", "segredo")


# Phones --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5511987654321", "+5511987654321"),
        ("551187654321", "+5511987654321"),  # mobile without the ninth digit
        ("551132654321", "+551132654321"),  # landline: 12 digits is its real form
        ("+55 (21) 99876-5432", "+5521998765432"),
        ("14155550123", "+14155550123"),
        ("abc", None),
        ("", None),
        ("1234567890123456789", None),
    ],
)
def test_normalize_telefone(raw, expected):
    assert normalize_telefone(raw) == expected


# Opt-out words -------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["SAIR", "sair", " Parar! ", "stop", "Cancelar.", "CANCELÁR", "sáir"])
def test_opt_out_words(text):
    assert inbound.is_opt_out(text)


@pytest.mark.parametrize("text", ["quero sair da aula", "STOPPED", "", None, "parar de tocar", "cancelar aula"])
def test_not_opt_out(text):
    assert not inbound.is_opt_out(text)


# Mapping of every type -------------------------------------------------------------------------
def test_text():
    row = _one(wa.text(CUSTOMER, "Oi!"))
    assert (row.tipo, row.conteudo, row.telefone) == ("texto", "Oi!", "+5511987654321")
    assert row.dados["raw"]["text"]["body"] == "Oi!"


@pytest.mark.parametrize(
    ("builder", "media_type", "mime"),
    [
        (lambda: wa.image(CUSTOMER, caption="minha foto"), "image", "image/jpeg"),
        (lambda: wa.video(CUSTOMER, caption="minha foto"), "video", "video/mp4"),
        (lambda: wa.audio(CUSTOMER), "audio", "audio/ogg; codecs=opus"),
        (lambda: wa.document(CUSTOMER, filename="ficha.pdf", caption="minha foto"), "document", "application/pdf"),
        (lambda: wa.sticker(CUSTOMER, animated=True), "image", "image/webp"),
    ],
)
def test_media_types(builder, media_type, mime):
    msg = builder()
    kind = msg["type"]
    row = _one(msg)
    assert (row.tipo, row.media_type, row.media_mime) == ("media", media_type, mime)
    assert row.media_job is not None and row.media_job["whatsapp_media_id"] == msg[kind]["id"]
    assert row.media_job["kind"] == kind
    assert row.media_job["sha256"] == msg[kind]["sha256"]
    if kind in ("image", "video", "document"):
        assert row.conteudo == "minha foto"
    if kind == "document":
        assert row.dados["filename"] == "ficha.pdf" and row.media_job["filename"] == "ficha.pdf"
    if kind == "audio":
        assert row.media_job["voice"] is True
    if kind == "sticker":
        assert row.dados["media"]["sticker"] is True and row.media_job["animated"] is True


def test_location_keeps_coordinates():
    row = _one(wa.location(CUSTOMER, latitude=-23.5, longitude=-46.6, name="Escola", address="Rua A"))
    assert (row.tipo, row.media_type, row.media_job) == ("media", "location", None)
    assert row.dados["location"]["latitude"] == -23.5 and row.dados["location"]["longitude"] == -46.6
    assert row.conteudo == "Escola - Rua A"


def test_interactive_replies_keep_ids():
    row = _one(wa.button_reply(CUSTOMER, reply_id="btn_1", title="Sim"))
    assert (row.tipo, row.conteudo, row.dados["reply_id"]) == ("interativo", "Sim", "btn_1")
    row = _one(wa.list_reply(CUSTOMER, reply_id="piano", title="Piano", description="Aulas"))
    assert (row.dados["reply_id"], row.dados["reply_description"], row.dados["interactive_type"]) == (
        "piano",
        "Aulas",
        "list_reply",
    )
    row = _one(wa.nfm_reply(CUSTOMER, response_json='{"a": 1}'))
    assert row.tipo == "interativo" and row.dados["nfm_reply"]["response_json"] == '{"a": 1}'
    row = _one(wa.button(CUSTOMER, text_="Quero", payload="P1"))
    assert (row.tipo, row.conteudo, row.dados["button_payload"]) == ("interativo", "Quero", "P1")


def test_reaction_keeps_target_and_removal():
    row = _one(wa.reaction(CUSTOMER, "wamid.alvo", emoji="❤️"))
    assert (row.tipo, row.conteudo) == ("reacao", "❤️")
    assert row.dados["reaction"] == {"message_id": "wamid.alvo", "emoji": "❤️", "removed": False}
    row = _one(wa.reaction(CUSTOMER, "wamid.alvo", emoji=None))
    assert (row.conteudo, row.dados["reaction"]["removed"], row.dados["reaction"]["emoji"]) == ("", True, "")


def test_contacts_system_unsupported_order_unknown():
    row = _one(wa.contacts(CUSTOMER, name="Maria Souza"))
    assert (row.tipo, row.conteudo) == ("contatos", "Maria Souza")
    assert row.dados["contacts"][0]["phones"][0]["wa_id"] == "5511988887777"
    row = _one(wa.system(CUSTOMER))
    assert row.tipo == "sistema" and row.dados["system"]["type"] == "user_changed_number" and not row.abre_janela
    row = _one(wa.unsupported(CUSTOMER))
    assert row.tipo == "nao_suportado" and row.dados["errors"][0]["code"] == 131051
    row = _one(wa.order(CUSTOMER))
    assert row.tipo == "texto" and row.dados["raw"]["order"]["catalog_id"] == "123"  # issue 11: readable
    row = _one(wa.message(CUSTOMER, "hologram", {"x": 1}, novo_campo=True))
    assert row.tipo == "nao_suportado" and row.dados["raw"]["novo_campo"] is True


def test_body_of_unexpected_shape_is_kept_as_nao_suportado():
    row = _one(wa.message(CUSTOMER, "text", "não é objeto"))
    assert row.tipo == "nao_suportado" and row.dados["raw"]["text"] == "não é objeto"


def test_context_forwarded_and_referral_are_kept():
    ctx = {"from": "5511940000000", "id": "wamid.original", "forwarded": True}
    row = _one(wa.text(CUSTOMER, "isso", context=ctx, referral=wa.referral("ad-42")))
    assert row.dados["context"] == ctx
    assert row.dados["referral"]["source_id"] == "ad-42" and row.campanha == "ad-42"


def test_timestamp_is_the_message_time_and_nonsense_is_now():
    row = _one(wa.text(CUSTOMER, "a", timestamp=1_700_000_000))
    assert row.created_at == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    row = _one(wa.text(CUSTOMER, "a", timestamp="ontem"))
    assert abs((row.created_at - dt.datetime.now(dt.UTC)).total_seconds()) < 5


def test_sanitize_strips_nul_and_non_finite():
    clean = inbound.sanitize({"a\x00": ["x\x00y", float("inf"), "\ud800ok"], "n": 1})
    assert clean == {"a": ["xy", None, "?ok"], "n": 1}


def test_other_object_and_other_number_are_ignored():
    assert not inbound.parse_payload({"object": "page", "entry": []}).messages
    parsed = inbound.parse_payload(wa.envelope(wa.value([wa.text(CUSTOMER, "a")], phone_number_id="999")))
    assert not parsed.messages and "not ours" in parsed.ignored[0]


def test_statuses_map_words_and_billing():
    st = [
        wa.status("wamid.1", "delivered", category="marketing_lite"),
        wa.status("wamid.1", "read", category="authentication-international"),
        wa.status("wamid.1", "deleted"),
        wa.status("wamid.2", "sent", category="referral_conversion"),
    ]
    parsed = inbound.parse_payload(wa.envelope(wa.value(statuses=st)))
    by = {(s["whatsapp_id"], s["status"]): s for s in parsed.statuses}
    assert by[("wamid.1", "delivered")]["billing_category"] == "marketing"
    assert by[("wamid.1", "read")]["billing_category"] == "authentication"
    assert by[("wamid.1", "deleted")]["status_envio"] is None
    assert by[("wamid.2", "sent")]["billing_category"] is None  # kept in the raw payload only
    assert by[("wamid.2", "sent")]["payload"]["pricing"]["category"] == "referral_conversion"


def test_signature_compare_is_constant_time(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", spy)
    body = b'{"a":1}'
    assert signature.is_valid(body, signature.sign(body, "s"), "s")
    assert not signature.is_valid(body, "sha256=" + "0" * 64, "s")
    assert len(calls) == 2


def test_status_with_an_odd_part_still_counts():
    raw = wa.status("wamid.1", "delivered", category="utility")
    raw["pricing"] = "gratuito"  # a string where an object is expected
    raw["errors"] = [{"code": 1.5, "title": {"x": 1}}]
    parsed = inbound.parse_payload(wa.envelope(wa.value(statuses=[raw])))
    assert [(s["whatsapp_id"], s["status_envio"]) for s in parsed.statuses] == [("wamid.1", "entregue")]
    assert parsed.statuses[0]["errors"] == raw["errors"] and parsed.statuses[0]["billing_category"] is None


def test_user_changed_number_names_the_new_number():
    row = _one(wa.system("551187654321", new_wa_id="5521998765432"))
    assert row.numero_novo == {"telefone": "+5521998765432", "wa_id": "5521998765432"}
    legacy = wa.system(CUSTOMER)
    legacy["system"] = {"type": "user_changed_number", "new_wa_id": "5521998765432", "body": "mudou"}
    assert _one(legacy).numero_novo["telefone"] == "+5521998765432"
    same = wa.system(CUSTOMER, new_wa_id="551187654321")  # the 12-digit form of the same number
    assert _one(same).numero_novo is None


def test_order_text_is_its_content():
    row = _one(wa.order(CUSTOMER))
    assert (row.tipo, row.conteudo) == ("texto", "Pedido:\n1 × aula-1: BRL 150,00\nTotal: BRL 150,00\nPedido")


def test_order_text_lists_items_quantities_prices_and_total():
    order = {
        "catalog_id": "1",
        "product_items": [
            {"product_retailer_id": "violao", "quantity": 2, "item_price": "1234.5", "currency": "BRL"},
            {"product_retailer_id": "cordas", "quantity": "3", "item_price": 20, "currency": "BRL"},
        ],
    }
    assert inbound.order_text(order) == (
        "Pedido:\n2 × violao: BRL 1.234,50\n3 × cordas: BRL 20,00\nTotal: BRL 2.529,00"
    )
    assert inbound.order_text({"product_items": "x"}) == "Pedido:"


def test_account_changes_are_kept_as_eventos():
    payload = wa.envelope(
        ("message_template_quality_update", wa.template_quality_update("boas_vindas")),
        ("template_category_update", wa.template_category_update("boas_vindas")),
        ("message_template_status_update", wa.template_status_update("boas_vindas", event="FLAGGED")),
        ("account_update", {"event": "VERIFIED_ACCOUNT"}),
        ("calls", {"novo": True}),
    )
    parsed = inbound.parse_payload(payload)
    assert [e["tipo"] for e in parsed.eventos] == [
        "template_qualidade",
        "template_categoria",
        "template_status",
        "whatsapp_conta",
        "whatsapp_webhook",
    ]
    assert parsed.eventos[0]["dados"]["value"]["new_quality_score"] == "YELLOW"
    # FLAGGED has no template_status; the re-categorisation changes the category only.
    assert parsed.templates == [
        {
            "whatsapp_id": "900000000000001",
            "name": "boas_vindas",
            "language": "pt_BR",
            "status": None,
            "category": "marketing",
        }
    ]
    again = inbound.parse_payload(payload)
    assert [e["chave"] for e in again.eventos] == [e["chave"] for e in parsed.eventos]  # stable keys


def test_unusable_messages_and_unknown_value_keys_are_kept():
    nobody = wa.text("não é telefone", "oi")
    parsed = inbound.parse_payload(wa.envelope(wa.value([nobody, "texto solto"], campo_futuro=[{"x": 1}])))
    assert parsed.messages == []
    by_tipo = {}
    for e in parsed.eventos:
        by_tipo.setdefault(e["tipo"], []).append(e["dados"])
    assert [d["raw"] for d in by_tipo["whatsapp_descartado"]] == [nobody, "texto solto"]
    assert by_tipo["whatsapp_webhook"][0]["campos"] == {"campo_futuro": [{"x": 1}]}  # message_echoes is read (0010)


def test_odd_siblings_never_hide_the_messages_of_a_value():
    msg = wa.text(CUSTOMER, "oi")
    val = wa.value([msg], errors="quebrado", contacts={"não": "lista"}, statuses=7)
    val["metadata"] = "não é objeto"
    parsed = inbound.parse_payload(wa.envelope(val))
    assert [m.whatsapp_id for m in parsed.messages] == [msg["id"]]
    kept = sorted(e["dados"]["item"] for e in parsed.eventos if e["tipo"] == "whatsapp_descartado")
    assert kept == ["value.contacts", "value.errors", "value.metadata", "value.statuses"]
    odd_entry = {"object": "whatsapp_business_account", "entry": [{"id": {"x": 1}, "changes": [{"field": ["f"]}]}]}
    parsed = inbound.parse_payload(odd_entry)
    assert [e["dados"]["item"] for e in parsed.eventos] == ["change"]  # no value: kept, not lost


# Usernames and BSUIDs (issue 11) --------------------------------------------------------------
BSUID = "BR.1502576394655843"


def test_a_username_user_without_a_phone_is_a_row_with_its_bsuid():
    value = wa.username_value([wa.text(None, "oi")], BSUID, username="ana.violao", parent_user_id="BR.ENT.1")
    (row,) = inbound.parse_payload(wa.envelope(value)).messages
    assert (row.telefone, row.wa_id, row.bsuid, row.bsuid_pai) == (None, "", BSUID, "BR.ENT.1")
    assert row.chave_contato == BSUID
    parsed = inbound.parse_payload(wa.envelope(value))
    assert parsed.perfis[BSUID]["username"] == "ana.violao" and parsed.perfis[BSUID]["telefone"] is None


def test_contacts_link_the_phone_and_the_bsuid_when_the_message_names_one():
    msg = wa.text(CUSTOMER, "oi")  # no from_user_id: contacts[] gives it
    value = wa.value([msg], contacts=[wa.user_contact(BSUID, wa_id=CUSTOMER, name="Ana")])
    (row,) = inbound.parse_payload(wa.envelope(value)).messages
    assert (row.telefone, row.bsuid) == ("+" + CUSTOMER, BSUID)
    only_bsuid = wa.from_user(wa.text(None, "oi"), BSUID)  # no from: contacts[] gives the phone
    value = wa.value([only_bsuid], contacts=[wa.user_contact(BSUID, wa_id=CUSTOMER)])
    (row,) = inbound.parse_payload(wa.envelope(value)).messages
    assert (row.telefone, row.wa_id, row.bsuid) == ("+" + CUSTOMER, CUSTOMER, BSUID)


def test_an_odd_body_from_a_username_user_is_still_stored_for_its_bsuid():
    msg = wa.from_user(wa.message(None, "text", "não é objeto"), BSUID)
    (row,) = inbound.parse_payload(wa.envelope(wa.value([msg]))).messages
    assert (row.tipo, row.bsuid) == ("nao_suportado", BSUID)


def test_statuses_user_preferences_and_changes_read_the_bsuid():
    status = wa.status("wamid.x", "delivered", None, recipient_user_id=BSUID)
    parsed = inbound.parse_payload(wa.envelope(wa.value(statuses=[status])))
    assert parsed.statuses[0]["bsuid"] == BSUID
    pref = wa.user_preferences(None, "signup", user_id=BSUID)
    (row,) = inbound.parse_payload(wa.envelope(("user_preferences", pref))).user_preferences
    assert (row["telefone"], row["bsuid"], row["optar"], row["valor"]) == (None, BSUID, True, "signup")
    unknown = wa.user_preferences(CUSTOMER, "talvez", category="outra")
    (row,) = inbound.parse_payload(wa.envelope(("user_preferences", unknown))).user_preferences
    assert row["optar"] is None and row["telefone"] == "+" + CUSTOMER
    parsed = inbound.parse_payload(
        wa.envelope(wa.value([wa.edit(CUSTOMER, "wamid.o", "novo"), wa.revoke(None, "wamid.o")]))
    )
    assert parsed.messages == []
    assert [(a["tipo"], a["original_whatsapp_id"], a["conteudo"]) for a in parsed.alteracoes] == [
        ("edit", "wamid.o", "novo"),
        ("revoke", "wamid.o", None),
    ]
    (row,) = inbound.parse_payload(wa.envelope(wa.value([wa.system_user_id_change(BSUID, "BR.2")]))).messages
    assert (row.bsuid, row.bsuid_novo, row.tipo, row.abre_janela) == (BSUID, "BR.2", "sistema", False)
