"""The first errors a new user meets: each names what was typed or what is missing and how to
fix it, exits 2 before anything is written, and reads the same through every face (the Action
entry point, the container's CLI, the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, docs_text, register_args, run_here
from tests.test_action_entrypoint import parse_outputs, run_entry, runner  # noqa: F401 (fixture)


# -- no API key in CI ---------------------------------------------------------------------------
def test_the_action_without_an_api_key_says_the_secret_is_missing(runner: dict[str, str]) -> None:  # noqa: F811
    """The README workflow with the secret not set: a fresh runner, no key, no database. Not
    "Token Not Found" and `token create` (which cannot help on a runner): the missing secret."""
    del runner["HOKUSAI_MOCK_MODE"]
    proc = run_entry(runner)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = next(line for line in proc.stdout.splitlines() if line.startswith("::error"))
    assert error.startswith("::error title=Invalid Input::HOKUSAI_API_KEY is missing: no Hokusai API key or database")
    assert "secrets.HOKUSAI_API_KEY" in error and "token create" not in proc.stdout + proc.stderr
    assert parse_outputs(Path(runner["GITHUB_OUTPUT"]))["error-category"] == "invalid_input"
    runner["HOKUSAI_MODE"] = "local"  # the embedded store on purpose: the old answer, honestly
    assert run_entry(runner).returncode == 3


def test_the_container_in_ci_without_an_api_key_says_the_secret_is_missing(model_file: Path, tmp_path: Path) -> None:
    """`docker run -e HOKUSAI_API_KEY IMAGE model register …` with the variable unset in the job:
    the image's entry point, CI=true."""
    args = register_args("XRAY", model_file, "auroc", "0.8", "0.9")
    proc = subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py"), *args],
        env={**_clean_env(), "CI": "true", "HOKUSAI_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "HOKUSAI_API_KEY is missing" in proc.stderr and "-e HOKUSAI_API_KEY" in proc.stderr
    assert "token create" not in proc.stderr and not (tmp_path / "home").exists()
    outside_ci = run_here(*args, cwd=tmp_path)  # a laptop: the local store, as documented
    assert outside_ci.code == 3 and "token create" in outside_ci.err


def test_the_container_keeps_the_api_mode_store_out_of_the_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    from hokusai_ci.config.settings import load_settings

    monkeypatch.delenv("HOKUSAI_HOME")
    env = {"HOKUSAI_API_KEY": "hk_test_" + "k" * 24, "HOKUSAI_CONTAINER": "true"}
    home = load_settings({}, env).home
    assert home.is_absolute() and home.name == "hokusai" and not str(home).startswith(str(Path.cwd()))
    assert str(load_settings({}, {**env, "HOKUSAI_HOME": "/srv/h"}).home) == "/srv/h"  # set: kept
    assert str(load_settings({}, {k: v for k, v in env.items() if k != "HOKUSAI_CONTAINER"}).home) == ".hokusai"


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "HOKUSAI_", "GITHUB_"))}


# -- optional features checked in preflight -----------------------------------------------------
# The CLI in a process where a module cannot be imported, as in an installation without its extra.
_WITHOUT = "import sys; sys.modules[{module!r}] = None\nfrom hokusai_ci.faces.cli import main; main(sys.argv[1:])"


def test_signing_without_the_sign_extra_is_refused_before_the_upload(model_file: Path, tmp_path: Path) -> None:
    """model_signing made unimportable, as in an installation without the extra."""
    assert run_here("token", "create", "--token-id", "SIGNX").code == 0
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN EC PRIVATE KEY-----\nnot read\n-----END EC PRIVATE KEY-----\n")
    code = _WITHOUT.format(module="model_signing")
    args = [*register_args("SIGNX", model_file, "auroc", "0.8", "0.9"), "--sign-key", str(key)]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "sign='key' is invalid: this installation lacks the 'sign' extra (model_signing is not installed)" in (
        proc.stderr
    )
    assert "pip install '.[sign]'" in proc.stderr
    assert run_here("model", "status", "--token-id", "SIGNX", "--output", "json").json()["status"] == "draft"
    assert not (tmp_path / "home" / "mlruns").exists()  # nothing uploaded


