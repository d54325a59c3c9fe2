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

`register` never raises a `HokusaiError`: it returns the result with `error` set.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from hokusai_ci import __version__
from hokusai_ci.attestation import (
    MODEL_SIGNATURE_FILE,
    REGISTRATION_FILE,
    Attestation,
    RegistrationPredicate,
    Signer,
    provenance,
    sha256_hex,
    statement,
)
from hokusai_ci.attestation import Metric as AttestedMetric
from hokusai_ci.errors import Cancelled, Category, HokusaiError, VersionKeptError
from hokusai_ci.events import ConsoleSink, EventSink, build_events
from hokusai_ci.fingerprint import Fingerprint, fingerprint
from hokusai_ci.inputs import RegistrationRequest, request_gate
from hokusai_ci.measured.decision import MeasuredGate, basis, evidence_sha256
from hokusai_ci.metrics import GateResult
from hokusai_ci.notifier import Notifier
from hokusai_ci.progress import ProgressSink
from hokusai_ci.results import ErrorInfo, EventInfo, RegistrationResult
from hokusai_ci.store import (
    DeliveryStatus,
    EventRecord,
    Registration,
    TokenRecord,
    TokenStatus,
    TokenStore,
    store_now,
    utcnow,
)
from hokusai_ci.streaming import ModelSource
from hokusai_ci.tracking import Status, Tag, TrackedModel, Tracker, UploadRequest
from hokusai_ci.validation import escape_control

log = logging.getLogger("hokusai_ci")
T = TypeVar("T")
DEFAULT_LEASE_SECONDS = 120


@dataclass
class Ports:
    store: TokenStore
    tracker: Callable[[], Tracker | None]
    progress: Callable[[str, int], ProgressSink]
    notifier: Notifier | None = None
    webhook: EventSink | None = None
    webhook_target: str | None = None
    console: EventSink = field(default_factory=ConsoleSink)
    ci_tags: dict[str, str] = field(default_factory=dict)
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    store_retry_seconds: float = 60.0
    event_id: Callable[[str, str, str], str] | None = None  # (token, sha256, type) -> id; mock mode
    signer: Signer | None = None


@dataclass(frozen=True)
class Checked:
    """What the preflight established, nothing written yet."""

    gate: GateResult
    source: ModelSource  # the files, listed (not yet hashed)
    tracker: Tracker | None


@dataclass(frozen=True)
class Committed:
    tracked: TrackedModel
    fingerprint: Fingerprint  # the digests of what was registered
    events: list[EventRecord]
    attestation: Attestation | None = None
    earlier: tuple[TrackedModel, ...] = ()  # the token's versions found before the upload


@dataclass
class Attempt:
    """What this run has done so far, for the one place that reports how it ended."""

    committed: Committed | None = None  # set once the token store holds the registration
    release_note: str = ""  # why the token is not draft again after a failure, and what frees it
    told: TrackedModel | None = None  # the version the platform is being (or was) told of (API mode)


