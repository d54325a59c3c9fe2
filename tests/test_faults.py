"""Failure paths of `model register`, each proven with the real fault: a proxy that stalls or
cuts a chosen call to the real MLflow server, signals sent to the real CLI process, a
PostgreSQL server stopped and restarted mid-run, a SQLite store locked by another process,
a store on a full disk. After every fault: exactly one live version, the one the token names,
and nothing registered that the store did not commit.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO, Run, register_args, run_cli
from tests.fault_proxy import FaultProxy, Rule
from tests.servers import MlflowServer, PostgresServer

CREATE_VERSION = "/api/2.0/mlflow/model-versions/create"
UPLOAD = "/api/2.0/mlflow-artifacts/artifacts/"
LEASE = "10"  # the shortest lease settings allow, renewed every 2.5 s by a live run


pytestmark = pytest.mark.usefixtures("direct_mlflow")  # commands without a fault go straight to MLflow


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, since its tests stop and restart it."""
    root = Path(tempfile.mkdtemp(prefix="hokusai-pgf-"))
    server = PostgresServer.start(root)
    yield server
    server.stop()
    subprocess.run(["rm", "-rf", str(root)], check=False)


class Cli:
    """The real CLI as a child process, for signals and for faults it must live through."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hokusai_ci", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            cwd=REPO,
        )

    def wait(self, timeout: float = 90) -> Run:
        out, err = self.proc.communicate(timeout=timeout)
        return Run(self.proc.returncode, out, err)


def reached(rule: Rule, timeout: float = 60) -> None:
    assert rule.reached.wait(timeout), "the CLI never made the call the fault was set on"


def versions(server: MlflowServer, token: str) -> list[Any]:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    found = client.search_model_versions(f"tags.`hokusai.token_id` = '{token}'")
    return sorted(found, key=lambda v: int(v.version))


def run_status(server: MlflowServer, run_id: str) -> str:
    return str(MlflowClient(tracking_uri=server.url).get_run(run_id).info.status)


def status(token: str, *extra: str) -> dict[str, Any]:
    shown = run_cli("model", "status", "--token-id", token, "--output", "json", *extra)
    assert shown.code == 0, shown.err
    return dict(shown.json())


def create(token: str, *extra: str) -> None:
    made = run_cli("token", "create", "--token-id", token, *extra)
    assert made.code == 0, made.err


def store_options(kind: str, postgres: PostgresServer, tmp_path: Path, name: str) -> list[str]:
    if kind == "sqlite":
        return []
    config = tmp_path / "db.json"
    config.write_text(json.dumps({"url": postgres.create_database(name)}))
    return ["--db-config", str(config)]


def assert_one_registered_version(server: MlflowServer, token: str, extra: list[str]) -> None:
    [v] = versions(server, token)
    assert v.tags["hokusai.status"] == "registered"
    shown = status(token, *extra)
    assert shown["status"] == "registered" and shown["model_version"] == str(v.version)
    assert run_status(server, v.run_id) == "FINISHED"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_stalled_run_keeps_its_claim_and_a_frozen_one_never_removes_the_adopted_version(
    kind: str,
    proxy: FaultProxy,
    mlflow_server: MlflowServer,
    own_postgres: PostgresServer,
    model_file: Path,
    tmp_path: Path,
) -> None:
    token = f"FROZEN-{kind.upper()}"
    extra = store_options(kind, own_postgres, tmp_path, f"frozen_{kind}")
    create(token, *extra)
    stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
    a = Cli(
        [*register_args(token, model_file, "auroc", "0.8", "0.9"), *extra],
        {"MLFLOW_TRACKING_URI": proxy.url, "HOKUSAI_LEASE_SECONDS": LEASE},
    )
    reached(stall)  # A's version exists on the server; A waits for the answer
    time.sleep(float(LEASE) + 2)  # longer than the lease: only the heartbeat keeps A's claim
    b_args = [*register_args(token, model_file, "auroc", "0.8", "0.9"), *extra, "--output", "json"]
    b_env = {"MLFLOW_TRACKING_URI": mlflow_server.url}
    blocked = run_cli(*b_args, env=b_env)
    assert blocked.code == 4 and "being registered by another run" in blocked.err

    os.kill(a.proc.pid, signal.SIGSTOP)  # frozen (a paused VM, a swapped-out runner): no heartbeat
    try:
        time.sleep(float(LEASE) + 2)
        b = run_cli(*b_args, env=b_env)
        assert b.code == 0, b.err
        assert b.json()["reused_existing_version"] is True  # B adopted A's version: A's claim is dead
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    stall.release()
    done = a.wait()
    assert done.code == 4, done.err
    assert "adopted this run's version" in done.err
    assert_one_registered_version(mlflow_server, token, extra)


@pytest.mark.parametrize("layout", ["file", "directory"])
def test_sigterm_during_the_upload_releases_the_claim_and_fails_the_run(
    layout: str, proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, model_dir: Path
) -> None:
    token = f"TERM-UPLOAD-{layout.upper()}"
    model = model_file if layout == "file" else model_dir
    create(token)
    stall = proxy.add("PUT", UPLOAD, "stall")  # one file's upload hangs; a directory's others go on
    a = Cli(
        [*register_args(token, model, "auroc", "0.8", "0.9"), "--output", "json"],
        {"MLFLOW_TRACKING_URI": proxy.url},
    )
    reached(stall)
    started = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    done = a.wait(timeout=30)
    assert time.monotonic() - started < 20
    assert done.code == 143, done.err
    assert done.json()["error"]["category"] == "terminated"
    assert "error: Terminated: stopped by SIGTERM" in done.err and "Traceback" not in done.err
    assert status(token)["status"] == "draft"
    client = MlflowClient(tracking_uri=mlflow_server.url)
    runs = client.search_runs(
        experiment_ids=[e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`hokusai.token_id` = '{token}'",
    )
    assert [r.info.status for r in runs] == ["FAILED"]
    assert versions(mlflow_server, token) == []
    again = run_cli(*register_args(token, model, "auroc", "0.8", "0.9"))
    assert again.code == 0, again.err
    assert_one_registered_version(mlflow_server, token, [])


@pytest.mark.parametrize("same_content", [True, False])
def test_a_version_left_by_sigterm_is_adopted_by_same_content_and_removed_by_other(
    same_content: bool, proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    token = "TERM-SAME" if same_content else "TERM-OTHER"
    create(token)
    stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
    a = Cli(register_args(token, model_file, "auroc", "0.8", "0.9"), {"MLFLOW_TRACKING_URI": proxy.url})
    reached(stall)
    a.proc.send_signal(signal.SIGTERM)
    done = a.wait(timeout=30)
    assert done.code == 143, done.err
    [left] = versions(mlflow_server, token)
    assert left.tags["hokusai.status"] == "not_registered"
    assert run_status(mlflow_server, left.run_id) == "FAILED"
    assert status(token)["status"] == "draft"

    model = model_file
    if not same_content:
        model = tmp_path / "retrained.pkl"
        model.write_bytes(b"another model" * 100)
    again = run_cli(*register_args(token, model, "auroc", "0.8", "0.95"), "--output", "json")
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is same_content
    assert_one_registered_version(mlflow_server, token, [])
    [kept] = versions(mlflow_server, token)
    assert (kept.version == left.version) is same_content
    assert kept.tags["hokusai.metric_value"] == "0.95"  # re-tagged with this run's values when adopted


@pytest.mark.parametrize("same_content", [True, False], ids=["same", "other"])
def test_the_run_of_a_version_left_by_sigkill_is_ended_by_the_next_run(
    same_content: bool, proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """A killed run cannot end its MLflow run; the run that adopts or removes its version does."""
    token = "KILL-SAME" if same_content else "KILL-OTHER"
    create(token)
    stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
    a = Cli(register_args(token, model_file, "auroc", "0.8", "0.9"), {"MLFLOW_TRACKING_URI": proxy.url})
    reached(stall)
    a.proc.kill()
    a.wait()
    stall.release()
    [left] = versions(mlflow_server, token)
    assert run_status(mlflow_server, left.run_id) == "RUNNING"
    assert run_cli("token", "release", "--token-id", token, "--force").code == 0

    model = model_file
    if not same_content:
        model = tmp_path / "retrained.pkl"
        model.write_bytes(b"another model" * 100)
    again = run_cli(*register_args(token, model, "auroc", "0.8", "0.95"), "--output", "json")
    assert again.code == 0, again.err
    assert_one_registered_version(mlflow_server, token, [])
    # adopted: its run is the registered version's run, FINISHED; removed: its run FAILED
    assert run_status(mlflow_server, left.run_id) == ("FINISHED" if same_content else "FAILED")


def test_sigkill_leaves_a_claim_that_expires_and_token_release_frees(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path
) -> None:
    for token in ("KILLED", "KILLED-FORCE"):
        create(token)
        stall = proxy.add("PUT", UPLOAD, "stall")
        a = Cli(
            register_args(token, model_file, "auroc", "0.8", "0.9"),
            {"MLFLOW_TRACKING_URI": proxy.url, "HOKUSAI_LEASE_SECONDS": LEASE},
        )
        reached(stall)
        a.proc.kill()
        a.wait()
        stall.release()
    live = run_cli("token", "release", "--token-id", "KILLED")
    assert live.code == 4 and "lease is live until" in live.err and "--force" in live.err
    forced = run_cli("token", "release", "--token-id", "KILLED-FORCE", "--force", "--output", "json")
    assert forced.code == 0, forced.err
    assert forced.json()["released"] is True and forced.json()["lease_was_live"] is True
    assert status("KILLED-FORCE")["status"] == "draft"

    time.sleep(float(LEASE) + 1)  # the killed run renews nothing: its claim expires by itself
    expired = run_cli("token", "release", "--token-id", "KILLED")
    assert expired.code == 0, expired.err
    assert "expired lease" in expired.out and "the token is draft again" in expired.out
    nothing = run_cli("token", "release", "--token-id", "KILLED")
    assert nothing.code == 4 and "no claim to release" in nothing.err
    again = run_cli(*register_args("KILLED", model_file, "auroc", "0.8", "0.9"))
    assert again.code == 0, again.err


def test_postgresql_restarted_during_the_final_step_is_reconnected(
    proxy: FaultProxy, mlflow_server: MlflowServer, own_postgres: PostgresServer, model_file: Path, tmp_path: Path
) -> None:
    extra = store_options("postgresql", own_postgres, tmp_path, "restarted")
    create("PG-RESTART", *extra)
    stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
    a = Cli(
        [*register_args("PG-RESTART", model_file, "auroc", "0.8", "0.9"), *extra],
        {"MLFLOW_TRACKING_URI": proxy.url, "HOKUSAI_STORE_RETRY_SECONDS": "60"},
    )
    reached(stall)
    own_postgres.stop()
    try:
        stall.release()
        time.sleep(3)  # the final step fails and retries while the server is down
    finally:
        own_postgres.resume()
    done = a.wait()
    assert done.code == 0, done.err
    assert "retrying" in done.err
    assert_one_registered_version(mlflow_server, "PG-RESTART", extra)


def test_postgresql_down_for_good_leaves_the_run_resumable(
    proxy: FaultProxy, mlflow_server: MlflowServer, own_postgres: PostgresServer, model_file: Path, tmp_path: Path
) -> None:
    extra = store_options("postgresql", own_postgres, tmp_path, "stopped")
    create("PG-DOWN", *extra)
    stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
    a = Cli(
        [*register_args("PG-DOWN", model_file, "auroc", "0.8", "0.9"), *extra],
        {"MLFLOW_TRACKING_URI": proxy.url, "HOKUSAI_STORE_RETRY_SECONDS": "2", "HOKUSAI_LEASE_SECONDS": LEASE},
    )
    reached(stall)
    own_postgres.stop()
    try:
        stall.release()
        done = a.wait()
    finally:
        own_postgres.resume()
    assert done.code == 7, done.err
    assert "could not release the claim" in done.err and "token release" in done.err
    [left] = versions(mlflow_server, "PG-DOWN")
    assert left.tags["hokusai.status"] == "not_registered"  # never tagged registered
    assert run_status(mlflow_server, left.run_id) == "FAILED"  # never left RUNNING
    time.sleep(float(LEASE) + 1)
    again = run_cli(*register_args("PG-DOWN", model_file, "auroc", "0.8", "0.9"), *extra, "--output", "json")
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is True
    assert_one_registered_version(mlflow_server, "PG-DOWN", extra)


def test_a_sqlite_store_locked_by_another_process_is_waited_for(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    create("LOCKED")
    stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
    a = Cli(register_args("LOCKED", model_file, "auroc", "0.8", "0.9"), {"MLFLOW_TRACKING_URI": proxy.url})
    reached(stall)
    holder = sqlite3.connect(tmp_path / "home" / "hokusai.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the store's write lock
    try:
        stall.release()
        time.sleep(12)  # longer than SQLite's busy wait: the final step must retry, not give up
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    done = a.wait()
    assert done.code == 0, done.err
    assert "retrying" in done.err
    assert_one_registered_version(mlflow_server, "LOCKED", [])


def test_a_full_disk_under_the_store_leaves_the_run_resumable(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    home = tmp_path / "small-home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(home)], check=True)
    try:
        env = {"HOKUSAI_HOME": str(home), "HOKUSAI_STORE_RETRY_SECONDS": "2", "HOKUSAI_LEASE_SECONDS": LEASE}
        made = run_cli("token", "create", "--token-id", "DISKFULL", env=env)
        assert made.code == 0, made.err
        stall = proxy.add("POST", CREATE_VERSION, "stall", after=True)
        a = Cli(register_args("DISKFULL", model_file, "auroc", "0.8", "0.9"), {**env, "MLFLOW_TRACKING_URI": proxy.url})
        reached(stall)
        filler = home / "filler"
        with filler.open("wb") as fh, pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        stall.release()
        done = a.wait()
        assert done.code == 7, done.err
        assert "full" in done.err
        [left] = versions(mlflow_server, "DISKFULL")
        assert left.tags["hokusai.status"] == "not_registered"
        filler.unlink()
        time.sleep(float(LEASE) + 1)
        again = run_cli(*register_args("DISKFULL", model_file, "auroc", "0.8", "0.9"), "--output", "json", env=env)
        assert again.code == 0, again.err
        assert again.json()["reused_existing_version"] is True
        [kept] = versions(mlflow_server, "DISKFULL")
        assert kept.tags["hokusai.status"] == "registered" and kept.version == left.version
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)
