"""Sending rules at service level: the window, templates, opt-out, assignment, billing."""

from __future__ import annotations

import pytest

from chalicelib import db
from chalicelib.http import ApiError
from chalicelib.services import sending
from tests.integration.send_support import (
    conversa,
    last_customer_message_at,
    make_admin,
    make_conversa,
    make_template,
    mensagens,
)


def texto(conteudo: str = "Oi! Tudo bem?") -> sending.EnviarTexto:
    return sending.EnviarTexto(tipo="texto", conteudo=conteudo)


def template(name: str = "lembrete_aula", parametros=None, language: str = "pt_BR") -> sending.EnviarTemplate:
    return sending.EnviarTemplate(
        tipo="template",
        name=name,
        language=language,
        parametros=["Bia", "amanhã"] if parametros is None else parametros,
    )


# The window --------------------------------------------------------------------------------
def test_text_is_allowed_one_second_before_the_window_closes(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    # One transaction: now() is the same instant for the setup and the send's window check.
    with db.transaction():
        last_customer_message_at(conversa_id, 24 * 3600 - 1)  # now() = T + 24h - 1s
        result = sending.send(conversa_id, admin, texto())

    assert result.status == 201
    assert len(graph.sent_messages) == 1
    assert graph.sent_messages[0]["text"]["body"] == "Oi! Tudo bem?"
    assert graph.sent_messages[0]["to"] == "5511987654321"
    stored = mensagens(conversa_id)
    assert [(m["status_envio"], m["billing_category"], str(m["enviado_por"])) for m in stored] == [
        ("enviada", "service", admin)
    ]
    assert stored[0]["whatsapp_id"] == graph.sent_messages[0]["_wamid"]


def test_text_is_refused_when_the_window_reaches_24_hours(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    with pytest.raises(ApiError) as caught, db.transaction():
        last_customer_message_at(conversa_id, 24 * 3600)  # now() = T + 24h exactly
        sending.send(conversa_id, admin, texto())

    assert (caught.value.status, caught.value.code) == (409, "WindowClosed")
    assert graph.sent_messages == []
    assert mensagens(conversa_id) == []


def test_window_never_opened_is_closed(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(window_seconds=None, atendente_id=admin)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())
    assert caught.value.code == "WindowClosed"


def test_template_is_allowed_after_the_window_closed(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    last_customer_message_at(conversa_id, 24 * 3600 + 60)
    make_template(category="marketing", name="promo", body="Oi {{1}}, temos {{2}}!")

    result = sending.send(conversa_id, admin, template("promo", ["Bia", "vagas"]))

    assert result.status == 201
    sent = graph.sent_messages[0]
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "promo"
    assert sent["template"]["language"] == {"code": "pt_BR"}
    assert sent["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Bia"}, {"type": "text", "text": "vagas"}]}
    ]
    [stored] = mensagens(conversa_id)
    assert stored["tipo"] == "template"
    assert stored["billing_category"] == "marketing"
    assert stored["conteudo"] == "Oi Bia, temos vagas!"
    assert stored["template_id"] is not None


def test_utility_template_inside_the_window_is_still_category_utility(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(window_seconds=3600, atendente_id=admin)
    make_template(category="utility")
    sending.send(conversa_id, admin, template())
    assert mensagens(conversa_id)[0]["billing_category"] == "utility"


# Templates --------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["pending", "rejected", "paused"])
def test_a_template_that_is_not_approved_is_refused(db_clean, graph, events, status):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    make_template(status=status)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template())
    assert (caught.value.status, caught.value.code) == (409, "TemplateNotApproved")
    assert graph.sent_messages == [] and mensagens(conversa_id) == []


def test_an_unknown_template_is_a_validation_error(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    make_template(language="en_US")
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template())
    assert (caught.value.status, caught.value.code, caught.value.extra["field"]) == (422, "ValidationError", "name")


@pytest.mark.parametrize("variables", ['"oops"', "[1, 2]", '[{"component": "body"}]', '{"a": 1}'])
def test_a_template_row_with_malformed_variables_is_read_from_its_components(db_clean, graph, events, variables):
    """A hand-edited or old row must not answer 500: its components say what it expects."""
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    template_id = make_template()
    db.execute(
        "UPDATE templates SET variables = CAST(:v AS jsonb) WHERE id = CAST(:id AS uuid)", v=variables, id=template_id
    )
    result = sending.send(conversa_id, admin, template())
    assert result.status == 201
    assert result.body["mensagem"]["conteudo"] == "Olá Bia, sua aula é amanhã."
    db.execute(
        "UPDATE templates SET variables = '[1]', components = CAST(:c AS jsonb) WHERE id = CAST(:id AS uuid)",
        c='[{"type": "BODY", "text": 5}]',
        id=template_id,
    )
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template())
    assert caught.value.status == 422 and caught.value.code == "ValidationError"


@pytest.mark.parametrize(
    "parametros",
    [["Bia"], ["Bia", "amanhã", "extra"], {"1": "Bia"}, {"1": "Bia", "2": "x", "3": "y"}, ["Bia", "linha\nquebrada"]],
)
def test_parameter_mismatch_is_422(db_clean, graph, events, parametros):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    make_template()
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template(parametros=parametros))
    assert (caught.value.status, caught.value.code) == (422, "ValidationError")
    assert caught.value.extra["field"] == "parametros"
    assert caught.value.extra["esperado"] == ["body.1", "body.2"]
    assert graph.sent_messages == []