def register(request: RegistrationRequest, ports: Ports) -> RegistrationResult:
    """Run one registration; failures come back as the result's `error`."""
    result = RegistrationResult(
        token_id=request.token_id, model_name=request.model_name, token_store=ports.store.describe()
    )
    attempt = Attempt()
    try:
        result.metric = request_gate(request)
        result.measured = request.measured
        result.baseline_source = request.baseline_source
        token = ports.store.get(request.token_id)
        if token is not None and token.status is TokenStatus.REGISTERED and not request.dry_run:
            return resume(request, token, ports, result)
        checked = preflight(request, result.metric, ports, token)
        result.model_bytes = checked.source.total_bytes
        if request.dry_run:
            fp = _hash(request, ports)
            result.model_sha256 = fp.sha256
            result.status = "dry_run"
            result.message = _dry_run_message(request, checked, fp)
            return result
        committed = commit(request, checked, ports, attempt)
        _registered(result, committed)
        unfinished = settle(checked.tracker, committed, ports)
        result.events = announce(committed.events, ports)
        _check_finished(request, committed.tracked, unfinished, result)
    except HokusaiError as err:
        if attempt.committed is not None:
            _registered(result, attempt.committed)
        elif err.status == TokenStatus.REGISTERED.value:
            _fill_registered(result, ports, request.token_id)
        _fail(result, err)
    except (KeyboardInterrupt, Cancelled) as exc:
        if attempt.committed is not None:
            _registered(result, attempt.committed)
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
    _check_token(req, token, ports.store)
    if req.measured is not None and not outcome.passed:
        raise HokusaiError(
            Category.PERFORMANCE_BELOW_BASELINE,
            f"{req.measured.verdict}; nothing was uploaded and token {req.token_id} stays draft",
        )
    if not outcome.passed:
        raise HokusaiError(
            Category.PERFORMANCE_BELOW_BASELINE,
            f"{outcome.name} {outcome.value:g} does not meet the baseline {outcome.baseline:g} "
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


def _dry_run_message(req: RegistrationRequest, checked: Checked, fp: Fingerprint) -> str:
    earlier = [] if checked.tracker is None else checked.tracker.find(req.token_id)
    same = _same_content(earlier, fp)
    if same is not None:
        return f"every check passed; would reuse {same.model_name} version {same.model_version}"
    return f"every check passed; would upload {fp.total_bytes} bytes and register a new version of {req.model_name}"


# -- commit: claim → upload or adopt → notify → complete --------------------------------------
def commit(req: RegistrationRequest, checked: Checked, ports: Ports, attempt: Attempt) -> Committed:
    tracker = checked.tracker
    assert tracker is not None
    claim_id = uuid.uuid4().hex
    if not ports.store.claim(req.token_id, claim_id, ports.lease_seconds):
        _check_token(req, ports.store.get(req.token_id), ports.store)
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {req.token_id} was claimed by another run a moment ago; nothing was uploaded by this run",
        )
    tracked: TrackedModel | None = None
    completing = False
    with Heartbeat(ports.store, req.token_id, claim_id, ports.lease_seconds):
        try:
            earlier = tracker.find(req.token_id)
            # the model is hashed first only to compare it with an earlier upload of this token;
            # otherwise the upload hashes the bytes as it sends them (one read of the model)
            hashed = _hash(req, ports) if earlier else None
            same = _same_content(earlier, hashed) if hashed else None
            # this run holds the token's only live claim: a run of it still RUNNING in MLflow was
            # left by a run that died (before its version existed, or one MLflow created late)
            _best_effort(
                "end the token's runs left running",
                lambda: _end_orphans(tracker, req.token_id, keep={same.run_id} if same else set()),
            )
            if same is not None:
                tracked = _adopt(tracker, same, req, checked, claim_id, ports)
            else:
                tracked = tracker.upload(
                    _upload_request(req, checked, claim_id, ports),
                    checked.source,
                    ports.progress("uploading", checked.source.total_bytes),
                )
            fp = hashed or _as_sent(checked.source, tracked)
            attestation = _sign(tracker, tracked, req, checked, fp, ports)
            registration = _registration(tracked, checked, fp)
            events = build_events(
                token_id=req.token_id,
                run_id=tracked.run_id,
                model_name=tracked.model_name,
                model_version=tracked.model_version,
                model_uri=tracked.model_uri,
                sha256=fp.sha256,
                gate=checked.gate,
                destination=ports.webhook_target,
                event_id=_event_namer(ports, req.token_id, fp.sha256),
                attestation=attestation,
            )
            completing = True  # from here the store (or, in API mode, the platform) may hold it
            attempt.told = tracked if ports.notifier is not None else None
            won = ports.notifier is None or ports.notifier.notify(req.token_id, registration)
            if won:
                won = _retrying(
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
            attempt.release_note = _abandon(ports, tracker, req.token_id, claim_id, tracked)
            if isinstance(exc, HokusaiError) and attempt.release_note:
                raise exc.with_note(attempt.release_note) from None
            raise
    assert tracked is not None
    if not won:
        _lost(ports, tracker, req.token_id, claim_id, tracked)
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
        and (token.model_name, token.model_version, token.mlflow_run_id)
        == (tracked.model_name, tracked.model_version, tracked.run_id)
    )


