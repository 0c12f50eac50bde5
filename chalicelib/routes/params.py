"""Small checks shared by the API stream's routes."""

from __future__ import annotations

import uuid

from chalicelib.http import not_found


def path_uuid(value: str, what: str) -> str:
    """A path id that is not a uuid names nothing: 404, not a database cast error."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise not_found(what) from None
