"""The one MLflow REST client: configured through its constructor, shared by the tracker and the
API-mode registry, and leaving the process environment as it found it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow import MlflowClient

from hokusai_ci import ModelRegistry
from hokusai_ci.adapters.mlflow_http import HttpConfig, MlflowHttp, mlflow_environ, mlflow_error
from hokusai_ci.adapters.registry_rest import RegistryRest, registry_config
from hokusai_ci.adapters.rest_tracker import RestTracker
from tests.conftest import REPO, run_cli
from tests.servers import MlflowServer
from tests.test_url_readings import MlflowLike


@pytest.mark.parametrize("store", ["server", "file"])
def test_an_in_process_registration_leaves_the_environment_as_it_found_it(
    store: str, mlflow_server: MlflowServer, model_file: Path
) -> None:
    """The REST client gets its settings through its constructor; MLflow's own library (the
    embedded file store) sees them only while it is called."""
    token = f"ENV-{store.upper()}"
    assert run_cli("token", "create", "--token-id", token).code == 0
    before = dict(os.environ)
    registry = ModelRegistry(mlflow_uri=mlflow_server.url) if store == "server" else ModelRegistry()
    result = registry.register_model(
        token_id=token, model_path=model_file, metric_name="accuracy", metric_value=0.9, baseline_value=0.8
    )
    assert result.status == "registered"
    assert dict(os.environ) == before


def test_the_api_key_given_to_mlflow_is_not_left_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's library reads the key from MLFLOW_TRACKING_TOKEN during a call, and only then."""
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    seen: list[str | None] = []
    with mlflow_environ(HttpConfig(token="key-Zq81", timeout=7, retries=1)):
        seen += [os.environ.get(k) for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_HTTP_REQUEST_TIMEOUT")]
    assert seen == ["key-Zq81", "7"]
    assert "MLFLOW_TRACKING_TOKEN" not in os.environ and "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_a_config_without_a_token_drops_the_variable_for_mlflows_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token the settings withheld (the API key, for a host not trusted with it) is not read
    back from the variable by MLflow's library."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "key-for-hokusai-only")
    with mlflow_environ(HttpConfig(token=None)):
        assert "MLFLOW_TRACKING_TOKEN" not in os.environ
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "key-for-hokusai-only"


@pytest.fixture
def mlflow_like() -> Iterator[MlflowLike]:
    receiver = MlflowLike().start()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (HttpConfig(token="given-Zq"), "Bearer given-Zq"),
        (HttpConfig(token="given-Zq", basic=("u", "p")), "Basic dTpw"),
        (HttpConfig(), None),
    ],
)
def test_the_client_sends_the_credentials_of_its_constructor_not_the_environment(
    mlflow_like: MlflowLike, monkeypatch: pytest.MonkeyPatch, config: HttpConfig, expected: str | None
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "from-the-environment")
    MlflowHttp(mlflow_like.base_url, config).call("POST", "model-versions/search", json={})
    assert [r.headers.get("Authorization") for r in mlflow_like.received] == [expected]


def test_a_stall_is_reported_with_the_clients_timeout_and_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "9")
    err = mlflow_error("http://127.0.0.1:1", "upload the model to", None, "x", requests.ReadTimeout(), HttpConfig(2, 1))
    assert "no progress for 2 s on each of 2 attempt(s)" in err.message


def test_the_tracker_and_the_registry_count_the_same_live_versions(mlflow_server: MlflowServer) -> None:
    """One rule: a token's versions not superseded, oldest first, whoever reads them."""
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    name, token = "hokusai-LIVE", "LIVE"
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment("live-versions")).info
    for status in ("registered", "superseded", "not_registered"):
        tags = {"hokusai.token_id": token, "hokusai.status": status}
        client.create_model_version(name, f"{run.artifact_uri}/model", run_id=run.run_id, tags=tags)
    http = MlflowHttp(mlflow_server.url)
    tracked = RestTracker(mlflow_server.url, "live", http).find(token)
    registry = RegistryRest(MlflowHttp(mlflow_server.url, registry_config(HttpConfig()))).live_versions(token)
    assert [m.model_version for m in tracked] == ["1", "3"]
    assert [str(v["version"]) for v in registry] == ["1", "3"]
    assert registry[1]["tags"]["hokusai.status"] == "not_registered"


def test_the_s3_route_does_not_import_the_rest_tracker() -> None:
    """No import cycle: the tracker imports the artifact routes, never the reverse."""
    code = (
        "import sys, hokusai_ci.adapters.s3_upload, hokusai_ci.adapters.artifact_repo; "
        "print('hokusai_ci.adapters.rest_tracker' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_the_server_url_is_read_once_not_on_every_request(
    mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request checks its URL against the server's origin; the server's own URL is parsed
    when the client is made, never again (a real server answers the requests)."""
    from hokusai_ci.adapters import mlflow_http

    read: list[str] = []
    real = mlflow_http.same_reading

    def counted(url: str) -> Any:
        read.append(url)
        return real(url)

    monkeypatch.setattr(mlflow_http, "same_reading", counted)
    http = MlflowHttp(mlflow_server.url + "/")
    assert read == [mlflow_server.url]
    for _ in range(5):
        http.call("POST", "experiments/search", json={"max_results": 1})
    assert read.count(mlflow_server.url) == 1, read
    host, port = mlflow_server.url.removeprefix("http://").split(":")
    assert http.same_origin(f"http://{host}:{port}/api/2.0/mlflow-artifacts/artifacts/x")
    assert not http.same_origin(f"https://{host}:{port}/x")  # the scheme counts
    assert not http.same_origin(f"http://{host}:{int(port) + 1}/x")
    assert not http.same_origin("http://attacker\\@" + f"{host}:{port}/x")  # two readings: never the server
    assert not MlflowHttp("http://a\\@b/").same_origin("http://b/")  # a server URL with two readings matches nothing
