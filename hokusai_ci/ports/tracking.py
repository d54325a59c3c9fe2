"""The tracking port: where model bytes go and versions are registered (MLflow in practice).

A version's tags are the registry-side record of a registration. `hokusai.status` says where
it is in the flow: `not_registered` from creation until the token store committed it,
`registered` after (the one tag written once the store committed), `superseded` once removed.
A `not_registered` version left by a run that died or failed is adopted by the next run with the same content
(which re-tags it with its own claim) and removed by a run with other content. Runs carry
no state tag: MLflow's own run status (FINISHED, FAILED, KILLED) says how a run ended; one left
RUNNING by a run that died is ended by the next run of its token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from hokusai_ci.domain.fingerprint import ModelFile
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import ModelSource

TAG_PREFIX = "hokusai."


class Tag:
    """Names of the tags hokusai-ci sets on MLflow runs and model versions: the registry-side
    record of a registration (API mode derives token state from them)."""

    TOKEN = f"{TAG_PREFIX}token_id"
    SHA256 = f"{TAG_PREFIX}sha256"
    METRIC = f"{TAG_PREFIX}metric"
    METRIC_VALUE = f"{TAG_PREFIX}metric_value"
    BASELINE = f"{TAG_PREFIX}baseline"
    DIRECTION = f"{TAG_PREFIX}direction"
    METRIC_BOUND = f"{TAG_PREFIX}metric_bound"  # measured gate: the confidence bound the verdict used
    METRIC_BASIS = f"{TAG_PREFIX}metric_basis"  # measured-lower-bound or point
    EVIDENCE_SHA256 = f"{TAG_PREFIX}evidence_sha256"  # predictions file's digest (",labels file's")
    EVIDENCE_URI = f"{TAG_PREFIX}evidence_uri"  # the stored evidence's folder, set once it is stored
    EVALUATION_SHA256 = f"{TAG_PREFIX}evaluation_sha256"  # the evaluation rows' content (labels, ids)
    # the columns the evidence was read with (JSON: score, label, id), to read the stored file back
    EVIDENCE_COLUMNS = f"{TAG_PREFIX}evidence_columns"
    STATUS = f"{TAG_PREFIX}status"  # not_registered | registered | superseded
    CLAIM = f"{TAG_PREFIX}claim_id"
    NOTIFIED = f"{TAG_PREFIX}notified"  # "true" once the Hokusai API accepted the registration
    ACCEPTED_AT = f"{TAG_PREFIX}accepted_at"  # when it accepted it (ISO 8601, UTC): the registration time
    PLATFORM_ANSWER = f"{TAG_PREFIX}platform_answer"  # what it accepted: the body's digest, its model id
    # set before the notification leaves, to its idempotency key: the platform may tell the site
    # and still fail, so a version that carries it is never removed or superseded
    PLATFORM_SENT = f"{TAG_PREFIX}platform_sent"
    MANAGED = f"{TAG_PREFIX}managed"
    # `hokusai.previous_<alias>`: the version an alias held before a promotion moved it here ("":
    # none), written after registration, so unsigned; `rollback` moves the alias back to it
    PREVIOUS_PREFIX = f"{TAG_PREFIX}previous_"
    ATTESTATION_URI = f"{TAG_PREFIX}attestation_uri"  # the signed registration statement's artifact
    ATTESTATION_SHA256 = f"{TAG_PREFIX}attestation_sha256"  # digest of that bundle
    MODEL_SIGNATURE_SHA256 = f"{TAG_PREFIX}model_signature_sha256"  # digest of the model_signing bundle
    # version tags the signed statement does not cover (written before or after signing, or a
    # pointer verify cannot check): `model verify` reports them, and fails on any other unsigned one
    UNSIGNED = frozenset(
        {CLAIM, NOTIFIED, ACCEPTED_AT, PLATFORM_ANSWER, PLATFORM_SENT, ATTESTATION_URI, EVIDENCE_URI, EVIDENCE_COLUMNS}
    )
    # what a measured gate writes: a run that adopts a version with a given value removes them
    MEASURED = (METRIC_BOUND, METRIC_BASIS, EVIDENCE_SHA256, EVIDENCE_URI, EVALUATION_SHA256, EVIDENCE_COLUMNS)
    # the CI provenance (`hokusai.ci`, `hokusai.commit`, ...): an empty value says "none"
    CI = tuple(f"{TAG_PREFIX}{name}" for name in ("ci", "repository", "commit", "ref", "workflow", "run_url"))


class Status:
    NOT_REGISTERED = "not_registered"
    REGISTERED = "registered"
    SUPERSEDED = "superseded"


class TrackedModel(BaseModel):
    run_id: str
    model_name: str
    model_version: str
    model_uri: str
    run_url: str | None = None
    version_url: str | None = None
    reused: bool = False
    sha256: str | None = None  # tag hokusai.sha256; for an upload, the digest of the bytes as sent
    claim_id: str | None = None  # tag hokusai.claim_id: the run that created or last adopted it
    status: str | None = None  # tag hokusai.status
    files: tuple[ModelFile, ...] = ()  # per-file digests of what was sent (upload only)
    artifact_uri: str | None = None  # the version's run's artifact root (read back by verify)
    platform_sent: str | None = None  # tag hokusai.platform_sent: the site may know this version
    evidence_uri: str | None = None  # tag hokusai.evidence_uri: the evidence stored with it


def never_removed(model: TrackedModel) -> bool:
    """Versions `discard` keeps, saying why: one a token store registered (a token record names
    it: another store's, such as an earlier CI job's local one), and one the Hokusai platform was
    sent (the site may have been told)."""
    log = logging.getLogger("hokusai_ci")
    if model.status == Status.REGISTERED:
        log.info("keeping %s version %s: a token store registered it", model.model_name, model.model_version)
        return True
    if model.platform_sent is None:
        return False
    log.warning(
        "keeping %s version %s: it was sent to the Hokusai platform (%s %s), which may have told the site",
        model.model_name,
        model.model_version,
        Tag.PLATFORM_SENT,
        model.platform_sent,
    )
    return True


class UploadRequest(BaseModel):
    token_id: str
    model_name: str
    metric_name: str
    metric_value: float
    baseline: float
    direction: str
    claim_id: str
    tags: dict[str, str]


class Tracker(Protocol):
    def check(self) -> None:
        """Reachability and credentials, before anything is written."""

    def find(self, token_id: str) -> list[TrackedModel]:
        """Every version tagged with this token whose state is not superseded, oldest first."""

    def upload(self, request: UploadRequest, model: ModelSource, progress: ProgressSink) -> TrackedModel:
        """Create the run, send each file once hashing the bytes as they go, and create the
        version tagged pending (the caller tags it registered once the token store committed).
        On failure the run is marked FAILED and a `HokusaiError(MLFLOW_ERROR)` names the step."""

    def tag(self, model: TrackedModel, tags: Mapping[str, str | None]) -> None:
        """Set these tags on the version, and delete those given None (one call per tag: MLflow
        has no batch call for them; deleting a tag the version does not have is no error)."""

    def finish(self, model: TrackedModel, ok: bool) -> None:
        """End the version's run as FINISHED or FAILED (FAILED is best effort: it never raises)."""

    def discard(self, model: TrackedModel, reason: str) -> None:
        """Tag the version superseded and delete it (the caller has checked nothing points to it);
        a version registered or tagged `hokusai.platform_sent` is kept (`never_removed`)."""

    def running(self, token_id: str) -> list[tuple[str, str | None]]:
        """The token's MLflow runs that never ended (status RUNNING), as (run id, claim id)."""

    def end_run(self, run_id: str, status: str) -> None:
        """End a run that was left RUNNING: FINISHED, FAILED or KILLED (never raises)."""

    def store_attestation(self, model: TrackedModel, files: dict[str, bytes]) -> str:
        """Store these signature bundles as artifacts of the version's run, under `hokusai/`
        next to `model/` (never inside it); returns the folder's artifact URI."""

    def store_evidence(
        self, model: TrackedModel, folder: str, files: list[ModelSource], progress: ProgressSink
    ) -> tuple[str, list[ModelFile]]:
        """Store the measured gate's evidence under `folder` of the version's run, by the model's
        route (each source is one file, stored under its listed name), hashing the bytes as they
        are sent; returns the folder's artifact URI and what was sent, with digests.
        HokusaiError(MLFLOW_ERROR) on failure."""


@runtime_checkable
class VersionReader(Protocol):
    """What `model verify` reads back from the registry."""

    def read_version(self, name: str, version: str) -> tuple[TrackedModel, dict[str, str]]:
        """The version and its tags; HokusaiError when it does not exist."""

    def download(self, model: TrackedModel, artifact_path: str, dest: str) -> str | None:
        """Download one artifact folder of the version's run (streamed to disk); None when absent."""
