"""The pure half of the inbound webhook: a parsed, signature-checked body → rows, no I/O.

`parse_payload` maps every entry, change, message and status of a payload to the rows the
storage writes (chalicelib.services.inbound.storage), so the mapping rules are unit-tested
without a database (tests/unit/test_webhook_parsing.py). What no message, status or template
row can hold (account-level changes, value errors, items of an odd shape) becomes an `eventos`
row, so nothing Meta sends is lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from chalicelib.config import get_settings
from chalicelib.observability import logger
from chalicelib.services.pseudonym import keyed
from chalicelib.whatsapp.identity import normalize_bsuid, normalize_parent_bsuid, normalize_username
from chalicelib.whatsapp.models import (
    Change,
    Entry,
    Envelope,
    InboundMessage,
    MessageHead,
    Pricing,
    Status,
    StatusHead,
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UserPreference,
    Value,
    WaContact,
    parse_or_none,
)
from chalicelib.whatsapp.phones import normalize_telefone

WHATSAPP_OBJECT = "whatsapp_business_account"
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
OPT_OUT_WORDS = frozenset({"SAIR", "PARAR", "STOP", "CANCELAR"})
STATUS_MAP = {
    "sent": "enviada",
    "delivered": "entregue",
    "read": "lida",
    "played": "reproduzida",
    "failed": "falhou",
}
# pricing.category → billing_category; the two variants Meta bills as their family.
BILLING_MAP = {
    "service": "service",
    "utility": "utility",
    "marketing": "marketing",
    "marketing_lite": "marketing",
    "authentication": "authentication",
    "authentication-international": "authentication",
    "authentication_international": "authentication",
}
TEMPLATE_STATUS = {
    "approved",
    "pending",
    "rejected",
    "paused",
    "disabled",
    "in_appeal",
    "pending_deletion",
    "deleted",
    "archived",
    "limit_exceeded",
}
TEMPLATE_EVENT_ALIASES = {"reinstated": "approved", "unpaused": "approved"}
# template_category_update's MARKETING / UTILITY / AUTHENTICATION, lower-cased, are our enum.
TEMPLATE_CATEGORIES = {"marketing", "utility", "authentication"}
# Changes of these fields are not messages: they are kept whole in an eventos row (no
# contact), so nothing Meta reports is lost even where no column changes.
FIELD_EVENTO_TIPOS = {
    "message_template_status_update": "template_status",
    "message_template_quality_update": "template_qualidade",
    "template_category_update": "template_categoria",
    "account_update": "whatsapp_conta",
}
UNKNOWN_FIELD_TIPO = "whatsapp_webhook"
# Keys of a `messages` value that are read; anything else in it is kept in an eventos row.
KNOWN_VALUE_KEYS = frozenset(
    {
        "messaging_product",
        "metadata",
        "contacts",
        "messages",
        "statuses",
        "errors",
        "user_preferences",
        "message_echoes",
    }
)
# Fields whose value is read like a `messages` value (smb_message_echoes: `message_echoes`).
MESSAGE_FIELDS = ("messages", "user_preferences", "smb_message_echoes")
# Message types that change an earlier message instead of being one (mensagens_alteracoes).
CHANGE_KINDS = ("edit", "revoke")
# What of a message of an odd shape is kept to store it as nao_suportado (its head, no body).
HEAD_FIELDS = frozenset(MessageHead.model_fields) - {"type"}
# Echoes of messages our staff sent from the WhatsApp Business app on our number.
ECHO_ORIGEM = "whatsapp_business_app"

# Column limits of 0001/0002: longer garbage is cut rather than failing the payload.
MAX_WHATSAPP_ID = 255
MAX_NOME = 200
MAX_WA_ID = 32
MAX_CAMPANHA = 100
MAX_MIME = 255
MAX_STATUS_WORD = 50
MIN_TS, MAX_TS = 946_684_800, 4_102_444_800  # 2000-01-01 .. 2100-01-01


# Payload hygiene -----------------------------------------------------------------------------
class PayloadRejected(ValueError):
    """A body no WhatsApp payload can be (answered 400)."""


MAX_DEPTH = 64  # Meta's payloads nest about 8 deep


def sanitize(value: Any, _depth: int = 0) -> Any:
    """What PostgreSQL accepts: no NUL characters (text and jsonb refuse them), no lone
    surrogates, no NaN/Infinity. Applied to the whole payload, so raw copies in `dados` are
    storable too. Absurd nesting is refused rather than recursed into."""
    if _depth > MAX_DEPTH:
        raise PayloadRejected(f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {sanitize(k): sanitize(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v, _depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


def parse_timestamp(value: str | None) -> dt.datetime:
    """Meta's unix seconds (a string); an absent or absurd one is 'now'."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
        if math.isfinite(seconds) and MIN_TS <= seconds <= MAX_TS:
            return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)
    except (TypeError, ValueError):
        pass
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def is_opt_out(text: str | None) -> bool:
    """Only the word (any case, accents, surrounding punctuation/spaces): SAIR, PARAR, STOP, CANCELAR."""
    if not text:
        return False
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    word = re.sub(r"[\W_]+", " ", plain).strip().upper()
    return word in OPT_OUT_WORDS


