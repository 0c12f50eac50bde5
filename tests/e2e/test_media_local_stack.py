"""`make run`'s media path: a job on the local queue is picked up by the queue pump, like Lambda's
event source mapping would, and the photo ends in moto's S3 with its thumbnail, readable over HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.stack_support import running_stack
from tests.integration.media_support import mensagem, new_mensagem, reset_clients, sha256_b64
from tests.media_images import jpeg_rotated_exif

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(db_clean, monkeypatch):
    from devstack.stack import LocalStack

    # Only the media path is exercised: no REST API.
    monkeypatch.setattr(LocalStack, "_start_api", lambda self: None)
    components = ["devstack.fake_graph:FakeWhatsAppComponent", "devstack.queue_pump:QueuePump"]
    try:
        with running_stack(components=components) as local:
            reset_clients()
            yield local
    finally:
        reset_clients()


def test_enqueued_photo_appears_with_its_thumbnail(stack):
    from chalicelib.services.media_jobs import MediaJob, enqueue
    from chalicelib.services.media_urls import presign

    assert any("media worker" in line for line in stack.describe())
    graph = stack.components[0].graph
    data = jpeg_rotated_exif(1200, 600, 6)
    media = graph.add_media(data, "image/jpeg")
    mensagem_id = new_mensagem("image")

    enqueue(
        [
            MediaJob(
                mensagem_id=mensagem_id,
                whatsapp_media_id=media.media_id,
                kind="image",
                mime_type="image/jpeg",
                sha256=sha256_b64(data),
            )
        ]
    )

    deadline = time.monotonic() + 20
    row = mensagem(mensagem_id)
    while row["media_url"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        row = mensagem(mensagem_id)
    assert row["media_url"], "the queue pump did not process the job within 20 s"
    assert row["thumbnail_url"]
    photo = requests.get(presign(row["media_url"]), timeout=5)
    assert photo.status_code == 200 and photo.content == data
    thumb = requests.get(presign(row["thumbnail_url"]), timeout=5)
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
