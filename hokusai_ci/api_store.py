"""Token store for API mode (the hosted Hokusai platform).

The platform has no token lookup, so token state is derived from the model registry: a live
version tagged with the token and `hokusai.notified=true` means registered; anything else is
treated as Draft (the site enforces the rest). Completing a registration means notifying the
platform; the version is tagged `hokusai.notified=true` only after the platform accepted it,
so a re-run after a failed notification sends just the notification.

A local SQLite store under HOKUSAI_HOME keeps the claim (one winner per machine) and the events
outbox. Across machines, a run that finds another version already accepted by the platform
before notifying removes its own version instead.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.hokusai_api import HokusaiApi
from hokusai_ci.registry_rest import RegistryRest
from hokusai_ci.settings import Settings
from hokusai_ci.sql_store import SqlTokenStore
from hokusai_ci.store import EventRecord, Registration, TokenRecord, TokenStatus, utcnow
from hokusai_ci.tracking import Tag

log = logging.getLogger("hokusai_ci")


def _live(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in versions if v["tags"].get(Tag.STATE) != "superseded"]


def _notified(version: dict[str, Any]) -> bool:
    return bool(version["tags"].get(Tag.NOTIFIED) == "true")


def _float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def record_from_version(token_id: str, v: dict[str, Any], status: TokenStatus) -> TokenRecord:
    tags = v["tags"]
    stamp = v.get("last_updated_timestamp") or v.get("creation_timestamp") or 0
    when = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    return TokenRecord(
        token_id=token_id,
        status=status,
        model_name=v["name"],
        model_version=str(v["version"]),
        model_uri=f"models:/{v['name']}/{v['version']}",
        mlflow_run_id=v.get("run_id"),
        model_sha256=tags.get(Tag.SHA256),
        metric_name=tags.get(Tag.METRIC),
        metric_value=_float(tags.get(Tag.METRIC_VALUE)),
        baseline=_float(tags.get(Tag.BASELINE)),
        direction=tags.get(Tag.DIRECTION),
        created_at=datetime.fromtimestamp(int(v.get("creation_timestamp") or stamp) / 1000, UTC),
        updated_at=when,
        registered_at=when if status is TokenStatus.REGISTERED else None,
        metadata={"source": "model registry", "notified": _notified(v)},
    )


class ApiTokenStore:
    def __init__(self, settings: Settings, registry: RegistryRest, api: HokusaiApi, *, read_only: bool) -> None:
        self.settings = settings
        self.registry = registry
        self.api = api
        self.local = SqlTokenStore.open(settings, read_only=read_only)

    def describe(self) -> str:
        return self.settings.store_description()

    def close(self) -> None:
        self.local.close()

    def get(self, token_id: str) -> TokenRecord | None:
        versions = _live(self.registry.token_versions(token_id))
        accepted = [v for v in versions if _notified(v)]
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
            created_at=now,
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

    def release(self, token_id: str, owner: str) -> None:
        self.local.release(token_id, owner)

    def complete(self, token_id: str, owner: str, registration: Registration, events: list[EventRecord]) -> bool:
        r = registration
        others = [
            v
            for v in _live(self.registry.token_versions(token_id))
            if _notified(v) and (v["name"], str(v["version"])) != (r.model_name, r.model_version)
        ]
        if others:
            self.local.release(token_id, owner)
            return False
        payload = {
            "model_name": r.model_name,
            "version": r.model_version,
            "token_id": token_id,
            "proposal_identifier": token_id,
            "metric_name": r.metric_name,
            "baseline_value": r.baseline,
            "current_value": r.metric_value,
            "mlflow_run_id": r.mlflow_run_id,
            "model_uri": r.model_uri,
            "tags": {"sha256": r.model_sha256, "direction": r.direction, "source": "hokusai-ci"},
        }
        try:
            answer = self.api.notify(payload)
        except HokusaiError:
            self.local.release(token_id, owner)
            raise
        model_id = answer.get("model_id")
        log.info("Hokusai API accepted the registration%s", f" (model_id {model_id})" if model_id else "")
        try:
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.NOTIFIED, "true")
        except HokusaiError as err:
            log.warning("could not tag the version as notified (%s); a re-run would notify again", err.message)
        return self.local.complete(token_id, owner, registration, events)

    def list_tokens(self, statuses: list[TokenStatus] | None = None) -> list[TokenRecord]:
        by_token: dict[str, list[dict[str, Any]]] = {}
        for v in _live(self.registry.token_versions()):
            by_token.setdefault(v["tags"][Tag.TOKEN], []).append(v)
        records = []
        for token_id, versions in sorted(by_token.items()):
            accepted = [v for v in versions if _notified(v)]
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