def evento(tipo: str, dados: dict[str, Any], contato_id: str | None = None) -> dict[str, Any]:
    """An eventos row keyed by its content: a redelivered payload writes it once. The key is
    a keyed hash (a plain one of a payload that holds little more than a number could be
    reversed by trying numbers)."""
    digest = hashlib.sha256(json.dumps(dados, sort_keys=True, default=str).encode()).hexdigest()
    return {"contato_id": contato_id, "tipo": tipo, "dados": dados, "chave": keyed(f"{tipo}:{digest}")}


# Parsed payload ------------------------------------------------------------------------------
@dataclass
class InboundRow:
    whatsapp_id: str
    telefone: str | None  # None: a username user whose number Meta does not share
    wa_id: str
    created_at: dt.datetime
    tipo: str
    conteudo: str = ""
    media_type: str | None = None
    media_mime: str | None = None
    dados: dict[str, Any] = field(default_factory=dict)
    abre_janela: bool = True
    opt_out: bool = False
    referral: dict[str, Any] | None = None
    campanha: str | None = None
    media_job: dict[str, Any] | None = None  # MediaJob fields but mensagem_id
    numero_novo: dict[str, str] | None = None  # system user_changed_number: {telefone, wa_id}
    bsuid: str | None = None  # the customer's business-scoped user id
    bsuid_pai: str | None = None
    bsuid_novo: str | None = None  # system user_changed_user_id / user_changed_number: the new BSUID
    direcao: str = "entrada"  # 'saida': an echo of a message sent from the WhatsApp Business app

    @property
    def chave_contato(self) -> str:
        """Which contact the row belongs to: its BSUID when it has one, else its phone."""
        return self.bsuid or self.telefone  # type: ignore[return-value]  # one of them is set


@dataclass
class ParsedPayload:
    messages: list[InboundRow] = field(default_factory=list)
    profile_names: dict[str, str] = field(default_factory=dict)  # telefone → profile name
    # BSUID → what `contacts[]` says of that user: {telefone, wa_id, bsuid_pai, username, nome_perfil}.
    perfis: dict[str, dict[str, Any]] = field(default_factory=dict)
    alteracoes: list[dict[str, Any]] = field(default_factory=list)  # edits and revokes
    statuses: list[dict[str, Any]] = field(default_factory=list)
    user_preferences: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    # eventos rows without a contact: value-level errors, template quality/category updates,
    # unknown fields, items that could not be stored as messages or statuses.
    eventos: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why parts were skipped (logged)


