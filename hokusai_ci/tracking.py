"""The tracking port: where model bytes go and versions are registered (MLflow in practice).

A version's tags are the registry-side record of a registration. `hokusai.status` says where
it is in the flow: `not_registered` from creation until the token store committed it,
`registered` after (the one tag written once the store committed), `superseded` once removed.
A `not_registered` version left by a run that died or failed is adopted by the next run with the same content
(which re-tags it with its own claim) and removed by a run with other content. Runs carry
no state tag: MLflow's own run status (FINISHED, FAILED) says how a run ended.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from hokusai_ci.fingerprint import ModelFile
from hokusai_ci.progress import ProgressSink
from hokusai_ci.streaming import ModelSource

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
    STATUS = f"{TAG_PREFIX}status"  # not_registered | registered | superseded
    CLAIM = f"{TAG_PREFIX}claim_id"
    NOTIFIED = f"{TAG_PREFIX}notified"  # "true" once the Hokusai API accepted the registration
    PLATFORM_ANSWER = f"{TAG_PREFIX}platform_answer"  # what it accepted: the body's digest, its model id
    MANAGED = f"{TAG_PREFIX}managed"
    ATTESTATION_URI = f"{TAG_PREFIX}attestation_uri"  # the signed registration statement's artifact
    ATTESTATION_SHA256 = f"{TAG_PREFIX}attestation_sha256"  # digest of that bundle
    MODEL_SIGNATURE_SHA256 = f"{TAG_PREFIX}model_signature_sha256"  # digest of the model_signing bundle
    # version tags the signed statement does not cover (written before or after signing, or a
    # pointer verify cannot check): `model verify` reports them, and fails on any other unsigned one
    UNSIGNED = frozenset({CLAIM, NOTIFIED, PLATFORM_ANSWER, ATTESTATION_URI})
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

    def tag(self, model: TrackedModel, tags: dict[str, str]) -> None:
        """Set these tags on the version (one call per tag: MLflow has no batch call for them)."""

    def finish(self, model: TrackedModel, ok: bool) -> None:
        """End the version's run as FINISHED or FAILED (FAILED is best effort: it never raises)."""

    def discard(self, model: TrackedModel, reason: str) -> None:
        """Tag the version superseded and delete it (the caller has checked nothing points to it)."""

    def store_attestation(self, model: TrackedModel, files: dict[str, bytes]) -> str:
        """Store these signature bundles as artifacts of the version's run, under `hokusai/`
        next to `model/` (never inside it); returns the folder's artifact URI."""


@runtime_checkable
class VersionReader(Protocol):
    """What `model verify` reads back from the registry."""

    def read_version(self, name: str, version: str) -> tuple[TrackedModel, dict[str, str]]:
        """The version and its tags; HokusaiError when it does not exist."""

    def download(self, model: TrackedModel, artifact_path: str, dest: str) -> str | None:
        """Download one artifact folder of the version's run (streamed to disk); None when absent."""
