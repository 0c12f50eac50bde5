"""Builders of realistic, signed WhatsApp webhook payloads (docs/whatsapp.md), for the tests, the
`simulate` command and the benchmarks.

Messages are plain dicts shaped like Meta's; `envelope(...)` wraps values into entries and
changes; `encode` serialises the way Meta does (non-ASCII escaped as \\u00e9) and
`signed(...)` returns the exact bytes and headers to POST.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import time
from typing import Any

from chalicelib.whatsapp.signature import sign

DEFAULT_PHONE_NUMBER_ID = "100000000000001"
DEFAULT_DISPLAY_NUMBER = "5511940000000"
DEFAULT_WABA_ID = "200000000000002"

_counter = itertools.count(1)


def new_wamid() -> str:
    """A wamid-looking id, unique per call."""
    raw = f"{time.time_ns()}{next(_counter)}{secrets.token_hex(6)}".encode()
    return "wamid.HBgN" + base64.b64encode(raw).decode().rstrip("=")


def new_media_id() -> str:
    return f"{int(time.time() * 1000)}{secrets.randbelow(10**6):06d}"


def now_ts() -> str:
    return str(int(time.time()))


def _phone_number_id() -> str:
    return os.environ.get("WHATSAPP_PHONE_NUMBER_ID") or DEFAULT_PHONE_NUMBER_ID


def _waba_id() -> str:
    return os.environ.get("WHATSAPP_WABA_ID") or DEFAULT_WABA_ID


# Messages ------------------------------------------------------------------------------------
def message(
    wa_id: str | None,
    type_: str,
    body: dict[str, Any] | list[Any] | None = None,
    *,
    wamid: str | None = None,
    timestamp: str | int | None = None,
    context: dict[str, Any] | None = None,
    referral: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One message; wa_id None omits `from` (a username user whose number Meta does not
    share: pass from_user_id=<BSUID>, see `from_user`)."""
    msg: dict[str, Any] = {
        "from": wa_id,
        "id": wamid or new_wamid(),
        "timestamp": str(timestamp if timestamp is not None else now_ts()),
        "type": type_,
    }
    if wa_id is None:
        del msg["from"]
    if body is not None:
        msg[type_] = body
    if context is not None:
        msg["context"] = context
    if referral is not None:
        msg["referral"] = referral
    msg.update(extra)
    return msg


def text(wa_id: str, body: str, **kw: Any) -> dict[str, Any]:
    return message(wa_id, "text", {"body": body}, **kw)


def _media(kind: str, wa_id: str, mime_type: str, media_id: str | None, sha256: str | None, **fields: Any):
    kw = {k: fields.pop(k) for k in ("wamid", "timestamp", "context", "referral") if k in fields}
    body = {
        "mime_type": mime_type,
        "sha256": sha256 or base64.b64encode(secrets.token_bytes(32)).decode(),
        "id": media_id or new_media_id(),
    }
    body.update({k: v for k, v in fields.items() if v is not None})
    return message(wa_id, kind, body, **kw)


