"""Every line the tool prints is true and needed: against a real MLflow server, the log says
where things went and nothing from MLflow's INFO chatter."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import register_args, run_cli
from tests.servers import MlflowServer, WebhookReceiver


def test_a_server_registration_logs_only_what_the_tool_says(model_file: Path, mlflow_server: MlflowServer) -> None:
    assert run_cli("token", "create", "--token-id", "QUIET").code == 0
    r = run_cli(*register_args("QUIET", model_file, "auroc", "0.8", "0.9"), "--mlflow-uri", mlflow_server.url)
    assert r.code == 0, r.err
    assert "Waiting up to" not in r.err  # MLflow's INFO line, reset to INFO when mlflow is imported
    assert "nothing configured" not in r.err
    mode = next(line for line in r.err.splitlines() if "mode:" in line)
    assert (
        mode == "hokusai: mode: local (no token store configured: embedded local token store, the MLflow server given)"
    )
    assert f"hokusai: MLflow: {mlflow_server.url}" in r.err.splitlines()
    assert all(line.startswith(("hokusai: ", "  ")) for line in r.err.splitlines()), r.err
    debug = run_cli(*register_args("QUIET", model_file, "auroc", "0.8", "0.9"), "--dry-run", "--log-level", "DEBUG",
                    "--mlflow-uri", mlflow_server.url)  # fmt: skip
    assert debug.code == 4


def test_replay_does_not_mention_mlflow(webhook: WebhookReceiver) -> None:
    r = run_cli("events", "replay", "--webhook-url", webhook.url)
    assert r.code == 0, r.err
    assert "MLflow" not in r.err
    assert "hokusai: webhook: " in r.err
