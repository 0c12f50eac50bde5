"""The media queue's contract: what the webhook enqueues and the media worker consumes."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.config import get_settings

# WhatsApp's media kinds (a sticker is stored as an image, but its limits differ).
WhatsAppMediaKind = Literal["image", "audio", "video", "document", "sticker"]


class MediaJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mensagem_id: str
    whatsapp_media_id: str = Field(min_length=1, max_length=100)
    kind: WhatsAppMediaKind
    mime_type: str | None = None
    sha256: str | None = None  # base64, as the webhook gives it
    filename: str | None = None
    animated: bool = False
    voice: bool = False


@lru_cache(maxsize=1)
def _sqs():
    import boto3

    settings = get_settings()
    return boto3.client("sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)


def reset_client() -> None:
    _sqs.cache_clear()


def enqueue(jobs: list[MediaJob]) -> None:
    """Send jobs in batches of 10 (SQS's limit); raises if any entry was refused.

    Called after the webhook's transaction committed: a failure here makes the webhook
    answer 500 so Meta retries, and the retry finds the message stored and re-enqueues.
    """
    if not jobs:
        return
    queue_url = get_settings().media_queue_url
    if not queue_url:
        raise RuntimeError("MEDIA_QUEUE_URL is not set")
    for start in range(0, len(jobs), 10):
        batch = jobs[start : start + 10]
        result = _sqs().send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps(job.model_dump())} for i, job in enumerate(batch)],
        )
        if result.get("Failed"):
            raise RuntimeError(f"SQS refused {len(result['Failed'])} media job(s): {result['Failed'][0]}")
