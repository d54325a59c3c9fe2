"""The measured gate in the product: `model gate` and `model register` with --predictions, the
Action's inputs, the JSON result and its schema, the version's tags and the signed statement.

The evidence is real CSV files; the embedded local store and MLflow store, the real MLflow
server and the real entry point do the rest. The two files are built so that the small one's
point value beats the baseline while its 95% lower bound does not: the case the measured gate
exists for.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mlflow import MlflowClient

from hokusai_ci.domain.schema_files import result_schemas
from hokusai_ci.faces.github_report import md
from tests.conftest import register_args, run_here
from tests.hokusai_standin import HokusaiStandIn
from tests.servers import MlflowServer
from tests.test_action_entrypoint import parse_outputs, run_entry, runner  # noqa: F401 (fixture)
from tests.test_api_mode import api, hokusai, key_service  # noqa: F401 (fixtures)
from tests.test_signing import keypair

COLUMNS = {"score_column": "score", "label_column": "label"}
NOT_CONFIDENT = re.compile(r"auroc 0\.\d{4} \(95% lower bound 0\.\d{4}\) is not confidently above the baseline 0\.8; ")
NOT_WRITTEN = "nothing was uploaded and token"


def evidence(folder: Path, name: str, rows: int, separation: float) -> Path:
    """Scores of a binormal model: positives shifted by `separation` standard deviations."""
    rng = random.Random(rows)
    lines = ["score,label"]
    for i in range(rows):
        label = i % 2
        lines.append(f"{rng.gauss(separation * label, 1.0)!r},{label}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def strong(tmp_path: Path) -> Path:
    """auroc about 0.90 on 2000 rows: the lower bound beats 0.80."""
    return evidence(tmp_path, "strong.csv", 2000, 1.8)


@pytest.fixture
def weak(tmp_path: Path) -> Path:
    """auroc 0.815 on 40 rows: the point value beats 0.80, the lower bound (0.70) does not."""
    return evidence(tmp_path, "weak.csv", 40, 1.5)


def measured_args(token: str, model: Path, predictions: Path, command: str = "register", **extra: str) -> list[str]:
    options = {"predictions": str(predictions), **COLUMNS, **extra}
    return register_args(token, model, "auroc", "0.8", None, command=command, **options)


def _validate(document: object) -> None:
    schema = result_schemas()["registration_result.v1.schema.json"]
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def _untouched(token: str, home: Path) -> None:
    assert run_here("model", "status", "--token-id", token, "--output", "json").json()["status"] == "draft"
    assert not (home / "mlruns").exists()  # no MLflow run, nothing uploaded


def test_gate_passes_on_the_bound_and_reports_the_basis(model_file: Path, strong: Path) -> None:
    r = run_here(*measured_args("XRAY", model_file, strong, "gate"), "--output", "json")
    assert r.code == 0, r.err
    out = r.json()
    _validate(out)
    m = out["measured"]
    shown = (m["decision"], m["side"], m["rows"], m["positives"], m["passed"])
    assert shown == ("lower-bound", "lower", 2000, 1000, True)
    assert m["bound"] > 0.8 and out["metric"]["value"] == m["value"] and out["metric"]["passed"] is True
    text = run_here(*measured_args("XRAY", model_file, strong, "gate"))
    basis = next(line for line in text.out.splitlines() if line.startswith("  basis"))
    assert f"auroc {m['value']:.4f} (95% lower bound {m['bound']:.4f}) vs baseline 0.8" in basis
    assert "(measured: 95% lower bound; 2000 rows)" in basis


def test_gate_fails_on_the_bound_where_the_point_value_passes(model_file: Path, weak: Path) -> None:
    r = run_here(*measured_args("XRAY", model_file, weak, "gate"), "--output", "json")
    assert r.code == 6, r.err
    out = r.json()
    _validate(out)
    verdict = out["measured"]["verdict"]
    assert NOT_CONFIDENT.match(verdict) and "rows would decide it" in verdict
    assert out["error"]["message"].startswith(verdict)
    assert out["metric"]["value"] == out["measured"]["value"] > 0.8  # the point value alone would pass
    assert out["metric"]["delta"] > 0 and out["metric"]["passed"] is False
    point = run_here(*measured_args("XRAY", model_file, weak, "gate", decision="point"))
    assert point.code == 0, point.err
    assert "(point value; 40 rows)" in point.out


def test_register_passes_on_the_bound_and_records_the_evidence(model_file: Path, strong: Path) -> None:
    assert run_here("token", "create", "--token-id", "MEAS").code == 0
    r = run_here(*measured_args("MEAS", model_file, strong), "--output", "json")
    assert r.code == 0, r.err
    out = r.json()
    _validate(out)
    assert out["status"] == "registered" and out["measured"]["passed"] is True
    status = run_here("model", "status", "--token-id", "MEAS", "--output", "json").json()
    assert status["status"] == "registered" and status["metric"]["value"] == out["measured"]["value"]


def test_register_fails_on_the_bound_and_writes_nothing(model_file: Path, weak: Path, tmp_path: Path) -> None:
    assert run_here("token", "create", "--token-id", "WEAK").code == 0
    r = run_here(*measured_args("WEAK", model_file, weak), "--output", "json")
    assert r.code == 6, r.err
    message = r.json()["error"]["message"]
    assert NOT_CONFIDENT.match(message) and r.json()["metric"]["value"] > 0.8
    assert message.endswith(f"{NOT_WRITTEN} WEAK stays draft")
    _untouched("WEAK", tmp_path / "home")
    # the same evidence by the point rule registers
    assert run_here(*measured_args("WEAK", model_file, weak, decision="point")).code == 0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"metric_value": "0.9"}, "metric-value"),  # two sources
        ({"predictions": None}, "give exactly one of --metric-value (the number), --metrics-file"),
        ({"predictions": None, "metric_value": "0.9", "labels": "l.csv"}, "--labels applies to --predictions only"),
        ({"decision": "upper"}, "decision='upper' is invalid: use lower-bound or point"),
        ({"confidence": "1.5"}, "confidence=1.5 is invalid"),
        ({"confidence": "high"}, "confidence='high' is invalid"),
        ({"threshold": "nan"}, "threshold='nan' is invalid"),
        ({"predictions": "missing.csv"}, "missing.csv"),
        ({"labels": "missing-labels.csv"}, "missing-labels.csv"),
        ({"score_column": "nope"}, "nope"),
    ],
)
def test_each_refusal_is_exit_2_before_anything_is_written(
    change: dict[str, str | None], needle: str, model_file: Path, strong: Path, tmp_path: Path
) -> None:
    assert run_here("token", "create", "--token-id", "REF").code == 0
    options: dict[str, str | None] = {"predictions": str(strong), **COLUMNS, **change}
    args = register_args("REF", model_file, "auroc", "0.8", None, **options)
    r = run_here(*args, "--output", "json", cwd=tmp_path)
    assert r.code == 2, r.err
    assert r.err.count("\n") == 1 and needle in r.err and "Traceback" not in r.err
    assert r.json()["error"]["category"] == "invalid_input"
    _untouched("REF", tmp_path / "home")


def test_no_evidence_source_names_the_three_ways(model_file: Path, tmp_path: Path) -> None:
    r = run_here(*register_args("NONE", model_file, "auroc", "0.8", None, command="gate"))
    assert r.code == 2
    assert "--metric-value" in r.err and "--metrics-file" in r.err and "--predictions" in r.err


def test_tags_and_signed_statement_carry_the_bound_and_verify_checks_them(
    mlflow_server: MlflowServer, model_file: Path, strong: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    run_here("token", "create", "--token-id", "MSIG")
    args = [*measured_args("MSIG", model_file, strong), "--mlflow-uri", mlflow_server.url]
    r = run_here(*args, "--sign-key", str(private), "--output", "json")
    assert r.code == 0, r.out + r.err
    measured = r.json()["measured"]
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    tags = client.get_model_version("hokusai-MSIG", "1").tags
    assert float(tags["hokusai.metric_bound"]) == measured["bound"]
    assert tags["hokusai.metric_basis"] == "measured-lower-bound"
    assert tags["hokusai.evidence_sha256"] == measured["predictions_sha256"]
    assert tags["hokusai.metric_value"] == repr(measured["value"])  # the point value, as the platform gets it
    verify = ["model", "verify", "--model-uri", "models:/hokusai-MSIG/1", "--public-key", str(public)]
    v = run_here(*verify, "--mlflow-uri", mlflow_server.url, "--output", "json")
    assert v.code == 0, v.out + v.err
    assert v.json()["predicate"]["metric_basis"] == "measured-lower-bound"
    client.set_model_version_tag("hokusai-MSIG", "1", "hokusai.metric_basis", "given-value")
    tampered = run_here(*verify, "--mlflow-uri", mlflow_server.url)
    assert tampered.code == 11 and "hokusai.metric_basis" in tampered.out + tampered.err


def test_action_inputs_outputs_and_summary(runner: dict[str, str]) -> None:  # noqa: F811 (fixture)
    workspace = Path(runner["GITHUB_WORKSPACE"])
    evidence(workspace, "eval.csv", 2000, 1.8)
    runner |= {
        "INPUT_METRIC-VALUE": "",
        "INPUT_PREDICTIONS": "eval.csv",
        "INPUT_SCORE-COLUMN": "score",
        "INPUT_LABEL-COLUMN": "label",
        "INPUT_BASELINE": "0.80",
    }
    proc = run_entry(runner, cwd=workspace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    measured = json.loads(outputs["result-json"])["measured"]
    assert outputs["metric-basis"] == "measured-lower-bound"
    assert float(outputs["metric-bound"]) == measured["bound"] and float(outputs["metric-value"]) == measured["value"]
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    line = f"auroc {measured['value']:.4f} (95% lower bound {measured['bound']:.4f}) vs baseline 0.8"
    assert md(line) in summary and "(measured: 95% lower bound, 2000 rows)" in summary


def test_action_refuses_evidence_outside_the_workspace(runner: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    outside = evidence(tmp_path, "outside.csv", 40, 1.5)
    runner |= {"INPUT_METRIC-VALUE": "", "INPUT_PREDICTIONS": str(outside)}
    proc = run_entry(runner, cwd=Path(runner["GITHUB_WORKSPACE"]))
    assert proc.returncode == 2
    assert "predictions=" in proc.stdout and "outside the workspace" in proc.stdout


def test_given_value_reports_its_basis(runner: dict[str, str]) -> None:  # noqa: F811 (fixture)
    proc = run_entry(runner)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert (outputs["metric-basis"], outputs["metric-bound"]) == ("given-value", "")


@pytest.mark.parametrize("page", ["README.md", "docs/cli.md"])
def test_the_documented_example_runs_as_printed(page: str, tmp_path: Path) -> None:
    """The quick start's and docs/cli.md's measured-gate blocks, with `hokusai` this checkout's
    CLI (tests/test_readme.py runs them too, in the quick start's fresh venv)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.test_readme import BLOCKS

    (block,) = [b for b in BLOCKS if b.page == page and b.lang == "bash" and "--predictions" in b.text]
    (tmp_path / "bin").mkdir()
    shim = tmp_path / "bin" / "hokusai"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m hokusai_ci "$@"\n')
    shim.chmod(0o755)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "final_model.pkl").write_bytes(b"weights")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "(measured: 95% lower bound; 2000 rows)" in out.stdout