def _end_orphans(tracker: Tracker, token_id: str, keep: set[str], finished: str | None = None) -> list[str]:
    """End the token's runs left RUNNING by runs that died: `finished` (the registered version's
    run) as FINISHED, the others as KILLED; `keep` is left alone. Returns the runs ended."""
    ended = []
    for run_id, _claim in tracker.running(token_id):
        if run_id in keep:
            continue
        tracker.end_run(run_id, "FINISHED" if run_id == finished else "KILLED")
        ended.append(run_id)
    return ended


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
    tags = _tags(req, checked, claim_id, ports)
    tags |= {key: "" for key in Tag.CI if key not in tags}
    tracker.tag(same, tags)
    log.info("reusing %s version %s uploaded earlier for this content", same.model_name, same.model_version)
    return same.model_copy(update={"reused": True, "claim_id": claim_id})


def _sign(
    tracker: Tracker,
    tracked: TrackedModel,
    req: RegistrationRequest,
    checked: Checked,
    fp: Fingerprint,
    ports: Ports,
) -> Attestation | None:
    """Sign what is about to be registered: the model (model_signing's format) and the
    registration statement over the version's values, stored beside the model with their
    digests as version tags. A failure here abandons the run like any other: nothing is
    registered unsigned, and the next run signs the version it adopts."""
    if ports.signer is None:
        return None
    model_bundle = ports.signer.sign_model(fp)
    predicate = registration_predicate(req, checked, fp, tracked, sha256_hex(model_bundle), ports)
    bundle = ports.signer.sign_statement(statement(predicate))
    folder = tracker.store_attestation(tracked, {MODEL_SIGNATURE_FILE: model_bundle, REGISTRATION_FILE: bundle})
    signed = Attestation(
        uri=f"{folder}/{REGISTRATION_FILE}",
        sha256=sha256_hex(bundle),
        model_signature_sha256=predicate.model_signature_sha256,
        method=ports.signer.method,
    )
    tracker.tag(
        tracked,
        {
            Tag.ATTESTATION_URI: signed.uri,
            Tag.ATTESTATION_SHA256: signed.sha256,
            Tag.MODEL_SIGNATURE_SHA256: signed.model_signature_sha256,
        },
    )
    log.info("signed (%s): registration statement sha256 %s", signed.method, signed.sha256)
    return signed


def registration_predicate(
    req: RegistrationRequest,
    checked: Checked,
    fp: Fingerprint,
    tracked: TrackedModel,
    model_signature_sha256: str,
    ports: Ports,
) -> RegistrationPredicate:
    """The signed record: the same values the version's tags and the token record hold."""
    g = checked.gate
    return RegistrationPredicate(
        token_id=req.token_id,
        model_name=tracked.model_name,
        model_version=tracked.model_version,
        model_uri=tracked.model_uri,
        mlflow_run_id=tracked.run_id,
        model_sha256=fp.sha256,
        model_layout="directory" if fp.is_dir else "file",
        model_files=len(fp.files),
        model_bytes=fp.total_bytes,
        model_signature_sha256=model_signature_sha256,
        metric=AttestedMetric(
            name=g.name, value=g.value, baseline=g.baseline, direction=g.direction.value, delta=g.delta, passed=g.passed
        ),
        metrics_file_sha256=req.metrics_file_sha256,
        **measured_fields(req.measured),
        baseline_source=req.baseline_source,
        ci=provenance(ports.ci_tags),
        signing_method=ports.signer.method if ports.signer else "key",
        tool="hokusai-ci",
        tool_version=__version__,
        registered_at=utcnow(),
    )


