"""Content identity of a model file or directory: streaming SHA-256, memory flat in size.

A directory's digest is the SHA-256 of a canonical manifest: one `<sha256>  <relative/path>`
line per file, sorted by path (the format `sha256sum` prints), so the same tree hashes the
same on any machine. A single file's digest is the plain SHA-256 of its bytes.

What belongs to a model is decided here, once, for hashing and upload alike:
- regular files and directories only; a FIFO, socket, device or kernel pseudo-file (/proc,
  /sys, /dev) is refused, so a model can never carry `/proc/self/environ`;
- a symbolic link is followed only when it resolves inside the model path or inside a root
  the user named (`--links-within`, e.g. a Hugging Face cache's `blobs/`), and then counts
  as its target's content under the link's own name;
- every entry must be readable: an unreadable file or directory is an error, never a
  silently smaller model.
- version-control metadata at the top of a model folder (`.git`, `.github`, `.gitattributes`,
  `.gitignore`: model_signing's default ignore list) is not part of the model: a cloned model
  repository would otherwise upload its history and `.git/config`, credentials included.
Each file keeps the resolved path and inode it was listed with; hashing and upload reopen
exactly that file (no link is followed at that point) and refuse it if it was swapped.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_ci.config.validation import CONTROL
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.progress import NoProgress, ProgressSink

CHUNK = 1024 * 1024
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
VCS_PATHS = frozenset({".git", ".gitattributes", ".github", ".gitignore"})  # as model_signing ignores
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class ModelFile:
    relpath: str
    size: int
    sha256: str = ""
    source: str = ""  # the resolved path that is read (a link's target)
    identity: tuple[int, int] = (0, 0)  # (st_dev, st_ino) when listed


@dataclass(frozen=True)
class Fingerprint:
    path: Path
    is_dir: bool
    sha256: str
    total_bytes: int
    files: tuple[ModelFile, ...] = field(default_factory=tuple)


def refused(entry: str, reason: str) -> HokusaiError:
    """The one error for an entry that cannot be part of a model (exit 2, naming it)."""
    return invalid_input("model-path", entry, reason)


def list_model_files(path: Path, links_within: Sequence[Path] = ()) -> list[ModelFile]:
    """Regular files under `path`, sorted by POSIX relative path (see the module docstring)."""
    root = _resolve(str(path), str(path))
    top = _stat(str(path), root)
    if stat.S_ISREG(top.st_mode):
        _check_name(path.name, str(path))
        return [_regular(path.name, str(path), root, top)]
    if not stat.S_ISDIR(top.st_mode):
        raise refused(str(path), f"is {_kind(top.st_mode)}; give a regular file or a directory")
    allowed = (root, *(_resolve("links-within", str(r)) for r in links_within))
    found: list[ModelFile] = []
    _walk(root, "", allowed, found, {(top.st_dev, top.st_ino)}, show=str(path))
    found.sort(key=lambda f: f.relpath)
    return found


def _walk(
    directory: str, prefix: str, allowed: tuple[str, ...], found: list[ModelFile], seen: set[tuple[int, int]], show: str
) -> None:
    shown = os.path.join(show, prefix) if prefix else show
    try:
        with os.scandir(directory) as it:
            names = sorted(entry.name for entry in it)
    except OSError as exc:
        raise refused(shown, f"cannot be read ({exc.strerror or exc}); fix its permissions") from None
    for name in names:
        if not prefix and name in VCS_PATHS:
            continue
        rel = prefix + name
        display = os.path.join(show, rel)
        _check_name(name, display)
        if CONTROL.search(name):
            raise refused(display, "has a control character (such as a line break) in its name; rename it")
        full = os.path.join(directory, name)
        real, st = _follow(full, display, allowed)
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in seen:
                raise refused(display, f"links back to {real}, a folder that contains it (a loop)")
            _walk(real, rel + "/", allowed, found, seen | {key}, show)
        elif stat.S_ISREG(st.st_mode):
            found.append(_regular(rel, display, real, st))
        else:
            where = f" (links to {real})" if real != full else ""
            raise refused(display, f"is {_kind(st.st_mode)}{where}; a model holds only regular files and folders")


def _check_name(name: str, display: str) -> None:
    """A name that is not UTF-8 cannot be an MLflow artifact path or a tag; it is refused in
    preflight, before the claim, rather than failing half-way through the upload."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = display.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"model-path: {shown} has a name that is not valid UTF-8 (its bytes shown escaped); rename it, "
            "e.g. with `convmv`",
            field="model-path",
        ) from None


