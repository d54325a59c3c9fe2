"""Token store for API mode (the hosted Hokusai platform).

The platform has no token lookup, so token state is derived from the model registry: a live
version tagged with the token and `hokusai.notified=true` (set once the platform accepted the
registration, see `HokusaiNotifier`) means registered; anything else is treated as Draft (the
site enforces the rest).

A local SQLite store under HOKUSAI_HOME keeps the claim and the events outbox. The claim is
local to the machine: it serialises runs on one machine (one CI runner, one laptop), not runs
on different machines, because the platform offers no compare-and-set. Across machines, a
run that finds another version already accepted before notifying removes its own version.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from hokusai_ci.adapters.registry_rest import RegistryRest, notified
from hokusai_ci.adapters.sql_store import SqlTokenStore
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.record import Registration
from hokusai_ci.ports.store import AliasRecord, EventRecord, Mover, TokenRecord, TokenStatus, utcnow
from hokusai_ci.ports.tracking import Tag

log = logging.getLogger("hokusai_ci")


def _float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _time(text: str | None) -> datetime | None:
    try:
        return None if text is None else datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def record_from_version(token_id: str, v: dict[str, Any], status: TokenStatus) -> TokenRecord:
    """A token as the registry shows it. When the token was created is known only to the site
    (None); it was registered when the platform accepted the version (tag
    `hokusai.accepted_at`), not when the version was created."""
    tags = v["tags"]
    stamp = v.get("last_updated_timestamp") or v.get("creation_timestamp") or 0
    when = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    return TokenRecord(
        token_id=token_id,
        status=status,
        model_name=v["name"],
        model_version=str(v["version"]),
        model_uri=f"models:/{v['name']}/{v['version']}",
        run_id=v.get("run_id"),
        sha256=tags.get(Tag.SHA256),
        metric_name=tags.get(Tag.METRIC),
        metric_value=_float(tags.get(Tag.METRIC_VALUE)),
        baseline=_float(tags.get(Tag.BASELINE)),
        direction=tags.get(Tag.DIRECTION),
        created_at=None,
        updated_at=when,
        registered_at=_time(tags.get(Tag.ACCEPTED_AT)) if status is TokenStatus.REGISTERED else None,
        metadata={"source": "model registry", "notified": notified(v)},
    )


class ApiTokenStore:
    def __init__(self, description: str, registry: RegistryRest, local: SqlTokenStore) -> None:
        self._description = description
        self.registry = registry
        self.local = local

    def describe(self) -> str:
        return self._description

    def close(self) -> None:
        self.local.close()

    def get(self, token_id: str) -> TokenRecord | None:
        versions = self.registry.live_versions(token_id)
        accepted = [v for v in versions if notified(v)]
        if accepted:
            first = min(accepted, key=lambda v: int(v["version"]))
            return record_from_version(token_id, first, TokenStatus.REGISTERED)
        local = self.local.get(token_id)
        if local is not None and local.status is TokenStatus.REGISTERING:
            return local
        now = utcnow()
        return TokenRecord(
            token_id=token_id,
            status=TokenStatus.DRAFT,
            created_at=None,  # only the site knows
            updated_at=now,
            metadata={"source": "assumed draft: the Hokusai API has no token lookup"},
        )

    def create(self, token_id: str, metadata: dict[str, Any] | None = None) -> TokenRecord:
        raise HokusaiError(
            Category.INVALID_INPUT,
            "in API mode tokens are created on the Hokusai site; `token create` is for database and local stores",
        )

    def claim(self, token_id: str, owner: str, lease_seconds: int) -> bool:
        if self.local.get(token_id) is None:
            with contextlib.suppress(HokusaiError):  # another local run created it first; the claim decides
                self.local.create(token_id, {"source": "api mode claim"})
        current = self.local.get(token_id)
        if current is not None and current.status is TokenStatus.REGISTERED:
            # the registry says draft (checked before), so a stale local mark must not block
            self.local.reset_to_draft(token_id)
        return self.local.claim(token_id, owner, lease_seconds)

    def renew(self, token_id: str, owner: str, lease_seconds: int) -> bool:
        return self.local.renew(token_id, owner, lease_seconds)

    def release(self, token_id: str, owner: str) -> bool:
        return self.local.release(token_id, owner)

    def complete(self, token_id: str, owner: str, registration: Registration, events: list[EventRecord]) -> bool:
        """The platform has accepted the registration (the notifier ran first): record it and
        its events locally."""
        return self.local.complete(token_id, owner, registration, events)

    def list_tokens(self, statuses: list[TokenStatus] | None = None) -> list[TokenRecord]:
        by_token: dict[str, list[dict[str, Any]]] = {}
        for v in self.registry.live_versions():
            by_token.setdefault(v["tags"][Tag.TOKEN], []).append(v)
        records = []
        for token_id, versions in sorted(by_token.items()):
            accepted = [v for v in versions if notified(v)]
            chosen = min(accepted or versions, key=lambda v: int(v["version"]))
            status = TokenStatus.REGISTERED if accepted else TokenStatus.DRAFT
            if not statuses or status in statuses:
                records.append(record_from_version(token_id, chosen, status))
        return records

    def events_for(self, token_id: str) -> list[EventRecord]:
        return self.local.events_for(token_id)

    def pending_events(self, token_id: str | None = None) -> list[EventRecord]:
        return self.local.pending_events(token_id)

    def record_delivery(self, event_id: str, ok: bool, error: str | None, attempts: int = 1) -> None:
        self.local.record_delivery(event_id, ok, error, attempts)

    # -- aliases: decided in the local store (this machine's runs), projected to the registry --
    def alias(self, model_name: str, alias: str) -> AliasRecord | None:
        return self.local.alias(model_name, alias)

    def move_alias(
        self, model_name: str, alias: str, expected: str | None, new_version: str, by: Mover, event: EventRecord
    ) -> AliasRecord:
        if self.local.get(by.token_id) is None:  # the event's token, as the outbox needs it
            with contextlib.suppress(HokusaiError):
                self.local.create(by.token_id, {"source": "api mode alias move"})
        return self.local.move_alias(model_name, alias, expected, new_version, by, event)

    def clear_alias(self, model_name: str, alias: str, expected: str, event: EventRecord) -> bool:
        if self.local.get(event.token_id) is None:  # the event's token, as the outbox needs it
            with contextlib.suppress(HokusaiError):
                self.local.create(event.token_id, {"source": "api mode alias move"})
        return self.local.clear_alias(model_name, alias, expected, event)

    def undo_move(self, decided: AliasRecord, before: AliasRecord | None, event_id: str) -> bool:
        return self.local.undo_move(decided, before, event_id)

    def alias_moves(self, model_name: str | None = None, alias: str | None = None) -> list[EventRecord]:
        return self.local.alias_moves(model_name, alias)
