"""API mode held against the Hokusai API's rules, end to end.

Which side is real: MLflow is a real `mlflow server` on 127.0.0.1, reached through the
stand-in's `/api/mlflow` proxy as API mode does by default (or directly, as with `--mlflow-uri`).
The hosted Hokusai API cannot be reached here: `HokusaiStandIn` (tests/hokusai_standin.py) is a
local FastAPI server that answers every row of the platform's table the way the upstream server
does, with a real key service behind it, and counts every request it gets.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

from hokusai_ci import ModelRegistry
from hokusai_ci.adapters.hokusai_api import registration_payload
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.metrics import (
    KNOWN_METRICS,
    PLATFORM_METRIC_RANGES,
    PLATFORM_RULES,
    PLATFORM_RULES_VERSION,
    gate,
    platform_refusal,
    resolve_metric,
)
from hokusai_ci.ports.store import Registration
from tests.conftest import docs_text, register_args, run_cli
from tests.hokusai_standin import (
    EMIT_FAILED,
    NOTIFY_PATH,
    REGISTRY_FIELDS,
    HokusaiStandIn,
    Key,
    KeyService,
    RegistrationEvent,
    completes,
)
from tests.servers import MlflowServer

ADMIN = "hk_test_standin_admin_key_00001"  # may write events and use the registry proxy
WRITER = "hk_test_standin_writer_key_0002"  # may write events, is not a registry admin
NO_WRITE = "hk_test_standin_nowrite_key_003"  # registry admin without the model-write scope
POOR = "hk_test_standin_poor_key_0000004"  # like ADMIN, but the account's balance is too low
UNKNOWN = "hk_live_revoked_or_expired_0005"
KEYS = {
    ADMIN: Key(("model:write", "registry:admin")),
    WRITER: Key(("model:write",)),
    NO_WRITE: Key(("model:read", "registry:admin")),
    POOR: Key(("model:write", "registry:admin"), sufficient_balance=False),
}


@pytest.fixture
def key_service() -> Iterator[KeyService]:
    service = KeyService(keys=dict(KEYS)).start()
    yield service
    service.stop()


@pytest.fixture
def hokusai(mlflow_server: MlflowServer, key_service: KeyService) -> Iterator[HokusaiStandIn]:
    standin = HokusaiStandIn(mlflow_server.url, key_service).start()
    yield standin
    standin.stop()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, hokusai: HokusaiStandIn, mlflow_server: MlflowServer) -> Any:
    """Configure API mode; returns `use(key, via_proxy=True)` to switch the key or MLflow."""

    def use(key: str, *, via_proxy: bool = True) -> None:
        monkeypatch.setenv("HOKUSAI_API_KEY", key)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)  # set, so it is restored after the test
        monkeypatch.setenv("HOKUSAI_API_URL", hokusai.url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", hokusai.mlflow_proxy_url if via_proxy else mlflow_server.url)
        monkeypatch.setenv("HOKUSAI_WEBHOOK_ATTEMPTS", "3")

    use(ADMIN)
    return use


def written(server: MlflowServer, token: str) -> tuple[list[Any], list[Any]]:
    """The token's versions and runs, read from the MLflow server itself."""
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    versions = client.search_model_versions(f"tags.`hokusai.token_id` = '{token}'")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"tags.`hokusai.token_id` = '{token}'")
    return versions, runs


def register(
    token: str, model: Path, metric: str = "auroc", value: float = 0.91, baseline: float = 0.88, **kw: Any
) -> Any:
    return ModelRegistry().register_model(
        token_id=token, model_path=model, metric_name=metric, metric_value=value, baseline_value=baseline, **kw
    )


def refused(token: str, model: Path, **kw: Any) -> HokusaiError:
    with pytest.raises(HokusaiError) as info:
        register(token, model, **kw)
    return info.value


# -- the happy path, through the platform's MLflow proxy ----------------------------------------
def test_registers_through_the_proxy_sending_primary_metric(
    api: Any, hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path
) -> None:
    result = register("API-OK", model_file)
    assert result.status == "registered" and result.mode == "api"
    assert hokusai.proxied(), "MLflow was not reached through the platform's proxy"
    [sent] = hokusai.notifications()
    body = json.loads(sent.body)
    assert body["version"] == "1" and body["primary_metric"] == "auroc" == body["metric_name"]
    assert (body["current_value"], body["baseline_value"]) == (0.91, 0.88)  # the values measured, unchanged
    [emitted] = hokusai.emitted
    assert emitted["primary_metric"] == "auroc" and emitted["token_id"] == "API-OK"
    [v], _ = written(mlflow_server, "API-OK")
    assert v.tags["hokusai.notified"] == "true"

    # a re-run finds the accepted version through the proxy: exit 4, nothing sent
    again = run_cli(*register_args("API-OK", model_file, "auroc", "0.88", "0.91"))
    assert again.code == 4, again.err
    assert "already registered: hokusai-API-OK version 1" in again.err
    assert len(hokusai.notifications()) == 1 and len(written(mlflow_server, "API-OK")[0]) == 1
    # the read path works through the proxy without mlflow
    shown = run_cli("model", "status", "--token-id", "API-OK", "--output", "json")
    assert shown.code == 0 and shown.json()["status"] == "registered", shown.err


