"""Browser uploads of media to send: a short-lived presigned S3 PUT, and WhatsApp's limits.

The browser PUTs the file straight to S3 (a Lambda would pay for every byte and API
Gateway caps bodies at 10 MB); the send then reads the object back, checks it really is
what was declared and within WhatsApp's size limit, and uploads it to the Graph API.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.config import get_settings
from chalicelib.http import ApiError
from chalicelib.services.media_storage import base_mime, head_object, matches_mime, size_limit, valid_mime
from chalicelib.services.media_urls import s3_client

if TYPE_CHECKING:
    from chalicelib.api_models import EnviarMedia

PUT_EXPIRES_SECONDS = 300  # long enough to upload 100 MB on a slow line, short enough to leak little
UPLOAD_PREFIX = "uploads/"

# What WhatsApp accepts for sending, per kind (docs/whatsapp.md, Media).
ALLOWED_MIME: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
    "document": frozenset(
        {
            "application/pdf",
            "text/plain",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        }
    ),
}


class MediaUploadIn(BaseModel):
    """The body of POST /media/uploads."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    media_type: Literal["image", "audio", "video", "document"]
    mime_type: str = Field(min_length=3, max_length=255, description="Ex.: image/jpeg, audio/ogg; codecs=opus")
    size: int = Field(gt=0, description="Tamanho do arquivo em bytes")
    filename: str | None = Field(None, max_length=240)
    voz: bool = Field(False, description="Nota de voz: exige audio/ogg; codecs=opus")


class MediaUploadOut(BaseModel):
    """201: PUT the file to `url` with `headers` before `expires_at`, then send with upload_id."""

    upload_id: str
    key: str
    url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    expires_in: int
    expires_at: str
    max_size: int


def upload_key(admin_id: str, upload_id: str) -> str:
    """Derived, not stored: the send finds the object from the upload id alone."""
    return f"{UPLOAD_PREFIX}{admin_id}/{upload_id}"


def _is_opus(mime_type: str) -> bool:
    params = [p.strip().lower().replace('"', "") for p in mime_type.split(";")[1:]]
    return any(re.fullmatch(r"codecs=opus", p) for p in params)


def check_declared(media_type: str, mime_type: str, voz: bool, field_prefix: str = "") -> None:
    if not valid_mime(mime_type):  # it goes into headers: no CR/LF, no control characters
        raise ApiError(422, "ValidationError", "Tipo MIME malformado.", field=f"{field_prefix}mime_type")
    base = base_mime(mime_type)
    if base not in ALLOWED_MIME[media_type]:
        raise ApiError(
            422,
            "ValidationError",
            f"Tipo {base} não é aceito pelo WhatsApp para {media_type};"
            f" aceitos: {', '.join(sorted(ALLOWED_MIME[media_type]))}.",
            field=f"{field_prefix}mime_type",
        )
    # WhatsApp plays Ogg only with the Opus codec; voice notes must be exactly that.
    if base == "audio/ogg" and not _is_opus(mime_type):
        raise ApiError(
            422, "ValidationError", "Áudio Ogg precisa ser audio/ogg; codecs=opus.", field=f"{field_prefix}mime_type"
        )
    if voz and (media_type != "audio" or base != "audio/ogg"):
        raise ApiError(
            422, "ValidationError", "Nota de voz precisa ser audio/ogg; codecs=opus.", field=f"{field_prefix}mime_type"
        )


def check_size(media_type: str, size: int) -> None:
    limit = size_limit(media_type)
    if size <= 0 or size > limit:
        raise ApiError(
            422,
            "ValidationError",
            f"Arquivo de {size} bytes fora do limite do WhatsApp para {media_type} ({limit // (1024 * 1024)} MB).",
            field="size",
            max_size=limit,
        )


def check_content(media_type: str, mime_type: str, head: bytes) -> None:
    """The first bytes must match the declared type; Ogg must carry Opus."""
    ok = matches_mime(mime_type, head)
    if ok and base_mime(mime_type) == "audio/ogg":
        ok = b"OpusHead" in head
    if not ok:
        raise ApiError(
            422,
            "ValidationError",
            f"O conteúdo do arquivo não corresponde ao tipo declarado ({mime_type}).",
            field="mime_type",
        )


UPLOAD_PENDING_TAG = "estado=pendente"


