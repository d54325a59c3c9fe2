"""Content identity of a model file or directory: streaming SHA-256, memory flat in size.

A directory's digest is the SHA-256 of a canonical manifest: one `<sha256>  <relative/path>`
line per file, sorted by path (the format `sha256sum` prints), so the same tree hashes the
same on any machine. A single file's digest is the plain SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_ci.progress import NoProgress, ProgressSink

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ModelFile:
    relpath: str
    size: int
    sha256: str = ""


@dataclass(frozen=True)
class Fingerprint:
    path: Path
    is_dir: bool
    sha256: str
    total_bytes: int
    files: tuple[ModelFile, ...] = field(default_factory=tuple)


def list_model_files(path: Path) -> list[ModelFile]:
    """Regular files under `path` (following file symlinks), sorted by POSIX relative path."""
    if path.is_file():
        return [ModelFile(path.name, path.stat().st_size)]
    found: list[ModelFile] = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in names:
            full = Path(root, name)
            if full.is_file():
                rel = full.relative_to(path).as_posix()
                found.append(ModelFile(rel, full.stat().st_size))
    found.sort(key=lambda f: f.relpath)
    return found


def file_sha256(path: Path, progress: ProgressSink) -> str:
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
            progress.advance(n)
    return digest.hexdigest()


def fingerprint(path: Path, progress_for: Callable[[int], ProgressSink] | None = None) -> Fingerprint:
    """Hash `path`; `progress_for(total_bytes)` gives the progress display, if any."""
    files = list_model_files(path)
    total = sum(f.size for f in files)
    progress = progress_for(total) if progress_for else NoProgress()
    if path.is_file():
        digest = file_sha256(path, progress)
        progress.finish()
        return Fingerprint(path, False, digest, total, (ModelFile(path.name, total, digest),))
    hashed = tuple(ModelFile(f.relpath, f.size, file_sha256(path / f.relpath, progress)) for f in files)
    progress.finish()
    return Fingerprint(path, True, manifest_sha256(hashed), total, hashed)


def manifest_sha256(files: tuple[ModelFile, ...] | list[ModelFile]) -> str:
    """A directory's digest: SHA-256 of its `<sha256>  <relpath>` lines sorted by path."""
    manifest = "".join(f"{f.sha256}  {f.relpath}\n" for f in sorted(files, key=lambda f: f.relpath))
    return hashlib.sha256(manifest.encode()).hexdigest()
