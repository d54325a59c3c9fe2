"""What a model folder may contain: links that stay inside it (or inside a root the user names
with --links-within), regular files and folders, every one readable. Everything else is
refused with exit 2 naming the entry, before anything is written."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import file_sha256, fingerprint, list_model_files, upload_path
from hokusai_ci.domain.progress import NoProgress
from tests.conftest import REPO, docs_text, register_args, run_cli, run_here
from tests.servers import MlflowServer


def mock_register(model: Path, *extra: str, token: str = "LINKS") -> tuple[int, str, str]:
    r = run_here(*register_args(token, model, "auroc", "0.8", "0.9"), *extra, env={"HOKUSAI_MOCK_MODE": "true"})
    return r.code, r.out, r.err


def refused_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_link_inside_the_model_is_hashed_as_its_target(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "weights").mkdir(parents=True)
    (model / "weights" / "w.bin").write_bytes(b"weights" * 100)
    (model / "latest.bin").symlink_to("weights/w.bin")
    (model / "alias").symlink_to("weights", target_is_directory=True)
    fp = fingerprint(model)
    assert [f.relpath for f in fp.files] == ["alias/w.bin", "latest.bin", "weights/w.bin"]
    digest = hashlib.sha256(b"weights" * 100).hexdigest()
    assert {f.sha256 for f in fp.files} == {digest}


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "/dev/null"])
def test_a_link_leaving_the_model_is_refused(tmp_path: Path, target: str) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.bin").write_bytes(b"x" * 10)
    (model / "leak").symlink_to(target)
    code, _, err = mock_register(model)
    assert code == 2, err
    line = refused_line(err)
    real = re.escape(os.path.realpath(target)).replace(str(os.getpid()), r"\d+")  # /proc/self: the CLI's pid
    assert f"model-path='{model}/leak'" in line
    assert re.search(f"links to {real}, outside {re.escape(str(model))};", line)
    assert "--links-within" in line
    assert not (Path(os.environ["HOKUSAI_HOME"]) / "mock.db").exists()  # nothing written


def test_links_within_never_reaches_kernel_pseudo_files(tmp_path: Path) -> None:
    """Even inside an allowed root, a link to /proc is not model content, and /proc itself
    cannot be named as a root."""
    model, extra = tmp_path / "m", tmp_path / "extra"
    model.mkdir()
    extra.mkdir()
    (model / "model.bin").write_bytes(b"x" * 10)
    (extra / "env").symlink_to("/proc/self/environ")
    (model / "env").symlink_to(extra / "env")
    code, _, err = mock_register(model, "--links-within", str(extra))
    assert code == 2 and "links to /proc/" in refused_line(err)
    code, _, err = mock_register(model, "--links-within", "/proc")
    assert code == 2 and "links-within='/proc'" in refused_line(err) and "system root" in err


def test_special_files_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.bin").write_bytes(b"x" * 10)
    os.mkfifo(model / "pipe")
    code, _, err = mock_register(model)
    assert code == 2 and f"model-path='{model}/pipe'" in err and "is a FIFO" in refused_line(err)
    os.unlink(model / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(model / "sock"))
        code, _, err = mock_register(model)
    assert code == 2 and "is a socket" in refused_line(err)


def test_broken_and_looping_links_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    (model / "model.bin").write_bytes(b"x" * 10)
    (model / "gone").symlink_to("missing.bin")
    with pytest.raises(HokusaiError, match="broken or looping link"):
        list_model_files(model)
    (model / "gone").unlink()
    (model / "sub" / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(HokusaiError, match="a loop") as info:
        list_model_files(model)
    assert info.value.category is Category.INVALID_INPUT


def test_a_file_swapped_after_listing_is_refused(tmp_path: Path) -> None:
    """Time of check, time of use: the file read is the one listed (same inode), and a link
    retargeted before the upload is caught too."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "a.bin").write_bytes(b"a" * 10)
    (model / "b.bin").write_bytes(b"b" * 10)
    (model / "link.bin").symlink_to("a.bin")
    listed = {f.relpath: f for f in list_model_files(model)}
    os.replace(model / "b.bin", model / "a.bin")  # a.bin is now another inode
    with pytest.raises(HokusaiError, match="was replaced while being registered"):
        file_sha256(listed["a.bin"], NoProgress())
    fp = fingerprint(model)
    (model / "link.bin").unlink()
    (model / "c.bin").write_bytes(b"c" * 10)
    (model / "link.bin").symlink_to("c.bin")
    link = next(f for f in fp.files if f.relpath == "link.bin")
    with pytest.raises(HokusaiError, match="was replaced"):
        upload_path(fp, link)