def map_message(msg: InboundMessage, raw: dict[str, Any]) -> dict[str, Any]:
    """One WhatsApp message → our row: tipo (texto, media, interativo, nao_suportado, ...), conteudo, the media
    fields and dados (Meta's raw message always kept there, whatever the type)."""
    kind = (msg.type or "").strip()
    if not kind and msg.location is not None:  # Meta sends some locations without `type`
        kind = "location"
    dados: dict[str, Any] = {"whatsapp_type": kind or None, "raw": raw}
    out: dict[str, Any] = {"tipo": "nao_suportado", "conteudo": "", "media_type": None, "media_mime": None}
    if msg.context is not None:
        dados["context"] = msg.context.model_dump(by_alias=True, exclude_none=True)
    if msg.referral is not None:
        dados["referral"] = msg.referral.model_dump(exclude_none=True)
    if msg.errors:
        dados["errors"] = [e.model_dump(exclude_none=True) for e in msg.errors]

    if kind == "text" and msg.text is not None:
        out.update(tipo="texto", conteudo=msg.text.body or "")
    elif kind in MEDIA_KINDS and getattr(msg, kind) is not None:
        body = getattr(msg, kind)
        media_type = "image" if kind == "sticker" else kind
        mime = body.mime_type or ("image/webp" if kind == "sticker" else None)
        out.update(tipo="media", media_type=media_type, media_mime=_cut(mime, MAX_MIME), conteudo=body.caption or "")
        dados["media"] = {
            k: v
            for k, v in {
                "id": body.id,
                "sha256": body.sha256,
                "filename": body.filename,
                "voice": body.voice,
                "animated": body.animated,
                "sticker": kind == "sticker" or None,
            }.items()
            if v is not None
        }
        if body.filename:
            dados["filename"] = body.filename
    elif kind == "location" and msg.location is not None:
        loc = msg.location
        out.update(
            tipo="media", media_type="location", conteudo=" - ".join(p for p in (loc.name, loc.address) if p) or ""
        )
        dados["location"] = loc.model_dump(exclude_none=True)
    elif kind == "interactive" and msg.interactive is not None:
        inter = msg.interactive
        reply = inter.button_reply or inter.list_reply
        dados["interactive_type"] = inter.type
        if reply is not None:
            out.update(tipo="interativo", conteudo=reply.title or "")
            dados["reply_id"] = reply.id
            dados["reply_title"] = reply.title
            if inter.list_reply is not None and inter.list_reply.description:
                dados["reply_description"] = inter.list_reply.description
        elif inter.nfm_reply is not None:
            out.update(tipo="interativo", conteudo=inter.nfm_reply.body or "")
            dados["nfm_reply"] = inter.nfm_reply.model_dump(exclude_none=True)
        else:
            out.update(tipo="interativo")
    elif kind == "button" and msg.button is not None:
        out.update(tipo="interativo", conteudo=msg.button.text or "")
        dados["button_payload"] = msg.button.payload
        dados["button_text"] = msg.button.text
    elif kind == "reaction" and msg.reaction is not None:
        emoji = msg.reaction.emoji or ""
        out.update(tipo="reacao", conteudo=emoji)
        dados["reaction"] = {"message_id": msg.reaction.message_id, "emoji": emoji, "removed": not emoji}
    elif kind == "contacts" and msg.contacts is not None:
        names = [c.name.formatted_name for c in msg.contacts if c.name is not None and c.name.formatted_name]
        out.update(tipo="contatos", conteudo=", ".join(names))
        dados["contacts"] = [c.model_dump(exclude_none=True) for c in msg.contacts]
    elif kind == "system" and msg.system is not None:
        out.update(tipo="sistema", conteudo=msg.system.body or "")
        dados["system"] = msg.system.model_dump(exclude_none=True)
    elif kind == "order" and isinstance(msg.order, dict):
        # An order from our catalogue: a readable text for the attendant, the order kept whole.
        out.update(tipo="texto", conteudo=order_text(msg.order))
        dados["order"] = msg.order
    # unsupported, unknown and bodies of an unexpected shape stay nao_suportado.
    out["dados"] = dados
    return out


def _money(value: Any, currency: Any) -> str:
    try:
        amount = f"{float(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    except (TypeError, ValueError):
        amount = str(value)
    return f"{currency} {amount}" if isinstance(currency, str) and currency else amount


