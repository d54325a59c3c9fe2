"""What the token store holds and the small protocol every backend implements.

A token leaves `draft` only through `claim` (an atomic conditional update), and becomes
`registered` only through `complete`, which writes the events in the same transaction
(the outbox): either both are stored or neither is. Every write after the claim is fenced by
the claim id, so a run that lost its lease can change nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from hokusai_ci.domain.record import Registration, run_id_field, sha256_field


def utcnow() -> datetime:
    return datetime.now(UTC)


def store_now(store: object) -> datetime:
    """The clock a store's leases are computed with (its own `now()` when it has one, as
    PostgreSQL does), so whether a claim is live never depends on this machine's clock."""
    now = getattr(store, "now", None)
    return now() if callable(now) else utcnow()


class TokenStatus(StrEnum):
    DRAFT = "draft"
    REGISTERING = "registering"
    REGISTERED = "registered"
    DEPLOYED = "deployed"
    FAILED = "failed"
    ARCHIVED = "archived"


class DeliveryStatus(StrEnum):
    STORED = "stored"  # in the outbox only: no webhook configured, pollers read it
    PENDING = "pending"  # a webhook is configured and delivery has not succeeded yet
    DELIVERED = "delivered"
    FAILED = "failed"  # last delivery attempt failed; kept for replay


class TokenRecord(BaseModel):
    """A token and, once registered, the fields of its `Registration` (none while draft)."""

    model_config = ConfigDict(populate_by_name=True)

    token_id: str
    status: TokenStatus
    model_name: str | None = None
    model_version: str | None = None
    model_uri: str | None = None
    run_id: str | None = run_id_field(None)  # published (column, views) as mlflow_run_id
    sha256: str | None = sha256_field(None)  # published as model_sha256
    metric_name: str | None = None
    metric_value: float | None = None
    baseline: float | None = None
    direction: str | None = None
    created_at: datetime | None  # None: not known here (API mode: tokens are created on the site)
    updated_at: datetime
    registered_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class EventRecord(BaseModel):
    event_id: str
    event_type: str
    token_id: str
    payload: dict[str, Any]
    created_at: datetime
    destination: str | None = None
    delivery_status: DeliveryStatus
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None


class TokenStore(Protocol):
    def describe(self) -> str: ...

    def get(self, token_id: str) -> TokenRecord | None: ...

    def create(self, token_id: str, metadata: dict[str, Any] | None = None) -> TokenRecord: ...

    def claim(self, token_id: str, owner: str, lease_seconds: int) -> bool:
        """Draft (or registering with an expired lease) → registering, held by `owner`."""

    def renew(self, token_id: str, owner: str, lease_seconds: int) -> bool:
        """Extend `owner`'s lease; False when `owner` no longer holds the claim."""

    def release(self, token_id: str, owner: str) -> bool:
        """Registering (held by `owner`) → draft; False when `owner` did not hold it."""

    def complete(self, token_id: str, owner: str, registration: Registration, events: list[EventRecord]) -> bool:
        """Registering (held by `owner`) → registered, with the events, in one transaction.
        False when `owner` lost the claim. Safe to retry: an attempt that committed counts."""

    def list_tokens(self, statuses: list[TokenStatus] | None = None) -> list[TokenRecord]: ...

    def events_for(self, token_id: str) -> list[EventRecord]: ...

    def pending_events(self, token_id: str | None = None) -> list[EventRecord]: ...

    def record_delivery(self, event_id: str, ok: bool, error: str | None, attempts: int = 1) -> None: ...

    def close(self) -> None: ...


ALIAS_MOVED = "alias_moved"  # the event type of every alias move (its payload: events.AliasMovedPayload)


class Mover(BaseModel):
    """Who moved an alias: the command's token (the new holder's) and the CI run, if any."""

    token_id: str
    command: str  # promote | rollback | register | adopt
    run_url: str | None = None
    commit: str | None = None


class AliasRecord(BaseModel):
    """Where an alias of a model stands in the tool's store: the one record promotions are
    decided on (MLflow's alias is its projection). `previous_version` is the holder before the
    last move, so a projection a run left unfinished is recognised and finished, not refused."""

    model_name: str
    alias: str
    version: str
    previous_version: str | None = None
    token_id: str
    moved_at: datetime
    moved_by: str  # the command that moved it
    run_url: str | None = None
    commit: str | None = None


class AliasStore(Protocol):
    """Aliases decided by compare-and-set, each move recorded with its `alias_moved` event."""

    def alias(self, model_name: str, alias: str) -> AliasRecord | None: ...

    def move_alias(
        self, model_name: str, alias: str, expected: str | None, new_version: str, by: Mover, event: EventRecord
    ) -> AliasRecord:
        """Move `alias` from `expected` (None: not set yet) to `new_version`, and store `event`,
        in one transaction. Raises `HokusaiError(ALIAS_MOVED)` with `found` (the holder, None
        when unset) when the alias is not on `expected`: nothing is written then."""

    def clear_alias(self, model_name: str, alias: str, expected: str, event: EventRecord) -> bool:
        """Record that `alias` is no longer set (MLflow deleted it with the version it named),
        only while it is on `expected`, with `event`, in one transaction. True when cleared."""

    def undo_move(self, decided: AliasRecord, before: AliasRecord | None, event_id: str) -> bool:
        """Take back a move whose projection to MLflow failed: back to `before` (None: unset), its
        event deleted, in one transaction, only while the alias stands where `decided` put it."""

    def alias_moves(self, model_name: str | None = None, alias: str | None = None) -> list[EventRecord]:
        """The `alias_moved` events of the outbox, oldest first: the history of every move."""