# -- rules the preflight knows: exit 10, nothing written, nothing sent ------------------------------
def test_lower_is_better_improvement_stops_before_upload(
    api: Any, hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path
) -> None:
    for dry in ([], ["--dry-run"]):
        run = run_cli(*register_args("API-MSE", model_file, "mse", "0.50", "0.40"), *dry)
        assert run.code == 10, run.err
        line = run.err.strip().splitlines()[-1]
        assert line.startswith("error: Platform Rejected: the Hokusai platform would refuse this result")
        assert "mse 0.4 is below the baseline 0.5 (for this lower-is-better metric that is an improvement)" in line
        assert "This is the platform's rule, not a failed gate" in line
        assert "hokusai-ci cannot register such a result" in line and line.endswith("nothing was uploaded")
    assert written(mlflow_server, "API-MSE") == ([], [])
    assert hokusai.notifications() == [] and hokusai.emitted == []


def test_metric_outside_the_platform_list_stops_before_upload(
    api: Any, hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path
) -> None:
    err = refused("API-BALACC", model_file, metric="balanced_accuracy", value=0.9, baseline=0.8, direction="higher")
    assert err.exit_code == 10 and err.category is Category.PLATFORM_REJECTED
    assert "'balanced_accuracy' is not one of them" in err.message and "nothing was uploaded" in err.message
    assert err.result.metric.passed  # our gate passed: the refusal is the platform's
    assert written(mlflow_server, "API-BALACC") == ([], [])
    assert hokusai.notifications() == []


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        (UNKNOWN, "rejected the API key: Invalid or expired API key (HTTP 401); check HOKUSAI_API_KEY"),
        (
            WRITER,
            "refused the API key: Admin access required for the model registry (REGISTRY_ADMIN_REQUIRED): "
            "the platform's MLflow proxy serves only keys of registry admins; use a registry admin's key, "
            "or set --mlflow-uri",
        ),
    ],
)
def test_key_refused_by_the_proxy_stops_the_preflight(
    key: str, needle: str, api: Any, hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path
) -> None:
    api(key)
    run = run_cli(*register_args("API-KEY", model_file, "auroc", "0.88", "0.91"))
    assert run.code == 10, run.err
    assert "Platform Rejected: the Hokusai MLflow proxy at " in run.err and needle in run.err
    assert key not in run.err + run.out
    [only] = hokusai.seen  # the verdict came on the first call and was not retried
    assert only.path.startswith("/api/mlflow/") and only.status in (401, 403)
    assert written(mlflow_server, "API-KEY") == ([], [])


# -- verdicts the preflight cannot know: final, one request, the version kept and adopted ----------
@pytest.mark.parametrize(
    ("token", "key", "via_proxy", "require", "status", "needle"),
    [
        (
            "API-SCOPE",
            NO_WRITE,
            False,
            (),
            403,
            "refused the API key: Insufficient permissions for model registration events (HTTP 403): "
            "the key lacks the model-write scope",
        ),
        ("API-BALANCE", POOR, True, (), 402, "refused the API key's account: Insufficient balance (HTTP 402)"),
        ("API-401", UNKNOWN, False, (), 401, "rejected the API key: Invalid or expired API key (HTTP 401)"),
        (
            "API-422",
            ADMIN,
            True,
            ("benchmark_spec_id",),
            422,
            "refused the registration as invalid: benchmark_spec_id: Field required (HTTP 422)",
        ),
    ],
)
def test_verdict_after_upload_is_final_and_the_rerun_adopts(
    token: str,
    key: str,
    via_proxy: bool,
    require: tuple[str, ...],
    status: int,
    needle: str,
    api: Any,
    hokusai: HokusaiStandIn,
    mlflow_server: MlflowServer,
    model_file: Path,
) -> None:
    api(key, via_proxy=via_proxy)
    hokusai.require = require
    err = refused(token, model_file)
    assert err.exit_code == 10 and err.category is Category.PLATFORM_REJECTED
    assert needle in err.message and key not in err.message and "\n" not in err.message
    assert f"hokusai-{token} version 1 stays in MLflow, tagged not registered" in err.message
    assert [s.status for s in hokusai.notifications()] == [status]  # a verdict is never retried
    [v], [run] = written(mlflow_server, token)
    assert v.tags["hokusai.status"] == "not_registered" and "hokusai.notified" not in v.tags
    assert run.info.status == "FAILED"

    api(ADMIN, via_proxy=via_proxy)
    hokusai.require = ()
    again = register(token, model_file)
    assert again.status == "registered" and again.reused_existing_version and again.model_version == "1"
    [v], _ = written(mlflow_server, token)
    assert v.tags["hokusai.notified"] == "true" and v.tags["hokusai.status"] == "registered"
    assert len(hokusai.emitted) == 1


