"""The registration use case: pure orchestration over the ports, no I/O of its own.

Three phases, each a function that returns what it produced:
- preflight: nothing is written. Token check, metric gate, the platform's rules, the model's
  digest, tracker reachability.
- commit: claim → upload (or adopt an earlier upload of the same content) → sign (when asked
  for) → notify the platform → complete (token and outbox in one transaction). A heartbeat renews the claim
  while the run works; every failure, signal included, goes through one cleanup path that
  releases the claim and keeps the uploaded version for the next run to adopt.
- after the commit the registration is done: `settle` tags the version registered and ends its
  run, `announce` delivers the stored events. Whatever of that a failure or a signal leaves
  undone, a re-run of the same command finishes (`resume`), and `events replay` sends events.

`register` never raises a `HokusaiError`: it returns the result with `error` set. This module
holds the flow and the commit; beside it: `registration_ports` (what the phases hand on),
`token_checks`, `claims` (heartbeat, release, a lost race), `version_values` (tags, records,
the signed statement) and `after_commit` (settle, announce, resume).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from hokusai_ci.core.after_commit import announce, check_finished, resume, settle, stored_events
from hokusai_ci.core.claims import Heartbeat, abandon, best_effort, end_orphans, lost, retrying
from hokusai_ci.core.inputs import (
    RegistrationRequest,
    measured_refusal,
    record_verdict,
    value_refusal,
)
from hokusai_ci.core.registration_ports import Attempt, Checked, Committed, Ports
from hokusai_ci.core.token_checks import check_not_registered_elsewhere, check_token, same_content
from hokusai_ci.core.version_values import fill_registered, sign, token_registration, upload_request, version_tags
from hokusai_ci.domain.errors import Cancelled, Category, HokusaiError, VersionKeptError
from hokusai_ci.domain.events import build_events
from hokusai_ci.domain.fingerprint import Fingerprint, fingerprint
from hokusai_ci.domain.measured.stored import store_evidence
from hokusai_ci.domain.metrics import GateResult
from hokusai_ci.domain.results import ErrorInfo, RegistrationResult
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.store import TokenRecord, TokenStatus, TokenStore
from hokusai_ci.ports.tracking import Status, Tag, TrackedModel, Tracker

__all__ = ["Ports", "register"]  # the use case and what it is given
log = logging.getLogger("hokusai_ci")


def register(request: RegistrationRequest, ports: Ports) -> RegistrationResult:
    """Run one registration; failures come back as the result's `error`."""
    result = RegistrationResult(
        token_id=request.token_id, model_name=request.model_name, token_store=ports.store.describe()
    )
    attempt = Attempt()
    try:
        outcome = record_verdict(result, request)
        token = ports.store.get(request.token_id)
        if token is not None and token.status is TokenStatus.REGISTERED and not request.dry_run:
            return resume(request, token, ports, result)
        checked = preflight(request, outcome, ports, token)
        result.model_bytes = checked.source.total_bytes
        if request.dry_run:
            fp = _hash(request, ports)
            result.model_sha256 = fp.sha256
            result.status = "dry_run"
            result.message = _dry_run_message(request, checked, fp, ports)
            return result
        committed = commit(request, checked, ports, attempt)
        _registered(result, committed)
        unfinished = settle(checked.tracker, committed, ports)
        result.events = announce(committed.events, ports)
        check_finished(request, committed.tracked, unfinished, result)
    except HokusaiError as err:
        if attempt.committed is not None:
            _registered(result, attempt.committed)
            result.events = result.events or stored_events(ports.store, attempt.committed.events)
        elif err.status == TokenStatus.REGISTERED.value:
            fill_registered(result, ports, request.token_id)
        _fail(result, err)
    except (KeyboardInterrupt, Cancelled) as exc:
        if attempt.committed is not None:
            _registered(result, attempt.committed)
            result.events = result.events or stored_events(ports.store, attempt.committed.events)
        category = Category.TERMINATED if isinstance(exc, Cancelled) else Category.INTERRUPTED
        message = _cancelled_message(request, category, result, attempt.release_note, attempt.told)
        _fail(result, HokusaiError(category, message))
    return result


def _registered(result: RegistrationResult, committed: Committed) -> None:
    result.model_sha256 = committed.fingerprint.sha256
    _fill(result, committed.tracked)
    result.attestation = committed.attestation
    result.status = "registered"


