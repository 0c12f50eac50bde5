"""Issue 14 in a real Chromium: the contact panel and the Contatos page (edits and the lead form
live on a second screen, the LGPD export and anonymisation), templates, costs, the team."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import (
    SENHA,
    check_axe,
    component,
    console_url,
    customer_writes,
    new_admin,
    new_wa_id,
    sign_in,
)

pytestmark = pytest.mark.e2e


def _contato_id(wa_id: str) -> str:
    from chalicelib import db

    return str(db.scalar("SELECT id FROM contatos WHERE wa_id = :w", w=wa_id))


def _admin(nome: str) -> dict:
    from chalicelib import db

    admin = new_admin(nome)
    db.execute("UPDATE administradores SET papel = 'admin' WHERE id = :id", id=admin["id"])
    return admin


def _go(page, stack, path: str) -> None:
    page.goto(console_url(stack) + path)


def test_a_contact_edit_and_the_lead_form_appear_live_on_a_second_screen(stack, pages):
    ana, bruno = new_admin("Ana"), new_admin("Bruno")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Quero aprender saxofone", "Rafa Perfil")
    contato_id = _contato_id(wa_id)
    page, other = pages.new(), pages.new()
    sign_in(page, stack, ana)
    sign_in(other, stack, bruno)
    _go(page, stack, f"/contatos/{contato_id}")
    _go(other, stack, f"/contatos/{contato_id}")
    painel_outro = other.get_by_role("region", name="Contato Rafa Perfil")
    expect(painel_outro).to_be_visible()
    expect(page.get_by_role("list", name="Lista de contatos")).to_contain_text("Rafa Perfil")
    check_axe(page, "contatos")

    page.get_by_label("Nome do contato").fill("Rafaela Souza")
    page.get_by_label("Estado da jornada").select_option(label="Qualificado")
    page.get_by_role("button", name="Salvar contato").click()
    # Bruno's screen follows without a reload: the heading, the journey, the timeline in words.
    expect(other.get_by_role("heading", name="Rafaela Souza")).to_be_visible()
    expect(other.get_by_label("Estado da jornada")).to_have_value("qualificado")
    linha = other.get_by_role("region", name="Linha do tempo")
    expect(linha).to_contain_text("Jornada: Novo → Qualificado")
    expect(linha).to_contain_text("Conversa aberta")
    # The WhatsApp profile name stays apart from the edited name.
    expect(other.get_by_text("Rafa Perfil")).to_be_visible()

    page.get_by_text("Ficha de interessado").first.click()
    ficha = page.get_by_role("form", name="Ficha de interessado")
    ficha.get_by_label("Idade", exact=True).fill("16")
    ficha.get_by_label("Instrumento desejado").fill("saxofone")
    ficha.get_by_label("Instrumento sugerido").fill("clarinete")
    ficha.get_by_label("Expectativas").fill("Tocar na banda da escola")
    ficha.get_by_label("Tem disponibilidade de horário").check()
    ficha.get_by_role("button", name="Salvar ficha").click()
    expect(other.get_by_text("Ficha de interessado: saxofone, 16 anos")).to_be_visible()
    expect(linha).to_contain_text("Ficha de interessado preenchida: saxofone")
    expect(other.get_by_role("form", name="Ficha de interessado").get_by_label("Instrumento sugerido")).to_have_value(
        "clarinete"
    )
    check_axe(other, "contact panel with the lead form")

    # The same panel beside the conversation.
    _go(page, stack, "/")
    page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Rafaela Souza").click()
    page.get_by_role("button", name="Ver contato").click()
    expect(page.get_by_role("complementary", name="Painel do contato")).to_contain_text("Qualificado")


def test_export_downloads_a_json_file_with_the_contacts_messages(stack, pages):
    ana = new_admin("Ana")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Mensagem para exportar 123", "Dora Export")
    customer_writes(stack, wa_id, "Segunda mensagem", "Dora Export")
    page = pages.new()
    sign_in(page, stack, ana)
    _go(page, stack, f"/contatos/{_contato_id(wa_id)}")
    with page.expect_download() as info:
        page.get_by_role("button", name="Exportar dados").click()
    download = info.value
    assert download.suggested_filename.endswith(".json")
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    textos = json.dumps(data, ensure_ascii=False)
    assert "Mensagem para exportar 123" in textos and "Segunda mensagem" in textos
    assert data["contato"]["telefone"].endswith(wa_id[-8:])
    expect(page.get_by_role("region", name="Linha do tempo")).to_contain_text("Dados exportados (LGPD)")


def test_anonymise_asks_for_the_name_and_the_name_disappears_everywhere(stack, pages):
    ana, bruno = new_admin("Ana"), new_admin("Bruno")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Por favor apaguem meus dados", "Gilda Apagar")
    page, other = pages.new(), pages.new()
    sign_in(page, stack, ana)
    sign_in(other, stack, bruno)
    inbox = other.get_by_role("list", name="Conversas")
    expect(inbox.get_by_role("link").filter(has_text="Gilda Apagar")).to_be_visible()

    _go(page, stack, f"/contatos/{_contato_id(wa_id)}")
    page.get_by_role("button", name="Anonimizar contato").click()
    confirmar = page.get_by_role("form", name="Confirmar anonimização")
    expect(confirmar).to_contain_text("Irreversível")
    botao = confirmar.get_by_role("button", name="Anonimizar definitivamente")
    expect(botao).to_be_disabled()
    confirmar.get_by_label("Para confirmar, digite").fill("Gilda")
    expect(botao).to_be_disabled()
    confirmar.get_by_label("Para confirmar, digite").fill("Gilda Apagar")
    check_axe(page, "anonymise confirmation")
    botao.click()

    expect(page.get_by_role("heading", name="Contato anonimizado")).to_be_visible()
    expect(page.get_by_text("Gilda Apagar")).to_have_count(0)
    # Bruno's inbox, live: the name is gone.
    expect(inbox.get_by_text("Gilda Apagar")).to_have_count(0)
    expect(other.get_by_text("Gilda Apagar")).to_have_count(0)


def test_templates_sync_marks_rejected_and_paused(stack, pages):
    graph = component(stack, "FakeWhatsAppComponent").graph
    tag = uuid.uuid4().hex[:6]
    graph.set_templates([
        {"id": f"7{tag}1", "name": f"boas_vindas_{tag}", "language": "pt_BR", "status": "APPROVED",
         "category": "UTILITY", "components": [{"type": "BODY", "text": "Olá {{1}}, bem-vindo!"}]},
        {"id": f"7{tag}2", "name": f"promo_{tag}", "language": "pt_BR", "status": "REJECTED",
         "category": "MARKETING", "components": [{"type": "BODY", "text": "Promoção de verão"}]},
        {"id": f"7{tag}3", "name": f"lembrete_{tag}", "language": "en_US", "status": "PAUSED",
         "category": "UTILITY", "components": [{"type": "BODY", "text": "Reminder"}]},
    ])  # fmt: skip
    ana = new_admin("Ana")
    page = pages.new()
    sign_in(page, stack, ana)
    page.get_by_role("navigation", name="Páginas do console").get_by_role("link", name="Templates").click()
    page.get_by_role("button", name="Sincronizar agora").click()
    expect(page.get_by_role("status").filter(has_text="Sincronizado")).to_be_visible()
    lista = page.get_by_role("list", name="Templates")
    boas = lista.get_by_role("listitem", name=f"boas_vindas_{tag} (pt_BR)")
    expect(boas).to_contain_text("Aprovado")
    expect(boas).to_contain_text("Utilidade")
    expect(boas).to_contain_text("Olá {{1}}, bem-vindo!")
    expect(lista.get_by_role("listitem", name=f"promo_{tag} (pt_BR)")).to_contain_text("⚠ Rejeitado")
    expect(lista.get_by_role("listitem", name=f"lembrete_{tag} (en_US)")).to_contain_text("⚠ Pausado")
    expect(page.get_by_text("Última sincronização: nunca")).to_have_count(0)
    check_axe(page, "templates")


def test_the_cost_chart_renders_for_a_seeded_month(stack, pages):
    from chalicelib import db

    db.execute("DELETE FROM tarifas WHERE vigente_desde = '2025-02-01'")
    db.execute(
        "INSERT INTO tarifas (categoria, vigente_desde, valor_brl) VALUES"
        " ('marketing', '2025-02-01', 0.5), ('utility', '2025-02-01', 0.25)"
    )
    db.execute("DELETE FROM mensagens WHERE created_at >= '2025-03-01' AND created_at < '2025-04-01'")
    wa_id = new_wa_id()
    customer_writes(stack, wa_id, "Oi", "Custo Seed")
    conversa = db.scalar(
        "SELECT c.id FROM conversas c JOIN contatos k ON k.id = c.contato_id WHERE k.wa_id = :w", w=wa_id
    )
    for dia, categoria in [("05", "marketing"), ("05", "utility"), ("12", "marketing"), ("20", "utility")]:
        dados = {"statuses": {"sent": {"status": "sent", "pricing": {"billable": True, "category": categoria}}}}
        db.execute(
            "INSERT INTO mensagens (conversa_id, conteudo, direcao, tipo, status_envio, billing_category,"
            " created_at, dados) VALUES (:c, 'x', 'saida', 'template', 'enviada',"
            " CAST(:cat AS billing_category), :at, CAST(:d AS jsonb))",
            c=conversa,
            cat=categoria,
            at=f"2025-03-{dia}T15:00:00Z",
            d=json.dumps(dados),
        )
    ana = _admin("Ana")
    page = pages.new()
    sign_in(page, stack, ana)
    _go(page, stack, "/custos")
    page.get_by_label("De", exact=True).fill("2025-03-01")
    page.get_by_label("Até", exact=True).fill("2025-03-31")
    grafico = page.get_by_role("img", name="Custo estimado por dia")
    expect(grafico).to_be_visible()
    expect(grafico.locator("g[data-periodo]")).to_have_count(3)
    expect(page.get_by_role("note")).to_contain_text("estimados")
    expect(page.locator(".totais")).to_contain_text("R$ 1,50")
    tabela = page.get_by_role("region", name="Tabela de custos por período")
    expect(tabela).to_contain_text("Marketing")
    expect(tabela).to_contain_text("R$ 0,50")
    check_axe(page, "costs")

    page.get_by_label("Agrupar por").select_option(label="Mês")
    mensal = page.get_by_role("img", name="Custo estimado por mês")
    expect(mensal.locator("g[data-periodo]")).to_have_count(1)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(mensal).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_axe(page, "costs at 390 px")


def test_an_admin_creates_and_deactivates_an_attendant_whose_conversation_returns_to_the_queue(stack, pages):
    # The deactivated attendant's next request and reconnection, as Chromium logs them.
    pages.allow(r"status of 401")
    pages.allow(r"WebSocket connection to .* failed")
    ana = _admin("Ana")
    page = pages.new()
    sign_in(page, stack, ana)
    _go(page, stack, "/equipe")
    email = f"tiago-{uuid.uuid4().hex[:6]}@escola.com.br"
    form = page.get_by_role("form", name="Cadastrar pessoa")
    form.get_by_label("Nome").fill("Tiago Novo")
    form.get_by_label("E-mail da pessoa").fill(email)
    form.get_by_label("Senha inicial").fill(SENHA)
    form.get_by_role("button", name="Cadastrar").click()
    pessoas = page.get_by_role("list", name="Pessoas da equipe")
    expect(pessoas.get_by_role("listitem").filter(has_text="Tiago Novo")).to_contain_text("Atendente")
    check_axe(page, "team")

    # Tiago signs in and takes a conversation.
    tiago = pages.new()
    sign_in(tiago, stack, {"email": email}, SENHA)
    customer_writes(stack, new_wa_id(), "Tem aula de canto?", "Helena Canto")
    tiago.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Helena Canto").click()
    tiago.get_by_role("button", name="Assumir").click()
    expect(tiago.get_by_role("button", name="Transferir")).to_be_visible()

    # An attendant has no team controls.
    _go(tiago, stack, "/equipe")
    expect(tiago.get_by_text("Só administradores cadastram e desativam pessoas.")).to_be_visible()
    expect(tiago.get_by_role("button", name="Desativar Ana")).to_have_count(0)

    page.get_by_role("button", name="Desativar Tiago Novo").click()
    page.get_by_role("button", name="Confirmar desativação").click()
    expect(pessoas.get_by_role("listitem").filter(has_text="Tiago Novo")).to_contain_text("Desativado")

    # Tiago's session is over at once: his socket is closed, the console asks who he is, and
    # the 401 signs him out, without a reload.
    expect(tiago.get_by_role("button", name="Entrar")).to_be_visible(timeout=20_000)
    # Helena's conversation is back in the queue, on Ana's inbox.
    _go(page, stack, "/")
    item = page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Helena Canto")
    expect(item).to_contain_text("Sem atendente")


def test_change_own_password_keeps_this_session(stack, pages):
    bia = new_admin("Bia")
    page = pages.new()
    sign_in(page, stack, bia)
    _go(page, stack, "/equipe")
    form = page.get_by_role("form", name="Trocar minha senha")
    form.get_by_label("Senha atual").fill(SENHA)
    form.get_by_label("Nova senha").fill("outra senha longa da Bia")
    form.get_by_role("button", name="Trocar senha").click()
    expect(page.get_by_role("status").filter(has_text="Senha trocada")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Equipe")).to_be_visible()
