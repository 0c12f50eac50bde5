"""One media job: from WhatsApp's Graph API to S3, a thumbnail, the message updated, live.

Outcomes:
- stored: object (and thumbnail) in S3, a media_files row, the message points at them;
- already_stored: a redelivery after success; nothing changes, nothing is published;
- failed: a permanent refusal (oversize, wrong sha256, type mismatch, media gone after
  WhatsApp's 7 days), recorded on the message as `dados.media_error` and not retried;
- skipped: the message no longer exists (erased) or was anonymised (LGPD): nothing is
  downloaded or kept, and the record is acknowledged, not retried.
Anything else raises, so the queue retries the record and finally dead-letters it:
Graph 5xx/429/timeouts, S3 or database trouble. The worker calls `record_gave_up` on the last
attempt so the message shows that failure too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib import db
from chalicelib.config import get_settings
from chalicelib.observability import logger
from chalicelib.repositories import media_files
from chalicelib.services import live_events, media_storage
from chalicelib.services.media_jobs import MediaJob
from chalicelib.services.media_storage import MediaRejected, StoredObject
from chalicelib.services.thumbnails import ThumbnailError, make_thumbnail
from chalicelib.whatsapp.graph import GraphError, UnsafeMediaUrl, get_graph_client

DOWNLOAD_CHUNK = 64 * 1024
THUMBNAIL_KINDS = ("image", "sticker")


@dataclass
class MediaOutcome:
    status: str  # stored | already_stored | failed | skipped
    mensagem: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def process_job(job: MediaJob, graph=None, deadline: float | None = None) -> MediaOutcome:
    """`deadline` (time.monotonic()): past it the download stops with DownloadDeadline, a
    transient failure, so the worker's Lambda never times out in the middle of a batch."""
    settings = get_settings()
    if not settings.media_bucket:
        raise RuntimeError("MEDIA_BUCKET is not set")
    bucket = settings.media_bucket
    log = {"mensagem_id": job.mensagem_id, "whatsapp_media_id": job.whatsapp_media_id, "kind": job.kind}

    mensagem = media_files.get_mensagem(job.mensagem_id)
    if mensagem is None:
        logger.warning("media job for a message that no longer exists", extra=log)
        return MediaOutcome("skipped")
    if mensagem.get("anonimizada"):
        # The contact asked to be forgotten: fetching the file now would store it again.
        logger.info("media job for an anonymised message skipped", extra=log)
        return MediaOutcome("skipped")
    existing = media_files.get_by_whatsapp_media_id(job.whatsapp_media_id)
    if existing is not None and mensagem.get("media_url"):
        logger.info("media already stored; redelivery ignored", extra=log)
        return MediaOutcome("already_stored", mensagem)
    if existing is not None:
        # Row written but the message not updated (should not happen: one transaction);
        # finish from what the row says.
        return _finish(job, mensagem, existing_row=existing)

    mime_type = job.mime_type
    key = media_storage.object_key(
        mensagem["created_at"],
        str(mensagem["id"]),
        job.whatsapp_media_id,
        media_storage.extension_for(mime_type, job.filename if job.kind == "document" else None),
    )
    stored = _already_uploaded(job, bucket, key)
    original_url = None
    if stored is None:
        if graph is None:
            graph = get_graph_client()
        try:
            stored, original_url = _download(job, graph, bucket, key, deadline)
        except MediaRejected as rejected:
            return _fail(job, mensagem, rejected)
    return _finish(job, mensagem, stored=stored, original_url=original_url)


def _already_uploaded(job: MediaJob, bucket: str, key: str) -> StoredObject | None:
    """A previous attempt uploaded the object and died before the row: reuse it."""
    head = media_storage.head_object(bucket, key)
    if head is None:
        return None
    stored_sha = (head.get("Metadata") or {}).get("sha256")
    if not stored_sha or (job.sha256 and media_storage.normalize_sha256(job.sha256) != stored_sha):
        return None  # not ours, or not verified: download again and overwrite
    data = None
    if job.kind in THUMBNAIL_KINDS:
        limit = media_storage.size_limit(job.kind, job.animated)
        data = media_storage.get_object_bytes(bucket, key, limit)
    return StoredObject(
        bucket=bucket,
        key=key,
        size=int(head["ContentLength"]),
        sha256=stored_sha,
        content_type=head.get("ContentType") or job.mime_type or "application/octet-stream",
        multipart=False,
        data=data,
    )


