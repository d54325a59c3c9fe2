"""Nothing is written into the directory a command or a test helper is started from.

An empty 954 KB `mlflow.db` was once committed at the repository root: something had written
MLflow's default store into the working directory. Every command, the Python API and the test
helpers that start servers run here from an empty scratch directory, which must stay empty
(the embedded store lives under HOKUSAI_HOME, set elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import register_args, run_cli
from tests.servers import MlflowServer, WebhookReceiver

pytestmark = pytest.mark.servers  # starts its own MLflow server


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def test_cli_and_helpers_write_nothing_into_the_working_directory(scratch: Path, tmp_path: Path) -> None:
    from tests.test_signing import keypair

    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(2048))
    private, public = keypair(tmp_path)
    server = MlflowServer.start(tmp_path / "mlflow")
    receiver = WebhookReceiver().start()
    try:
        commands = [
            ["--help"],
            ["--version"],
            ["model", "register", "--help"],
            ["token", "create", "--token-id", "SCRATCH"],
            [*register_args("SCRATCH", model, "auroc", "0.8", "0.9"), "--dry-run"],
            ["model", "gate", *register_args("SCRATCH", model, "auroc", "0.8", "0.9")[2:]],
            [*register_args("SCRATCH", model, "auroc", "0.8", "0.9"), "--mlflow-uri", server.url],
            ["model", "status", "--token-id", "SCRATCH"],
            # the embedded MLflow store, signed and verified (MLflow's file store once opened
            # its default sqlite store in the working directory while creating a version)
            ["token", "create", "--token-id", "SCRATCH3"],
            [*register_args("SCRATCH3", model, "auroc", "0.8", "0.9"), "--sign-key", str(private)],
            ["model", "verify", "--token-id", "SCRATCH3", "--public-key", str(public)],
            ["model", "list"],
            ["events", "replay", "--webhook-url", receiver.url],
            ["completion", "bash"],
        ]
        for args in commands:
            r = run_cli(*args, cwd=scratch)
            assert r.code == 0, (args, r.err)
        from hokusai_ci import ModelRegistry

        registry = ModelRegistry(mlflow_uri=server.url)  # in-process, as a library user would
        assert registry.status("SCRATCH").status == "registered"
        registry.create_token("SCRATCH2")
        result = registry.register_model(
            token_id="SCRATCH2", model_path=model, metric_name="auroc", metric_value=0.9, baseline_value=0.8
        )
        assert result.status == "registered"
    finally:
        receiver.stop()
        server.stop()
    assert sorted(p.name for p in scratch.iterdir()) == []
    assert (tmp_path / "home" / "hokusai.db").is_file()  # the embedded store went to HOKUSAI_HOME


def test_the_engine_run_folder_is_removed_with_the_namespace_dockerd_leaves_mounted(tmp_path: Path) -> None:
    """dockerd leaves exec/netns/default bind-mounted after it stops; that kept an hkd-* folder
    in /tmp per test session. Reproduced with the same kind of mount (the network namespace)."""
    import subprocess

    from tests.docker_env import _remove_run_folder

    run = tmp_path / "hkd-run"
    target = run / "exec" / "netns" / "default"
    target.parent.mkdir(parents=True)
    target.touch()
    subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(target)], check=True)
    assert str(target) in Path("/proc/mounts").read_text()
    _remove_run_folder(run)
    assert not run.exists()
    assert str(target) not in Path("/proc/mounts").read_text()


def test_the_embedded_store_leaves_no_global_mlflow_state_behind(scratch: Path, tmp_path: Path) -> None:
    """The embedded store points MLflow's process-wide tracking URI at itself only while MLflow
    works: a library user's process (and the children it starts) keep their own setting."""
    import mlflow

    from hokusai_ci import ModelRegistry

    assert not mlflow.is_tracking_uri_set() and "MLFLOW_TRACKING_URI" not in os.environ
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(1024))
    registry = ModelRegistry()
    registry.create_token("GLOBAL")
    result = registry.register_model("GLOBAL", model, "auroc", 0.9, 0.8)
    assert result.status == "registered"
    assert not mlflow.is_tracking_uri_set() and "MLFLOW_TRACKING_URI" not in os.environ
    assert sorted(p.name for p in scratch.iterdir()) == []
