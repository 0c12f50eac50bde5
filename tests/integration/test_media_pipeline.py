"""The media pipeline end to end per record: fake Graph API → S3 (moto) → PostgreSQL → live event."""

from __future__ import annotations

import io
import time
from contextlib import contextmanager

import pytest
from PIL import Image

from chalicelib.services import media
from tests.integration.media_support import (
    job_for,
    media_rows,
    mensagem,
    sha256_b64,
)
from tests.media_images import (
    BLUE,
    GREEN,
    RED,
    animated_webp,
    close_to,
    corrupt_jpeg,
    jpeg_rotated_exif,
    ogg_opus_voice_note,
    pixel,
    png_with_alpha,
    webp_header_bytes,
)

MB = 1024 * 1024


def thumbnail_image(env, row) -> Image.Image:
    assert row["thumbnail_url"], "no thumbnail recorded"
    obj = env.get(row["thumbnail_url"])
    assert obj["ContentType"] == "image/webp"
    im = Image.open(io.BytesIO(obj["Body"].read()))
    assert im.format == "WEBP"
    return im


def test_jpeg_with_exif_rotation_is_stored_with_an_upright_thumbnail(media_env):
    data = jpeg_rotated_exif(1600, 800, orientation=6)
    job = job_for(media_env.graph, data, "image/jpeg", "image")

    outcome = media.process_job(job)

    assert outcome.status == "stored"
    row = mensagem(job.mensagem_id)
    key = row["media_url"]
    assert key.startswith("media/") and f"/{job.mensagem_id}/" in key and key.endswith(".jpg")
    assert row["media_mime"] == "image/jpeg"
    obj = media_env.get(key)
    assert obj["Body"].read() == data  # the customer's file exactly as sent
    assert obj["ContentType"] == "image/jpeg" and obj["ServerSideEncryption"] == "AES256"
    im = thumbnail_image(media_env, row).convert("RGB")
    assert im.size == (160, 320)
    assert close_to(pixel(im, (80, 20)), RED) and close_to(pixel(im, (80, 300)), BLUE)
    assert row["dados"]["media_file"] == {
        "size_bytes": len(data),
        "sha256": sha256_b64(data),
        "width": 800,
        "height": 1600,
        "thumbnail": True,
    }
    assert row["dados"]["media"] == {"id": job.whatsapp_media_id, "mime_type": "image/jpeg", "sha256": job.sha256}
    files = media_rows(job.mensagem_id)
    assert len(files) == 1
    assert files[0]["storage_key"] == key and files[0]["storage_url"] == f"s3://{media_env.bucket}/{key}"
    assert files[0]["thumbnail_key"] == row["thumbnail_url"] and files[0]["size_bytes"] == len(data)
    assert files[0]["sha256"] == sha256_b64(data) and (files[0]["width"], files[0]["height"]) == (800, 1600)
    # Browsers are told, with presigned (not raw) URLs.
    assert [event for event, _ in media_env.published] == ["message:updated"]
    payload = media_env.published[0][1]
    assert payload["conversa_id"] == str(row["conversa_id"])
    assert "X-Amz-Signature=" in payload["mensagem"]["media_url"] and key in payload["mensagem"]["media_url"]
    assert "X-Amz-Signature=" in payload["mensagem"]["thumbnail_url"]


def test_png_with_alpha_keeps_transparency(media_env):
    job = job_for(media_env.graph, png_with_alpha(600, 400), "image/png", "image")
    assert media.process_job(job).status == "stored"
    im = thumbnail_image(media_env, mensagem(job.mensagem_id))
    assert im.mode == "RGBA"
    assert pixel(im, (10, 100))[3] == 0
    assert pixel(im, (300, 100))[3] == 255 and close_to(pixel(im, (300, 100))[:3], GREEN)


def test_animated_sticker_is_kept_animated_with_a_first_frame_thumbnail(media_env):
    data = animated_webp(512)
    job = job_for(media_env.graph, data, "image/webp", "sticker", animated=True)
    assert media.process_job(job).status == "stored"
    row = mensagem(job.mensagem_id)
    stored = Image.open(io.BytesIO(media_env.get(row["media_url"])["Body"].read()))
    assert stored.n_frames == 2
    im = thumbnail_image(media_env, row)
    assert getattr(im, "n_frames", 1) == 1 and close_to(pixel(im.convert("RGB"), (100, 100)), RED)


