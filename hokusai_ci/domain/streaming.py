"""Read a model once: the bytes an upload sends are hashed and metered as they are read.

`HashingReader` is the request body of an upload. Each `read` hands out the next chunk of the
file, counts it on the progress display and passes it to a hashing thread, so SHA-256 runs
while the socket sends (hashlib releases the GIL) instead of as a second pass over the file.
The digest recorded is therefore the digest of exactly the bytes that were sent.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hokusai_ci.domain.fingerprint import ModelFile, list_model_files, manifest_sha256
from hokusai_ci.domain.progress import ProgressSink

# Files of one model uploaded at a time (streaming PUTs to MLflow, objects to S3), chosen from
# bench/run.py (200 files of 4 KiB, one MLflow server worker, medians of 3): through a proxy
# adding 20 ms per request, 1/2/4/8/16/32 workers took 6.9/4.1/3.7/3.2/2.5/2.4 s; the gain stops
# at 16, where the server becomes the bottleneck (the README's Benchmarks table has the latest
# run of 1/4/8/16). On loopback, with no latency to hide, worker count made no clear difference.
UPLOAD_WORKERS = 16

CHUNK = 1024 * 1024
# Below this a helper thread costs more than it saves; the file is hashed inline.
THREADED_ABOVE = 8 * 1024 * 1024
# Reads waiting to be hashed. Each read is at most CHUNK, whatever the caller asks, so the queue
# holds 4 MiB at most whatever the file's size.
_QUEUE_CHUNKS = 4


@dataclass(frozen=True)
class ModelSource:
    """What an upload sends: the model path and its files (no digests yet)."""

    path: Path
    is_dir: bool
    files: tuple[ModelFile, ...]

    @classmethod
    def of(cls, path: Path, links_within: Sequence[Path] = ()) -> ModelSource:
        return cls(path, path.is_dir(), tuple(list_model_files(path, links_within)))

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def local(self, f: ModelFile) -> Path:
        return self.path / f.relpath if self.is_dir else self.path

    def digest(self, sent: list[ModelFile] | tuple[ModelFile, ...]) -> str:
        """The model's digest from per-file digests (same definition as `fingerprint`)."""
        if not self.is_dir:
            return sent[0].sha256
        return manifest_sha256(tuple(sent))


class HashingReader:
    """A file object for a streaming request body that hashes and meters what is read.

    `read(n)` returns up to `chunk` bytes whatever `n` is: the size of each write is the
    caller's choice (a streaming PUT measured its own, rest_tracker.PUT_CHUNK), not the HTTP
    stack's; `chunk` is capped at CHUNK, which bounds the hashing queue. `len()` gives the
    remaining size so the request carries a Content-Length (no chunked encoding).
    """

    def __init__(self, path: Path, progress: ProgressSink, chunk: int = CHUNK) -> None:
        self._fh: BinaryIO = path.open("rb", buffering=0)
        self._size = self._remaining = path.stat().st_size
        self._progress = progress
        self._chunk = min(chunk, CHUNK)
        self._hash = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self.sent = 0
        if self._size > THREADED_ABOVE:
            self._queue = queue.Queue(maxsize=_QUEUE_CHUNKS)
            self._thread = threading.Thread(target=self._hasher, name="hokusai-hash", daemon=True)
            self._thread.start()

    def _hasher(self) -> None:
        assert self._queue is not None
        while (block := self._queue.get()) is not None:
            self._hash.update(block)

    def read(self, n: int | None = -1) -> bytes:
        block = self._fh.read(self._chunk)
        if block:
            if self._queue is not None:
                self._queue.put(block)
            else:
                self._hash.update(block)
            self.sent += len(block)
            self._remaining -= len(block)
            self._progress.advance(len(block))
        return block

    def __len__(self) -> int:
        return max(self._remaining, 0)

    def hexdigest(self) -> str:
        """The digest of every byte read so far; call once the body has been sent."""
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._fh.close()

    def __enter__(self) -> HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
