"""Short-lived presigned GET URLs for stored media: the bucket stays private.

Messages store the S3 key (`media/2026/11/<mensagem_id>/...`) or an `s3://bucket/key` URI,
never a public URL; API responses and live events call `presign` when they shape a row.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from chalicelib.config import get_settings

DEFAULT_EXPIRES_SECONDS = 900  # 15 minutes: long enough to view, short enough to leak little
# S3 refuses SigV4 presigned URLs valid for more than 7 days.
MAX_EXPIRES_SECONDS = 7 * 24 * 3600

_clients: dict[tuple[str | None, str], Any] = {}
_lock = threading.Lock()


def s3_client() -> Any:
    """One boto3 S3 client per endpoint and region, reused across warm invocations."""
    settings = get_settings()
    cache_key = (settings.aws_endpoint_url, settings.aws_region)
    client = _clients.get(cache_key)
    if client is None:
        with _lock:
            client = _clients.get(cache_key)
            if client is None:
                import boto3
                from botocore.config import Config

                # Path-style addressing: a local endpoint (moto, LocalStack) has no bucket subdomains.
                s3_config = {"addressing_style": "path"} if settings.aws_endpoint_url else {}
                client = boto3.client(
                    "s3",
                    endpoint_url=settings.aws_endpoint_url,
                    region_name=settings.aws_region,
                    config=Config(signature_version="s3v4", s3=s3_config, retries={"mode": "standard"}),
                )
                _clients[cache_key] = client
    return client


def split_location(location: str, default_bucket: str | None = None) -> tuple[str, str]:
    """`s3://bucket/key` or a bare key (in MEDIA_BUCKET) → (bucket, key)."""
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        return bucket, key
    if default_bucket is None:
        default_bucket = get_settings().media_bucket
    return default_bucket, location.lstrip("/")


def default_expires() -> int:
    """MEDIA_URL_EXPIRES_SECONDS if set (1 s .. 7 days), else 15 minutes."""
    raw = os.environ.get("MEDIA_URL_EXPIRES_SECONDS", "").strip()
    try:
        value = int(raw) if raw else DEFAULT_EXPIRES_SECONDS
    except ValueError:
        value = DEFAULT_EXPIRES_SECONDS
    return min(max(value, 1), MAX_EXPIRES_SECONDS)


def presign(key: str | None, expires: int | None = None) -> str | None:
    """A GET URL for `key` (or `s3://bucket/key`) valid for `expires` seconds (default:
    `default_expires()`); None for None.

    Signing is local (no request to S3), so this is cheap enough to call per row.
    """
    if not key:
        return None
    bucket, object_key = split_location(key)
    seconds = default_expires() if expires is None else min(max(int(expires), 1), MAX_EXPIRES_SECONDS)
    return s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": object_key}, ExpiresIn=seconds
    )


def reset_clients() -> None:
    """Tests and the local stack switch endpoints; forget the cached clients."""
    with _lock:
        _clients.clear()
