"""pydantic models of WhatsApp Cloud API webhook payloads (docs/whatsapp.md; Meta's webhooks
reference, field `messages` and the template and account fields).

Everything is lenient on purpose: Meta adds fields and types without notice, and a webhook
that answers 5xx is retried for days. So every model keeps unknown fields (`extra="allow"`),
every field is optional, numbers sent as strings (or strings sent as numbers) are accepted,
and lists are parsed item by item by the service, so one odd item never hides the others.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


def _as_text(value: Any) -> Any:
    # Meta sends timestamps and ids as strings; accept numbers too, but no objects.
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _as_number(value: Any) -> Any:
    # Coordinates must be finite: PostgreSQL's jsonb has no Infinity or NaN.
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return value


def _loose_text(value: Any) -> Any:
    return None if isinstance(value, dict | list) else _as_text(value)


def _loose_list(value: Any) -> Any:
    return value if isinstance(value, list) else []


def _loose_object(value: Any) -> Any:
    return value if isinstance(value, dict) else None


Text = Annotated[str | None, BeforeValidator(_as_text)]
Number = Annotated[float | None, BeforeValidator(_as_number)]
# Envelope parts: an odd shape there must not hide the messages next to it, so it reads as
# absent (the service keeps the odd part itself in eventos).
LooseText = Annotated[str | None, BeforeValidator(_loose_text)]
LooseList = Annotated[list[Any], BeforeValidator(_loose_list)]


class WhatsAppModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# Envelope ---------------------------------------------------------------------------------
class Metadata(WhatsAppModel):
    display_phone_number: LooseText = None
    phone_number_id: LooseText = None


class Profile(WhatsAppModel):
    name: Text = None
    username: Text = None  # the user's WhatsApp username, when they adopted one


class WaContact(WhatsAppModel):
    """`contacts[]`: since April 2026 `user_id` (BSUID) is always there and `wa_id` (phone)
    only when Meta shares the number (docs/identity.md)."""

    wa_id: Text = None
    user_id: Text = None
    parent_user_id: Text = None
    profile: Profile | None = None


class ErrorData(WhatsAppModel):
    details: Text = None


class WaError(WhatsAppModel):
    code: int | str | None = None  # Meta's integer, kept as sent
    title: Text = None
    message: Text = None
    error_data: ErrorData | None = None


class Change(WhatsAppModel):
    field: LooseText = None
    value: Annotated[dict[str, Any] | None, BeforeValidator(_loose_object)] = None


class Entry(WhatsAppModel):
    id: LooseText = None
    changes: LooseList = Field(default_factory=list)


class Envelope(WhatsAppModel):
    object: LooseText = None
    entry: LooseList = Field(default_factory=list)


class Value(WhatsAppModel):
    """`value` of a `messages` change; messages and statuses stay raw (parsed one by one)."""

    messaging_product: LooseText = None
    metadata: Annotated[Metadata | None, BeforeValidator(_loose_object)] = None
    contacts: LooseList = Field(default_factory=list)
    messages: LooseList = Field(default_factory=list)
    statuses: LooseList = Field(default_factory=list)
    errors: LooseList = Field(default_factory=list)
    user_preferences: LooseList = Field(default_factory=list)
    message_echoes: LooseList = Field(default_factory=list)  # field smb_message_echoes


# Inbound messages -------------------------------------------------------------------------
class TextBody(WhatsAppModel):
    body: Text = None


class MediaBody(WhatsAppModel):
    """image, video, audio, document and sticker share this shape."""

    id: Text = None
    mime_type: Text = None
    sha256: Text = None
    caption: Text = None
    filename: Text = None
    url: Text = None
    voice: bool | None = None
    animated: bool | None = None


class LocationBody(WhatsAppModel):
    latitude: Number = None
    longitude: Number = None
    name: Text = None
    address: Text = None
    url: Text = None


class ButtonReply(WhatsAppModel):
    id: Text = None
    title: Text = None


class ListReply(WhatsAppModel):
    id: Text = None
    title: Text = None
    description: Text = None


class NfmReply(WhatsAppModel):
    name: Text = None
    body: Text = None
    response_json: Text = None


class InteractiveBody(WhatsAppModel):
    type: Text = None
    button_reply: ButtonReply | None = None
    list_reply: ListReply | None = None
    nfm_reply: NfmReply | None = None


class ButtonBody(WhatsAppModel):
    payload: Text = None
    text: Text = None


class ReactionBody(WhatsAppModel):
    message_id: Text = None
    emoji: Text = None


class ContactName(WhatsAppModel):
    formatted_name: Text = None
    first_name: Text = None
    last_name: Text = None


class ContactCard(WhatsAppModel):
    name: ContactName | None = None
    phones: list[dict[str, Any]] = Field(default_factory=list)


class SystemBody(WhatsAppModel):
    type: Text = None  # user_changed_number, user_changed_user_id
    body: Text = None
    wa_id: Text = None
    new_wa_id: Text = None
    user_id: Text = None  # the new BSUID
    parent_user_id: Text = None


class Context(WhatsAppModel):
    from_: Text = Field(None, alias="from")
    id: Text = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class Referral(WhatsAppModel):
    source_url: Text = None
    source_id: Text = None
    source_type: Text = None
    headline: Text = None
    body: Text = None
    media_type: Text = None
    image_url: Text = None
    video_url: Text = None
    thumbnail_url: Text = None
    ctwa_clid: Text = None


class MessageHead(WhatsAppModel):
    """What every message has; enough to store one whose body has an unexpected shape."""

    from_: Text = Field(None, alias="from")
    from_user_id: Text = None  # the sender's BSUID; `from` is omitted for some username users
    from_parent_user_id: Text = None
    to: Text = None  # message echoes: the customer the business wrote to
    to_user_id: Text = None
    to_parent_user_id: Text = None
    id: Text = None
    timestamp: Text = None
    type: Text = None


class ChangeBody(WhatsAppModel):
    """`edit` / `revoke`: which earlier message changes; an edit carries the new message."""

    original_message_id: Text = None
    message: dict[str, Any] | None = None


class InboundMessage(MessageHead):
    text: TextBody | None = None
    image: MediaBody | None = None
    video: MediaBody | None = None
    audio: MediaBody | None = None
    document: MediaBody | None = None
    sticker: MediaBody | None = None
    location: LocationBody | None = None
    contacts: list[ContactCard] | None = None
    interactive: InteractiveBody | None = None
    button: ButtonBody | None = None
    reaction: ReactionBody | None = None
    system: SystemBody | None = None
    order: dict[str, Any] | None = None
    edit: ChangeBody | None = None
    revoke: ChangeBody | None = None
    context: Context | None = None
    referral: Referral | None = None
    errors: list[WaError] | None = None


# Statuses ---------------------------------------------------------------------------------
class Pricing(WhatsAppModel):
    billable: bool | None = None
    pricing_model: Text = None
    type: Text = None
    category: Text = None


class ConversationOrigin(WhatsAppModel):
    type: Text = None


class StatusConversation(WhatsAppModel):
    id: Text = None
    origin: ConversationOrigin | None = None
    expiration_timestamp: Text = None


class StatusHead(WhatsAppModel):
    """What every status has; enough to apply one whose other parts have an unexpected shape."""

    id: Text = None
    status: Text = None
    timestamp: Text = None
    recipient_id: Text = None  # omitted when the message went to a BSUID without a known phone
    recipient_user_id: Text = None
    recipient_parent_user_id: Text = None


class Status(StatusHead):
    conversation: StatusConversation | None = None
    pricing: Pricing | None = None
    errors: list[WaError] | None = None
    biz_opaque_callback_data: Text = None


# Other fields -----------------------------------------------------------------------------
class UserPreference(WhatsAppModel):
    """`user_preferences` item: a customer stopping, resuming or signing up to marketing."""

    wa_id: Text = None
    user_id: Text = None
    parent_user_id: Text = None
    detail: Text = None
    category: Text = None
    value: Text = None
    timestamp: Text = None


class TemplateStatusUpdate(WhatsAppModel):
    """`value` of a `message_template_status_update` change."""

    event: Text = None
    message_template_id: Text = None
    message_template_name: Text = None
    message_template_language: Text = None
    reason: Text = None


class TemplateQualityUpdate(WhatsAppModel):
    """`value` of a `message_template_quality_update` change."""

    message_template_id: Text = None
    message_template_name: Text = None
    message_template_language: Text = None
    previous_quality_score: Text = None
    new_quality_score: Text = None


class TemplateCategoryUpdate(WhatsAppModel):
    """`value` of a `template_category_update` change: Meta re-categorised a template."""

    message_template_id: Text = None
    message_template_name: Text = None
    message_template_language: Text = None
    previous_category: Text = None
    new_category: Text = None


M = TypeVar("M", bound=WhatsAppModel)


def parse_or_none(model: type[M], raw: Any) -> M | None:
    """The model for a dict, or None for anything that does not fit (caller keeps the raw)."""
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None
