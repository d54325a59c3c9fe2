"""Registration against a real `mlflow server`, real PostgreSQL and a real webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO, register_args, run_cli
from tests.servers import MlflowServer, PostgresServer, WebhookReceiver, free_port


def test_register_against_mlflow_server_sets_tags_and_uploads_bytes(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    run_cli("token", "create", "--token-id", "SRV")
    ci = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": "abc123",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_RUN_ID": "42",
    }
    r = run_cli(
        *register_args("SRV", model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json"),
        env=ci,
    )
    assert r.code == 0, r.err
    out = r.json()
    assert out["run_url"] == f"{mlflow_server.url}/#/runs/{out['mlflow_run_id']}"
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    versions = client.search_model_versions("name = 'hokusai-SRV'")
    assert [str(v.version) for v in versions] == ["1"]
    tags = versions[0].tags
    assert tags["hokusai.token_id"] == "SRV"
    assert tags["hokusai.sha256"] == out["model_sha256"]
    assert tags["hokusai.metric"] == "accuracy" and float(tags["hokusai.metric_value"]) == 0.85
    assert float(tags["hokusai.baseline"]) == 0.80 and tags["hokusai.status"] == "registered"
    assert tags["hokusai.commit"] == "abc123" and tags["hokusai.ref"] == "refs/heads/main"
    assert tags["hokusai.run_url"] == "https://github.com/acme/models/actions/runs/42"
    run = client.get_run(out["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["accuracy"] == 0.85
    assert client.get_experiment(run.info.experiment_id).name == "hokusai-model-registration"
    local = client.download_artifacts(out["mlflow_run_id"], "model", str(tmp_path / "dl"))
    assert (Path(local) / "model.pkl").read_bytes() == model_file.read_bytes()


def test_directory_model_to_server(mlflow_server: MlflowServer, model_dir: Path, tmp_path: Path) -> None:
    run_cli("token", "create", "--token-id", "SRVDIR")
    r = run_cli(
        *register_args("SRVDIR", model_dir, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json")
    )
    assert r.code == 0, r.err
    client = MlflowClient(tracking_uri=mlflow_server.url)
    local = Path(client.download_artifacts(r.json()["mlflow_run_id"], "model", str(tmp_path / "dl")))
    for rel in ("config.json", "shards/00001.bin", "shards/00002.bin"):
        assert (local / rel).read_bytes() == (model_dir / rel).read_bytes()


def test_crash_after_upload_is_resumed_without_a_second_version(mlflow_server: MlflowServer, model_file: Path) -> None:
    """A run that uploaded and registered, then died before marking the token, left a version
    tagged with the token and content hash; the next run adopts it instead of uploading again."""
    from hokusai_ci.adapters.rest_tracker import RestTracker
    from hokusai_ci.domain.progress import NoProgress
    from hokusai_ci.domain.streaming import ModelSource
    from hokusai_ci.ports.tracking import UploadRequest

    run_cli("token", "create", "--token-id", "CRASH")
    tracker = RestTracker(mlflow_server.url, "hokusai-model-registration")
    tags = {"hokusai.token_id": "CRASH"}
    first = tracker.upload(
        UploadRequest(
            token_id="CRASH",
            model_name="hokusai-CRASH",
            metric_name="accuracy",
            metric_value=0.85,
            baseline=0.8,
            direction="higher",
            claim_id="dead-run",
            tags=tags,
        ),
        ModelSource.of(model_file),
        NoProgress(),
    )
    r = run_cli(
        *register_args("CRASH", model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json")
    )
    assert r.code == 0, r.err
    assert r.json()["reused_existing_version"] is True
    assert r.json()["model_version"] == first.model_version
    assert r.json()["mlflow_run_id"] == first.run_id
    client = MlflowClient(tracking_uri=mlflow_server.url)
    assert len(client.search_model_versions("name = 'hokusai-CRASH'")) == 1


def test_a_version_left_by_a_measured_run_adopted_for_a_given_value_keeps_no_measured_tag(
    mlflow_server: MlflowServer, model_file: Path
) -> None:
    """A measured run uploaded and died before the commit; the re-run gives the value instead
    (--metric-value): it adopts the version, and the bound, basis and evidence tags of the run
    that died are removed, so no tag claims a measurement this registration did not make."""
    from hokusai_ci.adapters.rest_tracker import RestTracker
    from hokusai_ci.domain.progress import NoProgress
    from hokusai_ci.domain.streaming import ModelSource
    from hokusai_ci.ports.tracking import Tag, UploadRequest

    token = f"REMEASURE{uuid.uuid4().hex[:6]}"
    run_cli("token", "create", "--token-id", token)
    tracker = RestTracker(mlflow_server.url, "hokusai-model-registration")
    measured = {Tag.METRIC_BOUND: "0.8753", Tag.METRIC_BASIS: "measured-lower-bound", Tag.EVIDENCE_SHA256: "ab" * 32}
    request = UploadRequest(
        token_id=token,
        model_name=f"hokusai-{token}",
        metric_name="auroc",
        metric_value=0.887,
        baseline=0.8,
        direction="higher",
        claim_id="dead-run",
        tags={Tag.TOKEN: token, **measured, Tag.EVIDENCE_URI: "mlflow-artifacts:/gone"},
    )
    first = tracker.upload(request, ModelSource.of(model_file), NoProgress())
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    left = client.get_model_version(first.model_name, first.model_version).tags
    assert set(measured) | {Tag.EVIDENCE_URI} <= set(left)  # what the run that died wrote
    r = run_cli(*register_args(token, model_file, "auroc", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json"))
    assert r.code == 0, r.err
    assert (r.json()["reused_existing_version"], r.json()["model_version"]) == (True, first.model_version)
    tags = client.get_model_version(first.model_name, first.model_version).tags
    assert not set(Tag.MEASURED) & set(tags), tags
    assert tags[Tag.METRIC_VALUE] == "0.85"


def test_mlflow_unreachable_is_exit_8_and_token_stays_draft(model_file: Path) -> None:
    run_cli("token", "create", "--token-id", "DOWN")
    dead = f"http://127.0.0.1:{free_port()}"
    r = run_cli(
        *register_args("DOWN", model_file, "accuracy", "0.80", "0.85", mlflow_uri=dead, output="json"),
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert r.code == 8, r.err
    assert r.json()["error"]["category"] == "mlflow_error"
    assert dead in r.json()["error"]["message"]
    assert "Traceback" not in r.err
    assert run_cli("model", "status", "--token-id", "DOWN", "--output", "json").json()["status"] == "draft"


def test_webhook_receives_both_events(mlflow_server: MlflowServer, model_file: Path, webhook: WebhookReceiver) -> None:
    run_cli("token", "create", "--token-id", "HOOK")
    r = run_cli(
        *register_args("HOOK", model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json"),
        "--webhook-url",
        webhook.url,
    )
    assert r.code == 0, r.err
    assert [x.json()["event_type"] for x in webhook.received] == ["token_ready_for_deploy", "model_registered"]
    ready, registered = (x.json() for x in webhook.received)
    assert webhook.received[0].headers["Content-Type"] == "application/json"
    shared = (
        "token_id",
        "mlflow_run_id",
        "model_name",
        "model_version",
        "model_uri",
        "metric_name",
        "metric_value",
        "baseline_value",
        "delta",
        "timestamp",
    )
    assert {k: ready[k] for k in shared} == {k: registered[k] for k in shared}
    assert ready["event_id"] != registered["event_id"]
    assert ready["token_id"] == "HOOK" and ready["model_version"] == "1"
    assert ready["timestamp"].endswith("Z") or ready["timestamp"].endswith("+00:00")
    assert registered["passed"] is True and registered["direction"] == "higher"
    import jsonschema

    from hokusai_ci.domain.events import json_schemas

    schemas = {schema["title"]: schema for schema in json_schemas().values()}
    for event in (ready, registered):
        jsonschema.validate(event, schemas[event["event_type"]])
    status = run_cli("model", "status", "--token-id", "HOOK", "--output", "json").json()
    assert {e["delivery_status"] for e in status["events"]} == {"delivered"}
    assert {e["attempts"] for e in status["events"]} == {1}


def test_webhook_failure_is_exit_9_with_events_kept(
    mlflow_server: MlflowServer, model_file: Path, webhook: WebhookReceiver
) -> None:
    run_cli("token", "create", "--token-id", "HOOKFAIL")
    webhook.statuses = [500] * 4
    r = run_cli(
        *register_args("HOOKFAIL", model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json"),
        "--webhook-url",
        webhook.url + "?key=hush-secret",
        env={"HOKUSAI_WEBHOOK_ATTEMPTS": "2"},
    )
    assert r.code == 9, r.err
    out = r.json()
    assert out["status"] == "registered"
    assert out["error"]["category"] == "event_delivery_failed"
    assert "HTTP 500" in out["error"]["message"]
    assert "hush-secret" not in r.out + r.err
    status = run_cli("model", "status", "--token-id", "HOOKFAIL", "--output", "json").json()
    assert status["status"] == "registered"
    assert [e["delivery_status"] for e in status["events"]] == ["failed", "failed"]
    assert [e["attempts"] for e in status["events"]] == [2, 2]
    assert all("HTTP 500" in e["last_error"] for e in status["events"])
    assert len(webhook.received) == 4


def _race(n: int, args: list[str], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    import os

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hokusai_ci", *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=240), *p.communicate()) for p in procs]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_registrations_have_exactly_one_winner(
    backend: str, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env: dict[str, str] = {}
    if backend == "postgresql":
        dsn = request.getfixturevalue("pg_db")
        cfg = tmp_path / "db.json"
        cfg.write_text(json.dumps({"url": dsn}))
        env["HOKUSAI_DB_CONFIG"] = str(cfg)
    token = f"RACE-{backend}"
    assert run_cli("token", "create", "--token-id", token, env=env).code == 0
    results = _race(
        4,
        register_args(token, model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow_server.url, output="json"),
        env,
    )
    codes = sorted(p.returncode for p in results)
    # one run wins and uploads; the others stop with exit 4 before uploading, except a racer that
    # arrives after the winner's commit and finishes a step the winner had not yet done (a
    # re-run's job: the `registered` tag, the run's end): it exits 0 for the same version
    assert codes[0] == 0 and set(codes) <= {0, 4} and codes.count(4) >= 2, [p.stderr[-500:] for p in results]
    for loser in (p for p in results if p.returncode == 4):
        assert json.loads(loser.stdout)["error"]["category"] == "invalid_token_status"
    client = MlflowClient(tracking_uri=mlflow_server.url)
    versions = client.search_model_versions(f"name = 'hokusai-{token}'")
    assert len(versions) == 1
    done = [json.loads(p.stdout) for p in results if p.returncode == 0]
    assert {d["model_version"] for d in done} == {str(versions[0].version)}
    assert sum(not d["reused_existing_version"] for d in done) == 1  # one upload
    status = run_cli("model", "status", "--token-id", token, "--output", "json", env=env).json()
    assert status["status"] == "registered" and status["model_version"] == str(versions[0].version)
    assert len(status["events"]) == 2


def test_postgres_end_to_end_with_env_settings(
    postgres: PostgresServer, mlflow_server: MlflowServer, model_file: Path, webhook: WebhookReceiver
) -> None:
    postgres.create_database("hokusai_e2e")
    env = {
        "HOKUSAI_DB_HOST": "127.0.0.1",
        "HOKUSAI_DB_PORT": str(postgres.port),
        "HOKUSAI_DB_NAME": "hokusai_e2e",
        "HOKUSAI_DB_USER": "postgres",
        "HOKUSAI_DB_PASSWORD": "pg-secret-Zq7",
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "HOKUSAI_WEBHOOK_URL": webhook.url,
    }
    created = run_cli("token", "create", "--token-id", "PG1", env=env)
    assert created.code == 0 and "postgresql://postgres@127.0.0.1" in created.out
    r = run_cli(
        *register_args("PG1", str(model_file), "rmse", "3.0", "2.5"),
        env=env,
    )
    assert r.code == 0, r.err
    assert "pg-secret-Zq7" not in r.out + r.err
    listed = run_cli("model", "list", "--output", "json", env=env).json()
    assert [(t["token_id"], t["metric"]["name"], t["metric"]["direction"]) for t in listed] == [
        ("PG1", "rmse", "lower")
    ]
    assert len(webhook.received) == 2
    import psycopg

    with psycopg.connect(postgres.dsn("hokusai_e2e")) as conn:
        rows = conn.execute("SELECT event_type, delivery_status FROM events ORDER BY event_type").fetchall()
        version = conn.execute("SELECT MAX(version) FROM hokusai_schema").fetchone()
    assert rows == [("model_registered", "delivered"), ("token_ready_for_deploy", "delivered")]
    assert version is not None and version[0] >= 1

    # the outbox on PostgreSQL: a failed delivery is kept, then replayed
    assert run_cli("token", "create", "--token-id", "PG2", env=env).code == 0
    webhook.statuses = [500, 500]
    failing = {**env, "HOKUSAI_WEBHOOK_ATTEMPTS": "1"}
    r2 = run_cli(
        *register_args("PG2", str(model_file), "rmse", "3.0", "2.5"),
        env=failing,
    )
    assert r2.code == 9
    replay = run_cli("events", "replay", "--output", "json", env=failing)
    assert replay.code == 0 and replay.json()["delivered"] == 2
    with psycopg.connect(postgres.dsn("hokusai_e2e")) as conn:
        pending = conn.execute("SELECT COUNT(*) FROM events WHERE delivery_status <> 'delivered'").fetchone()
    assert pending == (0,)


def test_database_connection_failed_is_exit_7_without_the_password(model_file: Path) -> None:
    port = free_port()
    env = {
        "HOKUSAI_DB_HOST": "127.0.0.1",
        "HOKUSAI_DB_PORT": str(port),
        "HOKUSAI_DB_NAME": "models",
        "HOKUSAI_DB_USER": "ci",
        "HOKUSAI_DB_PASSWORD": "Sup3r-Secret-PW",
    }
    for args in (
        ["model", "status", "--token-id", "X", "--output", "json"],
        [
            *register_args("X", str(model_file), "auroc", "0.8", "0.9"),
            "--output",
            "json",
        ],
    ):
        r = run_cli(*args, env=env)
        assert r.code == 7, r.err
        message = r.json()["error"]["message"]
        assert f"postgresql://ci@127.0.0.1:{port}/models" in message
        assert "Sup3r-Secret-PW" not in r.out + r.err
        assert "Traceback" not in r.err


def test_wrong_password_is_exit_7_and_never_echoed(postgres: PostgresServer, model_file: Path) -> None:
    """Trust auth accepts any password, so point at a database that does not exist instead."""
    env = {
        "HOKUSAI_DB_HOST": "127.0.0.1",
        "HOKUSAI_DB_PORT": str(postgres.port),
        "HOKUSAI_DB_NAME": "missing_db",
        "HOKUSAI_DB_USER": "postgres",
        "HOKUSAI_DB_PASSWORD": "An0ther-Secret",
    }
    r = run_cli("model", "list", env=env)
    assert r.code == 7
    assert "missing_db" in r.err and "An0ther-Secret" not in r.out + r.err


def test_a_token_another_token_store_registered_is_not_registered_again(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """Two token stores (two CI runners' local stores) and one MLflow server: once one store
    registered the token, another store's run (same content into another model, or other
    content into the same model) uploads nothing and says where the token is registered (exit
    4), and the registered version's tags and the alias on it stay as they were."""
    token = f"TWO{uuid.uuid4().hex[:6]}"
    first_model, second_model = f"first-{token}", f"second-{token}"
    url = mlflow_server.url

    def cli(home: str, *args: str) -> Any:
        return run_cli(*args, env={"HOKUSAI_MODE": "local", "HOKUSAI_HOME": str(tmp_path / home)})

    def register(home: str, model: str, path: Path, value: str) -> Any:
        assert cli(home, "token", "create", "--token-id", token).code == 0
        return cli(home, *register_args(token, path, value=value, model_name=model, mlflow_uri=url, output="json"))

    first = register("a", first_model, model_file, "0.91")
    assert first.code == 0, first.err
    assert cli("a", "model", "promote", "--token-id", token, "--mlflow-uri", url).code == 0
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    version = first.json()["model_version"]
    before = client.get_model_version(first_model, version).tags
    other = tmp_path / "other.bin"
    other.write_bytes(b"another model")
    for home, model, path, same in (("b", second_model, model_file, True), ("c", first_model, other, False)):
        again = register(home, model, path, "0.95")
        assert again.code == 4, again.err
        assert again.json()["error"]["category"] == "invalid_token_status"
        said = f"token {token} is already registered in MLflow{' with this content' if same else ''}: "
        assert f"{said}{first_model} version {version}, by another token store" in again.err, again.err
        assert "nothing was uploaded" in again.err
        status = cli(home, "model", "status", "--token-id", token, "--output", "json")
        assert status.json()["status"] == "draft"  # this store records nothing
    assert client.search_model_versions(f"name = '{second_model}'") == []
    assert [v.version for v in client.search_model_versions(f"name = '{first_model}'")] == [version]
    assert client.get_model_version(first_model, version).tags == before
    assert client.get_model_version_by_alias(first_model, "champion").version == version
