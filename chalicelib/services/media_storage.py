"""Streaming a WhatsApp binary into S3 with bounded memory, refusing what is not as declared.

The bytes go from the Graph API response to S3 in multipart parts of `PART_SIZE`, so a
100 MB document costs one part of memory, not 100 MB. While streaming we enforce the
per-type size limit, hash the bytes (WhatsApp's sha256, base64) and check the first bytes
against the declared MIME type. A refused file never becomes an object: a multipart upload
is aborted before completion, a small file is never put.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from chalicelib.observability import logger
from chalicelib.services.media_urls import s3_client

MB = 1024 * 1024
# S3's minimum part size (except the last): the smallest buffer multipart allows.
PART_SIZE = 5 * MB
SNIFF_BYTES = 16

# WhatsApp's limits per kind (docs/whatsapp.md, Media).
SIZE_LIMITS = {
    "image": 5 * MB,
    "audio": 16 * MB,
    "video": 16 * MB,
    "document": 100 * MB,
    "sticker": 100 * 1024,
}
ANIMATED_STICKER_LIMIT = 500 * 1024

SSE = "AES256"


class DownloadDeadline(TimeoutError):
    """The invocation is about to run out of time: give the record back to SQS (transient)
    rather than let Lambda's timeout fail the whole batch."""


