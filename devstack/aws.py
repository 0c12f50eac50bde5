"""AWS for the local stack: moto's threaded server and the resources the app expects."""

from __future__ import annotations

import json
import os

import boto3

LOCAL_BUCKET = "crm-inbox-media-local"
LOCAL_QUEUE = "crm-inbox-media"
LOCAL_DLQ = "crm-inbox-media-dlq"
# The live-events drain's nudges (infra/stateful.yaml's LiveEventsQueue): FIFO, one group.
LOCAL_LIVE_EVENTS_QUEUE = "crm-inbox-local-live-events.fifo"
MOTO_ACCOUNT_ID = "123456789012"  # moto's default account: it appears in the queue URLs
MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_SECONDS = 180  # above the media worker's Lambda timeout (120 s)


def use_fake_credentials() -> None:
    # moto accepts anything; real credentials must never leak into a local run.
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - moto's fake key, not a secret
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def start_moto_server(host: str, port: int):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def create_media_resources(endpoint_url: str | None = None) -> dict[str, str]:
    """Bucket, queues and dead-letter queue as infra/ creates them in AWS; idempotent."""
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)
    s3.create_bucket(Bucket=LOCAL_BUCKET)
    s3.put_public_access_block(
        Bucket=LOCAL_BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    dlq_url = sqs.create_queue(QueueName=LOCAL_DLQ, Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=LOCAL_QUEUE,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    live_events_queue_url = sqs.create_queue(
        QueueName=LOCAL_LIVE_EVENTS_QUEUE, Attributes={"FifoQueue": "true", "VisibilityTimeout": "60"}
    )["QueueUrl"]
    return {
        "bucket": LOCAL_BUCKET,
        "queue_url": queue_url,
        "dlq_url": dlq_url,
        "live_events_queue_url": live_events_queue_url,
    }


def allow_console_uploads(endpoint_url: str | None, origins: str) -> None:
    """Bucket CORS as infra/stateful.yaml sets it: the console PUTs to presigned URLs."""
    allowed = [o.strip() for o in origins.split(",") if o.strip()]
    if not allowed:
        return
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    s3.put_bucket_cors(
        Bucket=LOCAL_BUCKET,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": allowed,
                    "AllowedMethods": ["PUT", "GET", "HEAD"],
                    "AllowedHeaders": ["content-type", "content-length", "x-amz-meta-declared-size", "x-amz-tagging"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )


def local_queue_url(endpoint_url: str, name: str = LOCAL_QUEUE) -> str:
    """The URL moto gives a queue of create_media_resources (without asking it)."""
    return f"{endpoint_url.rstrip('/')}/{MOTO_ACCOUNT_ID}/{name}"