def test_opus_voice_note_is_stored_without_thumbnail(media_env):
    data = ogg_opus_voice_note(30_000)
    job = job_for(media_env.graph, data, "audio/ogg; codecs=opus", "audio", voice=True)
    assert media.process_job(job).status == "stored"
    row = mensagem(job.mensagem_id)
    assert row["media_url"].endswith(".ogg") and row["thumbnail_url"] is None
    assert row["media_mime"] == "audio/ogg; codecs=opus"
    obj = media_env.get(row["media_url"])
    body = obj["Body"].read()
    assert body[:4] == b"OggS" and body == data
    assert obj["ContentType"] == "audio/ogg; codecs=opus"
    assert obj["ContentDisposition"] == "inline"  # played inline, not downloaded (issue 16: every object says so)


def test_document_gets_its_original_name_as_content_disposition(media_env):
    data = b"%PDF-1.7\n" + b"contrato " * 2000
    job = job_for(media_env.graph, data, "application/pdf", "document", filename="Contrato de matrícula.pdf")
    assert media.process_job(job).status == "stored"
    row = mensagem(job.mensagem_id)
    obj = media_env.get(row["media_url"])
    assert obj["ContentType"] == "application/pdf" and obj["Body"].read() == data
    assert obj["ContentDisposition"].startswith('attachment; filename="Contrato de matricula.pdf"')
    assert "filename*=UTF-8''Contrato%20de%20matr%C3%ADcula.pdf" in obj["ContentDisposition"]
    assert row["thumbnail_url"] is None


def test_corrupt_jpeg_is_kept_flagged_and_without_thumbnail(media_env):
    data = corrupt_jpeg()
    job = job_for(media_env.graph, data, "image/jpeg", "image")
    outcome = media.process_job(job)
    assert outcome.status == "stored"
    row = mensagem(job.mensagem_id)
    assert media_env.get(row["media_url"])["Body"].read() == data
    assert row["thumbnail_url"] is None
    assert row["dados"]["media_warning"]["code"] == "imagem_corrompida"
    assert row["dados"]["media_file"]["thumbnail"] is False
    assert "media_error" not in row["dados"]
    assert len(media_env.objects()) == 1  # no thumbnail object either


def test_oversize_declared_by_graph_is_refused_before_downloading(media_env):
    data = jpeg_rotated_exif(64, 64, 1)
    job = job_for(media_env.graph, data, "image/jpeg", "image", file_size=6 * 1024 * 1024)
    outcome = media.process_job(job)
    assert outcome.status == "failed"
    row = mensagem(job.mensagem_id)
    assert row["dados"]["media_error"]["code"] == "arquivo_grande_demais"
    assert row["dados"]["media_error"]["message"]  # shown to the attendant
    assert row["media_url"] is None and media_rows() == [] and media_env.objects() == {}
    assert not any("media-download" in path for path in media_env.graph_requests(job.whatsapp_media_id))
    assert [event for event, _ in media_env.published] == ["message:updated"]


def test_oversize_discovered_while_streaming_is_refused_and_nothing_stored(media_env):
    # Graph claims 50 KB, the bytes are 150 KB: over the 100 KB static sticker limit.
    data = webp_header_bytes(150 * 1024)
    job = job_for(media_env.graph, data, "image/webp", "sticker", file_size=50 * 1024)
    assert media.process_job(job).status == "failed"
    assert mensagem(job.mensagem_id)["dados"]["media_error"]["code"] == "arquivo_grande_demais"
    assert media_env.objects() == {} and media_rows() == []


def test_sha256_mismatch_is_refused_and_nothing_stored(media_env):
    data = jpeg_rotated_exif(64, 64, 1)
    job = job_for(media_env.graph, data, "image/jpeg", "image", sha256=sha256_b64(b"something else"))
    assert media.process_job(job).status == "failed"
    row = mensagem(job.mensagem_id)
    assert row["dados"]["media_error"]["code"] == "sha256_divergente"
    assert row["media_url"] is None and media_env.objects() == {} and media_rows() == []


