"""Direct upload to an S3-compatible artifact store (MLflow servers run with
`--no-serve-artifacts` and an `s3://` artifact root): the client writes to the bucket itself,
multipart and in parallel, with boto3 (`pip install hokusai-ci[s3]`).

MLflow's own S3 settings apply: `MLFLOW_S3_ENDPOINT_URL`, `MLFLOW_S3_IGNORE_TLS`,
`MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`, and boto3's `AWS_*` (keys, region, profile).

Memory stays flat whatever the model's size: no part is held in memory. Each file is read in
order once to hash it (SHA-256 of the file, CRC-32 of each part), at most `AHEAD` parts ahead
of the uploads, and each part is then sent streaming from the file (a second read, from the
page cache), keeping the CRC-32 of the bytes it sends. A part whose bytes differ from those
hashed (the file changed meanwhile) fails the upload, which is aborted: the digest recorded is
that of the bytes sent. Buffering parts instead (boto3's `upload_fileobj` on a stream that
cannot seek, hashed as read) held up to 10 parts of 8 MiB and peaked at 188 MiB for 1 GiB, and
a Content-MD5 per part (which every S3 server checks) cost ~1.4 s of CPU per GiB; CRC-32 ~0.25.

Progress counts the bytes boto3 reports as sent (its transfer callback, `ReadFileChunk`), not
the bytes read: a display at 100% means the last byte has left. A retried part rewinds the
count, and bytes already shown are not shown twice.

A failed upload aborts its multipart upload, so nothing half-written is left behind as an
object, and no version is created. The signature bundles go to the same bucket with the same
client, beside `model/`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from hokusai_ci.adapters.mlflow_http import HttpConfig
from hokusai_ci.config.redaction import display_url
from hokusai_ci.config.validation import EXTRA_INSTALL
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import ModelFile
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import UPLOAD_WORKERS, ModelSource

S3_MODULES = ("boto3",)  # what the `s3` extra installs

PART = 8 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts per upload
PART_WORKERS = 8
AHEAD = 2 * PART_WORKERS  # parts hashed and not yet sent: their bytes are still in the page cache
# The largest read on this path, below glibc's mmap threshold: blocks of 1 MiB (botocore reads
# a body that size to sign it) are kept by each thread's malloc arena once freed, and with 24
# threads that alone added 45 MiB of RSS for 16 files of 8 MiB.
READ = 64 * 1024


def _client(config: HttpConfig) -> Any:
    """A boto3 client with MLflow's S3 settings, and the retries and stall timeout of `config`."""
    try:
        import boto3
        from botocore.config import Config
        from s3transfer.utils import signal_not_transferring, signal_transferring
    except ImportError:
        raise HokusaiError(
            Category.INVALID_INPUT,
            "the MLflow server stores artifacts in S3 and this installation has no S3 support; "
            + EXTRA_INSTALL.format(extra="s3"),
        ) from None
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    style = os.environ.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE") or ("path" if endpoint else "auto")
    verify = os.environ.get("MLFLOW_S3_IGNORE_TLS", "").lower() not in ("1", "true", "yes")
    config = Config(
        s3={"addressing_style": style},
        retries={"max_attempts": config.retries + 1, "mode": "standard"},
        read_timeout=config.timeout,
        connect_timeout=30,
        max_pool_connections=max(PART_WORKERS, UPLOAD_WORKERS),
    )
    client = boto3.client("s3", endpoint_url=endpoint, config=config, verify=verify)
    # what boto3's transfer manager registers: a body counts what it reads only while it is
    # being sent, not while botocore reads it to sign it
    events = client.meta.events
    events.register_first("request-created.s3", signal_not_transferring, unique_id="s3upload-not-transferring")
    events.register_last("request-created.s3", signal_transferring, unique_id="s3upload-transferring")
    return client


