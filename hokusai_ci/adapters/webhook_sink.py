"""Events to the configured webhook: signed JSON POSTs with bounded retries."""

from __future__ import annotations

import logging

from hokusai_ci.adapters.http_retry import post_with_retries
from hokusai_ci.domain.events import Delivery, body_bytes
from hokusai_ci.ports.store import EventRecord
from hokusai_ci.webhooks import signed_headers

log = logging.getLogger("hokusai_ci.events")


class WebhookSink:
    """Signed JSON POST with bounded retries; the event id is the idempotency key."""

    def __init__(self, url: str, secret: str | None, timeout: float, attempts: int) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.attempts = attempts
        if not secret:
            log.warning("HOKUSAI_WEBHOOK_SECRET is not set: webhook events are sent unsigned")

    def deliver(self, event: EventRecord) -> Delivery:
        body = body_bytes(event)
        outcome = post_with_retries(
            self.url,
            body,
            lambda: signed_headers(body, self.secret, event.event_id),
            attempts=self.attempts,
            timeout=self.timeout,
        )
        return Delivery(ok=outcome.ok, attempts=outcome.attempts, error=outcome.error)