def test_dotenv_report_carries_the_bound_and_basis(model_file: Path, strong: Path, weak: Path, tmp_path: Path) -> None:
    report = tmp_path / "hokusai.env"
    mock = {"HOKUSAI_MOCK_MODE": "true"}
    ok = run_here(*measured_args("ENV", model_file, strong), "--dotenv-report", str(report), env=mock)
    assert ok.code == 0, ok.err
    lines = dict(line.split("=", 1) for line in report.read_text().splitlines())
    assert lines["HOKUSAI_METRIC_BASIS"] == "measured-lower-bound" and float(lines["HOKUSAI_METRIC_BOUND"]) > 0.8
    bad = run_here(*measured_args("ENV2", model_file, weak), "--dotenv-report", str(report), env=mock)
    assert bad.code == 6
    lines = dict(line.split("=", 1) for line in report.read_text().splitlines())
    assert lines["HOKUSAI_METRIC_BASIS"] == "measured-lower-bound" and float(lines["HOKUSAI_METRIC_BOUND"]) < 0.8
    typed = register_args("ENV3", model_file, "auroc", "0.8", "0.9")
    given = run_here(*typed, "--dotenv-report", str(report), env=mock)
    assert given.code == 0
    lines = dict(line.split("=", 1) for line in report.read_text().splitlines())
    assert (lines["HOKUSAI_METRIC_BASIS"], lines["HOKUSAI_METRIC_BOUND"]) == ("given-value", "")