def _media_metadata(graph, media_id: str) -> dict[str, Any]:
    """A fresh `{url, mime_type, sha256, file_size}`; media gone is a permanent refusal."""
    try:
        return graph.get_media(media_id)
    except GraphError as exc:
        # Expired ids answer 404, or 400 with code 100 ("object does not exist").
        if exc.status in (404, 410) or (exc.status == 400 and exc.code == 100):
            raise MediaRejected(
                "midia_expirada",
                "A mídia não está mais disponível no WhatsApp (ela expira 7 dias após o envio).",
                graph_status=exc.status,
                graph_code=exc.code,
            ) from exc
        raise


def _download(job: MediaJob, graph, bucket: str, key: str, deadline: float | None = None) -> tuple[StoredObject, str]:
    limit = media_storage.size_limit(job.kind, job.animated)
    meta = _media_metadata(graph, job.whatsapp_media_id)
    declared_size = _int_or_none(meta.get("file_size"))
    if declared_size is not None and declared_size > limit:
        raise _oversize(limit, declared_size)
    declared = job.mime_type or meta.get("mime_type") or "application/octet-stream"
    # What S3 serves it as: never an active type (the declared one stays in mensagens.media_mime).
    mime_type, disposition = media_storage.safe_content_type(job.kind, declared)
    expected_sha = job.sha256 or meta.get("sha256")
    if job.kind == "document":
        disposition = media_storage.content_disposition(
            job.filename or f"documento{media_storage.extension_for(declared)}"
        )
    for attempt in (1, 2):
        try:
            with graph.open_media_stream(meta["url"]) as response:
                length = _int_or_none(response.headers.get("Content-Length"))
                if length is not None and length > limit:
                    raise _oversize(limit, length)
                stored = media_storage.upload_stream(
                    response.iter_content(DOWNLOAD_CHUNK),
                    bucket=bucket,
                    key=key,
                    content_type=mime_type,
                    limit=limit,
                    expected_sha256=expected_sha,
                    disposition=disposition,
                    metadata={"whatsapp-media-id": job.whatsapp_media_id, "mensagem-id": job.mensagem_id},
                    keep_data=job.kind in THUMBNAIL_KINDS,
                    deadline=deadline,
                )
                break
        except UnsafeMediaUrl as exc:
            raise _unsafe_url(meta) from exc
        except GraphError as exc:
            if exc.type == "redirect":  # the token and the request stay with Meta's hosts
                raise _unsafe_url(meta) from exc
            # The URL expired between the two calls: one fresh URL, then let SQS retry.
            if exc.status == 404 and attempt == 1:
                logger.info(
                    "media URL expired; fetching a fresh one", extra={"whatsapp_media_id": job.whatsapp_media_id}
                )
                meta = _media_metadata(graph, job.whatsapp_media_id)
                continue
            raise
    return stored, meta["url"]


def _unsafe_url(meta: dict[str, Any]) -> MediaRejected:
    try:
        host = urlsplit(str(meta.get("url"))).hostname
    except ValueError:
        host = None
    logger.warning("media URL refused (host or redirect off Meta's media hosts)", extra={"host": host})
    return MediaRejected(
        "url_nao_permitida",
        "O WhatsApp indicou um endereço de download fora dos servidores de mídia da Meta; o arquivo não foi baixado.",
        host=host,
    )


