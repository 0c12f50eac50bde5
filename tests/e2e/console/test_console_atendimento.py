"""Issue 13 in the console: quick replies, notes, reply, reaction, the settings and metrics pages."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import (
    check_axe,
    console_url,
    customer_writes,
    new_admin,
    new_wa_id,
    sent_to,
    sign_in,
    wait_for,
)

pytestmark = pytest.mark.e2e


def test_quick_reply_note_reply_and_reaction(stack, pages):
    from chalicelib.repositories import atendimento as repo

    ana = new_admin("Ana")
    atalho = "preco" + uuid.uuid4().hex[:4]
    repo.create_resposta(ana["id"], atalho, "Preço", "Olá {{primeiro_nome}}! A aula custa R$ 200.")
    wa_id = new_wa_id()
    pergunta = customer_writes(stack, wa_id, "Quanto custa?", "Helena Prado")

    page = pages.new()
    sign_in(page, stack, ana)
    page.get_by_role("list", name="Conversas").get_by_role("link").filter(has_text="Helena Prado").click()
    page.get_by_role("button", name="Assumir").click()
    expect(page.get_by_role("button", name="Transferir")).to_be_visible()

    # Quick reply: "/" offers it, filled for this contact; choosing puts it in the composer.
    box = page.get_by_role("textbox", name="Mensagem")
    box.fill("/" + atalho[:4])
    sugestoes = page.get_by_role("list", name="Respostas rápidas")
    expect(sugestoes).to_contain_text("Olá Helena! A aula custa R$ 200.")
    check_axe(page, "quick-reply picker")
    sugestoes.get_by_role("button").filter(has_text="/" + atalho).click()
    expect(box).to_have_value("Olá Helena! A aula custa R$ 200.")
    box.press("Enter")
    sent = wait_for(lambda: sent_to(stack, wa_id), what="the quick reply to reach WhatsApp")
    assert sent[-1]["text"]["body"] == "Olá Helena! A aula custa R$ 200."

    # A note: in the timeline, styled apart, never sent.
    page.get_by_role("button", name="Escrever nota interna").click()
    page.get_by_label("Nota interna (não vai para o cliente; @nome avisa um colega)").fill("Cliente pediu desconto")
    page.get_by_role("button", name="Salvar nota").click()
    log = page.get_by_role("log", name="Mensagens")
    expect(log.get_by_role("complementary", name="Nota interna de Ana")).to_contain_text("Cliente pediu desconto")
    assert len(sent_to(stack, wa_id)) == 1

    # Reply from the message's menu: WhatsApp gets context.message_id.
    pergunta_bolha = log.get_by_role("article", name="Mensagem recebida").filter(has_text="Quanto custa?")
    pergunta_bolha.get_by_role("button", name="Ações da mensagem").click()
    pergunta_bolha.get_by_role("button", name="Responder").click()
    expect(page.get_by_text("Respondendo a:")).to_be_visible()
    box.fill("Temos desconto para irmãos.")
    box.press("Enter")
    sent = wait_for(lambda: len(sent_to(stack, wa_id)) == 2 and sent_to(stack, wa_id), what="the reply")
    assert sent[-1]["context"] == {"message_id": pergunta["id"]}
    expect(log.get_by_role("article").filter(has_text="Temos desconto para irmãos.")).to_contain_text("Quanto custa?")

    # A reaction shows on the message, and can be removed.
    pergunta_bolha.get_by_role("button", name="Ações da mensagem").click()
    pergunta_bolha.get_by_role("button", name="Reagir com 👍").click()
    expect(pergunta_bolha.get_by_role("img", name="Sua reação: 👍")).to_be_visible()
    sent = wait_for(lambda: len(sent_to(stack, wa_id)) == 3 and sent_to(stack, wa_id), what="the reaction")
    assert sent[-1]["reaction"] == {"message_id": pergunta["id"], "emoji": "👍"}
    check_axe(page, "conversation with note, reply and reaction")
    pergunta_bolha.get_by_role("button", name="Ações da mensagem").click()
    pergunta_bolha.get_by_role("button", name="Remover reação").click()
    expect(pergunta_bolha.get_by_role("img", name="Sua reação: 👍")).to_have_count(0)
    sent = wait_for(lambda: len(sent_to(stack, wa_id)) == 4 and sent_to(stack, wa_id), what="the removal")
    assert sent[-1]["reaction"] == {"message_id": pergunta["id"], "emoji": ""}

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Escrever nota interna")).to_be_visible()
    check_axe(page, "conversation at 390 px")


def test_settings_page_saves_distribution_hours_away_message_and_quick_replies(stack, pages):
    from chalicelib import db

    ana = new_admin("Ana")
    db.execute("UPDATE administradores SET papel = 'admin' WHERE id = :id", id=ana["id"])  # settings are an admin's
    page = pages.new()
    sign_in(page, stack, ana)
    try:
        page.get_by_role("navigation", name="Páginas do console").get_by_role("link", name="Configurações").click()
        expect(page.get_by_role("heading", name="Configurações de atendimento")).to_be_visible()
        page.get_by_label("Atribuir novas conversas a quem está conectado").check()
        page.get_by_label("Conversas ativas por atendente").fill("3")
        page.get_by_role("checkbox", name="Segunda").check()
        page.get_by_label("Segunda: início").fill("09:00")
        page.get_by_label("Segunda: fim").fill("17:30")
        page.get_by_label("Mensagem de ausência", exact=False).fill("Voltamos às 9h.")
        page.get_by_role("button", name="Salvar configurações").click()
        expect(page.get_by_role("status").filter(has_text="Configurações salvas.")).to_be_visible()
        check_axe(page, "settings")
        row = db.query_one("SELECT * FROM configuracoes_atendimento")
        assert row["distribuicao_automatica"] is True and row["capacidade"] == 3
        assert row["horarios"] == [{"dia": 1, "inicio": "09:00", "fim": "17:30"}]
        assert row["mensagem_ausencia"] == "Voltamos às 9h."

        page.reload()
        expect(page.get_by_label("Segunda: fim")).to_have_value("17:30")
        expect(page.get_by_label("Conversas ativas por atendente")).to_have_value("3")

        atalho = "oi" + uuid.uuid4().hex[:4]
        page.get_by_label("Atalho").fill("/" + atalho)
        page.get_by_label("Título").fill("Saudação")
        page.get_by_label("Texto", exact=True).fill("Olá {{nome}}!")
        page.get_by_role("button", name="Adicionar resposta rápida").click()
        lista = page.get_by_role("list", name="Respostas rápidas cadastradas")
        expect(lista).to_contain_text("/" + atalho)
        lista.get_by_role("button", name=f"Apagar /{atalho}").click()
        expect(lista).not_to_contain_text("/" + atalho)

        page.get_by_role("navigation", name="Páginas do console").get_by_role("link", name="Métricas").click()
        expect(page.get_by_role("heading", name="Métricas de atendimento")).to_be_visible()
        expect(page.get_by_role("table")).to_contain_text("Total")
        check_axe(page, "metrics")
        page.set_viewport_size({"width": 390, "height": 844})
        check_axe(page, "metrics at 390 px")
    finally:
        # The stack is shared: distribution or an away message must not leak into other tests.
        db.execute("DELETE FROM configuracoes_atendimento")
    assert console_url(stack)
