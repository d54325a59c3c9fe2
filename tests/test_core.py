"""The registration use case with a real SQLite store and an in-memory tracker.

The tracker is a fake on purpose: these tests steer the moments between claim, upload and
complete (a lost lease, a failed upload, an interrupt) that a real server cannot be made to hit
on cue. The real MLflow adapter is covered in test_real_servers.py.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from hokusai_ci.adapters.sql_store import SqlTokenStore, ts
from hokusai_ci.core.inputs import build_request
from hokusai_ci.core.registration import Ports, register
from hokusai_ci.domain.errors import Cancelled, Category, HokusaiError
from hokusai_ci.domain.fingerprint import fingerprint
from hokusai_ci.domain.progress import NoProgress, ProgressSink
from hokusai_ci.domain.results import RegistrationResult
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.store import Registration, TokenStatus, utcnow
from hokusai_ci.ports.tracking import TrackedModel, UploadRequest


class FakeTracker:
    """An in-memory registry of versions, tags and run states."""

    def __init__(self, during_upload: object = None) -> None:
        self.during_upload = during_upload
        self.uploads: list[UploadRequest] = []
        self.discarded: list[TrackedModel] = []
        self.versions: dict[str, TrackedModel] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.runs: dict[str, str] = {}

    def check(self) -> None:
        return None

    def find(self, token_id: str) -> list[TrackedModel]:
        return [v for n, v in sorted(self.versions.items()) if self.tags[n].get("hokusai.token_id") == token_id]

    def upload(self, request: UploadRequest, model: ModelSource, progress: ProgressSink) -> TrackedModel:
        self.uploads.append(request)
        n = str(len(self.uploads))
        self.runs[f"run{n}"] = "RUNNING"
        sha256 = fingerprint(model.path).sha256  # what a real tracker computes from the bytes it sends
        tracked = TrackedModel(
            run_id=f"run{n}",
            model_name=request.model_name,
            model_version=n,
            model_uri=f"models:/{request.model_name}/{n}",
            sha256=sha256,
            claim_id=request.claim_id,
            status="not_registered",
        )
        self.versions[n] = tracked
        self.tags[n] = {**request.tags, "hokusai.status": "not_registered", "hokusai.sha256": sha256}
        if callable(self.during_upload):
            try:
                self.during_upload()
            except BaseException:
                self.runs[f"run{n}"] = "FAILED"
                raise
        return tracked

    def tag(self, model: TrackedModel, tags: dict[str, str]) -> None:
        self.tags[model.model_version].update(tags)

    def finish(self, model: TrackedModel, ok: bool) -> None:
        self.runs[model.run_id] = "FINISHED" if ok else "FAILED"

    def discard(self, model: TrackedModel, reason: str) -> None:
        self.discarded.append(model)
        self.versions.pop(model.model_version, None)

    def running(self, token_id: str) -> list[tuple[str, str | None]]:
        return [(run, None) for run, status in self.runs.items() if status == "RUNNING"]

    def end_run(self, run_id: str, status: str) -> None:
        self.runs[run_id] = status


@pytest.fixture
def store(tmp_path: Path) -> SqlTokenStore:
    s = SqlTokenStore.sqlite(tmp_path / "h" / "hokusai.db")
    s.create("TOK")
    return s


def ports(
    store: SqlTokenStore, tracker: FakeTracker, lease_seconds: int = 120, store_retry_seconds: float = 60
) -> Ports:
    return Ports(
        store=store,
        tracker=lambda: tracker,
        progress=lambda label, total: NoProgress(),
        lease_seconds=lease_seconds,
        store_retry_seconds=store_retry_seconds,
    )


def request(model: Path, value: str = "0.9", dry_run: bool = False):  # type: ignore[no-untyped-def]
    return build_request(
        token_id="TOK", model_path=str(model), metric="auroc", baseline="0.8", metric_value=value, dry_run=dry_run
    )


def expire_lease(store: SqlTokenStore) -> None:
    store._exec("UPDATE tokens SET lease_expires_at = ? WHERE token_id = 'TOK'", (ts(utcnow() - timedelta(1)),))


def test_happy_path_writes_token_and_outbox_together(store: SqlTokenStore, model_file: Path) -> None:
    tracker = FakeTracker()
    result = register(request(model_file), ports(store, tracker))
    assert result.error is None and result.status == "registered" and result.model_version == "1"
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.REGISTERED and token.lease_owner is None
    assert [e.event_type for e in store.events_for("TOK")] == ["token_ready_for_deploy", "model_registered"]
    assert tracker.tags["1"]["hokusai.sha256"] == result.model_sha256
    assert tracker.tags["1"]["hokusai.status"] == "registered" and "hokusai.state" not in tracker.tags["1"]
    assert tracker.runs["run1"] == "FINISHED"


def test_a_run_that_lost_its_lease_never_removes_the_version_the_token_names(
    store: SqlTokenStore, model_file: Path
) -> None:
    """Run A stalls past its lease; run B adopts A's version and registers it; A must keep it."""
    tracker = FakeTracker()
    outcome: dict[str, object] = {}

    def run_b_takes_over() -> None:
        expire_lease(store)
        tracker.during_upload = None
        outcome["b"] = register(request(model_file), ports(store, tracker))

    tracker.during_upload = run_b_takes_over
    a = register(request(model_file), ports(store, tracker, lease_seconds=3600))
    b = outcome["b"]
    assert isinstance(b, RegistrationResult) and b.status == "registered" and b.reused_existing_version
    assert a.error is not None and a.error.category == "invalid_token_status"
    assert "adopted this run's version" in a.error.message
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.REGISTERED and token.model_version == "1"
    assert tracker.discarded == [] and "1" in tracker.versions
    assert tracker.tags["1"]["hokusai.status"] == "registered"


