"""After the inbound webhook's commit: media jobs to the queue and the away message (live events
and Web Push leave through the outbox, chalicelib.services.outbox).

`handle_payload` is the whole webhook: parse (pure), store (one transaction), then this.
"""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger
from chalicelib.services import atendimento, media_jobs
from chalicelib.services.inbound.parsing import parse_payload, sanitize
from chalicelib.services.inbound.storage import StoreResult, store


class MediaQueueUnavailable(RuntimeError):
    """The media queue refused the jobs (answered 500 so Meta retries)."""


def _enqueue_media(result: StoreResult) -> None:
    """Raises when the queue refuses: the webhook answers 500, Meta retries, and the retry
    finds the message stored without media and enqueues again."""
    if not result.media_jobs:
        return

    jobs = []
    for job in result.media_jobs:
        try:
            jobs.append(media_jobs.MediaJob.model_validate(job))
        except Exception:  # noqa: BLE001 - a job that cannot be described is logged, not retried forever
            logger.exception("media job refused by its model", extra={"job": job})
    media_jobs.enqueue(jobs)


def handle_payload(payload: Any) -> dict[str, Any]:
    """Parse, store (with the outbox row of its live events), enqueue media. Returns a summary
    for the response and logs."""
    parsed = parse_payload(sanitize(payload))
    if parsed.ignored:
        logger.info("webhook parts ignored", extra={"reasons": parsed.ignored[:20], "count": len(parsed.ignored)})
    # The outbox row of the live events commits with the messages, before the media jobs: a
    # fast worker's message:updated gets a higher row id than the message:new it follows.
    result = store(parsed)
    try:
        _enqueue_media(result)
    except Exception as exc:
        # The messages are committed; a retry from Meta finds them and enqueues again.
        logger.exception("media jobs could not be enqueued", extra={"jobs": len(result.media_jobs)})
        raise MediaQueueUnavailable(str(exc)) from exc
    if result.ausencias:  # issue 13: the away text, once, outside business hours
        atendimento.send_away_messages(result.ausencias)
    summary = result.summary()
    summary["ignorados"] = len(parsed.ignored)
    logger.info("webhook processed", extra=summary)
    return summary
