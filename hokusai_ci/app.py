"""Wiring: turns settings into adapters and runs the use cases. The CLI, the Python API and
the GitHub Action entrypoint all come through here, so they behave identically."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from pydantic import BaseModel

from hokusai_ci.ci_context import ci_tags
from hokusai_ci.errors import Category, HokusaiError, invalid_input
from hokusai_ci.inputs import build_request, check_token_id
from hokusai_ci.progress import Progress
from hokusai_ci.results import EventInfo, RegistrationResult, TokenView
from hokusai_ci.settings import Env, Settings, display_url
from hokusai_ci.sql_store import SqlTokenStore
from hokusai_ci.store import TokenStatus, TokenStore
from hokusai_ci.tracking import Tracker

log = logging.getLogger("hokusai_ci")


def configure_logging(level: str) -> None:
    logger = logging.getLogger("hokusai_ci")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if level == "DEBUG" else "hokusai: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # MLflow's own INFO lines (store creation, URLs) are noise in CI logs; keep them for DEBUG.
    logging.getLogger("mlflow").setLevel(level if level == "DEBUG" else "WARNING")


def open_store(settings: Settings, *, read_only: bool) -> TokenStore:
    """The token store of the selected mode."""
    if settings.mode == "mock":
        return SqlTokenStore.open(settings, read_only=read_only, path=settings.home / "mock.db")
    if settings.mode == "api":
        from hokusai_ci.api_store import ApiTokenStore
        from hokusai_ci.hokusai_api import HokusaiApi
        from hokusai_ci.registry_rest import RegistryRest

        assert settings.api_key is not None
        key = settings.api_key.get_secret_value()
        registry = RegistryRest(settings.effective_mlflow_uri, os.environ.get(Env.MLFLOW_TRACKING_TOKEN) or key)
        api = HokusaiApi(settings.api_url, key, attempts=settings.webhook_attempts)
        return ApiTokenStore(settings, registry, api, read_only=read_only)
    return SqlTokenStore.open(settings, read_only=read_only)


def _tracker_factory(settings: Settings, dry_run: bool) -> Any:
    def make() -> Tracker | None:
        if settings.mode == "mock":
            from hokusai_ci.mock import MockTracker

            return MockTracker()
        local_store = settings.mode == "local" and not settings.mlflow_uri
        if local_store and dry_run and not (settings.home / "mlruns").exists():
            return None  # nothing registered locally yet, and a dry run must not create the store
        if settings.mode == "api" and settings.api_key is not None:
            # the platform's MLflow proxy takes the same key as a bearer token; a user's own token wins
            os.environ.setdefault(Env.MLFLOW_TRACKING_TOKEN, settings.api_key.get_secret_value())
        uri = settings.effective_mlflow_uri
        if uri.startswith(("http://", "https://")):
            from hokusai_ci.rest_tracker import RestTracker  # no `import mlflow` on this path

            return RestTracker(uri, settings.experiment)
        from hokusai_ci.mlflow_tracking import MlflowTracker

        return MlflowTracker(uri, settings.experiment)

    return make


def _webhook(settings: Settings) -> Any:
    from hokusai_ci.events import WebhookSink

    if not settings.webhook_url or settings.mode == "mock":
        return None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return WebhookSink(settings.webhook_url, secret, settings.webhook_timeout, settings.webhook_attempts)


def describe_endpoints(settings: Settings) -> None:
    """Say where everything goes, without secrets: never a silent fallback."""
    log.info("mode: %s (%s)", settings.mode, settings.mode_reason)
    log.info("token store: %s", settings.store_description())
    if settings.mode != "mock":
        log.info("MLflow: %s", display_url(settings.effective_mlflow_uri))
    if settings.webhook_url:
        suffix = " (not called in mock mode)" if settings.mode == "mock" else ""
        log.info("webhook: %s%s", display_url(settings.webhook_url), suffix)


def register(settings: Settings, **raw: Any) -> RegistrationResult:
    """Validate raw inputs (as typed by a user), then register. Raises HokusaiError with
    `.details["result"]` on failure."""
    from hokusai_ci.registration import Ports
    from hokusai_ci.registration import register as run

    try:
        request = build_request(**raw)
    except HokusaiError as err:
        err.details["result"] = RegistrationResult(token_id=_str_or_none(raw.get("token_id")), mode=settings.mode)
        raise
    describe_endpoints(settings)
    store = open_store(settings, read_only=request.dry_run and settings.mode != "mock")
    try:
        if settings.mode == "mock" and store.get(request.token_id) is None:
            store.create(request.token_id, {"source": "simulated by mock mode"})
            log.info("mock: token %s simulated as Draft", request.token_id)
        from hokusai_ci.mock import mock_event_id

        webhook = _webhook(settings)
        ports = Ports(
            store=store,
            tracker=_tracker_factory(settings, request.dry_run),
            progress=lambda label, total: Progress(label, total),
            webhook=webhook,
            webhook_target=display_url(settings.webhook_url) if webhook and settings.webhook_url else None,
            ci_tags=ci_tags(),
            lease_seconds=settings.lease_seconds,
            event_id=mock_event_id if settings.mode == "mock" else None,
        )
        try:
            result = run(request, ports)
        except HokusaiError as err:
            _annotate(err.details.get("result"), settings)
            raise
        _annotate(result, settings)
        return result
    finally:
        store.close()


def _annotate(result: Any, settings: Settings) -> None:
    if isinstance(result, RegistrationResult):
        result.mode = settings.mode
        result.mlflow_uri = None if settings.mode == "mock" else display_url(settings.effective_mlflow_uri)


def status(settings: Settings, token_id: Any) -> TokenView:
    tid = check_token_id(token_id)
    store = open_store(settings, read_only=True)
    try:
        token = store.get(tid)
        if token is None:
            raise HokusaiError(
                Category.TOKEN_NOT_FOUND,
                f"token {tid!r} does not exist in {store.describe()}; check the token id and the database settings",
            )
        return TokenView.of(token, store.events_for(tid), simulated=settings.mode == "mock")
    finally:
        store.close()


def list_tokens(settings: Settings, statuses: Any = None) -> list[TokenView]:
    wanted = parse_statuses(statuses)
    store = open_store(settings, read_only=True)
    try:
        return [TokenView.of(t, simulated=settings.mode == "mock") for t in store.list_tokens(wanted)]
    finally:
        store.close()


def create_token(settings: Settings, token_id: Any, metadata: dict[str, Any] | None = None) -> TokenView:
    tid = check_token_id(token_id)
    store = open_store(settings, read_only=False)
    try:
        return TokenView.of(store.create(tid, metadata))
    finally:
        store.close()


class ReplayResult(BaseModel):
    status: str
    webhook: str | None
    delivered: int
    failed: int
    events: list[EventInfo]


def replay_events(settings: Settings, token_id: Any = None) -> ReplayResult:
    """Deliver what the outbox still holds as pending or failed to the configured webhook."""
    from hokusai_ci.registration import Ports, deliver

    tid = None if token_id in (None, "") else check_token_id(token_id)
    sink = _webhook(settings)
    if sink is None:
        raise invalid_input(
            "webhook-url", settings.webhook_url, "replay needs a webhook: --webhook-url or HOKUSAI_WEBHOOK_URL"
        )
    describe_endpoints(settings)
    store = open_store(settings, read_only=False)
    try:
        pending = store.pending_events(tid)
        ports = Ports(
            store=store, tracker=lambda: None, progress=lambda label, total: Progress(label, total), webhook=sink
        )
        infos = deliver(pending, ports) if pending else []
    finally:
        store.close()
    delivered = sum(1 for e in infos if e.delivery_status == "delivered")
    failed = len(infos) - delivered
    outcome = ReplayResult(
        status="nothing_pending" if not infos else ("delivered" if not failed else "failed"),
        webhook=display_url(settings.webhook_url or ""),
        delivered=delivered,
        failed=failed,
        events=infos,
    )
    if failed:
        first_error = next(e.last_error for e in infos if e.last_error)
        raise HokusaiError(
            Category.EVENT_DELIVERY_FAILED,
            f"{failed} of {len(infos)} event(s) were not delivered: {first_error}; they stay in the outbox",
            replay=outcome,
        )
    return outcome


def parse_statuses(value: Any) -> list[TokenStatus]:
    """`registered` by default; `all`, or a comma-separated list of statuses."""
    if value in (None, "", True):
        return [TokenStatus.REGISTERED]
    words = [w.strip().lower() for w in str(value).split(",") if w.strip()]
    if words == ["all"]:
        return list(TokenStatus)
    known = {s.value: s for s in TokenStatus}
    bad = [w for w in words if w not in known]
    if bad or not words:
        raise invalid_input("status", value, f"use all or a comma-separated list of {', '.join(known)}")
    return [known[w] for w in words]


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