def test_sha256_mismatch_on_a_multipart_upload_leaves_no_object_and_no_open_upload(media_env):
    data = b"%PDF-1.7\n" + bytes(range(256)) * (6 * 4096)  # 6 MB: two parts
    job = job_for(media_env.graph, data, "application/pdf", "document", sha256=sha256_b64(b"x"))
    assert media.process_job(job).status == "failed"
    assert media_env.objects() == {}
    assert media_env.s3.list_multipart_uploads(Bucket=media_env.bucket).get("Uploads", []) == []


def test_declared_type_that_does_not_match_the_bytes_is_refused(media_env):
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/png", "image")
    assert media.process_job(job).status == "failed"
    assert mensagem(job.mensagem_id)["dados"]["media_error"]["code"] == "tipo_incompativel"
    assert media_env.objects() == {}


def test_media_gone_after_seven_days_is_recorded_not_retried(media_env):
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    media_env.graph.remove_media(job.whatsapp_media_id)
    assert media.process_job(job).status == "failed"
    assert mensagem(job.mensagem_id)["dados"]["media_error"]["code"] == "midia_expirada"


def test_expired_url_fetches_a_fresh_one_and_succeeds(media_env):
    data = jpeg_rotated_exif(64, 64, 1)
    job = job_for(media_env.graph, data, "image/jpeg", "image")
    media_env.graph.fail("media_download", status=404)  # the first URL has expired
    assert media.process_job(job).status == "stored"
    requests = media_env.graph_requests(job.whatsapp_media_id)
    assert sum(1 for path in requests if path.startswith("/v21.0/")) == 2  # a fresh URL was fetched
    assert sum(1 for path in requests if path.startswith("/media-download/")) == 2
    assert media_env.get(mensagem(job.mensagem_id)["media_url"])["Body"].read() == data


def test_url_expired_twice_is_left_for_sqs_to_retry(media_env):
    from chalicelib.whatsapp.graph import GraphError

    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    media_env.graph.fail("media_download", status=404, times=2)
    with pytest.raises(GraphError):
        media.process_job(job)
    assert "media_error" not in mensagem(job.mensagem_id)["dados"]


@pytest.mark.parametrize(("status", "code"), [(500, None), (429, 130429), (503, None)])
def test_transient_graph_failures_raise_and_record_nothing(media_env, status, code):
    from chalicelib.whatsapp.graph import GraphError

    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    media_env.graph.fail("media_meta", status=status, code=code)
    with pytest.raises(GraphError) as caught:
        media.process_job(job)
    assert caught.value.transient
    row = mensagem(job.mensagem_id)
    assert "media_error" not in row["dados"] and row["media_url"] is None
    assert media_env.published == []
    assert media.process_job(job).status == "stored"  # the retry works


def test_an_s3_outage_raises_records_nothing_and_the_retry_stores(media_env):
    from botocore.exceptions import ClientError

    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    media_env.s3.delete_bucket(Bucket=media_env.bucket)  # every S3 write now fails

    with pytest.raises(ClientError):
        media.process_job(job)

    row = mensagem(job.mensagem_id)
    assert row["media_url"] is None and "media_error" not in row["dados"]  # left for SQS to retry
    assert media_rows() == [] and media_env.published == []
    media_env.s3.create_bucket(Bucket=media_env.bucket)
    assert media.process_job(job).status == "stored"
    assert media_env.get(mensagem(job.mensagem_id)["media_url"])["ContentType"] == "image/jpeg"


def test_a_presign_failure_after_the_commit_does_not_fail_the_job(media_env, monkeypatch):
    from chalicelib.services import media_urls

    def broken(key, expires=None):
        raise RuntimeError("no credentials")

    monkeypatch.setattr(media_urls, "presign", broken)
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")

    assert media.process_job(job).status == "stored"  # not raised: a retry would only say already_stored

    [(event, data)] = media_env.published
    assert event == "message:updated" and data["mensagem"]["media_url"] is None  # no URL, never the raw key
    assert mensagem(job.mensagem_id)["media_url"].startswith("media/")


