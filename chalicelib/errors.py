"""The catalogue of error codes: every 4xx/5xx the API, the webhook and the gateway answer is
`{"Code": <one of these>, "Message": <Portuguese>}` (plus fields a code documents, such as
ValidationError's `field`). A client acts on the Code; the Message is for people.

`chalicelib.http.ApiError` refuses a code that is not here, so a new one is added here first,
with its status and the message used when the raiser gives none.
"""

from __future__ import annotations

# code → (HTTP status, default message)
CODES: dict[str, tuple[int, str]] = {
    # The request itself
    "BadRequestError": (400, "Requisição inválida."),
    "ValidationError": (422, "Dados inválidos."),
    "PayloadTooLarge": (413, "O corpo da requisição é grande demais."),
    "UnsupportedMediaType": (415, "Tipo de conteúdo não suportado: envie application/json."),
    "MethodNotAllowed": (405, "Método não permitido nesta rota."),
    "NotFoundError": (404, "Recurso não encontrado."),
    # Who is asking
    "Unauthorized": (401, "Token ausente, inválido ou expirado: entre novamente."),
    "InvalidCredentials": (401, "E-mail ou senha incorretos."),
    "TooManyRequests": (429, "Muitas tentativas; aguarde e tente novamente."),
    "ForbiddenError": (403, "Acesso negado."),
    # The conversation's state (409: the client shows why and refreshes)
    "Conflict": (409, "O recurso mudou enquanto a operação era feita; tente novamente."),
    "AssignedToOther": (409, "Esta conversa já está sendo atendida por outro atendente."),
    "NotAssigned": (409, "Esta conversa não está atribuída a ninguém."),
    "ConversationClosed": (409, "Esta conversa está encerrada."),
    "ConversationActive": (409, "Esta conversa já está ativa."),
    "ActiveConversationExists": (409, "Este contato já tem outra conversa ativa."),
    "ContactAnonymized": (409, "O contato foi anonimizado."),
    "EmailInUse": (409, "Este e-mail já está em uso."),
    "ShortcutInUse": (409, "Este atalho de resposta rápida já existe."),
    "IdempotencyInProgress": (409, "Uma requisição com esta Idempotency-Key ainda está em andamento."),
    # WhatsApp's rules
    "WindowClosed": (409, "A janela de 24 horas está fechada: envie um template aprovado."),
    "OptedOut": (409, "O contato recusou mensagens de marketing."),
    "TemplateNotApproved": (409, "O template não está aprovado."),
    "WhatsAppRejected": (422, "O WhatsApp recusou a mensagem."),
    "RateLimited": (429, "Limite de envio do WhatsApp atingido; tente novamente em instantes."),
    "WhatsAppAuthError": (502, "O WhatsApp recusou as credenciais do sistema; avise o administrador."),
    "WhatsAppError": (502, "O WhatsApp recusou a mensagem."),
    "WhatsAppUnavailable": (504, "O WhatsApp não respondeu a tempo."),
    # Our side
    "InternalError": (500, "Erro interno; tente novamente."),
    "MediaQueueUnavailable": (500, "Fila de mídia indisponível; tente novamente."),
    "ServiceUnavailable": (503, "Serviço indisponível no momento; tente novamente em instantes."),
    "StorageUnavailable": (503, "Armazenamento de arquivos indisponível; tente novamente em instantes."),
    "PushNotConfigured": (503, "Notificações não estão configuradas neste ambiente."),
}

# Chalice's own error codes (405, 415, an unhandled exception...) and what we answer instead.
CHALICE_CODES = {
    "BadRequestError": "BadRequestError",
    "BadRequest": "BadRequestError",
    "UnauthorizedError": "Unauthorized",
    "ForbiddenError": "ForbiddenError",
    "NotFoundError": "NotFoundError",
    "MethodNotAllowedError": "MethodNotAllowed",
    "RequestTimeoutError": "ServiceUnavailable",
    "ConflictError": "Conflict",
    "UnprocessableEntityError": "ValidationError",
    "TooManyRequestsError": "TooManyRequests",
    "UnsupportedMediaType": "UnsupportedMediaType",
    "InternalServerError": "InternalError",
    "ChaliceViewError": "InternalError",
}

# What API Gateway answers by itself (no Lambda involved), by gateway response type: the
# deployed API gets these bodies from infra/chalice-merge.json's GatewayResponses, and the
# local gateway (make run, tests) from devstack.gateway; a test keeps the three equal.
GATEWAY_RESPONSES: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (401, "Unauthorized"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "NotFoundError"),  # API Gateway's answer to an unknown route
    "INVALID_SIGNATURE": (404, "NotFoundError"),  # ...when it carries an Authorization header
    "AUTHORIZER_FAILURE": (500, "InternalError"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "InternalError"),
    "REQUEST_TOO_LARGE": (413, "PayloadTooLarge"),
    "THROTTLED": (429, "TooManyRequests"),
    "INTEGRATION_TIMEOUT": (504, "ServiceUnavailable"),
    "DEFAULT_4XX": (400, "BadRequestError"),
    "DEFAULT_5XX": (500, "InternalError"),
}
ROUTE_NOT_FOUND_MESSAGE = "Rota não encontrada."


def status_of(code: str) -> int:
    return CODES[code][0]


def message_of(code: str) -> str:
    return CODES[code][1]


def envelope(code: str, message: str | None = None) -> dict[str, str]:
    return {"Code": code, "Message": message or message_of(code)}
