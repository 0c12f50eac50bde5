"""Sending messages to a contact: text, media and templates, through the Graph API.

The order matters and is the point of this module:
1. validate (window, assignment, template, opt-out) and store the message as `pendente`
   with its sender, in one committed transaction, so the attempt exists whatever happens
   next (a Lambda timeout, a crash) and the browsers see it at once;
2. call the Graph API (media: S3 object → Graph /media upload → send by id), with the
   client's timeouts, outside any transaction, and only while the request's budget lasts;
3. on success store the wamid and apply any status webhook that raced ahead of it; on
   failure mark it `falhou` keeping Meta's error, and answer with the mapped error.

An `Idempotency-Key` makes a retried request answer the first result instead of sending
twice: the key is claimed before anything else happens (chalicelib.services.idempotency).
Around the send: the request models (chalicelib.api_models), template parameters
(chalicelib.services.templates), the uploaded file's checks and its Graph upload
(chalicelib.services.media_uploads), Graph errors → API errors (chalicelib.services.graph_errors).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chalicelib import db, metrics
from chalicelib.api_models import (
    EnviarMedia,
    EnviarMensagemIn,
    EnviarMensagemOut,
    EnviarReacao,
    EnviarTemplate,
    EnviarTexto,
    Pedido,
)
from chalicelib.http import ApiError, jsonable
from chalicelib.observability import logger
from chalicelib.repositories import conversas, envios, mensagens
from chalicelib.repositories import inbox as inbox_repo
from chalicelib.services import assignment, graph_errors, idempotency, live_events, media_uploads, window
from chalicelib.services.idempotency import SendResult, StoredFailure
from chalicelib.services.inbox import shape_mensagem
from chalicelib.services.templates import (
    match_parameters,
    render_template_text,
    template_components,
    template_variables,
)

__all__ = [
    "EnviarMedia",
    "EnviarMensagemIn",
    "EnviarMensagemOut",
    "EnviarReacao",
    "EnviarTemplate",
    "EnviarTexto",
    "Pedido",
    "SendResult",
    "answer_body",
    "send",
    "send_address",
    "send_system_text",
]

# API Gateway answers 504 at 29 s while the Lambda runs on: a message sent after that reaches
# the customer although the attendant saw an error (and sends it again). So no Graph call starts
# once fewer than MIN_GRAPH_SECONDS are left of this budget, counted from when the send began
# (a cold start has already spent some of API Gateway's 29 s; the last seconds are for recording
# the result). Each call's own read timeout, 20 s for a send and 60 s for an upload in
# chalicelib.whatsapp.graph, still applies once a call has started.
REQUEST_BUDGET_SECONDS = 25.0
MIN_GRAPH_SECONDS = 5.0


@dataclass
class _Progress:
    """How far a send got: once the Graph call started, its idempotency key is never freed
    (WhatsApp may have, or has, the message), whatever fails afterwards."""

    mensagem_id: str | None = None
    atribuida: bool = False
    graph_called: bool = False
    whatsapp_id: str | None = None


# Entry point ------------------------------------------------------------------------------
def send(conversa_id: str, admin_id: str, pedido: Pedido, idempotency_key: str | None = None) -> SendResult:
    """Send one message; counts MessagesSent / SendsFailed for the dashboard."""
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
    request_hash = idempotency.request_hash(conversa_id, pedido)
    # The key's row references the conversation: an unknown one is a 404, not a foreign-key 500.
    if not conversas.exists(conversa_id):
        raise ApiError(404, "NotFoundError", "Conversa não encontrada.")
    replay = idempotency.claim_or_replay(admin_id, chave, request_hash, conversa_id, answer_body)
    if replay is not None:
        return replay
    progress = _Progress()
    try:
        result = _send(conversa_id, admin_id, pedido, chave, deadline, progress)
    except StoredFailure as exc:
        idempotency.complete_quietly(admin_id, chave, exc.status, exc.to_response().body, exc.headers)
        raise
    except BaseException:
        if progress.whatsapp_id:
            # WhatsApp accepted it and something after that failed: a retry replays the
            # message (re-read when replayed), it never sends again.
            body = {"mensagem": {"id": progress.mensagem_id}, "atribuida": progress.atribuida}
            idempotency.complete_quietly(admin_id, chave, 201, body, {})
        elif progress.graph_called:
            error = _uncertain_error(progress.mensagem_id)
            idempotency.complete_quietly(admin_id, chave, error.status, error.to_response().body, error.headers)
        else:
            # Nothing reached WhatsApp: a retry may try again.
            idempotency.release_quietly(admin_id, chave)
        raise
    idempotency.complete_quietly(admin_id, chave, result.status, result.body, result.headers)
    return result


def _uncertain_error(mensagem_id: str | None) -> StoredFailure:
    return StoredFailure(
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
    media = media_uploads.check_for_send(admin_id, pedido) if isinstance(pedido, EnviarMedia) else None

    with db.transaction():
        conversa = envios.lock_conversa(conversa_id)
        if conversa is None:
            raise ApiError(404, "NotFoundError", "Conversa não encontrada.")
        if conversa["status"] != "ativa":
            raise ApiError(409, "ConversationClosed", "A conversa está encerrada: reabra-a para enviar.")
        if conversa["anonimizado"]:
            raise ApiError(409, "ContactAnonymized", "O contato foi anonimizado e não pode receber mensagens.")
        atendente_antes = conversa["atendente_id"]
        # 409 AssignedToOther, or takes an unassigned conversation (conversation:assigned at
        # our commit: a send refused below, for its window or template, takes nothing).
        assignment.ensure_can_send(conversa_id, admin_id)
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
        raise graph_errors.reaction_error(exc) from exc
    wamid = str((answer.get("messages") or [{}])[0].get("id") or "")
    progress.whatsapp_id = wamid or None
    progress.mensagem_id = str(alvo["id"])
    with db.transaction():
        envios.set_reaction(str(alvo["id"]), pedido.emoji, admin_id, wamid)
        live_events.message_updated(alvo["id"])
    return SendResult(201, answer_body(str(alvo["id"]), progress.atribuida))


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
    from chalicelib.whatsapp.graph import DOWNLOAD_TIMEOUT, GraphError, get_graph_client

    mensagem_id = str(mensagem["id"])
    graph = get_graph_client()
    sending_now = False  # a timeout of the upload sent nothing; one of the send may have
    try:
        payload = novo["payload"]
        extra: dict[str, Any] = {}
        if media is not None:
            if _out_of_time(deadline):
                raise _OutOfTime("before the media upload")
            media_id = media_uploads.upload_to_graph(
                graph, media, novo["row"]["media_mime"], _graph_timeout(DOWNLOAD_TIMEOUT, deadline)
            )
            extra["whatsapp_media_id"] = media_id
            payload = _media_payload(payload, novo["row"], media, media_id)
        if _out_of_time(deadline):
            raise _OutOfTime("before the send" if media is None else "after a slow media upload")
        sending_now = progress.graph_called = True
        answer = graph.send_message(payload, timeout=_graph_timeout(graph.timeout, deadline))
        whatsapp_id = progress.whatsapp_id = str(answer["messages"][0]["id"])
    except GraphError as exc:
        # WhatsApp answered (a refusal: nothing sent, the key may be freed) or the answer was
        # lost (_failed gives a StoredFailure, which keeps the key).
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
            mensagens.apply_pending_statuses([whatsapp_id])  # statuses that arrived before the wamid
            live_events.message_status(mensagem_id)
            live_events.conversation_updated(mensagem["conversa_id"])  # its last message moved on
    except Exception as exc:
        # WhatsApp has the message: a retry with the same key must not send it again.
        logger.exception("sent but not recorded", extra={"mensagem_id": mensagem_id, "whatsapp_id": whatsapp_id})
        raise StoredFailure(
            500,
            "InternalError",
            "A mensagem foi enviada, mas o registro do envio falhou.",
            mensagem_id=mensagem_id,
            whatsapp_id=whatsapp_id,
        ) from exc
    return SendResult(201, answer_body(mensagem_id, progress.atribuida))


def answer_body(mensagem_id: str, atribuida: bool) -> dict[str, Any]:
    """The 201 of a send (and of its replays): the message as the message list shows it."""
    rows = inbox_repo.mensagens_by_ids([mensagem_id])
    if not rows:  # anonymised since: the send happened, the text is gone
        return {"mensagem": {"id": mensagem_id}, "atribuida": atribuida}
    return {"mensagem": jsonable(shape_mensagem(rows[0])), "atribuida": atribuida}


def _failed(mensagem: dict[str, Any], exc, may_have_sent: bool) -> ApiError:
    """Mark the message falhou with Meta's error, and say what the client must do."""
    erro = {k: v for k, v in exc.as_dict().items() if v is not None}
    ambiguous = may_have_sent and exc.status is None and "timeout" in exc.message.lower()
    if ambiguous:
        # WhatsApp may have accepted it: never send again for the same key.
        erro["incerto"] = True
    _mark_failed_quietly(mensagem, erro)
    extra = {"mensagem_id": str(mensagem["id"]), "whatsapp_error": {"code": exc.code, "message": exc.message}}
    if exc.code == graph_errors.CODE_WINDOW_CLOSED:
        try:
            with db.transaction():
                envios.close_window_now(str(mensagem["conversa_id"]))
                live_events.conversation_updated(mensagem["conversa_id"])  # the composer greys out now
        except Exception:  # noqa: BLE001 - the answer is the same; the expiry job catches up
            logger.exception("could not close the window after 131047")
    return graph_errors.send_error(exc, ambiguous=ambiguous, erro=erro, **extra)


def _mark_failed_quietly(mensagem: dict[str, Any], erro: dict[str, Any]) -> None:
    """falhou with the reason, announced (message:updated and its red tick)."""
    try:
        with db.transaction():
            envios.mark_failed(str(mensagem["id"]), erro)
            live_events.message_updated(mensagem["id"])
            live_events.message_status(mensagem["id"])
    except Exception:  # noqa: BLE001 - the answer to the client matters more; the row stays pendente
        logger.exception("could not mark message falhou", extra={"mensagem_id": str(mensagem["id"])})


def _uuid_or_404(value: str) -> str:
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise ApiError(404, "NotFoundError", "Conversa não encontrada.") from None
