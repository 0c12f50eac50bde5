"""Realistic payloads of every kind with odd values planted anywhere in them: never a 5xx.

test_webhook_route's property draws arbitrary JSON, which rarely gets past the envelope. Here
each example starts from a real payload (every message type, statuses, user_preferences,
template updates, value errors) and replaces 1-3 nodes anywhere in its tree (the envelope,
an entry, a change, a value, a message body, a status's pricing...) with a string where an
object is expected, an object where a string is, null, huge or non-finite numbers, NUL
characters, lone surrogates, long text or deep nesting.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.whatsapp.signature import sign
from devstack import payloads as wa
from tests.integration.webhook_support import rows

ANA = "5511987654321"
SECRET = "test-app-secret"


def _bases() -> list[Any]:
    target = "wamid.fuzz.alvo"
    messages = [
        wa.text(ANA, "oi", context={"from": ANA, "id": target}, referral=wa.referral()),
        wa.image(ANA, caption="foto"),
        wa.audio(ANA),
        wa.document(ANA),
        wa.sticker(ANA),
        wa.location(ANA),
        wa.contacts(ANA),
        wa.button_reply(ANA),
        wa.list_reply(ANA),
        wa.nfm_reply(ANA),
        wa.button(ANA),
        wa.reaction(ANA, target),
        wa.system(ANA),
        wa.unsupported(ANA),
        wa.order(ANA),
    ]
    statuses = [
        wa.status(target, "delivered", category="marketing"),
        wa.status(target, "failed", errors=wa.failed_error()),
    ]
    return [
        *(wa.envelope(wa.value([m])) for m in messages),
        wa.envelope(wa.value(messages[:4], statuses=statuses)),
        wa.envelope(wa.value(statuses=statuses)),
        wa.envelope(("user_preferences", wa.user_preferences(ANA, "stop"))),
        wa.envelope(("message_template_status_update", wa.template_status_update("boas_vindas", reason="NONE"))),
        wa.envelope(("message_template_quality_update", wa.template_quality_update("boas_vindas"))),
        wa.envelope(("template_category_update", wa.template_category_update("boas_vindas"))),
        wa.envelope(wa.value(errors=[{"code": 131000, "title": "x", "error_data": {"details": "y"}}])),
    ]


_ODD = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "texto",
            "5511987654321",
            "\x00",
            "a\x00b",
            "\ud800",
            "x" * 5000,
            True,
            0,
            -1,
            10**30,
            -(10**40),
            1e308,
            1.5,
            [],
            {},
            [None],
            {"x": {"y": [1, {"z": None}]}},
            {"\x00": "\x00"},
            [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
        ]
    ),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*path, i))
    return found


def _replace(node: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    parent = node
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return node


def _encode(payload: Any) -> bytes:
    # json.dumps writes NaN/Infinity (not JSON, but the route reads them as null) and escapes
    # lone surrogates as \ud800, as a careless sender would.
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.integers(min_value=0, max_value=21),
    mutations=st.lists(st.tuples(st.integers(min_value=0), _ODD), min_size=1, max_size=3),
)
def test_realistic_payload_with_odd_values_anywhere_gets_no_5xx(webhook, base, mutations):
    payload = _bases()[base]
    for where, odd in mutations:
        paths = _paths(payload)
        payload = _replace(payload, paths[where % len(paths)], copy.deepcopy(odd))
    body = _encode(payload)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)}
    response = webhook.post_bytes(body, headers)
    assert response.status_code < 500, (payload, response.body)
    # Whatever was stored is storable text: no NUL survived anywhere.
    assert rows("SELECT count(*) AS n FROM mensagens WHERE strpos(dados::text, '\\u0000') > 0")[0]["n"] == 0
