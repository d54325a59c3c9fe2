"""Content hashing (file and canonical directory digest) and progress output."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

from hokusai_ci.domain.fingerprint import fingerprint
from hokusai_ci.domain.progress import NoProgress, Progress
from hokusai_ci.domain.streaming import CHUNK, HashingReader


def test_file_digest_is_plain_sha256(model_file: Path) -> None:
    assert fingerprint(model_file).sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()


def test_directory_digest_is_the_sha256sum_manifest(model_dir: Path) -> None:
    fp = fingerprint(model_dir)
    lines = "".join(
        f"{hashlib.sha256((model_dir / rel).read_bytes()).hexdigest()}  {rel}\n"
        for rel in ("config.json", "shards/00001.bin", "shards/00002.bin")
    )
    assert fp.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert [f.relpath for f in fp.files] == ["config.json", "shards/00001.bin", "shards/00002.bin"]
    assert fp.total_bytes == sum(f.size for f in fp.files)


def test_directory_digest_changes_with_content_and_names(model_dir: Path, tmp_path: Path) -> None:
    before = fingerprint(model_dir).sha256
    os.rename(model_dir / "config.json", model_dir / "config2.json")
    renamed = fingerprint(model_dir).sha256
    (model_dir / "config2.json").write_text('{"layers": 3}')
    assert len({before, renamed, fingerprint(model_dir).sha256}) == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ci_progress_prints_a_line_per_tenth_or_interval() -> None:
    out, clock = io.StringIO(), FakeClock()
    total = 100 * 1024 * 1024
    p = Progress("uploading", total, stream=out, clock=clock, interval=30)
    for _ in range(100):
        clock.now += 0.1
        p.advance(total // 100)
    p.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # ten deciles and the final line
    assert lines[0].startswith("uploading:  10%")
    assert lines[-1].endswith("done")


def test_ci_progress_heartbeat_on_slow_transfers() -> None:
    out, clock = io.StringIO(), FakeClock()
    total = 1024 * 1024 * 1024
    p = Progress("uploading", total, stream=out, clock=clock, interval=30)
    for _ in range(5):
        clock.now += 31
        p.advance(1024)
    assert len(out.getvalue().splitlines()) == 5


def test_small_models_print_no_progress() -> None:
    out = io.StringIO()
    p = Progress("hashing", 1000, stream=out)
    p.advance(1000)
    p.finish()
    assert out.getvalue() == ""


def test_heartbeat_keeps_ci_logs_alive_during_one_long_transfer() -> None:
    import time

    from hokusai_ci.domain.progress import heartbeat

    out = io.StringIO()
    p = Progress("uploading", 10 * 1024**3, stream=out, interval=0.05)
    with heartbeat(p, every=0.01):
        time.sleep(0.3)  # a single large file in flight: no bytes counted yet
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("uploading:   0% 0 B / 10.0 GiB") for line in lines)


def test_a_cloned_model_repository_leaves_its_git_metadata_out(model_dir: Path, tmp_path: Path) -> None:
    """`.git` (whose config may hold a clone's credentials) and the other top-level git files
    are not part of the model, as model_signing also ignores them; the same names deeper in the
    tree are model files. The embedded store holds exactly the model's files."""
    from tests.conftest import register_args, run_here

    before = fingerprint(model_dir).sha256
    (model_dir / ".git" / "refs").mkdir(parents=True)
    (model_dir / ".git" / "config").write_text('[remote "origin"]\n  url = https://u:ghp_CANARY@example.test/r\n')
    (model_dir / ".gitattributes").write_text("*.bin filter=lfs\n")
    (model_dir / ".github").mkdir()
    (model_dir / ".github" / "ci.yml").write_text("on: push\n")
    assert fingerprint(model_dir).sha256 == before
    (model_dir / "shards" / ".gitignore").write_text("*.tmp\n")  # not at the top: a model file
    listed = [f.relpath for f in fingerprint(model_dir).files]
    assert listed == ["config.json", "shards/.gitignore", "shards/00001.bin", "shards/00002.bin"]

    assert run_here("token", "create", "--token-id", "GITCLONE").code == 0
    r = run_here(*register_args("GITCLONE", model_dir, "auroc", "0.8", "0.9"), "--output", "json")
    assert r.code == 0, r.err
    stored = next(Path(os.environ["HOKUSAI_HOME"], "mlruns").glob(f"*/{r.json()['mlflow_run_id']}/artifacts/model"))
    assert sorted(str(p.relative_to(stored)) for p in stored.rglob("*") if p.is_file()) == listed
    assert not any("ghp_CANARY" in p.read_text(errors="replace") for p in stored.rglob("*") if p.is_file())


def test_the_hashing_queue_holds_4_mib_at_most_whatever_read_size_is_asked(tmp_path: Path) -> None:
    """Reads of 8 MiB asked through a reader with an 8 MiB chunk: each read still hands the
    hashing thread at most 1 MiB, so the memory Python allocates while a 64 MiB file streams
    stays at the 4 queued reads, the one being hashed and the one returned (a queue of 8 MiB
    reads held 48 MiB), and the digest is the file's."""
    path = tmp_path / "model.bin"
    with path.open("wb") as fh:
        for _ in range(64):
            fh.write(os.urandom(CHUNK))
    longest = 0
    tracemalloc.start()
    try:
        with HashingReader(path, NoProgress(), chunk=8 * CHUNK) as reader:
            while block := reader.read(8 * CHUNK):
                longest = max(longest, len(block))
            digest = reader.hexdigest()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 6 * CHUNK + 256 * 1024, f"{peak / CHUNK:.1f} MiB"
    assert longest == CHUNK
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