# -- one mode decision --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env",
    [
        {"HOKUSAI_DB_HOST": "127.0.0.1", "HOKUSAI_DB_PORT": "9"},
        {"HOKUSAI_MOCK_MODE": "true"},
        {"HOKUSAI_DB_CONFIG": "/nonexistent/db.yaml"},
    ],
)
def test_gate_decides_the_mode_as_register_does(env: dict[str, str], model_file: Path, tmp_path: Path) -> None:
    """An API key with a database (or mock mode): register runs in that mode and never asks the
    platform, so the gate applies only the baseline (an improved mse passes)."""
    env = {**env, "HOKUSAI_API_KEY": "hk_test_" + "k" * 24}
    args = ["model", "gate", "--token-id", "XRAY", "--model-path", str(model_file), "--metric", "mse"]
    r = run_here(*args, "--baseline", "0.12", "--metric-value", "0.10", "--output", "json", env=env, cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.json()["status"] == "gate_only"
    forced = run_here(*args, "--baseline", "0.12", "--metric-value", "0.10", env={**env, "HOKUSAI_MODE": "api"})
    assert forced.code == 10, forced.err  # API mode stated: the platform's rules


# -- what the user typed ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typo", "meant"),
    [("--verison", "--version"), ("-V", "--version"), ("-v", "--version"), ("--hlep", "--help")],
)
def test_top_level_typos_are_named(typo: str, meant: str) -> None:
    code, _, err = run_here(typo)
    assert code == 2
    assert err.strip() == f"error: Invalid Input: unknown option {typo} for `hokusai`; did you mean {meant}?"
    code, _, err = run_here("model", "--hlep")
    assert code == 2 and "unknown option --hlep for `hokusai model`; did you mean --help?" in err
    code, _, err = run_here("--version=1")
    assert code == 2 and "--version takes no value: write --version alone" in err


def test_an_option_without_its_value_is_named_as_typed() -> None:
    code, _, err = run_here("model", "register", "--token-id", "X", "--metric-value")
    assert code == 2 and "None" not in err
    assert "--metric-value is given without a value: write --metric-value VALUE" in err
    code, _, err = run_here("model", "register", "--metric-value", "--token-id", "X")
    assert "metric-value='--token-id' is invalid: write --metric-value VALUE" in err


def test_a_bad_log_level_names_the_option_or_the_variable() -> None:
    code, _, err = run_here("model", "status", "--token-id", "X", "--log-level", "verbose")
    assert code == 2 and "log-level='verbose' is invalid: use one of DEBUG" in err and "HOKUSAI_LOG_LEVEL" not in err
    r = run_here("model", "status", "--token-id", "X", env={"HOKUSAI_LOG_LEVEL": "verbose"})
    assert r.code == 2 and "HOKUSAI_LOG_LEVEL='verbose' is invalid" in r.err


def test_a_token_left_registering_names_the_command_that_frees_it(model_file: Path, tmp_path: Path) -> None:
    """A job killed mid-run leaves its claim; the message names the command, and that command,
    run as printed, frees the token."""
    from hokusai_ci.adapters.sql_store import SqlTokenStore

    assert run_here("token", "create", "--token-id", "KILLED").code == 0
    store = SqlTokenStore.sqlite(tmp_path / "home" / "hokusai.db")
    assert store.claim("KILLED", "killed-job", 3600)
    store.close()
    blocked = run_here(*register_args("KILLED", model_file, "auroc", "0.8", "0.9"))
    assert blocked.code == 4, blocked.err
    command = "hokusai token release --token-id KILLED --force"
    assert f"if that run was killed, `{command}` frees the token now" in blocked.err
    assert run_here(*command.split()[1:]).code == 0
    assert run_here(*register_args("KILLED", model_file, "auroc", "0.8", "0.9")).code == 0


