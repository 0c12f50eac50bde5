"""The attendants' console end to end: a real Chromium, the whole local stack, live events."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import (
    check_axe,
    component,
    console_url,
    customer_writes,
    new_admin,
    new_wa_id,
    post_webhook,
    sent_to,
    sign_in,
    wait_for,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def _open_conversation(page, nome: str):
    page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text=nome).click()
    expect(page.get_by_role("heading", name=nome)).to_be_visible()


def test_sign_in_explains_a_wrong_password_survives_a_reload_and_signs_out(stack, pages):
    pages.allow(r"status of 401")  # Chromium logs the refused login's response itself
    admin = new_admin("Carla")
    page = pages.new()
    page.goto(console_url(stack) + "/")
    check_axe(page, "sign-in")

    page.get_by_label("E-mail").fill(admin["email"])
    page.get_by_label("Senha").fill("senha-errada-123")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("alert")).to_have_text("E-mail ou senha incorretos.")

    sign_in(page, stack, admin)
    page.reload()
    expect(page.get_by_role("list", name="Conversas")).to_be_attached()
    page.get_by_role("button", name="Sair").click()
    expect(page.get_by_role("button", name="Entrar")).to_be_visible()


def test_a_customer_appears_live_is_taken_answered_and_the_tick_follows_whatsapp(stack, pages):
    from devstack import payloads

    ana, bruno = new_admin("Ana"), new_admin("Bruno")
    page = pages.new()
    sign_in(page, stack, ana)
    other = pages.new()
    sign_in(other, stack, bruno)

    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Olá! Quero aula de violão", "Joana Silva")
    conversas = page.get_by_role("list", name="Conversas")
    item = conversas.get_by_role("link").filter(has_text="Joana Silva")
    expect(item).to_contain_text("Olá! Quero aula de violão")  # live, no reload
    expect(item).to_contain_text("Sem atendente")
    check_axe(page, "inbox")

    _open_conversation(page, "Joana Silva")
    _open_conversation(other, "Joana Silva")
    expect(page.get_by_role("log", name="Mensagens")).to_contain_text("Olá! Quero aula de violão")

    page.get_by_role("button", name="Assumir").click()
    expect(page.get_by_role("button", name="Transferir")).to_be_visible()
    # The second attendant sees the assignment change live and cannot send.
    expect(other.get_by_text("Atendente: Ana").first).to_be_visible()
    expect(other.get_by_role("button", name="Assumir")).to_have_count(0)
    expect(other.get_by_role("textbox", name="Mensagem")).to_be_disabled()
    expect(other.get_by_role("button", name="Enviar")).to_be_disabled()

    box = page.get_by_role("textbox", name="Mensagem")
    box.fill("Oi Joana!")
    box.press("Shift+Enter")
    box.press_sequentially("Temos turmas à tarde.")
    box.press("Enter")
    expect(box).to_have_value("")
    sent = wait_for(lambda: sent_to(stack, wa_id), what="the fake WhatsApp to receive the reply")
    assert sent[-1]["type"] == "text"
    assert sent[-1]["text"]["body"] == "Oi Joana!\nTemos turmas à tarde."
    log = page.get_by_role("log", name="Mensagens")
    bubble = log.get_by_role("article").filter(has_text="Temos turmas à tarde.")
    expect(bubble.get_by_role("img", name="Enviada")).to_be_visible()
    check_axe(page, "conversation")

    statuses = [payloads.status(sent[-1]["_wamid"], "delivered", wa_id)]
    post_webhook(stack, payloads.envelope(payloads.value(statuses=statuses)))
    expect(bubble.get_by_role("img", name="Entregue")).to_be_visible()
    expect(other.get_by_role("log", name="Mensagens")).to_contain_text("Temos turmas à tarde.")

    if os.environ.get("CONSOLE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        customer_writes(stack, new_wa_id(), "Vocês têm aula de piano para crianças?", "Marcos Lima")
        expect(conversas.get_by_role("link").filter(has_text="Marcos Lima")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "conversa-desktop.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SCREENSHOTS / "conversa-390.png"))
        page.get_by_role("link", name="Voltar para as conversas").click()
        page.screenshot(path=str(SCREENSHOTS / "inbox-390.png"))
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(console_url(stack) + "/")
        expect(conversas.get_by_role("link").filter(has_text="Marcos Lima")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "inbox-desktop.png"))


def test_a_taken_conversation_is_refused_with_the_name_of_who_took_it(stack, pages):
    from chalicelib import db

    pages.allow(r"status of 409")  # Chromium logs the refused request itself
    ana, bruno = new_admin("Ana"), new_admin("Bruno")
    customer_writes(stack, new_wa_id(), "Bom dia", "Paula Reis")
    page = pages.new()
    sign_in(page, stack, bruno)
    _open_conversation(page, "Paula Reis")
    expect(page.get_by_role("button", name="Assumir")).to_be_visible()
    # Ana takes it in the instant between Bruno's click and his request reaching the API (no
    # live event tells Bruno's page): done inside the request's route, so nothing can race it.
    conversa_id = page.url.rsplit("/", 1)[1]

    def ana_first(route):
        db.execute(
            "UPDATE conversas SET atendente_id = :a, atribuida_em = now() WHERE id = :c", a=ana["id"], c=conversa_id
        )
        route.continue_()

    page.route(f"**/conversas/{conversa_id}/atribuir", ana_first)
    page.get_by_role("button", name="Assumir").click()
    expect(page.get_by_role("alert")).to_have_text("Ana já assumiu esta conversa.")
    expect(page.get_by_text("Atendente: Ana").first).to_be_visible()  # the view converged
    expect(page.get_by_role("button", name="Assumir")).to_have_count(0)


def test_a_document_is_uploaded_with_progress_and_sent(stack, pages, tmp_path):
    ana = new_admin("Ana")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Pode mandar o contrato?", "Rita Souza")
    page = pages.new()
    sign_in(page, stack, ana)
    _open_conversation(page, "Rita Souza")
    page.get_by_role("button", name="Assumir").click()

    pdf = tmp_path / "contrato-2027.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 50_000 + b"\n%%EOF\n")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Anexar arquivo").click()
    chooser.value.set_files(str(pdf))
    expect(page.get_by_text("contrato-2027.pdf")).to_be_visible()
    page.get_by_role("textbox", name="Mensagem").fill("Segue o contrato")
    page.get_by_role("button", name="Enviar").click()

    sent = wait_for(lambda: [m for m in sent_to(stack, wa_id) if m["type"] == "document"], what="the document")
    assert sent[-1]["document"]["filename"] == "contrato-2027.pdf"
    assert sent[-1]["document"]["caption"] == "Segue o contrato"
    bubble = page.get_by_role("log", name="Mensagens").get_by_role("article").filter(has_text="contrato-2027.pdf")
    expect(bubble.get_by_role("img", name="Enviada")).to_be_visible()


def test_a_closed_window_offers_an_approved_template_with_parameters(stack, pages):
    from chalicelib import db
    from chalicelib.services.templates import sync_templates

    graph = component(stack, "FakeWhatsAppComponent").graph
    graph.set_templates([
        {
            "id": "9001", "name": "retomar_contato", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Olá {{1}}, ainda quer a aula de {{2}}?"}],
        }
    ])  # fmt: skip
    sync_templates()
    ana = new_admin("Ana")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Oi, semana passada falei com vocês", "Lucas Prado")
    db.execute(
        "UPDATE conversas SET window_expires_at = now() - interval '1 hour'"
        " WHERE contato_id = (SELECT id FROM contatos WHERE wa_id = :w)",
        w=wa_id,
    )
    page = pages.new()
    sign_in(page, stack, ana)
    _open_conversation(page, "Lucas Prado")
    expect(page.get_by_text("Janela de 24 horas fechada")).to_be_visible()
    expect(page.get_by_role("textbox", name="Mensagem")).to_have_count(0)

    page.get_by_role("button", name="Enviar template").click()
    page.get_by_label("Template", exact=True).select_option(label="retomar_contato (pt_BR)")
    page.get_by_label("Parâmetro {{1}}").fill("Lucas")
    preview = page.get_by_role("region", name="Prévia do template")
    expect(preview).to_have_text("Olá Lucas, ainda quer a aula de {{2}}?")  # live, as it is typed
    page.get_by_label("Parâmetro {{2}}").fill("bateria")
    expect(preview).to_have_text("Olá Lucas, ainda quer a aula de bateria?")
    page.get_by_role("button", name="Enviar template").click()

    sent = wait_for(lambda: [m for m in sent_to(stack, wa_id) if m["type"] == "template"], what="the template")
    template = sent[-1]["template"]
    assert template["name"] == "retomar_contato"
    values = [p["text"] for c in template["components"] for p in c.get("parameters", [])]
    assert values == ["Lucas", "bateria"]


def test_the_console_reconnects_after_the_gateway_restarts_and_converges(stack, pages):
    from devstack.ws_gateway import LocalWebSocketGateway

    pages.allow(r"WebSocket connection to .* failed")  # Chromium's own log while the gateway is down
    ana = new_admin("Ana")
    page = pages.new()
    sign_in(page, stack, ana)

    gateway_component = component(stack, "WebSocketGatewayComponent")
    old = gateway_component.gateway
    gateway_component.stop()
    expect(page.get_by_role("status").filter(has_text="Reconectando…")).to_be_visible()
    # Written while the console had no live connection: only the refetch can bring it.
    customer_writes(stack, new_wa_id(), "Escrevi enquanto vocês estavam fora", "Tiago Melo")
    gateway_component.gateway = LocalWebSocketGateway(old.host, old.port, old.management_port)
    gateway_component.start()

    expect(page.get_by_role("status").filter(has_text="Conectado")).to_be_visible(timeout=20_000)
    item = page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Tiago Melo")
    expect(item).to_contain_text("Escrevi enquanto vocês estavam fora")
    # And live again: the next message arrives without a reload.
    customer_writes(stack, new_wa_id(), "Agora ao vivo", "Vera Dias")
    expect(page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Vera Dias")).to_be_visible()


def test_a_photo_arrives_as_a_placeholder_then_its_thumbnail_opens_the_full_image(stack, pages):
    import io

    from PIL import Image

    from devstack import payloads

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, "JPEG")
    media = component(stack, "FakeWhatsAppComponent").graph.add_media(out.getvalue(), "image/jpeg")
    page = pages.new()
    sign_in(page, stack, new_admin("Ana"))
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Vou mandar a foto da partitura", "Beatriz Nunes")
    _open_conversation(page, "Beatriz Nunes")

    photo = payloads.image(wa_id, caption="Minha partitura", media_id=media.media_id, sha256=media.sha256_b64)
    post_webhook(stack, payloads.envelope(payloads.value(messages=[photo], profiles={wa_id: "Beatriz Nunes"})))
    thumbnail = page.get_by_role("log", name="Mensagens").get_by_role("img", name="Minha partitura")
    expect(thumbnail).to_be_visible(timeout=20_000)  # message:updated replaced the placeholder
    link = page.get_by_role("link", name="Abrir imagem em tamanho real")
    assert "thumb" not in (link.get_attribute("href") or "").split("?")[0]
    assert page.evaluate("(img) => img.naturalWidth > 0", thumbnail.element_handle())


def test_the_keyboard_alone_signs_in_opens_a_conversation_and_sends(stack, pages):
    admin = new_admin("Davi")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Oi, tem vaga?", "Helena Costa")
    page = pages.new()
    page.goto(console_url(stack) + "/")
    expect(page.get_by_label("E-mail")).to_be_focused()  # the sign-in starts in its first field
    page.keyboard.type(admin["email"])
    page.keyboard.press("Tab")
    page.keyboard.type("senha-forte-de-teste-123")
    page.keyboard.press("Enter")
    link = page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Helena Costa")
    expect(link).to_be_visible()
    for _ in range(40):  # Tab through the header and filters to the conversation
        page.keyboard.press("Tab")
        if link.evaluate("(el) => el === document.activeElement"):
            break
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Helena Costa")).to_be_visible()
    page.get_by_role("button", name="Assumir").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Liberar")).to_be_visible()
    page.get_by_role("textbox", name="Mensagem").focus()
    page.keyboard.type("Tem sim!")
    page.keyboard.press("Enter")
    wait_for(lambda: sent_to(stack, wa_id), what="the reply sent from the keyboard")
