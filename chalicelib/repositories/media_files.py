"""media_files, and the media columns of mensagens the pipeline fills in."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import db


def get_by_whatsapp_media_id(whatsapp_media_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT * FROM media_files WHERE whatsapp_media_id = :whatsapp_media_id",
        whatsapp_media_id=whatsapp_media_id,
    )


def insert(
    *,
    mensagem_id: str,
    whatsapp_media_id: str,
    original_url: str | None,
    storage_key: str,
    storage_url: str,
    mime_type: str,
    size_bytes: int,
    sha256: str | None,
    thumbnail_key: str | None,
    thumbnail_url: str | None,
    width: int | None,
    height: int | None,
) -> dict[str, Any]:
    """Idempotent: a second insert of the same WhatsApp media returns the first row unchanged."""
    row = db.query_one(
        """
        INSERT INTO media_files (mensagem_id, whatsapp_media_id, original_url, storage_key, storage_url,
                                 mime_type, size_bytes, sha256, thumbnail_key, thumbnail_url, width, height)
        VALUES (CAST(:mensagem_id AS uuid), :whatsapp_media_id, :original_url, :storage_key, :storage_url,
                :mime_type, :size_bytes, :sha256, :thumbnail_key, :thumbnail_url, :width, :height)
        ON CONFLICT (whatsapp_media_id) DO NOTHING
        RETURNING *
        """,
        mensagem_id=mensagem_id,
        whatsapp_media_id=whatsapp_media_id,
        original_url=original_url,
        storage_key=storage_key,
        storage_url=storage_url,
        mime_type=mime_type,
        size_bytes=size_bytes,
        sha256=sha256,
        thumbnail_key=thumbnail_key,
        thumbnail_url=thumbnail_url,
        width=width,
        height=height,
    )
    return row or get_by_whatsapp_media_id(whatsapp_media_id)  # type: ignore[return-value]


def get_mensagem(mensagem_id: str) -> dict[str, Any] | None:
    """The message a media job belongs to (None if it was deleted, e.g. LGPD erasure)."""
    return db.query_one("SELECT * FROM mensagens WHERE id = CAST(:mensagem_id AS uuid)", mensagem_id=mensagem_id)


def set_mensagem_media(
    mensagem_id: str,
    *,
    media_url: str,
    thumbnail_url: str | None,
    media_mime: str,
    dados_patch: dict[str, Any],
) -> dict[str, Any] | None:
    """Point the message at its stored media; a media error recorded earlier is cleared."""
    return db.query_one(
        """
        UPDATE mensagens
           SET media_url = :media_url,
               thumbnail_url = :thumbnail_url,
               media_mime = :media_mime,
               dados = (dados - 'media_error') || CAST(:patch AS jsonb)
         WHERE id = CAST(:mensagem_id AS uuid)
        RETURNING *
        """,
        mensagem_id=mensagem_id,
        media_url=media_url,
        thumbnail_url=thumbnail_url,
        media_mime=media_mime,
        patch=json.dumps(dados_patch),
    )


def record_media_error(mensagem_id: str, error: dict[str, Any]) -> dict[str, Any] | None:
    """Keep a permanent failure on the message (`dados.media_error`) so the inbox shows it."""
    return db.query_one(
        """
        UPDATE mensagens
           SET dados = dados || jsonb_build_object('media_error', CAST(:error AS jsonb))
         WHERE id = CAST(:mensagem_id AS uuid)
        RETURNING *
        """,
        mensagem_id=mensagem_id,
        error=json.dumps(error),
    )


def anonimizadas(mensagem_ids: list[str]) -> set[str]:
    """Those of these messages that were anonymised (LGPD): their media must not be fetched."""
    rows = db.query(
        "SELECT id FROM mensagens WHERE id = ANY(CAST(:ids AS uuid[])) AND anonimizada",
        ids=[str(i) for i in mensagem_ids],
    )
    return {str(r["id"]) for r in rows}
