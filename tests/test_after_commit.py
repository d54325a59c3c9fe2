"""After the token store committed, the registration is done: what a signal or an MLflow
failure at that point leaves is reported as registered, and a re-run of the same command
finishes it (the `registered` tag, the run's end, the events). Proven with the real faults: the
fault proxy in front of a real MLflow server, signals to the real CLI process, a real webhook
receiver, a real PostgreSQL for the store's clock, a real full disk under HOKUSAI_HOME.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

from hokusai_ci.adapters import sql_store
from hokusai_ci.adapters.sql_store import SqlTokenStore
from hokusai_ci.core.inputs import build_request
from hokusai_ci.core.registration import Ports, register
from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.fingerprint import list_model_files
from hokusai_ci.domain.progress import NoProgress
from hokusai_ci.ports.store import TokenStatus, utcnow
from tests.conftest import register_args, run_cli
from tests.fault_proxy import FaultProxy
from tests.servers import MlflowServer, WebhookReceiver
from tests.test_action_entrypoint import parse_outputs, run_entry, runner  # noqa: F401 (fixture)
from tests.test_faults import Cli, create, reached, run_status, status, versions

SET_TAG = "/api/2.0/mlflow/model-versions/set-tag"
CREATE_RUN = "/api/2.0/mlflow/runs/create"
SECRET = {"HOKUSAI_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"after-commit-receiver-signing-key").decode()}


pytestmark = pytest.mark.usefixtures("direct_mlflow")  # commands without a fault go straight to MLflow


def token_runs(server: MlflowServer, token: str) -> list[Any]:
    client = MlflowClient(tracking_uri=server.url)
    return list(
        client.search_runs(
            experiment_ids=[e.experiment_id for e in client.search_experiments()],
            filter_string=f"tags.`hokusai.token_id` = '{token}'",
        )
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["term", "int"])
def test_a_signal_after_the_commit_says_registered_and_a_rerun_finishes_the_tag_run_and_events(
    sig: signal.Signals,
    code: int,
    proxy: FaultProxy,
    mlflow_server: MlflowServer,
    webhook: WebhookReceiver,
    model_file: Path,
) -> None:
    token = f"AFTER-{sig.name}"
    create(token)
    args = [*register_args(token, model_file, "auroc", "0.8", "0.9"), "--webhook-url", webhook.url, "--output", "json"]
    stall = proxy.add("POST", SET_TAG, "stall")  # the final tag, after the store committed
    a = Cli(args, {**SECRET, "MLFLOW_TRACKING_URI": proxy.url})
    reached(stall)
    a.proc.send_signal(sig)
    done = a.wait(timeout=30)
    assert done.code == code, done.err
    assert "nothing was registered" not in done.err
    assert f"after token {token} was registered" in done.err and "re-run the same command" in done.err
    assert done.json()["status"] == "registered" and done.json()["model_version"] == "1"
    shown = status(token)
    assert shown["status"] == "registered"
    assert [e["delivery_status"] for e in shown["events"]] == ["pending", "pending"]
    [v] = versions(mlflow_server, token)
    assert v.tags["hokusai.status"] == "not_registered"  # the stalled tag never reached MLflow
    assert run_status(mlflow_server, v.run_id) == "RUNNING"
    assert webhook.received == []

    again = run_cli(*args, env=SECRET)
    assert again.code == 0, again.err
    assert again.json()["status"] == "registered" and again.json()["model_version"] == "1"
    [v] = versions(mlflow_server, token)
    assert v.tags["hokusai.status"] == "registered"
    assert run_status(mlflow_server, v.run_id) == "FINISHED"
    assert [e["delivery_status"] for e in status(token)["events"]] == ["delivered", "delivered"]
    assert len(webhook.received) == 2

    third = run_cli(*args, env=SECRET)  # idempotent: nothing left, nothing sent twice
    assert third.code == 4 and "same model content, nothing to do" in third.err
    assert len(webhook.received) == 2


def test_a_sigint_during_event_delivery_lists_the_stored_events_as_pending(
    mlflow_server: MlflowServer, webhook: WebhookReceiver, model_file: Path
) -> None:
    """SIGINT while the webhook receiver stalls on the first event: the registration is committed
    and its events are in the outbox, so the JSON result lists them (pending), not `[]`: a
    reader knows `events replay` will send them."""
    token = "AFTER-DELIVERY"
    create(token)
    stalling = FaultProxy(webhook.base_url).start()
    try:
        hook = stalling.add("POST", "/hooks/models", "stall")
        args = [*register_args(token, model_file, "auroc", "0.8", "0.9"), "--webhook-url",
                f"{stalling.url}/hooks/models", "--output", "json"]  # fmt: skip
        a = Cli(args, SECRET)
        reached(hook)
        a.proc.send_signal(signal.SIGINT)
        done = a.wait(timeout=30)
    finally:
        stalling.stop()
    assert done.code == 130, done.err
    result = done.json()
    assert result["status"] == "registered" and f"after token {token} was registered" in done.err
    stored = status(token)["events"]
    assert [e["delivery_status"] for e in stored] == ["pending", "pending"]
    assert [(e["event_id"], e["event_type"], e["delivery_status"]) for e in result["events"]] == [
        (e["event_id"], e["event_type"], "pending") for e in stored
    ]
    assert webhook.received == []  # the stalled event was never forwarded


def test_mlflow_refusing_the_final_tag_exits_8_as_registered_and_a_rerun_repairs_it(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path
) -> None:
    token = "AFTER-503"
    create(token)
    args = [*register_args(token, model_file, "auroc", "0.8", "0.9"), "--output", "json"]
    refuse = proxy.add("POST", SET_TAG, "error", status=503, times=0)
    first = run_cli(*args, env={"MLFLOW_TRACKING_URI": proxy.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})
    assert refuse.hits >= 1
    assert first.code == 8, first.err
    assert f"token {token} is registered (hokusai-{token} version 1)" in first.err
    assert "re-run the same command" in first.err and "nothing was registered" not in first.err
    assert first.json()["status"] == "registered"
    [v] = versions(mlflow_server, token)
    assert v.tags["hokusai.status"] == "not_registered"
    assert status(token)["status"] == "registered"

    again = run_cli(*args)
    assert again.code == 0, again.err
    assert "was already registered" in again.json()["message"]
    [v] = versions(mlflow_server, token)
    assert v.tags["hokusai.status"] == "registered"
    assert run_status(mlflow_server, v.run_id) == "FINISHED"


def test_the_action_reports_a_refused_final_tag_as_registered_and_its_rerun_repairs_it(
    runner: dict[str, str],  # noqa: F811
    proxy: FaultProxy,
    mlflow_server: MlflowServer,
) -> None:
    token = "ACTION-503"
    create(token)
    runner.pop("HOKUSAI_MOCK_MODE")
    runner.update({"INPUT_TOKEN-ID": token, "INPUT_MLFLOW-URI": proxy.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})
    runner["HOKUSAI_MODE"] = "local"  # the token store on this runner, on purpose
    proxy.add("POST", SET_TAG, "error", status=503, times=0)
    first = run_entry(runner)
    assert first.returncode == 8, first.stderr
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Registered hokusai\\-ACTION\\-503 version 1" in summary and "re-running the job finishes" in summary
    assert "nothing was registered" not in summary + first.stderr
    assert parse_outputs(Path(runner["GITHUB_OUTPUT"]))["model-version"] == "1"
    [v] = versions(mlflow_server, token)
    assert v.tags["hokusai.status"] == "not_registered"

    runner["INPUT_MLFLOW-URI"] = mlflow_server.url
    again = run_entry(runner)
    assert again.returncode == 0, again.stderr
    [v] = versions(mlflow_server, token)
    assert v.tags["hokusai.status"] == "registered"
    assert run_status(mlflow_server, v.run_id) == "FINISHED"


def test_a_run_mlflow_created_after_the_client_gave_up_is_ended_by_the_next_run(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path
) -> None:
    """runs/create stalls past the client's stall timeout, then reaches the server: the run
    exists, RUNNING, and no answer ever named it to the run that asked for it."""
    token = "AFTER-LATE-RUN"
    create(token)
    late = proxy.add("POST", CREATE_RUN, "stall", seconds=60)
    env = {"MLFLOW_TRACKING_URI": proxy.url, "HOKUSAI_STALL_TIMEOUT": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    first = run_cli(*register_args(token, model_file, "auroc", "0.8", "0.9"), env=env)
    assert first.code == 8, first.err
    assert status(token)["status"] == "draft"
    late.release()
    deadline = time.monotonic() + 30
    while not token_runs(mlflow_server, token) and time.monotonic() < deadline:
        time.sleep(0.2)
    [orphan] = token_runs(mlflow_server, token)
    assert orphan.info.status == "RUNNING"

    again = run_cli(*register_args(token, model_file, "auroc", "0.8", "0.9"))
    assert again.code == 0, again.err
    assert run_status(mlflow_server, orphan.info.run_id) == "KILLED"
    assert sorted(r.info.status for r in token_runs(mlflow_server, token)) == ["FINISHED", "KILLED"]


def test_a_run_mlflow_would_not_let_fail_is_ended_by_the_next_run(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path
) -> None:
    """MLflow goes away during the upload (every PUT and the run's own FAILED update refused):
    the run cannot end its MLflow run, so the next run of the token does."""
    token = "AFTER-DEAD-UPLOAD"
    create(token)
    proxy.add("PUT", "/api/2.0/mlflow-artifacts/artifacts/", "error", status=503, times=0)
    proxy.add("POST", "/api/2.0/mlflow/runs/update", "error", status=503, times=0)
    env = {"MLFLOW_TRACKING_URI": proxy.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    first = run_cli(*register_args(token, model_file, "auroc", "0.8", "0.9"), env=env)
    assert first.code == 8, first.err
    [left] = token_runs(mlflow_server, token)
    assert left.info.status == "RUNNING"

    again = run_cli(*register_args(token, model_file, "auroc", "0.8", "0.9"))
    assert again.code == 0, again.err
    assert run_status(mlflow_server, left.info.run_id) == "KILLED"


def test_leases_use_the_postgresql_clock_not_the_runners(
    pg_db: str, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runners whose clocks are 10 minutes apart: the one ahead must not see the other's
    live claim as expired, and an expired claim is taken over by the store's clock."""
    a = SqlTokenStore.postgresql(pg_db, "postgresql test", None)
    b = SqlTokenStore.postgresql(pg_db, "postgresql test", None)
    a.create("SKEW")
    assert a.claim("SKEW", "run-a", 120)
    monkeypatch.setattr(sql_store, "utcnow", lambda: utcnow() + timedelta(minutes=10))  # runner B's clock
    assert not b.claim("SKEW", "run-b", 120)
    ports = Ports(store=b, tracker=lambda: None, progress=lambda label, total: NoProgress())
    req = build_request(token_id="SKEW", model_path=str(model_file), metric="auroc", baseline="0.8", metric_value="0.9")
    blocked = register(req, ports)
    assert blocked.error is not None and blocked.error.exit_code == 4
    assert "being registered by another run" in blocked.error.message
    assert a.renew("SKEW", "run-a", 120)
    token = b.get("SKEW")
    assert token is not None and token.status is TokenStatus.REGISTERING and token.lease_owner == "run-a"

    monkeypatch.setattr(sql_store, "utcnow", lambda: utcnow() - timedelta(minutes=10))  # now behind
    assert a.renew("SKEW", "run-a", 1)
    time.sleep(1.5)
    assert b.claim("SKEW", "run-b", 120)  # expired by the database's clock, whatever B's says
    a.close()
    b.close()


def test_a_file_name_that_is_not_utf8_is_refused_before_anything_is_written(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 100)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.bin"), "wb") as fh:
        fh.write(b"latin-1 named")
    create("NOT-UTF8")
    r = run_cli(*register_args("NOT-UTF8", folder, "auroc", "0.8", "0.9"), "--output", "json")
    assert r.code == 2, r.err
    assert r.json()["error"]["category"] == "invalid_input"
    assert "caf\\xe9.bin" in r.err and "not valid UTF-8" in r.err and "Traceback" not in r.err
    assert status("NOT-UTF8")["status"] == "draft"
    assert token_runs(mlflow_server, "NOT-UTF8") == []


def test_a_full_disk_under_hokusai_home_in_local_mode_says_so_and_frees_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # local mode: the MLflow file store under HOKUSAI_HOME
    home = tmp_path / "small-home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(home)], check=True)
    try:
        env = {"HOKUSAI_HOME": str(home), "HOKUSAI_STORE_RETRY_SECONDS": "2"}
        assert run_cli("token", "create", "--token-id", "LOCALFULL", env=env).code == 0
        model = tmp_path / "big.bin"
        model.write_bytes(os.urandom(4 * 1024 * 1024))
        r = run_cli(*register_args("LOCALFULL", model, "auroc", "0.8", "0.9"), "--output", "json", env=env)
        assert r.code == 8, r.err
        message = r.json()["error"]["message"]
        assert f"no space left on {home}" in message and "credentials" not in message, message
        shown = run_cli("model", "status", "--token-id", "LOCALFULL", "--output", "json", env=env)
        released = shown.json()["status"] == "draft"
        assert released or "hokusai token release --token-id LOCALFULL --force" in message
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.binary(min_size=1, max_size=40).filter(
        lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
    )
)
def test_every_file_name_is_listed_as_utf8_or_refused_naming_it(name: bytes, tmp_path: Path) -> None:
    """Any bytes a file name can hold: valid UTF-8 is listed as is, anything else is an input
    error (exit 2) naming the file with its bytes escaped, never a crash later in the upload."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
        fh.write(b"x")
    try:
        decoded = name.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(HokusaiError) as refused:
            list_model_files(folder)
        assert refused.value.exit_code == 2 and "not valid UTF-8" in refused.value.message
        assert name.decode("utf-8", "backslashreplace") in refused.value.message
        refused.value.message.encode("utf-8")  # printable as it is: no lone surrogate
        return
    try:
        listed = list_model_files(folder)
    except HokusaiError as err:  # control characters have their own refusal
        assert err.exit_code == 2 and "control character" in err.message
        return
    assert [f.relpath for f in listed] == [decoded]
