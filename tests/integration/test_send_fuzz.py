"""Hypothesis over the sending routes, with the fake Graph API and moto S3: never a 5xx."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.send_support import BUCKET, JPEG, make_admin, make_conversa, make_template

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
FIELDS = {
    "tipo": st.sampled_from(["texto", "media", "template", "audio", ""]) | json_values,
    "conteudo": st.text(max_size=40) | json_values,
    "upload_id": st.sampled_from(["4c1f6c1e-2a55-4e1e-9a43-1b0f3e3b6b7d", "x"]) | json_values,
    "key": st.sampled_from(["uploads/a/b", "uploads/../x", "media/x", ""]) | st.text(max_size=30),
    "media_type": st.sampled_from(["image", "audio", "video", "document", "location"]) | json_values,
    "mime_type": st.sampled_from(["image/jpeg", "audio/ogg; codecs=opus", "audio/ogg", "a/b", ""]) | json_values,
    "filename": st.text(max_size=20) | json_values,
    "caption": st.text(max_size=20) | json_values,
    "voz": st.booleans() | json_values,
    "name": st.sampled_from(["lembrete_aula", "nao_existe"]) | json_values,
    "language": st.sampled_from(["pt_BR", "en_US"]) | json_values,
    "parametros": st.lists(st.text(max_size=10), max_size=3)
    | st.dictionaries(st.sampled_from(["1", "2", "body.1", "x"]), st.text(max_size=10), max_size=3)
    | json_values,
    "size": st.integers(-5, 200 * 1024 * 1024) | json_values,
}
# Well-formed requests too, so the fuzz also reaches the window, template, S3 and Graph paths.
texts = st.text(min_size=1, max_size=40)
valid = st.one_of(
    st.fixed_dictionaries({"tipo": st.just("texto"), "conteudo": texts}),
    st.fixed_dictionaries(
        {
            "tipo": st.just("template"),
            "name": st.sampled_from(["lembrete_aula", "nao_existe"]),
            "language": st.just("pt_BR"),
            "parametros": st.lists(texts, max_size=3) | st.dictionaries(st.sampled_from(["1", "2", "x"]), texts),
        }
    ),
    st.fixed_dictionaries(
        {
            "tipo": st.just("media"),
            "upload_id": st.just("4c1f6c1e-2a55-4e1e-9a43-1b0f3e3b6b7d"),
            "media_type": st.sampled_from(["image", "audio", "document"]),
            "mime_type": st.sampled_from(["image/jpeg", "image/png", "audio/ogg; codecs=opus", "application/pdf"]),
        },
        optional={"caption": texts, "filename": texts, "voz": st.booleans()},
    ),
    st.fixed_dictionaries(
        {
            "media_type": st.sampled_from(["image", "audio", "video", "document"]),
            "mime_type": st.sampled_from(["image/jpeg", "audio/ogg; codecs=opus", "video/mp4", "text/plain"]),
            "size": st.integers(1, 120 * 1024 * 1024),
        }
    ),
)
bodies = st.one_of(
    valid.map(json.dumps),
    st.fixed_dictionaries({}, optional=FIELDS).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
)
keys = st.none() | st.text(max_size=300)


@pytest.fixture
def world(db_clean, graph, s3, events):
    from app import app
    from chalicelib.services.auth import issue_token

    admin = make_admin()
    s3.put_object(Bucket=BUCKET, Key=f"uploads/{admin}/4c1f6c1e-2a55-4e1e-9a43-1b0f3e3b6b7d", Body=JPEG)
    make_template()
    conversas = [make_conversa(atendente_id=admin), make_conversa(window_seconds=-1), make_conversa(atendente_id=None)]
    token, _ = issue_token(admin)
    with Client(app) as client:
        yield client, token, conversas


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sending_routes_never_answer_5xx(world, data):
    client, token, conversas = world
    path = data.draw(
        st.sampled_from([f"/conversas/{c}/mensagens" for c in conversas] + ["/conversas/x/mensagens", "/media/uploads"])
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    key = data.draw(keys)
    if key is not None and key.isprintable() and key.isascii():
        headers["Idempotency-Key"] = key
    response = client.http.post(path, body=data.draw(bodies), headers=headers)
    assert response.status_code < 500, (path, response.status_code, response.body[:300])
