"""Helpers shared by the webhook tests; the `webhook` fixture (a Webhook) is in tests/conftest.py."""

from __future__ import annotations

import json
from typing import Any

from devstack import payloads as wa


class Webhook:
    """A chalice.test.Client posting signed bytes, plus the media queue and DB helpers."""

    def __init__(self, client, sqs, queue_url: str):
        self.client = client
        self.sqs = sqs
        self.queue_url = queue_url

    def post_bytes(self, body: bytes, headers: dict[str, str]):
        return self.client.http.post("/webhooks/whatsapp", headers=headers, body=body)

    def post(self, payload: Any, secret: str | None = None):
        body, headers = wa.signed(payload, secret)
        return self.post_bytes(body, headers)

    def deliver(self, *values: Any, **kw: Any):
        """Post an envelope of these values and insist on 200."""
        response = self.post(wa.envelope(*values, **kw))
        assert response.status_code == 200, response.body
        return json.loads(response.body)

    def media_jobs(self) -> list[dict[str, Any]]:
        jobs = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return jobs
            for m in messages:
                jobs.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    from chalicelib import db

    return db.query(sql, **params)


def one(sql: str, **params: Any) -> dict[str, Any]:
    found = rows(sql, **params)
    assert len(found) == 1, found
    return found[0]


def count(table: str) -> int:
    from chalicelib import db

    return db.scalar(f"SELECT count(*) FROM {table}")  # noqa: S608 - table names from the tests
