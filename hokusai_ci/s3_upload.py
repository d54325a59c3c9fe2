"""Direct upload to an S3-compatible artifact store (MLflow servers run with
`--no-serve-artifacts` and an `s3://` artifact root): the client writes to the bucket itself,
multipart and in parallel, with boto3 (`pip install hokusai-ci[s3]`).

MLflow's own S3 settings apply: `MLFLOW_S3_ENDPOINT_URL`, `MLFLOW_S3_IGNORE_TLS`,
`MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`, and boto3's `AWS_*` (keys, region, profile).
Each file is read once, as a non-seekable stream: parts are cut and hashed in order (the digest
is that of the bytes sent) and uploaded in parallel. A failed upload aborts its multipart
upload, so nothing half-written is left behind as an object, and no version is created.
The signature bundles go to the same bucket with the same client, beside `model/`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.fingerprint import ModelFile
from hokusai_ci.progress import ProgressSink
from hokusai_ci.redaction import display_url
from hokusai_ci.rest_tracker import UPLOAD_WORKERS
from hokusai_ci.streaming import HashingReader, ModelSource
from hokusai_ci.validation import EXTRA_INSTALL

S3_MODULES = ("boto3",)  # what the `s3` extra installs

PART = 8 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts per upload
PART_WORKERS = 8


def _client() -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise HokusaiError(
            Category.INVALID_INPUT,
            "the MLflow server stores artifacts in S3 and this installation has no S3 support; "
            + EXTRA_INSTALL.format(extra="s3"),
        ) from None
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    style = os.environ.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE") or ("path" if endpoint else "auto")
    retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"))
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "120"))
    verify = os.environ.get("MLFLOW_S3_IGNORE_TLS", "").lower() not in ("1", "true", "yes")
    config = Config(
        s3={"addressing_style": style},
        retries={"max_attempts": retries + 1, "mode": "standard"},
        read_timeout=timeout,
        connect_timeout=30,
        max_pool_connections=PART_WORKERS * 2,
    )
    return boto3.client("s3", endpoint_url=endpoint, config=config, verify=verify)


def _location(artifact_uri: str, folder: str) -> tuple[str, str]:
    """`s3://bucket/path` and `model` → (`bucket`, `path/model/`): where a folder's objects go."""
    parts = urlsplit(artifact_uri)
    prefix = "/".join(p for p in (parts.path.strip("/"), folder) if p)
    return parts.netloc, f"{prefix}/"


def upload_s3(artifact_uri: str, model: ModelSource, progress: ProgressSink) -> list[ModelFile]:
    """Write `model` under `<artifact_uri>/model`; returns what was sent, with digests."""
    from boto3.s3.transfer import TransferConfig

    bucket, prefix = _location(artifact_uri, "model")
    client = _client()

    def put(f: ModelFile) -> ModelFile:
        part = max(PART, -(-f.size // MAX_PARTS))
        config = TransferConfig(
            multipart_threshold=part, multipart_chunksize=part, max_concurrency=PART_WORKERS, use_threads=True
        )
        with HashingReader(model.local(f), progress, exact=True) as reader:
            try:
                client.upload_fileobj(reader, bucket, prefix + f.relpath, Config=config)
            except Exception as exc:
                raise _error(
                    Category.MLFLOW_ERROR, f"upload the model to the artifact store {artifact_uri}", exc
                ) from None
            return ModelFile(f.relpath, reader.sent, reader.hexdigest())

    # Small files go up several at a time; a large one at a time, its parts in parallel (memory
    # stays bounded: a non-seekable stream's parts are buffered while they are in flight).
    small = [f for f in model.files if f.size <= PART]
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        done = {f.relpath: m for f, m in zip(small, pool.map(put, small), strict=True)}
    for f in model.files:
        if f.relpath not in done:
            done[f.relpath] = put(f)
    sent = [done[f.relpath] for f in model.files]
    progress.finish()
    return sent


def put_small(artifact_uri: str, folder: str, files: dict[str, bytes]) -> None:
    """Write small files (the signature bundles) as objects under `<artifact_uri>/<folder>`, each
    in one PUT; a failure is a signing failure (exit 12): the version stays unsigned and
    unregistered, for the next run to sign."""
    bucket, prefix = _location(artifact_uri, folder)
    client = _client()
    for name, data in files.items():
        try:
            client.put_object(Bucket=bucket, Key=prefix + name, Body=data)
        except Exception as exc:
            target = f"{artifact_uri.rstrip('/')}/{folder}"
            raise _error(Category.SIGNING_FAILED, f"store the signatures in the artifact store {target}", exc) from None


def _error(category: Category, action: str, exc: BaseException) -> HokusaiError:
    """One line naming the bucket (and endpoint), the step and boto3's reason; redacted."""
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    where = f" at {display_url(endpoint)}" if endpoint else ""
    reason = " ".join(str(exc).split())[:300]
    return HokusaiError(
        category,
        f"could not {action}{where}: {exc.__class__.__name__}: {reason}; "
        "check that the S3 endpoint is reachable and the AWS credentials may write to the bucket",
    )
