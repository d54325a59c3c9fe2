"""Artifact stores the server does not proxy: the client writes them itself.

A local `file:` root (the embedded default) is written here, copying each file once while it
is hashed and metered; S3 is written directly (`s3_upload`). Every other store (GCS, Azure, HDFS, ...) goes
through MLflow's own artifact repositories, which read the files themselves: each file is
hashed first, then handed over (a second read), with a heartbeat while a file is in flight.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from hokusai_ci.fingerprint import ModelFile, file_sha256
from hokusai_ci.progress import NoProgress, ProgressSink, heartbeat
from hokusai_ci.streaming import HashingReader, ModelSource


def upload_with_repository(artifact_uri: str, model: ModelSource, progress: ProgressSink) -> list[ModelFile]:
    """Write `model` under `<artifact_uri>/model`; returns what was written, with digests."""
    if artifact_uri.startswith("file:") or "://" not in artifact_uri:
        return _copy_local(Path(url2pathname(urlsplit(artifact_uri).path)) / "model", model, progress)
    if artifact_uri.startswith("s3://"):
        from hokusai_ci.s3_upload import upload_s3

        return upload_s3(artifact_uri, model, progress)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(artifact_uri)
    sent = []
    with heartbeat(progress):
        for f in model.files:
            local = model.local(f)
            digest = file_sha256(f, NoProgress())
            parent = os.path.dirname(f.relpath) if model.is_dir else ""
            repo.log_artifact(str(local), "model/" + parent if parent else "model")  # type: ignore[no-untyped-call]
            progress.advance(f.size)
            sent.append(ModelFile(f.relpath, f.size, digest))
    progress.finish()
    return sent


def _copy_local(dest_root: Path, model: ModelSource, progress: ProgressSink) -> list[ModelFile]:
    sent = []
    for f in model.files:
        dest = dest_root / f.relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        with HashingReader(model.local(f), progress) as reader, dest.open("wb") as out:
            shutil.copyfileobj(reader, out)
            sent.append(ModelFile(f.relpath, reader.sent, reader.hexdigest()))
    progress.finish()
    return sent
