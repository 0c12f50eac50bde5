"""The HTTP edge of the webhook: handshake, signature, size, JSON, foreign payloads, no 5xx."""

# ruff: noqa: F811 - the `webhook` fixture is imported from webhook_support
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.local import payloads as wa
from chalicelib.whatsapp.signature import sign
from tests.integration.webhook_support import count, one, webhook  # noqa: F401

ANA = "5511987654321"
SECRET = "test-app-secret"


def test_handshake_answers_the_challenge(webhook):
    ok = webhook.client.http.get(
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=1158201444"
    )
    assert ok.status_code == 200 and ok.body == b"1158201444"
    wrong = webhook.client.http.get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")
    assert wrong.status_code == 403
    assert webhook.client.http.get("/webhooks/whatsapp").status_code == 403


def test_missing_signature_is_401_and_nothing_is_stored(webhook):
    body = wa.encode(wa.envelope(wa.value([wa.text(ANA, "oi")])))
    response = webhook.post_bytes(body, {"Content-Type": "application/json"})
    assert response.status_code == 401
    assert count("mensagens") == 0 and count("contatos") == 0


def test_wrong_signature_is_403_and_nothing_is_stored(webhook):
    payload = wa.envelope(wa.value([wa.text(ANA, "oi")]))
    assert webhook.post(payload, secret="outro-segredo").status_code == 403
    body, headers = wa.signed(payload)
    tampered = body.replace(b"oi", b"io")
    assert webhook.post_bytes(tampered, headers).status_code == 403
    assert count("mensagens") == 0 and count("contatos") == 0 and count("eventos") == 0


def test_signature_is_over_the_raw_bytes_with_unicode_escapes(webhook):
    msg = wa.text(ANA, "Olá, é aqui a escola de música?")
    body, headers = wa.signed(wa.envelope(wa.value([msg])))
    assert b"\\u00e9" in body and "é".encode() not in body  # Meta's escaped form
    assert webhook.post_bytes(body, headers).status_code == 200
    assert one("SELECT conteudo FROM mensagens")["conteudo"] == "Olá, é aqui a escola de música?"
    # Same JSON, other bytes (unescaped): the old signature does not fit them.
    unescaped = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    assert webhook.post_bytes(unescaped, headers).status_code == 403


def test_body_over_3_mb_is_413(webhook):
    body = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = webhook.post_bytes(body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
    assert response.status_code == 413


def test_invalid_json_with_valid_signature_is_400(webhook):
    for body in (b"{not json", b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000, b"[" * 100 + b"]" * 100):
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)}
        assert webhook.post_bytes(body, headers).status_code == 400, body[:20]
    assert count("mensagens") == 0


def test_other_object_or_number_is_200_and_ignored(webhook):
    assert webhook.post({"object": "page", "entry": [{"id": "1", "changes": []}]}).status_code == 200
    other = wa.envelope(wa.value([wa.text(ANA, "oi")], phone_number_id="987654321"))
    response = webhook.post(other)
    assert response.status_code == 200 and json.loads(response.body)["ignorados"] == 1
    assert count("mensagens") == 0 and count("contatos") == 0


# Any JSON, signed: never a 5xx ------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "from",
        "id",
        "timestamp",
        "type",
        "text",
        "image",
        "audio",
        "location",
        "reaction",
        "interactive",
        "context",
        "referral",
        "errors",
        "status",
        "pricing",
        "body",
        "emoji",
        "message_id",
        "latitude",
        "caption",
        "mime_type",
        "wa_id",
        "profile",
        "category",
        "button_reply",
        "contacts",
        "recipient_id",
        "event",
    ]
)
_plausible = st.dictionaries(
    _keys,
    st.one_of(
        _json,
        st.sampled_from(["5511987654321", "551187654321", "text", "image", "reaction", "read", "failed", "1763000000"]),
        st.dictionaries(_keys, _json, max_size=4),
    ),
    max_size=8,
)
_shaped = st.builds(
    lambda msgs, sts, extra: wa.envelope(wa.value(messages=msgs, statuses=sts, **extra)),
    st.lists(_plausible, max_size=3),
    st.lists(_plausible, max_size=3),
    st.dictionaries(st.sampled_from(["contacts", "errors", "user_preferences", "metadata"]), _json, max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(_json, _shaped))
def test_any_signed_json_body_gets_no_5xx(webhook, payload):
    response = webhook.post(payload)
    assert response.status_code < 500, (payload, response.body)
