"""Move the media pipeline's dead letters back to its queue (after fixing what killed them).

The messages keep their bodies, so the worker processes them as new; each is deleted from
the dead-letter queue only once the main queue accepted its copy (nothing lost on a crash,
at worst a duplicate, which the worker ignores). Jobs of messages anonymised since (LGPD)
are not moved: they are deleted from the dead-letter queue, since their media must not be
fetched again.
"""

from __future__ import annotations

import json
import os
from typing import Any
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.observability import logger
from chalicelib.repositories import media_files
from chalicelib.services.media_jobs import MediaJob


def _sqs() -> Any:
    import boto3

    settings = get_settings()
    return boto3.client("sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)


def dead_letter_queue_url(sqs: Any, queue_url: str) -> str:
    """MEDIA_DLQ_URL if set, else the target of the queue's redrive policy."""
    if os.environ.get("MEDIA_DLQ_URL"):
        return os.environ["MEDIA_DLQ_URL"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = json.loads(attributes.get("RedrivePolicy") or "{}")
    arn = policy.get("deadLetterTargetArn")
    if not arn:
        raise RuntimeError(f"{queue_url} has no dead-letter queue (no RedrivePolicy)")
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


# Short polling (WaitTimeSeconds=0) asks only a sample of SQS's servers and may answer "no
# messages" while some remain; only a long poll, which asks them all, may end the redrive.
CONFIRM_EMPTY_WAIT_SECONDS = 2


def redrive(
    queue_url: str | None = None,
    dlq_url: str | None = None,
    limit: int | None = None,
    confirm_wait_seconds: int = CONFIRM_EMPTY_WAIT_SECONDS,
) -> int:
    """Move up to `limit` (default: all) dead letters back; returns how many moved."""
    sqs = _sqs()
    queue_url = queue_url or get_settings().media_queue_url
    if not queue_url:
        raise RuntimeError("MEDIA_QUEUE_URL is not set")
    dlq_url = dlq_url or dead_letter_queue_url(sqs, queue_url)
    moved = 0
    while limit is None or moved < limit:
        wanted = 10 if limit is None else min(10, limit - moved)
        messages = _receive(sqs, dlq_url, wanted, 0)
        if not messages:
            messages = _receive(sqs, dlq_url, wanted, confirm_wait_seconds)
        if not messages:
            break
        dropped = _anonimizadas(messages)
        entries = []
        for i, message in enumerate(messages):
            if i in dropped:
                continue
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries) if entries else {}
        ok = {item["Id"] for item in sent.get("Successful", [])}
        delete = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if str(i) in ok or i in dropped
        ]
        if delete:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=delete)
        moved += len(delete) - len(dropped)
        if dropped:
            logger.info("dead letters of anonymised messages dropped", extra={"count": len(dropped)})
        if sent.get("Failed"):
            raise RuntimeError(f"the media queue refused {len(sent['Failed'])} message(s): {sent['Failed'][0]}")
    return moved


def _anonimizadas(messages: list[dict[str, Any]]) -> set[int]:
    """Positions of the dead letters whose message was anonymised (one query per batch). A
    body that is not a MediaJob is moved as it is: the worker decides about it."""
    ids: dict[int, str] = {}
    for i, message in enumerate(messages):
        try:
            ids[i] = str(UUID(MediaJob.model_validate_json(message["Body"]).mensagem_id))
        except ValueError:
            continue
    anonimizadas = media_files.anonimizadas(list(ids.values())) if ids else set()
    return {i for i, mensagem_id in ids.items() if mensagem_id in anonimizadas}


def _receive(sqs: Any, dlq_url: str, wanted: int, wait_seconds: int) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=wanted,
        WaitTimeSeconds=wait_seconds,
        VisibilityTimeout=60,
        MessageAttributeNames=["All"],
    ).get("Messages", [])
