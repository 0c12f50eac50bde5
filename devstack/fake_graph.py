"""A fake WhatsApp Graph API: a real HTTP server on 127.0.0.1 that answers like Meta's.

Used by the tests, the benchmarks and `make run`, so the real client code (requests,
timeouts, error parsing, streaming) runs against it. What it does:

- `GET /{version}/{media-id}`: media metadata with a URL that expires (`url_ttl` seconds)
  and needs the same bearer token; unknown ids answer Meta's 400/100 error.
- `GET /media-download/{media-id}`: the binary (streamed in chunks), 404 once the URL expired.
- `POST /{version}/{phone-number-id}/messages`: records the payload, answers a new wamid
  (addressed by `to`, a phone, or `recipient`, a BSUID, as Meta documents).
- `POST /{version}/{phone-number-id}/media`: multipart upload, answers a media id.
- `GET /{version}/{waba-id}/message_templates`: `data` + `paging` with `next` links.
- `POST /_fake/media?mime_type=..`: registers media from another process (the simulate CLI).

Faults are switched on per kind ("media_meta", "media_download", "messages", "upload",
"templates") with `fail(...)`, `delay(...)` and `expire_urls()`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

GRAPH_VERSION = "v21.0"
CHUNK = 64 * 1024

# Meta's error bodies for the codes the app handles (docs/whatsapp.md, Errors).
ERRORS: dict[int, tuple[int, str, str]] = {
    100: (400, "OAuthException", "(#100) Invalid parameter"),
    190: (401, "OAuthException", "Error validating access token: Session has expired."),
    130429: (429, "OAuthException", "(#130429) Rate limit hit"),
    131026: (400, "OAuthException", "(#131026) Message undeliverable"),
    131047: (
        400,
        "OAuthException",
        "(#131047) Re-engagement message: more than 24 hours have passed since the recipient last replied",
    ),
    131051: (400, "OAuthException", "(#131051) Unsupported message type"),
    131053: (400, "OAuthException", "(#131053) Media upload error"),
    131056: (400, "OAuthException", "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
    132000: (400, "OAuthException", "(#132000) Number of parameters does not match the expected number of params"),
    132001: (404, "OAuthException", "(#132001) Template name does not exist in the translation"),
    131000: (500, "OAuthException", "(#131000) Something went wrong"),
}


def graph_error_body(code: int, message: str | None = None, details: str | None = None) -> tuple[int, dict]:
    status, kind, default_message = ERRORS.get(code, (400, "OAuthException", f"(#{code}) Error"))
    body = {
        "error": {
            "message": message or default_message,
            "type": kind,
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or default_message},
            "fbtrace_id": "A" + secrets.token_hex(8),
        }
    }
    return status, body


@dataclass
class Fault:
    status: int
    code: int | None = None
    times: int = 1
    retry_after: float | None = None
    message: str | None = None
    raw_body: bytes | None = None  # answer this instead of a Graph error body


@dataclass
class FakeMedia:
    media_id: str
    mime_type: str
    sha256_hex: str
    file_size: int
    data: bytes | None = None
    path: str | None = None
    filename: str | None = None

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


# What the school's WhatsApp account has approved, as Meta lists templates: `make run` starts
# with these, so a closed window has something to send out of the box.
SCHOOL_TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "1000000000000001",
        "name": "lembrete_aula",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Olá, {{1}}! Lembrete da sua aula experimental de {{2}} em {{3}}. Responda SIM para confirmar.",
                "example": {"body_text": [["Joana", "violão", "12/12 às 15h"]]},
            },
            {"type": "FOOTER", "text": "Escola de Música"},
        ],
    },
    {
        "id": "1000000000000002",
        "name": "retomar_conversa",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Olá, {{1}}! Ficou alguma dúvida sobre as aulas? Estamos por aqui para ajudar.",
                "example": {"body_text": [["Joana"]]},
            }
        ],
    },
    {
        "id": "1000000000000003",
        "name": "matriculas_abertas",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": [
            {
                "type": "BODY",
                "text": "{{1}}, as matrículas para {{2}} estão abertas! Garanta sua vaga com 10% de desconto.",
                "example": {"body_text": [["Joana", "2027"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Ver horários",
                        "url": "https://escola.example/horarios/{{1}}",
                        "example": ["violao"],
                    }
                ],
            },
        ],
    },
    {
        "id": "1000000000000004",
        "name": "promocao_verao",
        "language": "pt_BR",
        "status": "REJECTED",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Promoção de verão! Aulas pela metade do preço."}],
    },
]

logger = logging.getLogger("crm.fake_whatsapp")


def sent_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """One sent message as GET /_fake/sent shows it."""
    kind = entry.get("type", "text")
    return {
        "wamid": entry["_wamid"],
        "sent_at": entry.get("_sent_at"),
        "to": entry.get("to"),
        "recipient": entry.get("recipient"),
        "type": kind,
        "body": entry.get(kind),
        "context": entry.get("context"),
    }


@dataclass
class FakeState:
    access_token: str
    phone_number_id: str
    waba_id: str
    url_ttl: float = 300.0
    media: dict[str, FakeMedia] = field(default_factory=dict)
    issued_urls: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (media id, expiry)
    sent_messages: list[dict[str, Any]] = field(default_factory=list)
    # Read receipts and typing indicators (POST /messages with "status": "read").
    read_receipts: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeGraph:
    def __init__(
        self,
        access_token: str | None = None,
        phone_number_id: str | None = None,
        waba_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.state = FakeState(
            access_token=access_token or os.environ.get("WHATSAPP_ACCESS_TOKEN", "test-access-token"),
            phone_number_id=phone_number_id or os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "100000000000001"),
            waba_id=waba_id or os.environ.get("WHATSAPP_WABA_ID", "200000000000002"),
        )
        self._server = ThreadingHTTPServer((host, port), _handler_for(self.state))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    # Lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeGraph:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What WHATSAPP_GRAPH_URL should be set to."""
        return f"{self.root_url}/{GRAPH_VERSION}"

    # Data -------------------------------------------------------------------------------
    def add_media(
        self,
        data: bytes | None = None,
        mime_type: str = "image/jpeg",
        media_id: str | None = None,
        path: str | None = None,
        filename: str | None = None,
        file_size: int | None = None,
        sha256_hex: str | None = None,
    ) -> FakeMedia:
        """Register a binary (bytes, or a file streamed from disk) and return its record.

        `file_size` / `sha256_hex` may be set to lie, as a faulty upstream would.
        """
        if (data is None) == (path is None):
            raise ValueError("give data or path")
        if data is not None:
            digest, size = hashlib.sha256(data).hexdigest(), len(data)
        else:
            hasher, size = hashlib.sha256(), 0
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    hasher.update(chunk)
                    size += len(chunk)
            digest = hasher.hexdigest()
        media = FakeMedia(
            media_id=media_id or f"{next(self._ids):015d}{secrets.randbelow(10**6):06d}",
            mime_type=mime_type,
            sha256_hex=sha256_hex or digest,
            file_size=size if file_size is None else file_size,
            data=data,
            path=path,
            filename=filename,
        )
        with self.state.lock:
            self.state.media[media.media_id] = media
        return media

    def remove_media(self, media_id: str) -> None:
        """As WhatsApp does after 7 days."""
        with self.state.lock:
            self.state.media.pop(media_id, None)

    def set_templates(self, templates: list[dict[str, Any]]) -> None:
        with self.state.lock:
            self.state.templates = list(templates)

    @property
    def sent_messages(self) -> list[dict[str, Any]]:
        return self.state.sent_messages

    @property
    def uploads(self) -> list[dict[str, Any]]:
        return self.state.uploads

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.state.requests

    # Faults -----------------------------------------------------------------------------
    def fail(
        self,
        kind: str,
        status: int | None = None,
        code: int | None = None,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        """The next `times` requests of `kind` fail: by Graph error `code` (status from
        Meta's table unless given) or by bare HTTP `status` (e.g. 500 with no body)."""
        if status is None:
            status = ERRORS.get(code, (400,))[0] if code else 500
        with self.state.lock:
            self.state.faults.setdefault(kind, []).append(Fault(status, code, times, retry_after, message, raw_body))

    def delay(self, kind: str, seconds: float) -> None:
        with self.state.lock:
            self.state.delays[kind] = seconds

    def expire_urls(self) -> None:
        """Every media URL handed out so far stops working (WhatsApp's 5-minute URLs)."""
        with self.state.lock:
            self.state.issued_urls = {token: (mid, 0.0) for token, (mid, _) in self.state.issued_urls.items()}

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.delays.clear()


def _handler_for(state: FakeState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        # Plumbing ---------------------------------------------------------------------
        def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _graph_error(self, code: int, message: str | None = None, status: int | None = None, **headers):
            default_status, body = graph_error_body(code, message)
            self._send_json(status or default_status, body, headers)

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {state.access_token}":
                return True
            self._graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            return False

        def _fault(self, kind: str) -> bool:
            """Apply a pending delay/fault of this kind; True when the request was answered."""
            delay = state.delays.get(kind)
            if delay:
                time.sleep(delay)
            with state.lock:
                queue = state.faults.get(kind) or []
                fault = queue[0] if queue else None
                if fault:
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.pop(0)
            if not fault:
                return False
            headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
            if fault.raw_body is not None or fault.code is None:
                raw = fault.raw_body if fault.raw_body is not None else b""
                self.send_response(fault.status)
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)
            else:
                self._graph_error(fault.code, fault.message, fault.status, **headers)
            return True

        def _parts(self) -> tuple[list[str], dict[str, list[str]]]:
            parsed = urlparse(self.path)
            return [p for p in parsed.path.split("/") if p], parse_qs(parsed.query)

        # Routes -----------------------------------------------------------------------
        def do_GET(self) -> None:
            parts, query = self._parts()
            with state.lock:
                state.requests.append(("GET", self.path))
            if len(parts) == 2 and parts[0] == "media-download":
                return self._download(parts[1], query)
            if parts == ["_fake", "sent"]:  # what was "sent", newest first (not part of Meta's API)
                with state.lock:
                    sent = [sent_summary(m) for m in reversed(state.sent_messages)]
                return self._send_json(200, sent)
            if not self._authorised():
                return None
            if len(parts) == 3 and parts[0] == GRAPH_VERSION and parts[2] == "message_templates":
                return self._templates(parts[1], query)
            if len(parts) == 2 and parts[0] == GRAPH_VERSION:
                return self._media_meta(parts[1])
            return self._graph_error(100, "Unknown path components")

        def do_POST(self) -> None:
            parts, query = self._parts()
            body = self._read_body()
            with state.lock:
                state.requests.append(("POST", self.path))
            if parts == ["_fake", "media"]:
                return self._register_media(body, query)
            if not self._authorised():
                return None
            if len(parts) == 3 and parts[0] == GRAPH_VERSION and parts[1] == state.phone_number_id:
                if parts[2] == "messages":
                    return self._send_message(body)
                if parts[2] == "media":
                    return self._upload(body)
            return self._graph_error(100, "Unsupported post request")

        # Media ------------------------------------------------------------------------
        def _media_meta(self, media_id: str) -> None:
            if self._fault("media_meta"):
                return
            media = state.media.get(media_id)
            if media is None:
                self._send_json(
                    400,
                    {
                        "error": {
                            "message": f"Unsupported get request. Object with ID '{media_id}' does not exist",
                            "type": "GraphMethodException",
                            "code": 100,
                            "error_subcode": 33,
                            "fbtrace_id": "A" + secrets.token_hex(8),
                        }
                    },
                )
                return
            token = secrets.token_urlsafe(16)
            with state.lock:
                state.issued_urls[token] = (media_id, time.time() + state.url_ttl)
            host, port = self.server.server_address[:2]
            url = f"http://{host}:{port}/media-download/{media_id}?" + urlencode({"token": token})
            self._send_json(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": url,
                    "mime_type": media.mime_type,
                    "sha256": media.sha256_hex,
                    "file_size": media.file_size,
                    "id": media_id,
                },
            )

        def _download(self, media_id: str, query: dict[str, list[str]]) -> None:
            if self.headers.get("Authorization") != f"Bearer {state.access_token}":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self._fault("media_download"):
                return
            token = (query.get("token") or [""])[0]
            issued = state.issued_urls.get(token)
            media = state.media.get(media_id)
            if not issued or issued[0] != media_id or issued[1] < time.time() or media is None:
                raw = b"URL signature expired"
                self.send_response(404)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                return
            size = len(media.data) if media.data is not None else os.path.getsize(media.path)
            self.send_response(200)
            self.send_header("Content-Type", media.mime_type)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                if media.data is not None:
                    view = memoryview(media.data)
                    for start in range(0, size, CHUNK):
                        self.wfile.write(view[start : start + CHUNK])
                else:
                    with open(media.path, "rb") as handle:
                        for chunk in iter(lambda: handle.read(CHUNK), b""):
                            self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (e.g. it refused an oversize file)

        def _register_media(self, body: bytes, query: dict[str, list[str]]) -> None:
            mime_type = (query.get("mime_type") or ["application/octet-stream"])[0]
            digest = hashlib.sha256(body).hexdigest()
            media_id = f"{int(time.time() * 1000)}{secrets.randbelow(10**6):06d}"
            with state.lock:
                state.media[media_id] = FakeMedia(media_id, mime_type, digest, len(body), data=body)
            self._send_json(
                200,
                {"id": media_id, "sha256": base64.b64encode(bytes.fromhex(digest)).decode(), "mime_type": mime_type},
            )

        def _upload(self, body: bytes) -> None:
            if self._fault("upload"):
                return
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("multipart/form-data"):
                return self._graph_error(100, "Upload must be multipart/form-data")
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
            fields: dict[str, Any] = {}
            file_part = None
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name == "file":
                    file_part = part
                else:
                    fields[name] = part.get_content().strip() if part.get_content_maintype() == "text" else ""
            if fields.get("messaging_product") != "whatsapp":
                return self._graph_error(100, "The parameter messaging_product is required.")
            if file_part is None:
                return self._graph_error(100, "The parameter file is required.")
            data = file_part.get_payload(decode=True) or b""
            mime_type = fields.get("type") or file_part.get_content_type()
            media = FakeMedia(
                media_id=f"{int(time.time() * 1000)}{secrets.randbelow(10**6):06d}",
                mime_type=mime_type,
                sha256_hex=hashlib.sha256(data).hexdigest(),
                file_size=len(data),
                data=data,
                filename=file_part.get_filename(),
            )
            with state.lock:
                state.media[media.media_id] = media
                state.uploads.append(
                    {"id": media.media_id, "mime_type": mime_type, "filename": media.filename, "size": len(data)}
                )
            self._send_json(200, {"id": media.media_id})

        # Messages ---------------------------------------------------------------------
        def _send_message(self, body: bytes) -> None:
            if self._fault("messages"):
                return
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return self._graph_error(100, "Invalid JSON for postbody")
            if payload.get("messaging_product") != "whatsapp":
                return self._graph_error(100, "The parameter messaging_product is required.")
            if "status" in payload:
                return self._mark_read(payload)
            to = str(payload.get("to") or "")
            kind = payload.get("type", "text")
            # `recipient`: a BSUID (or parent BSUID) instead of a phone; `to` wins when both.
            recipient = str(payload.get("recipient") or "")
            contact = {"input": to, "wa_id": to}
            if not to and re.fullmatch(r"[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}", recipient):
                to, contact = recipient, {"input": recipient, "user_id": recipient}
            elif not to.isdigit():
                return self._graph_error(100, "(#100) Invalid parameter", status=400)
            if kind not in payload:
                return self._graph_error(100, f"(#100) The parameter {kind} is required.")
            if kind == "reaction":
                reaction = payload["reaction"]
                if not isinstance(reaction, dict) or not str(reaction.get("message_id") or "").startswith("wamid."):
                    return self._graph_error(100, "(#100) Invalid parameter reaction[message_id]")
                if not isinstance(reaction.get("emoji"), str):
                    return self._graph_error(100, "(#100) The parameter reaction['emoji'] is required.")
            context = payload.get("context")
            if context is not None and (
                not isinstance(context, dict) or not str(context.get("message_id") or "").startswith("wamid.")
            ):
                return self._graph_error(100, "(#100) Invalid parameter context[message_id]")
            wamid = "wamid.HBgM" + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")
            sent_at = dt.datetime.now(dt.UTC).isoformat()
            with state.lock:
                state.sent_messages.append({**payload, "_wamid": wamid, "_sent_at": sent_at})
            summary = sent_summary({**payload, "_wamid": wamid})
            logger.info("sent %s to %s: %s", kind, to, json.dumps(summary["body"], ensure_ascii=False)[:200])
            self._send_json(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [contact],
                    "messages": [{"id": wamid, **({"message_status": "accepted"} if kind == "template" else {})}],
                },
            )

        def _mark_read(self, payload: dict[str, Any]) -> None:
            # Meta's mark-as-read (and typing indicator): {"status": "read", "message_id": wamid,
            # optional "typing_indicator": {"type": "text"}}; answers {"success": true}.
            if payload.get("status") != "read":
                return self._graph_error(100, "(#100) Param status must be one of {READ}")
            message_id = str(payload.get("message_id") or "")
            if not message_id.startswith("wamid."):
                return self._graph_error(100, "(#100) Invalid parameter message_id")
            typing = payload.get("typing_indicator")
            if typing is not None and typing != {"type": "text"}:
                return self._graph_error(100, "(#100) Param typing_indicator[type] must be one of {TEXT}")
            with state.lock:
                state.read_receipts.append({**payload, "_at": dt.datetime.now(dt.UTC).isoformat()})
            self._send_json(200, {"success": True})

        # Templates --------------------------------------------------------------------
        def _templates(self, waba_id: str, query: dict[str, list[str]]) -> None:
            if waba_id != state.waba_id:
                return self._graph_error(100, f"Unsupported get request. Object with ID '{waba_id}' does not exist")
            if self._fault("templates"):
                return None
            limit = max(1, min(int((query.get("limit") or ["25"])[0]), 1000))
            after = (query.get("after") or [None])[0]
            start = int(base64.b64decode(after).decode()) if after else 0
            with state.lock:
                templates = list(state.templates)
            page = templates[start : start + limit]
            cursor = lambda n: base64.b64encode(str(n).encode()).decode()  # noqa: E731
            paging: dict[str, Any] = {"cursors": {"before": cursor(start), "after": cursor(start + len(page))}}
            if start + limit < len(templates):
                host, port = self.server.server_address[:2]
                fields = (query.get("fields") or ["id,name,language,status,category,components"])[0]
                paging["next"] = f"http://{host}:{port}/{GRAPH_VERSION}/{waba_id}/message_templates?" + urlencode(
                    {"fields": fields, "limit": limit, "after": cursor(start + limit)}
                )
            return self._send_json(200, {"data": page, "paging": paging})

    return Handler


class FakeWhatsAppComponent:
    """Local-stack component: the fake Graph API, with WHATSAPP_GRAPH_URL pointing at it."""

    def __init__(self, stack):
        port = 0 if stack.ephemeral else int(os.environ.get("FAKE_GRAPH_PORT", "5002"))
        self.graph = FakeGraph(host=stack.host, port=port)

    def start(self) -> None:
        self.graph.set_templates(SCHOOL_TEMPLATES)
        self.graph.start()
        os.environ["WHATSAPP_GRAPH_URL"] = self.graph.base_url
        from chalicelib.whatsapp.graph import reset_graph_client

        reset_graph_client()

    def stop(self) -> None:
        self.graph.stop()

    def describe(self) -> str:
        return (
            f"fake WhatsApp     {self.graph.base_url}   (Graph API; GET {self.graph.root_url}/_fake/sent"
            " lists what was sent; POST /_fake/media registers media)"
        )