def test_redelivery_after_success_changes_nothing(media_env):
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    assert media.process_job(job).status == "stored"
    before = mensagem(job.mensagem_id)
    requests_before = len(media_env.graph.requests)

    assert media.process_job(job).status == "already_stored"

    after = mensagem(job.mensagem_id)
    assert after == before  # updated_at included: not even touched
    assert len(media_rows()) == 1
    assert len(media_env.graph.requests) == requests_before  # no download again
    assert len(media_env.published) == 1  # only the first time


def test_record_that_died_after_upload_completes_on_redelivery(media_env):
    from chalicelib import db

    data = jpeg_rotated_exif(1600, 800, 6)
    job = job_for(media_env.graph, data, "image/jpeg", "image")
    assert media.process_job(job).status == "stored"
    key = mensagem(job.mensagem_id)["media_url"]
    # Simulate a crash after the upload: no row, message not updated, and WhatsApp's copy gone.
    db.execute("DELETE FROM media_files")
    db.execute(
        "UPDATE mensagens SET media_url = NULL, thumbnail_url = NULL, media_mime = NULL, dados = '{}' "
        "WHERE id = CAST(:id AS uuid)",
        id=job.mensagem_id,
    )
    media_env.s3.delete_object(Bucket=media_env.bucket, Key=key.rsplit(".", 1)[0] + ".thumb.webp")
    media_env.graph.remove_media(job.whatsapp_media_id)

    assert media.process_job(job).status == "stored"

    row = mensagem(job.mensagem_id)
    assert row["media_url"] == key and row["thumbnail_url"]
    assert len(media_rows()) == 1 and media_rows()[0]["sha256"] == sha256_b64(data)
    assert thumbnail_image(media_env, row).size == (160, 320)


def test_message_erased_before_the_job_ran_is_skipped(media_env):
    from chalicelib import db

    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    db.execute("DELETE FROM mensagens")
    assert media.process_job(job).status == "skipped"
    assert media_env.objects() == {}


class ReshapedGraph:
    """The real Graph client with its binary responses reshaped the way the network can: no
    Content-Length (chunked transfer), or a connection that dies after `die_after` bytes.
    Counts the bytes the worker actually read."""

    def __init__(self, hide_length: bool = False, die_after: int | None = None):
        from chalicelib.whatsapp.graph import get_graph_client

        self.inner = get_graph_client()
        self.hide_length = hide_length
        self.die_after = die_after
        self.bytes_read = 0

    def get_media(self, media_id):
        return self.inner.get_media(media_id)

    @contextmanager
    def open_media_stream(self, url):
        with self.inner.open_media_stream(url) as response:
            if self.hide_length:
                del response.headers["Content-Length"]
            original = response.iter_content

            def iter_content(chunk_size):
                import requests

                for chunk in original(chunk_size):
                    self.bytes_read += len(chunk)
                    if self.die_after is not None and self.bytes_read > self.die_after:
                        raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
                    yield chunk

            response.iter_content = iter_content
            yield response


def fake_jpeg(size: int) -> bytes:
    """JPEG's signature, then filler: passes the type check, does not decode."""
    return b"\xff\xd8\xff\xe0" + bytes(size - 4)


def test_oversize_without_content_length_is_stopped_while_streaming(media_env):
    # Graph says 1 MB and the response has no length: only the running count can catch 7 MB.
    data = fake_jpeg(7 * MB)
    job = job_for(media_env.graph, data, "image/jpeg", "image", file_size=MB)
    graph = ReshapedGraph(hide_length=True)

    outcome = media.process_job(job, graph=graph)

    assert outcome.status == "failed" and outcome.error["code"] == "arquivo_grande_demais"
    assert mensagem(job.mensagem_id)["dados"]["media_error"]["code"] == "arquivo_grande_demais"
    # It stopped reading at the 5 MB limit (one 64 KB chunk past it at most), not at the end.
    assert 5 * MB < graph.bytes_read <= 5 * MB + 64 * 1024
    # The first 5 MB had already become a multipart part: the upload was aborted, nothing kept.
    assert media_env.objects() == {} and media_rows() == []
    assert media_env.s3.list_multipart_uploads(Bucket=media_env.bucket).get("Uploads", []) == []