def order_text(order: dict[str, Any]) -> str:
    """'Pedido:' then one line per item (quantity × product: unit price), the total, the note."""
    lines = ["Pedido:"]
    total, currencies = 0.0, set()
    items = order.get("product_items") if isinstance(order.get("product_items"), list) else []
    for item in items:
        if not isinstance(item, dict):
            continue
        quantity, price, currency = item.get("quantity"), item.get("item_price"), item.get("currency")
        lines.append(f"{quantity} × {item.get('product_retailer_id')}: {_money(price, currency)}")
        try:
            total += float(quantity) * float(price)
            currencies.add(currency)
        except (TypeError, ValueError):
            currencies.add(None)
    if items and len(currencies) == 1 and None not in currencies:
        lines.append(f"Total: {_money(total, next(iter(currencies)))}")
    text = order.get("text")
    if isinstance(text, str) and text.strip():
        lines.append(text.strip())
    return "\n".join(lines)


def _change_row(msg: InboundMessage, raw: Any, created_at: dt.datetime, parsed: ParsedPayload) -> None:
    """An edit or revoke: kept for the original message (mensagens_alteracoes), not a message."""
    kind = (msg.type or "").strip()
    body = msg.edit if kind == "edit" else msg.revoke
    original = (body.original_message_id or "").strip() if body is not None else ""
    if not original:
        _discard(parsed, "mensagem", raw, f"{kind} sem original_message_id")
        return
    conteudo = None
    if kind == "edit":
        novo = parse_or_none(InboundMessage, (body.message or {}) | {"id": msg.id}) if body else None
        if novo is None or not (novo.type or "").strip():
            _discard(parsed, "mensagem", raw, "edit sem a nova mensagem")
            return
        conteudo = map_message(novo, body.message or {})["conteudo"]
    parsed.alteracoes.append(
        {
            "whatsapp_id": msg.id[:MAX_WHATSAPP_ID],  # type: ignore[index]
            "original_whatsapp_id": original[:MAX_WHATSAPP_ID],
            "tipo": kind,
            "conteudo": conteudo,
            "dados": {"raw": raw},
            "created_at": created_at.isoformat(),
        }
    )