def image(
    wa_id: str,
    caption: str | None = None,
    mime_type: str = "image/jpeg",
    media_id: str | None = None,
    sha256: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return _media("image", wa_id, mime_type, media_id, sha256, caption=caption, **kw)


def video(
    wa_id: str,
    caption: str | None = None,
    mime_type: str = "video/mp4",
    media_id: str | None = None,
    sha256: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return _media("video", wa_id, mime_type, media_id, sha256, caption=caption, **kw)


def audio(
    wa_id: str,
    voice: bool = True,
    mime_type: str = "audio/ogg; codecs=opus",
    media_id: str | None = None,
    sha256: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return _media("audio", wa_id, mime_type, media_id, sha256, voice=voice, **kw)


def document(
    wa_id: str,
    filename: str = "matricula.pdf",
    caption: str | None = None,
    mime_type: str = "application/pdf",
    media_id: str | None = None,
    sha256: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return _media("document", wa_id, mime_type, media_id, sha256, filename=filename, caption=caption, **kw)


def sticker(
    wa_id: str, animated: bool = False, media_id: str | None = None, sha256: str | None = None, **kw: Any
) -> dict[str, Any]:
    return _media("sticker", wa_id, "image/webp", media_id, sha256, animated=animated, **kw)


def location(
    wa_id: str,
    latitude: float = -23.561414,
    longitude: float = -46.655881,
    name: str | None = "Escola de Música",
    address: str | None = "Av. Paulista, 1000",
    **kw: Any,
) -> dict[str, Any]:
    body = {"latitude": latitude, "longitude": longitude}
    if name:
        body["name"] = name
    if address:
        body["address"] = address
    return message(wa_id, "location", body, **kw)


def contacts(wa_id: str, name: str = "Maria Souza", phone: str = "+55 11 98888-7777", **kw: Any) -> dict[str, Any]:
    digits = "".join(c for c in phone if c.isdigit())
    card = {
        "name": {"formatted_name": name, "first_name": name.split()[0]},
        "phones": [{"phone": phone, "wa_id": digits, "type": "CELL"}],
    }
    return message(wa_id, "contacts", [card], **kw)


def button_reply(wa_id: str, reply_id: str = "agendar_aula", title: str = "Agendar aula", **kw: Any):
    return message(
        wa_id, "interactive", {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}, **kw
    )


def list_reply(
    wa_id: str, reply_id: str = "violao", title: str = "Violão", description: str = "Aulas de violão", **kw: Any
) -> dict[str, Any]:
    body = {"type": "list_reply", "list_reply": {"id": reply_id, "title": title, "description": description}}
    return message(wa_id, "interactive", body, **kw)


def nfm_reply(wa_id: str, response_json: str = '{"instrumento": "piano"}', **kw: Any) -> dict[str, Any]:
    body = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": response_json}}
    return message(wa_id, "interactive", body, **kw)


def button(wa_id: str, text_: str = "Quero saber mais", payload: str = "SABER_MAIS", **kw: Any) -> dict[str, Any]:
    return message(wa_id, "button", {"payload": payload, "text": text_}, **kw)


def reaction(wa_id: str, target_wamid: str, emoji: str | None = "👍", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message_id": target_wamid}
    if emoji is not None:
        body["emoji"] = emoji
    return message(wa_id, "reaction", body, **kw)


def system(wa_id: str, new_wa_id: str = "5511977776666", **kw: Any) -> dict[str, Any]:
    body = {"body": f"User {wa_id} changed to {new_wa_id}", "wa_id": new_wa_id, "type": "user_changed_number"}
    return message(wa_id, "system", body, **kw)


def unsupported(wa_id: str, **kw: Any) -> dict[str, Any]:
    errors = [
        {
            "code": 131051,
            "title": "Message type unknown",
            "message": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."},
        }
    ]
    return message(wa_id, "unsupported", None, errors=errors, **kw)


def order(wa_id: str, **kw: Any) -> dict[str, Any]:
    body = {
        "catalog_id": "123",
        "product_items": [{"product_retailer_id": "aula-1", "quantity": "1", "item_price": "150", "currency": "BRL"}],
        "text": "Pedido",
    }
    return message(wa_id, "order", body, **kw)


# Usernames and business-scoped user ids (docs/identity.md) ---------------------------------
def new_bsuid(country: str = "BR") -> str:
    """A BSUID-looking id: ISO country code, a dot, digits."""
    return f"{country}.{secrets.randbelow(10**16):016d}{next(_counter)}"


def user_contact(
    user_id: str,
    *,
    wa_id: str | None = None,
    name: str | None = None,
    username: str | None = None,
    parent_user_id: str | None = None,
) -> dict[str, Any]:
    """A `contacts[]` item as Meta sends it since April 2026: user_id always, wa_id only when
    the number is shared, profile.username for users who adopted one."""
    contact: dict[str, Any] = {"profile": {}, "user_id": user_id}
    if name:
        contact["profile"]["name"] = name
    if username:
        contact["profile"]["username"] = username
    if wa_id:
        contact["wa_id"] = wa_id
    if parent_user_id:
        contact["parent_user_id"] = parent_user_id
    return contact


def from_user(msg: dict[str, Any], user_id: str, parent_user_id: str | None = None) -> dict[str, Any]:
    """The message with the sender's BSUID (`from_user_id`); `from` stays only if it was set."""
    msg["from_user_id"] = user_id
    if parent_user_id:
        msg["from_parent_user_id"] = parent_user_id
    return msg


def username_value(
    messages: list[dict[str, Any]],
    user_id: str,
    *,
    username: str | None = "aluno.violao",
    name: str | None = None,
    wa_id: str | None = None,
    parent_user_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `messages` value from one username user: each message gets from_user_id (and `from`
    only when wa_id is given), contacts[] names the user."""
    for m in messages:
        from_user(m, user_id, parent_user_id)
        if wa_id is None:
            m.pop("from", None)
        else:
            m["from"] = wa_id
    contact = user_contact(user_id, wa_id=wa_id, name=name, username=username, parent_user_id=parent_user_id)
    return value(messages, contacts=[contact], **extra)


def system_user_id_change(user_id: str, new_user_id: str, wa_id: str | None = None, **kw: Any) -> dict[str, Any]:
    """System message `user_changed_user_id`: the user's BSUID changed (no phone number)."""
    body = {"body": "User changed their user id", "type": "user_changed_user_id", "user_id": new_user_id}
    return from_user(message(wa_id, "system", body, **kw), user_id)


def edit(wa_id: str | None, original_wamid: str, new_text: str, **kw: Any) -> dict[str, Any]:
    """`type: edit` (Coexistence): the customer edited an earlier message to `new_text`."""
    body = {"original_message_id": original_wamid, "message": {"type": "text", "text": {"body": new_text}}}
    return message(wa_id, "edit", body, **kw)


def revoke(wa_id: str | None, original_wamid: str, **kw: Any) -> dict[str, Any]:
    """`type: revoke` (Coexistence): the customer deleted an earlier message for everyone."""
    return message(wa_id, "revoke", {"original_message_id": original_wamid}, **kw)


def echo(to: str | None, body: str, *, to_user_id: str | None = None, **kw: Any) -> dict[str, Any]:
    """A `message_echoes` item: our staff wrote `body` to `to` from the WhatsApp Business app."""
    msg = message(DEFAULT_DISPLAY_NUMBER, "text", {"body": body}, **kw)
    if to is not None:
        msg["to"] = to
    if to_user_id is not None:
        msg["to_user_id"] = to_user_id
    return msg


def echoes(*items: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An `smb_message_echoes` change (pass it to `envelope`)."""
    return ("smb_message_echoes", value(message_echoes=list(items)))


def referral(source_id: str = "120200000000000001", headline: str = "Aulas de violão") -> dict[str, Any]:
    return {
        "source_url": "https://fb.me/abc123",
        "source_id": source_id,
        "source_type": "ad",
        "headline": headline,
        "body": "Primeira aula grátis",
        "media_type": "image",
        "image_url": "https://example.com/ad.jpg",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ",
    }


# Statuses and other fields ---------------------------------------------------------------------
def status(
    wamid: str,
    status_: str,
    recipient_id: str = "5511987654321",
    *,
    timestamp: str | int | None = None,
    category: str | None = "service",
    errors: list[dict[str, Any]] | None = None,
    recipient_user_id: str | None = None,
) -> dict[str, Any]:
    """recipient_id None omits it (a message sent to a BSUID whose phone Meta does not share)."""
    st: dict[str, Any] = {
        "id": wamid,
        "status": status_,
        "timestamp": str(timestamp if timestamp is not None else now_ts()),
        "recipient_id": recipient_id,
    }
    if recipient_id is None:
        del st["recipient_id"]
    if recipient_user_id is not None:
        st["recipient_user_id"] = recipient_user_id
    if category and status_ in ("sent", "delivered", "read"):
        st["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": category}}
        st["pricing"] = {
            "billable": category != "service",
            "pricing_model": "PMP",
            "type": "regular",
            "category": category,
        }
    if errors is not None:
        st["errors"] = errors
    return st


def failed_error(code: int = 131026) -> list[dict[str, Any]]:
    return [
        {
            "code": code,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message could not be delivered"},
        }
    ]


def value(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    profiles: dict[str, str] | None = None,
    phone_number_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `messages` change value; `profiles` maps wa_id → profile name (the `contacts` array)."""
    val: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DEFAULT_DISPLAY_NUMBER,
            "phone_number_id": phone_number_id or _phone_number_id(),
        },
    }
    if profiles is None and messages:
        profiles = {
            m["from"]: "Cliente " + m["from"][-4:]
            for m in messages
            if isinstance(m, dict) and isinstance(m.get("from"), str)
        }
    if profiles:
        val["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id} for wa_id, name in profiles.items()]
    if messages:
        val["messages"] = messages
    if statuses:
        val["statuses"] = statuses
    val.update(extra)
    return val


def template_status_update(
    name: str,
    language: str = "pt_BR",
    event: str = "APPROVED",
    template_id: str = "900000000000001",
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "event": event,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
    }


def template_quality_update(
    name: str,
    language: str = "pt_BR",
    previous: str = "GREEN",
    new: str = "YELLOW",
    template_id: int = 900000000000001,
) -> dict[str, Any]:
    """`message_template_quality_update` value (Meta sends the template id as a number)."""
    return {
        "previous_quality_score": previous,
        "new_quality_score": new,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
    }


def template_category_update(
    name: str,
    language: str = "pt_BR",
    previous: str = "UTILITY",
    new: str = "MARKETING",
    template_id: int = 900000000000001,
) -> dict[str, Any]:
    """`template_category_update` value: Meta re-categorised an approved template."""
    return {
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
        "previous_category": previous,
        "new_category": new,
    }


def user_preferences(
    wa_id: str | None,
    value_: str = "stop",
    timestamp: str | int | None = None,
    *,
    user_id: str | None = None,
    category: str = "marketing_messages",
) -> dict[str, Any]:
    """wa_id None omits it (an item that names the user by BSUID only)."""
    item: dict[str, Any] = {
        "wa_id": wa_id,
        "detail": "User requested to stop marketing messages",
        "category": category,
        "value": value_,
        "timestamp": str(timestamp if timestamp is not None else now_ts()),
    }
    if wa_id is None:
        del item["wa_id"]
    if user_id is not None:
        item["user_id"] = user_id
    return value(user_preferences=[item])


def envelope(
    *changes: dict[str, Any] | tuple[str, dict[str, Any]],
    waba_id: str | None = None,
    entries: list[list[Any]] | None = None,
) -> dict[str, Any]:
    """A payload. Each change is a value (field 'messages') or a (field, value) pair; `entries`
    gives several entries, each a list of such changes."""

    def _change(item: dict[str, Any] | tuple[str, dict[str, Any]]) -> dict[str, Any]:
        field, val = item if isinstance(item, tuple) else ("messages", item)
        return {"field": field, "value": val}

    groups = entries if entries is not None else [list(changes)]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id or _waba_id(), "changes": [_change(c) for c in group]} for group in groups],
    }


# Wire format ---------------------------------------------------------------------------------
def encode(payload: Any) -> bytes:
    """Meta's bytes: compact JSON with non-ASCII escaped."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def app_secret() -> str:
    return os.environ.get("WHATSAPP_APP_SECRET", "")


def signed(payload: Any | bytes, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) to POST: JSON content type and X-Hub-Signature-256 over the bytes."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, app_secret() if secret is None else secret),
        "User-Agent": "facebookexternalua",
    }
    return body, headers
