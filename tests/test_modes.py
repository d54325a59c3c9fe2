"""Mode selection (printed, forceable, strict) and mock mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_ci.config.settings import load_settings
from hokusai_ci.domain.errors import HokusaiError
from tests.conftest import register_args, run_here
from tests.servers import WebhookReceiver

KEY = "hk_test_abcdefghijklmnop"


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({}, "local"),
        ({"HOKUSAI_API_KEY": KEY}, "api"),
        ({"HOKUSAI_API_KEY": KEY, "HOKUSAI_DB_HOST": "db"}, "database"),
        ({"HOKUSAI_API_KEY": KEY, "HOKUSAI_MOCK_MODE": "true"}, "mock"),
        ({"HOKUSAI_MOCK_MODE": "0"}, "local"),
        ({"HOKUSAI_API_KEY": KEY, "HOKUSAI_DB_HOST": "db", "HOKUSAI_MODE": "api"}, "api"),
        ({"HOKUSAI_MODE": "MOCK"}, "mock"),
    ],
)
def test_mode_selection(env: dict[str, str], mode: str) -> None:
    assert load_settings({}, env).mode == mode


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"HOKUSAI_MOCK_MODE": "yes"}, "HOKUSAI_MOCK_MODE"),
        ({"HOKUSAI_MODE": "cloud"}, "HOKUSAI_MODE"),
        ({"HOKUSAI_MODE": "api"}, "needs HOKUSAI_API_KEY"),
        ({"HOKUSAI_MODE": "database"}, "needs --db-config"),
        ({"HOKUSAI_API_KEY": "sk_live_abcdefghijkl"}, "starts with hk_live_"),
    ],
)
def test_mode_errors_are_input_errors(env: dict[str, str], needle: str) -> None:
    with pytest.raises(HokusaiError) as info:
        load_settings({}, env)
    assert info.value.exit_code == 2 and needle in info.value.message
    assert "sk_live_abcdefghijkl" not in info.value.message


def test_api_mode_defaults_to_the_platform_endpoints() -> None:
    s = load_settings({}, {"HOKUSAI_API_KEY": KEY})
    assert s.effective_mlflow_uri == "https://registry.hokus.ai/api/mlflow"
    assert s.api_url == "https://api.hokus.ai"
    explicit = load_settings({"mlflow_uri": "http://127.0.0.1:5000"}, {"HOKUSAI_API_KEY": KEY})
    assert explicit.effective_mlflow_uri == "http://127.0.0.1:5000"
    assert KEY not in repr(s)


def test_mock_mode_is_deterministic_offline_and_marked(
    model_file: Path, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    outs = []
    for home in ("a", "b"):
        env = {"HOKUSAI_MOCK_MODE": "true", "HOKUSAI_HOME": str(tmp_path / home), "HOKUSAI_WEBHOOK_URL": webhook.url}
        r = run_here(
            *register_args("MOCK-1", str(model_file), "mae", "2", "1.5"),
            "--output",
            "json",
            env=env,
        )
        assert r.code == 0, r.err
        assert "mode: mock" in r.err
        outs.append(r.json())
        assert not (tmp_path / home / "mlruns").exists()
        text = run_here("model", "status", "--token-id", "MOCK-1", env=env)
        assert "[simulated]" in text.out
        assert run_here("model", "list", "--output", "json", env=env).json()[0]["simulated"] is True
    a, b = outs
    assert a["simulated"] is True and a["mode"] == "mock"
    assert (a["mlflow_run_id"], a["model_version"]) == (b["mlflow_run_id"], b["model_version"])
    assert [e["event_id"] for e in a["events"]] == [e["event_id"] for e in b["events"]]
    assert webhook.received == []  # no network in mock mode
    text = run_here(
        *register_args("MOCK-2", str(model_file), "mae", "2", "1.5"),
        env={"HOKUSAI_MOCK_MODE": "1", "HOKUSAI_HOME": str(tmp_path / "c")},
    )
    assert text.out.startswith("[simulated] Registered hokusai-MOCK-2 version 1")


def test_mock_mode_still_gates(model_file: Path) -> None:
    r = run_here(
        *register_args("MOCK-LOW", str(model_file), "mae", "1", "1.5"),
        env={"HOKUSAI_MOCK_MODE": "true"},
    )
    assert r.code == 6


def test_effective_endpoints_are_printed_without_secrets(model_file: Path) -> None:
    r = run_here(
        *register_args("EP", str(model_file), "f1", "0.5", "0.6"),
        "--dry-run",
        "--webhook-url",
        "https://user:pw@hooks.example/in?token=abc",
        env={"HOKUSAI_API_KEY": KEY, "HOKUSAI_MODE": "local"},
    )
    assert "mode: local (HOKUSAI_MODE=local)" in r.err
    assert "webhook: https://hooks.example/in" in r.err
    assert "user:pw" not in r.err and "token=abc" not in r.err and KEY not in r.err + r.out