def _message_row(
    raw: Any, profile_names: dict[str, str], parsed: ParsedPayload, identidades=None, eco: bool = False
) -> InboundRow | None:
    msg = parse_or_none(InboundMessage, raw)
    if msg is None:
        head = parse_or_none(MessageHead, raw)
        if head is None:
            parsed.ignored.append("message that is not an object")
            _discard(parsed, "mensagem", raw, "não é um objeto")
            return None
        # A body of an unexpected shape: stored as nao_suportado with its raw object.
        # The head keeps who it is from or to (phone and BSUID), so it still finds its contact.
        msg = InboundMessage.model_validate(head.model_dump(by_alias=True, include=HEAD_FIELDS))
        msg.type = f"invalid:{head.type}" if head.type else None
    # The customer: the sender of a message, the recipient of an echo. The phone may be
    # absent (username users); contacts[] may name the BSUID where the message does not.
    endereco = msg.to if eco else msg.from_
    telefone = normalize_telefone(endereco)
    bsuid = normalize_bsuid(msg.to_user_id if eco else msg.from_user_id)
    bsuid_pai = normalize_parent_bsuid(msg.to_parent_user_id if eco else msg.from_parent_user_id)
    by_phone, by_bsuid = identidades or ({}, {})
    if bsuid is None and telefone is not None and telefone in by_phone:
        bsuid = by_phone[telefone].get("bsuid")
    if telefone is None and bsuid is not None and bsuid in by_bsuid and by_bsuid[bsuid].get("telefone"):
        telefone = by_bsuid[bsuid]["telefone"]
        endereco = by_bsuid[bsuid]["wa_id"]
    created_at = parse_timestamp(msg.timestamp)
    if msg.id and (msg.type or "").strip() in CHANGE_KINDS:  # found by the original's wamid, not the sender
        _change_row(msg, raw, created_at, parsed)
        return None
    if not msg.id or (telefone is None and bsuid is None):
        parsed.ignored.append(f"message without id or sender ({msg.id!r}, {endereco!r})")
        _discard(parsed, "mensagem", raw, "sem id ou remetente utilizável")
        return None
    mapped = map_message(msg, raw)
    row = InboundRow(
        whatsapp_id=msg.id[:MAX_WHATSAPP_ID],
        telefone=telefone,
        wa_id=(endereco or "")[:MAX_WA_ID] if telefone else "",
        created_at=created_at,
        **mapped,
    )
    row.bsuid, row.bsuid_pai = bsuid, bsuid_pai
    if eco:
        # Sent by our staff from the WhatsApp Business app: an outbound message that never
        # opens the window nor says anything about the customer's consent.
        row.direcao = "saida"
        row.dados["origem"] = ECHO_ORIGEM
        row.abre_janela = False
        return _with_media_job(row, msg)
    row.abre_janela = row.tipo != "sistema"
    if row.tipo == "texto":
        row.opt_out = is_opt_out(row.conteudo)
    elif msg.type == "button" and msg.button is not None:
        row.opt_out = is_opt_out(msg.button.text) or is_opt_out(msg.button.payload)
    if msg.type == "system" and msg.system is not None and (msg.system.type or "") == "user_changed_number":
        new_wa_id = msg.system.wa_id or msg.system.new_wa_id
        novo = normalize_telefone(new_wa_id)
        if novo is not None and novo != telefone:
            row.numero_novo = {"telefone": novo, "wa_id": (new_wa_id or "")[:MAX_WA_ID]}
    if msg.type == "system" and msg.system is not None:
        # user_changed_user_id (and a number change, which gives a new BSUID): Meta names the
        # new BSUID; the contact keeps one row (docs/identity.md).
        novo_bsuid = normalize_bsuid(msg.system.user_id)
        if novo_bsuid is not None and novo_bsuid != bsuid:
            row.bsuid_novo = novo_bsuid
    if msg.referral is not None:
        row.referral = msg.referral.model_dump(exclude_none=True)
        row.campanha = _cut(msg.referral.source_id, MAX_CAMPANHA)
    return _with_media_job(row, msg)


def _with_media_job(row: InboundRow, msg: InboundMessage) -> InboundRow:
    if row.tipo == "media" and row.media_type != "location":
        media = row.dados.get("media", {})
        media_id = media.get("id")
        if media_id and len(media_id) <= 100:
            row.media_job = {
                "whatsapp_media_id": media_id,
                "kind": msg.type,
                "mime_type": row.media_mime,
                "sha256": media.get("sha256"),
                "filename": media.get("filename"),
                "animated": bool(media.get("animated")),
                "voice": bool(media.get("voice")),
            }
        else:
            row.dados["media_erro"] = "mensagem de mídia sem id de mídia válido"
    return row


def _discard(parsed: ParsedPayload, what: str, raw: Any, reason: str) -> None:
    """Keep an item no row can hold (e.g. a message without a usable sender) in eventos."""
    if raw not in (None, "", [], {}):
        parsed.eventos.append(evento("whatsapp_descartado", {"item": what, "motivo": reason, "raw": raw}))


