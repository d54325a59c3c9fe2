"""Artifact stores the server does not proxy: the client writes them itself.

A local `file:` root (the embedded default) is written here, copying each file once while it
is hashed and metered; S3 is written directly (`s3_upload`). Every other store (GCS, Azure, HDFS, ...) goes
through MLflow's own artifact repositories, which read the files themselves: each file is
hashed first, then handed over (a second read), with a heartbeat while a file is in flight.
The signature bundles take the same route as the model, into a folder beside `model/`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from hokusai_ci.adapters.mlflow_http import HttpConfig, mlflow_environ
from hokusai_ci.config.redaction import display_url
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import ModelFile, file_sha256
from hokusai_ci.domain.progress import NoProgress, ProgressSink, heartbeat
from hokusai_ci.domain.streaming import HashingReader, ModelSource


def _local_root(artifact_uri: str) -> Path | None:
    """The folder of a local (`file:` or plain path) artifact URI; None for a remote store."""
    if artifact_uri.startswith("file:") or "://" not in artifact_uri:
        return Path(url2pathname(urlsplit(artifact_uri).path))
    return None


def upload_with_repository(
    artifact_uri: str,
    model: ModelSource,
    progress: ProgressSink,
    config: HttpConfig | None = None,
    folder: str = "model",
) -> list[ModelFile]:
    """Write `model` under `<artifact_uri>/<folder>`; returns what was written, with digests.
    `config` gives the timeouts and retries of the stores written remotely."""
    config = config or HttpConfig()
    local = _local_root(artifact_uri)
    if local is not None:
        return _copy_local(local / folder, model, progress)
    if artifact_uri.startswith("s3://"):
        from hokusai_ci.adapters.s3_upload import upload_s3

        return upload_s3(artifact_uri, model, progress, config, folder=folder)
    with mlflow_environ(config):
        return _upload_with_mlflow(artifact_uri, model, progress, folder)


def _upload_with_mlflow(artifact_uri: str, model: ModelSource, progress: ProgressSink, folder: str) -> list[ModelFile]:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(artifact_uri)
    sent = []
    with heartbeat(progress), tempfile.TemporaryDirectory(prefix="hokusai-name-") as names:
        for f in model.files:
            local = model.local(f)
            digest = file_sha256(f, NoProgress())
            parent = os.path.dirname(f.relpath) if model.is_dir else ""
            if not model.is_dir and local.name != f.relpath:  # a file stored under another name
                local = Path(names, f.relpath)
                local.symlink_to(model.local(f).resolve())
            repo.log_artifact(str(local), f"{folder}/{parent}" if parent else folder)  # type: ignore[no-untyped-call]
            progress.advance(f.size)
            sent.append(ModelFile(f.relpath, f.size, digest))
    progress.finish()
    return sent


def store_files(artifact_uri: str, folder: str, files: dict[str, bytes], config: HttpConfig | None = None) -> None:
    """Write small files (the signature bundles) under `<artifact_uri>/<folder>`, by the model's
    route for this store. Any failure is a signing failure (exit 12): the version stays unsigned
    and unregistered, and the next run signs the version it adopts."""
    if artifact_uri.startswith("s3://"):
        from hokusai_ci.adapters.s3_upload import put_small

        put_small(artifact_uri, folder, files, config)  # its errors name the bucket and the endpoint
        return
    try:
        local = _local_root(artifact_uri)
        if local is not None:
            (local / folder).mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (local / folder / name).write_bytes(data)
            return
        with mlflow_environ(config or HttpConfig()), tempfile.TemporaryDirectory(prefix="hokusai-sig-") as tmp:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            repo = get_artifact_repository(artifact_uri)
            for name, data in files.items():
                Path(tmp, name).write_bytes(data)
            repo.log_artifacts(tmp, folder)  # type: ignore[no-untyped-call]
    except HokusaiError:
        raise
    except Exception as exc:
        where = f"{display_url(artifact_uri.rstrip('/'))}/{folder}"
        reason = " ".join(str(exc).split())[:300]
        raise HokusaiError(
            Category.SIGNING_FAILED,
            f"could not store the signatures in the artifact store {where}: {exc.__class__.__name__}: {reason}; "
            "check that the store is reachable and the credentials may write to it",
        ) from None


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