def test_a_loser_removes_its_own_version_when_another_was_registered(store: SqlTokenStore, model_file: Path) -> None:
    tracker = FakeTracker()

    def another_run_registers_other_content() -> None:
        expire_lease(store)
        assert store.claim("TOK", "other-run", 60)
        tracker.versions["9"] = TrackedModel(run_id="r9", model_name="m", model_version="9", model_uri="models:/m/9")
        tracker.tags["9"] = {"hokusai.token_id": "other"}
        store.complete("TOK", "other-run", _registration("9"), [])

    tracker.during_upload = another_run_registers_other_content
    result = register(request(model_file), ports(store, tracker))
    assert result.error is not None and result.error.exit_code == 4
    assert "this run's upload (hokusai-TOK version 1) was deleted" in result.error.message
    assert [m.model_version for m in tracker.discarded] == ["1"]
    assert tracker.runs["run1"] == "FAILED"
    assert [e.event_type for e in store.events_for("TOK")] == []  # no event for a registration that did not win


def test_failed_upload_releases_the_claim(store: SqlTokenStore, model_file: Path) -> None:
    def fail() -> None:
        raise HokusaiError(Category.MLFLOW_ERROR, "boom")

    result = register(request(model_file), ports(store, FakeTracker(during_upload=fail)))
    assert result.error is not None and result.error.exit_code == 8
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.DRAFT and token.lease_owner is None


@pytest.mark.parametrize(("signal_exc", "code"), [(KeyboardInterrupt, 130), (Cancelled, 143)])
def test_a_signal_releases_the_claim_and_the_next_run_adopts_the_version(
    store: SqlTokenStore, model_file: Path, signal_exc: type[BaseException], code: int
) -> None:
    tracker = FakeTracker()
    real_complete = store.complete

    def interrupted_complete(*args: object) -> bool:
        raise signal_exc

    store.complete = interrupted_complete  # type: ignore[method-assign]
    result = register(request(model_file), ports(store, tracker))
    store.complete = real_complete  # type: ignore[method-assign]
    assert result.error is not None and result.error.exit_code == code
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.DRAFT
    assert tracker.tags["1"]["hokusai.status"] == "not_registered" and tracker.runs["run1"] == "FAILED"
    again = register(request(model_file), ports(store, tracker))
    assert again.status == "registered" and again.reused_existing_version and again.model_version == "1"
    assert len(tracker.uploads) == 1 and tracker.runs["run1"] == "FINISHED"
    assert tracker.tags["1"]["hokusai.status"] == "registered"


@pytest.mark.parametrize(
    ("after_commit", "code"),
    [(Cancelled, 143), (KeyboardInterrupt, 130), (HokusaiError(Category.DATABASE_CONNECTION_FAILED, "lost"), 0)],
    ids=["sigterm", "sigint", "answer-lost"],
)
def test_a_failure_once_the_store_committed_is_registered_and_a_rerun_finishes(
    store: SqlTokenStore, model_file: Path, after_commit: BaseException | type[BaseException], code: int
) -> None:
    """The store commits, then its answer never arrives (a signal, a dropped connection): the
    token is registered, so the run must neither release nor fail anything, nor say otherwise."""
    tracker = FakeTracker()
    real_complete = store.complete

    def committed_then_lost(*args: object) -> bool:
        real_complete(*args)  # type: ignore[arg-type]
        raise after_commit

    store.complete = committed_then_lost  # type: ignore[method-assign]
    result = register(request(model_file), ports(store, tracker, store_retry_seconds=0))
    store.complete = real_complete  # type: ignore[method-assign]
    assert result.status == "registered" and result.model_version == "1"
    assert (result.error.exit_code if result.error else 0) == code
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.REGISTERED
    if code:
        assert result.error is not None and "nothing was registered" not in result.error.message
        assert "after token TOK was registered (hokusai-TOK version 1)" in result.error.message
        assert tracker.runs["run1"] == "RUNNING" and tracker.tags["1"]["hokusai.status"] == "not_registered"
        again = register(request(model_file), ports(store, tracker))
        assert again.error is None and again.status == "registered" and again.model_version == "1"
    assert tracker.runs["run1"] == "FINISHED" and tracker.tags["1"]["hokusai.status"] == "registered"
    assert len(tracker.uploads) == 1


