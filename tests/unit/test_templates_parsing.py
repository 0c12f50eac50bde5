"""Template components → body and variables; Meta's status and category → our enums."""

from __future__ import annotations

from chalicelib.services.templates import extract_body_and_variables, map_category, map_status, to_row


def test_positional_placeholders_are_extracted_in_order_with_their_examples():
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Olá {{1}}", "example": {"header_text": ["Ana"]}},
        {
            "type": "BODY",
            "text": "Sua aula de {{1}} é {{2}}. Até {{2}}!",
            "example": {"body_text": [["violão", "amanhã às 15h"]]},
        },
        {"type": "FOOTER", "text": "Escola de Música"},
    ]
    body, variables = extract_body_and_variables(components)
    assert body == "Sua aula de {{1}} é {{2}}. Até {{2}}!"
    assert variables == [
        {"component": "header", "name": "1", "example": "Ana"},
        {"component": "body", "name": "1", "example": "violão"},
        {"component": "body", "name": "2", "example": "amanhã às 15h"},
    ]


def test_named_placeholders_and_url_buttons_are_extracted():
    components = [
        {
            "type": "BODY",
            "text": "Oi {{nome}}, sua matrícula em {{ curso }} foi confirmada.",
            "example": {
                "body_text_named_params": [
                    {"param_name": "nome", "example": "Bruna"},
                    {"param_name": "curso", "example": "piano"},
                ]
            },
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Ok"},
                {"type": "URL", "text": "Ver", "url": "https://escola.com.br/m/{{1}}", "example": ["abc"]},
            ],
        },
    ]
    body, variables = extract_body_and_variables(components)
    assert body.startswith("Oi {{nome}}")
    assert variables == [
        {"component": "body", "name": "nome", "example": "Bruna"},
        {"component": "body", "name": "curso", "example": "piano"},
        {"component": "button", "name": "1", "example": "abc"},
    ]


def test_media_headers_have_no_text_variables_and_no_body_is_none():
    body, variables = extract_body_and_variables([{"type": "HEADER", "format": "IMAGE"}])
    assert body is None
    assert variables == []


def test_statuses_and_categories_map_to_our_enums_and_unknown_ones_are_never_usable():
    assert map_status("APPROVED") == "approved"
    assert map_status("PENDING_DELETION") == "pending_deletion"
    assert map_status("SOMETHING_NEW") == "pending"
    assert map_category("UTILITY") == "utility"
    assert map_category("OTP") == "authentication"
    assert map_category("WHATEVER") == "marketing"


def test_to_row_keeps_the_components_and_stringifies_the_id():
    row = to_row({"id": 123, "name": "boas_vindas", "language": "pt_BR", "status": "APPROVED",
                  "category": "MARKETING", "components": [{"type": "BODY", "text": "Oi"}]})  # fmt: skip
    assert row["whatsapp_id"] == "123"
    assert (row["status"], row["category"], row["body"]) == ("approved", "marketing", "Oi")
    assert row["components"] == [{"type": "BODY", "text": "Oi"}]
