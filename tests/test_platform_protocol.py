"""The platform's protocol as the upstream server behaves, held against the stand-in.

Which side is real: MLflow is a real `mlflow server`; the hosted Hokusai API cannot be reached
here, so `HokusaiStandIn` (tests/hokusai_standin.py) answers as the upstream server does,
including where it misbehaves: a 502 after telling the site, a 502 every time when the model
lives in another MLflow than its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from hokusai_ci.errors import Category
from tests.conftest import register_args, run_cli
from tests.hokusai_standin import EMIT_FAILED, NOTIFY_PATH, HokusaiStandIn
from tests.servers import MlflowServer
from tests.test_api_mode import (  # noqa: F401 (fixtures)
    ADMIN,
    GOOD_BODY,
    api,
    hokusai,
    key_service,
    refused,
    register,
    written,
)


# -- a baseline of 0: the platform tells the site, then answers 502 -------------------------------
def test_the_standin_delivers_then_answers_502_for_a_zero_baseline(hokusai: HokusaiStandIn) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {ADMIN}"}
    body = {**GOOD_BODY, "baseline_value": 0.0, "current_value": 0.9}
    answer = requests.post(hokusai.url + NOTIFY_PATH, json=body, headers=auth, timeout=10)
    assert (answer.status_code, answer.json()) == (502, {"detail": EMIT_FAILED})
    [delivered] = hokusai.emitted  # the site was told although the answer is 502
    assert delivered["baseline_value"] == 0.0


@pytest.mark.parametrize("metric", ["auroc", "accuracy", "r2"])
def test_baseline_zero_is_refused_before_anything_is_sent(
    metric: str,
    api: Any,  # noqa: F811
    hokusai: HokusaiStandIn,  # noqa: F811
    mlflow_server: MlflowServer,
    model_file: Path,
    tmp_path: Path,
) -> None:
    token = f"API-ZERO-{metric.upper()}"
    for dry in ([], ["--dry-run"]):
        run = run_cli(*register_args(token, model_file, metric, "0", "0.9"), *dry)
        assert run.code == 10, run.err
        line = run.err.strip().splitlines()[-1]
        assert "its rule baseline-not-zero" in line and "cannot take a baseline of 0" in line
        assert "tells the site the model was registered, then fails dividing by the baseline" in line
        assert line.endswith("nothing was uploaded")
    gate = run_cli(
        "model", "gate", "--token-id", token, "--model-path", str(model_file), "--metric", metric,
        "--baseline", "0", "--metric-value", "0.9", "--output", "json", env={"HOKUSAI_MODE": "api"}, cwd=tmp_path,
    )  # fmt: skip
    assert gate.code == 10 and gate.json()["error"]["category"] == "platform_rejected", gate.err
    assert "baseline-not-zero" in gate.json()["error"]["message"]
    assert written(mlflow_server, token) == ([], [])
    assert hokusai.seen == [] or all(s.path != NOTIFY_PATH for s in hokusai.seen)
    assert hokusai.emitted == []
    err = refused(token, model_file, metric=metric, value=0.9, baseline=0.0)
    assert err.category is Category.PLATFORM_REJECTED and err.exit_code == 10
