"""The events (the two a registration emits, and `alias_moved`), and the sinks that carry them.

Events are durable first, delivered second: the registration writes them to the outbox in
the same transaction that marks the token registered, then the console and webhook sinks run.
A failed webhook delivery leaves the event in the outbox as `failed` with its last error.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from hokusai_ci.config.redaction import redact_data
from hokusai_ci.domain.attestation import Attestation
from hokusai_ci.domain.metrics import GateResult
from hokusai_ci.domain.record import Registration
from hokusai_ci.ports.store import ALIAS_MOVED, DeliveryStatus, EventRecord, Mover, utcnow

TOKEN_READY = "token_ready_for_deploy"
MODEL_REGISTERED = "model_registered"
PAYLOAD_VERSION = "1"
log = logging.getLogger("hokusai_ci.domain.events")


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
    attestation_uri: str | None = None  # the signed registration statement (when signing was asked for)
    attestation_sha256: str | None = None


class ModelRegisteredPayload(TokenReadyPayload):
    direction: str
    relative_delta: float | None
    improvement: float
    passed: bool
    model_sha256: str


class AliasMovedPayload(BaseModel):
    """An alias moved (`promote`, `rollback`, `register --set-alias`): from which version to
    which, when, and by which command and CI run. `from_version` None: the alias was not set;
    `to_version` None: it is no longer set (an `adopt` of MLflow's state after the version it
    named was deleted there, which deletes its aliases)."""

    event_id: str
    event_type: str
    schema_version: str = PAYLOAD_VERSION
    timestamp: datetime
    token_id: str  # the token whose version the alias now names
    model_name: str
    alias: str
    from_version: str | None
    to_version: str | None
    command: str  # promote | rollback | register | adopt (the store took what MLflow names)
    run_url: str | None = None
    commit: str | None = None


def alias_moved_event(
    *,
    model_name: str,
    alias: str,
    from_version: str | None,
    to_version: str | None,
    by: Mover,
    destination: str | None,
) -> EventRecord:
    """The outbox record of one alias move (written by the store with the move itself)."""
    now = utcnow()
    payload = AliasMovedPayload(
        event_id=str(uuid.uuid4()),
        event_type=ALIAS_MOVED,
        timestamp=now,
        token_id=by.token_id,
        model_name=model_name,
        alias=alias,
        from_version=from_version,
        to_version=to_version,
        command=by.command,
        run_url=by.run_url,
        commit=by.commit,
    )
    return EventRecord(
        event_id=payload.event_id,
        event_type=ALIAS_MOVED,
        token_id=by.token_id,
        payload=redact_data(payload.model_dump(mode="json")),
        created_at=now,
        destination=destination,
        delivery_status=DeliveryStatus.PENDING if destination else DeliveryStatus.STORED,
    )


def build_events(
    *,
    token_id: str,
    record: Registration,
    gate: GateResult,
    destination: str | None,
    event_id: Callable[[str], str] | None = None,
    attestation: Attestation | None = None,
) -> list[EventRecord]:
    """Both events of one registration; `event_id(event_type)` names them (random by default)."""
    new_id = event_id or (lambda _type: str(uuid.uuid4()))
    now = utcnow()
    version = record.published_version()
    common = dict(
        timestamp=now,
        token_id=token_id,
        **{k: v for k, v in version.items() if k != "model_sha256"},
        metric_name=gate.name,
        metric_value=gate.value,
        baseline_value=gate.baseline,
        delta=gate.delta,
        attestation_uri=attestation.uri if attestation else None,
        attestation_sha256=attestation.sha256 if attestation else None,
    )
    ready = TokenReadyPayload(event_id=new_id(TOKEN_READY), event_type=TOKEN_READY, **common)
    registered = ModelRegisteredPayload(
        event_id=new_id(MODEL_REGISTERED),
        event_type=MODEL_REGISTERED,
        direction=gate.direction.value,
        relative_delta=gate.relative_delta,
        improvement=gate.improvement,
        passed=gate.passed,
        model_sha256=version["model_sha256"],
        **common,
    )
    status = DeliveryStatus.PENDING if destination else DeliveryStatus.STORED
    return [
        EventRecord(
            event_id=p.event_id,
            event_type=p.event_type,
            token_id=token_id,
            payload=redact_data(p.model_dump(mode="json")),
            created_at=now,
            destination=destination,
            delivery_status=status,
        )
        for p in (ready, registered)
    ]


def compact_json(data: object) -> bytes:
    """The one serialization sent over the wire (webhooks, the Hokusai API): compact JSON,
    keys sorted, UTF-8, redacted. Webhook signatures are computed over exactly these bytes. NaN
    and infinities are refused (ValueError): they are not JSON."""
    return json.dumps(
        redact_data(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def body_bytes(event: EventRecord) -> bytes:
    return compact_json(event.payload)


class Delivery(BaseModel):
    ok: bool
    attempts: int = 1
    error: str | None = None


class EventSink(Protocol):
    def deliver(self, event: EventRecord) -> Delivery: ...


class ConsoleSink:
    """Always on: one log line per event on stderr, so CI logs show what was emitted."""

    def deliver(self, event: EventRecord) -> Delivery:
        log.info("event %s %s", event.event_type, body_bytes(event).decode())
        return Delivery(ok=True)


SCHEMA_DIR = Path(__file__).parents[1] / "schemas"
PAYLOADS: dict[str, type[BaseModel]] = {
    TOKEN_READY: TokenReadyPayload,
    MODEL_REGISTERED: ModelRegisteredPayload,
    ALIAS_MOVED: AliasMovedPayload,
}


def json_schemas() -> dict[str, dict[str, object]]:
    """The published JSON Schema of each event payload, keyed by file name."""
    out: dict[str, dict[str, object]] = {}
    for event_type, model in PAYLOADS.items():
        name = f"{event_type}.v{PAYLOAD_VERSION}.schema.json"
        schema = model.model_json_schema(mode="serialization")
        schema["properties"]["event_type"]["const"] = event_type
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://hokus.ai/schemas/events/{name}",
            **schema,
            "title": event_type,
        }
    from hokusai_ci.domain.attestation import SCHEMA_NAME
    from hokusai_ci.domain.attestation import json_schema as attestation_schema

    out[SCHEMA_NAME] = attestation_schema()
    return out
