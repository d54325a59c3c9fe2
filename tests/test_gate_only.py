"""The gate-only path a pull request runs: inputs and the metric checked, no token store, no
MLflow, no secret, nothing written; the CLI command and the Action input."""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from tests.conftest import register_args, run_here
from tests.test_action_entrypoint import parse_outputs, run_entry, runner  # noqa: F401 (fixture)

NOT_CHECKED = "the token was not checked and nothing was uploaded or written"


def test_gate_passes_without_any_store_and_writes_nothing(model_file: Path, tmp_path: Path) -> None:
    # a database mode pointing at nothing reachable: the gate must not try it
    env = {"HOKUSAI_DB_HOST": "127.0.0.1", "HOKUSAI_DB_PORT": "9", "HOKUSAI_DB_PASSWORD": "unused"}
    r = run_here(
        *register_args("XRAY", model_file, "mse", "0.12", "0.10", command="gate"),
        "--output",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    out = r.json()
    assert (out["status"], out["mode"], out["token_id"]) == ("gate_only", "gate-only", "XRAY")
    assert out["metric"]["passed"] is True and out["metric"]["direction"] == "lower"
    assert NOT_CHECKED in out["message"]
    assert out["model_version"] is None and out["events"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl"]  # no store, no .hokusai
    text = run_here(*register_args("XRAY", model_file, "mse", "0.12", "0.10", command="gate"), cwd=tmp_path)
    assert text.out.startswith(f"Gate passed for token XRAY (gate only: {NOT_CHECKED})")


def test_gate_failure_is_exit_6_and_says_nothing_was_checked(model_file: Path, tmp_path: Path) -> None:
    r = run_here(
        *register_args("XRAY", model_file, "mse", "0.12", "0.2", command="gate"), "--output", "json", cwd=tmp_path
    )
    assert r.code == 6
    assert r.json()["error"]["category"] == "performance_below_baseline"
    assert NOT_CHECKED in r.err.strip().splitlines()[-1]
    bad = run_here(*register_args("XRAY", tmp_path / "missing.pkl", "mse", "0.12", "0.1", command="gate"), cwd=tmp_path)
    assert bad.code == 2 and "model-path=" in bad.err


def test_gate_for_api_mode_applies_the_platform_rules(model_file: Path, tmp_path: Path) -> None:
    """A pull request sees what the platform would answer the registration on main: here an
    improved error metric, which passes the gate but the platform refuses (value < baseline)."""
    api = {"HOKUSAI_MODE": "api", "HOKUSAI_WEBHOOK_TIMEOUT": "not read by the gate"}
    r = run_here(
        *register_args("XRAY", model_file, "mse", "0.12", "0.10", command="gate"),
        "--output",
        "json",
        env=api,
        cwd=tmp_path,
    )
    assert r.code == 10, r.err
    assert r.json()["error"]["category"] == "platform_rejected" and r.json()["metric"]["passed"] is True
    assert "the Hokusai platform would refuse this result" in r.err and NOT_CHECKED in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl"]
    ok = run_here(
        *register_args("XRAY", model_file, "mse", "0.12", "0.12", command="gate"), env=api, cwd=tmp_path
    )  # equal: both accept it
    assert ok.code == 0, ok.err


def test_action_gate_only_with_no_secret_and_no_store(runner: dict[str, str]) -> None:  # noqa: F811
    runner.pop("HOKUSAI_MOCK_MODE")  # a real run, as on a fork's pull request: nothing configured
    runner |= {"INPUT_GATE-ONLY": "true", "INPUT_METRIC": "mse", "INPUT_BASELINE": "0.12", "INPUT_METRIC-VALUE": "0.1"}
    proc = run_entry(runner)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert (outputs["status"], outputs["passed"], outputs["model-version"]) == ("gate_only", "true", "")
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Gate passed for token XRAY" in summary and "**not checked**" in summary
    assert not Path(runner["RUNNER_TEMP"], "hokusai").exists()  # no embedded store was created
    runner["INPUT_METRIC-VALUE"] = "0.2"
    proc = run_entry(runner)
    assert proc.returncode == 6
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "❌ Gate failed for token XRAY" in summary and "❌ below baseline" in summary


def test_action_boolean_inputs_are_strict(runner: dict[str, str]) -> None:  # noqa: F811
    for name, word in (("JOB-SUMMARY", "nope"), ("DRY-RUN", "treu"), ("GATE-ONLY", "yes please")):
        env = {**runner, f"INPUT_{name}": word}
        proc = run_entry(env)
        assert proc.returncode == 2, name
        assert f"::error title=Invalid Input::{name.lower()}='{word}' is invalid: use true or false" in proc.stdout


def test_summary_model_uri_renders_as_the_real_uri(runner: dict[str, str]) -> None:  # noqa: F811
    runner["INPUT_TOKEN-ID"] = "ACT-X_R.AY"
    assert run_entry(runner).returncode == 0
    html = MarkdownIt("commonmark").enable("table").render(Path(runner["GITHUB_STEP_SUMMARY"]).read_text())
    assert "<code>models:/hokusai-ACT-X_R.AY/1</code>" in html
