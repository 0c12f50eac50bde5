"""The live-events drain: the Lambda that delivers what the outbox holds (chalicelib.services.outbox).

Requests commit their rows and an outbox row in one transaction, then drop a nudge on a FIFO
queue (one message group: one drain at a time, so events leave in commit order). This
function answers the nudges: it drains every pending row, not just the nudged one, and keeps
reading until the nudges' quarter second has passed. It raises only when the database fails:
SQS then redelivers the nudges (after the queue's visibility timeout) and the rows are still
there.
"""

from __future__ import annotations

import os

from chalice import Blueprint

from chalicelib import metrics

bp = Blueprint(__name__)

# The FIFO queue infra/stateful.yaml creates for this stage.
LIVE_EVENTS_QUEUE_NAME = (
    os.environ.get("LIVE_EVENTS_QUEUE_NAME") or f"crm-inbox-{os.environ.get('STAGE', 'dev')}-live-events.fifo"
)


@bp.on_sqs_message(queue=LIVE_EVENTS_QUEUE_NAME, batch_size=10, name="drain_live_events")
@metrics.flushed
def drain_live_events(event):
    from chalicelib.services import outbox

    records = event.to_dict().get("Records") or []
    return outbox.drain(deadline=outbox.deadline_from(event.context), until=outbox.linger_until(records))