# -- preflight: nothing is written ----------------------------------------------------------
def preflight(req: RegistrationRequest, outcome: GateResult, ports: Ports, token: TokenRecord | None) -> Checked:
    check_token(req, token, ports.store)
    if req.measured is not None and not outcome.passed:
        raise HokusaiError(
            Category.PERFORMANCE_BELOW_BASELINE,
            f"{measured_refusal(req)}; nothing was uploaded and token {req.token_id} stays draft",
        )
    if not outcome.passed:
        raise HokusaiError(
            Category.PERFORMANCE_BELOW_BASELINE,
            f"{value_refusal(req, outcome)} "
            f"({outcome.direction.value} is better; delta {outcome.delta:+g}"
            f"{_relative(outcome)}); nothing was uploaded and token {req.token_id} stays draft",
        )
    if ports.notifier is not None:
        ports.notifier.check(outcome)
    source = ModelSource.of(req.model_path, req.links_within)
    tracker = ports.tracker()
    if tracker is not None:
        tracker.check()
    elif not req.dry_run:
        raise AssertionError("a tracker is required to register")
    return Checked(outcome, source, tracker)


def _hash(req: RegistrationRequest, ports: Ports) -> Fingerprint:
    return fingerprint(req.model_path, lambda total: ports.progress("hashing", total), links_within=req.links_within)


def _registered_elsewhere(req: RegistrationRequest, earlier: list[TrackedModel], ports: Ports) -> None:
    if ports.notifier is None:  # in API mode the platform, which is the token store, decides
        check_not_registered_elsewhere(req, earlier, ports.store)


def _dry_run_message(req: RegistrationRequest, checked: Checked, fp: Fingerprint, ports: Ports) -> str:
    earlier = [] if checked.tracker is None else checked.tracker.find(req.token_id)
    _registered_elsewhere(req, earlier, ports)
    same = same_content(earlier, fp, req.model_name)
    if same is not None:
        return f"every check passed; would reuse {same.model_name} version {same.model_version}"
    return f"every check passed; would upload {fp.total_bytes} bytes and register a new version of {req.model_name}"


# -- commit: claim → upload or adopt → notify → complete --------------------------------------
def commit(req: RegistrationRequest, checked: Checked, ports: Ports, attempt: Attempt) -> Committed:
    tracker = checked.tracker
    assert tracker is not None
    claim_id = uuid.uuid4().hex
    if not ports.store.claim(req.token_id, claim_id, ports.lease_seconds):
        check_token(req, ports.store.get(req.token_id), ports.store)
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {req.token_id} was claimed by another run a moment ago; nothing was uploaded by this run",
        )
    tracked: TrackedModel | None = None
    completing = False
    with Heartbeat(ports.store, req.token_id, claim_id, ports.lease_seconds):
        try:
            earlier = tracker.find(req.token_id)
            _registered_elsewhere(req, earlier, ports)
            # the model is hashed first only to compare it with an earlier upload of this token;
            # otherwise the upload hashes the bytes as it sends them (one read of the model)
            hashed = _hash(req, ports) if earlier else None
            same = same_content(earlier, hashed, req.model_name) if hashed else None
            # this run holds the token's only live claim: a run of it still RUNNING in MLflow was
            # left by a run that died (before its version existed, or one MLflow created late)
            best_effort(
                "end the token's runs left running",
                lambda: end_orphans(tracker, req.token_id, keep={same.run_id} if same else set()),
            )
            if same is not None:
                tracked = _adopt(tracker, same, req, checked, claim_id, ports)
            else:
                tracked = tracker.upload(
                    upload_request(req, checked, claim_id, ports),
                    checked.source,
                    ports.progress("uploading", checked.source.total_bytes),
                )
            tracked = store_evidence(tracker, tracked, req.measured, req.evidence_files, ports.progress)
            fp = hashed or _as_sent(checked.source, tracked)
            registration = token_registration(tracked, checked, fp)
            attestation = sign(tracker, tracked, registration, req, checked, fp, ports)
            events = build_events(
                token_id=req.token_id,
                record=registration,
                gate=checked.gate,
                destination=ports.webhook_target,
                event_id=_event_namer(ports, req.token_id, fp.sha256),
                attestation=attestation,
            )
            completing = True  # from here the store (or, in API mode, the platform) may hold it
            attempt.told = tracked if ports.notifier is not None else None
            won = ports.notifier is None or ports.notifier.notify(req.token_id, registration)
            if won:
                won = retrying(
                    lambda: ports.store.complete(req.token_id, claim_id, registration, events),
                    ports.store_retry_seconds,
                    f"recording token {req.token_id} as registered",
                )
        except BaseException as exc:
            if completing and tracked is not None and _stored(ports.store, req.token_id, tracked):
                # the store committed although its answer was lost: the registration is done
                attempt.committed = Committed(tracked, fp, events, attestation, tuple(earlier))
                if not isinstance(exc, HokusaiError):
                    raise
                log.warning("%s; the token store did record the registration", exc.message)
                return attempt.committed
            attempt.release_note = abandon(ports, tracker, req.token_id, claim_id, tracked)
            if isinstance(exc, HokusaiError) and attempt.release_note:
                raise exc.with_note(attempt.release_note) from None
            raise
    assert tracked is not None
    if not won:
        lost(ports, tracker, req.token_id, claim_id, tracked)
    attempt.committed = Committed(tracked, fp, events, attestation, tuple(earlier))
    return attempt.committed


