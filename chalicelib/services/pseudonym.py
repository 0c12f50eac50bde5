"""Keyed hashes for identifiers that must still match later but must not say who they are.

WhatsApp message ids encode the sender's number (Meta's documented format), and event keys
used to name it (`user_preferences:+55…`). An erased contact's ids are replaced by
`h:` + HMAC-SHA256 of the id: the same id arriving again (Meta retries a webhook for days)
hashes to the same value, so deduplication keeps working, while the stored value reveals
nothing without the key (a plain hash of a phone number is reversed by trying every number).

The key is derived from AUTH_SECRET (PSEUDONYM_SECRET overrides it, so the auth secret can
be rotated without breaking deduplication of erased ids).
"""

from __future__ import annotations

import hashlib
import hmac

from chalicelib.config import get_settings

PREFIX = "h:"


def _key() -> bytes:
    settings = get_settings()
    secret = settings.pseudonym_secret or settings.auth_secret
    if not secret:
        raise RuntimeError("PSEUDONYM_SECRET or AUTH_SECRET must be set")
    return hmac.new(secret.encode(), b"crm-inbox pseudonym v1", hashlib.sha256).digest()


def keyed(value: str) -> str:
    """`h:<hex>`; a value already keyed is returned as it is."""
    if value.startswith(PREFIX):
        return value
    return PREFIX + hmac.new(_key(), value.encode(), hashlib.sha256).hexdigest()[:48]


def is_keyed(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX)