# -- outages: bounded retries honouring Retry-After, exit 9, resumable ----------------------------
def test_platform_502_after_upload_exits_9_and_the_rerun_notifies(
    api: Any, hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path
) -> None:
    hokusai.publisher_failures = 1  # the platform's event queue is down for one emit
    err = refused("API-EMIT", model_file)
    assert err.exit_code == 9 and err.category is Category.EVENT_DELIVERY_FAILED
    assert f"answered: {EMIT_FAILED} (HTTP 502); the platform answers this also after it told the site" in err.message
    assert "re-running the same command adopts it and sends the same registration" in err.message
    assert [s.status for s in hokusai.notifications()] == [502]  # a 502 may follow a delivery: never retried
    [v], _ = written(mlflow_server, "API-EMIT")
    assert "hokusai.notified" not in v.tags and v.tags["hokusai.platform_sent"] == "API-EMIT:hokusai-API-EMIT:1"

    again = run_cli(*register_args("API-EMIT", model_file, "auroc", "0.88", "0.91"), "--output", "json")
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is True
    assert [s.status for s in hokusai.notifications()] == [502, 200]
    [v], _ = written(mlflow_server, "API-EMIT")
    assert v.tags["hokusai.notified"] == "true"


def test_slow_key_service_is_503_retried_after_retry_after(
    api: Any, hokusai: HokusaiStandIn, key_service: KeyService, mlflow_server: MlflowServer, model_file: Path
) -> None:
    api(ADMIN, via_proxy=False)  # only notifications reach the stand-in
    key_service.stall(2, 1.0)  # longer than the platform waits for its key service
    result = register("API-BUSY", model_file)
    assert result.status == "registered"
    sent = hokusai.notifications()
    assert [s.status for s in sent] == [503, 503, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # Retry-After: 1, honoured


def test_slow_key_service_on_the_preflight_read_is_retried(
    api: Any, hokusai: HokusaiStandIn, key_service: KeyService, model_file: Path
) -> None:
    key_service.stall(1, 1.0)
    result = register("API-BUSYREAD", model_file)
    assert result.status == "registered"
    first, second = hokusai.proxied()[:2]
    assert (first.status, second.path) == (503, first.path) and second.status == 200
    assert second.at - first.at >= 0.95


def test_key_service_down_exits_9_and_resumes(
    api: Any, hokusai: HokusaiStandIn, key_service: KeyService, mlflow_server: MlflowServer, model_file: Path
) -> None:
    api(ADMIN, via_proxy=False)
    key_service.stop()
    err = refused("API-DOWN", model_file)
    assert err.exit_code == 9 and "Authentication service unavailable (HTTP 503) after 3 attempt(s)" in err.message
    assert [s.status for s in hokusai.notifications()] == [503, 503, 503]
    hokusai.key_service = KeyService(keys=dict(KEYS)).start()
    try:
        again = register("API-DOWN", model_file)
    finally:
        hokusai.key_service.stop()
    assert again.status == "registered" and again.reused_existing_version
    assert len(written(mlflow_server, "API-DOWN")[0]) == 1


# -- the stand-in answers every row of the platform's table --------------------------------------------
GOOD_BODY = {
    "model_name": "m",
    "version": "1",
    "token_id": "T",
    "proposal_identifier": "T",
    "metric_name": "auroc",
    "baseline_value": 0.82,
    "current_value": 0.85,
    "mlflow_run_id": "r1",
}


@pytest.mark.parametrize(
    ("key", "change", "status", "body", "headers"),
    [
        (ADMIN, {}, 200, None, {}),
        (ADMIN, {"metric_name": "mse", "baseline_value": 0.5, "current_value": 0.4}, 502, {"detail": EMIT_FAILED}, {}),
        (ADMIN, {"baseline_value": 0.85, "current_value": 0.82}, 502, {"detail": EMIT_FAILED}, {}),
        (ADMIN, {"metric_name": "balanced_accuracy"}, 502, {"detail": EMIT_FAILED}, {}),
        (ADMIN, {"version": 1}, 422, None, {"X-Request-ID": "standin-request"}),
        (ADMIN, {"api_schema": {"type": "object"}, "surprise": [1]}, 200, None, {}),
        # the registry fields make the server tag version 1 of `m` in its own MLflow, which has no `m`
        *[(ADMIN, {name: "x"}, 502, {"detail": EMIT_FAILED}, {}) for name in REGISTRY_FIELDS],
        (NO_WRITE, {}, 403, {"detail": "Insufficient permissions for model registration events"}, {}),
        (POOR, {}, 402, {"detail": "Insufficient balance"}, {}),
        ("", {}, 401, {"detail": "API key required"}, {}),
        (UNKNOWN, {}, 401, {"detail": "Invalid or expired API key"}, {}),
    ],
)
def test_the_standin_answers_each_row_like_the_platform(
    key: str, change: dict[str, Any], status: int, body: Any, headers: dict[str, str], hokusai: HokusaiStandIn
) -> None:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    answer = requests.post(hokusai.url + NOTIFY_PATH, json={**GOOD_BODY, **change}, headers=auth, timeout=10)
    assert answer.status_code == status, answer.text
    if body is not None:
        assert answer.json() == body
    if status == 422:
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "version"] and error["msg"] == "Value error, must be a non-empty string"
    if status == 200:
        assert answer.json()["model_id"] == "m/1/T"
    for name, value in headers.items():
        assert answer.headers[name] == value