def _status_row(raw: Any, parsed: ParsedPayload) -> dict[str, Any] | None:
    status = parse_or_none(Status, raw)
    head: StatusHead | None = status
    if status is None:  # some part has an unexpected shape: the status itself still counts
        head = parse_or_none(StatusHead, raw)
    if head is None or not head.id or not head.status or not head.status.strip():
        parsed.ignored.append("status without id or status")
        _discard(parsed, "status", raw, "sem id ou status")
        return None
    word = head.status.strip().lower()[:MAX_STATUS_WORD]
    if status is not None:
        pricing = status.pricing
        errors = [e.model_dump(exclude_none=True) for e in status.errors] if status.errors else None
    else:
        pricing = parse_or_none(Pricing, raw.get("pricing"))
        raw_errors = raw.get("errors")
        errors = raw_errors if isinstance(raw_errors, list) and raw_errors else None
    category = pricing.category.strip().lower() if pricing is not None and pricing.category else None
    return {
        "whatsapp_id": head.id[:MAX_WHATSAPP_ID],
        # Messages sent to a BSUID: the recipient's BSUID, filled into a contact without one.
        "bsuid": normalize_bsuid(head.recipient_user_id),
        "bsuid_pai": normalize_parent_bsuid(head.recipient_parent_user_id),
        "status": word,
        "status_envio": STATUS_MAP.get(word),
        "billing_category": BILLING_MAP.get(category) if category else None,
        "errors": errors,
        "payload": raw,
        "status_at": parse_timestamp(head.timestamp).isoformat(),
    }


def _parse_contacts(value: Value, parsed: ParsedPayload) -> tuple[dict[str, Any], dict[str, Any]]:
    """`contacts[]`: profile names by phone (as before) and, for users with a BSUID, what Meta
    says of them, by phone and by BSUID (a message may name only one of the two)."""
    by_phone: dict[str, dict[str, Any]] = {}
    by_bsuid: dict[str, dict[str, Any]] = {}
    for raw_contact in value.contacts:
        contact = parse_or_none(WaContact, raw_contact)
        if contact is None:
            continue
        telefone = normalize_telefone(contact.wa_id) if contact.wa_id else None
        name = contact.profile.name[:MAX_NOME] if contact.profile is not None and contact.profile.name else None
        if telefone and name:
            parsed.profile_names[telefone] = name
        bsuid = normalize_bsuid(contact.user_id)
        if bsuid is None:
            continue
        perfil = {
            "bsuid": bsuid,
            "telefone": telefone,
            "wa_id": (contact.wa_id or "")[:MAX_WA_ID] if telefone else None,
            "bsuid_pai": normalize_parent_bsuid(contact.parent_user_id),
            "username": normalize_username(contact.profile.username) if contact.profile is not None else None,
            "nome_perfil": name,
        }
        parsed.perfis[bsuid] = perfil
        by_bsuid[bsuid] = perfil
        if telefone:
            by_phone[telefone] = perfil
    return by_phone, by_bsuid


def _parse_messages_value(value: Value, raw_value: dict[str, Any], parsed: ParsedPayload) -> None:
    identidades = _parse_contacts(value, parsed)
    for raw_message in value.messages:
        row = _message_row(raw_message, parsed.profile_names, parsed, identidades)
        if row is not None:
            parsed.messages.append(row)
    for raw_echo in value.message_echoes:
        row = _message_row(raw_echo, parsed.profile_names, parsed, identidades, eco=True)
        if row is not None:
            parsed.messages.append(row)
    for raw_status in value.statuses:
        row = _status_row(raw_status, parsed)
        if row is not None:
            parsed.statuses.append(row)
    for key in ("contacts", "messages", "statuses", "errors", "user_preferences", "metadata", "message_echoes"):
        part = raw_value.get(key)
        if part is not None and not isinstance(part, dict if key == "metadata" else list):
            parsed.ignored.append(f"value.{key} of an unexpected shape")
            _discard(parsed, f"value.{key}", part, "forma inesperada")
    if value.errors:
        parsed.eventos.append(evento("whatsapp_erro", {"errors": value.errors, "metadata": raw_value.get("metadata")}))
    unknown = {k: v for k, v in raw_value.items() if k not in KNOWN_VALUE_KEYS}
    if unknown:
        parsed.eventos.append(
            evento(UNKNOWN_FIELD_TIPO, {"field": "messages", "campos": unknown, "metadata": raw_value.get("metadata")})
        )
    for raw_pref in value.user_preferences:
        row = _preference_row(raw_pref)
        if row is None:
            parsed.ignored.append("user_preferences item without wa_id or user_id")
            _discard(parsed, "user_preferences", raw_pref, "sem wa_id nem user_id")
            continue
        parsed.user_preferences.append(row)


