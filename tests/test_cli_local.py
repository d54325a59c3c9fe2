"""The CLI as a user runs it, on the embedded defaults (SQLite store, local MLflow store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import register_args, run_here


def test_register_status_list_round_trip(model_file: Path) -> None:
    assert run_here("token", "create", "--token-id", "XRAY").code == 0
    r = run_here(*register_args("XRAY", model_file, "auroc", "0.82", "0.87"), "--output", "json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["status"] == "registered"
    assert out["model_name"] == "hokusai-XRAY"
    assert out["model_version"] == "1"
    assert out["model_uri"] == "models:/hokusai-XRAY/1"
    assert out["metric"] == {
        "name": "auroc",
        "value": 0.87,
        "baseline": 0.82,
        "direction": "higher",
        "delta": 0.05,
        "relative_delta": 0.0609756097561,
        "improvement": 0.05,
        "passed": True,
    }
    assert [e["event_type"] for e in out["events"]] == ["token_ready_for_deploy", "model_registered"]
    assert out["error"] is None
    # console sink: each event on stderr
    assert "event token_ready_for_deploy" in r.err and "event model_registered" in r.err

    status = run_here("model", "status", "--token-id", "XRAY", "--output", "json")
    assert status.code == 0
    view = status.json()
    assert view["status"] == "registered"
    assert view["mlflow_run_id"] == out["mlflow_run_id"]
    assert view["model_sha256"] == out["model_sha256"]
    assert {e["event_type"]: e["delivery_status"] for e in view["events"]} == {
        "token_ready_for_deploy": "stored",
        "model_registered": "stored",
    }
    text = run_here("model", "status", "--token-id", "XRAY")
    assert "registered" in text.out and "hokusai-XRAY version 1" in text.out

    listed = run_here("model", "list", "--output", "json").json()
    assert [t["token_id"] for t in listed] == ["XRAY"]
    table = run_here("model", "list").out.splitlines()
    assert table[0].split()[:3] == ["TOKEN", "STATUS", "MODEL"]
    assert table[1].split()[:4] == ["XRAY", "registered", "hokusai-XRAY", "1"]


def test_rerun_after_success_reports_the_existing_registration(model_file: Path) -> None:
    run_here("token", "create", "--token-id", "AGAIN")
    args = register_args("AGAIN", model_file, "auroc", "0.5", "0.6")
    assert run_here(*args).code == 0
    again = run_here(*args, "--output", "json")
    assert again.code == 4
    err = again.json()["error"]
    assert err["category"] == "invalid_token_status"
    assert "already registered: hokusai-AGAIN version 1" in err["message"]
    assert "same model content" in err["message"]
    assert len(again.err.strip().splitlines()) >= 1 and "Traceback" not in again.err
    # the result names the registration the token has, for a script that re-runs the job
    first = run_here("model", "status", "--token-id", "AGAIN", "--output", "json").json()
    shown = again.json()
    assert (shown["model_version"], shown["model_uri"]) == ("1", "models:/hokusai-AGAIN/1")
    assert shown["mlflow_run_id"] == first["mlflow_run_id"] and shown["model_sha256"] == first["model_sha256"]
    versions = json.loads(run_here("model", "list", "--output", "json").out)
    assert [v["model_version"] for v in versions] == ["1"]


def test_rerun_with_other_content_says_so(model_dir: Path, tmp_path: Path) -> None:
    run_here("token", "create", "--token-id", "AGAINDIR")
    args = register_args("AGAINDIR", model_dir, "auroc", "0.5", "0.6")
    assert run_here(*args).code == 0
    same = run_here(*args, "--output", "json")
    assert same.code == 4 and "same model content, nothing to do" in same.json()["error"]["message"]
    (model_dir / "config.json").write_text('{"layers": 3}')
    other = run_here(*args, "--output", "json")
    assert other.code == 4 and "content differs, nothing was uploaded" in other.json()["error"]["message"]


def test_below_baseline_uploads_nothing_and_keeps_draft(model_file: Path, tmp_path: Path) -> None:
    run_here("token", "create", "--token-id", "LOW")
    r = run_here(
        *register_args("LOW", str(model_file), "mse", "0.10", "0.12"),
        "--output",
        "json",
    )
    assert r.code == 6
    out = r.json()
    assert out["status"] == "error"
    assert out["error"]["category"] == "performance_below_baseline"
    assert out["metric"]["direction"] == "lower" and out["metric"]["passed"] is False
    assert out["metric"]["delta"] == 0.02 and out["metric"]["improvement"] == -0.02
    assert run_here("model", "status", "--token-id", "LOW", "--output", "json").json()["status"] == "draft"
    assert not (tmp_path / "home" / "mlruns").exists()  # nothing was uploaded


def test_dry_run_checks_everything_and_writes_nothing(model_file: Path, tmp_path: Path) -> None:
    run_here("token", "create", "--token-id", "DRY")
    r = run_here(*register_args("DRY", model_file, "auroc", "0.8", "0.9"), "--dry-run", "--output", "json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "dry_run"
    assert r.json()["model_sha256"]
    assert not (tmp_path / "home" / "mlruns").exists()
    assert run_here("model", "status", "--token-id", "DRY", "--output", "json").json()["status"] == "draft"
    # a failing gate still fails in a dry run
    low = run_here(*register_args("DRY", model_file, "auroc", "0.8", "0.7"), "--dry-run")
    assert low.code == 6


def test_directory_model_and_yaml_metrics_file(model_dir: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text("eval:\n  test:\n    f1: 0.91\n")
    run_here("token", "create", "--token-id", "DIR")
    args = register_args("DIR", model_dir, "f1", "0.9", None, metrics_file=str(metrics), metric_key="eval.test.f1")
    r = run_here(*args, "--output", "json")
    assert r.code == 0, r.err
    run_id = r.json()["mlflow_run_id"]
    artifacts = next((tmp_path / "home" / "mlruns").glob(f"*/{run_id}/artifacts/model"))
    uploaded = sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*") if p.is_file())
    assert uploaded == ["config.json", "shards/00001.bin", "shards/00002.bin"]
    assert (artifacts / "shards/00001.bin").read_bytes() == (model_dir / "shards/00001.bin").read_bytes()


@pytest.mark.parametrize("token", ["007", "1e5", "True", "2024-01-01", "None", "0x1F", "1_000"])
def test_token_ids_reach_the_code_exactly_as_typed(token: str, model_file: Path) -> None:
    created = run_here("token", "create", "--token-id", token, "--output", "json")
    assert created.code == 0, created.err
    assert created.json()["token_id"] == token
    r = run_here(*register_args(token, model_file, "auroc", "0.5", "0.6"), "--dry-run", "--output", "json")
    assert r.code == 0, r.err
    assert r.json()["token_id"] == token
    shown = run_here("model", "status", f"--token-id={token}", "--output", "json")
    assert shown.json()["token_id"] == token


@pytest.mark.parametrize("token", ["[1,2]", "{'a': 1}", "a b", "../etc", "-x", "x" * 65, ""])
def test_bad_token_ids_give_one_clear_line(token: str, model_file: Path) -> None:
    r = run_here(*register_args(token, model_file, "auroc", "0.5", "0.6"))
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines[-1].startswith("error: Invalid Input: token-id=")
    assert "Traceback" not in r.err


def test_values_are_never_literal_parsed(model_file: Path) -> None:
    """Fire would turn 1e5 into 100000.0 and '0.80' into 0.8; names and paths must stay text."""
    run_here("token", "create", "--token-id", "NUM")
    r = run_here(
        *register_args("NUM", str(model_file), "auroc", "0.80", "0.9"),
        "--model-name",
        "1e5",
        "--dry-run",
        "--output",
        "json",
    )
    assert r.code == 0, r.err
    assert r.json()["model_name"] == "1e5"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--metric", "auroc", "--baseline", "0.8"], 2, "exactly one of --metric-value"),
        (
            ["--metric", "auroc", "--baseline", "0.8", "--metric-value", "0.9", "--metrics-file", "m.json"],
            2,
            "exactly one",
        ),
        (["--metric", "auroc", "--baseline", "high", "--metric-value", "0.9"], 2, "baseline='high'"),
        (["--metric", "auroc", "--baseline", "nan", "--metric-value", "0.9"], 2, "finite"),
        (["--metric", "bleu", "--baseline", "0.8", "--metric-value", "0.9"], 5, "--direction"),
        (["--metric", "auroc", "--baseline", "0.8", "--metric-value", "1.3"], 5, "outside the range"),
        (["--metric", "mse", "--baseline", "-1", "--metric-value", "0.1"], 5, "outside the range"),
        (["--metric", "auroc", "--baseline", "0.8", "--metric-value", "0.9", "--output", "xml"], 2, "output='xml'"),
        (["--metric", "auroc", "--baseline", "0.8", "--metric-value", "0.9", "--dry-run", "maybe"], 2, "dry-run"),
    ],
)
def test_input_errors(args: list[str], code: int, needle: str, model_file: Path) -> None:
    r = run_here(*register_args("T1", model_file, None, None, None), *args)
    assert r.code == code, r.err
    assert needle in r.err
    assert "Traceback" not in r.err
    assert r.err.strip().splitlines()[-1].startswith("error: ")


def test_model_path_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    (tmp_path / "emptydir").mkdir()
    for path, needle in [
        (tmp_path / "nope.pkl", "no such file"),
        (empty, "empty"),
        (tmp_path / "emptydir", "no non-empty file"),
    ]:
        r = run_here(
            *register_args("T", str(path), "auroc", "0.8", "0.9"),
        )
        assert r.code == 2 and needle in r.err and "model-path=" in r.err


def test_a_model_folder_holding_the_tool_store_is_refused_before_anything_is_written(model_dir: Path) -> None:
    # `--model-path .` run from the model folder, with the default HOKUSAI_HOME (./.hokusai)
    env = {"HOKUSAI_HOME": ".hokusai"}
    run = run_here(*register_args("HOMEIN", ".", "auroc", "0.8", "0.9"), env=env, cwd=model_dir)
    assert run.code == 2, run.err
    assert "model-path='.' is invalid" in run.err and "HOKUSAI_HOME" in run.err and "Traceback" not in run.err
    assert not (model_dir / ".hokusai").exists()  # nothing written
    # the store elsewhere: the same folder registers
    elsewhere = {"HOKUSAI_HOME": str(model_dir.parent / "store")}
    assert run_here("token", "create", "--token-id", "HOMEIN", env=elsewhere, cwd=model_dir).code == 0
    ok = run_here(*register_args("HOMEIN", ".", "auroc", "0.8", "0.9"), env=elsewhere, cwd=model_dir)
    assert ok.code == 0, ok.err


def test_unknown_token_and_wrong_status(model_file: Path) -> None:
    r = run_here(*register_args("GHOST", model_file, "auroc", "0.8", "0.9"), "--output", "json")
    assert r.code == 3
    assert r.json()["error"]["category"] == "token_not_found"
    assert "token create" in r.json()["error"]["message"]
    s = run_here("model", "status", "--token-id", "GHOST")
    assert s.code == 3


def test_json_error_when_settings_are_bad(model_file: Path) -> None:
    r = run_here(
        *register_args("T", model_file, "auroc", "0.8", "0.9"),
        "--output",
        "json",
        env={"HOKUSAI_LOG_LEVEL": "loud"},
    )
    assert r.code == 2
    out = r.json()  # register keeps its result shape even when settings fail
    assert out["status"] == "error" and out["model_version"] is None and out["metric"] is None
    assert {k: v for k, v in out["error"].items() if k != "message"} == {
        "category": "invalid_input",
        "title": "Invalid Input",
        "exit_code": 2,
    }
    assert "HOKUSAI_LOG_LEVEL" in out["error"]["message"]
    # commands without a result object print the bare error object
    s = run_here("model", "list", "--output", "json", env={"HOKUSAI_LOG_LEVEL": "loud"})
    assert s.code == 2 and set(s.json()) == {"status", "error"} and s.json()["status"] == "error"


def test_metrics_file_errors(model_file: Path, tmp_path: Path) -> None:
    run_here("token", "create", "--token-id", "MF")
    nested = tmp_path / "m.json"
    nested.write_text('{"metrics": {"auroc": 0.9}}')
    r = run_here(*register_args("MF", model_file, "auroc", "0.8", None, metrics_file=str(nested)))
    assert r.code == 5
    assert "keys there: 'metrics'" in r.err and "--metric-key" in r.err
    ok = run_here(
        *register_args("MF", model_file, "auroc", "0.8", None, metrics_file=str(nested), metric_key="metrics.auroc"),
        "--dry-run",
        "--output",
        "json",
    )
    assert ok.code == 0 and ok.json()["metric"]["value"] == 0.9
    broken = tmp_path / "b.json"
    broken.write_text("{nope")
    assert run_here(*register_args("MF", model_file, "auroc", "0.8", None, metrics_file=str(broken))).code == 2
    text = tmp_path / "t.yaml"
    text.write_text("auroc: high\n")
    assert run_here(*register_args("MF", model_file, "auroc", "0.8", None, metrics_file=str(text))).code == 2


def test_list_filters_by_status(model_file: Path) -> None:
    run_here("token", "create", "--token-id", "D1")
    assert run_here("model", "list", "--output", "json").json() == []
    drafts = run_here("model", "list", "--status", "draft", "--output", "json").json()
    assert [t["token_id"] for t in drafts] == ["D1"]
    assert run_here("model", "list", "--status", "all", "--output", "json").json()[0]["status"] == "draft"
    bad = run_here("model", "list", "--status", "done")
    assert bad.code == 2 and "status='done'" in bad.err


def test_token_create_twice_is_refused() -> None:
    assert run_here("token", "create", "--token-id", "DUP").code == 0
    again = run_here("token", "create", "--token-id", "DUP")
    assert again.code == 4 and "already exists" in again.err


def test_help_lists_every_option_with_a_description() -> None:
    r = run_here("model", "register", "--help")
    assert r.code == 0 and r.err == ""
    lines = {line.split()[0]: line for line in r.out.splitlines() if line.startswith("  --")}
    for option in ("--token-id", "--model-path", "--metric"):
        assert "(required)" in lines[option], option
    assert "(required unless --baseline-from" in lines["--baseline"]
    for option in ("--metric-value", "--metrics-file", "--mlflow-uri", "--db-config", "--webhook-url", "--dry-run"):
        assert option in lines and "(required)" not in lines[option], option
    assert "FIRE_METADATA" not in r.out
    for group in (["--help"], ["model", "--help"], ["model", "status", "--help"], ["model", "list", "--help"]):
        assert run_here(*group).code == 0
