"""The Graph API client against the fake Graph server: real HTTP, Meta's error shapes."""

from __future__ import annotations

import io

import pytest

from chalicelib.whatsapp.graph import GraphClient, GraphError
from devstack.fake_graph import FakeGraph


@pytest.fixture
def graph():
    """A fake Graph server of its own, with these credentials (not conftest.py's shared one)."""
    with FakeGraph(access_token="tok", phone_number_id="111", waba_id="222") as fake:
        yield fake


@pytest.fixture
def graph_client(graph):
    return GraphClient(graph.base_url, "tok", "111", "222", timeout=(1, 2))


def test_media_metadata_and_binary_stream(graph, graph_client):
    media = graph.add_media(b"\xff\xd8\xff" + b"x" * 200_000, "image/jpeg")
    meta = graph_client.get_media(media.media_id)
    assert meta["mime_type"] == "image/jpeg" and meta["file_size"] == 200_003
    with graph_client.open_media_stream(meta["url"]) as response:
        data = b"".join(response.iter_content(8192))
    assert data[:3] == b"\xff\xd8\xff" and len(data) == 200_003


def test_expired_url_answers_404_and_a_fresh_one_works(graph, graph_client):
    media = graph.add_media(b"abc", "application/pdf")
    stale = graph_client.get_media(media.media_id)["url"]
    graph.expire_urls()
    with pytest.raises(GraphError) as caught, graph_client.open_media_stream(stale):
        pass
    assert caught.value.status == 404 and not caught.value.transient
    with graph_client.open_media_stream(graph_client.get_media(media.media_id)["url"]) as response:
        assert response.content == b"abc"


def test_unknown_media_is_a_permanent_graph_error(graph_client):
    with pytest.raises(GraphError) as caught:
        graph_client.get_media("999")
    assert caught.value.code == 100 and caught.value.status == 400 and not caught.value.transient


def test_expired_token_is_code_190(graph):
    bad = GraphClient(graph.base_url, "expired", "111", "222")
    with pytest.raises(GraphError) as caught:
        bad.send_message({"to": "5511999990000", "type": "text", "text": {"body": "oi"}})
    assert caught.value.code == 190 and caught.value.status == 401


def test_send_message_returns_a_wamid_and_is_recorded(graph, graph_client):
    answer = graph_client.send_message({"to": "5511999990000", "type": "text", "text": {"body": "Olá"}})
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert graph.sent_messages[0]["text"] == {"body": "Olá"}
    assert graph.sent_messages[0]["messaging_product"] == "whatsapp"


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [(131047, 400, False), (130429, 429, True), (131056, 400, True), (132000, 400, False), (132001, 404, False)],
)
def test_meta_error_codes_come_back_with_their_meaning(graph, graph_client, code, status, transient):
    graph.fail("messages", code=code, retry_after=7 if code == 130429 else None)
    with pytest.raises(GraphError) as caught:
        graph_client.send_message({"to": "5511999990000", "type": "text", "text": {"body": "x"}})
    assert (caught.value.code, caught.value.status, caught.value.transient) == (code, status, transient)
    assert caught.value.details
    if code == 130429:
        assert caught.value.retry_after == 7
    # the fault was used up: the next send works
    assert graph_client.send_message({"to": "5511999990000", "type": "text", "text": {"body": "x"}})["messages"]


def test_bare_500_and_timeouts_are_transient(graph, graph_client):
    graph.fail("media_meta", status=500)
    with pytest.raises(GraphError) as caught:
        graph_client.get_media("1")
    assert caught.value.status == 500 and caught.value.transient
    graph.delay("messages", 3)
    with pytest.raises(GraphError) as caught:
        graph_client.send_message({"to": "5511999990000", "type": "text", "text": {"body": "x"}})
    assert caught.value.status is None and caught.value.transient


def test_upload_is_multipart_and_the_media_becomes_fetchable(graph, graph_client):
    media_id = graph_client.upload_media(io.BytesIO(b"OggS" + b"\0" * 100), "nota.ogg", "audio/ogg")
    assert graph.uploads == [{"id": media_id, "mime_type": "audio/ogg", "filename": "nota.ogg", "size": 104}]
    assert graph_client.get_media(media_id)["file_size"] == 104


def test_template_pages_follow_paging_next(graph, graph_client):
    graph.set_templates([{"id": str(i), "name": f"t{i}", "language": "pt_BR"} for i in range(7)])
    pages = list(graph_client.iter_template_pages(limit=3))
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [t["id"] for page in pages for t in page] == [str(i) for i in range(7)]