def _abandon(ports: Ports, tracker: Tracker, token_id: str, claim_id: str, tracked: TrackedModel | None) -> str:
    """The one cleanup path of a failed or cancelled commit: the version stays (tagged not
    registered) for the next run to adopt or remove, its run is marked failed, and the claim is
    released so the token is draft again at once. Returns what to tell the user when the claim
    could not be released (empty when it was)."""
    if tracked is not None:  # still tagged not_registered: only `settle` tags a version registered
        _best_effort("mark the run failed", lambda: tracker.finish(tracked, ok=False))
    else:  # a run MLflow created although its answer never came back is this run's too
        _best_effort("end this run's MLflow run", lambda: _end_own_runs(tracker, token_id, claim_id))
    try:
        _retrying(lambda: ports.store.release(token_id, claim_id), min(ports.store_retry_seconds, 10), "release")
    except (HokusaiError, KeyboardInterrupt, Cancelled) as err:
        reason = err.message if isinstance(err, HokusaiError) else "interrupted"
        log.warning("could not release the claim on token %s (%s)", token_id, reason)
        return (
            f"; the claim on token {token_id} could not be released, so it stays registering until its lease "
            f"ends (within {ports.lease_seconds}s), or run `hokusai token release --token-id {token_id} --force`"
        )
    return ""


def _end_own_runs(tracker: Tracker, token_id: str, claim_id: str) -> None:
    for run_id, claim in tracker.running(token_id):
        if claim == claim_id:
            tracker.end_run(run_id, "FAILED")


def _lost(ports: Ports, tracker: Tracker, token_id: str, claim_id: str, tracked: TrackedModel) -> None:
    """Another run registered the token first. Re-read before removing anything: the version
    the token names is never removed, and one another live claim may adopt is kept."""
    _best_effort("release the claim", lambda: ports.store.release(token_id, claim_id))
    winner = ports.store.get(token_id)
    names_ours = winner is not None and (winner.model_name, winner.model_version) == (
        tracked.model_name,
        tracked.model_version,
    )
    registered = winner is not None and winner.status is TokenStatus.REGISTERED
    mine = f"{tracked.model_name} version {tracked.model_version}"
    if names_ours:  # the winner owns this run's version now: its tags and run are left alone
        message = (
            f"another run registered token {token_id} first, with the model this run uploaded ({mine}): "
            "it adopted this run's version, so the upload is the registered model and nothing is left to do"
        )
    elif registered:
        assert winner is not None
        _best_effort("mark the run failed", lambda: tracker.finish(tracked, ok=False))
        tracker.discard(tracked, f"another run registered token {token_id} first")
        message = (
            f"another run registered token {token_id} first ({winner.model_name} version {winner.model_version}); "
            f"this run's upload ({mine}) was deleted, since a registered token keeps the model it has"
        )
    else:
        _best_effort("mark the run failed", lambda: tracker.finish(tracked, ok=False))
        message = (
            f"another run took over token {token_id} while this one worked; this run's upload ({mine}) is kept, "
            "not registered, so that run can reuse it if its model is the same"
        )
    raise HokusaiError(Category.INVALID_TOKEN_STATUS, message)


def settle(tracker: Tracker | None, committed: Committed, ports: Ports) -> list[str]:
    """After the token store committed: the version says registered, its run finished, and the
    token's other versions (left by runs that failed, with other content) are removed. The
    registration is done whatever happens here; returns the steps MLflow did not take, which
    a re-run of the same command takes (`resume`)."""
    assert tracker is not None
    tracked = committed.tracked
    unfinished = []
    try:
        tracker.tag(tracked, {Tag.STATUS: Status.REGISTERED})
    except Exception as exc:
        unfinished.append(f"tag the version {Tag.STATUS}={Status.REGISTERED} ({_reason(exc)})")
    try:
        tracker.finish(tracked, ok=True)
    except Exception as exc:
        unfinished.append(f"end its MLflow run ({_reason(exc)})")
    for other in committed.earlier:
        if (other.model_name, other.model_version) != (tracked.model_name, tracked.model_version):
            # its run failed, or was killed and never ended: either way it did not register; a
            # duplicate made by a retried create shares the registered version's run, which stays FINISHED
            if other.run_id != tracked.run_id:
                tracker.finish(other, ok=False)  # best effort by contract when failing
            tracker.discard(other, f"version {tracked.model_version} was registered for the token instead")
    return unfinished


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, HokusaiError) else f"{exc.__class__.__name__}: {exc}"