# -- nothing typed means nothing silently -------------------------------------------------------
@pytest.fixture
def mock_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("--model-name", "model-name=''"),
        ("--db-config", "db-config=''"),
        ("--mlflow-uri", "mlflow-uri=''"),
        ("--dotenv-report", "dotenv-report=''"),
    ],
)
def test_an_explicit_empty_value_is_refused_not_the_default(
    option: str, named: str, model_file: Path, mock_mode: None
) -> None:
    args = [*register_args("EMPTY", model_file, "auroc", "0.8", "0.9"), option, "", "--output", "json"]
    code, out, err = run_here(*args)
    assert code == 2, err
    assert f"{named} is invalid" in err and "leave" in err
    assert '"model_version": null' in out or '"status": "error"' in out  # nothing registered


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HOKUSAI_MODE", "mock\n"), ("HOKUSAI_MOCK_MODE", "true\n"), ("HOKUSAI_LOG_LEVEL", "INFO\r\n")],
)
def test_a_trailing_line_break_in_a_setting_is_refused(variable: str, value: str, model_file: Path) -> None:
    r = run_here(*register_args("CRLF", model_file, "auroc", "0.8", "0.9"), env={variable: value})
    assert r.code == 2, r.err
    assert f"{variable}=" in r.err and "control character U+000" in r.err


def test_a_trailing_line_break_in_a_flag_value_is_refused(model_file: Path, mock_mode: None) -> None:
    r = run_here(*register_args("CRLF", model_file, "auroc", "0.8", "0.9"), "--dry-run=true\n")
    assert r.code == 2 and "dry-run='true\\n' is invalid" in r.err, r.err


def test_a_db_config_with_both_url_and_host_is_refused(tmp_path: Path, model_file: Path) -> None:
    config = tmp_path / "db.json"
    config.write_text('{"url": "sqlite:///%s", "host": "db.example.com"}' % (tmp_path / "t.db"))
    r = run_here("token", "create", "--token-id", "BOTH", "--db-config", str(config))
    assert r.code == 2, r.err
    assert "db-config url is invalid (value not shown): the url names the database and host (db-config) too" in r.err
    assert not (tmp_path / "t.db").exists()
    config.write_text('{"url": "sqlite:///%s", "username": "me"}' % (tmp_path / "t.db"))
    r = run_here("token", "create", "--token-id", "BOTH", "--db-config", str(config))
    assert r.code == 2 and "username (db-config)" in r.err, r.err
    config.write_text('{"url": "sqlite:///%s"}' % (tmp_path / "t.db"))
    r = run_here("token", "create", "--token-id", "BOTH", "--db-config", str(config), env={"HOKUSAI_DB_HOST": "db"})
    assert r.code == 2 and "host (HOKUSAI_DB_HOST)" in r.err, r.err


def test_a_sqlite_url_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "db.json"
    config.write_text('{"url": "sqlite:///%s"}' % (tmp_path / "typo" / "deeper" / "t.db"))
    r = run_here("token", "create", "--token-id", "SQL", "--db-config", str(config))
    assert r.code == 2, r.err
    assert f"the folder {str(tmp_path / 'typo' / 'deeper')!r} does not exist; create it first" in r.err
    assert not (tmp_path / "typo").exists()
    (tmp_path / "typo" / "deeper").mkdir(parents=True)
    assert run_here("token", "create", "--token-id", "SQL", "--db-config", str(config)).code == 0