# user_preferences values: stop / resume (marketing_messages) as before; signup is a
# marketing opt-in through a signup link. Any other category or value is still consent
# evidence: recorded in eventos (tipo preferencia_whatsapp), no opt-in change.
PREFERENCE_OPTAR = {"stop": False, "resume": True, "signup": True}


def _preference_row(raw_pref: Any) -> dict[str, Any] | None:
    pref = parse_or_none(UserPreference, raw_pref)
    if pref is None:
        return None
    telefone = normalize_telefone(pref.wa_id) if pref.wa_id else None
    bsuid = normalize_bsuid(pref.user_id)
    if telefone is None and bsuid is None:
        return None
    category = (pref.category or "").strip().lower()
    choice = (pref.value or "").strip().lower()
    optar = PREFERENCE_OPTAR.get(choice) if category == "marketing_messages" else None
    created_at = parse_timestamp(pref.timestamp)
    if optar is not None and choice != "signup" and telefone is not None:
        chave = f"user_preferences:{telefone}:{choice}:{int(created_at.timestamp())}"  # as before 0010
    else:
        chave = f"user_preferences:{bsuid or telefone}:{category[:40]}:{choice[:40]}:{int(created_at.timestamp())}"

    # Keyed (issue 16): the key names the number or BSUID and outlives an erasure (to keep a
    # redelivered preference a duplicate), so it is stored as a keyed hash.
    chave = keyed(chave)
    return {
        "telefone": telefone,
        "bsuid": bsuid,
        "optar": optar,
        "valor": choice[:40] or None,
        "payload": raw_pref,
        "created_at": created_at.isoformat(),
        "chave": chave,
    }


def _parse_template_value(raw_value: dict[str, Any], parsed: ParsedPayload, entry_time: str | None = None) -> None:
    update = parse_or_none(TemplateStatusUpdate, raw_value)
    if update is None or not update.event:
        parsed.ignored.append("template status update without event")
        return
    event = update.event.strip().lower()
    status = TEMPLATE_EVENT_ALIASES.get(event, event)
    if status not in TEMPLATE_STATUS:  # e.g. FLAGGED: kept in eventos only
        parsed.ignored.append(f"template event {update.event!r} has no template_status")
        return
    parsed.templates.append(
        {
            "whatsapp_id": update.message_template_id,
            "name": update.message_template_name,
            "language": update.message_template_language,
            "status": status,
            "category": None,
            "reason": update.reason,
            "status_at": entry_time,  # orders status changes (a replay must not undo a newer one)
        }
    )


def _parse_template_category(update: TemplateCategoryUpdate, parsed: ParsedPayload) -> None:
    new = (update.new_category or "").strip().lower()
    if new not in TEMPLATE_CATEGORIES:
        parsed.ignored.append(f"template category {update.new_category!r} has no template_category")
        return
    parsed.templates.append(
        {
            "whatsapp_id": update.message_template_id,
            "name": update.message_template_name,
            "language": update.message_template_language,
            "status": None,
            "category": new,
        }
    )