def check_declared_size(bucket: str, key: str, head: dict[str, Any], field: str) -> None:
    """A file larger than the size declared for its presigned PUT is refused and deleted."""
    declared = (head.get("Metadata") or {}).get("declared-size")
    size = int(head.get("ContentLength") or 0)
    if declared is not None and (not declared.isdigit() or size > int(declared)):
        s3_client().delete_object(Bucket=bucket, Key=key)
        raise ApiError(
            422,
            "ValidationError",
            f"O arquivo enviado ({size} bytes) é maior que o declarado ({declared}); envie-o de novo.",
            field=field,
        )


def mark_sent(bucket: str, key: str) -> None:
    """The upload is a message's file now: the lifecycle rule must not expire it."""
    s3_client().put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "estado", "Value": "enviado"}]})


def create_upload(admin_id: str, pedido: MediaUploadIn) -> dict[str, Any]:
    """A presigned PUT for one file; the browser must send the same Content-Type."""
    check_declared(pedido.media_type, pedido.mime_type, pedido.voz)
    check_size(pedido.media_type, pedido.size)
    upload_id = str(uuid.uuid4())
    key = upload_key(admin_id, upload_id)
    # The declared size and the "not sent yet" tag are signed into the URL (the browser must
    # send these headers): sending refuses (and deletes) a file larger than declared, and the
    # bucket's lifecycle rule expires uploads still tagged pendente after a day.
    url = s3_client().generate_presigned_url(
        "put_object",
        Params={
            "Bucket": get_settings().media_bucket,
            "Key": key,
            "ContentType": pedido.mime_type,
            "Metadata": {"declared-size": str(pedido.size)},
            "Tagging": UPLOAD_PENDING_TAG,
        },
        ExpiresIn=PUT_EXPIRES_SECONDS,
    )
    return {
        "upload_id": upload_id,
        "key": key,
        "url": url,
        "method": "PUT",
        "headers": {
            "Content-Type": pedido.mime_type,
            "x-amz-meta-declared-size": str(pedido.size),
            "x-amz-tagging": UPLOAD_PENDING_TAG,
        },
        "expires_in": PUT_EXPIRES_SECONDS,
        "expires_at": (datetime.now(UTC) + timedelta(seconds=PUT_EXPIRES_SECONDS)).isoformat(),
        "max_size": size_limit(pedido.media_type),
    }


# A send of an uploaded file (chalicelib.services.sending) ------------------------------------
def check_for_send(admin_id: str, pedido: EnviarMedia) -> dict[str, Any]:
    """The uploaded object exists, is within WhatsApp's limits and is what it claims to be."""
    key = pedido.key or upload_key(admin_id, str(pedido.upload_id))
    # Only the caller's own uploads: a key is a path in the media bucket, and anything else in
    # it (received media, another attendant's files) must not be sendable by naming it.
    own_prefix = upload_key(admin_id, "")
    if not key.startswith(own_prefix) or len(key) == len(own_prefix) or ".." in key:
        raise ApiError(422, "ValidationError", "key deve ser uma key sua de POST /media/uploads.", field="key")
    check_declared(pedido.media_type, pedido.mime_type, pedido.voz, field_prefix="")
    bucket = get_settings().media_bucket
    head = head_object(bucket, key)
    if head is None:
        raise ApiError(
            422,
            "ValidationError",
            "Arquivo não encontrado: envie-o antes pela URL de POST /media/uploads.",
            field="key",
        )
    check_declared_size(bucket, key, head, "key" if pedido.key else "upload_id")
    size = int(head.get("ContentLength") or 0)
    check_size(pedido.media_type, size)
    first_bytes = read_head(bucket, key, 64)
    check_content(pedido.media_type, pedido.mime_type, first_bytes)
    mark_sent(bucket, key)
    filename = pedido.filename or key.rsplit("/", 1)[-1]
    return {
        "bucket": bucket,
        "key": key,
        "filename": filename,
        "size_bytes": size,
        "voz": pedido.voz,
        "caption": pedido.caption,
    }


def read_head(bucket: str, key: str, length: int) -> bytes:
    body = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"]
    try:
        return body.read()
    finally:
        body.close()


def upload_to_graph(graph, media: dict[str, Any], mime_type: str, timeout: tuple[float, float]) -> str:
    """S3 object → Graph /media; memory stays bounded (spooled to /tmp above 8 MB)."""
    body = s3_client().get_object(Bucket=media["bucket"], Key=media["key"])["Body"]
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        try:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                spool.write(chunk)
        finally:
            body.close()
        spool.seek(0)
        return graph.upload_media(spool, media["filename"], mime_type, timeout=timeout)
