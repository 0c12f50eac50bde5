"""The live events: their shapes (pydantic models, the contract the console is generated
from), one builder per event, and the outbox record that carries them out of the request.

A service says what happened, inside its transaction, by naming the rows that changed:
`live_events.conversation_updated(conversa_id)`, `live_events.message_new(mensagem_id)`.
Nothing is sent then. Just before COMMIT (`db.before_commit`) the names go into one outbox
row, in the same transaction (chalicelib.services.outbox); after the commit a nudge wakes
the live-events drain, which builds the events from the committed rows in a few set-based
reads and delivers them, in the order they were named, to every connection. A ROLLBACK
leaves no row, so nothing is delivered. Conversation events carry the inbox item of
`GET /conversas`, message events the message of `GET /conversas/{id}/mensagens`, so a
browser applies every event the same way; every event carries an id, the same if the drain
delivers it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chalicelib import db
from chalicelib.api_models import BillingCategory, ConversaItem, Mensagem, Nota, StatusEnvio, Template


# Shapes -------------------------------------------------------------------------------------
class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageData(_Data):
    conversa_id: UUID
    mensagem: Mensagem


class ErroEnvio(BaseModel):
    """WhatsApp's reason for a failure (a status webhook's error, or the send's own)."""

    code: int | str | None = None
    title: str | None = None
    message: str | None = None


class MessageStatusData(_Data):
    mensagem_id: UUID
    whatsapp_id: str | None
    conversa_id: UUID
    status_envio: StatusEnvio
    billing_category: BillingCategory | None
    erro: ErroEnvio | None


class ConversationData(_Data):
    conversa: ConversaItem


class ConversationAssignedData(ConversationData):
    anterior_id: UUID | None = Field(description="quem atendia antes (null: ninguém)")


class WindowClosedData(_Data):
    conversa_id: UUID
    contato_id: UUID
    window_expires_at: datetime


class TemplateData(_Data):
    template: Template


class ContactData(_Data):
    contato_id: UUID


class NoteData(_Data):
    conversa_id: UUID
    nota: Nota


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None,
        description="id do evento (`<registro>-<posição>`): o mesmo numa reentrega; o console ignora um id já aplicado",
    )


class MessageNewEvent(_Event):
    """Uma mensagem nova (entrada ou saída)."""

    type: Literal["message:new"]
    data: MessageData


class MessageUpdatedEvent(_Event):
    """A mensagem mudou: mídia pronta ou com erro, envio que falhou, editada ou apagada pelo cliente."""

    type: Literal["message:updated"]
    data: MessageData


class MessageStatusEvent(_Event):
    """Tique de uma mensagem enviada (só avança)."""

    type: Literal["message:status"]
    data: MessageStatusData


class ConversationNewEvent(_Event):
    """Conversa aberta por um contato."""

    type: Literal["conversation:new"]
    data: ConversationData


class ConversationUpdatedEvent(_Event):
    """O item da caixa de entrada mudou (mensagem, janela, lida, contato, reaberta)."""

    type: Literal["conversation:updated"]
    data: ConversationData


class ConversationAssignedEvent(_Event):
    """Quem atende mudou (assumir, transferir, liberar, enviar numa conversa sem atendente)."""

    type: Literal["conversation:assigned"]
    data: ConversationAssignedData


class ConversationClosedEvent(_Event):
    """Conversa encerrada."""

    type: Literal["conversation:closed"]
    data: ConversationData


class ConversationWindowClosedEvent(_Event):
    """A janela de 24 horas da conversa fechou."""

    type: Literal["conversation:window_closed"]
    data: WindowClosedData


class TemplateUpdatedEvent(_Event):
    """Um template mudou (sincronização ou webhook)."""

    type: Literal["template:updated"]
    data: TemplateData


class ContactUpdatedEvent(_Event):
    """O contato mudou (dados, interessado, anonimização): quem o mostra busca de novo."""

    type: Literal["contact:updated"]
    data: ContactData


class NoteNewEvent(_Event):
    """Uma nota interna nova (só atendentes a veem; mencoes diz quem foi chamado)."""

    type: Literal["note:new"]
    data: NoteData


EVENT_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        MessageNewEvent,
        MessageUpdatedEvent,
        MessageStatusEvent,
        ConversationNewEvent,
        ConversationUpdatedEvent,
        ConversationAssignedEvent,
        ConversationClosedEvent,
        ConversationWindowClosedEvent,
        TemplateUpdatedEvent,
        ContactUpdatedEvent,
        NoteNewEvent,
    )
}
EVENTS = frozenset(EVENT_MODELS)

LiveEvent = Annotated[
    MessageNewEvent  # type: ignore[valid-type]
    | MessageUpdatedEvent
    | MessageStatusEvent
    | ConversationNewEvent
    | ConversationUpdatedEvent
    | ConversationAssignedEvent
    | ConversationClosedEvent
    | ConversationWindowClosedEvent
    | TemplateUpdatedEvent
    | ContactUpdatedEvent
    | NoteNewEvent,
    Field(discriminator="type"),
]
live_event_adapter: TypeAdapter[Any] = TypeAdapter(LiveEvent)


