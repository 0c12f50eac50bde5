"""X-Hub-Signature-256: HMAC-SHA256 of the raw request body with the app secret.

Meta signs the bytes it sent (non-ASCII escaped as \\u00e9), so the check runs over the raw
bytes, never over re-serialised JSON, and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value Meta would send for this body."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header: str | None, secret: str) -> bool:
    if not header or not secret:
        return False
    expected = sign(body, secret)
    # compare_digest wants ASCII str or bytes; a header with other characters is just wrong.
    given = header.strip().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode(), given)