def resume(
    req: RegistrationRequest, token: TokenRecord, ports: Ports, result: RegistrationResult
) -> RegistrationResult:
    """A re-run of a registered token finishes what the run that registered it left undone (a
    signal, MLflow down after the commit): the version's `registered` tag, its run's end, the
    token's runs left RUNNING, undelivered events. Every step is idempotent. Exit 0 when
    it finished something for the same model, else exit 4 as for any registered token."""
    _fill_registered(result, ports, req.token_id)
    result.status = "registered"
    result.reused_existing_version = True
    done: list[str] = []
    pending = ports.store.pending_events(req.token_id) if ports.webhook is not None else []
    if pending:
        result.events = deliver(pending, ports.store, ports.console, ports.webhook)
        delivered = sum(1 for e in result.events if e.delivery_status == "delivered")
        if delivered:
            done.append(f"delivered {delivered} pending event(s)")
    unfinished: list[str] = []
    try:
        done += _repair_tracker(req, token, ports)
    except HokusaiError as err:
        unfinished.append(f"check or finish the version's tag and run ({err.message})")
    model = f"{token.model_name} version {token.model_version}"
    if done:
        log.info("token %s was registered by an earlier run (%s); this run: %s", req.token_id, model, "; ".join(done))
    _check_finished(req, None, unfinished, result, model)
    quick = _quick_sha(req) if done and token.model_sha256 is not None else None
    if not done or (quick is not None and quick != token.model_sha256):
        result.status, result.reused_existing_version = "error", False  # exit 4, as before
    if not done:
        _check_token(req, token, ports.store)  # exit 4: already registered, nothing to do
    if quick is not None and quick != token.model_sha256:
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {req.token_id} is already registered with another model ({model}): a registered token keeps "
            f"its model; this run only finished what the registering run left ({'; '.join(done)})",
            status=token.status.value,
        )
    result.message = f"token {req.token_id} was already registered ({model}); this run {'; '.join(done)}"
    return result


def _repair_tracker(req: RegistrationRequest, token: TokenRecord, ports: Ports) -> list[str]:
    tracker = ports.tracker()
    if tracker is None:
        return []
    tracker.check()
    done = []
    versions = tracker.find(req.token_id)
    named = next(
        (v for v in versions if (v.model_name, v.model_version) == (token.model_name, token.model_version)), None
    )
    if named is not None and named.status != Status.REGISTERED:
        tracker.tag(named, {Tag.STATUS: Status.REGISTERED})
        done.append(f"tagged {named.model_name} version {named.model_version} {Tag.STATUS}={Status.REGISTERED}")
    ended: list[str] = []
    _best_effort(  # a server without run search still gets its tag repaired
        "end the token's runs left running",
        lambda: ended.extend(_end_orphans(tracker, req.token_id, keep=set(), finished=token.mlflow_run_id)),
    )
    if ended:
        done.append(f"ended {len(ended)} MLflow run(s) left running")
    return done