class LiveBatch(BaseModel):
    """Um quadro do WebSocket: eventos em ordem (os de uma mesma conversa na ordem em que aconteceram)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["batch"]
    events: list[LiveEvent]


# Naming what happened (inside the transaction) -------------------------------------------------
def message_new(mensagem_id: Any) -> None:
    _emit("message:new", mensagem_id)


def message_updated(mensagem_id: Any) -> None:
    _emit("message:updated", mensagem_id)


def message_status(mensagem_id: Any) -> None:
    _emit("message:status", mensagem_id)


def conversation_new(conversa_id: Any) -> None:
    _emit("conversation:new", conversa_id)


def conversation_updated(conversa_id: Any) -> None:
    _emit("conversation:updated", conversa_id)


def conversation_assigned(conversa_id: Any, anterior_id: Any) -> None:
    _emit("conversation:assigned", conversa_id, {"anterior_id": str(anterior_id) if anterior_id else None})


def conversation_closed(conversa_id: Any) -> None:
    _emit("conversation:closed", conversa_id)


def windows_closed(rows: list[dict[str, Any]]) -> None:
    """The window job's rows (conversa_id, contato_id, window_expires_at) as they are."""
    for r in rows:
        extra = {
            "conversa_id": str(r["conversa_id"]),
            "contato_id": str(r["contato_id"]),
            "window_expires_at": r["window_expires_at"].isoformat(),
        }
        _emit("conversation:window_closed", r["conversa_id"], extra)


def template_updated(template_id: Any) -> None:
    _emit("template:updated", template_id)


def contact_updated(contato_id: Any) -> None:
    """Only the id: a contact's panel refetches it (the contact is not broadcast to every socket)."""
    _emit("contact:updated", contato_id)


def note_new(nota_id: Any) -> None:
    _emit("note:new", nota_id)


class _Batch:
    """The events one transaction named: one outbox row, written just before its COMMIT."""

    def __init__(self, items: list[list[Any]] | None = None) -> None:
        self.items: list[list[Any]] = items or []

    def __call__(self) -> None:
        from chalicelib.services import outbox

        outbox.record(self.items)

    def __repr__(self) -> str:
        return f"<live events: {', '.join(e for e, _, _ in self.items)}>"


def _emit(event: str, subject_id: Any, extra: dict[str, Any] | None = None) -> None:
    item = [event, str(subject_id), extra or {}]
    if not db.in_transaction():
        _Batch([item])()  # the change is committed already: its row goes at once
        return
    batch = db.pending_before_commit(_Batch)
    if batch is None:
        batch = _Batch()
        db.before_commit(batch)
    batch.items.append(item)


# In the drain -----------------------------------------------------------------------------------
def build(items: list[tuple[str, str, str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(event id, event, data) in order, from the committed rows, for (event id, event,
    subject, extra) items. Repeats of one (event, row) go once, at the first one's place and
    with its id: every payload is the row as it is now, so the first carries the last's news
    (a burst of ticks for one message is one message:status).

    A row gone meanwhile (an anonymised contact's message, a deleted template) is skipped."""
    from chalicelib.repositories import atendimento, inbox, templates

    seen: set[tuple[str, str]] = set()
    unique = []
    for event_id, event, subject, extra in items:
        if (event, subject) not in seen or event == "conversation:assigned":
            seen.add((event, subject))
            unique.append((event_id, event, subject, extra))

    def ids(prefix: str) -> list[str]:
        return sorted({s for _, e, s, _ in unique if e.startswith(prefix) and e != "conversation:window_closed"})

    conversas = {str(r["id"]): r for r in inbox.conversa_items(ids("conversation:"))}
    mensagens = {str(r["id"]): r for r in inbox.mensagens_by_ids(ids("message:"))}
    tpls = {str(r["id"]): r for r in templates.get_many(ids("template:"))}
    notas = {str(r["id"]): r for r in atendimento.notas_by_ids(ids("note:"))}

    out: list[tuple[str, str, dict[str, Any]]] = []
    shaped: dict[str, dict[str, Any]] = {}
    for event_id, event, subject, extra in unique:
        if event == "conversation:window_closed":
            data = extra
        elif event == "contact:updated":
            data = {"contato_id": subject}
        elif event.startswith("conversation:"):
            if subject not in conversas:
                continue
            data = {"conversa": conversas[subject], **extra}
        elif event == "message:status":
            if subject not in mensagens:
                continue
            data = message_status_data(mensagens[subject])
        elif event.startswith("message:"):
            if subject not in mensagens:
                continue
            if subject not in shaped:
                shaped[subject] = _shape(mensagens[subject])
            data = {"conversa_id": str(mensagens[subject]["conversa_id"]), "mensagem": shaped[subject]}
        elif event == "note:new":
            if subject not in notas:
                continue
            data = {"conversa_id": str(notas[subject]["conversa_id"]), "nota": notas[subject]}
        else:
            if subject not in tpls:
                continue
            data = {"template": tpls[subject]}
        out.append((event_id, event, data))
    return out


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.services.inbox import shape_mensagem  # presigned URLs, never raw keys; never raises

    return shape_mensagem(row)


def message_status_data(row: dict[str, Any]) -> dict[str, Any]:
    dados = row.get("dados") or {}
    erros = dados.get("errors") or []
    erro = erros[0] if isinstance(erros, list) and erros and isinstance(erros[0], dict) else dados.get("erro")
    if isinstance(erro, dict):
        erro = {
            "code": erro.get("code") if isinstance(erro.get("code"), (int, str)) else None,
            "title": erro.get("title") or erro.get("type"),
            "message": erro.get("message") or (erro.get("error_data") or {}).get("details"),
        }
    else:
        erro = None
    return {
        "mensagem_id": str(row["id"]),
        "whatsapp_id": row["whatsapp_id"],
        "conversa_id": str(row["conversa_id"]),
        "status_envio": row["status_envio"],
        "billing_category": row["billing_category"],
        "erro": erro if row["status_envio"] == "falhou" else None,
    }


def validate(event: str, data: Any, event_id: str | None = None) -> BaseModel:
    """The event as its model (raises pydantic's ValidationError when the shape is off)."""
    return live_event_adapter.validate_python({"id": event_id, "type": event, "data": data})
