"""What a Graph API refusal means for the attendant's client: Meta's error codes → our API errors.

Pure mapping (plus the alarm log of an expired token): marking the message `falhou` and
closing the window after 131047 are the send's job (chalicelib.services.sending).
"""

from __future__ import annotations

from typing import Any

from chalicelib.http import ApiError
from chalicelib.observability import logger
from chalicelib.services.idempotency import StoredFailure
from chalicelib.services.window import window_closed_error

# Graph codes and what the attendant's client must do about them.
CODE_WINDOW_CLOSED = 131047
CODES_RATE_LIMIT = {130429: 2.0, 131056: 6.0}  # code → default Retry-After seconds
CODES_TEMPLATE_MISMATCH = {132000: "parametros", 132001: "language"}
CODE_TOKEN_EXPIRED = 190
# Request-content errors: the attendant can change what is sent.
CODES_REJECTED_CONTENT = {100, 131008, 131009, 131051, 131052, 131053, 132005, 132007, 132012, 132015, 132016, 132018}

ALARM_MARKER = "ALARM whatsapp_access_token_invalid"


def send_error(exc, *, ambiguous: bool, erro: dict[str, Any], **extra: Any) -> ApiError:
    """The answer to a send the Graph API refused (or did not answer: `ambiguous` when it may
    have taken the message, then the idempotency key keeps the answer). `erro` is what was
    stored on the message; `extra` goes into the answer's body."""
    cls = StoredFailure if ambiguous else ApiError
    code = exc.code
    if code == CODE_WINDOW_CLOSED:
        return window_closed_error(
            "O WhatsApp recusou: a janela de 24 horas está fechada. Envie um template aprovado.", **extra
        )
    if code in CODES_RATE_LIMIT or exc.status == 429:
        retry_after = exc.retry_after if exc.retry_after else CODES_RATE_LIMIT.get(code, 2.0)
        seconds = max(1, round(retry_after))
        return ApiError(
            429,
            "RateLimited",
            f"Limite de envio do WhatsApp atingido; tente novamente em {seconds} s.",
            headers={"Retry-After": str(seconds)},
            retry_after=seconds,
            **extra,
        )
    if code in CODES_TEMPLATE_MISMATCH:
        return ApiError(
            422,
            "ValidationError",
            f"O WhatsApp recusou o template: {exc.message}",
            field=CODES_TEMPLATE_MISMATCH[code],
            **extra,
        )
    if code == CODE_TOKEN_EXPIRED:
        # Nobody can send until an operator renews the token: this must page someone.
        logger.error(
            f"{ALARM_MARKER}: Graph API rejected the access token (code 190); sending is down",
            extra={"alarm": "whatsapp_access_token_invalid", "graph_error": erro},
        )
        return ApiError(
            502, "WhatsAppAuthError", "O WhatsApp recusou as credenciais do sistema; avise o administrador.", **extra
        )
    if exc.status is None:
        return cls(
            504 if ambiguous else 502,
            "WhatsAppUnavailable",
            "O WhatsApp não respondeu a tempo." if ambiguous else "Não foi possível falar com o WhatsApp.",
            **extra,
        )
    if 400 <= exc.status < 500 and code in CODES_REJECTED_CONTENT:
        return ApiError(422, "WhatsAppRejected", f"O WhatsApp recusou a mensagem: {exc.message}", **extra)
    return ApiError(502, "WhatsAppError", f"O WhatsApp recusou a mensagem: {exc.message}", **extra)


def reaction_error(exc) -> ApiError:
    """The answer to a reaction the Graph API refused: nothing was stored, nothing to keep."""
    extra = {"whatsapp_error": {"code": exc.code, "message": exc.message}}
    if exc.code == CODE_WINDOW_CLOSED:
        return window_closed_error("O WhatsApp recusou: a janela de 24 horas está fechada.", **extra)
    if exc.status is None:
        return ApiError(502, "WhatsAppUnavailable", "Não foi possível falar com o WhatsApp.", **extra)
    if 400 <= exc.status < 500 and exc.code in CODES_REJECTED_CONTENT:
        return ApiError(422, "WhatsAppRejected", f"O WhatsApp recusou a reação: {exc.message}", **extra)
    return ApiError(502, "WhatsAppError", f"O WhatsApp recusou a reação: {exc.message}", **extra)