def _location(artifact_uri: str, folder: str) -> tuple[str, str]:
    """`s3://bucket/path` and `model` → (`bucket`, `path/model/`): where a folder's objects go."""
    parts = urlsplit(artifact_uri)
    prefix = "/".join(p for p in (parts.path.strip("/"), folder) if p)
    return parts.netloc, f"{prefix}/"


@functools.cache
def _body_class() -> Any:
    """A part's body: boto3's own `ReadFileChunk` (a window of the file, read as it is sent,
    rewound on a retry, reporting what it reads while it is being sent), read `READ` at most
    at a time, keeping the CRC-32 of what it sent (not of what botocore read to sign it)."""
    from s3transfer.utils import ReadFileChunk

    class Body(ReadFileChunk):  # type: ignore[misc]
        sending = False
        sent = (0, 0)  # bytes sent, their CRC-32

        def read(self, amount: int | None = None) -> bytes:
            data: bytes = super().read(amount if amount is None or amount < 0 else min(amount, READ))
            if self.sending:
                self.sent = (self.sent[0] + len(data), zlib.crc32(data, self.sent[1]))
            return data

        def seek(self, where: int, whence: int = 0) -> None:
            super().seek(where, whence)
            self.sent = (0, 0) if self.tell() == 0 else (-1, 0)  # a retry starts over; no other seek is made

        def enable_callback(self) -> None:
            super().enable_callback()
            self.sending = True

        def disable_callback(self) -> None:
            super().disable_callback()
            self.sending = False

    return Body


class SentBytes:
    """boto3's transfer callback → the progress display. Parts go in parallel and a retried
    request rewinds its body (a negative count): only bytes beyond the most ever counted
    advance the display, so it never shows more than has been sent."""

    def __init__(self, sink: ProgressSink) -> None:
        self._sink = sink
        self._net = self._shown = 0
        self._lock = threading.Lock()

    def __call__(self, bytes_transferred: int) -> None:
        with self._lock:
            self._net += bytes_transferred
            new = self._net - self._shown
            if new > 0:
                self._shown = self._net
                self._sink.advance(new)


class _File:
    """One file's upload: hashed in order while its parts go up from the file."""

    def __init__(self, client: Any, bucket: str, key: str, path: os.PathLike[str], size: int, meter: SentBytes):
        self.client, self.bucket, self.key, self.path, self.size, self.meter = client, bucket, key, path, size, meter
        self.sha256 = hashlib.sha256()

    def _hash(self, fh: BinaryIO, length: int) -> tuple[int, int]:
        """Read the next `length` bytes into the file's SHA-256; their length and CRC-32."""
        crc = 0
        left = length
        while left:
            block = fh.read(min(READ, left))
            if not block:
                raise FileChanged(f"{self.path} is shorter than the {self.size} bytes listed")
            self.sha256.update(block)
            crc = zlib.crc32(block, crc)
            left -= len(block)
        return length, crc

    def _body(self, offset: int, length: int) -> Any:
        return _body_class().from_filename(os.fspath(self.path), offset, length, [self.meter], enable_callbacks=False)

    def _check(self, body: Any, hashed: tuple[int, int]) -> None:
        if body.sent != hashed:
            raise FileChanged(f"{self.path}: the bytes sent differ from the bytes hashed")

    def put(self) -> str:
        """One PUT (files up to a part); returns the SHA-256 of the bytes sent."""
        with open(self.path, "rb", buffering=0) as fh:
            hashed = self._hash(fh, self.size)
        with self._body(0, self.size) as body:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body)
        try:
            self._check(body, hashed)
        except FileChanged:
            with contextlib.suppress(Exception):  # the run fails; its folder keeps no stale object
                self.client.delete_object(Bucket=self.bucket, Key=self.key)
            raise
        return self.sha256.hexdigest()

    def put_parts(self, pool: ThreadPoolExecutor, part: int) -> str:
        """A multipart upload, parts in parallel; aborted on any failure."""
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        try:
            etags = self._send_parts(pool, part, upload_id)
            parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):  # if the store is gone, its lifecycle rule removes the parts
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            raise
        return self.sha256.hexdigest()

    def _send_parts(self, pool: ThreadPoolExecutor, part: int, upload_id: str) -> list[str]:
        room = threading.Semaphore(AHEAD)
        futures: list[Future[str]] = []
        with open(self.path, "rb", buffering=0) as fh:
            for number, offset in enumerate(range(0, self.size, part), 1):
                hashed = self._hash(fh, min(part, self.size - offset))
                room.acquire()
                if any(f.done() and f.exception() for f in futures):
                    break  # a part failed: stop reading, the result below raises its error
                future = pool.submit(self._send_part, upload_id, number, offset, hashed)
                future.add_done_callback(lambda _: room.release())
                futures.append(future)
        return [f.result() for f in futures]

    def _send_part(self, upload_id: str, number: int, offset: int, hashed: tuple[int, int]) -> str:
        with self._body(offset, hashed[0]) as body:
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=body
            )
        self._check(body, hashed)
        return str(answer["ETag"])


