"""API mode against the hosted Hokusai platform's contract.

Which side is real: MLflow is a real `mlflow server` on 127.0.0.1 (uploads, versions, tags all
happen for real). The Hokusai API cannot be reached here: its exchanges are replayed from vcrpy
cassettes in tests/cassettes, recorded against `PlatformReceiver` (tests/servers.py), a local
server that enforces the platform's contract (bearer auth, required fields, error bodies).
On replay every outgoing notification is checked against that contract again by the
`contract` matcher, so a client change that breaks the contract fails here.
Re-record: delete tests/cassettes/api_*.yaml and run with HOKUSAI_VCR_RECORD=once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
from mlflow import MlflowClient

from hokusai_ci import ModelRegistry
from hokusai_ci.errors import Category, HokusaiError
from tests.conftest import run_cli
from tests.servers import NOTIFY_PATH, MlflowServer, PlatformReceiver

CASSETTES = Path(__file__).with_name("cassettes")
GOOD_KEY = "hk_test_contract_admin_key_0001"
NOADMIN_KEY = "hk_test_contract_noadmin_key_02"
READONLY_KEY = "hk_test_contract_readonly_key03"
UNKNOWN_KEY = "hk_live_revoked_or_expired_0004"


def _platform_only(request: Any) -> Any:
    """Only Hokusai API calls go to the cassette; MLflow traffic reaches the real server."""
    return request if request.path.startswith("/api/models/") else None


def _contract(r1: Any, r2: Any) -> None:
    """The notification sent now must satisfy the platform contract, as recorded ones did."""
    if r1.path != NOTIFY_PATH:
        return
    assert r1.headers.get("Authorization", "").startswith("Bearer "), "no bearer key"
    body = json.loads(r1.body)
    for name in ("model_name", "version", "token_id", "proposal_identifier", "metric_name", "mlflow_run_id"):
        assert isinstance(body.get(name), str) and body[name], name
    assert isinstance(body["baseline_value"], float | int) and body["baseline_value"] == body["baseline_value"]
    assert isinstance(body.get("current_value"), float | int)
    assert all(isinstance(v, str) for v in body.get("tags", {}).values())
    assert body["proposal_identifier"] == body["token_id"]


recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode=os.environ.get("HOKUSAI_VCR_RECORD", "none"),
    match_on=["method", "path", "contract"],
    before_record_request=_platform_only,
    filter_headers=[("Authorization", "Bearer hk_test_<redacted>")],
)
recorder.register_matcher("contract", _contract)


@pytest.fixture
def platform() -> Iterator[PlatformReceiver]:
    receiver = PlatformReceiver(keys={GOOD_KEY: "admin", NOADMIN_KEY: "noadmin", READONLY_KEY: "readonly"}).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, platform: PlatformReceiver, mlflow_server: MlflowServer) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", GOOD_KEY)
    monkeypatch.setenv("HOKUSAI_API_URL", platform.url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", GOOD_KEY)  # restored after the test
    monkeypatch.setenv("HOKUSAI_WEBHOOK_ATTEMPTS", "3")


def versions(server: MlflowServer, token: str) -> list[Any]:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    return client.search_model_versions(f"tags.`hokusai.token_id` = '{token}'")


def register(registry: ModelRegistry, token: str, model: Path) -> Any:
    return registry.register_model(
        token_id=token, model_path=model, metric_name="auroc", metric_value=0.91, baseline_value=0.88
    )


@pytest.mark.usefixtures("api_env")
def test_api_mode_registers_and_notifies(mlflow_server: MlflowServer, model_file: Path) -> None:
    registry = ModelRegistry()
    assert registry.settings.mode == "api"
    with recorder.use_cassette("api_register_ok.yaml") as cassette:
        result = register(registry, "API-OK", model_file)
    assert result.status == "registered" and result.mode == "api"
    assert cassette.play_count + len(cassette.data) >= 1
    [v] = versions(mlflow_server, "API-OK")
    assert v.tags["hokusai.notified"] == "true"
    # a re-run finds the accepted version in the registry: no upload, no notification
    with pytest.raises(HokusaiError) as info:
        register(registry, "API-OK", model_file)
    assert info.value.category is Category.INVALID_TOKEN_STATUS
    assert "already registered: hokusai-API-OK version 1" in info.value.message
    assert len(versions(mlflow_server, "API-OK")) == 1
    view = registry.status("API-OK")
    assert (
        view.status == "registered"
        and view.model_version == "1"
        and view.metric is not None
        and view.metric.name == "auroc"
    )
    assert "API-OK" in [t.token_id for t in registry.list_models()]
    # the CLI's read path in API mode reads the registry over REST, without mlflow
    shown = run_cli("model", "status", "--token-id", "API-OK", "--output", "json")
    assert shown.code == 0, shown.err
    assert shown.json()["status"] == "registered" and shown.json()["model_sha256"] == result.model_sha256
    draft = run_cli("model", "status", "--token-id", "API-NEVER", "--output", "json")
    assert draft.json()["status"] == "draft"


@pytest.mark.usefixtures("api_env")
def test_failed_notification_is_exit_9_and_a_rerun_sends_only_the_notification(
    mlflow_server: MlflowServer, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", UNKNOWN_KEY)
    with recorder.use_cassette("api_register_401.yaml"), pytest.raises(HokusaiError) as info:
        register(ModelRegistry(), "API-RESUME", model_file)
    err = info.value
    assert err.exit_code == 9
    assert "rejected the API key (Invalid or expired API key)" in err.message
    assert "re-run the same command" in err.message
    assert UNKNOWN_KEY not in err.message
    assert err.details["result"].status == "registered"
    [v] = versions(mlflow_server, "API-RESUME")
    assert "hokusai.notified" not in v.tags

    monkeypatch.setenv("HOKUSAI_API_KEY", GOOD_KEY)
    with recorder.use_cassette("api_register_resume.yaml"):
        again = register(ModelRegistry(), "API-RESUME", model_file)
    assert again.status == "registered" and again.reused_existing_version
    [v] = versions(mlflow_server, "API-RESUME")  # still exactly one version
    assert v.tags["hokusai.notified"] == "true" and again.model_version == str(v.version)


@pytest.mark.usefixtures("api_env")
def test_busy_platform_is_retried_honouring_retry_after(model_file: Path, platform: PlatformReceiver) -> None:
    platform.script = [(503, {"detail": "Service Unavailable"}, {"Retry-After": "1"})]
    with recorder.use_cassette("api_register_503_then_ok.yaml") as cassette:
        result = register(ModelRegistry(), "API-BUSY", model_file)
    assert result.status == "registered"
    statuses = [resp["status"]["code"] for resp in cassette.responses]
    assert statuses == [503, 200]


@pytest.mark.parametrize(
    ("token", "key", "script", "needle"),
    [
        ("API-NOADMIN", NOADMIN_KEY, [], "lacks model registry rights (REGISTRY_ADMIN_REQUIRED)"),
        ("API-SCOPE", READONLY_KEY, [], "lacks the 'models:write' scope"),
        ("API-BALANCE", GOOD_KEY, [(402, {"detail": "Insufficient balance"}, {})], "balance is too low"),
        (
            "API-INVALID",
            GOOD_KEY,
            [(422, {"detail": [{"loc": ["body", "version"], "msg": "bad"}]}, {})],
            "version: bad",
        ),
        (
            "API-EMIT",
            GOOD_KEY,
            [(502, {"detail": "Failed to emit model registration event"}, {})] * 3,
            "could not emit the registration event (Failed to emit model registration event)",
        ),
    ],
)
@pytest.mark.usefixtures("api_env")
def test_platform_errors_become_clear_messages(
    token: str,
    key: str,
    script: list[Any],
    needle: str,
    model_file: Path,
    platform: PlatformReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", key)
    monkeypatch.setenv("HOKUSAI_WEBHOOK_ATTEMPTS", "3")
    platform.script = list(script)
    with recorder.use_cassette(f"api_error_{token.lower()}.yaml"), pytest.raises(HokusaiError) as info:
        register(ModelRegistry(), token, model_file)
    assert info.value.exit_code == 9
    assert needle in info.value.message
    assert key not in info.value.message
