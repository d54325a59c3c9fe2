"""The registration use case with a real SQLite store and an in-memory tracker.

The tracker is a fake on purpose: these tests steer the moments between claim, upload and
complete (a lost lease, a failed upload, an interrupt) that a real server cannot be made to hit
on cue. The real MLflow adapter is covered in test_real_servers.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.fingerprint import fingerprint
from hokusai_ci.inputs import build_request
from hokusai_ci.progress import NoProgress, ProgressSink
from hokusai_ci.registration import Ports, register
from hokusai_ci.settings import load_settings
from hokusai_ci.sql_store import SqlTokenStore, ts
from hokusai_ci.store import TokenStatus, utcnow
from hokusai_ci.streaming import ModelSource
from hokusai_ci.tracking import TrackedModel, UploadRequest


class FakeTracker:
    def __init__(self, during_upload: object = None) -> None:
        self.during_upload = during_upload
        self.uploads: list[UploadRequest] = []
        self.discarded: list[TrackedModel] = []
        self.existing: TrackedModel | None = None
        self.tagged: list[dict[str, str]] = []
        self.finished: list[bool] = []

    def check(self) -> None:
        return None

    def find(self, token_id: str) -> list[TrackedModel]:
        return [self.existing] if self.existing else []

    def upload(self, request: UploadRequest, model: ModelSource, progress: ProgressSink) -> TrackedModel:
        self.uploads.append(request)
        if callable(self.during_upload):
            self.during_upload()
        n = len(self.uploads)
        return TrackedModel(
            run_id=f"run{n}",
            model_name=request.model_name,
            model_version=str(n),
            model_uri=f"models:/{request.model_name}/{n}",
            sha256=fingerprint(model.path).sha256,
            state="pending",
        )

    def tag(self, model: TrackedModel, tags: dict[str, str]) -> None:
        self.tagged.append(tags)

    def finish(self, model: TrackedModel, ok: bool) -> None:
        self.finished.append(ok)

    def discard(self, model: TrackedModel, reason: str) -> None:
        self.discarded.append(model)


@pytest.fixture
def store(tmp_path: Path) -> SqlTokenStore:
    s = SqlTokenStore.open(load_settings({"home": str(tmp_path / "h")}, {}))
    s.create("TOK")
    return s


def ports(store: SqlTokenStore, tracker: FakeTracker) -> Ports:
    return Ports(store=store, tracker=lambda: tracker, progress=lambda label, total: NoProgress())


def request(model: Path, value: str = "0.9", dry_run: bool = False):  # type: ignore[no-untyped-def]
    return build_request(
        token_id="TOK", model_path=str(model), metric="auroc", baseline="0.8", metric_value=value, dry_run=dry_run
    )


def test_happy_path_writes_token_and_outbox_together(store: SqlTokenStore, model_file: Path) -> None:
    tracker = FakeTracker()
    result = register(request(model_file), ports(store, tracker))
    assert result.status == "registered" and result.model_version == "1"
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.REGISTERED and token.lease_owner is None
    assert [e.event_type for e in store.events_for("TOK")] == ["token_ready_for_deploy", "model_registered"]
    assert result.model_sha256 == fingerprint(model_file).sha256
    # the version is created pending and tagged registered only once the token store committed
    assert [(t["hokusai.state"], t["hokusai.status"]) for t in tracker.tagged] == [("registered", "registered")]
    assert tracker.finished == [True]


def test_a_run_that_lost_its_lease_removes_its_upload(store: SqlTokenStore, model_file: Path) -> None:
    def another_run_takes_over() -> None:
        store._exec("UPDATE tokens SET lease_expires_at = ? WHERE token_id = 'TOK'", (ts(utcnow() - timedelta(1)),))
        assert store.claim("TOK", "other-run", 60)

    tracker = FakeTracker(during_upload=another_run_takes_over)
    with pytest.raises(HokusaiError) as info:
        register(request(model_file), ports(store, tracker))
    assert info.value.category is Category.INVALID_TOKEN_STATUS
    assert [m.model_version for m in tracker.discarded] == ["1"]
    assert store.events_for("TOK") == []  # no event for a registration that did not win
    token = store.get("TOK")
    assert token is not None and token.lease_owner == "other-run"


def test_failed_upload_releases_the_claim(store: SqlTokenStore, model_file: Path) -> None:
    def fail() -> None:
        raise HokusaiError(Category.MLFLOW_ERROR, "boom")

    with pytest.raises(HokusaiError) as info:
        register(request(model_file), ports(store, FakeTracker(during_upload=fail)))
    assert info.value.exit_code == 8
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.DRAFT and token.lease_owner is None


def test_interrupt_during_upload_releases_the_claim(store: SqlTokenStore, model_file: Path) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        register(request(model_file), ports(store, FakeTracker(during_upload=interrupt)))
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.DRAFT


def test_live_lease_blocks_and_expired_lease_is_taken_over(store: SqlTokenStore, model_file: Path) -> None:
    assert store.claim("TOK", "crashed-run", 3600)
    with pytest.raises(HokusaiError) as info:
        register(request(model_file), ports(store, FakeTracker()))
    assert info.value.category is Category.INVALID_TOKEN_STATUS
    assert "being registered by another run" in info.value.message
    store._exec("UPDATE tokens SET lease_expires_at = ? WHERE token_id = 'TOK'", (ts(utcnow() - timedelta(1)),))
    result = register(request(model_file), ports(store, FakeTracker()))
    assert result.status == "registered"


def test_existing_version_for_same_content_is_reused(store: SqlTokenStore, model_file: Path) -> None:
    tracker = FakeTracker()
    tracker.existing = TrackedModel(
        run_id="old",
        model_name="hokusai-TOK",
        model_version="7",
        model_uri="models:/hokusai-TOK/7",
        reused=True,
        sha256=fingerprint(model_file).sha256,
        state="registered",
    )
    result = register(request(model_file), ports(store, tracker))
    assert tracker.uploads == [] and result.model_version == "7" and result.reused_existing_version


@pytest.mark.parametrize("status", ["deployed", "failed", "archived"])
def test_other_statuses_are_named(store: SqlTokenStore, model_file: Path, status: str) -> None:
    store._exec("UPDATE tokens SET status = ? WHERE token_id = 'TOK'", (status,))
    with pytest.raises(HokusaiError) as info:
        register(request(model_file), ports(store, FakeTracker()))
    assert info.value.exit_code == 4 and repr(status) in info.value.message


def test_dry_run_never_claims_or_uploads(store: SqlTokenStore, model_file: Path) -> None:
    tracker = FakeTracker()
    result = register(request(model_file, dry_run=True), ports(store, tracker))
    assert result.status == "dry_run" and tracker.uploads == []
    token = store.get("TOK")
    assert token is not None and token.status is TokenStatus.DRAFT and token.lease_owner is None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    settings = load_settings({"home": str(tmp_path / "h")}, {})
    s = SqlTokenStore.open(settings)
    s._exec("INSERT INTO hokusai_schema (version) VALUES (99)")
    s.close()
    with pytest.raises(HokusaiError) as info:
        SqlTokenStore.open(settings)
    assert info.value.exit_code == 7 and "upgrade hokusai-ci" in info.value.message