def _stored(store: TokenStore, token_id: str, tracked: TrackedModel) -> bool:
    """Whether the token store holds this run's registration (a commit whose answer was lost)."""
    try:
        token = store.get(token_id)
    except Exception:
        return False
    return (
        token is not None
        and token.status is TokenStatus.REGISTERED
        and (token.model_name, token.model_version, token.run_id)
        == (tracked.model_name, tracked.model_version, tracked.run_id)
    )


def _as_sent(source: ModelSource, tracked: TrackedModel) -> Fingerprint:
    """The digests of an upload, computed from the bytes as they were sent."""
    assert tracked.sha256 is not None, "an upload reports the digest of what it sent"
    return Fingerprint(source.path, source.is_dir, tracked.sha256, source.total_bytes, tracked.files)


def _adopt(
    tracker: Tracker, same: TrackedModel, req: RegistrationRequest, checked: Checked, claim_id: str, ports: Ports
) -> TrackedModel:
    """Reuse a version an earlier run uploaded for the same content. Its claim is dead: this
    run holds the token's only live claim. It is re-tagged with this run's values first, so
    the version, the token record and the events say the same thing; provenance an earlier
    run left (this run has none, or less) is blanked, so no tag claims a CI run the statement does not."""
    tags: dict[str, str | None] = dict(version_tags(req, checked, claim_id, ports))
    tags |= {key: "" for key in Tag.CI if key not in tags}
    # what an earlier measured run wrote and this run does not (its evidence's place is set, or
    # kept for the same content, by `store_evidence` when this run is measured too)
    kept = {Tag.EVIDENCE_URI} if req.measured is not None else set()
    tags |= {key: None for key in Tag.MEASURED if key not in tags and key not in kept}
    tracker.tag(same, tags)
    log.info("reusing %s version %s uploaded earlier for this content", same.model_name, same.model_version)
    return same.model_copy(update={"reused": True, "claim_id": claim_id})


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


def _fail(result: RegistrationResult, err: HokusaiError) -> None:
    if isinstance(err, VersionKeptError):  # a version the failure left in MLflow (API mode: not accepted)
        for name in _KEPT:
            if getattr(result, name) is None and isinstance(getattr(err.kept, name), str):
                setattr(result, name, getattr(err.kept, name))
    result.error = ErrorInfo.of(err)
    if result.status != "registered":  # exit 9 keeps "registered": the model is in the registry
        result.status = "error"


_KEPT = ("model_version", "model_uri", "mlflow_run_id", "model_sha256")


def _cancelled_message(
    req: RegistrationRequest, category: Category, result: RegistrationResult, note: str, told: TrackedModel | None
) -> str:
    signal_name = "SIGTERM" if category is Category.TERMINATED else "SIGINT"
    if result.status == "registered":
        return (
            f"stopped by {signal_name} after token {req.token_id} was registered ({result.model_name} version "
            f"{result.model_version}); re-run the same command to finish what is left (the version's "
            f"{Tag.STATUS}={Status.REGISTERED} tag, the end of its MLflow run, the events in the outbox, which "
            "`hokusai events replay` also sends)"
        )
    if told is not None:  # the platform may have told the site: the version is kept, never undone
        return (
            f"stopped by {signal_name} while the Hokusai platform was being told of {told.model_name} version "
            f"{told.model_version}: the platform may already hold this registration, so that version is kept; "
            "re-run the same command, which sends the same notification again (never another version)"
        )
    if note:
        return f"stopped by {signal_name}; nothing was registered{note}; then re-run to resume"
    return (
        f"stopped by {signal_name}; nothing was registered and token {req.token_id} is draft again "
        "(an uploaded version is kept for the next run with the same content); re-run to resume"
    )


def _relative(outcome: GateResult) -> str:
    return "" if outcome.relative_delta is None else f", {outcome.relative_delta:+.2%}"
