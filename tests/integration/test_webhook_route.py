"""The HTTP edge of the webhook: handshake, signature, size, JSON, foreign payloads, no 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.whatsapp.signature import sign
from devstack import payloads as wa
from tests.integration.webhook_support import count, one

ANA = "5511987654321"
SECRET = "test-app-secret"


def code(response) -> str:
    return json.loads(response.body)["Code"]


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
    assert (response.status_code, code(response)) == (401, "Unauthorized")
    assert count("mensagens") == 0 and count("contatos") == 0


def test_wrong_signature_is_403_and_nothing_is_stored(webhook):
    payload = wa.envelope(wa.value([wa.text(ANA, "oi")]))
    response = webhook.post(payload, secret="outro-segredo")
    assert (response.status_code, code(response)) == (403, "ForbiddenError")
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
    assert (response.status_code, code(response)) == (413, "PayloadTooLarge")


def test_invalid_json_with_valid_signature_is_400(webhook):
    for body in (b"{not json", b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000, b"[" * 100 + b"]" * 100):
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)}
        response = webhook.post_bytes(body, headers)
        assert (response.status_code, code(response)) == (400, "BadRequestError"), body[:20]
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


# Order of the checks -----------------------------------------------------------------------------
def test_size_is_checked_before_the_signature_and_the_json(webhook):
    oversized = b"{not json" + b" " * (3 * 1024 * 1024)
    unsigned = {"Content-Type": "application/json"}
    assert webhook.post_bytes(oversized, unsigned).status_code == 413  # not 401: no HMAC over 3 MB
    signed = {**unsigned, "X-Hub-Signature-256": sign(oversized, SECRET)}
    assert webhook.post_bytes(oversized, signed).status_code == 413  # not 400: never parsed
    # Exactly 3 MB is allowed.
    payload = wa.encode(wa.envelope(wa.value([wa.text(ANA, "oi")])))
    at_limit = payload[:-1] + b" " * (3 * 1024 * 1024 - len(payload)) + b"}"
    assert len(at_limit) == 3 * 1024 * 1024
    response = webhook.post_bytes(at_limit, {**unsigned, "X-Hub-Signature-256": sign(at_limit, SECRET)})
    assert response.status_code == 200 and count("mensagens") == 1


def test_signature_is_checked_before_the_json_is_parsed(webhook):
    garbage = b"{not json"
    assert webhook.post_bytes(garbage, {"Content-Type": "application/json"}).status_code == 401
    wrong = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(garbage, "outro-segredo")}
    assert webhook.post_bytes(garbage, wrong).status_code == 403
    assert count("eventos") == 0


def test_refusals_and_ignored_payloads_are_logged(webhook, caplog):
    import logging

    def logged() -> str:
        text = " ".join(f"{r.getMessage()} {getattr(r, 'reasons', '')}" for r in caplog.records)
        caplog.clear()
        return text

    caplog.set_level(logging.INFO)
    body = b"{not json"
    webhook.post_bytes(body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
    assert "webhook body is not JSON" in logged()
    webhook.post({"object": "instagram", "entry": []})
    assert "'instagram' is not whatsapp_business_account" in logged()
    webhook.post(wa.envelope(wa.value([wa.text(ANA, "oi")], phone_number_id="987654321")))
    assert "phone_number_id 987654321 is not ours" in logged()
    webhook.post_bytes(body, {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"})
    assert "webhook with a wrong signature" in logged()


def test_json_with_non_finite_and_huge_numbers_is_stored(webhook):
    body = wa.encode(wa.envelope(wa.value([wa.location(ANA, latitude=1.0, longitude=2.0)])))
    body = body.replace(b'"latitude":1.0', b'"latitude":NaN').replace(b'"longitude":2.0', b'"longitude":1e999')
    body = body.replace(b'"type":"location"', b'"type":"location","n":123456789012345678901234567890')
    response = webhook.post_bytes(body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
    assert response.status_code == 200, response.body
    dados = one("SELECT dados FROM mensagens")["dados"]
    assert dados["raw"]["location"]["latitude"] is None and dados["raw"]["location"]["longitude"] is None
    assert dados["raw"]["n"] == 123456789012345678901234567890
