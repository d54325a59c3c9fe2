"""The Action's entrypoint under a fake runner environment (INPUT_*, output and summary files),
run as the runner runs it: `python entrypoint.py` in a child process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, register_args, run_cli


def parse_outputs(path: Path) -> dict[str, str]:
    text = path.read_text()
    found: dict[str, str] = {}
    for m in re.finditer(r"^([\w-]+)<<(ghadelimiter_[0-9a-f-]+)\n(.*?)\n\2$", text, re.S | re.M):
        found[m.group(1)] = m.group(3)
    return found


def unescape(data: str) -> str:
    """What the runner reads from workflow-command data."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@pytest.fixture
def runner(tmp_path: Path) -> dict[str, str]:
    workspace = tmp_path / "workspace"
    commands = tmp_path / "file_commands"
    workspace.mkdir()
    commands.mkdir()
    (workspace / "models").mkdir()
    (workspace / "models" / "model.pkl").write_bytes(b"weights" * 100)
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(commands / "set_output"),
        "GITHUB_STEP_SUMMARY": str(commands / "step_summary"),
        "RUNNER_TEMP": str(tmp_path / "runner_temp"),
        "HOKUSAI_MOCK_MODE": "true",
        # every declared input is set, empty when not given
        **{
            f"INPUT_{n}": ""
            for n in (
                "METRIC-VALUE",
                "METRICS-FILE",
                "MLFLOW-URI",
                "DB-CONFIG",
                "WEBHOOK-URL",
                "MODEL-NAME",
                "DRY-RUN",
                "API-KEY",
                "WEBHOOK-SECRET",
                "API-URL",
            )
        },
        "INPUT_JOB-SUMMARY": "true",
        "INPUT_TOKEN-ID": "XRAY",
        "INPUT_MODEL-PATH": "models/model.pkl",
        "INPUT_METRIC": "auroc",
        "INPUT_BASELINE": "0.82",
        "INPUT_METRIC-VALUE": "0.85",
    }


def run_entry(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    return subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        cwd=cwd or "/",
        timeout=120,
    )


def test_success_writes_every_output_and_a_summary(runner: dict[str, str]) -> None:
    proc = run_entry(runner)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert set(outputs) == {
        "status",
        "token-id",
        "model-name",
        "model-version",
        "model-uri",
        "run-id",
        "metric",
        "metric-value",
        "baseline",
        "metric-bound",
        "metric-basis",
        "delta",
        "passed",
        "model-sha256",
        "attestation-path",
        "attestation-sha256",
        "error-category",
        "result-json",
    }
    assert outputs["status"] == "registered" and outputs["passed"] == "true" and outputs["delta"] == "0.03"
    assert outputs["error-category"] == ""
    assert outputs["attestation-path"] == outputs["attestation-sha256"] == ""  # signing is off by default
    assert json.loads(outputs["result-json"])["model_uri"] == outputs["model-uri"] == "models:/hokusai-XRAY/1"
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Registered hokusai\\-XRAY version 1 for token XRAY (simulated)" in summary
    assert "| auroc | 0.85 | 0.82 | higher | +0.03 (+3.66%) | ✅ passed |" in summary
    assert "::group::Register model" in proc.stdout and "::endgroup::" in proc.stdout
    workspace = Path(runner["GITHUB_WORKSPACE"])
    assert sorted(p.name for p in workspace.iterdir()) == ["models"]  # nothing left in the workspace


def test_missing_required_input_fails_with_a_titled_annotation(runner: dict[str, str]) -> None:
    runner["INPUT_BASELINE"] = ""
    proc = run_entry(runner)
    assert proc.returncode == 2
    assert "::error title=Invalid Input::baseline='' is invalid: input 'baseline' is required" in proc.stdout
    assert proc.stdout.count("::error") == 1
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert outputs["status"] == "error" and outputs["error-category"] == "invalid_input"
    assert "input 'baseline' is required" in Path(runner["GITHUB_STEP_SUMMARY"]).read_text()


def test_gate_failure_reports_cause_in_outputs_and_summary(runner: dict[str, str]) -> None:
    runner["INPUT_METRIC-VALUE"] = "0.80"
    proc = run_entry(runner)
    assert proc.returncode == 6
    assert "::error title=Performance Below Baseline::" in proc.stdout
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert (outputs["status"], outputs["passed"], outputs["error-category"]) == (
        "error",
        "false",
        "performance_below_baseline",
    )
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "❌ below baseline" in summary and "Performance Below Baseline" in summary


