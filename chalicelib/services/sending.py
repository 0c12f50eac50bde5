"""Sending messages to a contact: text, media and templates, through the Graph API.

The order matters and is the point of this module:
1. validate (window, assignment, template, opt-out) and store the message as `pendente`
   with its sender, in one committed transaction, so the attempt exists whatever happens
   next (a Lambda timeout, a crash) and the browsers see it at once;
2. call the Graph API (media: S3 object → Graph /media upload → send by id), with the
   client's timeouts, outside any transaction;
3. on success store the wamid and apply any status webhook that raced ahead of it; on
   failure mark it `falhou` keeping Meta's error, and answer with the mapped error.

An `Idempotency-Key` makes a retried request answer the first result instead of sending
twice: the key is claimed by one INSERT (the primary key arbitrates between concurrent
duplicates) before anything else happens.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from chalicelib import db
from chalicelib.http import ApiError, jsonable
from chalicelib.observability import logger
from chalicelib.repositories import envios
from chalicelib.services import live_events, window

TEXT_MAX = 4096  # WhatsApp's text body limit
CAPTION_MAX = 1024
PARAM_MAX = 1024

# How long a duplicate request waits for the first one to finish before answering 409.
IDEMPOTENCY_WAIT_SECONDS = 25.0
# A claim still in progress after this long belongs to a request that died (Lambda timeout):
# nobody will finish it, so duplicates are answered at once instead of waiting.
IDEMPOTENCY_STALE_SECONDS = 90.0
IDEMPOTENCY_POLL_SECONDS = 0.1

# API Gateway answers 504 at 29 s while the Lambda runs on: a message sent after that reaches
# the customer although the attendant saw an error (and sends it again). So no Graph call starts
# once fewer than MIN_GRAPH_SECONDS are left of this budget, counted from when the send began
# (a cold start has already spent some of API Gateway's 29 s; the last seconds are for recording
# the result). Each call's own read timeout, 20 s for a send and 60 s for an upload in
# chalicelib.whatsapp.graph, still applies once a call has started.
REQUEST_BUDGET_SECONDS = 25.0
MIN_GRAPH_SECONDS = 5.0

# Graph codes and what the attendant's client must do about them.
CODE_WINDOW_CLOSED = 131047
CODES_RATE_LIMIT = {130429: 2.0, 131056: 6.0}  # code → default Retry-After seconds
CODES_TEMPLATE_MISMATCH = {132000: "parametros", 132001: "language"}
CODE_TOKEN_EXPIRED = 190
# Request-content errors: the attendant can change what is sent.
CODES_REJECTED_CONTENT = {100, 131008, 131009, 131051, 131052, 131053, 132005, 132007, 132012, 132015, 132016, 132018}

ALARM_MARKER = "ALARM whatsapp_access_token_invalid"


# Request models ---------------------------------------------------------------------------
class _Pedido(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


RESPONDER_A = "A mensagem (id) que esta responde: vai ao WhatsApp como context.message_id"


class EnviarTexto(_Pedido):
    tipo: Literal["texto"]
    conteudo: str = Field(min_length=1, max_length=TEXT_MAX)
    responder_a: UUID | None = Field(None, description=RESPONDER_A)


MediaKind = Literal["image", "audio", "video", "document"]


class EnviarMedia(_Pedido):
    tipo: Literal["media"]
    upload_id: UUID | None = Field(None, description="O upload_id de POST /media/uploads")
    key: str | None = Field(None, max_length=512, description="Ou a key de POST /media/uploads")
    media_type: MediaKind
    mime_type: str = Field(min_length=3, max_length=255)
    filename: str | None = Field(None, max_length=240)
    caption: str | None = Field(None, max_length=CAPTION_MAX)
    voz: bool = Field(False, description="Nota de voz: exige audio/ogg com codec opus")
    responder_a: UUID | None = Field(None, description=RESPONDER_A)

    @model_validator(mode="after")
    def _one_location(self) -> EnviarMedia:
        if (self.upload_id is None) == (self.key is None):
            raise ValueError("informe upload_id ou key (um dos dois)")
        return self


class EnviarTemplate(_Pedido):
    tipo: Literal["template"]
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    # In the order of the template's `variables`, or by name ("nome", or "body.nome" when a
    # name exists in more than one component).
    parametros: list[str] | dict[str, str] = Field(default_factory=list)


class EnviarReacao(_Pedido):
    """A reaction to a message of the conversation: shown on it, not as a new message."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    tipo: Literal["reacao"]
    mensagem_id: UUID = Field(description="A mensagem reagida")
    emoji: str = Field(max_length=16, description="Um emoji; vazio remove a reação")

    @model_validator(mode="after")
    def _one_emoji(self) -> EnviarReacao:
        if self.emoji.strip() != self.emoji or any(c.isalnum() for c in self.emoji):
            raise ValueError("emoji deve ser um emoji (ou vazio, para remover)")
        return self


class EnviarMensagemIn(
    RootModel[Annotated[EnviarTexto | EnviarMedia | EnviarTemplate | EnviarReacao, Field(discriminator="tipo")]]
):
    """The body of POST /conversas/{id}/mensagens."""