class Heartbeat:
    """Renews the claim while the run works, so a live run never loses it to a timeout however
    long the upload takes, and a dead run's claim expires within one lease."""

    def __init__(self, store: TokenStore, token_id: str, claim_id: str, lease_seconds: int) -> None:
        self.store, self.token_id, self.claim_id, self.lease = store, token_id, claim_id, lease_seconds
        self.interval = max(lease_seconds / 4, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hokusai-lease", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.store.renew(self.token_id, self.claim_id, self.lease):
                    log.warning("the claim on token %s was taken over by another run", self.token_id)
                    return
            except HokusaiError as err:
                log.warning("could not renew the claim on token %s: %s", self.token_id, err.message)


# -- announce ---------------------------------------------------------------------------------
def announce(events: list[EventRecord], ports: Ports) -> list[EventInfo]:
    """Console always; the webhook when configured, recording each attempt in the outbox."""
    return deliver(events, ports.store, ports.console, ports.webhook)


def deliver(
    events: list[EventRecord], store: TokenStore, console: EventSink, webhook: EventSink | None
) -> list[EventInfo]:
    infos = []
    for event in events:
        console.deliver(event)
        if webhook is not None:
            outcome = webhook.deliver(event)
            store.record_delivery(event.event_id, outcome.ok, outcome.error, outcome.attempts)
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


def _check_finished(
    req: RegistrationRequest,
    tracked: TrackedModel | None,
    unfinished: list[str],
    result: RegistrationResult,
    model: str = "",
) -> None:
    """After the commit: exit 8 when MLflow did not take a step, 9 when an event was not
    delivered; either way the token is registered and a re-run of the same command finishes."""
    model = model or (f"{tracked.model_name} version {tracked.model_version}" if tracked else "")
    failed = [e for e in result.events if e.delivery_status == "failed"]
    events = (
        f"; {len(failed)} event(s) were not delivered ({failed[0].last_error}) and are kept in the outbox"
        if failed
        else ""
    )
    if unfinished:
        raise HokusaiError(
            Category.MLFLOW_ERROR,
            f"token {req.token_id} is registered ({model}), but MLflow did not take the last steps: could not "
            + "; could not ".join(unfinished)
            + events
            + "; re-run the same command to finish them",
        )
    if failed:
        raise HokusaiError(
            Category.EVENT_DELIVERY_FAILED,
            f"token {req.token_id} is registered ({model}) but "
            f"{len(failed)} event(s) were not delivered: {failed[0].last_error}; they are kept in the outbox "
            "(`hokusai events replay` or a re-run of the same command sends them again)",
        )


# -- helpers ----------------------------------------------------------------------------------
def _check_token(req: RegistrationRequest, token: TokenRecord | None, store: TokenStore) -> None:
    tid = req.token_id
    where = store.describe()
    if token is None:
        raise HokusaiError(
            Category.TOKEN_NOT_FOUND,
            f"token {tid!r} does not exist in {where}; check the token id and the database settings "
            f"(create tokens on the Hokusai site, or locally with `hokusai token create --token-id {tid}`)",
        )
    if token.status is TokenStatus.DRAFT:
        return
    if token.status is TokenStatus.REGISTERING:
        if token.lease_expires_at is not None and token.lease_expires_at < store_now(store):
            return  # the run holding it died; the claim will take over
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {tid} is being registered by another run (status registering until "
            f"{token.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC); wait for it, then check "
            f"`hokusai model status --token-id {tid}`; if that run was killed, "
            f"`hokusai token release --token-id {tid} --force` frees the token now "
            "(a run after the lease expires takes the claim over by itself)",
            status=token.status.value,
        )
    if token.status is TokenStatus.REGISTERED:
        quick = _quick_sha(req) if token.model_sha256 is not None else None
        if quick is None:
            tail = "; nothing was uploaded"
        elif quick == token.model_sha256:
            tail = "; same model content, nothing to do"
        else:
            tail = "; this model's content differs, nothing was uploaded: a registered token keeps its model"
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {tid} is already registered: {token.model_name} version {token.model_version} "
            f"(run {token.mlflow_run_id}, sha256 {str(token.model_sha256)[:12]}, "
            f"{token.metric_name}={token.metric_value:g}, registered {_at(token.registered_at)})" + tail,
            status=token.status.value,
        )
    raise HokusaiError(
        Category.INVALID_TOKEN_STATUS,
        f"token {tid} is in status {token.status.value!r}; only draft tokens can be registered",
        status=token.status.value,
    )


