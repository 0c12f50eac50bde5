"""Settings from the environment: one pydantic model, read once per cold start.

A plain model over `os.environ` (each field's alias is its variable): pydantic-settings did
the same at a fifth of a webhook's cold start.

Deployed, the secrets are not in the environment: `APP_SECRET_ARN` names a Secrets Manager
secret (a JSON object whose keys are the variables in `APP_SECRET_KEYS`) read at run time and
kept `SECRET_MAX_AGE_SECONDS`, so a rotated value arrives within minutes without a redeploy and
`lambda:GetFunctionConfiguration` shows no secret. The database password works the same way
through `DATABASE_SECRET_ARN` (chalicelib.db). Local and test stages set the plain variables
and no ARN: nothing is fetched and Powertools' parameters module is never imported.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stage: str = Field("dev", alias="STAGE")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    # Secrets Manager secret {"username", "password"} of DATABASE_URL's user (deployed: the
    # stateful stack's crm-inbox/<stage>/database); wins over a password in the URL.
    database_secret_arn: str = Field("", alias="DATABASE_SECRET_ARN")
    # The app's secrets (crm-inbox/<stage>/app), read at run time; see the module docstring.
    app_secret_arn: str = Field("", alias="APP_SECRET_ARN")
    # The databases' own default is 15 s (migration 0016, ALTER DATABASE ... SET): a session
    # that runs no SET is never pinned by RDS Proxy. Set this only where a different limit is
    # wanted (a long CLI job, a benchmark): the connection then runs SET statement_timeout.
    db_statement_timeout_ms: int | None = Field(None, ge=0, alias="DB_STATEMENT_TIMEOUT_MS")
    # The client's socket timeout: above the statement timeout, so the server's limit speaks first.
    db_socket_timeout_seconds: float = Field(30.0, gt=0, alias="DB_SOCKET_TIMEOUT_SECONDS")

    whatsapp_app_secret: str = Field("", alias="WHATSAPP_APP_SECRET")
    whatsapp_verify_token: str = Field("", alias="WHATSAPP_VERIFY_TOKEN")
    whatsapp_access_token: str = Field("", alias="WHATSAPP_ACCESS_TOKEN")
    whatsapp_phone_number_id: str = Field("", alias="WHATSAPP_PHONE_NUMBER_ID")
    whatsapp_waba_id: str = Field("", alias="WHATSAPP_WABA_ID")
    whatsapp_graph_url: str = Field("https://graph.facebook.com/v21.0", alias="WHATSAPP_GRAPH_URL")

    # Hosts the media worker may download from (besides the Graph API's own origin), HTTPS
    # only: Meta serves media from lookaside.fbsbx.com. Comma-separated; ".domain" = subdomains.
    media_download_hosts: str = Field("lookaside.fbsbx.com", alias="MEDIA_DOWNLOAD_HOSTS")

    media_bucket: str = Field("", alias="MEDIA_BUCKET")
    media_queue_url: str = Field("", alias="MEDIA_QUEUE_URL")
    # The FIFO queue whose messages wake the live-events drain (chalicelib.services.outbox).
    live_events_queue_url: str = Field("", alias="LIVE_EVENTS_QUEUE_URL")
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")
    aws_region: str = Field("us-east-1", alias="AWS_DEFAULT_REGION")

    auth_secret: str = Field("", alias="AUTH_SECRET")
    # Key of the keyed hashes that replace an erased contact's ids (chalicelib.services.pseudonym);
    # AUTH_SECRET when unset.
    pseudonym_secret: str = Field("", alias="PSEUDONYM_SECRET")

    vapid_public_key: str = Field("", alias="VAPID_PUBLIC_KEY")
    vapid_private_key: str = Field("", alias="VAPID_PRIVATE_KEY")
    vapid_subject: str = Field("mailto:contato@example.com", alias="VAPID_SUBJECT")
    # Push services besides the browsers' well-known ones (chalicelib.services.outbound).
    push_extra_hosts: str = Field("", alias="PUSH_EXTRA_HOSTS")

    ws_management_url: str | None = Field(None, alias="WS_MANAGEMENT_URL")
    # Origins allowed by CORS, comma-separated (the console's); none by default.
    console_origins: str = Field("", alias="CONSOLE_ORIGINS")

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.console_origins.split(",") if o.strip())


# Keys of the app secret that become settings; anything else in the secret is ignored.
APP_SECRET_KEYS = frozenset(
    {
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_ACCESS_TOKEN",
        "AUTH_SECRET",
        "PSEUDONYM_SECRET",
        "VAPID_PRIVATE_KEY",
    }
)
# How long a secret read from Secrets Manager is trusted before it is read again: a rotation
# reaches every warm container within this time. 5 minutes is ~1 call per container per 5 min.
SECRET_MAX_AGE_SECONDS = 300

_lock = threading.Lock()
_cached: tuple[Settings, float] | None = None


def read_secret(secret_id: str, *, refresh: bool = False) -> dict[str, Any]:
    """A JSON secret from Secrets Manager, cached SECRET_MAX_AGE_SECONDS; `refresh` skips the
    cache (the database refused the cached password). Imported here, not at module level: only
    deployed stages have secret ARNs, and the import costs a cold start ~boto3's."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS, force_fetch=refresh)
    if not isinstance(value, dict):
        raise ValueError(f"secret {secret_id} is not a JSON object")
    return value


def get_settings() -> Settings:
    """The settings; rebuilt from the environment and the app secret once the secret's cached
    copy is older than SECRET_MAX_AGE_SECONDS (never, when no APP_SECRET_ARN is set)."""
    cached = _cached
    if cached is not None and time.monotonic() < cached[1]:
        return cached[0]
    with _lock:
        return _load()


def _load(*, refresh: bool = False) -> Settings:
    global _cached
    names = {field.alias for field in Settings.model_fields.values()}
    values: dict[str, Any] = {name: value for name, value in os.environ.items() if name in names}
    expires = float("inf")
    if values.get("APP_SECRET_ARN"):
        secret = read_secret(values["APP_SECRET_ARN"], refresh=refresh)
        values.update({key: str(value) for key, value in secret.items() if key in APP_SECRET_KEYS})
        expires = time.monotonic() + SECRET_MAX_AGE_SECONDS
    settings = Settings.model_validate(values)
    _cached = (settings, expires)
    return settings


def refresh_settings() -> Settings:
    """Read the app secret again now (e.g. after Meta rejected the cached access token)."""
    with _lock:
        return _load(refresh=True)


def reset_settings() -> None:
    """Tests and the local stack change the environment; forget the cached copy (and any
    secret Powertools cached, when it was ever loaded)."""
    global _cached
    with _lock:
        _cached = None
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
