"""The media pipeline against LocalStack: real SQS and S3 semantics, not moto's.

LocalStack runs without Docker ("host mode") from its own virtual environment, `.localstack/`,
which `make localstack` (and so `make test`) creates from requirements-localstack.txt. The
module starts one LocalStack on a free port in a temporary directory, creates the bucket, the
media queue and its dead-letter queue with `devstack.aws.create_media_resources` (as
`make run` does against moto), and drives the real media worker (`handle_media_download`,
through the app's handler map) with the queue pump, which copies Lambda's event source mapping.

What LocalStack checks here that moto does not: presigned URLs are verified (signature and
expiry; LocalStack's credentials are test/test), SQS redrives to the dead-letter queue on the
receive after the 5th, and visibility timeouts really expire.

Not covered: LocalStack's community edition serves anonymous GETs of a private bucket (it does
not enforce ACLs, bucket policies or the public access block), so "an unsigned GET is refused"
cannot be shown against it; nor has it API Gateway's WebSocket management API.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.integration.media_support import media_rows, mensagem, new_mensagem, reset_clients, sha256_b64
from tests.media_images import jpeg_rotated_exif

pytestmark = pytest.mark.e2e

PROJECT_DIR = Path(__file__).resolve().parents[2]
LOCALSTACK_PYTHON = PROJECT_DIR / ".localstack" / "bin" / "python"
STARTUP_TIMEOUT_SECONDS = 120
# The queue's real visibility timeout is 180 s (above the worker's Lambda timeout); here the
# redeliveries must happen within the test.
VISIBILITY_TIMEOUT_SECONDS = 2
LOG_TAIL_CHARS = 6000


class LocalStackProcess:
    """One LocalStack runtime in its own process group, logging to a file."""

    def __init__(self) -> None:
        from devstack.stack import free_port

        self.workdir = Path(tempfile.mkdtemp(prefix="crm-test-localstack-"))
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "localstack.log"
        self.process: subprocess.Popen | None = None
        self._final_log: str | None = None  # kept when stop() removes the directory

    def environment(self) -> dict[str, str]:
        # Only what LocalStack needs: none of the test run's settings or credentials.
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            # Host mode even when this machine looks like a container: state under FILESYSTEM_ROOT.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.workdir / "fs"),
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            "SERVICES": "s3,sqs",
            # Load the services before /_localstack/health answers, not on the first request.
            "EAGER_SERVICE_LOADING": "1",
            # Verify presigned URLs (signature and expiry) as S3 does.
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
        }

    def start(self) -> None:
        if not LOCALSTACK_PYTHON.exists():
            pytest.fail(f"{LOCALSTACK_PYTHON} is missing: run `make localstack` (make test does it)", pytrace=False)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"],
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and its children
            )

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> float | None:
        """Seconds until healthy; None if the process exited first (the caller decides)."""
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return None
            try:
                answer = requests.get(f"{self.endpoint}/_localstack/health", timeout=2)
                services = answer.json().get("services", {}) if answer.ok else {}
                last = f"{answer.status_code} {services.get('s3')}/{services.get('sqs')}"
                if all(services.get(name) in ("running", "available") for name in ("s3", "sqs")):
                    return time.monotonic() - started
            except (requests.RequestException, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.25)
        pytest.fail(
            f"LocalStack not ready on {self.endpoint} after {timeout:.0f} s (last health: {last}); log:\n{self.tail()}",
            pytrace=False,
        )

    def exited_message(self) -> str:
        return f"LocalStack exited with {self.process.returncode} while starting; log:\n{self.tail()}"

    def lost_port_race(self) -> bool:
        """Another process took the free port between free_port() and LocalStack's bind."""
        return "address already in use" in self.tail().lower()

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        if self._final_log is not None:
            return self._final_log[-chars:]
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return text[-chars:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Children that outlived the runtime (same group) go too.
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._final_log is None:
            self._final_log = self.tail(chars=LOG_TAIL_CHARS)
        shutil.rmtree(self.workdir, ignore_errors=True)


class _LogOnFailure:
    """A plugin registered while the module runs: a failing test's report gets LocalStack's log."""

    localstack: LocalStackProcess | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.failed and self.localstack is not None and "localstack" in getattr(item, "fixturenames", ()):
            report.sections.append(("LocalStack log (tail)", self.localstack.tail()))
        return report


def running_localstack(request, process_class: type[LocalStackProcess] = LocalStackProcess):
    """Start LocalStack (once more on another port if it lost the race for its first), yield
    it, stop it; a failing test's report gets its log. The body of a module fixture."""
    plugin = _LogOnFailure()
    request.config.pluginmanager.register(plugin, f"localstack-log-{id(plugin)}")
    local = None
    try:
        for attempt in (1, 2):
            local = plugin.localstack = process_class()
            local.start()
            seconds = local.wait_ready()
            if seconds is not None:
                break
            if attempt == 2 or not local.lost_port_race():
                pytest.fail(local.exited_message(), pytrace=False)
            local.stop()  # its port was taken: once more on another
        print(f"LocalStack ready on {local.endpoint} in {seconds:.1f} s")
        yield local
    finally:
        if local is not None:
            local.stop()
        request.config.pluginmanager.unregister(plugin)


@pytest.fixture(scope="module")
def localstack(request):
    yield from running_localstack(request)


@pytest.fixture(scope="module")
def aws(localstack, database_url):
    """The app configured against LocalStack: bucket and queues as `make run` creates them, the
    fake Graph API, clients reset. Settings are read from the environment."""
    import boto3
    from botocore.config import Config

    from chalicelib.services import media, realtime, thumbnails  # noqa: F401 - imported before the first receive
    from devstack.aws import create_media_resources
    from devstack.fake_graph import FakeGraph
    from devstack.queue_pump import default_handler

    # Import the worker now: a first invocation slowed by imports could outlast the short visibility timeout.
    default_handler()

    with pytest.MonkeyPatch.context() as env, FakeGraph() as graph:
        # LocalStack verifies presigned URLs with its default secret: the credentials are test/test.
        env.setenv("AWS_ACCESS_KEY_ID", "test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "test")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", localstack.endpoint)
        env.setenv("WHATSAPP_GRAPH_URL", graph.base_url)
        env.delenv("WS_MANAGEMENT_URL", raising=False)  # no WebSocket API in LocalStack's community edition
        # boto3's default session keeps the credentials it first resolved (an earlier test's): start afresh.
        boto3.DEFAULT_SESSION = None
        resources = create_media_resources(localstack.endpoint)
        env.setenv("MEDIA_BUCKET", resources["bucket"])
        env.setenv("MEDIA_QUEUE_URL", resources["queue_url"])
        env.setenv("MEDIA_DLQ_URL", resources["dlq_url"])
        reset_clients()
        realtime.reset_client()
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        s3 = boto3.client("s3", endpoint_url=localstack.endpoint, region_name="us-east-1", config=config)
        sqs = boto3.client("sqs", endpoint_url=localstack.endpoint, region_name="us-east-1")
        sqs.set_queue_attributes(
            QueueUrl=resources["queue_url"], Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS)}
        )
        try:
            yield Aws(localstack.endpoint, s3, sqs, graph, **resources)
        finally:
            reset_clients()
            realtime.reset_client()
    boto3.DEFAULT_SESSION = None  # later tests resolve their own credentials again
    reset_clients()
    realtime.reset_client()