def test_python_api_measures_too(strong: Path, model_file: Path, tmp_path: Path) -> None:
    from hokusai_ci import ModelRegistry

    registry = ModelRegistry(home=tmp_path / "api-home")
    registry.create_token("PYAPI")
    result = registry.register_model(
        "PYAPI", model_file, "auroc", baseline_value=0.8, predictions=strong, score_column="score", label_column="label"
    )
    assert result.status == "registered" and result.measured is not None and result.measured.bound > 0.8


def test_api_mode_sends_the_point_value_as_current_value(
    api: Any,  # noqa: F811 (fixture)
    hokusai: HokusaiStandIn,  # noqa: F811 (fixture)
    mlflow_server: MlflowServer,
    model_file: Path,
    strong: Path,
) -> None:
    """The Hokusai API stand-in (tests/hokusai_standin.py) records what the platform was told."""
    from hokusai_ci import ModelRegistry

    result = ModelRegistry().register_model(
        "API-MEAS", model_file, "auroc", baseline_value=0.8, predictions=strong, score_column="score",
        label_column="label",
    )  # fmt: skip
    assert result.status == "registered" and result.measured is not None
    [sent] = hokusai.notifications()
    body = json.loads(sent.body)
    assert body["current_value"] == result.measured.value != result.measured.bound
    assert body["baseline_value"] == 0.8
