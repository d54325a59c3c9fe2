"""Wiring: turns settings into adapters and runs the use cases. The CLI, the Python API and
the GitHub Action entrypoint all come through here, so they behave identically."""

from __future__ import annotations

import logging
import sys
from typing import Any

from hokusai_ci.ci_context import ci_tags
from hokusai_ci.errors import Category, HokusaiError, invalid_input
from hokusai_ci.inputs import build_request, check_token_id
from hokusai_ci.progress import Progress
from hokusai_ci.results import RegistrationResult, TokenView
from hokusai_ci.settings import Settings, display_url
from hokusai_ci.sql_store import SqlTokenStore
from hokusai_ci.store import TokenStatus
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


def _tracker_factory(settings: Settings, dry_run: bool) -> Any:
    def make() -> Tracker | None:
        local = settings.mlflow_uri is None
        if dry_run and local and not (settings.home / "mlruns").exists():
            return None  # nothing registered locally yet, and a dry run must not create the store
        from hokusai_ci.mlflow_tracking import MlflowTracker

        return MlflowTracker(settings.effective_mlflow_uri, settings.experiment)

    return make


def register(settings: Settings, **raw: Any) -> RegistrationResult:
    """Validate raw inputs (as typed by a user), then register. Raises HokusaiError with
    `.details["result"]` on failure."""
    from hokusai_ci.events import WebhookSink
    from hokusai_ci.registration import Ports
    from hokusai_ci.registration import register as run

    try:
        request = build_request(**raw)
    except HokusaiError as err:
        err.details["result"] = RegistrationResult(token_id=_str_or_none(raw.get("token_id")))
        raise
    log.info("token store: %s", settings.store_description())
    log.info("MLflow: %s", display_url(settings.effective_mlflow_uri))
    if settings.webhook_url:
        log.info("webhook: %s", display_url(settings.webhook_url))
    store = SqlTokenStore.open(settings, read_only=request.dry_run)
    try:
        ports = Ports(
            store=store,
            tracker=_tracker_factory(settings, request.dry_run),
            progress=lambda label, total: Progress(label, total),
            webhook=WebhookSink(settings.webhook_url, settings.webhook_timeout) if settings.webhook_url else None,
            webhook_target=display_url(settings.webhook_url) if settings.webhook_url else None,
            ci_tags=ci_tags(),
            lease_seconds=settings.lease_seconds,
        )
        result = run(request, ports)
        result.mlflow_uri = display_url(settings.effective_mlflow_uri)
        return result
    finally:
        store.close()


def status(settings: Settings, token_id: Any) -> TokenView:
    tid = check_token_id(token_id)
    store = SqlTokenStore.open(settings, read_only=True)
    try:
        token = store.get(tid)
        if token is None:
            raise HokusaiError(
                Category.TOKEN_NOT_FOUND,
                f"token {tid!r} does not exist in {store.describe()}; check the token id and the database settings",
            )
        return TokenView.of(token, store.events_for(tid))
    finally:
        store.close()


def list_tokens(settings: Settings, statuses: Any = None) -> list[TokenView]:
    wanted = parse_statuses(statuses)
    store = SqlTokenStore.open(settings, read_only=True)
    try:
        return [TokenView.of(t) for t in store.list_tokens(wanted)]
    finally:
        store.close()


def create_token(settings: Settings, token_id: Any, metadata: dict[str, Any] | None = None) -> TokenView:
    tid = check_token_id(token_id)
    store = SqlTokenStore.open(settings, read_only=False)
    try:
        return TokenView.of(store.create(tid, metadata))
    finally:
        store.close()


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