def _at(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if when else "at a time not recorded"


def _quick_sha(req: RegistrationRequest) -> str | None:
    """Only a small model (a file or a folder) is hashed to say "same content" in an error."""
    try:
        if ModelSource.of(req.model_path, req.links_within).total_bytes <= 64 * 1024 * 1024:
            return fingerprint(req.model_path, links_within=req.links_within).sha256
    except (OSError, HokusaiError):
        return None
    return None


def _same_content(earlier: list[TrackedModel], fp: Fingerprint) -> TrackedModel | None:
    return next((v for v in earlier if v.sha256 == fp.sha256), None)


def _tags(req: RegistrationRequest, checked: Checked, claim_id: str, ports: Ports) -> dict[str, str]:
    outcome = checked.gate
    tags = {
        Tag.TOKEN: req.token_id,
        Tag.METRIC: outcome.name,
        Tag.METRIC_VALUE: repr(outcome.value),
        Tag.BASELINE: repr(outcome.baseline),
        Tag.DIRECTION: outcome.direction.value,
        **measured_tags(req.measured),
        Tag.CLAIM: claim_id,
        **ports.ci_tags,
    }
    return {key: escape_control(value) for key, value in tags.items()}  # no tag value holds a line break


def measured_fields(measured: MeasuredGate | None) -> dict[str, str | float]:
    """The measured evidence the version's tags and the signed statement record (none for a
    given value): the bound the verdict used, its basis, and the evidence files' digests."""
    if measured is None:
        return {}
    digest = evidence_sha256(measured)
    return {"metric_bound": measured.bound, "metric_basis": basis(measured), "evidence_sha256": digest}


def measured_tags(measured: MeasuredGate | None) -> dict[str, str]:
    names = {"metric_bound": Tag.METRIC_BOUND, "metric_basis": Tag.METRIC_BASIS, "evidence_sha256": Tag.EVIDENCE_SHA256}
    return {names[k]: repr(v) if isinstance(v, float) else v for k, v in measured_fields(measured).items()}


def _upload_request(req: RegistrationRequest, checked: Checked, claim_id: str, ports: Ports) -> UploadRequest:
    outcome = checked.gate
    return UploadRequest(
        token_id=req.token_id,
        model_name=req.model_name,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
        claim_id=claim_id,
        tags=_tags(req, checked, claim_id, ports),
    )


def _registration(tracked: TrackedModel, checked: Checked, fp: Fingerprint) -> Registration:
    outcome = checked.gate
    return Registration(
        model_name=tracked.model_name,
        model_version=tracked.model_version,
        model_uri=tracked.model_uri,
        mlflow_run_id=tracked.run_id,
        model_sha256=fp.sha256,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
    )


def _retrying(action: Callable[[], T], budget: float, what: str) -> T:
    """Retry a store call that failed to reach the store (a lock held, a server restarting)
    with backoff, for at most `budget` seconds."""
    deadline = time.monotonic() + budget
    delay = 0.5
    while True:
        try:
            return action()
        except HokusaiError as err:
            if err.category is not Category.DATABASE_CONNECTION_FAILED or time.monotonic() + delay > deadline:
                raise
            log.warning("%s failed (%s); retrying in %.1fs", what, err.message, delay)
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def _best_effort(what: str, fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception as exc:
        log.warning("could not %s: %s", what, exc)


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


def _fill_registered(result: RegistrationResult, ports: Ports, token_id: str) -> None:
    """A token registered before: the result names that registration, so a script re-running
    the same job reads the version it already has (the error still says exit 4)."""
    try:
        token = ports.store.get(token_id)
    except HokusaiError:
        return
    if token is not None:
        result.model_name = token.model_name or result.model_name
        result.model_version, result.model_uri = token.model_version, token.model_uri
        result.mlflow_run_id, result.model_sha256 = token.mlflow_run_id, token.model_sha256


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
