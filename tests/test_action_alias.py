"""The Action's `command: promote` and `command: rollback` against a real MLflow server, run
in-process through the entrypoint's `run_action` under a fake runner environment (INPUT_*, the
output and summary files), the way tests/test_action_entrypoint.py runs it in a child process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from pathlib import Path

import pytest

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.adapters.registry_rest import RegistryRest
from tests.conftest import process_state_kept, register_args, run_here
from tests.servers import MlflowServer
from tests.test_action_entrypoint import parse_outputs


def act_here(env: dict[str, str]) -> tuple[int, str]:
    """`run_action(env)` in this process: exit code and stdout; what it changes in the process
    (environment, SIGTERM handler, the tool's loggers, the secrets it redacts) is put back."""
    from hokusai_ci.faces.github import run_action

    out = io.StringIO()
    # the settings are read from the process environment, as in the container
    with process_state_kept(env), contextlib.redirect_stdout(out):
        code = run_action(env)
    return code, out.getvalue()


@pytest.fixture
def action_env(tmp_path: Path, mlflow_server: MlflowServer) -> dict[str, str]:
    (tmp_path / "workspace").mkdir()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(tmp_path / "workspace"),
        "RUNNER_TEMP": str(tmp_path / "runner_temp"),
        "HOKUSAI_HOME": os.environ["HOKUSAI_HOME"],  # the store the registrations below wrote
        "HOKUSAI_MODE": "local",
        "INPUT_MLFLOW-URI": mlflow_server.url,
        "INPUT_JOB-SUMMARY": "true",
        "INPUT_ALIAS": "champion",  # the runner passes action.yml's defaults
        "INPUT_DRY-RUN": "false",
        "INPUT_GATE-ONLY": "false",
        "INPUT_SIGN": "off",
    }


def _step(env: dict[str, str], tmp_path: Path, **inputs: str) -> tuple[int, str, dict[str, str], str]:
    """One Action step with fresh output and summary files: code, log, outputs, summary."""
    step = tmp_path / f"step-{uuid.uuid4().hex[:6]}"
    step.mkdir()
    files = {"GITHUB_OUTPUT": str(step / "output"), "GITHUB_STEP_SUMMARY": str(step / "summary")}
    given = {f"INPUT_{name.upper().replace('_', '-')}": value for name, value in inputs.items()}
    code, log = act_here({**env, **files, **given})
    summary = Path(files["GITHUB_STEP_SUMMARY"])
    return code, log, parse_outputs(Path(files["GITHUB_OUTPUT"])), summary.read_text() if summary.exists() else ""


def test_the_action_promotes_and_rolls_back_with_the_command_input(
    action_env: dict[str, str], mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    model = f"act-{uuid.uuid4().hex[:8]}"
    versions = []
    for token, content in (("PA", b"first"), ("PB", b"second")):
        path = tmp_path / f"{token}.bin"
        path.write_bytes(content * 100)
        assert run_here("token", "create", "--token-id", token).code == 0
        done = run_here(*register_args(token, path, model_name=model, mlflow_uri=mlflow_server.url), "--output", "json")
        assert done.code == 0, done.err
        versions.append(done.json()["model_version"])
    v1, v2 = versions
    registry = RegistryRest(MlflowHttp(mlflow_server.url))

    code, log, outputs, summary = _step(action_env, tmp_path, command="promote", token_id="PA", model_name=model)
    assert code == 0, log
    assert (outputs["status"], outputs["model-version"], outputs["previous-version"]) == ("moved", v1, "")
    assert outputs["alias"] == "champion" and outputs["model-name"] == model
    assert f"moved from not set to version {v1}" in summary
    assert registry.alias_version(model, "champion") == v1

    code, log, outputs, summary = _step(action_env, tmp_path, command="promote", token_id="PB")
    assert code == 15 and outputs["status"] == "error" and outputs["error-category"] == "alias_moved"
    assert f"--expect-current {v1}" in log and "Promote refused" in summary
    assert json.loads(outputs["result-json"])["error"]["exit_code"] == 15
    assert registry.alias_version(model, "champion") == v1

    code, log, outputs, _ = _step(action_env, tmp_path, command="promote", token_id="PB", expect_current=v1)
    assert code == 0, log
    assert (outputs["model-version"], outputs["previous-version"]) == (v2, v1)
    assert registry.alias_version(model, "champion") == v2

    code, log, outputs, summary = _step(action_env, tmp_path, command="rollback", token_id="PB", model_name=model)
    assert code == 0, log
    assert (outputs["model-version"], outputs["previous-version"]) == (v1, v2) and "Rollback" in summary
    assert registry.alias_version(model, "champion") == v1

    code, log, outputs, summary = _step(action_env, tmp_path, command="promote", token_id="PA", expect_current=v1)
    assert code == 0, log  # the alias names it already: nothing moved, and the outputs and summary say so
    assert (outputs["status"], outputs["model-version"], outputs["previous-version"]) == ("unchanged", v1, v1)
    assert "nothing was moved" in summary and f"already names version {v1}" in summary and "moved from" not in summary
    assert registry.alias_version(model, "champion") == v1


def test_an_unknown_command_is_refused_naming_the_input(action_env: dict[str, str], tmp_path: Path) -> None:
    code, log, outputs, _ = _step(action_env, tmp_path, command="demote", token_id="PA")
    assert code == 2 and "command='demote'" in log and "register, promote, rollback" in log
    assert outputs["status"] == "error"


def test_register_inputs_stay_required_for_a_registration(action_env: dict[str, str], tmp_path: Path) -> None:
    code, log, _, _ = _step(action_env, tmp_path, token_id="PA", metric="auroc", baseline="0.8")
    assert code == 2 and "input 'model-path' is required" in log
