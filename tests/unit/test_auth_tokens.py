"""Session tokens: what verify_token accepts and refuses (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from chalicelib.services.auth import InvalidToken, issue_token, verify_token

ADMIN_ID = "11111111-1111-1111-1111-111111111111"


@pytest.fixture(autouse=True)
def no_such_account(monkeypatch):
    """issue_token reads the account's token_version from the database (1 for an unknown id):
    here no id belongs to an account, without a database."""
    from chalicelib.repositories import administradores

    monkeypatch.setattr(administradores, "session", lambda admin_id: None)


def test_issued_token_verifies_and_lasts_twelve_hours():
    now = datetime.now(UTC)
    token, expires_at = issue_token("11111111-1111-1111-1111-111111111111", now=now)
    claims = verify_token(token)
    assert claims["sub"] == "11111111-1111-1111-1111-111111111111"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert abs((expires_at - now).total_seconds() - 12 * 3600) < 1


def test_bearer_prefix_is_accepted():
    token, _ = issue_token(ADMIN_ID)
    assert verify_token(f"Bearer {token}")["sub"] == ADMIN_ID


def test_expired_token_is_refused():
    token, _ = issue_token(ADMIN_ID, now=datetime.now(UTC) - timedelta(hours=12, seconds=5))
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
        # Well signed, but its sub is no admin id (every route casts it to uuid).
        jwt.encode(
            {"sub": "abc", "iat": 0, "exp": 4_000_000_000},
            "test-auth-secret-0123456789abcdef0123456789abcdef",
            algorithm="HS256",
        ),
    ],
    ids=["none", "empty", "bearer-only", "garbage", "wrong-secret", "alg-none", "no-sub", "sub-not-uuid"],
)
def test_bad_tokens_are_refused(token):
    with pytest.raises(InvalidToken):
        verify_token(token)


@pytest.fixture
def auth_secret(monkeypatch):
    """Set AUTH_SECRET for one test (the settings are cached: forget them before and after)."""
    from chalicelib.config import reset_settings

    def use(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("AUTH_SECRET", raising=False)
        else:
            monkeypatch.setenv("AUTH_SECRET", value)
        reset_settings()

    yield use
    monkeypatch.undo()
    reset_settings()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # we forge with it on purpose
@pytest.mark.parametrize("secret", [None, "", "short-secret", "x" * 31], ids=["unset", "empty", "short", "31-bytes"])
def test_unset_or_short_secret_neither_issues_nor_verifies(auth_secret, secret):
    from chalicelib.services.auth import AuthNotConfigured

    good_token, _ = issue_token("abc")  # signed under the test suite's proper secret
    auth_secret(secret)
    with pytest.raises(AuthNotConfigured):
        issue_token("abc")
    with pytest.raises(AuthNotConfigured):
        verify_token(good_token)
    if secret:  # nor does a token forged with that weak key pass as valid
        forged = jwt.encode({"sub": "abc", "iat": 0, "exp": 4_000_000_000}, secret, algorithm="HS256")
        with pytest.raises(AuthNotConfigured):
            verify_token(forged)


def test_a_32_byte_secret_is_enough(auth_secret):
    auth_secret("k" * 32)
    token, _ = issue_token(ADMIN_ID)
    assert verify_token(token)["sub"] == ADMIN_ID
    assert jwt.decode(token, "k" * 32, algorithms=["HS256"])["sub"] == ADMIN_ID