def hugging_face_cache(root: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """The layout `huggingface_hub` writes: files under snapshots/<rev>/ are relative links
    to content-addressed blobs two levels up."""
    repo = root / "hub" / "models--acme--tiny-bert"
    files = {"config.json": b'{"hidden": 8}', "model.safetensors": os.urandom(2048), "tokenizer/vocab.txt": b"a\nb\n"}
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    for rel, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot, repo / "blobs", files


def readme_block(heading: str) -> str:
    """The first ```bash block under a heading of the docs, as printed."""
    text = docs_text()
    section = text[text.index(f"\n{heading}\n") :]
    return section[section.index("```bash\n") + 8 : section.index("\n```", section.index("```bash\n"))]


def run_shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a README snippet with `hokusai` meaning this checkout's CLI."""
    prelude = f'hokusai() {{ "{sys.executable}" -m hokusai_ci "$@"; }}\n'
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + script],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=180,
    )


def test_hugging_face_cache_registers_with_links_within(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The README's example as printed, against the real MLflow server: refused without
    --links-within; with it, the uploaded artifacts carry the links' names and the blobs' bytes."""
    snapshot, blobs, files = hugging_face_cache(tmp_path / "cache")
    hub = snapshot.parents[2]
    assert run_here("token", "create", "--token-id", "BERT").code == 0
    snippet = readme_block("## Model-folder links")
    assert "--links-within models--acme--tiny-bert/blobs" in snippet
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, "HOKUSAI_LOG_LEVEL": "ERROR"}
    without = run_shell(re.sub(r"\s*--links-within \S+ \\", "", snippet), hub, env)
    assert without.returncode == 2, without.stderr
    assert "blobs/" in refused_line(without.stderr) and "--links-within" in without.stderr
    r = run_shell(snippet, hub, env)
    assert r.returncode == 0, r.stderr
    client = MlflowClient(tracking_uri=mlflow_server.url)
    (version,) = client.search_model_versions("name = 'hokusai-BERT'")
    local = Path(client.download_artifacts(version.run_id, "model", str(tmp_path / "dl")))
    got = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert got == files
    assert not any(p.is_symlink() for p in local.rglob("*"))
    manifest = "".join(f"{hashlib.sha256(files[rel]).hexdigest()}  {rel}\n" for rel in sorted(files))
    assert version.tags["hokusai.sha256"] == hashlib.sha256(manifest.encode()).hexdigest()
    assert blobs.is_dir()


def test_python_api_takes_links_within(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hokusai_ci.api import ModelRegistry

    snapshot, blobs, _ = hugging_face_cache(tmp_path / "cache")
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")
    registry = ModelRegistry()
    with pytest.raises(HokusaiError) as info:
        registry.register_model("HFAPI", snapshot, "auroc", 0.9, 0.8)
    assert info.value.exit_code == 2 and "outside" in info.value.message
    result = registry.register_model("HFAPI", snapshot, "auroc", 0.9, 0.8, links_within=blobs)
    assert result.status == "registered" and result.model_bytes == sum(f.stat().st_size for f in blobs.iterdir())


# -- entries an unprivileged user cannot read (the tests run as root, which reads anything) --


@pytest.mark.parametrize("unreadable", ["shards", "shards/00002.bin"])
def test_an_unreadable_entry_is_an_error_not_a_smaller_model(tmp_path: Path, unreadable: str) -> None:
    model = tmp_path / "checkpoint"
    (model / "shards").mkdir(parents=True)
    (model / "config.json").write_text('{"layers": 2}')
    (model / "shards" / "00001.bin").write_bytes(b"1" * 4096)
    (model / "shards" / "00002.bin").write_bytes(b"2" * 2048)
    (model / unreadable).chmod(0)
    home = tmp_path / "home"
    r = run_cli(
        *register_args("PERM", model, "auroc", "0.8", "0.9"),
        env={"HOKUSAI_HOME": str(home), "HOKUSAI_MOCK_MODE": "true"},
        cwd=tmp_path,
        unprivileged=True,
    )
    assert r.code == 2, r.out + r.err
    line = refused_line(r.err)
    assert f"model-path='{model}/{unreadable}" in line and "Permission denied" in line
    assert not (home / "mock.db").exists()
