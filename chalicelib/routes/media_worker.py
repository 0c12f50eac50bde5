"""The media pipeline's SQS handler: each record on its own, failures reported per record.

Powertools' BatchProcessor runs the record handler for every message and answers
`{"batchItemFailures": [...]}`; with `ReportBatchItemFailures` on the event source
(infra/chalice-merge.json) SQS deletes the successes and redelivers only the failures,
which end in the dead-letter queue after 5 receives.
"""

from __future__ import annotations

import os
import time
from functools import cache

from chalice import Blueprint

from chalicelib import metrics
from chalicelib.observability import logger

bp = Blueprint(__name__)

# The queue infra/stateful.yaml creates for this stage (`crm-inbox-${Stage}-media`).
MEDIA_QUEUE_NAME = os.environ.get("MEDIA_QUEUE_NAME") or f"crm-inbox-{os.environ.get('STAGE', 'dev')}-media"

# infra/stateful.yaml's maxReceiveCount: the attempt after which SQS dead-letters a record.
MAX_RECEIVES = int(os.environ.get("MEDIA_MAX_RECEIVES", "5"))

# Seconds of an invocation kept back for what follows a download (aborting a multipart upload,
# the database, the live event, the batch answer). Records are processed one after another,
# so without this a slow download could run the whole invocation into Lambda's timeout, and
# a timed-out invocation fails (and spends a receive of) every record of its batch.
RESERVE_SECONDS = float(os.environ.get("MEDIA_WORKER_RESERVE_SECONDS", "15"))


@cache
def _processor():
    """Built on the worker's first record, not at import: every Lambda of the app imports this
    module, and Powertools' batch utilities cost the API functions' cold starts ~25 ms."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    # A batch where every record failed is still a normal answer: SQS retries exactly those.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _deadline(lambda_context) -> float | None:
    """time.monotonic() after which this invocation must stop downloading; None without a context."""
    remaining_ms = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return time.monotonic() + remaining_ms() / 1000 - RESERVE_SECONDS


def record_handler(record, lambda_context=None) -> str:
    from chalicelib.services import media
    from chalicelib.services.media_jobs import MediaJob
    from chalicelib.services.media_storage import DownloadDeadline

    job = MediaJob.model_validate_json(record.body)
    deadline = _deadline(lambda_context)
    try:
        if deadline is not None and time.monotonic() >= deadline:
            # Too little time left to start: back to SQS untouched, the next receive has it.
            raise DownloadDeadline("not enough time left in this invocation to start the download")
        outcome = media.process_job(job, deadline=deadline)
    except Exception as exc:
        receives = int(record.attributes.approximate_receive_count or 1)
        metrics.count("MediaRetried")
        if receives >= MAX_RECEIVES:
            media.record_gave_up(job, exc, receives)
            metrics.count("MediaGaveUp")
        raise
    metrics.count({"stored": "MediaStored", "failed": "MediaFailed"}.get(outcome.status, "MediaSkipped"))
    logger.info("media job done", extra={"message_id": record.message_id, "outcome": outcome.status})
    return outcome.status


@bp.on_sqs_message(queue=MEDIA_QUEUE_NAME, batch_size=10)
@metrics.flushed
def handle_media_download(event):
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(
        event=event.to_dict(), record_handler=record_handler, processor=_processor(), context=event.context
    )
