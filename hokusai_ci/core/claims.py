"""A registration's claim on its token, from the heartbeat that keeps it alive to the one
cleanup path that gives it back: the version a failed run uploaded is kept for the next run to
adopt, and a run that lost the race never removes the version the token names."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from hokusai_ci.core.registration_ports import Ports
from hokusai_ci.domain.errors import Cancelled, Category, HokusaiError
from hokusai_ci.ports.store import TokenStatus, TokenStore
from hokusai_ci.ports.tracking import TrackedModel, Tracker

log = logging.getLogger("hokusai_ci")
T = TypeVar("T")


def end_orphans(tracker: Tracker, token_id: str, keep: set[str], finished: str | None = None) -> list[str]:
    """End the token's runs left RUNNING by runs that died: `finished` (the registered version's
    run) as FINISHED, the others as KILLED; `keep` is left alone. Returns the runs ended."""
    ended = []
    for run_id, _claim in tracker.running(token_id):
        if run_id in keep:
            continue
        tracker.end_run(run_id, "FINISHED" if run_id == finished else "KILLED")
        ended.append(run_id)
    return ended


def abandon(ports: Ports, tracker: Tracker, token_id: str, claim_id: str, tracked: TrackedModel | None) -> str:
    """The one cleanup path of a failed or cancelled commit: the version stays (tagged not
    registered) for the next run to adopt or remove, its run is marked failed, and the claim is
    released so the token is draft again at once. Returns what to tell the user when the claim
    could not be released (empty when it was)."""
    if tracked is not None:  # still tagged not_registered: only `settle` tags a version registered
        best_effort("mark the run failed", lambda: tracker.finish(tracked, ok=False))
    else:  # a run MLflow created although its answer never came back is this run's too
        best_effort("end this run's MLflow run", lambda: _end_own_runs(tracker, token_id, claim_id))
    try:
        retrying(lambda: ports.store.release(token_id, claim_id), min(ports.store_retry_seconds, 10), "release")
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


def lost(ports: Ports, tracker: Tracker, token_id: str, claim_id: str, tracked: TrackedModel) -> None:
    """Another run registered the token first. Re-read before removing anything: the version
    the token names is never removed, and one another live claim may adopt is kept."""
    best_effort("release the claim", lambda: ports.store.release(token_id, claim_id))
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
        best_effort("mark the run failed", lambda: tracker.finish(tracked, ok=False))
        tracker.discard(tracked, f"another run registered token {token_id} first")
        message = (
            f"another run registered token {token_id} first ({winner.model_name} version {winner.model_version}); "
            f"this run's upload ({mine}) was deleted, since a registered token keeps the model it has"
        )
    else:
        best_effort("mark the run failed", lambda: tracker.finish(tracked, ok=False))
        message = (
            f"another run took over token {token_id} while this one worked; this run's upload ({mine}) is kept, "
            "not registered, so that run can reuse it if its model is the same"
        )
    raise HokusaiError(Category.INVALID_TOKEN_STATUS, message)


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


def retrying(action: Callable[[], T], budget: float, what: str) -> T:
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


def best_effort(what: str, fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception as exc:
        log.warning("could not %s: %s", what, exc)