class MediaRejected(Exception):
    """A permanent refusal: retrying the same media cannot help. `code` goes into `dados`."""

    def __init__(self, code: str, message: str, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


def size_limit(kind: str, animated: bool = False) -> int:
    if kind == "sticker" and animated:
        return ANIMATED_STICKER_LIMIT
    return SIZE_LIMITS.get(kind, SIZE_LIMITS["document"])


def base_mime(mime_type: str | None) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg`."""
    return (mime_type or "application/octet-stream").split(";", 1)[0].strip().lower()


def _is_mpeg_audio(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0)


def _is_iso_media(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


# Signatures of the types WhatsApp delivers. A MIME type not listed here (text/plain, csv,
# many office formats) has no reliable signature and is not sniffed.
_SIGNATURES = {
    "image/jpeg": lambda h: h.startswith(b"\xff\xd8\xff"),
    "image/png": lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/webp": lambda h: h.startswith(b"RIFF") and h[8:12] == b"WEBP",
    "image/gif": lambda h: h[:6] in (b"GIF87a", b"GIF89a"),
    "audio/ogg": lambda h: h.startswith(b"OggS"),
    "audio/opus": lambda h: h.startswith(b"OggS"),
    "audio/mpeg": _is_mpeg_audio,
    "audio/amr": lambda h: h.startswith(b"#!AMR"),
    "audio/aac": lambda h: h.startswith(b"ADIF") or (len(h) >= 2 and h[0] == 0xFF and (h[1] & 0xF6) == 0xF0),
    "audio/mp4": _is_iso_media,
    "video/mp4": _is_iso_media,
    "video/3gpp": _is_iso_media,
    "application/pdf": lambda h: h.startswith(b"%PDF-"),
    "application/zip": lambda h: h.startswith(b"PK\x03\x04"),
    # Office Open XML files are zip archives; the old binary formats are OLE2 containers.
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": lambda h: h.startswith(b"PK\x03\x04"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": lambda h: h.startswith(b"PK\x03\x04"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": lambda h: h.startswith(b"PK\x03\x04"),
    "application/msword": lambda h: h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    "application/vnd.ms-excel": lambda h: h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    "application/vnd.ms-powerpoint": lambda h: h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
}


def matches_mime(mime_type: str | None, head: bytes) -> bool:
    """Do the first bytes look like the declared type? Unknown types pass."""
    check = _SIGNATURES.get(base_mime(mime_type))
    return True if check is None else bool(check(head))


_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/amr": ".amr",
    "audio/aac": ".aac",
    "audio/mp4": ".m4a",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


def extension_for(mime_type: str | None, filename: str | None = None) -> str:
    if filename:
        suffix = re.search(r"(\.[A-Za-z0-9]{1,8})$", filename)
        if suffix:
            return suffix.group(1).lower()
    mime = base_mime(mime_type)
    return _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ".bin"


def object_key(created_at, mensagem_id: str, whatsapp_media_id: str, extension: str) -> str:
    """`media/{yyyy}/{mm}/{mensagem_id}/{media_id}{ext}`: stable across redeliveries."""
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", whatsapp_media_id)
    return f"media/{created_at:%Y}/{created_at:%m}/{mensagem_id}/{safe_id}{extension}"


def thumbnail_key(key: str) -> str:
    return key.rsplit(".", 1)[0] + ".thumb.webp" if "." in key.rsplit("/", 1)[-1] else key + ".thumb.webp"


# Longer names are cut (keeping the extension): the customer chooses the name, and S3 refuses
# requests whose headers pass 8 KB, which a long non-ASCII name percent-encoded would reach.
MAX_FILENAME_CHARS = 150


def _shorten(name: str, limit: int = MAX_FILENAME_CHARS) -> str:
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return stem[: limit - len(ext) - 1].rstrip() + "." + ext
    return name[:limit].rstrip()


# RFC 6838 type/subtype tokens and RFC 2045 parameters, nothing else: a declared MIME type is
# copied into headers (S3's Content-Type, the multipart part sent to Graph), so CR, LF, NUL or
# any other control character must never get through.
_MIME_PART = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_RE = re.compile(rf"^{_MIME_PART}/{_MIME_PART}( *; *{_MIME_PART}=({_MIME_PART}|\"[\x20-\x21\x23-\x7e]*\"))* *$")


def valid_mime(mime_type: str | None) -> bool:
    return bool(mime_type) and len(mime_type) <= 255 and _MIME_RE.match(mime_type) is not None


# Types a browser renders as a page (scripts included) when it opens a presigned URL.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/xsl",
        "application/pdf+html",
    }
)
_KIND_FAMILY = {"image": "image/", "sticker": "image/", "audio": "audio/", "video": "video/"}


def safe_content_type(kind: str, mime_type: str | None) -> tuple[str, str | None]:
    """The Content-Type to store a customer's file under, and its Content-Disposition (None
    for documents: they get theirs with the file name). A type that is malformed, active
    (HTML, SVG, XML, scripts) or not of the media's family (audio declared text/html) becomes
    application/octet-stream, downloaded as an attachment: a presigned GET never renders it."""
    base = base_mime(mime_type)
    family = _KIND_FAMILY.get(kind)
    safe = valid_mime(mime_type) and base not in _ACTIVE_TYPES and not base.startswith("multipart/")
    if family is not None:
        safe = safe and base.startswith(family)
    if not safe:
        return "application/octet-stream", "attachment"
    return str(mime_type), (None if kind == "document" else "inline")


def content_disposition(filename: str) -> str:
    """`attachment` with the customer's file name (RFC 6266): an ASCII `filename` for old
    clients plus the exact name as RFC 5987 `filename*` (UTF-8, percent-encoded).

    The name comes from the customer, so nothing in it may end the header early: control
    characters (CR, LF, tab, U+2028 ...) are dropped, quotes and backslashes never reach the
    quoted-string, and `filename*` is fully percent-encoded.
    """
    cleaned = "".join(ch for ch in filename if ch.isprintable()).replace("/", "_").replace("\\", "_").strip()
    cleaned = _shorten(cleaned or "arquivo")
    ascii_name = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode()
    # RFC 6266 §4.3 / appendix D: no `"` or `\` inside the quoted-string, and no `%` (some
    # clients percent-decode `filename`).
    ascii_name = ascii_name.replace('"', "'").replace("%", "_").strip()
    stem, dot, ext = ascii_name.rpartition(".")
    if not (stem.strip(" ._") if dot else ascii_name.strip(" ._")):
        # Nothing ASCII left of the name (中文.pdf → ".pdf", a hidden file): a neutral one.
        ascii_name = "arquivo" + (f".{ext}" if dot and ext else "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def _sha256_b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def normalize_sha256(value: str | None) -> str | None:
    """Base64 form of a sha256 given as base64 or hex; None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return _sha256_b64(bytes.fromhex(value))
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return _sha256_b64(raw) if len(raw) == 32 else None


def sha256_matches(expected: str | None, digest: bytes) -> bool:
    """WhatsApp gives base64; accept hex too (some payloads and fakes use it)."""
    if not expected:
        return True
    expected = expected.strip()
    return expected in (_sha256_b64(digest), digest.hex())


@dataclass
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str  # base64
    content_type: str
    multipart: bool
    data: bytes | None = field(default=None, repr=False)  # kept only when asked (images)


def upload_stream(
    chunks: Iterable[bytes],
    *,
    bucket: str,
    key: str,
    content_type: str,
    limit: int,
    expected_sha256: str | None = None,
    disposition: str | None = None,
    metadata: dict[str, str] | None = None,
    keep_data: bool = False,
    part_size: int = PART_SIZE,
    deadline: float | None = None,
) -> StoredObject:
    """Stream `chunks` into s3://bucket/key; raises MediaRejected before anything is stored.

    Memory: at most one part (plus the chunk being read); with `keep_data` the whole file is
    kept too, which callers only ask for images (5 MB at most) to make the thumbnail.
    Past `deadline` (time.monotonic()) it raises DownloadDeadline, aborting the upload.
    """
    s3 = s3_client()
    hasher = hashlib.sha256()
    pending: list[bytes] = []
    pending_size = 0
    total = 0
    sniffed = False
    head = b""
    kept: list[bytes] | None = [] if keep_data else None
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []
    metadata = dict(metadata or {})
    verified_sha = normalize_sha256(expected_sha256)
    if verified_sha:
        # The object is only ever completed when the bytes match this hash, so a stored object
        # carrying it is proof enough for a redelivery to reuse it.
        metadata["sha256"] = verified_sha
    extra: dict[str, Any] = {"ContentType": content_type, "ServerSideEncryption": SSE, "Metadata": metadata}
    if disposition:
        extra["ContentDisposition"] = disposition

    def flush_part() -> None:
        nonlocal upload_id, pending, pending_size
        if upload_id is None:
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
        body = b"".join(pending)
        pending, pending_size = [], 0
        number = len(parts) + 1
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
        parts.append({"ETag": etag, "PartNumber": number})

    try:
        for chunk in chunks:
            if deadline is not None and time.monotonic() > deadline:
                raise DownloadDeadline(f"download of {key} stopped after {total} bytes: invocation out of time")
            if not chunk:
                continue
            total += len(chunk)
            if total > limit:
                raise MediaRejected(
                    "arquivo_grande_demais",
                    f"O arquivo passa do limite de {limit // 1024} KB para este tipo de mídia.",
                    limit_bytes=limit,
                )
            if not sniffed:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    _check_head(content_type, head)
                    sniffed = True
            hasher.update(chunk)
            if kept is not None:
                kept.append(chunk)
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= part_size:
                flush_part()
        if not sniffed:
            _check_head(content_type, head)
        if total == 0:
            raise MediaRejected("arquivo_vazio", "O WhatsApp entregou um arquivo vazio.")
        digest = hasher.digest()
        if not sha256_matches(expected_sha256, digest):
            raise MediaRejected(
                "sha256_divergente",
                "O conteúdo baixado não confere com o sha256 informado pelo WhatsApp.",
                expected=expected_sha256,
                received=_sha256_b64(digest),
            )
        if upload_id is None:
            s3.put_object(Bucket=bucket, Key=key, Body=b"".join(pending), **extra)
        else:
            if pending:
                flush_part()
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        if upload_id is not None:
            _abort(s3, bucket, key, upload_id)
        raise
    return StoredObject(
        bucket=bucket,
        key=key,
        size=total,
        sha256=_sha256_b64(digest),
        content_type=content_type,
        multipart=upload_id is not None,
        data=b"".join(kept) if kept is not None else None,
    )


def _check_head(content_type: str, head: bytes) -> None:
    if head and not matches_mime(content_type, head):
        raise MediaRejected(
            "tipo_incompativel",
            f"O conteúdo não corresponde ao tipo declarado ({base_mime(content_type)}).",
            declared=base_mime(content_type),
        )


def _abort(s3, bucket: str, key: str, upload_id: str) -> None:
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception:  # noqa: BLE001 - the bucket's lifecycle rule cleans up what we cannot
        logger.warning("abort_multipart_upload failed", extra={"key": key})


def head_object(bucket: str, key: str) -> dict[str, Any] | None:
    """The object's metadata, or None when it does not exist."""
    s3 = s3_client()
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def get_object_bytes(bucket: str, key: str, limit: int) -> bytes:
    """A stored object we know to be small (an image, at most its limit)."""
    body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return body.read(limit + 1)
    finally:
        body.close()


def put_thumbnail(bucket: str, key: str, data: bytes) -> None:
    s3_client().put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="image/webp",
        ServerSideEncryption=SSE,
        CacheControl="private, max-age=31536000, immutable",
    )