def test_a_report_target_that_opens_but_cannot_be_written_is_refused_first(model_file: Path, tmp_path: Path) -> None:
    assert run_here("token", "create", "--token-id", "FULL").code == 0
    r = run_here(*register_args("FULL", model_file, "auroc", "0.8", "0.9"), "--dotenv-report", "/dev/full")
    assert r.code == 2, r.err
    assert "dotenv-report='/dev/full' is invalid: is a device, not a file" in r.err
    assert run_here("model", "status", "--token-id", "FULL", "--output", "json").json()["status"] == "draft"
    ok = run_here(*register_args("FULL", model_file, "auroc", "0.8", "0.9"), "--dotenv-report", "/dev/null")
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("baseline", ["5e-324", "1e-320"])
def test_an_overflowing_relative_delta_is_refused(baseline: str, model_file: Path, mock_mode: None) -> None:
    r = run_here(*register_args("TINY", model_file, "loss_gain", baseline, "1e10"), "--direction", "higher")
    assert r.code == 2, r.err
    assert f"baseline={float(baseline)!r} is too close to zero" in r.err
    zero = run_here(*register_args("TINY", model_file, "r2", "0", "0.5"), "--output", "json")
    assert zero.code == 0 and zero.json()["metric"]["relative_delta"] is None  # no baseline to compare: none


# -- the Action's log and job summary -----------------------------------------------------------
def test_action_log_lines_show_a_percent_as_printed(runner: dict[str, str]) -> None:  # noqa: F811
    """Plain lines are escaped only as the runner needs (CR, LF); workflow commands keep `%25`."""
    proc = run_entry(runner)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plain = [line for line in proc.stdout.splitlines() if not line.startswith("::")]
    assert any("delta +0.03 (+3.66%)" in line for line in plain), proc.stdout
    assert "%25" not in "\n".join(plain)
    runner["INPUT_METRIC-VALUE"], runner["INPUT_TOKEN-ID"] = "0.80", "BELOW"
    failed = run_entry(runner)
    error = next(line for line in failed.stdout.splitlines() if line.startswith("::error"))
    assert "delta -0.02, -2.44%25)" in error, failed.stdout  # a workflow command's data stays escaped


def _rendered(env: dict[str, str]) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(Path(env["GITHUB_STEP_SUMMARY"]).read_text())


def test_the_summary_has_no_empty_table_header(runner: dict[str, str]) -> None:  # noqa: F811
    assert run_entry(runner).returncode == 0
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "| | |" not in summary and "<th></th>" not in _rendered(runner)
    assert "- **Model URI**: `models:/hokusai-XRAY/1`" in summary and "- **Mode**: mock" in summary


def test_a_gate_only_input_error_is_not_headed_gate_failed(runner: dict[str, str]) -> None:  # noqa: F811
    runner["INPUT_GATE-ONLY"], runner["INPUT_METRIC-VALUE"] = "true", "high"
    proc = run_entry(runner)
    assert proc.returncode == 2
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "### ❌ Gate not run for token XRAY: an input was refused" in summary and "Gate failed" not in summary
    runner["INPUT_BASELINE"] = ""  # refused before the gate-only path starts: still the gate's report
    assert run_entry(runner).returncode == 2
    assert Path(runner["GITHUB_STEP_SUMMARY"]).read_text().count("Gate not run for token XRAY") == 2


def test_a_platform_refusal_in_a_pull_request_gate_reads_as_one(runner: dict[str, str]) -> None:  # noqa: F811
    """An improved mse meets the baseline and the platform refuses it (value below baseline)."""
    del runner["HOKUSAI_MOCK_MODE"]
    runner.update({"HOKUSAI_MODE": "api", "INPUT_GATE-ONLY": "true", "INPUT_METRIC": "mse"})
    runner.update({"INPUT_BASELINE": "0.12", "INPUT_METRIC-VALUE": "0.10"})
    assert run_entry(runner).returncode == 10
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "### ❌ Gate failed for token XRAY: the Hokusai platform would refuse this result" in summary
    assert "| ✅ passed |" not in summary and "meets the baseline; ❌ the platform's rules" in summary
    assert summary.count("not checked") == 1, summary  # the gate-only sentence, once


def test_the_action_declares_every_status_it_reports() -> None:
    import typing

    import yaml

    from hokusai_ci.domain.results import RegistrationResult

    declared = yaml.safe_load((REPO / "action.yml").read_text())["outputs"]["status"]["description"]
    statuses = typing.get_args(RegistrationResult.model_fields["status"].annotation)
    assert statuses and all(s in declared.replace(",", " ").split() for s in statuses), declared