def test_secrets_are_masked_first_and_never_written(runner: dict[str, str]) -> None:
    runner["INPUT_API-KEY"] = "hk_test_supersecretvalue1"
    runner["INPUT_WEBHOOK-SECRET"] = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA=="
    runner["HOKUSAI_DB_PASSWORD"] = "db-pass-Q9"
    runner["https_proxy"] = "http://relay:proxy%2Fpw-Q7@127.0.0.1:9"  # the Action's calls here are not HTTPS
    proc = run_entry(runner)
    lines = proc.stdout.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    masked = {unescape(m.split("::", 2)[2]) for m in masks}
    # each secret, plus the spellings it may take in text (percent-encoded, JSON-escaped)
    assert {"hk_test_supersecretvalue1", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA==", "db-pass-Q9"} <= masked
    assert {"proxy%2Fpw-Q7", "proxy/pw-Q7"} <= masked  # a proxy's password, as written and decoded
    assert "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA%3D%3D" in masked
    assert lines[: len(masks)] == masks  # before anything else is printed
    written = Path(runner["GITHUB_OUTPUT"]).read_text() + Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    for secret in ("hk_test_supersecretvalue1", "c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA==", "db-pass-Q9"):
        assert secret not in written
        assert secret not in "\n".join(lines[len(masks) :]) + proc.stderr


def test_user_strings_are_escaped_in_the_summary(runner: dict[str, str]) -> None:
    runner["INPUT_TOKEN-ID"] = "<img src=x onerror=alert(1)>[link](http://evil)"
    proc = run_entry(runner)
    assert proc.returncode == 2
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "<img" not in summary and "](http" not in summary
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in summary
    # the annotation cannot be broken into a second workflow command
    runner["INPUT_TOKEN-ID"] = "x\n::error::forged"
    proc = run_entry(runner)
    assert [line for line in proc.stdout.splitlines() if line.startswith("::")][-1].startswith("::error title=")
    assert len([line for line in proc.stdout.splitlines() if line.startswith("::error")]) == 1


def test_workflow_command_escaping() -> None:
    from hokusai_ci.faces.github_report import command_escape, property_escape

    assert command_escape("50%\r\n::error::x") == "50%25%0D%0A::error::x"
    assert property_escape("a:b,c") == "a%3Ab%2Cc"


def test_job_summary_can_be_switched_off_and_debug_follows_runner_debug(runner: dict[str, str]) -> None:
    runner["INPUT_JOB-SUMMARY"] = "false"
    runner["RUNNER_DEBUG"] = "1"
    proc = run_entry(runner)
    assert proc.returncode == 0
    assert not Path(runner["GITHUB_STEP_SUMMARY"]).exists()
    assert " DEBUG " in proc.stderr or " INFO hokusai_ci" in proc.stderr


def test_entrypoint_runs_the_cli_or_any_command(tmp_path: Path) -> None:
    env = {"GITHUB_ACTIONS": ""}
    help_ = run_entry(env, "model", "register", "--help")
    assert "--token-id" in help_.stdout
    other = run_entry(env, "sh", "-c", "echo ran-$((1+1))")
    assert other.returncode == 0 and other.stdout.strip() == "ran-2"
    bare = run_entry(env)
    assert "model" in bare.stdout + bare.stderr and bare.returncode == 0


def test_dotenv_report_for_gitlab(model_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "hokusai.env"
    env = {"HOKUSAI_MOCK_MODE": "true"}
    ok = run_cli(
        *register_args("GL", str(model_file), "f1", "0.5", "0.75"),
        "--dotenv-report",
        str(report),
        env=env,
    )
    assert ok.code == 0
    lines = dict(line.split("=", 1) for line in report.read_text().splitlines())
    assert lines["HOKUSAI_STATUS"] == "registered" and lines["HOKUSAI_MODEL_VERSION"] == "1"
    assert lines["HOKUSAI_DELTA"] == "0.25" and lines["HOKUSAI_ERROR_CATEGORY"] == ""
    bad = run_cli(
        *register_args("GL2", str(model_file), "f1", "0.5", "0.25"),
        "--dotenv-report",
        str(report),
        env=env,
    )
    assert bad.code == 6
    lines = dict(line.split("=", 1) for line in report.read_text().splitlines())
    assert lines["HOKUSAI_STATUS"] == "error" and lines["HOKUSAI_ERROR_CATEGORY"] == "performance_below_baseline"


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1).filter(lambda s: " ".join(s.split())))
def test_code_spans_in_the_summary_are_literal(value: str) -> None:
    """What a reader copies from a summary table cell is the value itself (whitespace folded;
    control characters never reach a summary: ids and names refuse them)."""
    from markdown_it import MarkdownIt

    from hokusai_ci.faces.github_report import code_span

    html = MarkdownIt("commonmark").enable("table").render(f"| a | b |\n|---|---|\n| x | {code_span(value)} |\n")
    expected = " ".join(value.split())
    found = re.search(r"<td><code>(.*?)</code></td>", html, re.S)
    assert found is not None, html
    import html as html_lib

    assert html_lib.unescape(found.group(1)) == expected