def test_the_standin_proxy_and_key_service_rows(hokusai: HokusaiStandIn, key_service: KeyService) -> None:
    search = hokusai.mlflow_proxy_url + "/api/2.0/mlflow/experiments/search?max_results=1"
    refused_proxy = requests.get(search, headers={"Authorization": f"Bearer {WRITER}"}, timeout=10)
    assert refused_proxy.status_code == 403
    assert refused_proxy.json() == {
        "detail": "Admin access required for the model registry",
        "error": "REGISTRY_ADMIN_REQUIRED",
    }
    poor = requests.get(search, headers={"Authorization": f"Bearer {POOR}"}, timeout=10)
    assert poor.status_code == 200 and "experiments" in poor.json()  # the registry is not billed
    key_service.stall(1, 1.0)
    slow = requests.get(search, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert slow.status_code == 503 and slow.headers["Retry-After"] == "1"
    assert slow.json() == {"detail": "Authentication service timeout"}


# -- the client's rules table agrees with the platform's validator ---------------------------------
names = st.sampled_from([*PLATFORM_METRIC_RANGES, "balanced_accuracy", "log_loss"])
numbers = st.floats(min_value=-2.0, max_value=3.0, allow_nan=False) | st.sampled_from([0.0, -0.0, 0.5, 1.0])


@settings(max_examples=400, deadline=None)
@given(name=names, value=numbers, baseline=numbers)
def test_the_rules_table_predicts_every_refusal_of_the_validator(name: str, value: float, baseline: float) -> None:
    metric = resolve_metric(name, None if name in KNOWN_METRICS or name == "auc" else "higher")
    result = gate(metric, value, baseline).model_copy(update={"name": name})
    assert (platform_refusal(result) is None) == completes(name, baseline, value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.integers(min_value=1, max_value=10**6),
    metric=st.sampled_from(sorted(KNOWN_METRICS)),
    value=st.floats(allow_nan=False, allow_infinity=False),
    baseline=st.floats(allow_nan=False, allow_infinity=False),
    token=st.from_regex(r"[A-Z][A-Z0-9-]{0,15}", fullmatch=True),
)
def test_every_payload_the_client_builds_fits_the_platform_schema(
    version: int, metric: str, value: float, baseline: float, token: str
) -> None:
    registration = Registration(
        model_name=f"hokusai-{token}",
        model_version=str(version),
        model_uri=f"models:/hokusai-{token}/{version}",
        mlflow_run_id="0123456789abcdef",
        model_sha256="0" * 64,
        metric_name=metric,
        metric_value=value,
        baseline=baseline,
        direction=KNOWN_METRICS[metric].direction.value,
    )
    payload = registration_payload(token, registration)
    event = RegistrationEvent.model_validate(json.loads(json.dumps(payload)))
    assert event.version == str(version) and event.primary_metric == metric
    assert (event.current_value, event.baseline_value) == (value, baseline)


def test_the_readme_lists_the_platform_rules() -> None:
    text = docs_text()
    section = text[text.index("## API mode") : text.index("## Mock mode")]
    assert PLATFORM_RULES_VERSION in section
    for rule in PLATFORM_RULES:
        assert rule.summary in section, rule.rule_id
