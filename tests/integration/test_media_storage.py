"""S3 over real HTTP (moto's server): presigned URLs, and a 50 MB document streamed with bounded memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tracemalloc
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests

from chalicelib.services import media
from devstack.stack import free_port
from tests.integration.media_support import BUCKET, job_for, mensagem, reset_clients


def test_presigned_url_downloads_over_http_and_expires_in_15_minutes(moto_http):
    from chalicelib.services.media_urls import presign

    s3 = boto3.client("s3", endpoint_url=moto_http, region_name="us-east-1")
    key = "media/2026/11/abc/123.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"\xff\xd8\xffconteudo", ContentType="image/jpeg")

    url = presign(key)

    assert url.startswith(moto_http + "/" + BUCKET + "/" + key)
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Signature"]
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200 and answer.content == b"\xff\xd8\xffconteudo"
    assert answer.headers["Content-Type"] == "image/jpeg"
    # The s3:// form and a custom expiry work too; nothing to sign gives None.
    other = presign(f"s3://{BUCKET}/{key}", expires=60)
    assert parse_qs(urlparse(other).query)["X-Amz-Expires"] == ["60"]
    assert requests.get(other, timeout=5).content == b"\xff\xd8\xffconteudo"
    assert presign(None) is None


@pytest.fixture
def signing_only(monkeypatch):
    """Presigning is local (no request to S3): settings and clients only."""
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    reset_clients()
    yield
    monkeypatch.undo()
    reset_clients()


@pytest.mark.parametrize(("configured", "expected"), [("300", "300"), ("", "900"), ("nonsense", "900"), ("0", "1")])
def test_presigned_url_lifetime_is_configurable(signing_only, monkeypatch, configured, expected):
    from chalicelib.services.media_urls import presign

    monkeypatch.setenv("MEDIA_URL_EXPIRES_SECONDS", configured)
    query = parse_qs(urlparse(presign("media/2026/11/abc/1.jpg")).query)
    assert query["X-Amz-Expires"] == [expected]
    # Capped at S3's own ceiling for SigV4 presigned URLs (7 days).
    assert parse_qs(urlparse(presign("k", expires=10**9)).query)["X-Amz-Expires"] == ["604800"]


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture
def moto_subprocess(db_clean, monkeypatch):
    """moto in another process, so its own copy of the uploaded bytes is not in our memory count."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
        reset_clients()
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        monkeypatch.undo()
        reset_clients()


def test_50_mb_document_is_streamed_with_bounded_memory(moto_subprocess, tmp_path, monkeypatch):
    from chalicelib.services import realtime
    from devstack.fake_graph import FakeGraph

    size = 50 * 1024 * 1024
    path = tmp_path / "apostila.pdf"
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.7\n")
        block = os.urandom(1024 * 1024)
        for _ in range(size // len(block)):
            handle.write(block)
    total = os.path.getsize(path)
    monkeypatch.setattr(realtime, "audience", lambda: [])

    with FakeGraph() as graph:  # serves the file from disk in 64 KB chunks
        monkeypatch.setenv("WHATSAPP_GRAPH_URL", graph.base_url)
        reset_clients()
        job = job_for(graph, None, "application/pdf", "document", path=str(path), filename="Apostila de teoria.pdf")
        tracemalloc.start()
        try:
            outcome = media.process_job(job)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert outcome.status == "stored"
    print(f"peak traced memory streaming {total / 2**20:.0f} MB: {peak / 2**20:.1f} MB")
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB"  # one 5 MB part (+copies), never the file
    s3 = boto3.client("s3", endpoint_url=moto_subprocess, region_name="us-east-1")
    head = s3.head_object(Bucket=BUCKET, Key=mensagem(job.mensagem_id)["media_url"])
    assert head["ContentLength"] == total
    assert head["ContentType"] == "application/pdf" and head["ServerSideEncryption"] == "AES256"
    assert 'filename="Apostila de teoria.pdf"' in head["ContentDisposition"]
    assert head["ETag"].strip('"').endswith(f"-{-(-total // (5 * 1024 * 1024))}")  # a multipart upload