# -- the README as printed ----------------------------------------------------------------------
def test_the_readme_names_one_repository_and_installable_extras() -> None:
    import re

    readme = docs_text()
    repos = set(re.findall(r"git\+https://github\.com/([\w.-]+/[\w.-]+)", readme))
    repos |= set(re.findall(r"uses: ([\w.-]+/[\w.-]+)@v1", readme))
    assert repos == {"hokusai/register-model"}, repos
    assert not re.search(r"pip install ['\"]hokusai-ci\[[\w,]+\]['\"]", readme)  # not on PyPI: fails as printed


def test_a_failed_python_api_call_carries_its_result_as_documented(model_file: Path) -> None:
    from hokusai_ci.api import ModelRegistry
    from hokusai_ci.domain.errors import HokusaiError
    from hokusai_ci.domain.results import RegistrationResult

    assert "`.result` (what was known when it failed" in docs_text()
    registry = ModelRegistry()
    registry.create_token("PYAPI")
    with pytest.raises(HokusaiError) as failed:
        registry.register_model(
            token_id="PYAPI", model_path=str(model_file), metric_name="auroc", metric_value=0.5, baseline_value=0.82
        )
    assert isinstance(failed.value.result, RegistrationResult) and failed.value.result.metric is not None
    assert not hasattr(failed.value, "details")  # no dict rides inside the exception


def test_s3_without_the_s3_extra_is_refused_before_a_run_is_created(
    stack: tuple[Any, Any],
    s3_env: dict[str, str],
    model_file: Path,
) -> None:
    """A real MLflow server whose artifact root is a bucket it does not proxy; boto3 made
    unimportable, as in an installation without the extra."""
    import requests

    mlflow = stack[0]
    assert run_here("token", "create", "--token-id", "S3FIRST").code == 0
    first = run_here(*register_args("S3FIRST", model_file, "accuracy", "0.8", "0.85"), "--mlflow-uri", mlflow.url)
    assert first.code == 0, first.err  # the experiment exists now, its artifact root in the bucket

    def runs() -> int:
        found = requests.post(f"{mlflow.url}/api/2.0/mlflow/runs/search", json={"experiment_ids": ["1"]})
        return len(found.json().get("runs", []))

    before = runs()
    assert run_here("token", "create", "--token-id", "S3NOEXTRA").code == 0
    args = [*register_args("S3NOEXTRA", model_file, "accuracy", "0.8", "0.85"), "--mlflow-uri", mlflow.url]
    code = _WITHOUT.format(module="boto3")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "s3='s3://" in proc.stderr and "lacks the 's3' extra (boto3 is not installed)" in proc.stderr
    assert "pip install '.[s3]'" in proc.stderr
    assert runs() == before  # no run, nothing uploaded
    assert run_here("model", "status", "--token-id", "S3NOEXTRA", "--output", "json").json()["status"] == "draft"


def test_a_postgresql_store_without_the_postgres_extra_is_refused_before_anything_is_written(
    model_file: Path, tmp_path: Path
) -> None:
    """psycopg made unimportable, as in an installation without the extra: a bad input naming the
    extra to install (exit 2), not an unreachable server (exit 7)."""
    config = tmp_path / "db.json"
    config.write_text('{"url": "postgresql://u@127.0.0.1:9/hokusai"}')
    code = _WITHOUT.format(module="psycopg")
    args = [*register_args("PGX", model_file, "auroc", "0.8", "0.9"), "--db-config", str(config), "--output", "json"]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "lacks the 'postgres' extra (psycopg is not installed)" in proc.stderr
    assert "pip install '.[postgres]'" in proc.stderr
    assert json.loads(proc.stdout)["error"]["category"] == "invalid_input"
    assert not (tmp_path / "home" / "mlruns").exists()  # nothing uploaded
