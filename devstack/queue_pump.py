"""Lambda's SQS event source mappings, locally: poll a queue, invoke its function (the media
worker on the media queue; the live-events drain on its FIFO queue).

What it copies from AWS: batches of up to 10 messages, the event shape Lambda passes
(`Records` with messageId, receiptHandle, body, attributes, eventSourceARN ...), a Lambda
context, deletion of the records that succeeded, and nothing more for the ones reported in
`batchItemFailures` (or for the whole batch if the handler raised, or reported a failure
Lambda cannot match to a record): they become visible again after the queue's visibility
timeout and the queue's redrive policy moves them to the dead-letter queue after 5 receives.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib.observability import logger

FUNCTION_NAME = "handle_media_download"
LAMBDA_TIMEOUT_SECONDS = 120  # .chalice/config.json: lambda_functions.handle_media_download


class LocalLambdaContext:
    """The attributes of Lambda's context object that Powertools and Chalice read."""

    def __init__(self, function_name: str = FUNCTION_NAME, timeout_seconds: int = LAMBDA_TIMEOUT_SECONDS):
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """SQS ReceiveMessage results in the shape Lambda hands to the function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType"),
                    }
                    for name, value in (m.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def default_handler(function_name: str = FUNCTION_NAME):
    """The deployed handler with the app's middleware, as Lambda would call it."""
    import app as app_module  # the project's app.py (same object `chalice local` loads)

    return app_module.app.handler_map[function_name]


def reported_failures(response: Any, message_ids: list[str]) -> set[str] | None:
    """The message ids a handler reported in `batchItemFailures`; None when Lambda would treat
    the answer as a failure of the whole batch (an item without an identifier, or with an id
    that is not in the batch)."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    items = response.get("batchItemFailures") or []
    if not isinstance(items, list):
        return None
    failures: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return None
        failures.add(identifier)
    return failures


@dataclass
class PollResult:
    received: int = 0
    succeeded: int = 0
    failed: list[str] = field(default_factory=list)  # message ids left for redelivery


class QueuePump:
    """Local-stack component (`COMPONENTS` in devstack/stack.py): the media worker's."""

    FUNCTION = FUNCTION_NAME
    QUEUE_URL_SETTING = "MEDIA_QUEUE_URL"
    TIMEOUT_SECONDS = LAMBDA_TIMEOUT_SECONDS
    LABEL = "media worker"

    def __init__(
        self,
        stack=None,
        *,
        queue_url: str | None = None,
        handler=None,
        endpoint_url: str | None = None,
        batch_size: int = 10,
        wait_seconds: int = 1,
    ):
        self.stack = stack
        self._queue_url = queue_url
        self._handler = handler
        self._endpoint_url = endpoint_url
        self.batch_size = max(1, min(batch_size, 10))
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sqs = None
        self._queue_arn: str | None = None
        self.invocations = 0

    # Configuration is read at start (the stack sets the queue URLs before components start).
    @property
    def queue_url(self) -> str:
        return self._queue_url or os.environ[self.QUEUE_URL_SETTING]

    def _client(self):
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client(
                "sqs",
                endpoint_url=self._endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
                region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            )
        return self._sqs

    def _arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._client().get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    def poll_once(self, wait_seconds: int | None = None) -> PollResult:
        """One receive → invoke → delete cycle; returns what happened."""
        sqs = self._client()
        answer = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        result = PollResult(received=len(messages))
        if not messages:
            return result
        event = lambda_sqs_event(messages, self._arn(), sqs.meta.region_name)
        handler = self._handler or default_handler(self.FUNCTION)
        self.invocations += 1
        try:
            response = handler(event, LocalLambdaContext(self.FUNCTION, self.TIMEOUT_SECONDS))
        except Exception:  # noqa: BLE001 - a crashed invocation fails its whole batch, as on Lambda
            logger.exception("%s invocation failed; the whole batch will be redelivered", self.FUNCTION)
            result.failed = [m["MessageId"] for m in messages]
            return result
        failures = reported_failures(response, [m["MessageId"] for m in messages])
        if failures is None:
            logger.error("%s answered an invalid batch response; the whole batch will be redelivered", self.FUNCTION)
            result.failed = [m["MessageId"] for m in messages]
            return result
        done = [m for m in messages if m["MessageId"] not in failures]
        result.failed = [m["MessageId"] for m in messages if m["MessageId"] in failures]
        result.succeeded = len(done)
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return result

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling, like the managed event source
                logger.exception("queue pump: polling failed")
                self._stop.wait(2)

    # Component interface -----------------------------------------------------------------
    def start(self) -> None:
        self.queue_url  # noqa: B018 - fail at start, not in the thread, when unset
        self._thread = threading.Thread(target=self._run, name=f"{self.FUNCTION}-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.wait_seconds + 5)
            self._thread = None

    def describe(self) -> str:
        return f"{self.LABEL:<18}polling {self.queue_url} → {self.FUNCTION} (batches of {self.batch_size})"


class LiveEventsPump(QueuePump):
    """The live-events drain's event source: a FIFO queue, so one batch at a time, as on AWS."""

    FUNCTION = "drain_live_events"
    QUEUE_URL_SETTING = "LIVE_EVENTS_QUEUE_URL"
    TIMEOUT_SECONDS = 30  # .chalice/config.json: lambda_functions.drain_live_events
    LABEL = "live-events drain"
