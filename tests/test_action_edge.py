"""What crosses into the tool from the Action's world: path inputs stay in the workspace (or the
one folder `allowed-folder` names), and CI variables reach MLflow tags without a line break.
The Action runs as the runner runs it (`python entrypoint.py`, mock mode); tags are read back
from the real MLflow server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow import MlflowClient

from hokusai_ci.config.validation import CONTROL, escape_control
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.faces.github import check_within_workspace
from tests.conftest import register_args, run_here
from tests.servers import MlflowServer
from tests.test_action_entrypoint import parse_outputs, run_entry, runner
from tests.test_signing import keypair

__all__ = ["runner"]  # the Action's fake runner fixture, shared with the entrypoint tests


def refused(env: dict[str, str], field: str) -> str:
    """Run the Action; it must exit 2 naming `field`, register nothing and report the error."""
    proc = run_entry(env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith(f"::error title=Invalid Input::{field}="), proc.stdout
    outputs = parse_outputs(Path(env["GITHUB_OUTPUT"]))
    assert outputs["status"] == "error" and outputs["error-category"] == "invalid_input"
    Path(env["GITHUB_OUTPUT"]).unlink()
    return errors[0]


def test_path_inputs_outside_the_workspace_are_refused(runner: dict[str, str], tmp_path: Path) -> None:
    workspace = Path(runner["GITHUB_WORKSPACE"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.bin").write_bytes(b"x" * 64)
    (outside / "metrics.json").write_text('{"auroc": 0.9}')
    (workspace / "escape").symlink_to(outside)

    for value in ("../../../../../etc/passwd", "/etc/passwd", "escape/model.bin", str(outside / "model.bin")):
        runner["INPUT_MODEL-PATH"] = value
        line = refused(runner, "model-path")
        assert f"model-path={value!r} is invalid: resolves to" in line
        assert f"outside the workspace {str(workspace.resolve())!r}" in line and "`allowed-folder` input" in line

    runner["INPUT_MODEL-PATH"] = "models/model.pkl"
    runner["INPUT_METRIC-VALUE"] = ""
    runner["INPUT_METRICS-FILE"] = str(outside / "metrics.json")
    refused(runner, "metrics-file")

    # one folder outside, named explicitly: its files are accepted, nothing else is
    runner["INPUT_ALLOWED-FOLDER"] = str(outside)
    runner["INPUT_MODEL-PATH"] = str(outside / "model.bin")
    ok = run_entry(runner)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert parse_outputs(Path(runner["GITHUB_OUTPUT"]))["status"] == "registered"
    Path(runner["GITHUB_OUTPUT"]).unlink()
    runner["INPUT_TOKEN-ID"] = "XRAY2"
    runner["INPUT_MODEL-PATH"] = "/etc/passwd"
    refused(runner, "model-path")
    runner["INPUT_ALLOWED-FOLDER"] = "/"
    refused(runner, "allowed-folder")


def test_ci_variables_with_line_breaks_are_escaped_in_every_tag(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """A workflow name is the CI user's text: `wf⏎::warning::INJECTED` must not put a line break
    into MLflow tags (or the statement signed from them), which logs and UIs print."""
    private, public = keypair(tmp_path)
    ci = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKFLOW": "wf\n::warning::INJECTED",
        "GITHUB_REPOSITORY": "acme/model\r\n::error::x",
        "GITHUB_REF": "refs/heads/main\u2028x",
        "GITHUB_SHA": "a" * 40,
    }
    run_here("token", "create", "--token-id", "CIESC")
    args = register_args("CIESC", model_file, "accuracy", "0.80", "0.85")
    r = run_here(*args, "--mlflow-uri", mlflow_server.url, "--sign-key", str(private), "--output", "json", env=ci)
    assert r.code == 0, r.out + r.err
    c = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    version = c.get_model_version("hokusai-CIESC", "1").tags
    run = c.get_run(r.json()["mlflow_run_id"]).data.tags
    for tags in (version, run):
        assert not [k for k, v in tags.items() if CONTROL.search(v)], tags
        assert tags["hokusai.workflow"] == "wf\\u000a::warning::INJECTED"
        assert tags["hokusai.repository"] == "acme/model\\u000d\\u000a::error::x"
        assert tags["hokusai.ref"] == "refs/heads/main\\u2028x"
    v = run_here("model", "verify", "--model-uri", "models:/hokusai-CIESC/1", "--public-key", str(public),
                "--mlflow-uri", mlflow_server.url, "--output", "json")  # fmt: skip
    assert v.code == 0, v.out + v.err
    assert v.json()["predicate"]["ci"]["workflow"] == "wf\\u000a::warning::INJECTED"
    assert "\n::warning::" not in json.dumps(v.json()) + r.out


@given(st.text())
def test_escaped_text_has_no_control_character_and_keeps_the_rest(text: str) -> None:
    escaped = escape_control(text)
    assert CONTROL.search(escaped) is None
    assert (escaped == text) == (CONTROL.search(text) is None)


SEGMENTS = st.lists(st.sampled_from(["..", ".", "models", "escape", "model.pkl", "etc", "passwd", ""]), max_size=8)


@given(parts=SEGMENTS, absolute=st.booleans())
def test_no_accepted_path_resolves_outside_the_workspace(tmp_path_factory: pytest.TempPathFactory,
                                                         parts: list[str], absolute: bool) -> None:  # fmt: skip
    """Whatever `..`, `.` and links a path input combines, an accepted one resolves inside."""
    root = tmp_path_factory.mktemp("ws")
    workspace = root / "workspace"
    (workspace / "models").mkdir(parents=True)
    (workspace / "escape").symlink_to(root)
    value = ("/" if absolute else "") + "/".join(parts) or "."
    full = value if absolute else str(workspace / value)
    try:
        check_within_workspace({"model-path": full}, {"model-path": value}, workspace)
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT and err.field == "model-path"
        assert not Path(full).resolve().is_relative_to(workspace.resolve()) or not value.strip()
        return
    assert Path(full).resolve().is_relative_to(workspace.resolve())
