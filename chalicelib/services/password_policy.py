"""Which passwords an account may have: long enough, and not one of the passwords attackers
try first.

The list of common passwords is zxcvbn's (pinned in requirements.txt; its 30,000 most common
passwords from leaked sets), read from the installed package: nothing is downloaded at run
time. A length rule (MIN_LENGTH characters that are not all blank or all one character)
covers what a list cannot.
"""

from __future__ import annotations

from functools import lru_cache

MIN_LENGTH = 10
MAX_LENGTH = 1024


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def problem(senha: str) -> str | None:
    """Why this password is refused (Portuguese, for the person choosing it), or None."""
    if len(senha) > MAX_LENGTH:
        return f"a senha pode ter no máximo {MAX_LENGTH} caracteres"
    if len(senha.strip()) < MIN_LENGTH:
        return f"a senha precisa de pelo menos {MIN_LENGTH} caracteres (sem contar espaços nas pontas)"
    if len(set(senha)) == 1:
        return "a senha não pode repetir um único caractere"
    lowered = senha.strip().lower()
    candidates = {lowered, lowered.replace(" ", "")}
    # "password123", "senha2024!": a common word with digits or symbols glued on is still common.
    candidates.add(lowered.rstrip("0123456789!@#$%&*.?-_ "))
    if candidates & _common():
        return "esta senha está entre as mais usadas (e é a primeira que um atacante tenta); escolha outra"
    return None
