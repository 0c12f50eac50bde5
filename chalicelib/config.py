"""Settings from the environment: one pydantic model, read once per cold start.

A plain model over `os.environ` (each field's alias is its variable): pydantic-settings did
the same at a fifth of a webhook's cold start.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stage: str = Field("dev", alias="STAGE")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    db_statement_timeout_ms: int = Field(15_000, alias="DB_STATEMENT_TIMEOUT_MS")
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    names = {field.alias for field in Settings.model_fields.values()}
    return Settings.model_validate({name: value for name, value in os.environ.items() if name in names})


def reset_settings() -> None:
    """Tests and the local stack change the environment; forget the cached copy."""
    get_settings.cache_clear()
