"""The media pipeline as a browser sees it, everything over real HTTP: the worker's
`message:updated` reaches an open WebSocket through the local API Gateway's management endpoint,
a connection API Gateway says is gone (410) is removed, and the URLs in the event download the
photo and its thumbnail from moto's S3 while the objects themselves stay private."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image
from websockets.sync.client import connect

from chalicelib.services import media
from tests.integration import media_support
from tests.integration.live_helpers import make_admin, token_for, wait_until
from tests.integration.media_support import BUCKET, job_for, mensagem
from tests.live_capture import recv_event
from tests.media_images import jpeg_rotated_exif

pytestmark = pytest.mark.e2e


@pytest.fixture
def live(db_clean, moto_http, monkeypatch):
    """moto's S3 over HTTP, the fake Graph API and the local WebSocket gateway; publish is real."""
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime
    from devstack.fake_graph import FakeGraph
    from devstack.ws_gateway import LocalWebSocketGateway
    from tests.live_capture import drain_on_nudge

    drain_on_nudge(monkeypatch)  # the drain runs at the nudge: tests/integration/test_outbox.py has the queue
    gateway = LocalWebSocketGateway().start()
    try:
        with FakeGraph() as graph:
            monkeypatch.setenv("WHATSAPP_GRAPH_URL", graph.base_url)
            monkeypatch.setenv("WS_MANAGEMENT_URL", gateway.management_url)
            media_support.reset_clients()
            realtime.reset_client()
            yield gateway, graph, moto_http
    finally:
        gateway.stop()
        monkeypatch.delenv("WS_MANAGEMENT_URL", raising=False)
        reset_settings()
        realtime.reset_client()


def _connections() -> list[str]:
    from chalicelib.repositories import ws_conexoes

    return [row["connection_id"] for row in ws_conexoes.list_all()]


def test_the_photo_reaches_the_browser_presigned_and_a_gone_connection_is_removed(live):
    gateway, graph, endpoint = live
    admin_id = make_admin()
    data = jpeg_rotated_exif(1200, 600, 6)
    job = job_for(graph, data, "image/jpeg", "image")

    with (
        connect(f"{gateway.url}/?token={token_for(admin_id)}") as browser,
        connect(f"{gateway.url}/?token={token_for(admin_id)}"),
    ):
        ids = wait_until(lambda: len(_connections()) == 2 and _connections())
        assert ids and len(ids) == 2
        alive, lost = ids  # in connection order
        gateway.drop(lost)  # its $disconnect never reached the app: only a 410 can tell

        assert media.process_job(job).status == "stored"

        event = recv_event(browser)
        assert _connections() == [alive]  # the gone one is forgotten, the open one kept

    assert event["type"] == "message:updated"
    sent = event["data"]["mensagem"]
    row = mensagem(job.mensagem_id)
    assert event["data"]["conversa_id"] == str(row["conversa_id"]) and sent["id"] == job.mensagem_id
    assert sent["media_mime"] == "image/jpeg"
    # The event carries presigned URLs, never the raw keys the row keeps.
    assert sent["media_url"] != row["media_url"] and "X-Amz-Signature=" in sent["media_url"]
    photo = requests.get(sent["media_url"], timeout=5)
    assert photo.status_code == 200 and photo.content == data
    thumb = requests.get(sent["thumbnail_url"], timeout=5)
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb.content)).size == (160, 320)  # upright
    # The bucket stays private: the same objects without a signature are refused.
    for key in (row["media_url"], row["thumbnail_url"]):
        assert requests.get(f"{endpoint}/{BUCKET}/{key}", timeout=5).status_code == 403
