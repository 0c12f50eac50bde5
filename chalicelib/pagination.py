"""Opaque keyset cursors: base64url of the last row's sort key, as JSON.

A cursor is not a secret (the values are the client's own data); tampering with it can only
move the page, and a malformed one is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from typing import Any

from chalicelib.http import ApiError, jsonable


def encode(*values: Any) -> str:
    raw = json.dumps(jsonable(list(values)), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor()
    if not all(v is None or isinstance(v, int) or (isinstance(v, str) and "\x00" not in v) for v in values):
        raise invalid_cursor()
    return values


def invalid_cursor() -> ApiError:
    return ApiError(422, "ValidationError", "Cursor de paginação inválido.", field="cursor")


def page(rows: list[dict[str, Any]], limit: int, key) -> dict[str, Any]:
    """`rows` fetched with LIMIT limit+1: the extra row only says whether there is more."""
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next_cursor": encode(*key(items[-1])) if more and items else None}


def decode_time_id(cursor: str | None) -> tuple[str, str] | tuple[None, None]:
    """A (timestamp, uuid) cursor, both checked so SQL never sees a value it cannot cast."""
    values = decode(cursor, 2)
    if values is None:
        return None, None
    ts, row_id = values
    try:
        parsed = dt.datetime.fromisoformat(str(ts))
        uuid.UUID(str(row_id))
    except ValueError as exc:
        raise invalid_cursor() from exc
    if parsed.tzinfo is None:
        raise invalid_cursor()
    return parsed.isoformat(), str(row_id)


def decode_time_seq(cursor: str | None) -> tuple[str, int] | tuple[None, None]:
    """A (timestamp, seq) cursor (message pages: mensagens.seq breaks same-second ties)."""
    values = decode(cursor, 2)
    if values is None:
        return None, None
    ts, seq = values
    try:
        parsed = dt.datetime.fromisoformat(str(ts))
    except ValueError as exc:
        raise invalid_cursor() from exc
    # bool is an int to Python; a bigint beyond 2**63 would fail the CAST in SQL.
    if parsed.tzinfo is None or isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        raise invalid_cursor()
    return parsed.isoformat(), seq


def decode_text_id(cursor: str | None) -> tuple[str, str] | tuple[None, None]:
    """A (name, uuid) cursor: a name that is not a string was never ours."""
    values = decode(cursor, 2)
    if values is None:
        return None, None
    text, row_id = values
    if not isinstance(text, str):
        raise invalid_cursor()
    try:
        uuid.UUID(str(row_id))
    except ValueError as exc:
        raise invalid_cursor() from exc
    return text, str(row_id)
