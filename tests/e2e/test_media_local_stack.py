"""`make run`'s media path: a job on the local queue is picked up by the queue pump, like Lambda's
event source mapping would, and the photo ends in moto's S3 with its thumbnail, readable over HTTP."""

from __future__ import annotations

import os
import time

import pytest
import requests

from tests.integration.media_support import mensagem, new_mensagem, reset_clients, sha256_b64
from tests.media_images import jpeg_rotated_exif

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(db_clean, tmp_path, monkeypatch):
    from chalicelib.local.stack import LocalStack

    # Only the media path is exercised: no REST API. (chalice.local rewires the app object's
    # class when it serves it, so a second in-process API in the same test run would fail.)
    monkeypatch.setattr(LocalStack, "_start_api", lambda self: None)
    saved = dict(os.environ)
    local = LocalStack(
        api_port=0,
        moto_port=0,
        data_dir=str(tmp_path / "pg"),
        components=["chalicelib.local.fake_graph:FakeWhatsAppComponent", "chalicelib.local.queue_pump:QueuePump"],
    )
    try:
        local.start()
        reset_clients()
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
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