def upload_s3(
    artifact_uri: str,
    model: ModelSource,
    progress: ProgressSink,
    config: HttpConfig | None = None,
    folder: str = "model",
) -> list[ModelFile]:
    """Write `model` under `<artifact_uri>/<folder>`; returns what was sent, with digests."""
    bucket, prefix = _location(artifact_uri, folder)
    client = _client(config or HttpConfig())
    meter = SentBytes(progress)
    with ThreadPoolExecutor(max_workers=PART_WORKERS, thread_name_prefix="hokusai-s3-part") as parts:

        def put(f: ModelFile) -> ModelFile:
            part = max(PART, -(-f.size // MAX_PARTS))
            upload = _File(client, bucket, prefix + f.relpath, model.local(f), f.size, meter)
            try:
                digest = upload.put() if f.size <= part else upload.put_parts(parts, part)
            except Exception as exc:
                action = f"upload the model to the artifact store {artifact_uri}"
                fix = CHANGED_FIX if isinstance(exc, FileChanged) else None
                raise _error(Category.MLFLOW_ERROR, action, exc, fix) from None
            return ModelFile(f.relpath, f.size, digest)

        # Small files go up several at a time; a large one at a time, its parts in parallel.
        small = [f for f in model.files if f.size <= PART]
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            done = {f.relpath: m for f, m in zip(small, pool.map(put, small), strict=True)}
        for f in model.files:
            if f.relpath not in done:
                done[f.relpath] = put(f)
    sent = [done[f.relpath] for f in model.files]
    progress.finish()
    return sent


def put_small(artifact_uri: str, folder: str, files: dict[str, bytes], config: HttpConfig | None = None) -> None:
    """Write small files (the signature bundles) as objects under `<artifact_uri>/<folder>`, each
    in one PUT; a failure is a signing failure (exit 12): the version stays unsigned and
    unregistered, for the next run to sign."""
    bucket, prefix = _location(artifact_uri, folder)
    client = _client(config or HttpConfig())
    for name, data in files.items():
        try:
            client.put_object(Bucket=bucket, Key=prefix + name, Body=data)
        except Exception as exc:
            target = f"{artifact_uri.rstrip('/')}/{folder}"
            raise _error(Category.SIGNING_FAILED, f"store the signatures in the artifact store {target}", exc) from None


class FileChanged(OSError):
    """A model file changed between its listing, its hashing and its sending."""


CHANGED_FIX = "a model file changed while it was uploaded; re-run once nothing writes to the model"


def _error(category: Category, action: str, exc: BaseException, fix: str | None = None) -> HokusaiError:
    """One line naming the bucket (and endpoint), the step, boto3's reason and the fix; redacted."""
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    where = f" at {display_url(endpoint)}" if endpoint else ""
    reason = " ".join(str(exc).split())[:300]
    return HokusaiError(
        category,
        f"could not {action}{where}: {exc.__class__.__name__}: {reason}; "
        + (fix or "check that the S3 endpoint is reachable and the AWS credentials may write to the bucket"),
    )