Pedido = EnviarTexto | EnviarMedia | EnviarTemplate | EnviarReacao


class EnviarMensagemOut(BaseModel):
    """201: the stored message (a mensagens row, media as a presigned URL) and whether the
    send took the unassigned conversation for the sender."""

    mensagem: dict[str, Any]
    atribuida: bool


@dataclass
class _Progress:
    """How far a send got: once the Graph call started, its idempotency key is never freed
    (WhatsApp may have, or has, the message), whatever fails afterwards."""

    mensagem_id: str | None = None
    atribuida: bool = False
    graph_called: bool = False
    whatsapp_id: str | None = None


@dataclass
class SendResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _StoredFailure(ApiError):
    """A failure after the message reached (or may have reached) WhatsApp: the idempotency
    key keeps it, so a retry does not send again."""


# Entry point ------------------------------------------------------------------------------
def send(conversa_id: str, admin_id: str, pedido: Pedido, idempotency_key: str | None = None) -> SendResult:
    """Send one message; counts MessagesSent / SendsFailed for the dashboard."""
    from chalicelib import metrics

    try:
        result = _send_once(conversa_id, admin_id, pedido, idempotency_key)
    except ApiError as exc:
        metrics.count("SendsRefused" if exc.status < 500 else "SendsFailed")
        raise
    except Exception:
        metrics.count("SendsFailed")
        raise
    if result.status == 201 and "Idempotent-Replayed" not in result.headers:
        metrics.count("MessagesSent")
    return result


def _send_once(conversa_id: str, admin_id: str, pedido: Pedido, idempotency_key: str | None) -> SendResult:
    deadline = time.monotonic() + REQUEST_BUDGET_SECONDS
    conversa_id = _uuid_or_404(conversa_id)
    if not idempotency_key:
        return _send(conversa_id, admin_id, pedido, None, deadline, _Progress())
    chave = idempotency_key.strip()
    # Printable characters only: a NUL cannot be stored in PostgreSQL text (it was a 500).
    if not chave or len(chave) > 255 or not chave.isprintable():
        raise ApiError(
            422,
            "ValidationError",
            "Idempotency-Key inválida (1 a 255 caracteres imprimíveis).",
            field="Idempotency-Key",
        )
    request_hash = _request_hash(conversa_id, pedido)
    # The key's row references the conversation: an unknown one is a 404, not a foreign-key 500.
    if not db.scalar("SELECT 1 FROM conversas WHERE id = CAST(:id AS uuid)", id=conversa_id):
        raise ApiError(404, "NotFoundError", "Conversa não encontrada.")
    replay = _claim_or_replay(admin_id, chave, request_hash, conversa_id)
    if replay is not None:
        return replay
    progress = _Progress()
    try:
        result = _send(conversa_id, admin_id, pedido, chave, deadline, progress)
    except _StoredFailure as exc:
        _complete_key_quietly(admin_id, chave, exc.status, exc.to_response().body, exc.headers)
        raise
    except BaseException:
        if progress.whatsapp_id:
            # WhatsApp accepted it and something after that failed: a retry replays the
            # message (re-read when replayed), it never sends again.
            body = {"mensagem": {"id": progress.mensagem_id}, "atribuida": progress.atribuida}
            _complete_key_quietly(admin_id, chave, 201, body, {})
        elif progress.graph_called:
            error = _uncertain_error(progress.mensagem_id)
            _complete_key_quietly(admin_id, chave, error.status, error.to_response().body, error.headers)
        else:
            # Nothing reached WhatsApp: a retry may try again.
            _release_key_quietly(admin_id, chave)
        raise
    _complete_key_quietly(admin_id, chave, result.status, result.body, result.headers)
    return result


def _uncertain_error(mensagem_id: str | None) -> _StoredFailure:
    return _StoredFailure(
        504,
        "WhatsAppUnavailable",
        "Não foi possível confirmar o envio com o WhatsApp: a mensagem pode ter sido entregue.",
        mensagem_id=mensagem_id,
        incerto=True,
    )


