"""The two events a registration emits, and the sinks that carry them.

Events are durable first, delivered second: the registration writes them to the outbox in
the same transaction that marks the token registered, then the console and webhook sinks run.
A failed webhook delivery leaves the event in the outbox as `failed` with its last error.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from hokusai_ci.metrics import GateResult
from hokusai_ci.store import DeliveryStatus, EventRecord, utcnow

TOKEN_READY = "token_ready_for_deploy"
MODEL_REGISTERED = "model_registered"
PAYLOAD_VERSION = "1"
log = logging.getLogger("hokusai_ci.events")


class TokenReadyPayload(BaseModel):
    event_id: str
    event_type: str
    schema_version: str = PAYLOAD_VERSION
    timestamp: datetime
    token_id: str
    mlflow_run_id: str
    model_name: str
    model_version: str
    model_uri: str
    metric_name: str
    metric_value: float
    baseline_value: float
    delta: float


class ModelRegisteredPayload(TokenReadyPayload):
    direction: str
    relative_delta: float | None
    improvement: float
    passed: bool
    model_sha256: str


def build_events(
    *,
    token_id: str,
    run_id: str,
    model_name: str,
    model_version: str,
    model_uri: str,
    sha256: str,
    gate: GateResult,
    destination: str | None,
) -> list[EventRecord]:
    now = utcnow()
    common = dict(
        timestamp=now,
        token_id=token_id,
        mlflow_run_id=run_id,
        model_name=model_name,
        model_version=model_version,
        model_uri=model_uri,
        metric_name=gate.name,
        metric_value=gate.value,
        baseline_value=gate.baseline,
        delta=gate.delta,
    )
    ready = TokenReadyPayload(event_id=str(uuid.uuid4()), event_type=TOKEN_READY, **common)
    registered = ModelRegisteredPayload(
        event_id=str(uuid.uuid4()),
        event_type=MODEL_REGISTERED,
        direction=gate.direction.value,
        relative_delta=gate.relative_delta,
        improvement=gate.improvement,
        passed=gate.passed,
        model_sha256=sha256,
        **common,
    )
    status = DeliveryStatus.PENDING if destination else DeliveryStatus.STORED
    return [
        EventRecord(
            event_id=p.event_id,
            event_type=p.event_type,
            token_id=token_id,
            payload=p.model_dump(mode="json"),
            created_at=now,
            destination=destination,
            delivery_status=status,
        )
        for p in (ready, registered)
    ]


def body_bytes(event: EventRecord) -> bytes:
    """The one serialization sent over the wire: compact JSON, keys sorted, UTF-8."""
    return json.dumps(event.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Delivery(BaseModel):
    ok: bool
    error: str | None = None


class EventSink(Protocol):
    def deliver(self, event: EventRecord) -> Delivery: ...


class ConsoleSink:
    """Always on: one log line per event on stderr, so CI logs show what was emitted."""

    def deliver(self, event: EventRecord) -> Delivery:
        log.info("event %s %s", event.event_type, body_bytes(event).decode())
        return Delivery(ok=True)


class WebhookSink:
    """Plain JSON POST to the configured URL."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def deliver(self, event: EventRecord) -> Delivery:
        import requests  # only when a webhook is configured

        from hokusai_ci.settings import display_url

        try:
            response = requests.post(
                self.url,
                data=body_bytes(event),
                headers={"Content-Type": "application/json", "User-Agent": "hokusai-ci"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            return Delivery(ok=False, error=f"{display_url(self.url)}: {exc.__class__.__name__}")
        if 200 <= response.status_code < 300:
            return Delivery(ok=True)
        return Delivery(ok=False, error=f"{display_url(self.url)} answered HTTP {response.status_code}")