def _oversize(limit: int, size: int) -> MediaRejected:
    return MediaRejected(
        "arquivo_grande_demais",
        f"O arquivo tem {size // 1024} KB e passa do limite de {limit // 1024} KB para este tipo de mídia.",
        limit_bytes=limit,
        size_bytes=size,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _finish(
    job: MediaJob,
    mensagem: dict[str, Any],
    stored: StoredObject | None = None,
    original_url: str | None = None,
    existing_row: dict[str, Any] | None = None,
) -> MediaOutcome:
    patch: dict[str, Any] = {}
    if existing_row is not None:
        media_url, thumb_key = existing_row["storage_key"], existing_row["thumbnail_key"]
        media_mime = existing_row["mime_type"]
        patch["media_file"] = {
            "size_bytes": existing_row["size_bytes"],
            "sha256": existing_row.get("sha256"),
            "width": existing_row.get("width"),
            "height": existing_row.get("height"),
            "thumbnail": thumb_key is not None,
        }
        with db.transaction():
            row = media_files.set_mensagem_media(
                job.mensagem_id, media_url=media_url, thumbnail_url=thumb_key, media_mime=media_mime, dados_patch=patch
            )
        if _anonimizada_meanwhile(row, existing_row["storage_url"] or media_url):
            return MediaOutcome("skipped")
        _publish(row)
        return MediaOutcome("stored", row)

    assert stored is not None
    thumb_key = width = height = None
    if job.kind in THUMBNAIL_KINDS and stored.data is not None:
        thumb_key, width, height, warning = _thumbnail(stored)
        if warning:
            patch["media_warning"] = warning
    patch["media_file"] = {
        "size_bytes": stored.size,
        "sha256": stored.sha256,
        "width": width,
        "height": height,
        "thumbnail": thumb_key is not None,
    }
    with db.transaction():
        media_files.insert(
            mensagem_id=job.mensagem_id,
            whatsapp_media_id=job.whatsapp_media_id,
            original_url=original_url,
            storage_key=stored.key,
            storage_url=f"s3://{stored.bucket}/{stored.key}",
            mime_type=stored.content_type,
            size_bytes=stored.size,
            sha256=stored.sha256,
            thumbnail_key=thumb_key,
            thumbnail_url=f"s3://{stored.bucket}/{thumb_key}" if thumb_key else None,
            width=width,
            height=height,
        )
        # The message keeps the S3 key, never a URL: readers presign it (media_urls.presign).
        row = media_files.set_mensagem_media(
            job.mensagem_id,
            media_url=stored.key,
            thumbnail_url=thumb_key,
            media_mime=stored.content_type,
            dados_patch=patch,
        )
    if _anonimizada_meanwhile(row, f"s3://{stored.bucket}/{stored.key}"):
        return MediaOutcome("skipped")
    logger.info(
        "media stored",
        extra={"mensagem_id": job.mensagem_id, "key": stored.key, "size": stored.size, "thumbnail": bool(thumb_key)},
    )
    _publish(row)
    return MediaOutcome("stored", row)


def _anonimizada_meanwhile(row: dict[str, Any] | None, location: str) -> bool:
    """The contact was anonymised while this job downloaded: 0008's triggers dropped the
    media_files row and kept the message wiped, and LGPD's purge ran before our upload, so the
    objects just written (the message's folder: original and thumbnail) go now."""
    if row is None or not row.get("anonimizada"):
        return False
    # Here, not at the top: LGPD's module costs the worker's cold start ~15 ms, for a rare case.
    from chalicelib.services.lgpd import purge_objects

    try:
        purge_objects([location])
    except Exception:  # noqa: BLE001 - retrying would skip at the start and not purge either
        logger.exception("could not purge media of an anonymised message", extra={"location": location})
    logger.info("media of a message anonymised during its download discarded", extra={"mensagem_id": str(row["id"])})
    return True


def _thumbnail(stored: StoredObject) -> tuple[str | None, int | None, int | None, dict[str, str] | None]:
    try:
        thumb = make_thumbnail(stored.data)
    except ThumbnailError as exc:
        # The customer's file is kept as sent; only the preview is missing.
        logger.warning("no thumbnail", extra={"key": stored.key, "code": exc.code, "error": exc.message})
        return None, None, None, {"code": exc.code, "message": exc.message}
    key = media_storage.thumbnail_key(stored.key)
    media_storage.put_thumbnail(stored.bucket, key, thumb.data)
    return key, thumb.source_width, thumb.source_height, None


def _fail(job: MediaJob, mensagem: dict[str, Any], rejected: MediaRejected) -> MediaOutcome:
    error = rejected.as_dict()
    logger.warning(
        "media refused",
        extra={"mensagem_id": job.mensagem_id, "whatsapp_media_id": job.whatsapp_media_id, "media_error": error},
    )
    row = media_files.record_media_error(job.mensagem_id, error)
    _publish(row)
    return MediaOutcome("failed", row, error)


def record_gave_up(job: MediaJob, exc: BaseException, attempts: int) -> None:
    """The last attempt failed transiently: the record goes to the dead-letter queue, and the
    message says so (a later success after `media-redrive` clears it). Never raises: the
    original failure is what must reach SQS."""
    error = {
        "code": "falha_temporaria",
        "message": (
            f"Não foi possível baixar a mídia após {attempts} tentativas. "
            "Ela pode ser reprocessada (python -m chalicelib.cli media-redrive)."
        ),
        "attempts": attempts,
        "detail": str(exc)[:500],
    }
    try:
        row = media_files.record_media_error(job.mensagem_id, error)
        _publish(row)
    except Exception:  # noqa: BLE001 - best effort: the dead-letter queue keeps the job anyway
        logger.exception("could not record the media failure", extra={"mensagem_id": job.mensagem_id})


def _publish(row: dict[str, Any] | None) -> None:
    """message:updated for a committed change (a presign failure while building it gives a
    message without URLs, never a retried job)."""
    if row is not None:
        live_events.message_updated(row["id"])
