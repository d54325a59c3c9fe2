"""A stalling MLflow server fails a registration within the stall timeout, naming the server
and the step; a slow but healthy upload is never cut. The faults are real: a `FaultProxy` on
127.0.0.1 in front of the real `mlflow server`, stalling or throttling one kind of request."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import register_args, run_cli
from tests.fault_proxy import Action, FaultProxy
from tests.servers import MlflowServer

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"


@pytest.fixture
def proxy(mlflow_server: MlflowServer, request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    action: Action
    action, path, extra = request.param
    started = FaultProxy(mlflow_server.url).start()
    started.add(None, path, action, **extra)
    yield started
    started.stop()


def hits(proxy: FaultProxy) -> int:
    [rule] = proxy.rules
    return rule.hits


def register_through(proxy: FaultProxy, token: str, model: Path, **env: str) -> tuple[float, object]:
    assert run_cli("token", "create", "--token-id", token).code == 0
    began = time.monotonic()
    r = run_cli(
        *register_args(token, model, "accuracy", "0.80", "0.85"), "--mlflow-uri", proxy.url, env=env, timeout=120
    )
    return time.monotonic() - began, r


@pytest.mark.parametrize("proxy", [("stall", ARTIFACTS, {"after_bytes": 4096, "times": 0})], indirect=True)
def test_a_stalled_upload_fails_within_the_stall_timeout(proxy: FaultProxy, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(256 * 1024))
    took, r = register_through(
        proxy, "STALL", model, HOKUSAI_STALL_TIMEOUT="2", MLFLOW_HTTP_REQUEST_MAX_RETRIES="1", HOKUSAI_LOG_LEVEL="ERROR"
    )
    assert r.code == 8, r.err  # type: ignore[attr-defined]
    err = r.err.strip().splitlines()  # type: ignore[attr-defined]
    assert len(err) == 1 and "Traceback" not in r.err, r.err  # type: ignore[attr-defined]
    assert f"could not upload the model to MLflow at {proxy.url}" in err[0]
    assert "no progress for 2 s on each of 2 attempt(s)" in err[0] and "HOKUSAI_STALL_TIMEOUT" in err[0]
    # 2 attempts x 2 s + ~1 s backoff, plus start-up; the default settings took 364 s before
    assert took < 25, took
    assert hits(proxy) == 2  # the stalled request, retried once
    status = run_cli("model", "status", "--token-id", "STALL", "--output", "json")
    assert status.json()["status"] == "draft"


@pytest.mark.parametrize("proxy", [("slow", ARTIFACTS, {"rate": 4 * 1024 * 1024, "times": 0})], indirect=True)
def test_a_slow_healthy_upload_is_never_cut(proxy: FaultProxy, mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The upload lasts well past the stall timeout, always moving: it must go through. (The
    rate is high enough that the ~4 MiB the kernel queues drains within the stall timeout:
    the README states that limit.)"""
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(20 * 1024 * 1024))
    took, r = register_through(proxy, "SLOW", model, HOKUSAI_STALL_TIMEOUT="2", HOKUSAI_LOG_LEVEL="ERROR")
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    assert took > 2 * 2, "the upload must outlast the stall timeout to prove anything"
    assert hits(proxy) == 1
    client = MlflowClient(tracking_uri=mlflow_server.url)
    version = client.search_model_versions("name = 'hokusai-SLOW'")[0]
    local = Path(client.download_artifacts(version.run_id, "model", str(tmp_path / "dl")))
    assert (local / "model.bin").read_bytes() == model.read_bytes()
