"""Fixtures of the integration tests: the app in-process (Chalice's test client), the embedded
PostgreSQL (tests/conftest.py), moto, and the fake Graph API as a dependency.

Builders and helpers that are plain functions live in the *_support modules and are imported
normally; fixtures live here, so no test module imports one.
"""

from __future__ import annotations

import os
import socket

import pytest

from tests.integration.lgpd_support import BUCKET as LGPD_BUCKET
from tests.integration.lgpd_support import Env
from tests.integration.media_support import BUCKET as MEDIA_BUCKET
from tests.integration.media_support import MediaEnv, reset_clients
from tests.integration.send_support import BUCKET as SEND_BUCKET
from tests.integration.send_support import shared_graph_server


# The app ------------------------------------------------------------------------------------
@pytest.fixture
def client(db_clean):
    """Chalice's test client over the app, on an empty database."""
    from chalice.test import Client

    from app import app

    with Client(app) as c:
        yield c


@pytest.fixture
def events(published):
    """Every live event published, in order (the sending tests' name for `published`)."""
    return published


# The fake Graph API -------------------------------------------------------------------------
@pytest.fixture
def graph(monkeypatch):
    """The fake Graph API, emptied, with the app's client pointed at it (1 s timeouts)."""
    from chalicelib.config import reset_settings
    from chalicelib.whatsapp import graph as graph_module

    fake = shared_graph_server()
    fake.clear_faults()
    with fake.state.lock:
        fake.state.sent_messages.clear()
        fake.state.read_receipts.clear()
        fake.state.uploads.clear()
        fake.state.requests.clear()
    monkeypatch.setenv("WHATSAPP_GRAPH_URL", fake.base_url)
    reset_settings()
    graph_module.reset_graph_client()
    graph_module.get_graph_client().timeout = (1.0, 1.0)
    yield fake
    graph_module.reset_graph_client()
    reset_settings()


# S3 and SQS ---------------------------------------------------------------------------------
@pytest.fixture
def s3(monkeypatch):
    """moto S3 in-process with the media bucket."""
    from moto import mock_aws

    from chalicelib.config import reset_settings
    from chalicelib.services.media_urls import reset_clients, s3_client

    monkeypatch.setenv("MEDIA_BUCKET", SEND_BUCKET)
    reset_settings()
    # A client cached by an earlier test (made before moto was imported) would bypass the mock
    # and talk to real AWS: every test gets a fresh one inside mock_aws, and leaves none behind.
    reset_clients()
    with mock_aws():
        client = s3_client()
        client.create_bucket(Bucket=SEND_BUCKET)
        yield client
    reset_clients()
    reset_settings()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def moto_s3(monkeypatch):
    """A real HTTP S3 (moto server): the browser's PUT goes to the presigned URL for real."""
    from chalicelib.config import reset_settings
    from chalicelib.services.media_urls import s3_client
    from devstack.aws import start_moto_server

    port = _free_port()
    server = start_moto_server("127.0.0.1", port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MEDIA_BUCKET", "crm-inbox-media-http")
    reset_settings()
    s3_client().create_bucket(Bucket="crm-inbox-media-http")
    # moto keeps its state across servers in one process: start from an empty bucket, or an
    # earlier test's upload shows in this one's listing (test_send_routes before test_security_uploads).
    for item in s3_client().list_objects_v2(Bucket="crm-inbox-media-http").get("Contents", []):
        s3_client().delete_object(Bucket="crm-inbox-media-http", Key=item["Key"])
    yield s3_client()
    server.stop()
    reset_settings()


@pytest.fixture
def media_env(db_clean, monkeypatch):
    """PostgreSQL (empty), S3 and SQS in moto, the fake Graph API, publish recorded."""
    import boto3
    from moto import mock_aws

    from devstack.fake_graph import FakeGraph
    from tests.live_capture import capture_live_events

    with mock_aws(), FakeGraph() as graph:
        monkeypatch.setenv("MEDIA_BUCKET", MEDIA_BUCKET)
        monkeypatch.setenv("WHATSAPP_GRAPH_URL", graph.base_url)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        reset_clients()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=MEDIA_BUCKET)
        env = MediaEnv(graph=graph, s3=s3, bucket=MEDIA_BUCKET)
        capture_live_events(monkeypatch, env.published)
        yield env
    monkeypatch.undo()
    reset_clients()


@pytest.fixture
def env(db_clean, monkeypatch):
    """The LGPD and cost-report tests' world: PostgreSQL (empty), a versioned S3 bucket and the
    media queue in moto, the app's test client, an admin, and every live event recorded."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.config import reset_settings
    from chalicelib.services import media_jobs, media_urls
    from tests.integration.api_support import make_admin
    from tests.live_capture import capture_live_events

    monkeypatch.setenv("MEDIA_BUCKET", LGPD_BUCKET)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=LGPD_BUCKET)
        s3.put_bucket_versioning(Bucket=LGPD_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="media-lgpd-test")["QueueUrl"]
        os.environ["MEDIA_QUEUE_URL"] = queue_url
        reset_settings()
        media_urls.reset_clients()
        media_jobs.reset_client()
        published = capture_live_events(monkeypatch)
        try:
            with Client(app) as client:
                yield Env(client, s3, sqs, queue_url, make_admin("Ana"), published)
        finally:
            os.environ.pop("MEDIA_QUEUE_URL", None)
            reset_settings()
            media_urls.reset_clients()
            media_jobs.reset_client()