def _send(
    conversa_id: str, admin_id: str, pedido: Pedido, chave: str | None, deadline: float, progress: _Progress
) -> SendResult:
    if _out_of_time(deadline):  # e.g. after waiting for a duplicate that then gave its key up
        raise _out_of_time_error()
    media = _check_media(admin_id, pedido) if isinstance(pedido, EnviarMedia) else None

    with db.transaction():
        conversa = envios.lock_conversa(conversa_id)
        if conversa is None:
            raise ApiError(404, "NotFoundError", "Conversa não encontrada.")
        if conversa["status"] != "ativa":
            raise ApiError(409, "ConversationClosed", "A conversa está encerrada: reabra-a para enviar.")
        if conversa["anonimizado"]:
            raise ApiError(409, "ContactAnonymized", "O contato foi anonimizado e não pode receber mensagens.")
        atendente_antes = conversa["atendente_id"]
        _ensure_can_send(conversa_id, admin_id)
        gratis = _free_entry_point(conversa)
        window.require_allowed(pedido.tipo, conversa)
        if isinstance(pedido, EnviarReacao):
            alvo = _target(conversa_id, pedido.mensagem_id, "mensagem_id")
            if chave:
                envios.attach_key_mensagem(admin_id, chave, str(alvo["id"]))
        else:
            novo = _prepare(pedido, conversa, media)
            _reply_context(conversa_id, pedido, novo)
            if gratis:
                novo["row"]["dados"]["free_entry_point"] = True
            mensagem = envios.insert_pendente(conversa_id=conversa_id, admin_id=admin_id, **novo["row"])
            if chave:
                envios.attach_key_mensagem(admin_id, chave, str(mensagem["id"]))
            live_events.message_new(mensagem["id"])  # shown at once as pendente
            live_events.conversation_updated(conversa_id)
    # The row lock above means nobody else took it in between: if it had no assignee, we took it.
    progress.atribuida = atendente_antes is None
    if isinstance(pedido, EnviarReacao):
        return _react(conversa, alvo, pedido, admin_id, deadline, progress)
    progress.mensagem_id = str(mensagem["id"])
    return _deliver(mensagem, novo, media, deadline, progress)


def _free_entry_point(conversa: dict[str, Any]) -> bool:
    """The 72 h free entry point (issue 13): a conversation a click-to-WhatsApp ad opened whose
    first reply goes within 24 h of the ad's message gets a window of 72 h from that message,
    and every message we send inside it is free (Meta's pricing.type free_entry_point).
    72 h counts from the customer's referral message: the conservative reading of Meta's rule
    (a send a bit before the end is still accepted). Called with the conversation locked."""
    if conversa.get("free_entry_point_ate") is not None:
        return bool(db.scalar("SELECT now() < CAST(:ate AS timestamptz)", ate=conversa["free_entry_point_ate"]))
    if conversa.get("anuncio_em") is None:
        return False
    row = envios.open_free_entry_point(str(conversa["id"]))
    if row is None:
        return False
    conversa["free_entry_point_ate"] = row["free_entry_point_ate"]
    conversa["window_expires_at"] = row["window_expires_at"]
    conversa["janela_aberta"] = row["janela_aberta"]
    live_events.conversation_updated(conversa["id"])
    return True


def _target(conversa_id: str, mensagem_id: UUID, field_name: str) -> dict[str, Any]:
    """A message of this conversation that WhatsApp knows (has a wamid)."""
    row = envios.mensagem_da_conversa(conversa_id, str(mensagem_id))
    if row is None:
        raise ApiError(422, "ValidationError", "Mensagem não encontrada nesta conversa.", field=field_name)
    if not row["whatsapp_id"]:
        raise ApiError(422, "ValidationError", "Esta mensagem ainda não chegou ao WhatsApp.", field=field_name)
    return row


def _reply_context(conversa_id: str, pedido: Pedido, novo: dict[str, Any]) -> None:
    responder_a = getattr(pedido, "responder_a", None)
    if responder_a is None:
        return
    alvo = _target(conversa_id, responder_a, "responder_a")
    novo["payload"]["context"] = {"message_id": alvo["whatsapp_id"]}
    novo["row"]["dados"]["responde_a"] = {
        "mensagem_id": str(alvo["id"]),
        "whatsapp_id": alvo["whatsapp_id"],
        "direcao": alvo["direcao"],
        "conteudo": (alvo["conteudo"] or "")[:200],
    }


def _react(
    conversa: dict[str, Any],
    alvo: dict[str, Any],
    pedido: EnviarReacao,
    admin_id: str,
    deadline: float,
    progress: _Progress,
) -> SendResult:
    """A reaction goes to WhatsApp and is kept on the message it reacts to (dados.reacao_enviada),
    never as a message of its own; an empty emoji removes it."""
    from chalicelib.whatsapp.graph import GraphError, get_graph_client

    payload = {
        "recipient_type": "individual",
        **send_address(conversa),
        "type": "reaction",
        "reaction": {"message_id": alvo["whatsapp_id"], "emoji": pedido.emoji},
    }
    if _out_of_time(deadline):
        raise _out_of_time_error()
    graph = get_graph_client()
    progress.graph_called = True
    try:
        answer = graph.send_message(payload, timeout=_graph_timeout(graph.timeout, deadline))
    except GraphError as exc:
        progress.graph_called = False
        raise _reaction_error(exc) from exc
    wamid = str((answer.get("messages") or [{}])[0].get("id") or "")
    progress.whatsapp_id = wamid or None
    progress.mensagem_id = str(alvo["id"])
    with db.transaction():
        envios.set_reaction(str(alvo["id"]), pedido.emoji, admin_id, wamid)
        live_events.message_updated(alvo["id"])
    return SendResult(201, answer_body(str(alvo["id"]), progress.atribuida))


