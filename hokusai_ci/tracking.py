"""The tracking port: where model bytes go and versions are registered (MLflow in practice)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from hokusai_ci.fingerprint import Fingerprint
from hokusai_ci.progress import ProgressSink

TAG_PREFIX = "hokusai."


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
    def describe(self) -> str: ...

    def check(self) -> None:
        """Reachability and credentials, before anything is written."""

    def find(self, token_id: str, sha256: str) -> TrackedModel | None:
        """A live version already registered for this token and content, if any."""

    def upload(self, request: UploadRequest, fp: Fingerprint, progress: ProgressSink) -> TrackedModel: ...

    def discard(self, model: TrackedModel, reason: str) -> None:
        """Remove a version that lost the race, so no silent duplicate is left behind."""
