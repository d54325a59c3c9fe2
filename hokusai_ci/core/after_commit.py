"""After the token store committed, the registration is done: `settle` tags the version
registered and ends its run, `announce` delivers the stored events, and `resume` (a re-run of
the same command) finishes whatever a failure or a signal left undone. Exit 8 or 9 say what is
left; no message here says nothing was registered."""

from __future__ import annotations

import logging

from hokusai_ci.core.claims import best_effort, end_orphans
from hokusai_ci.core.inputs import RegistrationRequest
from hokusai_ci.core.registration_ports import Committed, Ports
from hokusai_ci.core.token_checks import check_token, quick_sha
from hokusai_ci.core.version_values import fill_registered
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.events import EventSink
from hokusai_ci.domain.results import EventInfo, RegistrationResult
from hokusai_ci.ports.store import DeliveryStatus, EventRecord, TokenRecord, TokenStore, utcnow
from hokusai_ci.ports.tracking import Status, Tag, TrackedModel, Tracker

log = logging.getLogger("hokusai_ci")


def settle(tracker: Tracker | None, committed: Committed, ports: Ports) -> list[str]:
    """After the token store committed: the version says registered, its run finished, and the
    token's other versions left by runs that failed are removed (never one a token store registered). The
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
        if (other.model_name, other.model_version) == (tracked.model_name, tracked.model_version):
            continue
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
    fill_registered(result, ports, req.token_id)
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
    check_finished(req, None, unfinished, result, model)
    quick = quick_sha(req) if done and token.sha256 is not None else None
    if not done or (quick is not None and quick != token.sha256):
        result.status, result.reused_existing_version = "error", False  # exit 4, as before
    if not done:
        check_token(req, token, ports.store)  # exit 4: already registered, nothing to do
    if quick is not None and quick != token.sha256:
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
    best_effort(  # a server without run search still gets its tag repaired
        "end the token's runs left running",
        lambda: ended.extend(end_orphans(tracker, req.token_id, keep=set(), finished=token.run_id)),
    )
    if ended:
        done.append(f"ended {len(ended)} MLflow run(s) left running")
    return done


# -- announce ---------------------------------------------------------------------------------
def announce(events: list[EventRecord], ports: Ports) -> list[EventInfo]:
    """Console always; the webhook when configured, recording each attempt in the outbox."""
    return deliver(events, ports.store, ports.console, ports.webhook)


def stored_events(store: TokenStore, events: list[EventRecord]) -> list[EventInfo]:
    """The committed events as the outbox holds them, for a result cut short after the commit
    (a signal, a failure during delivery): each with its delivery status, so the reader sees
    which are still pending, which `events replay` or a re-run sends. When the store cannot be
    read, the events as committed (pending)."""
    try:
        stored = {event.event_id: event for event in store.events_for(events[0].token_id)} if events else {}
    except Exception as exc:  # the outbox holds them whatever this read says
        log.debug("could not read the stored events back: %s", exc)
        stored = {}
    return [EventInfo.of(stored.get(event.event_id, event)) for event in events]


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


def check_finished(
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