def _merge_template_updates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per template (one UPDATE ... FROM applies only one source row per target): a
    status and a category change of the same template in one payload both apply, later wins."""
    merged: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    # In Meta's order (the entry's time; rows without one keep payload order, first).
    for row in sorted(rows, key=lambda r: r.get("status_at") or ""):
        key = (row.get("whatsapp_id"), row.get("name"), row.get("language"))
        current = merged.setdefault(key, {"status": None, "category": None})
        current.update({k: v for k, v in row.items() if v is not None or k not in current})
    return list(merged.values())


def _parse_account_change(
    field_name: str,
    entry_id: str | None,
    raw_value: dict[str, Any],
    parsed: ParsedPayload,
    entry_time: str | None = None,
):
    """A change that is not about messages: template status and category updates change
    `templates`; all of them (quality updates, account updates, fields Meta adds later too)
    are kept whole in an eventos row and logged."""
    tipo = FIELD_EVENTO_TIPOS.get(field_name, UNKNOWN_FIELD_TIPO)
    parsed.eventos.append(evento(tipo, {"field": field_name[:100], "entry_id": entry_id, "value": raw_value}))
    if field_name == "message_template_status_update":
        _parse_template_value(raw_value, parsed, entry_time)
    elif field_name == "message_template_quality_update":
        quality = parse_or_none(TemplateQualityUpdate, raw_value)
        if quality is not None:
            logger.info(
                "template quality changed",
                extra={
                    "template": quality.message_template_name,
                    "language": quality.message_template_language,
                    "de": quality.previous_quality_score,
                    "para": quality.new_quality_score,
                },
            )
    elif field_name == "template_category_update":
        category = parse_or_none(TemplateCategoryUpdate, raw_value)
        if category is not None:
            # Worth a warning: a utility template Meta moved to marketing costs more and may
            # no longer go to contacts who opted out.
            logger.warning(
                "template re-categorised by Meta",
                extra={
                    "template": category.message_template_name,
                    "language": category.message_template_language,
                    "de": category.previous_category,
                    "para": category.new_category,
                },
            )
            _parse_template_category(category, parsed)
    else:
        parsed.ignored.append(f"field {field_name!r} kept in eventos only")


def parse_payload(payload: Any) -> ParsedPayload:
    """The rows a payload means, without I/O. Never raises on odd input: odd parts are
    stored as nao_suportado with their raw object, or kept in an eventos row, with a reason
    in `ignored` (logged)."""
    parsed = ParsedPayload()
    envelope = parse_or_none(Envelope, payload)
    if envelope is None or envelope.object != WHATSAPP_OBJECT:
        parsed.ignored.append(f"object {getattr(envelope, 'object', None)!r} is not {WHATSAPP_OBJECT}")
        return parsed
    settings = get_settings()
    for raw_entry in envelope.entry:
        entry = parse_or_none(Entry, raw_entry)
        if entry is None:
            parsed.ignored.append("entry that is not an object")
            _discard(parsed, "entry", raw_entry, "não é um objeto")
            continue
        if not isinstance(raw_entry.get("changes"), list | None):
            _discard(parsed, "entry.changes", raw_entry["changes"], "não é uma lista")
        for raw_change in entry.changes:
            change = parse_or_none(Change, raw_change)
            if change is None or change.value is None:
                parsed.ignored.append("change without value")
                _discard(parsed, "change", raw_change, "sem value")
                continue
            field_name = (change.field or "").strip()
            if field_name not in MESSAGE_FIELDS:
                if settings.whatsapp_waba_id and entry.id and entry.id != settings.whatsapp_waba_id:
                    parsed.ignored.append(f"{field_name!r} of another account {entry.id}")
                    continue
                entry_time = raw_entry.get("time")
                at = parse_timestamp(entry_time).isoformat() if entry_time is not None else None
                _parse_account_change(field_name, entry.id, change.value, parsed, at)
                continue
            value = parse_or_none(Value, change.value)
            if value is None:
                parsed.ignored.append("value of an unexpected shape")
                _discard(parsed, "value", change.value, "forma inesperada")
                continue
            phone_number_id = value.metadata.phone_number_id if value.metadata else None
            ours = settings.whatsapp_phone_number_id
            if ours and phone_number_id and phone_number_id != ours:
                parsed.ignored.append(f"phone_number_id {phone_number_id} is not ours")
                continue
            _parse_messages_value(value, change.value, parsed)
    # One row per wamid (a payload may repeat a message); first occurrence wins.
    seen: set[str] = set()
    unique: list[InboundRow] = []
    for row in parsed.messages:
        if row.whatsapp_id not in seen:
            seen.add(row.whatsapp_id)
            unique.append(row)
    parsed.messages = unique
    statuses: dict[tuple[str, str], dict[str, Any]] = {}
    for row in parsed.statuses:
        statuses[(row["whatsapp_id"], row["status"])] = row
    parsed.statuses = list(statuses.values())
    parsed.templates = _merge_template_updates(parsed.templates)
    return parsed
