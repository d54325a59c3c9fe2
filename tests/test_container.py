"""The image on a real Docker engine, run the way CI systems run it: GitHub's runner mounts
and environment, GitLab's `entrypoint: [""]` with a script, Jenkins' long-running `cat`
container with `exec`, and a plain `docker run IMAGE model register …`. Servers (MLflow,
PostgreSQL, the webhook receiver) are real and reached over the host network."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import register_args, run_cli
from tests.servers import MlflowServer, PostgresServer, WebhookReceiver
from tests.test_action_entrypoint import parse_outputs


def run(engine: Any, image: str, command: list[str] | None = None, **kwargs: Any) -> tuple[int, str]:
    container = engine.client.containers.run(image, command, detach=True, network_mode="host", **kwargs)
    try:
        code = container.wait(timeout=240)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


@pytest.fixture
def pg_env(postgres: PostgresServer, request: pytest.FixtureRequest) -> dict[str, str]:
    name = "c_" + request.node.name.lower()[:40]
    postgres.create_database(name)
    return {
        "HOKUSAI_DB_HOST": "127.0.0.1",
        "HOKUSAI_DB_PORT": str(postgres.port),
        "HOKUSAI_DB_NAME": name,
        "HOKUSAI_DB_USER": "postgres",
        "HOKUSAI_DB_PASSWORD": "pg-secret-Zq7",
    }


@pytest.fixture
def runner_dirs(tmp_path: Path) -> tuple[Path, Path]:
    workspace, commands = tmp_path / "workspace", tmp_path / "file_commands"
    (workspace / "out").mkdir(parents=True)
    commands.mkdir()
    (workspace / "out" / "model.bin").write_bytes(os.urandom(20000))
    return workspace, commands


def run_as_runner(engine: Any, image: str, env: dict[str, str], workspace: Path, commands: Path) -> tuple[int, str]:
    """Run the image as GitHub's runner runs a Docker action: workspace and file commands
    mounted under /github, the workspace as working directory, no arguments."""
    return run(
        engine,
        image,
        environment=env,
        working_dir="/github/workspace",
        volumes={
            str(workspace): {"bind": "/github/workspace", "mode": "rw"},
            str(commands): {"bind": "/github/file_commands", "mode": "rw"},
        },
    )


def action_env(inputs: dict[str, str]) -> dict[str, str]:
    declared = [
        "TOKEN-ID",
        "MODEL-PATH",
        "METRIC",
        "BASELINE",
        "METRIC-VALUE",
        "METRICS-FILE",
        "MLFLOW-URI",
        "API-URL",
        "DB-CONFIG",
        "WEBHOOK-URL",
        "MODEL-NAME",
        "DRY-RUN",
        "JOB-SUMMARY",
        "API-KEY",
        "WEBHOOK-SECRET",
    ]
    env = {f"INPUT_{k}": "" for k in declared}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    env.update(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": "/github/workspace",
            "HOME": "/github/home",
            "GITHUB_OUTPUT": "/github/file_commands/set_output",
            "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary",
            "GITHUB_SHA": "0123abcd",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REPOSITORY": "acme/models",
            "GITHUB_RUN_ID": "777",
            "GITHUB_SERVER_URL": "https://github.com",
        }
    )
    return env


def test_action_in_container_with_runner_mounts(
    docker_engine: Any,
    image: str,
    mlflow_server: MlflowServer,
    webhook: WebhookReceiver,
    pg_env: dict[str, str],
    runner_dirs: tuple[Path, Path],
) -> None:
    workspace, commands = runner_dirs
    assert run_cli("token", "create", "--token-id", "GH-1", env=pg_env).code == 0
    env = {
        **action_env(
            {
                "token-id": "GH-1",
                "model-path": "out/model.bin",
                "metric": "accuracy",
                "baseline": "0.9",
                "metric-value": "0.93",
                "mlflow-uri": mlflow_server.url,
                "webhook-url": webhook.url,
                "webhook-secret": "hook-secret-value-of-24-bytes",
            }
        ),
        **pg_env,
    }
    code, logs = run_as_runner(docker_engine, image, env, workspace, commands)
    assert code == 0, logs
    assert "::add-mask::pg-secret-Zq7" in logs and "::add-mask::hook-secret-value" in logs
    outputs = parse_outputs(commands / "set_output")
    assert outputs["status"] == "registered" and outputs["model-version"] == "1"
    assert outputs["run-id"] and json.loads(outputs["result-json"])["mode"] == "database"
    summary = (commands / "step_summary").read_text()
    assert "[open run](http://127.0.0.1:" in summary and "| accuracy | 0.93 | 0.9 |" in summary
    for secret in ("pg-secret-Zq7", "hook-secret-value"):
        assert secret not in (commands / "set_output").read_text() + summary
    assert len(webhook.received) == 2 and "X-Hokusai-Signature" in webhook.received[0].headers
    assert sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*")) == ["out", "out/model.bin"]
    status = run_cli("model", "status", "--token-id", "GH-1", "--output", "json", env=pg_env).json()
    assert status["status"] == "registered" and status["mlflow_run_id"] == outputs["run-id"]
    from mlflow import MlflowClient

    tags = MlflowClient(tracking_uri=mlflow_server.url).get_run(outputs["run-id"]).data.tags
    assert tags["hokusai.commit"] == "0123abcd"
    assert tags["hokusai.run_url"] == "https://github.com/acme/models/actions/runs/777"


def test_action_failure_in_container_writes_outputs(
    docker_engine: Any, image: str, runner_dirs: tuple[Path, Path]
) -> None:
    workspace, commands = runner_dirs
    env = {
        **action_env(
            {
                "token-id": "GH-LOW",
                "model-path": "out/model.bin",
                "metric": "rmse",
                "baseline": "1.0",
                "metric-value": "1.2",
            }
        ),
        "HOKUSAI_MOCK_MODE": "true",
    }
    code, logs = run_as_runner(docker_engine, image, env, workspace, commands)
    assert code == 6
    assert "::error title=Performance Below Baseline::rmse 1.2 does not meet the baseline 1" in logs
    outputs = parse_outputs(commands / "set_output")
    assert outputs["error-category"] == "performance_below_baseline" and outputs["passed"] == "false"


def test_cli_via_docker_run_against_mlflow_server(
    docker_engine: Any, image: str, mlflow_server: MlflowServer, pg_env: dict[str, str], tmp_path: Path
) -> None:
    """Signing is in the image ([sign] extra): sign with a key from the environment, then verify
    the version from a second container."""
    from tests.test_signing import keypair

    run_cli("token", "create", "--token-id", "DOCKER-CLI", env=pg_env)
    model = tmp_path / "m"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"x" * 5000)
    private, _public = keypair(tmp_path)
    code, logs = run(
        docker_engine,
        image,
        register_args("DOCKER-CLI", "/models/m", "mae", "3", "2", mlflow_uri=mlflow_server.url, output="json"),
        environment={**pg_env, "HOKUSAI_SIGNING_KEY": private.read_text()},
        volumes={str(tmp_path): {"bind": "/models", "mode": "ro"}},
    )
    assert code == 0, logs
    assert '"status": "registered"' in logs and "pg-secret-Zq7" not in logs
    assert '"attestation": {' in logs and private.read_text().splitlines()[1] not in logs
    verify = ["model", "verify", "--token-id", "DOCKER-CLI", "--public-key", "/models/signing.pub.pem"]
    code, logs = run(
        docker_engine,
        image,
        [*verify, "--mlflow-uri", mlflow_server.url],
        environment=pg_env,
        volumes={str(tmp_path): {"bind": "/models", "mode": "ro"}},
    )
    assert code == 0, logs
    assert "Verified: models:/hokusai-DOCKER-CLI/1 is what was signed" in logs


def test_gitlab_style_script_with_dotenv_report(docker_engine: Any, image: str, tmp_path: Path) -> None:
    """GitLab: `entrypoint: [""]`, the job script runs `hokusai` from PATH, artifacts:reports:dotenv."""
    (tmp_path / "model.bin").write_bytes(b"abc" * 1000)
    # the measured gate: the image holds the metrics extra (numpy)
    # (one row in 50 wrong: a perfect score on 400 rows would be a zero-width interval, no evidence)
    rows = "".join(f"{(i + (i % 50 == 0)) % 2},{i % 2}\n" for i in range(400))
    (tmp_path / "eval.csv").write_text("score,label\n" + rows)
    script = (
        "hokusai model register --token-id GL-1 --model-path model.bin --metric f1 --baseline 0.8 "
        "--predictions eval.csv --score-column score --label-column label --threshold 0.5 "
        "--dotenv-report hokusai.env && cat hokusai.env"
    )
    code, logs = run(
        docker_engine,
        image,
        ["sh", "-c", script],
        entrypoint="",
        working_dir="/builds/project",
        environment={"HOKUSAI_MOCK_MODE": "true", "GITLAB_CI": "true", "HOKUSAI_HOME": "/tmp/h"},
        volumes={str(tmp_path): {"bind": "/builds/project", "mode": "rw"}},
    )
    assert code == 0, logs
    report = dict(line.split("=", 1) for line in (tmp_path / "hokusai.env").read_text().splitlines())
    assert report["HOKUSAI_STATUS"] == "registered" and report["HOKUSAI_TOKEN_ID"] == "GL-1"
    assert report["HOKUSAI_METRIC_BASIS"] == "measured-lower-bound" and float(report["HOKUSAI_METRIC_BOUND"]) > 0.8


def test_jenkins_style_long_running_container(docker_engine: Any, image: str) -> None:
    """Jenkins `docker.image(...).inside`: starts the image with `cat` and a tty, then execs steps."""
    container = docker_engine.client.containers.run(image, ["cat"], detach=True, tty=True, network_mode="none")
    try:
        container.reload()
        assert container.status == "running"
        code, out = container.exec_run(
            ["hokusai", "model", "list", "--output", "json"], environment={"HOKUSAI_MOCK_MODE": "true"}
        )
        assert code == 0 and out.decode().strip().endswith("[]")
    finally:
        container.remove(force=True)