def _reaction_error(exc) -> ApiError:
    extra = {"whatsapp_error": {"code": exc.code, "message": exc.message}}
    if exc.code == CODE_WINDOW_CLOSED:
        return ApiError(409, "WindowClosed", "O WhatsApp recusou: a janela de 24 horas está fechada.", **extra)
    if exc.status is None:
        return ApiError(502, "WhatsAppUnavailable", "Não foi possível falar com o WhatsApp.", **extra)
    if 400 <= exc.status < 500 and exc.code in CODES_REJECTED_CONTENT:
        return ApiError(422, "WhatsAppRejected", f"O WhatsApp recusou a reação: {exc.message}", **extra)
    return ApiError(502, "WhatsAppError", f"O WhatsApp recusou a reação: {exc.message}", **extra)


def send_system_text(conversa_id: str, texto: str, motivo: str) -> str | None:
    """A text the system sends by itself (the away message): stored as outbound with no
    sender (enviado_por NULL, dados.sistema = motivo), only inside the window, never assigning
    the conversation. Returns the message id, None when the window or the contact forbid it."""
    with db.transaction():
        conversa = envios.lock_conversa(conversa_id)
        if conversa is None or conversa["status"] != "ativa" or conversa["anonimizado"]:
            return None
        gratis = _free_entry_point(conversa)
        if not conversa["janela_aberta"]:
            return None
        novo = _prepare(EnviarTexto(tipo="texto", conteudo=texto), conversa, None)
        novo["row"]["dados"]["sistema"] = motivo
        if gratis:
            novo["row"]["dados"]["free_entry_point"] = True
        mensagem = envios.insert_pendente(conversa_id=conversa_id, admin_id=None, **novo["row"])
        live_events.message_new(mensagem["id"])
        live_events.conversation_updated(conversa_id)
    progress = _Progress(mensagem_id=str(mensagem["id"]))
    _deliver(mensagem, novo, None, time.monotonic() + REQUEST_BUDGET_SECONDS, progress)
    return str(mensagem["id"])


def _ensure_can_send(conversa_id: str, admin_id: str) -> None:
    # Owned by the assignment service: raises 409 AssignedToOther, or takes an unassigned
    # conversation (eventos row included). Called inside our transaction, so a send refused
    # later (window, template) takes nothing; it then leaves the live event to us.
    from chalicelib.services import assignment

    assignment.ensure_can_send(conversa_id, admin_id)


# Preparing each kind ----------------------------------------------------------------------
def send_address(conversa: dict[str, Any]) -> dict[str, str]:
    """Where the Graph payload sends: `to`, WhatsApp's own id for the contact when known (it
    may lack a Brazilian ninth digit) or its phone; a contact without a phone (a username
    user, 0010) by its BSUID in `recipient`. With both, only the phone: Meta recommends it
    (`to` wins over `recipient` anyway) and it keeps phone numbers in the webhooks."""
    if conversa["wa_id"] or conversa["telefone"]:
        return {"to": conversa["wa_id"] or conversa["telefone"].lstrip("+")}
    return {"recipient": conversa["bsuid"]}


def _prepare(pedido: Pedido, conversa: dict[str, Any], media: dict[str, Any] | None) -> dict[str, Any]:
    """The row to store and the Graph payload (media: without the id, known after upload)."""
    to = send_address(conversa)
    if isinstance(pedido, EnviarTexto):
        return {
            "row": {
                "tipo": "texto",
                "conteudo": pedido.conteudo,
                "billing_category": window.estimate_billing_category("texto", None),
                "dados": {},
            },
            "payload": {
                **to,
                "type": "text",
                "text": {"body": pedido.conteudo, "preview_url": "http" in pedido.conteudo},
            },
        }
    if isinstance(pedido, EnviarMedia):
        return {
            "row": {
                "tipo": "media",
                "conteudo": pedido.caption or "",
                "billing_category": window.estimate_billing_category("media", None),
                "dados": {"media": {k: v for k, v in media.items() if k != "bucket"}},
                "media_type": pedido.media_type,
                "media_url": media["key"],
                "media_mime": pedido.mime_type,
            },
            "payload": {**to, "type": pedido.media_type},
        }
    template = envios.get_template(pedido.name, pedido.language)
    if template is None:
        raise ApiError(
            422,
            "ValidationError",
            f"Template {pedido.name} ({pedido.language}) não encontrado.",
            field="name",
        )
    if template["status"] != "approved":
        raise ApiError(
            409,
            "TemplateNotApproved",
            f"O template {pedido.name} ({pedido.language}) não está aprovado (status: {template['status']}).",
            template_status=template["status"],
        )
    if template["category"] == "marketing" and _opted_out(conversa):
        raise ApiError(409, "OptedOut", "O contato recusou mensagens de marketing.")
    valores = match_parameters(template_variables(template), pedido.parametros)
    return {
        "row": {
            "tipo": "template",
            "conteudo": render_template_text(template, valores),
            "billing_category": window.estimate_billing_category("template", template["category"]),
            "template_id": str(template["id"]),
            "dados": {
                "template": {
                    "name": template["name"],
                    "language": template["language"],
                    "category": template["category"],
                    "parametros": [
                        {"component": v["component"], "name": v["name"], "valor": v["valor"]} for v in valores
                    ],
                }
            },
        },
        "payload": {
            **to,
            "type": "template",
            "template": {
                "name": template["name"],
                "language": {"code": template["language"]},
                **({"components": template_components(template, valores)} if valores else {}),
            },
        },
    }


