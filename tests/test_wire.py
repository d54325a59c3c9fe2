"""The lean REST upload path against a real MLflow server, seen through a real proxy on
127.0.0.1 that records every request: which calls a registration makes, that the recorded
digest is the digest of the bytes the server holds, byte-accurate progress, retries and the
failure path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hokusai_ci.domain.fingerprint import fingerprint
from tests.conftest import REPO, register_args, run_cli
from tests.fault_proxy import FaultProxy
from tests.servers import MlflowServer

API = "/api/2.0/mlflow/"


def calls(proxy: FaultProxy) -> list[str]:
    """`METHOD path` with the run-specific part of artifact paths cut off."""
    out = []
    for method, path in proxy.calls:
        if "/mlflow-artifacts/artifacts/" in path:
            path = "mlflow-artifacts/artifacts/…/model/" + path.split("/artifacts/model/", 1)[1]
        out.append(f"{method} {path.removeprefix(API)}")
    return out


EXPECTED = [
    "GET experiments/get-by-name",  # check: reachability, credentials, experiment id
    "GET model-versions/search",  # safety: an earlier upload for this token (idempotency)
    "POST runs/search",  # safety: the token's runs left RUNNING by a run that died, to end them
    "POST runs/create",  # with the tags
    "PUT mlflow-artifacts/artifacts/…/model/model.pkl",  # hashed as it is sent
    "POST runs/log-batch",  # params, metric and digest in one call
    "POST registered-models/create",  # new for each token by default (or already exists)
    "POST model-versions/create",  # tagged status=not_registered
    "GET model-versions/search",  # safety: duplicates left by a resent create
    "POST model-versions/set-tag",  # once the token store committed: status=registered
    "POST runs/update",  # FINISHED
]


def test_a_registration_makes_only_the_listed_requests(proxy: FaultProxy, model_file: Path) -> None:
    # a first registration creates the experiment; the second shows the steady state of every CI run
    for token in ("COUNT0", "COUNT1"):
        run_cli("token", "create", "--token-id", token)
        proxy.reset()
        r = run_cli(*register_args(token, model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"))
        assert r.code == 0, r.err
    assert calls(proxy) == EXPECTED

    # the anchor, measured here: a plain MlflowClient script doing the same steps (steady state)
    for _ in range(2):
        proxy.reset()
        raw = subprocess.run(
            [sys.executable, str(REPO / "bench" / "raw_client.py"), proxy.url, str(model_file), "raw-count"],
            capture_output=True,
            text=True,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
        assert raw.returncode == 0, raw.stderr
    ours, theirs = Counter(EXPECTED), Counter(calls(proxy))
    # added: the three safety lookups, and the one tag that says registered once the token store
    # committed (a version is never tagged registered before: nothing half-written)
    assert ours - theirs == Counter(
        {"GET model-versions/search": 2, "POST runs/search": 1, "POST model-versions/set-tag": 1}
    )
    # saved: the raw client's runs/get before its upload (one or two, depending on the run's state)
    assert set(theirs - ours) == {"GET runs/get"}
    # so a registration makes no more requests than the raw client's steps (each counted once:
    # 8 distinct calls, 9 requests when it fetches the run twice) plus the three lookups
    assert len(EXPECTED) == len(theirs) + 3 <= theirs.total() + 3, (len(theirs), theirs.total())


def test_recorded_digest_is_the_digest_of_the_bytes_the_server_holds(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    model = tmp_path / "ckpt"
    (model / "shards").mkdir(parents=True)
    (model / "config.json").write_text('{"layers": 2}')
    (model / "shards" / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024 + 17))  # hashed on a helper thread
    for i in range(5):
        (model / "shards" / f"{i:05d}.bin").write_bytes(os.urandom(1000 + i))
    run_cli("token", "create", "--token-id", "DIGEST")
    r = run_cli(
        *register_args("DIGEST", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json")
    )
    assert r.code == 0, r.err
    out = r.json()
    client = MlflowClient(tracking_uri=mlflow_server.url)
    back = Path(client.download_artifacts(out["mlflow_run_id"], "model", str(tmp_path / "back")))
    version = client.get_model_version(out["model_name"], out["model_version"])
    assert version.tags["hokusai.sha256"] == out["model_sha256"] == fingerprint(back).sha256
    assert fingerprint(back).sha256 == fingerprint(model).sha256
    assert version.tags["hokusai.status"] == "registered" and "hokusai.state" not in version.tags
    run = client.get_run(out["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["hokusai.sha256"] == out["model_sha256"]
    assert run.data.params == {"metric": "accuracy", "baseline": "0.8", "direction": "higher"}


def test_progress_meters_the_bytes_of_a_single_large_file_as_they_leave(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(os.urandom(40 * 1024 * 1024))  # above progress.QUIET_BELOW
    run_cli("token", "create", "--token-id", "PROGRESS")
    r = run_cli(
        *register_args("PROGRESS", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json")
    )
    assert r.code == 0, r.err
    lines = [line for line in r.err.splitlines() if line.startswith("uploading:")]
    percents = [int(line.split(":")[1].split("%")[0]) for line in lines]
    assert len({p for p in percents if 0 < p < 100}) >= 5, r.err  # CI lines every 10%
    assert percents == sorted(percents) and lines[-1].endswith("done")
    assert not any(line.startswith("hashing:") for line in r.err.splitlines())  # read once, while sending


def test_a_failed_put_is_retried_with_a_fresh_body_counted_once(proxy: FaultProxy, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(os.urandom(20 * 1024 * 1024))  # above progress.QUIET_BELOW: progress is shown
    proxy.add("PUT", "/model/", "error", status=503, body=b"")  # answered once the whole body was received
    run_cli("token", "create", "--token-id", "RETRY")
    r = run_cli(
        *register_args("RETRY", model, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"},
    )
    assert r.code == 0, r.err
    assert [c for c in calls(proxy) if c.startswith("PUT")] == ["PUT mlflow-artifacts/artifacts/…/model/model.pkl"] * 2
    client = MlflowClient(tracking_uri=proxy.upstream)
    back = Path(client.download_artifacts(r.json()["mlflow_run_id"], "model/model.pkl", str(tmp_path / "b")))
    assert back.read_bytes() == model.read_bytes()
    assert r.json()["model_sha256"] == fingerprint(model).sha256
    # the bytes sent twice are shown once: the display never passes the model's size
    lines = [line for line in r.err.splitlines() if line.startswith("uploading:")]
    assert lines and lines[-1].startswith("uploading: 100% 20.0 MiB / 20.0 MiB") and lines[-1].endswith("done"), lines


def test_an_upload_that_fails_marks_the_run_failed_and_names_the_step(proxy: FaultProxy, model_file: Path) -> None:
    proxy.add("PUT", "/model/", "error", status=502, times=2, body=b"")
    run_cli("token", "create", "--token-id", "PUTFAIL")
    r = run_cli(
        *register_args("PUTFAIL", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"},
    )
    assert r.code == 8, r.err
    message = r.json()["error"]["message"]
    assert message.startswith(f"could not upload the model to MLflow at {proxy.url}: HTTP 502"), message
    assert "Traceback" not in r.err
    client = MlflowClient(tracking_uri=proxy.upstream)
    runs = client.search_runs(
        [client.get_experiment_by_name("hokusai-model-registration").experiment_id],
        "tags.`hokusai.token_id` = 'PUTFAIL'",
    )
    # the run's own status says how it ended; a run carries no registration status tag
    assert [(x.info.status, x.data.tags.get("hokusai.status")) for x in runs] == [("FAILED", None)]
    assert client.search_model_versions("name = 'hokusai-PUTFAIL'") == []
    assert run_cli("model", "status", "--token-id", "PUTFAIL", "--output", "json").json()["status"] == "draft"


def test_bundles_the_server_refuses_are_a_signing_failure_and_the_rerun_signs(
    proxy: FaultProxy, model_file: Path, tmp_path: Path
) -> None:
    from tests.test_signing import keypair

    private, public = keypair(tmp_path)
    proxy.add("PUT", "/hokusai/", "error", status=507, body=b"")  # the server's disk is full: not retried
    run_cli("token", "create", "--token-id", "SIGPUT")
    r = run_cli(
        *register_args("SIGPUT", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        "--sign-key",
        str(private),
    )
    assert r.code == 12, r.err
    assert r.json()["error"]["message"].startswith(f"could not store the signatures in MLflow at {proxy.url}")
    assert run_cli("model", "status", "--token-id", "SIGPUT", "--output", "json").json()["status"] == "draft"
    again = run_cli(
        *register_args("SIGPUT", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        "--sign-key",
        str(private),
    )
    assert again.code == 0 and again.json()["reused_existing_version"], again.err
    v = run_cli("model", "verify", "--token-id", "SIGPUT", "--public-key", str(public), "--mlflow-uri", proxy.url)
    assert v.code == 0, v.out + v.err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "tok-Zq"}, "Bearer tok-Zq"),
        ({"MLFLOW_TRACKING_TOKEN": "tok-Zq", "MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"},
         "Basic dTpw"),
        ({}, None),
    ],
)  # fmt: skip
def test_mlflow_auth_settings_are_honoured(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str | None
) -> None:
    from hokusai_ci.adapters.rest_tracker import RestTracker

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    RestTracker(proxy.url, "auth-probe").check()
    assert proxy.auth == [expected]


def test_a_run_is_not_created_twice_by_a_retry(proxy: FaultProxy, model_file: Path) -> None:
    """runs/create cannot be repeated safely (a second run would be left behind): a 503 fails
    the step after one request, naming it, while an idempotent call would have been retried."""
    proxy.add("POST", "runs/create", "error", status=503, body=b"")
    run_cli("token", "create", "--token-id", "NORETRY")
    r = run_cli(
        *register_args("NORETRY", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"},
    )
    assert r.code == 8, r.err
    assert r.json()["error"]["message"].startswith(f"could not create a run in MLflow at {proxy.url}: HTTP 503")
    assert calls(proxy).count("POST runs/create") == 1


def test_version_creation_is_retried_and_leaves_one_version(proxy: FaultProxy, model_file: Path) -> None:
    proxy.add("POST", "model-versions/create", "error", status=502, body=b"")
    run_cli("token", "create", "--token-id", "VRETRY")
    r = run_cli(
        *register_args("VRETRY", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"},
    )
    assert r.code == 0, r.err
    assert calls(proxy).count("POST model-versions/create") == 2
    versions = MlflowClient(tracking_uri=proxy.upstream).search_model_versions("name = 'hokusai-VRETRY'")
    assert [(v.version, v.tags["hokusai.status"]) for v in versions] == [("1", "registered")]


def test_a_version_created_twice_by_a_retry_is_removed(proxy: FaultProxy, model_file: Path) -> None:
    """The server created the version but its answer was lost: the retry creates a second one,
    which the search for duplicates finds and deletes."""
    proxy.add("POST", "model-versions/create", "error", after=True, status=502, body=b"")
    run_cli("token", "create", "--token-id", "VLOST")
    r = run_cli(
        *register_args("VLOST", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"},
    )
    assert r.code == 0, r.err
    sent = calls(proxy)
    assert sent.count("POST model-versions/create") == 2
    assert sent[sent.index("POST model-versions/create") + 2 :][:2] == [
        "GET model-versions/search",
        "DELETE model-versions/delete",
    ]
    assert r.json()["model_version"] == "1"
    versions = MlflowClient(tracking_uri=proxy.upstream).search_model_versions("name = 'hokusai-VLOST'")
    assert [(v.version, v.tags["hokusai.status"]) for v in versions] == [("1", "registered")]


def test_registering_on_a_proxied_server_never_imports_mlflow(mlflow_server: MlflowServer, model_file: Path) -> None:
    """`import mlflow` alone costs more than a second: the lean path must not pay it."""
    run_cli("token", "create", "--token-id", "NOIMPORT")
    args = register_args(
        "NOIMPORT", model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hokusai_ci", *args],
        capture_output=True, text=True, cwd=REPO, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "requests" in imported and "hokusai_ci.adapters.rest_tracker" in imported
    assert not {m for m in imported if m == "mlflow" or m.startswith("mlflow.")}


def test_the_embedded_file_store_copy_is_read_back_by_mlflow(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the embedded `file:` store hokusai-ci copies each file itself (hashing as it copies);
    MLflow's own client must find the files where it expects them."""
    run_cli("token", "create", "--token-id", "LOCALCOPY")
    r = run_cli(*register_args("LOCALCOPY", model_dir, "accuracy", "0.80", "0.85"), "--output", "json")
    assert r.code == 0, r.err
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "home" / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # MLflow's file registry makes a default client: not ./mlflow.db
    client = MlflowClient(tracking_uri=store)
    back = Path(client.download_artifacts(r.json()["mlflow_run_id"], "model", str(tmp_path / "back")))
    assert fingerprint(back).sha256 == r.json()["model_sha256"] == fingerprint(model_dir).sha256
    version = client.get_model_version(r.json()["model_name"], r.json()["model_version"])
    assert version.tags["hokusai.status"] == "registered" and client.get_run(version.run_id).info.status == "FINISHED"