def test_named_parameters_are_checked_by_name_and_sent_with_their_names(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    make_template(
        name="boas_vindas",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Olá {{nome}}"},
            {"type": "BODY", "text": "{{nome}}, sua aula de {{instrumento}} está confirmada."},
        ],
    )
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template("boas_vindas", {"nome": "Bia", "instrumento": "violão"}))
    assert caught.value.code == "ValidationError"  # "nome" is in header and body: ambiguous
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template("boas_vindas", {"body.nome": "Bia", "body.cor": "azul"}))
    assert "body.cor" in caught.value.message

    sending.send(
        conversa_id,
        admin,
        template("boas_vindas", {"header.nome": "Bia", "body.nome": "Bia", "body.instrumento": "violão"}),
    )

    components = graph.sent_messages[0]["template"]["components"]
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "Bia", "parameter_name": "nome"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Bia", "parameter_name": "nome"},
                {"type": "text", "text": "violão", "parameter_name": "instrumento"},
            ],
        },
    ]
    assert mensagens(conversa_id)[0]["conteudo"] == "Bia, sua aula de violão está confirmada."


def test_marketing_template_is_refused_to_an_opted_out_contact(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin, opt_in_status=False, opt_in_at=True)  # withdrew consent
    make_template(category="marketing")
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, template())
    assert (caught.value.status, caught.value.code) == (409, "OptedOut")
    assert graph.sent_messages == []


def test_utility_template_still_goes_to_an_opted_out_contact(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin, opt_in_status=False, opt_in_at=True)
    make_template(category="utility")
    assert sending.send(conversa_id, admin, template()).status == 201


def test_marketing_goes_to_a_contact_who_never_opted_out(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin, opt_in_status=True, opt_in_at=True)
    make_template(category="marketing")
    assert sending.send(conversa_id, admin, template()).status == 201


# Assignment ---------------------------------------------------------------------------------
def test_sending_in_another_admins_conversation_is_409(db_clean, graph, events):
    dono, outro = make_admin("Dono"), make_admin("Outro")
    conversa_id = make_conversa(atendente_id=dono)
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, outro, texto())
    assert (caught.value.status, caught.value.code) == (409, "AssignedToOther")
    assert graph.sent_messages == [] and mensagens(conversa_id) == []
    assert str(conversa(conversa_id)["atendente_id"]) == dono


def test_sending_in_an_unassigned_conversation_takes_it(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=None)

    result = sending.send(conversa_id, admin, texto())

    assert result.body["atribuida"] is True
    row = conversa(conversa_id)
    assert str(row["atendente_id"]) == admin and row["atribuida_em"] is not None
    assert [e for e, _ in events][:2] == ["conversation:assigned", "message:new"]  # taken, then the message
    [assigned] = [data for event, data in events if event == "conversation:assigned"]
    assert assigned["anterior_id"] is None and assigned["conversa"]["id"] == conversa_id
    assert assigned["conversa"]["atendente"] == {"id": admin, "nome": "Ana"}


def test_a_refused_send_does_not_take_the_conversation(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(window_seconds=-1, atendente_id=None)
    with pytest.raises(ApiError):
        sending.send(conversa_id, admin, texto())
    assert conversa(conversa_id)["atendente_id"] is None
    assert [e for e, _ in events if e == "conversation:assigned"] == []


def test_closed_conversation_and_unknown_conversation(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    db.execute(
        "UPDATE conversas SET status = 'encerrada', closed_at = now() WHERE id = CAST(:id AS uuid)", id=conversa_id
    )
    with pytest.raises(ApiError) as caught:
        sending.send(conversa_id, admin, texto())
    assert caught.value.code == "ConversationClosed"
    with pytest.raises(ApiError) as caught:
        sending.send("00000000-0000-0000-0000-000000000000", admin, texto())
    assert caught.value.status == 404
    with pytest.raises(ApiError) as caught:
        sending.send("not-a-uuid", admin, texto())
    assert caught.value.status == 404


# Events -------------------------------------------------------------------------------------
def test_message_new_then_status_are_published(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin)
    sending.send(conversa_id, admin, texto())
    names = [e for e, _ in events]
    # The pendente message and its inbox item at once; the tick and the item again once sent.
    assert names == ["message:new", "conversation:updated", "message:status", "conversation:updated"]
    new = events[0][1]
    assert new["mensagem"]["status_envio"] == "pendente" and new["conversa_id"] == conversa_id
    assert new["mensagem"]["enviado_por_nome"] == "Ana"
    status = events[2][1]
    assert status["status_envio"] == "enviada" and status["whatsapp_id"] == graph.sent_messages[0]["_wamid"]
    assert status["billing_category"] == "service"


def test_wa_id_falls_back_to_telefone_without_plus(db_clean, graph, events):
    admin = make_admin()
    conversa_id = make_conversa(atendente_id=admin, wa_id=None, telefone="+5511912345678")
    sending.send(conversa_id, admin, texto())
    assert graph.sent_messages[0]["to"] == "5511912345678"