def _opted_out(conversa: dict[str, Any]) -> bool:
    """An explicit refusal: consent recorded at some point (opt_in_at) and now withdrawn.

    A contact who never answered either way (opt_in_at NULL) is not opted out.
    """
    return conversa["opt_in_status"] is False and conversa["opt_in_at"] is not None


# Templates --------------------------------------------------------------------------------
def _well_formed(variables: Any) -> bool:
    return isinstance(variables, list) and all(
        isinstance(v, dict) and isinstance(v.get("component"), str) and isinstance(v.get("name"), (str, int))
        for v in variables
    )


def template_variables(template: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{component, name}]` in template order: the synced `variables`, else from components.

    A row whose `variables` are malformed (edited by hand, an old sync) is read from its
    components instead; the next sync rewrites it."""
    variables = template.get("variables") or []
    if not _well_formed(variables):
        logger.warning("template variables malformed; using its components", extra={"template": template.get("name")})
        variables = []
    if not variables and template.get("components"):
        from chalicelib.services.templates import extract_body_and_variables

        try:
            _, variables = extract_body_and_variables(template["components"])
        except (KeyError, TypeError, AttributeError, ValueError):
            raise ApiError(
                422,
                "ValidationError",
                f"O template {template.get('name')} está com a definição inválida; sincronize os templates.",
                field="name",
            ) from None
    if not variables and isinstance(template.get("body"), str):
        seen: list[str] = []
        for name in _PLACEHOLDER.findall(template["body"]):
            if name not in seen:
                seen.append(name)
        variables = [{"component": "body", "name": n} for n in seen]
    return [{"component": str(v["component"]).lower(), "name": str(v["name"])} for v in variables]


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _parameter_error(message: str, variables: list[dict[str, Any]]) -> ApiError:
    esperado = [f"{v['component']}.{v['name']}" for v in variables]
    return ApiError(422, "ValidationError", message, field="parametros", esperado=esperado)


def match_parameters(variables: list[dict[str, Any]], parametros: list[str] | dict[str, str]) -> list[dict[str, Any]]:
    """Each template variable with its value; 422 naming what the template expects."""
    if isinstance(parametros, list):
        if len(parametros) != len(variables):
            raise _parameter_error(
                f"O template espera {len(variables)} parâmetro(s); foram enviados {len(parametros)}.", variables
            )
        valores = [{**v, "valor": p} for v, p in zip(variables, parametros, strict=True)]
    else:
        by_name: dict[str, list[dict[str, Any]]] = {}
        for v in variables:
            by_name.setdefault(v["name"], []).append(v)
        chosen: dict[tuple[str, str], str] = {}
        for key, value in parametros.items():
            component, _, name = key.rpartition(".")
            if component:
                matches = [v for v in variables if v["component"] == component and v["name"] == name]
            else:
                matches = by_name.get(name, [])
                if len(matches) > 1:
                    raise _parameter_error(
                        f"O parâmetro {name} existe em mais de uma parte do template: use componente.nome.", variables
                    )
            if not matches:
                raise _parameter_error(f"O template não tem o parâmetro {key}.", variables)
            ident = (matches[0]["component"], matches[0]["name"])
            if ident in chosen:
                raise _parameter_error(f"O parâmetro {key} foi informado duas vezes.", variables)
            chosen[ident] = value
        missing = [f"{v['component']}.{v['name']}" for v in variables if (v["component"], v["name"]) not in chosen]
        if missing:
            raise _parameter_error(f"Faltam parâmetros do template: {', '.join(missing)}.", variables)
        valores = [{**v, "valor": chosen[(v["component"], v["name"])]} for v in variables]
    for v in valores:
        text = str(v["valor"]).strip()
        # Meta refuses empty parameters and ones with line breaks or tabs (132018).
        if not text or len(text) > PARAM_MAX or re.search(r"[\n\t]| {5,}", text):
            raise _parameter_error(
                f"Valor inválido para {v['component']}.{v['name']}: não pode ser vazio, ter quebras de linha,"
                f" tabulações nem mais de {PARAM_MAX} caracteres.",
                variables,
            )
        v["valor"] = text
    return valores


def _is_named(valores: list[dict[str, Any]], component: str) -> bool:
    return any(not v["name"].isdigit() for v in valores if v["component"] == component)


def _text_parameters(valores: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    named = _is_named(valores, component)
    return [
        {"type": "text", "text": v["valor"], **({"parameter_name": v["name"]} if named else {})}
        for v in valores
        if v["component"] == component
    ]


def template_components(template: dict[str, Any], valores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Meta's `components` for the send: header and body text parameters, URL button suffixes."""
    components: list[dict[str, Any]] = []
    for kind in ("header", "body"):
        parameters = _text_parameters(valores, kind)
        if parameters:
            components.append({"type": kind, "parameters": parameters})
    buttons = [v for v in valores if v["component"] == "button"]
    if buttons:
        # A URL button's parameter is addressed by the button's position among all buttons.
        url_indexes = []
        for component in template.get("components") or []:
            if str(component.get("type", "")).lower() == "buttons":
                for index, button in enumerate(component.get("buttons") or []):
                    if str(button.get("type", "")).upper() == "URL" and _PLACEHOLDER.search(button.get("url") or ""):
                        url_indexes.append(index)
        for position, v in enumerate(buttons):
            index = url_indexes[position] if position < len(url_indexes) else position
            components.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [{"type": "text", "text": v["valor"]}],
                }
            )
    return components


def render_template_text(template: dict[str, Any], valores: list[dict[str, Any]]) -> str:
    """The body as the customer reads it, for the conversation history."""
    body = template.get("body") or ""
    values = {v["name"]: v["valor"] for v in valores if v["component"] == "body"}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body) or template["name"]


# Media ------------------------------------------------------------------------------------
def _check_media(admin_id: str, pedido: EnviarMedia) -> dict[str, Any]:
    """The uploaded object exists, is within WhatsApp's limits and is what it claims to be."""
    from chalicelib.config import get_settings
    from chalicelib.services import media_uploads
    from chalicelib.services.media_storage import head_object

    key = pedido.key or media_uploads.upload_key(admin_id, str(pedido.upload_id))
    # Only the caller's own uploads: a key is a path in the media bucket, and anything else in
    # it (received media, another attendant's files) must not be sendable by naming it.
    own_prefix = media_uploads.upload_key(admin_id, "")
    if not key.startswith(own_prefix) or len(key) == len(own_prefix) or ".." in key:
        raise ApiError(422, "ValidationError", "key deve ser uma key sua de POST /media/uploads.", field="key")
    media_uploads.check_declared(pedido.media_type, pedido.mime_type, pedido.voz, field_prefix="")
    bucket = get_settings().media_bucket
    head = head_object(bucket, key)
    if head is None:
        raise ApiError(
            422,
            "ValidationError",
            "Arquivo não encontrado: envie-o antes pela URL de POST /media/uploads.",
            field="key",
        )
    media_uploads.check_declared_size(bucket, key, head, "key" if pedido.key else "upload_id")
    size = int(head.get("ContentLength") or 0)
    media_uploads.check_size(pedido.media_type, size)
    first_bytes = _read_head(bucket, key, 64)
    media_uploads.check_content(pedido.media_type, pedido.mime_type, first_bytes)
    media_uploads.mark_sent(bucket, key)
    filename = pedido.filename or key.rsplit("/", 1)[-1]
    return {
        "bucket": bucket,
        "key": key,
        "filename": filename,
        "size_bytes": size,
        "voz": pedido.voz,
        "caption": pedido.caption,
    }


def _read_head(bucket: str, key: str, length: int) -> bytes:
    from chalicelib.services.media_urls import s3_client

    body = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"]
    try:
        return body.read()
    finally:
        body.close()


def _upload_to_graph(graph, media: dict[str, Any], mime_type: str, deadline: float) -> str:
    """S3 object → Graph /media; memory stays bounded (spooled to /tmp above 8 MB)."""
    from chalicelib.services.media_urls import s3_client
    from chalicelib.whatsapp.graph import DOWNLOAD_TIMEOUT

    body = s3_client().get_object(Bucket=media["bucket"], Key=media["key"])["Body"]
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        try:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                spool.write(chunk)
        finally:
            body.close()
        spool.seek(0)
        return graph.upload_media(
            spool, media["filename"], mime_type, timeout=_graph_timeout(DOWNLOAD_TIMEOUT, deadline)
        )


def _media_payload(pedido_payload: dict[str, Any], row: dict[str, Any], media: dict[str, Any], media_id: str):
    kind = row["media_type"]
    content: dict[str, Any] = {"id": media_id}
    if media.get("caption") and kind in ("image", "video", "document"):
        content["caption"] = media["caption"]
    if kind == "document":
        content["filename"] = media["filename"]
    return {**pedido_payload, kind: content}


# Delivering -------------------------------------------------------------------------------
class _OutOfTime(Exception):
    """Too little of the request's budget is left to start a Graph call."""


def _out_of_time(deadline: float) -> bool:
    return time.monotonic() + MIN_GRAPH_SECONDS > deadline


def _graph_timeout(base: tuple[float, float], deadline: float) -> tuple[float, float]:
    """(connect, read) timeouts `base`, cut so the next Graph call cannot outlive the budget."""
    remaining = max(1.0, deadline - time.monotonic() - 1.5)
    connect, read = base
    return (min(connect, remaining), min(read, remaining))


def _out_of_time_error(**extra: Any) -> ApiError:
    return ApiError(
        504,
        "WhatsAppUnavailable",
        "O envio demorou demais e a mensagem não foi enviada; tente novamente.",
        headers={"Retry-After": "1"},
        **extra,
    )


def _deliver(
    mensagem: dict[str, Any],
    novo: dict[str, Any],
    media: dict[str, Any] | None,
    deadline: float,
    progress: _Progress,
) -> SendResult:
    from chalicelib.whatsapp.graph import GraphError, get_graph_client

    mensagem_id = str(mensagem["id"])
    graph = get_graph_client()
    sending_now = False  # a timeout of the upload sent nothing; one of the send may have
    try:
        payload = novo["payload"]
        extra: dict[str, Any] = {}
        if media is not None:
            if _out_of_time(deadline):
                raise _OutOfTime("before the media upload")
            media_id = _upload_to_graph(graph, media, novo["row"]["media_mime"], deadline)
            extra["whatsapp_media_id"] = media_id
            payload = _media_payload(payload, novo["row"], media, media_id)
        if _out_of_time(deadline):
            raise _OutOfTime("before the send" if media is None else "after a slow media upload")
        sending_now = progress.graph_called = True
        answer = graph.send_message(payload, timeout=_graph_timeout(graph.timeout, deadline))
        whatsapp_id = progress.whatsapp_id = str(answer["messages"][0]["id"])
    except GraphError as exc:
        # WhatsApp answered (a refusal: nothing sent, the key may be freed) or the answer was
        # lost (_failed gives a _StoredFailure, which keeps the key).
        progress.graph_called = False
        raise _failed(mensagem, exc, may_have_sent=sending_now) from exc
    except _OutOfTime as exc:
        # Nothing was sent: the message fails for sure and the idempotency key is freed.
        logger.warning("send not started: request budget spent", extra={"mensagem_id": mensagem_id, "at": str(exc)})
        _mark_failed_quietly(mensagem, {"type": "prazo_esgotado", "message": f"tempo esgotado {exc}"})
        raise _out_of_time_error(mensagem_id=mensagem_id) from None
    except Exception as exc:
        # Reading S3 or an unexpected Graph answer: the message must not stay pendente forever.
        logger.exception("send failed before WhatsApp answered", extra={"mensagem_id": mensagem_id})
        erro = {"message": str(exc), "type": type(exc).__name__}
        if sending_now:
            erro["incerto"] = True  # the request reached WhatsApp: it may have taken the message
        _mark_failed_quietly(mensagem, erro)
        raise
    contact = (answer.get("contacts") or [{}])[0]
    if contact.get("wa_id"):
        extra["wa_id"] = contact["wa_id"]
    try:
        with db.transaction():
            # Same lock a status webhook for this wamid takes: it cannot slip between these steps.
            envios.lock_whatsapp_id(whatsapp_id)
            envios.mark_sent(mensagem_id, whatsapp_id, extra)
            _apply_pending_statuses([whatsapp_id])
            live_events.message_status(mensagem_id)
            live_events.conversation_updated(mensagem["conversa_id"])  # its last message moved on
    except Exception as exc:
        # WhatsApp has the message: a retry with the same key must not send it again.
        logger.exception("sent but not recorded", extra={"mensagem_id": mensagem_id, "whatsapp_id": whatsapp_id})
        raise _StoredFailure(
            500,
            "InternalError",
            "A mensagem foi enviada, mas o registro do envio falhou.",
            mensagem_id=mensagem_id,
            whatsapp_id=whatsapp_id,
        ) from exc
    return SendResult(201, answer_body(mensagem_id, progress.atribuida))


def answer_body(mensagem_id: str, atribuida: bool) -> dict[str, Any]:
    """The 201 of a send (and of its replays): the message as the message list shows it."""
    from chalicelib.repositories import inbox as inbox_repo
    from chalicelib.services.inbox import shape_mensagem

    rows = inbox_repo.mensagens_by_ids([mensagem_id])
    if not rows:  # anonymised since: the send happened, the text is gone
        return {"mensagem": {"id": mensagem_id}, "atribuida": atribuida}
    return {"mensagem": jsonable(shape_mensagem(rows[0])), "atribuida": atribuida}


def _apply_pending_statuses(whatsapp_ids: list[str]) -> None:
    # Owned by the webhook stream: statuses that arrived before we knew the wamid.
    from chalicelib.repositories import mensagens

    mensagens.apply_pending_statuses(whatsapp_ids)


def _failed(mensagem: dict[str, Any], exc, may_have_sent: bool) -> ApiError:
    """Mark the message falhou with Meta's error, and say what the client must do."""
    erro = {k: v for k, v in exc.as_dict().items() if v is not None}
    ambiguous = may_have_sent and exc.status is None and "timeout" in exc.message.lower()
    if ambiguous:
        # WhatsApp may have accepted it: never send again for the same key.
        erro["incerto"] = True
    _mark_failed_quietly(mensagem, erro)
    extra = {"mensagem_id": str(mensagem["id"]), "whatsapp_error": {"code": exc.code, "message": exc.message}}
    cls = _StoredFailure if ambiguous else ApiError
    code = exc.code
    if code == CODE_WINDOW_CLOSED:
        try:
            with db.transaction():
                envios.close_window_now(str(mensagem["conversa_id"]))
                live_events.conversation_updated(mensagem["conversa_id"])  # the composer greys out now
        except Exception:  # noqa: BLE001 - the answer is the same; the expiry job catches up
            logger.exception("could not close the window after 131047")
        error = ApiError(
            409,
            "WindowClosed",
            "O WhatsApp recusou: a janela de 24 horas está fechada. Envie um template aprovado.",
            **extra,
        )
    elif code in CODES_RATE_LIMIT or exc.status == 429:
        retry_after = exc.retry_after if exc.retry_after else CODES_RATE_LIMIT.get(code, 2.0)
        seconds = max(1, round(retry_after))
        error = ApiError(
            429,
            "RateLimited",
            f"Limite de envio do WhatsApp atingido; tente novamente em {seconds} s.",
            headers={"Retry-After": str(seconds)},
            retry_after=seconds,
            **extra,
        )
    elif code in CODES_TEMPLATE_MISMATCH:
        error = ApiError(
            422,
            "ValidationError",
            f"O WhatsApp recusou o template: {exc.message}",
            field=CODES_TEMPLATE_MISMATCH[code],
            **extra,
        )
    elif code == CODE_TOKEN_EXPIRED:
        # Nobody can send until an operator renews the token: this must page someone.
        logger.error(
            f"{ALARM_MARKER}: Graph API rejected the access token (code 190); sending is down",
            extra={"alarm": "whatsapp_access_token_invalid", "graph_error": erro},
        )
        error = ApiError(
            502, "WhatsAppAuthError", "O WhatsApp recusou as credenciais do sistema; avise o administrador.", **extra
        )
    elif exc.status is None:
        error = cls(
            504 if ambiguous else 502,
            "WhatsAppUnavailable",
            "O WhatsApp não respondeu a tempo." if ambiguous else "Não foi possível falar com o WhatsApp.",
            **extra,
        )
    elif 400 <= exc.status < 500 and code in CODES_REJECTED_CONTENT:
        error = ApiError(422, "WhatsAppRejected", f"O WhatsApp recusou a mensagem: {exc.message}", **extra)
    else:
        error = ApiError(502, "WhatsAppError", f"O WhatsApp recusou a mensagem: {exc.message}", **extra)
    return error


def _mark_failed_quietly(mensagem: dict[str, Any], erro: dict[str, Any]) -> None:
    """falhou with the reason, announced (message:updated and its red tick)."""
    try:
        with db.transaction():
            envios.mark_failed(str(mensagem["id"]), erro)
            live_events.message_updated(mensagem["id"])
            live_events.message_status(mensagem["id"])
    except Exception:  # noqa: BLE001 - the answer to the client matters more; the row stays pendente
        logger.exception("could not mark message falhou", extra={"mensagem_id": str(mensagem["id"])})


# Idempotency ------------------------------------------------------------------------------
def _request_hash(conversa_id: str, pedido: Pedido) -> str:
    canonical = json.dumps(
        {"conversa_id": conversa_id, "pedido": pedido.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim_or_replay(admin_id: str, chave: str, request_hash: str, conversa_id: str) -> SendResult | None:
    """None when this request owns the key; else the first request's stored answer."""
    deadline = time.monotonic() + IDEMPOTENCY_WAIT_SECONDS
    while True:
        try:
            claimed = envios.claim_key(admin_id, chave, request_hash, conversa_id)
        except Exception as exc:
            # The key row references the conversation: an unknown id is a 404, not a 500.
            if exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("C") == "23503":
                raise ApiError(404, "NotFoundError", "Conversa não encontrada.") from exc
            raise
        if claimed:
            return None
        row = envios.get_key(admin_id, chave)
        if row is None:
            continue  # released between our INSERT and SELECT: claim again
        if row["request_hash"].strip() != request_hash:
            raise ApiError(
                422,
                "ValidationError",
                "Esta Idempotency-Key já foi usada para outra requisição.",
                field="Idempotency-Key",
            )
        if row["status_code"] is not None:
            body = row["resposta"]
            if int(row["status_code"]) == 201 and row["mensagem_id"]:
                # Read again: the status moved on since, and stored presigned URLs expire.
                body = answer_body(str(row["mensagem_id"]), bool((body or {}).get("atribuida")))
            headers = {**(row["resposta_headers"] or {}), "Idempotent-Replayed": "true"}
            return SendResult(int(row["status_code"]), body, headers)
        stale = (datetime.now(UTC) - row["created_at"]).total_seconds() > IDEMPOTENCY_STALE_SECONDS
        if stale or time.monotonic() >= deadline:
            raise ApiError(
                409,
                "IdempotencyInProgress",
                "Uma requisição com esta Idempotency-Key ainda está em andamento.",
                headers={"Retry-After": "2"},
                mensagem_id=row["mensagem_id"],
            )
        time.sleep(IDEMPOTENCY_POLL_SECONDS)


def _complete_key_quietly(admin_id: str, chave: str, status: int, body: Any, headers: dict[str, str]) -> None:
    try:
        envios.complete_key(admin_id, chave, status, jsonable(body), headers)
    except Exception:  # noqa: BLE001 - the send happened; a retry will find the key in progress
        logger.exception("could not store idempotent response", extra={"chave": chave})


def _release_key_quietly(admin_id: str, chave: str) -> None:
    try:
        envios.release_key(admin_id, chave)
    except Exception:  # noqa: BLE001
        logger.exception("could not release idempotency key", extra={"chave": chave})


def _uuid_or_404(value: str) -> str:
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise ApiError(404, "NotFoundError", "Conversa não encontrada.") from None