def test_a_connection_dropped_mid_stream_is_transient_and_leaves_nothing(media_env):
    import requests

    data = b"%PDF-1.7\n" + bytes(range(256)) * (8 * 4096)  # 8 MB: the first part is uploaded
    job = job_for(media_env.graph, data, "application/pdf", "document", filename="boletim.pdf")

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        media.process_job(job, graph=ReshapedGraph(die_after=6 * MB))

    row = mensagem(job.mensagem_id)
    assert row["media_url"] is None and "media_error" not in row["dados"]  # left for SQS to retry
    assert media_env.objects() == {} and media_rows() == [] and media_env.published == []
    assert media_env.s3.list_multipart_uploads(Bucket=media_env.bucket).get("Uploads", []) == []
    assert media.process_job(job).status == "stored"  # the retry works
    assert media_env.get(mensagem(job.mensagem_id)["media_url"])["Body"].read() == data


def test_a_graph_timeout_is_transient_and_records_nothing(media_env):
    from chalicelib.whatsapp.graph import GraphClient, GraphError

    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    state = media_env.graph.state
    impatient = GraphClient(media_env.graph.base_url, state.access_token, "1", "2", timeout=(1, 0.2))
    media_env.graph.delay("media_meta", 0.6)

    with pytest.raises(GraphError) as caught:
        media.process_job(job, graph=impatient)

    assert caught.value.status is None and caught.value.transient
    row = mensagem(job.mensagem_id)
    assert row["media_url"] is None and "media_error" not in row["dados"] and media_env.published == []


def test_every_attempt_fetches_a_fresh_media_url(media_env):
    from chalicelib.whatsapp.graph import GraphError

    data = jpeg_rotated_exif(64, 64, 1)
    job = job_for(media_env.graph, data, "image/jpeg", "image")
    media_env.graph.fail("media_download", status=500)
    with pytest.raises(GraphError):
        media.process_job(job)
    media_env.graph.expire_urls()  # minutes pass before SQS redelivers: the first URL is dead

    assert media.process_job(job).status == "stored"

    requests_ = media_env.graph_requests(job.whatsapp_media_id)
    metadata = [path for path in requests_ if path.startswith("/v21.0/")]
    downloads = [path for path in requests_ if path.startswith("/media-download/")]
    # A worker reusing the first URL would have hit its 404 first: three downloads, not two.
    assert len(metadata) == 2 and len(downloads) == 2
    assert downloads[0] != downloads[1]  # each attempt used the URL its own GET returned
    assert media_env.get(mensagem(job.mensagem_id)["media_url"])["Body"].read() == data


def test_a_decompression_bomb_is_kept_without_thumbnail(media_env):
    # 64 million pixels in a few KB of PNG: under the 5 MB limit and under Pillow's own default
    # guard (89 MP), over ours (MEDIA_MAX_IMAGE_PIXELS, 40 MP).
    im = Image.new("1", (8_000, 8_000), 0)
    out = io.BytesIO()
    im.save(out, "PNG")
    data = out.getvalue()
    job = job_for(media_env.graph, data, "image/png", "image")

    assert media.process_job(job).status == "stored"

    row = mensagem(job.mensagem_id)
    assert media_env.get(row["media_url"])["Body"].read() == data  # the customer's file, as sent
    assert row["thumbnail_url"] is None and row["dados"]["media_warning"]["code"] == "imagem_grande_demais"
    assert row["dados"]["media_file"]["thumbnail"] is False and "media_error" not in row["dados"]
    assert list(media_env.objects()) == [row["media_url"]]


def test_a_row_without_its_message_update_is_finished_from_the_row(media_env):
    from chalicelib import db

    job = job_for(media_env.graph, jpeg_rotated_exif(1600, 800, 6), "image/jpeg", "image")
    assert media.process_job(job).status == "stored"
    stored = mensagem(job.mensagem_id)
    db.execute(
        "UPDATE mensagens SET media_url = NULL, thumbnail_url = NULL, media_mime = NULL, dados = '{}' "
        "WHERE id = CAST(:id AS uuid)",
        id=job.mensagem_id,
    )
    requests_before = len(media_env.graph.requests)

    assert media.process_job(job).status == "stored"

    row = mensagem(job.mensagem_id)
    assert (row["media_url"], row["thumbnail_url"], row["media_mime"]) == (
        stored["media_url"],
        stored["thumbnail_url"],
        "image/jpeg",
    )
    assert row["dados"]["media_file"] == stored["dados"]["media_file"]  # the same facts as the first time
    assert len(media_env.graph.requests) == requests_before and len(media_rows()) == 1
    assert [event for event, _ in media_env.published] == ["message:updated", "message:updated"]


