"""WhatsApp Cloud API (Graph API) client.

One `requests.Session` per container (connection reuse across warm invocations), bearer
token on every call, explicit timeouts so a slow Graph API cannot hang a Lambda, and
Meta's error body turned into `GraphError` with what callers need to decide: retry
(`transient`), map to an HTTP answer (`code`), or wait (`retry_after`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from chalicelib.config import get_settings
from chalicelib.services.outbound import media_url_allowed

# (connect, read) seconds.
DEFAULT_TIMEOUT = (3.05, 20)
DOWNLOAD_TIMEOUT = (3.05, 20)  # per read; the media worker keeps its own deadline too

# Graph error codes that mean "try again later", whatever the HTTP status.
TRANSIENT_CODES = {1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 133004}


@dataclass(eq=False)
class GraphError(Exception):
    status: int | None  # HTTP status; None when no answer came (timeout, connection)
    message: str
    code: int | None = None
    subcode: int | None = None
    type: str | None = None
    details: str | None = None
    fbtrace_id: str | None = None
    retry_after: float | None = None
    body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"Graph API error status={self.status} code={self.code}: {self.message}"

    @property
    def transient(self) -> bool:
        if self.status is None or self.status >= 500 or self.status == 429:
            return True
        return self.code in TRANSIENT_CODES

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "subcode": self.subcode,
            "type": self.type,
            "message": self.message,
            "details": self.details,
            "fbtrace_id": self.fbtrace_id,
        }


class UnsafeMediaUrl(GraphError):
    """The media URL Graph answered is not on Meta's media hosts: nothing was requested."""


def _error_from_response(response) -> GraphError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    retry_after = response.headers.get("Retry-After")
    try:
        retry_after_s = float(retry_after) if retry_after is not None else None
    except ValueError:
        retry_after_s = None
    error_data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
    return GraphError(
        status=response.status_code,
        message=str(error.get("message") or response.reason or "Graph API error"),
        code=error.get("code"),
        subcode=error.get("error_subcode"),
        type=error.get("type"),
        details=error_data.get("details"),
        fbtrace_id=error.get("fbtrace_id"),
        retry_after=retry_after_s,
        body=body if isinstance(body, dict) else {},
    )


class GraphClient:
    def __init__(
        self,
        base_url: str,
        access_token: str,
        phone_number_id: str,
        waba_id: str,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ):
        import requests  # heavy: only code paths that talk to Meta pay for it

        self.base_url = base_url.rstrip("/")
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.timeout = timeout
        self._requests = requests
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {access_token}"

    def _request(self, method: str, url: str, timeout=None, **kwargs):
        # Never follow a redirect: the session carries the access token, and a hop could take it
        # (and the request) to any host. Graph and Meta's media hosts answer directly.
        kwargs["allow_redirects"] = False
        try:
            response = self.session.request(method, url, timeout=timeout or self.timeout, **kwargs)
        except self._requests.Timeout as exc:
            raise GraphError(status=None, message=f"Graph API timeout: {exc}") from exc
        except self._requests.RequestException as exc:
            raise GraphError(status=None, message=f"Graph API unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        if 300 <= response.status_code < 400:
            response.close()
            raise GraphError(status=response.status_code, message="redirect refused", type="redirect")
        return response

    def _json(self, method: str, url: str, **kwargs) -> dict[str, Any]:
        response = self._request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise GraphError(status=response.status_code, message="Graph API answered non-JSON") from exc

    # Media -----------------------------------------------------------------------------
    def get_media(self, media_id: str, timeout: tuple[float, float] | None = None) -> dict[str, Any]:
        """`{url, mime_type, sha256, file_size, id}`; the url lives about 5 minutes."""
        return self._json("GET", f"{self.base_url}/{media_id}", timeout=timeout)

    @contextmanager
    def open_media_stream(self, url: str) -> Iterator[Any]:
        """The binary behind a media URL as a streaming response (same bearer token). The
        URL must be one of Meta's media hosts (chalicelib.services.outbound): raises
        UnsafeMediaUrl before any byte, or the token, leaves for anywhere else."""
        if not media_url_allowed(url, self.base_url):
            raise UnsafeMediaUrl(status=None, message="media URL off Meta's media hosts", type="unsafe_url")
        response = self._request("GET", url, stream=True, timeout=DOWNLOAD_TIMEOUT)
        try:
            yield response
        finally:
            response.close()

    def upload_media(
        self, fileobj: BinaryIO, filename: str, mime_type: str, timeout: tuple[float, float] | None = None
    ) -> str:
        """POST /{phone-number-id}/media; `timeout` lets a caller with a deadline bound it."""
        body = self._json(
            "POST",
            f"{self.base_url}/{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, fileobj, mime_type)},
            timeout=timeout or DOWNLOAD_TIMEOUT,
        )
        return str(body["id"])

    # Messages --------------------------------------------------------------------------
    def send_message(self, payload: dict[str, Any], timeout: tuple[float, float] | None = None) -> dict[str, Any]:
        """POST /{phone-number-id}/messages; returns `{messages: [{id}], contacts: [...]}`."""
        body = {"messaging_product": "whatsapp", **payload}
        return self._json("POST", f"{self.base_url}/{self.phone_number_id}/messages", json=body, timeout=timeout)

    def mark_read(
        self, message_id: str, typing: bool = False, timeout: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        """Blue ticks for an inbound message; with `typing`, also "typing..." (up to 25 s)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        return self._json("POST", f"{self.base_url}/{self.phone_number_id}/messages", json=body, timeout=timeout)

    # Templates -------------------------------------------------------------------------
    def iter_template_pages(
        self, fields: str = "id,name,language,status,category,components", limit: int = 100
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of the account's templates, following `paging.next` until absent."""
        url: str | None = f"{self.base_url}/{self.waba_id}/message_templates"
        params: dict[str, Any] | None = {"fields": fields, "limit": limit}
        while url:
            body = self._json("GET", url, params=params)
            yield list(body.get("data") or [])
            url = (body.get("paging") or {}).get("next")
            params = None  # `next` is a complete URL with its own query


_client: GraphClient | None = None


def get_graph_client() -> GraphClient:
    global _client
    settings = get_settings()
    if _client is None or _client.base_url != settings.whatsapp_graph_url.rstrip("/"):
        _client = GraphClient(
            settings.whatsapp_graph_url,
            settings.whatsapp_access_token,
            settings.whatsapp_phone_number_id,
            settings.whatsapp_waba_id,
        )
    return _client


def reset_graph_client() -> None:
    global _client
    _client = None