def test_a_run_with_other_content_removes_an_abandoned_version(
    store: SqlTokenStore, model_file: Path, tmp_path: Path
) -> None:
    tracker = FakeTracker(during_upload=lambda: (_ for _ in ()).throw(Cancelled()))
    assert register(request(model_file), ports(store, tracker)).error is not None
    tracker.during_upload = None
    other = tmp_path / "other.pkl"
    other.write_bytes(b"other content")
    result = register(request(other), ports(store, tracker))
    assert result.status == "registered" and result.model_version == "2"
    assert [m.model_version for m in tracker.discarded] == ["1"]


def test_the_heartbeat_renews_the_lease_while_the_run_works(store: SqlTokenStore, model_file: Path) -> None:
    seen: list[object] = []

    def slow() -> None:
        first = store.get("TOK")
        time.sleep(0.6)
        second = store.get("TOK")
        assert first is not None and second is not None
        seen.extend([first.lease_expires_at, second.lease_expires_at])

    result = register(request(model_file), ports(store, FakeTracker(during_upload=slow), lease_seconds=1))
    assert result.status == "registered"
    assert seen[1] > seen[0]  # type: ignore[operator]


def test_live_lease_blocks_and_expired_lease_is_taken_over(store: SqlTokenStore, model_file: Path) -> None:
    assert store.claim("TOK", "crashed-run", 3600)
    result = register(request(model_file), ports(store, FakeTracker()))
    assert result.error is not None and result.error.category == "invalid_token_status"
    assert "being registered by another run" in result.error.message
    expire_lease(store)
    result = register(request(model_file), ports(store, FakeTracker()))
    assert result.status == "registered"


@pytest.mark.parametrize("status", ["deployed", "failed", "archived"])
def test_other_statuses_are_named(store: SqlTokenStore, model_file: Path, status: str) -> None:
    store._exec("UPDATE tokens SET status = ? WHERE token_id = 'TOK'", (status,))
    result = register(request(model_file), ports(store, FakeTracker()))
    assert result.error is not None and result.error.exit_code == 4 and repr(status) in result.error.message


def test_dry_run_never_claims_or_uploads(store: SqlTokenStore, model_file: Path) -> None:
    tracker = FakeTracker()
    result = register(request(model_file, dry_run=True), ports(store, tracker))
    assert result.status == "dry_run" and tracker.uploads == []
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.DRAFT and token.lease_owner is None


def _registration(version: str) -> Registration:
    return Registration(
        model_name="m",
        model_version=version,
        model_uri=f"models:/m/{version}",
        mlflow_run_id="r",
        model_sha256="0" * 64,
        metric_name="auroc",
        metric_value=0.9,
        baseline=0.8,
        direction="higher",
    )


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h" / "hokusai.db"
    s = SqlTokenStore.sqlite(path)
    s._exec("INSERT INTO hokusai_schema (version) VALUES (99)")
    s.close()
    with pytest.raises(HokusaiError) as info:
        SqlTokenStore.sqlite(path)
    assert info.value.exit_code == 7 and "upgrade hokusai-ci" in info.value.message


def test_a_duplicate_version_on_the_registered_run_leaves_that_run_finished(
    store: SqlTokenStore, model_file: Path
) -> None:
    """A retried `model-versions/create` made two versions of one run; the re-run adopts one and
    removes the other, and the run under the registered version stays FINISHED, not FAILED."""
    tracker = FakeTracker(during_upload=lambda: (_ for _ in ()).throw(Cancelled()))
    assert register(request(model_file), ports(store, tracker)).error is not None
    first = tracker.versions["1"]
    duplicate = first.model_copy(update={"model_version": "2", "model_uri": f"models:/{first.model_name}/2"})
    tracker.versions["2"], tracker.tags["2"] = duplicate, dict(tracker.tags["1"])
    tracker.during_upload = None
    result = register(request(model_file), ports(store, tracker))
    assert result.error is None and result.status == "registered"
    kept = result.model_version
    assert [m.model_version for m in tracker.discarded] == [{"1": "2", "2": "1"}[kept]]
    assert tracker.runs["run1"] == "FINISHED"


class SignalledWhileTelling:
    """A platform that received the notification when a signal stopped the run: the site may
    have been told, so nothing may say "nothing was registered"."""

    def check(self, gate: object) -> None:
        return None

    def notify(self, token_id: str, registration: Registration) -> bool:
        raise Cancelled()


def test_a_signal_while_the_platform_is_told_never_says_nothing_was_registered(
    store: SqlTokenStore, model_file: Path
) -> None:
    from dataclasses import replace

    tracker = FakeTracker()
    result = register(request(model_file), replace(ports(store, tracker), notifier=SignalledWhileTelling()))
    assert result.error is not None and result.error.exit_code == 143
    assert "nothing was registered" not in result.error.message
    assert "may already hold this registration, so that version is kept" in result.error.message
    assert "hokusai-TOK version 1" in result.error.message
