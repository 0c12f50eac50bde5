"""Sends nobody will finish: run by the window-expiry schedule (handle_window_expiry).

A Lambda killed between storing an outbound message as `pendente` and WhatsApp's answer
leaves the message pendente forever and its Idempotency-Key "in progress" (409) for 24 h.
After UNCONFIRMED_AFTER (far beyond a send's 25 s budget and its Lambda's timeout) such a
message fails as `sem_confirmacao`, marked `incerto`: WhatsApp may have taken it, so its key
is completed with that failure and a retry replays it instead of sending twice. The same run
applies orphan statuses whose message exists by now (mensagens.apply_pending_statuses).
"""

from __future__ import annotations

from chalicelib import db
from chalicelib.observability import logger
from chalicelib.repositories import envios, mensagens
from chalicelib.services import live_events

UNCONFIRMED_AFTER = "2 minutes"
# Normally none; a cap keeps one run bounded after an outage.
BATCH_LIMIT = 1_000
# A status parked for a message we never stored (sent from elsewhere, or lost) is kept as long
# as WhatsApp might still deliver the message's own webhook (it retries for up to 7 days),
# then pruned: it holds a recipient's number.
ORPHAN_STATUS_DAYS = 7

ERRO = {
    "type": "sem_confirmacao",
    "incerto": True,
    "message": (
        "O envio foi interrompido antes da confirmação do WhatsApp: a mensagem pode ter sido "
        "entregue. Confira com o contato antes de enviar de novo."
    ),
}
# What a retry with the same Idempotency-Key gets back (as sending's ambiguous timeout: 504).
STATUS_CODE = 504
RESPOSTA = {"Code": "WhatsAppUnavailable", "Message": ERRO["message"], "incerto": True}


def sweep_unconfirmed_sends() -> dict[str, int]:
    """Fail the stuck sends and apply waiting statuses; counts of each."""
    with db.transaction():
        # First the sends WhatsApp did accept (their wamid survived in the idempotency record).
        recuperadas = envios.recover_sent(BATCH_LIMIT)
        for row in recuperadas:
            live_events.message_status(row["id"])
        falhas = envios.fail_unconfirmed(
            older_than=UNCONFIRMED_AFTER, erro=ERRO, status_code=STATUS_CODE, resposta=RESPOSTA, limit=BATCH_LIMIT
        )
        for row in falhas:
            live_events.message_updated(row["id"])
            live_events.message_status(row["id"])
    chaves = int(falhas[0]["chaves_concluidas"]) if falhas else 0
    podadas = mensagens.prune_orphan_statuses(ORPHAN_STATUS_DAYS, BATCH_LIMIT * 10)
    with db.transaction():
        statuses = mensagens.apply_pending_statuses(None)
        for status in statuses:
            live_events.message_status(status.get("mensagem_id") or status["id"])
    if falhas:
        logger.warning(
            "unconfirmed sends failed",
            extra={"mensagens": [str(r["id"]) for r in falhas], "chaves": chaves},
        )
    return {
        "envios_recuperados": len(recuperadas),
        "envios_sem_confirmacao": len(falhas),
        "chaves_concluidas": chaves,
        "statuses_aplicados": len(statuses),
        "statuses_orfaos_removidos": podadas,
    }
