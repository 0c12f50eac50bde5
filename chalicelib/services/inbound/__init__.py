"""Inbound WhatsApp webhook processing.

`handle_payload(payload)` takes a parsed, signature-checked body and stores everything in
it: all entries, changes, messages and statuses, in one transaction, set-based. Three parts:
- `parsing`: the pure part (`parse_payload`: JSON → rows, no I/O), unit-tested without a
  database;
- `storage`: the transaction (`store`), which also writes the outbox row of its live events;
- `after_commit`: media jobs to the queue and the away message, then the summary
  (`handle_payload` runs the three in order); live events and Web Push leave through the
  outbox the transaction writes.
"""

from chalicelib.services.inbound.after_commit import MediaQueueUnavailable, handle_payload
from chalicelib.services.inbound.parsing import (
    InboundRow,
    ParsedPayload,
    PayloadRejected,
    is_opt_out,
    order_text,
    parse_payload,
    sanitize,
)
from chalicelib.services.inbound.storage import StoreResult, store

__all__ = [
    "InboundRow",
    "MediaQueueUnavailable",
    "ParsedPayload",
    "PayloadRejected",
    "StoreResult",
    "handle_payload",
    "is_opt_out",
    "order_text",
    "parse_payload",
    "sanitize",
    "store",
]
