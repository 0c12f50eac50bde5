"""The 24-hour customer-service window and the billing category a send is expected to get.

Open iff `now() < window_expires_at`, evaluated by PostgreSQL at request time
(`chalicelib.repositories.conversas.JANELA_ABERTA_SQL` inside the query that reads the
conversation). Enforcement never
depends on the scheduled expiry job having run: a window that passed a second ago is
closed even if nobody announced it yet.
"""

from __future__ import annotations

from typing import Any

from chalicelib.http import ApiError

# Message kinds WhatsApp lets us send only inside the window.
TIPOS_SO_NA_JANELA = frozenset({"texto", "media", "reacao"})


WINDOW_CLOSED_MESSAGE = "A janela de 24 horas desta conversa está fechada: só é possível enviar um template aprovado."


def window_closed_error(message: str = WINDOW_CLOSED_MESSAGE, **extra: Any) -> ApiError:
    """409 WindowClosed: the window is closed by our clock (require_allowed) or WhatsApp said
    so (code 131047, chalicelib.services.graph_errors)."""
    return ApiError(409, "WindowClosed", message, **extra)


def require_allowed(tipo: str, conversa: dict[str, Any]) -> None:
    """Free text and media need an open window; templates may always be sent."""
    if tipo in TIPOS_SO_NA_JANELA and not conversa["janela_aberta"]:
        raise window_closed_error(window_expires_at=conversa.get("window_expires_at"))


def estimate_billing_category(tipo: str, template_category: str | None) -> str:
    """What the message is expected to be billed as; status webhooks' `pricing` corrects it.

    Non-template messages can only go inside the window: a service conversation. A
    template keeps its own category wherever it goes: a utility template inside the window
    is free of charge but is still reported by Meta as category utility.
    """
    if tipo == "template":
        if not template_category:
            raise ValueError("a template send needs the template's category")
        return template_category
    return "service"