class SlowGraph(ReshapedGraph):
    """A download that trickles: each 64 KB chunk takes `pause` seconds."""

    def __init__(self, pause: float):
        super().__init__()
        self.pause = pause

    @contextmanager
    def open_media_stream(self, url):
        with super().open_media_stream(url) as response:
            counted = response.iter_content

            def iter_content(chunk_size):
                for chunk in counted(chunk_size):
                    time.sleep(self.pause)
                    yield chunk

            response.iter_content = iter_content
            yield response


def test_a_download_past_the_invocation_deadline_stops_and_is_left_for_sqs(media_env):
    from chalicelib.services.media_storage import DownloadDeadline

    data = b"%PDF-1.7\n" + bytes(4 * MB)  # 64 chunks: 3.2 s at this pace, far past the deadline
    job = job_for(media_env.graph, data, "application/pdf", "document", filename="lenta.pdf")
    graph = SlowGraph(pause=0.05)
    started = time.monotonic()

    with pytest.raises(DownloadDeadline):
        media.process_job(job, graph=graph, deadline=time.monotonic() + 0.3)

    assert time.monotonic() - started < 2
    assert graph.bytes_read < len(data)  # it stopped reading, it did not finish first
    row = mensagem(job.mensagem_id)
    assert row["media_url"] is None and "media_error" not in row["dados"]  # transient: retried
    assert media_env.objects() == {} and media_rows() == [] and media_env.published == []


def test_a_300_kb_sticker_is_refused_static_and_accepted_animated(media_env):
    data = webp_header_bytes(300 * 1024)  # between the 100 KB static and 500 KB animated limits
    static = job_for(media_env.graph, data, "image/webp", "sticker", animated=False)
    animated = job_for(media_env.graph, data, "image/webp", "sticker", animated=True)

    assert media.process_job(static).status == "failed"
    assert mensagem(static.mensagem_id)["dados"]["media_error"]["code"] == "arquivo_grande_demais"
    assert media.process_job(animated).status == "stored"
    row = mensagem(animated.mensagem_id)
    assert media_env.get(row["media_url"])["Body"].read() == data
    assert row["dados"]["media_warning"]["code"] == "imagem_corrompida"  # filler, not a picture


def _anonimizar(mensagem_id: str) -> None:
    from chalicelib import db

    # What LGPD anonymisation does to a message (0008's trigger keeps it wiped).
    db.execute("UPDATE mensagens SET anonimizada = true WHERE id = CAST(:id AS uuid)", id=mensagem_id)


def test_a_job_for_an_anonymised_message_downloads_and_stores_nothing(media_env):
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    _anonimizar(job.mensagem_id)
    assert media.process_job(job).status == "skipped"
    assert media_env.graph_requests(job.whatsapp_media_id) == []  # not even the metadata
    assert media_env.objects() == {}
    assert media_rows(job.mensagem_id) == []
    assert mensagem(job.mensagem_id)["media_url"] is None
    assert media_env.published == []


def test_a_message_anonymised_during_the_download_keeps_no_file(media_env, monkeypatch):
    from chalicelib.services import media_storage

    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    real_upload = media_storage.upload_stream

    def upload_then_anonymised(*args, **kwargs):
        stored = real_upload(*args, **kwargs)
        _anonimizar(job.mensagem_id)  # the LGPD request commits while the worker still runs
        return stored

    monkeypatch.setattr(media_storage, "upload_stream", upload_then_anonymised)
    assert media.process_job(job).status == "skipped"
    assert media_env.objects() == {}  # original and thumbnail purged
    assert media_rows(job.mensagem_id) == []
    assert mensagem(job.mensagem_id)["media_url"] is None
    assert media_env.published == []
