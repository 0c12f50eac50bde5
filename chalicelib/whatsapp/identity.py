"""WhatsApp's user identifiers besides the phone number (docs/identity.md).

A business-scoped user id (BSUID) is an ISO 3166 alpha-2 country code, a dot and up to 128
alphanumerics ('BR.1502576394655843'); the parent form shared across linked portfolios has
'ENT' in the middle ('US.ENT.11815799212886844830'). Meta says to store and send them back
exactly as received, so nothing is normalised: what does not look like one is refused.
"""

from __future__ import annotations

import re

_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")
_PARENT_BSUID = re.compile(r"^[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,128}$")
MAX_USERNAME = 100


def normalize_bsuid(raw: str | None) -> str | None:
    """The BSUID as sent, or None when the value cannot be one (a parent BSUID is not one)."""
    text = (raw or "").strip()
    return text if _BSUID.match(text) else None


def normalize_parent_bsuid(raw: str | None) -> str | None:
    text = (raw or "").strip()
    return text if _PARENT_BSUID.match(text) else None


def normalize_username(raw: str | None) -> str | None:
    text = (raw or "").strip()
    return text[:MAX_USERNAME] or None
