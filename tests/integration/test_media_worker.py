"""The SQS side of the media pipeline: partial batch failures, the local queue pump behaving like
Lambda's event source mapping, the dead-letter queue after 5 receives, and `media-redrive`."""

from __future__ import annotations

import json

import boto3
import pytest

from devstack.queue_pump import LocalLambdaContext, QueuePump
from tests.integration.media_support import (
    job_for,
    media_rows,
    mensagem,
    sqs_event,
)
from tests.media_images import jpeg_rotated_exif, ogg_opus_voice_note


def worker():
    from chalicelib.routes.media_worker import handle_media_download

    return handle_media_download


def test_graph_500_fails_only_its_own_record(media_env):
    graph = media_env.graph
    bad = job_for(graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    good = job_for(graph, ogg_opus_voice_note(), "audio/ogg; codecs=opus", "audio")
    refused = job_for(graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image", file_size=50 * 1024 * 1024)
    graph.fail("media_meta", status=500)  # the first metadata call: the bad record's

    response = worker()(sqs_event([bad, good, refused], ["m-bad", "m-good", "m-refused"]), LocalLambdaContext())

    # Only the transient failure is retried; the permanent refusal is recorded and done.
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    assert mensagem(good.mensagem_id)["media_url"]
    assert mensagem(refused.mensagem_id)["dados"]["media_error"]["code"] == "arquivo_grande_demais"
    bad_row = mensagem(bad.mensagem_id)
    assert bad_row["media_url"] is None and "media_error" not in bad_row["dados"]


def test_a_batch_where_every_record_fails_is_reported_not_raised(media_env):
    jobs = [job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image") for _ in range(2)]
    media_env.graph.fail("media_meta", status=503, times=2)
    response = worker()(sqs_event(jobs, ["a", "b"]), LocalLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}


def test_malformed_body_fails_its_record_so_it_reaches_the_dead_letter_queue(media_env):
    good = job_for(media_env.graph, ogg_opus_voice_note(), "audio/ogg", "audio")
    event = sqs_event([good], ["ok"])
    event["Records"].append({**event["Records"][0], "messageId": "junk", "body": '{"nope": 1}'})
    response = worker()(event, LocalLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "junk"}]}


@pytest.fixture
def queues(media_env, monkeypatch):
    """The media queue and its dead-letter queue as infra/stateful.yaml defines them, except a
    visibility timeout of 0 so a failed record is visible again at once (no waiting in tests)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq_url = sqs.create_queue(QueueName="crm-inbox-test-media-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="crm-inbox-test-media",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    monkeypatch.setenv("MEDIA_QUEUE_URL", queue_url)
    monkeypatch.delenv("MEDIA_DLQ_URL", raising=False)
    from chalicelib.config import reset_settings

    reset_settings()
    return sqs, queue_url, dlq_url


def count(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_queue_pump_delivers_batches_and_deletes_successes(media_env, queues):
    from chalicelib.services.media_jobs import enqueue

    sqs, queue_url, _ = queues
    jobs = [job_for(media_env.graph, ogg_opus_voice_note(5000 + i), "audio/ogg", "audio") for i in range(12)]
    enqueue(jobs)
    pump = QueuePump(handler=worker(), wait_seconds=0)
    first = pump.poll_once()
    assert first.received == 10 and first.succeeded == 10 and first.failed == []  # Lambda's batch of 10
    second = pump.poll_once()
    assert second.received == 2 and second.succeeded == 2
    assert count(sqs, queue_url) == 0
    assert all(mensagem(job.mensagem_id)["media_url"] for job in jobs)


def test_dead_letter_after_five_receives_then_redrive(media_env, queues, capsys):
    from chalicelib.cli import main
    from chalicelib.services.media_jobs import enqueue

    sqs, queue_url, dlq_url = queues
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    media_env.graph.fail("media_meta", status=500, times=1000)  # Graph down for a while
    enqueue([job])
    pump = QueuePump(handler=worker(), wait_seconds=0)

    attempts = 0
    for _ in range(10):
        result = pump.poll_once()
        if not result.received:
            break
        assert result.failed and result.succeeded == 0
        attempts += 1
    assert attempts == 5  # five receives, then SQS moved it
    assert count(sqs, queue_url) == 0 and count(sqs, dlq_url) == 1
    row = mensagem(job.mensagem_id)
    assert row["media_url"] is None
    # The last attempt told the inbox; the earlier ones did not (they were still retrying).
    assert row["dados"]["media_error"]["code"] == "falha_temporaria"
    assert row["dados"]["media_error"]["attempts"] == 5
    assert [event for event, _ in media_env.published] == ["message:updated"]

    media_env.graph.clear_faults()  # Graph is back
    assert main(["media-redrive"]) == 0
    assert "1 mensagem(ns) devolvida(s)" in capsys.readouterr().out
    assert count(sqs, dlq_url) == 0 and count(sqs, queue_url) == 1

    assert pump.poll_once().succeeded == 1
    row = mensagem(job.mensagem_id)
    assert row["media_url"] and "media_error" not in row["dados"]  # success clears the failure
    assert len(media_rows(job.mensagem_id)) == 1


def test_redelivered_duplicate_in_the_queue_is_harmless(media_env, queues):
    from chalicelib.services.media_jobs import enqueue

    sqs, queue_url, _ = queues
    job = job_for(media_env.graph, jpeg_rotated_exif(64, 64, 1), "image/jpeg", "image")
    enqueue([job, job])  # SQS is at-least-once; the webhook may also enqueue twice
    pump = QueuePump(handler=worker(), wait_seconds=0)
    while pump.poll_once().received:
        pass
    assert len(media_rows()) == 1
    assert [event for event, _ in media_env.published] == ["message:updated"]
    assert count(sqs, queue_url) == 0


def test_pump_treats_a_crashed_invocation_as_a_failed_batch(media_env, queues):
    from chalicelib.services.media_jobs import enqueue

    sqs, queue_url, _ = queues
    enqueue([job_for(media_env.graph, ogg_opus_voice_note(), "audio/ogg", "audio")])

    def crash(event, context):
        raise RuntimeError("out of memory")

    result = QueuePump(handler=crash, wait_seconds=0).poll_once()
    assert result.received == 1 and len(result.failed) == 1
    assert count(sqs, queue_url) == 1  # still there for redelivery


class ShortPollMisses:
    """SQS as it really is: a short poll (WaitTimeSeconds=0) samples a few servers and may
    answer "no messages" while the queue holds some; a long poll asks every server."""

    def __init__(self, real):
        self.real = real
        self.waits: list[int] = []

    def receive_message(self, **kwargs):
        self.waits.append(kwargs["WaitTimeSeconds"])
        if kwargs["WaitTimeSeconds"] == 0:
            return {}
        return self.real.receive_message(**kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_redrive_does_not_stop_at_an_empty_short_poll(media_env, queues, monkeypatch):
    from chalicelib.services import media_redrive

    sqs, queue_url, dlq_url = queues
    for i in range(3):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"n": i}))
    stub = ShortPollMisses(sqs)
    monkeypatch.setattr(media_redrive, "_sqs", lambda: stub)

    moved = media_redrive.redrive(confirm_wait_seconds=1)

    assert moved == 3
    assert count(sqs, dlq_url) == 0 and count(sqs, queue_url) == 3
    assert stub.waits[-1] == 1  # it ended on a long poll that found nothing


UNMATCHED_ANSWERS = [
    {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]},
    {"batchItemFailures": [{"itemIdentifier": ""}]},
    {"batchItemFailures": [{"messageId": "wrong key name"}]},
    "not a batch response",
]
EMPTY_ANSWERS = [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}]


def test_pump_reads_the_answer_as_lambda_does(queues):
    """An unmatched failure report fails the whole batch; an empty answer is complete success."""
    sqs, queue_url, _ = queues
    for answer in UNMATCHED_ANSWERS:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": "{}"} for i in range(2)])
        result = QueuePump(handler=lambda event, context, a=answer: a, wait_seconds=0).poll_once()
        assert result.received == 2 and len(result.failed) == 2 and result.succeeded == 0, answer
        assert count(sqs, queue_url) == 2, answer  # nothing deleted: both come back
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        assert count(sqs, queue_url) == 0
    for answer in EMPTY_ANSWERS:
        sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
        result = QueuePump(handler=lambda event, context, a=answer: a, wait_seconds=0).poll_once()
        assert result.succeeded == 1 and result.failed == [], answer
        assert count(sqs, queue_url) == 0, answer


class DwindlingContext(LocalLambdaContext):
    """A Lambda context whose remaining time is read from a script, one value per record."""

    def __init__(self, remaining_ms: list[int]):
        super().__init__()
        self.remaining_ms = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms.pop(0) if len(self.remaining_ms) > 1 else self.remaining_ms[0]


def test_a_record_without_time_left_is_given_back_not_the_whole_batch(media_env):
    from chalicelib.routes import media_worker

    first = job_for(media_env.graph, ogg_opus_voice_note(), "audio/ogg", "audio")
    second = job_for(media_env.graph, ogg_opus_voice_note(), "audio/ogg", "audio")
    # 60 s left for the first record; 5 s (under the 15 s reserve) when the second comes up.
    context = DwindlingContext([60_000, 5_000])
    assert media_worker.RESERVE_SECONDS == 15

    response = worker()(sqs_event([first, second], ["a", "b"]), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert mensagem(first.mensagem_id)["media_url"]
    row = mensagem(second.mensagem_id)
    assert row["media_url"] is None and "media_error" not in row["dados"]
    assert media_env.graph_requests(second.whatsapp_media_id) == []  # not even started


def test_anonymised_messages_are_acknowledged_by_the_worker_and_dropped_by_the_redrive(media_env, queues, capsys):
    from chalicelib import db
    from chalicelib.cli import main

    sqs, queue_url, dlq_url = queues
    anonimizada = job_for(media_env.graph, ogg_opus_voice_note(4000), "audio/ogg", "audio")
    outra = job_for(media_env.graph, ogg_opus_voice_note(4100), "audio/ogg", "audio")
    db.execute("UPDATE mensagens SET anonimizada = true WHERE id = CAST(:id AS uuid)", id=anonimizada.mensagem_id)

    # The worker: the record succeeds (acknowledged, not retried) without touching Graph or S3.
    answer = worker()(sqs_event([anonimizada]), LocalLambdaContext())
    assert answer == {"batchItemFailures": []}
    assert media_env.graph_requests(anonimizada.whatsapp_media_id) == [] and media_env.objects() == {}

    # The redrive: dead letters of anonymised messages are deleted, the others go back.
    for job in (anonimizada, outra):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=job.model_dump_json())
    assert main(["media-redrive"]) == 0
    assert "1 mensagem(ns) devolvida(s)" in capsys.readouterr().out
    assert count(sqs, dlq_url) == 0
    back = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["mensagem_id"] for m in back] == [outra.mensagem_id]
