"""The tracking port: where model bytes go and versions are registered (MLflow in practice)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from hokusai_ci.fingerprint import Fingerprint
from hokusai_ci.progress import ProgressSink

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
    STATUS = f"{TAG_PREFIX}status"
    STATE = f"{TAG_PREFIX}state"  # registered | failed | superseded
    CLAIM = f"{TAG_PREFIX}claim_id"
    NOTIFIED = f"{TAG_PREFIX}notified"  # "true" once the Hokusai API accepted the registration
    MANAGED = f"{TAG_PREFIX}managed"


class TrackedModel(BaseModel):
    run_id: str
    model_name: str
    model_version: str
    model_uri: str
    run_url: str | None = None
    version_url: str | None = None
    reused: bool = False


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

    def find(self, token_id: str, sha256: str) -> TrackedModel | None:
        """A live version already registered for this token and content, if any."""

    def upload(self, request: UploadRequest, fp: Fingerprint, progress: ProgressSink) -> TrackedModel: ...

    def discard(self, model: TrackedModel, reason: str) -> None:
        """Remove a version that lost the race, so no silent duplicate is left behind."""
