"""The registration use case: pure orchestration over the ports, no I/O of its own.

validate (done by the caller) → token check → gate → fingerprint → tracking check → claim →
upload + register → complete (token + outbox, atomically) → deliver events.
Everything that can fail without writing fails before the claim.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.events import ConsoleSink, EventSink, build_events
from hokusai_ci.fingerprint import fingerprint
from hokusai_ci.inputs import RegistrationRequest
from hokusai_ci.metrics import GateResult, gate
from hokusai_ci.progress import ProgressSink
from hokusai_ci.results import EventInfo, RegistrationResult
from hokusai_ci.store import DeliveryStatus, EventRecord, Registration, TokenRecord, TokenStatus, TokenStore, utcnow
from hokusai_ci.streaming import ModelSource
from hokusai_ci.tracking import Tag, TrackedModel, Tracker, UploadRequest

log = logging.getLogger("hokusai_ci")


@dataclass
class Ports:
    store: TokenStore
    tracker: Callable[[], Tracker | None]
    progress: Callable[[str, int], ProgressSink]
    webhook: EventSink | None = None
    webhook_target: str | None = None
    console: EventSink = field(default_factory=ConsoleSink)
    ci_tags: dict[str, str] = field(default_factory=dict)
    lease_seconds: int = 3600
    event_id: Callable[[str, str, str], str] | None = None  # (token, sha256, type) -> id; mock mode


def register(request: RegistrationRequest, ports: Ports) -> RegistrationResult:
    """Run one registration. Raises `HokusaiError` with `.details["result"]` holding what is known."""
    result = RegistrationResult(
        token_id=request.token_id,
        model_name=request.model_name,
        token_store=ports.store.describe(),
    )
    try:
        _register(request, ports, result)
    except HokusaiError as err:
        err.details["result"] = result
        raise
    return result


def _register(req: RegistrationRequest, ports: Ports, result: RegistrationResult) -> None:
    token = ports.store.get(req.token_id)
    _check_token(req, token, ports.store.describe())

    outcome = gate(req.metric, req.metric_value, req.baseline)
    result.metric = outcome
    if not outcome.passed:
        raise HokusaiError(
            Category.PERFORMANCE_BELOW_BASELINE,
            f"{outcome.name} {outcome.value:g} does not meet the baseline {outcome.baseline:g} "
            f"({outcome.direction.value} is better; delta {outcome.delta:+g}"
            f"{_relative(outcome)}); nothing was uploaded and token {req.token_id} stays draft",
        )

    source = ModelSource.of(req.model_path)
    tracker = ports.tracker()
    earlier: list[TrackedModel] = []
    if tracker is not None:
        tracker.check()
        earlier = tracker.find(req.token_id)
    # Hash before uploading only to compare with an earlier upload (or to report a dry run);
    # otherwise the upload hashes the bytes as it sends them.
    sha256: str | None = None
    if earlier or req.dry_run or tracker is None:
        sha256 = fingerprint(req.model_path, lambda total: ports.progress("hashing", total)).sha256
    existing = next((m for m in earlier if m.sha256 == sha256), None)
    result.model_sha256, result.model_bytes = sha256, source.total_bytes

    if req.dry_run:
        result.status = "dry_run"
        result.message = (
            f"every check passed; would reuse {existing.model_name} version {existing.model_version}"
            if existing
            else f"every check passed; would upload {source.total_bytes} bytes and register a new version "
            f"of {req.model_name}"
        )
        return
    assert tracker is not None, "a tracker is required to register"

    claim_id = uuid.uuid4().hex
    if not ports.store.claim(req.token_id, claim_id, ports.lease_seconds):
        _check_token(req, ports.store.get(req.token_id), ports.store.describe())
        raise HokusaiError(Category.INVALID_TOKEN_STATUS, f"token {req.token_id} was claimed by another run")
    try:
        tracked = existing or tracker.upload(
            _upload_request(req, outcome, claim_id, ports), source, ports.progress("uploading", source.total_bytes)
        )
    except BaseException:
        ports.store.release(req.token_id, claim_id)
        raise
    if existing is not None:
        log.info("reusing %s version %s uploaded earlier for this content", tracked.model_name, tracked.model_version)
    sha256 = tracked.sha256 or sha256
    assert sha256 is not None
    result.model_sha256 = sha256

    events = build_events(
        token_id=req.token_id,
        run_id=tracked.run_id,
        model_name=tracked.model_name,
        model_version=tracked.model_version,
        model_uri=tracked.model_uri,
        sha256=sha256,
        gate=outcome,
        destination=ports.webhook_target,
        event_id=_event_namer(ports, req.token_id, sha256),
    )
    registration = Registration(
        model_name=tracked.model_name,
        model_version=tracked.model_version,
        model_uri=tracked.model_uri,
        mlflow_run_id=tracked.run_id,
        model_sha256=sha256,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
    )
    try:
        won = ports.store.complete(req.token_id, claim_id, registration, events)
    except HokusaiError as err:
        if not tracked.reused:
            tracker.finish(tracked, ok=False)
        if err.category is Category.EVENT_DELIVERY_FAILED:  # in the registry, but the platform was not told
            _fill(result, tracked)
            result.status = "registered"
            err.message = (
                f"{tracked.model_name} version {tracked.model_version} is registered in MLflow but {err.message}; "
                "re-run the same command to send only the missing notification"
            )
        raise
    if not won:
        if not tracked.reused:
            tracker.discard(tracked, f"another run registered token {req.token_id} first")
            tracker.finish(tracked, ok=False)
        winner = ports.store.get(req.token_id)
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"another run registered token {req.token_id} first"
            + (f" ({winner.model_name} version {winner.model_version})" if winner and winner.model_version else "")
            + "; this run's upload was removed",
        )
    if tracked.state != "registered" or tracked.reused:
        adopted = {Tag.CLAIM: claim_id} if tracked.reused else {}
        tracker.tag(tracked, {Tag.STATE: "registered", Tag.STATUS: "registered", **adopted})
    if not tracked.reused:
        tracker.finish(tracked, ok=True)
    _fill(result, tracked)
    result.status = "registered"
    result.events = deliver(events, ports)
    failed = [e for e in result.events if e.delivery_status == "failed"]
    if failed:
        raise HokusaiError(
            Category.EVENT_DELIVERY_FAILED,
            f"token {req.token_id} is registered ({tracked.model_name} version {tracked.model_version}) but "
            f"{len(failed)} event(s) were not delivered: {failed[0].last_error}; they are kept in the outbox",
        )


def deliver(events: list[EventRecord], ports: Ports) -> list[EventInfo]:
    """Console always; the webhook when configured, recording each attempt in the outbox."""
    infos = []
    for event in events:
        ports.console.deliver(event)
        if ports.webhook is not None:
            outcome = ports.webhook.deliver(event)
            ports.store.record_delivery(event.event_id, outcome.ok, outcome.error, outcome.attempts)
            event = event.model_copy(
                update={
                    "delivery_status": DeliveryStatus.DELIVERED if outcome.ok else DeliveryStatus.FAILED,
                    "attempts": event.attempts + outcome.attempts,
                    "last_error": outcome.error,
                    "delivered_at": utcnow() if outcome.ok else None,
                }
            )
        infos.append(EventInfo.of(event))
    return infos


def _check_token(req: RegistrationRequest, token: TokenRecord | None, where: str) -> None:
    tid = req.token_id
    if token is None:
        raise HokusaiError(
            Category.TOKEN_NOT_FOUND,
            f"token {tid!r} does not exist in {where}; check the token id and the database settings "
            f"(create tokens on the Hokusai site, or locally with `hokusai token create --token-id {tid}`)",
        )
    if token.status is TokenStatus.DRAFT:
        return
    if token.status is TokenStatus.REGISTERING:
        if token.lease_expires_at is not None and token.lease_expires_at < utcnow():
            return  # the run holding it died; the claim will take over
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {tid} is being registered by another run (status registering until "
            f"{token.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC); wait for it, then check "
            f"`hokusai model status --token-id {tid}`",
            status=token.status.value,
        )
    if token.status is TokenStatus.REGISTERED:
        same = token.model_sha256 is not None and token.model_sha256 == _quick_sha(req)
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {tid} is already registered: {token.model_name} version {token.model_version} "
            f"(run {token.mlflow_run_id}, sha256 {str(token.model_sha256)[:12]}, "
            f"{token.metric_name}={token.metric_value:g}, registered {token.registered_at:%Y-%m-%d %H:%M:%S} UTC)"
            + ("; same model content, nothing to do" if same else "; nothing was uploaded"),
            status=token.status.value,
        )
    raise HokusaiError(
        Category.INVALID_TOKEN_STATUS,
        f"token {tid} is in status {token.status.value!r}; only draft tokens can be registered",
        status=token.status.value,
    )


def _quick_sha(req: RegistrationRequest) -> str | None:
    """Only a single small file is hashed to say "same content" in an error message."""
    try:
        if req.model_path.is_file() and req.model_path.stat().st_size <= 64 * 1024 * 1024:
            return fingerprint(req.model_path).sha256
    except OSError:
        return None
    return None


def _upload_request(req: RegistrationRequest, outcome: GateResult, claim_id: str, ports: Ports) -> UploadRequest:
    tags = {
        Tag.TOKEN: req.token_id,
        Tag.METRIC: outcome.name,
        Tag.METRIC_VALUE: repr(outcome.value),
        Tag.BASELINE: repr(outcome.baseline),
        Tag.DIRECTION: outcome.direction.value,
        **ports.ci_tags,
    }
    return UploadRequest(
        token_id=req.token_id,
        model_name=req.model_name,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
        claim_id=claim_id,
        tags=tags,
    )


def _event_namer(ports: Ports, token_id: str, sha256: str) -> Callable[[str], str] | None:
    namer = ports.event_id
    return None if namer is None else (lambda kind: namer(token_id, sha256, kind))


def _fill(result: RegistrationResult, tracked: TrackedModel) -> None:
    result.model_name = tracked.model_name
    result.model_version = tracked.model_version
    result.model_uri = tracked.model_uri
    result.mlflow_run_id = tracked.run_id
    result.run_url = tracked.run_url
    result.version_url = tracked.version_url
    result.reused_existing_version = tracked.reused


def _relative(outcome: GateResult) -> str:
    return "" if outcome.relative_delta is None else f", {outcome.relative_delta:+.2%}"
