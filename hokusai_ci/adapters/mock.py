"""Mock mode (HOKUSAI_MOCK_MODE=true): the whole flow with no network and no MLflow.

Deterministic: the same token and model content give the same run id, version and event ids.
Results are marked `simulated`. Tokens that do not exist yet are simulated as Draft, as if
created on the site. State lives in HOKUSAI_HOME/mock.db so `status` and `list` show it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping

from hokusai_ci.domain.fingerprint import ModelFile
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import HashingReader, ModelSource
from hokusai_ci.ports.tracking import Status, TrackedModel, UploadRequest

_NAMESPACE = uuid.UUID("6f1c2a52-5b7e-4c8e-9d0a-6b6f6b757361")


def mock_event_id(token_id: str, sha256: str, event_type: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{token_id}|{sha256}|{event_type}"))


class MockTracker:
    def check(self) -> None:
        return None

    def find(self, token_id: str) -> list[TrackedModel]:
        return []

    def upload(self, request: UploadRequest, model: ModelSource, progress: ProgressSink) -> TrackedModel:
        """Reads the model as a real upload would (so the digest is real), sends it nowhere."""
        sent = []
        for f in model.files:
            with HashingReader(model.local(f), progress) as reader:
                while reader.read():
                    pass
                sent.append(ModelFile(f.relpath, reader.sent, reader.hexdigest()))
        progress.finish()
        sha256 = model.digest(sent)
        run_id = hashlib.sha256(f"{request.token_id}|{sha256}".encode()).hexdigest()[:32]
        return TrackedModel(
            run_id=run_id,
            model_name=request.model_name,
            model_version="1",
            model_uri=f"models:/{request.model_name}/1",
            sha256=sha256,
            claim_id=request.claim_id,
            status=Status.NOT_REGISTERED,
            files=tuple(sent),
        )

    def tag(self, model: TrackedModel, tags: Mapping[str, str | None]) -> None:
        return None

    def finish(self, model: TrackedModel, ok: bool) -> None:
        return None

    def discard(self, model: TrackedModel, reason: str) -> None:
        return None

    def running(self, token_id: str) -> list[tuple[str, str | None]]:
        return []

    def end_run(self, run_id: str, status: str) -> None:
        return None

    def store_evidence(
        self, model: TrackedModel, folder: str, files: list[ModelSource], progress: ProgressSink
    ) -> tuple[str, list[ModelFile]]:
        """Read as a real upload would (the digests are real), stored nowhere."""
        sent = []
        for source in files:
            for f in source.files:
                with HashingReader(source.local(f), progress) as reader:
                    while reader.read():
                        pass
                    sent.append(ModelFile(f.relpath, reader.sent, reader.hexdigest()))
        return f"mock:runs/{model.run_id}/{folder}", sent

    def store_attestation(self, model: TrackedModel, files: dict[str, bytes]) -> str:
        """Signing is real in mock mode (offline with a key); only storing is simulated."""
        return f"mock:runs/{model.run_id}/hokusai"
