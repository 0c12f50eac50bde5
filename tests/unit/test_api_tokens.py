"""Session tokens: what verify_token accepts and refuses (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from chalicelib.services.auth import InvalidToken, issue_token, verify_token


def test_issued_token_verifies_and_lasts_twelve_hours():
    now = datetime.now(UTC)
    token, expires_at = issue_token("11111111-1111-1111-1111-111111111111", now=now)
    claims = verify_token(token)
    assert claims["sub"] == "11111111-1111-1111-1111-111111111111"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert abs((expires_at - now).total_seconds() - 12 * 3600) < 1


def test_bearer_prefix_is_accepted():
    token, _ = issue_token("abc")
    assert verify_token(f"Bearer {token}")["sub"] == "abc"


def test_expired_token_is_refused():
    token, _ = issue_token("abc", now=datetime.now(UTC) - timedelta(hours=12, seconds=5))
    with pytest.raises(InvalidToken):
        verify_token(token)


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "Bearer ",
        "not-a-jwt",
        jwt.encode(
            {"sub": "abc", "iat": 0, "exp": 4_000_000_000},
            "another-secret-0123456789abcdef-0123456789",
            algorithm="HS256",
        ),
        jwt.encode({"sub": "abc", "iat": 0, "exp": 4_000_000_000}, None, algorithm="none"),
        jwt.encode(
            {"iat": 0, "exp": 4_000_000_000}, "test-auth-secret-0123456789abcdef0123456789abcdef", algorithm="HS256"
        ),
    ],
    ids=["none", "empty", "bearer-only", "garbage", "wrong-secret", "alg-none", "no-sub"],
)
def test_bad_tokens_are_refused(token):
    with pytest.raises(InvalidToken):
        verify_token(token)