def _follow(full: str, display: str, allowed: tuple[str, ...]) -> tuple[str, os.stat_result]:
    """The path to read and its status: `full` itself, or a link's target when allowed."""
    st = _lstat(display, full)
    if not stat.S_ISLNK(st.st_mode):
        return full, st
    target = os.readlink(full)
    try:
        real = os.path.realpath(full, strict=True)
    except OSError:
        raise refused(display, f"is a broken or looping link (to {target})") from None
    if not any(inside(real, root) for root in allowed):
        roots = " or ".join(allowed)
        raise refused(
            display,
            f"links to {real}, outside {roots}; copy the file into the model folder, "
            "or name the folder the links point into with --links-within",
        )
    return real, _stat(display, real)


def _regular(rel: str, display: str, real: str, st: os.stat_result) -> ModelFile:
    if any(inside(real, p) for p in PSEUDO_ROOTS):
        raise refused(display, f"is a kernel pseudo-file ({real}), not model content")
    try:
        os.close(os.open(real, _OPEN_FLAGS))
    except OSError as exc:
        raise refused(display, f"cannot be read ({exc.strerror or exc}); fix its permissions") from None
    return ModelFile(rel, st.st_size, source=real, identity=(st.st_dev, st.st_ino))


def refuse_pseudo_file(field: str, path: Path) -> None:
    """An input file (evidence, a metrics or config file) that resolves into the kernel's
    pseudo-file systems or devices (/proc, /sys, /dev: `/proc/self/environ` is the environment,
    a CI job's token included) is refused before a byte is read, so no message can quote it."""
    real = os.path.realpath(path)
    if any(inside(real, root) for root in PSEUDO_ROOTS):
        raise invalid_input(
            field, str(path), f"it is a kernel pseudo-file or device ({real}), not data; give a regular file"
        )


def inside(path: str, root: str) -> bool:
    """`path` is `root` or below it (both resolved, so no `..` or link can fool the prefix)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _resolve(field: str, path: str) -> str:
    try:
        return os.path.realpath(path, strict=True)
    except OSError as exc:
        raise invalid_input(field, path, f"cannot be resolved ({exc.strerror or exc})") from None


def _stat(display: str, path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise refused(display, f"cannot be read ({exc.strerror or exc})") from None


def _lstat(display: str, path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        raise refused(display, f"cannot be read ({exc.strerror or exc})") from None


def _kind(mode: int) -> str:
    kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
    return kinds.get(stat.S_IFMT(mode), "not a regular file")


def open_listed(f: ModelFile) -> int:
    """Open the file exactly as listed: the resolved path without following a link, refused
    if it is no longer the same regular file (swapped between listing and reading)."""
    try:
        fd = os.open(f.source, _OPEN_FLAGS)
    except OSError as exc:
        raise refused(f.relpath, f"cannot be read any more ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != f.identity:
        os.close(fd)
        raise refused(f.relpath, "was replaced while being registered; run again once the folder is stable")
    os.set_blocking(fd, True)
    return fd


def upload_path(fp: Fingerprint, f: ModelFile) -> str:
    """The path an uploader opens for `f` (its base name is the artifact's name), checked to
    still lead to the file that was hashed."""
    local = str(fp.path / f.relpath) if fp.is_dir else str(fp.path)
    try:
        real = os.path.realpath(local, strict=True)
        st = os.stat(real)
    except OSError as exc:
        raise refused(f.relpath, f"cannot be read any more ({exc.strerror or exc})") from None
    if real != f.source or (st.st_dev, st.st_ino) != f.identity:
        raise refused(f.relpath, "was replaced while being registered; run again once the folder is stable")
    return local


def sha256_of(path: Path) -> str:
    """A file's SHA-256, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(f: ModelFile, progress: ProgressSink) -> str:
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(open_listed(f), "rb", buffering=0, closefd=True) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
            progress.advance(n)
    return digest.hexdigest()


def fingerprint(
    path: Path,
    progress_for: Callable[[int], ProgressSink] | None = None,
    *,
    links_within: Sequence[Path] = (),
) -> Fingerprint:
    """Hash `path`; `progress_for(total_bytes)` gives the progress display, if any."""
    files = list_model_files(path, links_within)
    total = sum(f.size for f in files)
    progress = progress_for(total) if progress_for else NoProgress()
    is_dir = os.path.isdir(path)
    hashed = tuple(ModelFile(f.relpath, f.size, file_sha256(f, progress), f.source, f.identity) for f in files)
    progress.finish()
    if not is_dir:
        return Fingerprint(path, False, hashed[0].sha256, total, hashed)
    return Fingerprint(path, True, manifest_sha256(hashed), total, hashed)


def manifest_sha256(files: tuple[ModelFile, ...] | list[ModelFile]) -> str:
    """A directory's digest: SHA-256 of its `<sha256>  <relpath>` lines sorted by path."""
    manifest = "".join(f"{f.sha256}  {f.relpath}\n" for f in sorted(files, key=lambda f: f.relpath))
    return hashlib.sha256(manifest.encode()).hexdigest()