class Aws:
    def __init__(self, endpoint, s3, sqs, graph, bucket, queue_url, dlq_url, live_events_queue_url):
        self.endpoint, self.s3, self.sqs, self.graph = endpoint, s3, sqs, graph
        self.bucket, self.queue_url, self.dlq_url = bucket, queue_url, dlq_url
        self.live_events_queue_url = live_events_queue_url

    def counts(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def pump(self, responses: list | None = None, receive_counts: list | None = None):
        """The queue pump over the real worker, remembering what each invocation answered."""
        from devstack.queue_pump import QueuePump, default_handler

        worker = default_handler()

        def handler(event, context):
            if receive_counts is not None:
                receive_counts.extend(int(r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"])
            response = worker(event, context)
            if responses is not None:
                responses.append(response)
            return response

        return QueuePump(queue_url=self.queue_url, handler=handler, endpoint_url=self.endpoint, batch_size=10)


@pytest.fixture
def media(aws, db_clean):
    """Empty database, no pending Graph faults, both queues empty before and after the test."""
    aws.graph.clear_faults()
    assert aws.counts(aws.queue_url) == (0, 0), "a previous test left messages on the media queue"
    assert aws.counts(aws.dlq_url) == (0, 0), "a previous test left dead letters"
    yield aws
    aws.graph.clear_faults()


def _photo_job(graph, data: bytes):
    from chalicelib.services.media_jobs import MediaJob

    fake = graph.add_media(data, "image/jpeg")
    mensagem_id = new_mensagem("image", {"media": {"id": fake.media_id, "mime_type": "image/jpeg"}})
    return MediaJob(
        mensagem_id=mensagem_id,
        whatsapp_media_id=fake.media_id,
        kind="image",
        mime_type="image/jpeg",
        sha256=sha256_b64(data),
    )


def test_photo_goes_through_the_queue_to_private_s3(media):
    from chalicelib.services.media_jobs import enqueue
    from chalicelib.services.media_urls import presign

    data = jpeg_rotated_exif(1200, 600, 6)
    job = _photo_job(media.graph, data)
    enqueue([job])
    assert media.counts(media.queue_url) == (1, 0)

    responses: list = []
    result = media.pump(responses).poll_once(wait_seconds=2)

    assert (result.received, result.succeeded, result.failed) == (1, 1, [])
    assert responses == [{"batchItemFailures": []}]
    assert media.counts(media.queue_url) == (0, 0), "the processed record must be deleted from the queue"

    row = mensagem(job.mensagem_id)
    assert row["media_url"] and row["thumbnail_url"] and row["media_mime"] == "image/jpeg"
    files = media_rows(job.mensagem_id)
    assert len(files) == 1
    assert files[0]["storage_key"] == row["media_url"]
    assert files[0]["storage_url"] == f"s3://{media.bucket}/{row['media_url']}"
    assert files[0]["thumbnail_key"] == row["thumbnail_url"]
    assert files[0]["size_bytes"] == len(data) and files[0]["sha256"] == sha256_b64(data)

    original = media.s3.head_object(Bucket=media.bucket, Key=row["media_url"])
    assert original["ServerSideEncryption"] == "AES256"
    assert original["ContentType"] == "image/jpeg"
    assert original["ContentLength"] == len(data)
    assert original["Metadata"]["sha256"] == sha256_b64(data)
    thumbnail = media.s3.head_object(Bucket=media.bucket, Key=row["thumbnail_url"])
    assert thumbnail["ServerSideEncryption"] == "AES256"
    assert thumbnail["ContentType"] == "image/webp"

    url = presign(row["media_url"])
    assert url.startswith(f"{media.endpoint}/{media.bucket}/")
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["Content-Type"] == "image/jpeg"
    thumb = requests.get(presign(row["thumbnail_url"]), timeout=10)
    assert thumb.status_code == 200 and thumb.content[:4] == b"RIFF" and thumb.content[8:12] == b"WEBP"

    # LocalStack checks what it is given (unlike moto): a forged signature and an expired URL are refused.
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    refused = requests.get(forged, timeout=10)
    assert refused.status_code == 403 and b"SignatureDoesNotMatch" in refused.content
    short = presign(row["media_url"], expires=1)
    time.sleep(2.1)
    expired = requests.get(short, timeout=10)
    assert expired.status_code == 403 and b"expired" in expired.content

    # The bucket is private as infra/stateful.yaml makes it (LocalStack does not enforce this).
    block = media.s3.get_public_access_block(Bucket=media.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_partial_batch_failure_redelivers_only_the_failed_record(media):
    from chalicelib.services.media_jobs import enqueue

    images = [jpeg_rotated_exif(400 + 40 * i, 300, 1) for i in range(3)]
    jobs = [_photo_job(media.graph, data) for data in images]
    enqueue(jobs)
    # The first Graph metadata request of the batch fails transiently; records run in order.
    media.graph.fail("media_meta", status=500, times=1)

    responses: list = []
    receive_counts: list = []
    pump = media.pump(responses, receive_counts)
    result = pump.poll_once(wait_seconds=2)

    assert result.received == 3, "LocalStack should hand the three visible records over in one batch"
    assert result.succeeded == 2 and len(result.failed) == 1
    failed_id = result.failed[0]
    assert responses == [{"batchItemFailures": [{"itemIdentifier": failed_id}]}]
    stored = [job for job in jobs if mensagem(job.mensagem_id)["media_url"]]
    assert len(stored) == 2
    (pending,) = [job for job in jobs if job not in stored]
    # The two successes are gone from the queue; the failure is in flight until its visibility ends.
    assert media.counts(media.queue_url) == (0, 1)

    second = pump.poll_once(wait_seconds=VISIBILITY_TIMEOUT_SECONDS + 3)
    assert (second.received, second.succeeded, second.failed) == (1, 1, [])
    assert receive_counts == [1, 1, 1, 2]
    assert mensagem(pending.mensagem_id)["media_url"]
    assert len(media_rows()) == 3
    assert media.counts(media.queue_url) == (0, 0)
    assert media.counts(media.dlq_url) == (0, 0)


def test_transient_failure_dead_letters_after_five_receives_and_redrive_brings_it_back(media):
    from chalicelib.services.media_jobs import enqueue

    data = jpeg_rotated_exif(800, 600, 1)
    job = _photo_job(media.graph, data)
    enqueue([job])
    media.graph.fail("media_meta", status=500, times=1000)

    responses: list = []
    receive_counts: list = []
    pump = media.pump(responses, receive_counts)
    deadline = time.monotonic() + 6 * (VISIBILITY_TIMEOUT_SECONDS + 3)
    while media.counts(media.dlq_url)[0] == 0 and time.monotonic() < deadline:
        pump.poll_once(wait_seconds=VISIBILITY_TIMEOUT_SECONDS + 1)

    # SQS itself moved it: on the receive after the 5th (maxReceiveCount), not the worker.
    assert receive_counts == [1, 2, 3, 4, 5]
    assert len(responses) == 5
    assert all(len(r["batchItemFailures"]) == 1 for r in responses)
    assert media.counts(media.dlq_url) == (1, 0)
    assert media.counts(media.queue_url) == (0, 0)
    row = mensagem(job.mensagem_id)
    assert row["media_url"] is None
    assert row["dados"]["media_error"]["code"] == "falha_temporaria"
    assert row["dados"]["media_error"]["attempts"] == 5

    # Graph is fine again: the operator's command moves the dead letter back.
    media.graph.clear_faults()
    redrive = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "media-redrive"],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert redrive.returncode == 0, redrive.stderr
    assert redrive.stdout.startswith("1 mensagem(ns) devolvida(s)"), redrive.stdout
    assert media.counts(media.dlq_url) == (0, 0)

    result = pump.poll_once(wait_seconds=2)
    assert (result.received, result.succeeded, result.failed) == (1, 1, [])
    assert receive_counts[-1] == 1, "a redriven record arrives as a new message"
    assert responses[-1] == {"batchItemFailures": []}
    row = mensagem(job.mensagem_id)
    assert row["media_url"] and row["thumbnail_url"]
    assert "media_error" not in row["dados"], "a success after the redrive clears the failure"
    assert media.s3.head_object(Bucket=media.bucket, Key=row["media_url"])["ServerSideEncryption"] == "AES256"
    assert media.counts(media.queue_url) == (0, 0)
