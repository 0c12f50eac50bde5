"""Telephone numbers as contatos.telefone stores them: E.164 with '+'.

A Brazilian mobile can reach us in two forms: 13 digits (55 DD 9 xxxx-xxxx) or, from older
accounts, 12 digits without the ninth digit (55 DD xxxx-xxxx). Both are one contact, so the
12-digit mobile form is normalised to the 13-digit one. Landlines (first digit 2-5) keep
their 12 digits.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def normalize_telefone(raw: str | int | None) -> str | None:
    """E.164 ('+5511987654321') for a wa_id or typed number; None when it cannot be one."""
    text = str(raw) if raw is not None else ""
    if not text or len(text) > 40:  # no phone number is written that long
        return None
    return _normalize(text)


@lru_cache(maxsize=4096)  # a batch repeats its senders; phonenumbers' parse is slow-ish
def _normalize(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if not digits or len(digits) > 15:
        return None
    # Brazilian mobile without the ninth digit: 55 + DD (11-99) + 8 digits starting 6-9.
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789" and digits[2] != "0":
        digits = digits[:4] + "9" + digits[4:]
    candidate = "+" + digits
    import phonenumbers

    # An unparseable number falls back to its digits.
    with contextlib.suppress(phonenumbers.NumberParseException):
        parsed = phonenumbers.parse(candidate, None)
        if phonenumbers.is_possible_number(parsed):
            candidate = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return candidate if _E164.match(candidate) else None


def brazilian_variants(telefone: str) -> list[str]:
    """Both stored forms a Brazilian mobile may have (for lookups of legacy rows)."""
    digits = telefone.lstrip("+")
    if len(digits) == 13 and digits.startswith("55") and digits[4] == "9":
        return [telefone, "+" + digits[:4] + digits[5:]]
    return [telefone]