def test_a_multi_line_secret_is_masked_line_by_line(runner: dict[str, str]) -> None:
    """Every line is masked before anything else is printed, even for a secret that is then
    refused (a webhook secret with a line break is a copy-paste mistake: exit 2, not shown)."""
    pem = "-----BEGIN KEY-----\ncnryPemLineOne0a1b\ncnryPemLineTwo2c3d\n-----END KEY-----"
    runner["INPUT_WEBHOOK-SECRET"] = pem
    runner["AWS_SESSION_TOKEN"] = "cnryAwsSession77\ncnryAwsSession88"
    proc = run_entry(runner)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "HOKUSAI_WEBHOOK_SECRET='(hidden)' is invalid: contains a control character" in proc.stdout
    lines = proc.stdout.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    masked = {unescape(m.removeprefix("::add-mask::")) for m in masks}
    secret_lines = ["cnryPemLineOne0a1b", "cnryPemLineTwo2c3d", "cnryAwsSession77", "cnryAwsSession88"]
    assert set(secret_lines) <= masked and lines[: len(masks)] == masks
    written = Path(runner["GITHUB_OUTPUT"]).read_text() + Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    for line in secret_lines:
        assert line not in "\n".join(lines[len(masks) :]) + proc.stderr + written


@pytest.mark.parametrize("secret", ["cnryLongFirstLine\nab", "xyz"])
def test_a_secret_that_could_not_be_masked_is_refused(runner: dict[str, str], secret: str) -> None:
    runner["INPUT_WEBHOOK-SECRET"] = secret
    proc = run_entry(runner)
    assert proc.returncode == 2
    assert (
        "::error title=Invalid Input::input 'webhook-secret' is invalid: a value or line shorter than 4" in proc.stdout
    )
    assert not [line for line in proc.stdout.splitlines() if line.startswith("::add-mask::")]
    assert "cnryLongFirstLine" not in proc.stdout + proc.stderr
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert outputs["error-category"] == "invalid_input" and "registered" not in outputs["status"]


def test_db_config_secrets_are_masked(runner: dict[str, str]) -> None:
    workspace = Path(runner["GITHUB_WORKSPACE"])
    (workspace / "db.yaml").write_text("url: postgresql://ml:cnryDbUrlPw%2F42@127.0.0.1:1/tokens\n")
    runner["INPUT_DB-CONFIG"] = "db.yaml"  # mock mode reads it and connects to nothing
    proc = run_entry(runner)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    masked = {unescape(line.removeprefix("::add-mask::")) for line in proc.stdout.splitlines() if "add-mask" in line}
    assert {"cnryDbUrlPw/42", "cnryDbUrlPw%2F42"} <= masked  # as the driver gets it, and as written in the URL
    first_other = next(i for i, line in enumerate(proc.stdout.splitlines()) if not line.startswith("::add-mask::"))
    assert "::group::" in proc.stdout.splitlines()[first_other]


def test_a_db_config_password_too_short_to_mask_is_refused(runner: dict[str, str]) -> None:
    workspace = Path(runner["GITHUB_WORKSPACE"])
    (workspace / "db.yaml").write_text("host: 127.0.0.1\npassword: q7x\n")
    runner["INPUT_DB-CONFIG"] = "db.yaml"
    proc = run_entry(runner)
    assert proc.returncode == 2
    assert "::error title=Invalid Input::db-config password is invalid: a value or line shorter than 4" in proc.stdout
    assert "q7x" not in proc.stdout + proc.stderr + Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
