"""The spec's own command with no value: the evidence found where ML teams keep it (DVC's
metrics files, `[tool.hokusai]` in pyproject.toml), the file and key said, the order and the
ambiguity rules. In-process runs from scratch folders; Hypothesis over the readers."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.measured.discovery import metric_paths, read_project
from tests.conftest import register_args, run_here
from tests.test_measured_wire import evidence

SPEC = ("--metric", "auroc", "--baseline", "0.82")


def spec_command(command: str, model: str = "./model.pkl") -> list[str]:
    """`hokusai model <command> --token-id XRAY --model-path ./model.pkl --metric auroc --baseline 0.82`"""
    return ["model", command, "--token-id", "XRAY", "--model-path", model, *SPEC]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"trained weights")
    return folder


def test_the_spec_command_gates_on_a_dvc_metrics_file_and_says_which_key(scratch: Path) -> None:
    (scratch / "metrics.json").write_text(json.dumps({"test": {"auroc": 0.91, "loss": 0.2}}))
    r = run_here(*spec_command("gate"), "--output", "json", cwd=scratch)
    assert r.code == 0, r.err
    assert r.json()["metric"]["value"] == 0.91
    assert "metrics.json key test.auroc" in r.err


def test_the_spec_command_registers_from_metrics_yaml_in_the_models_folder(scratch: Path) -> None:
    (scratch / "out").mkdir()
    (scratch / "model.pkl").rename(scratch / "out" / "model.pkl")
    (scratch / "out" / "metrics.yaml").write_text("eval:\n  auroc: 0.88\n")
    assert run_here("token", "create", "--token-id", "XRAY", cwd=scratch).code == 0
    r = run_here(*spec_command("register", "./out/model.pkl"), "--output", "json", cwd=scratch)
    assert r.code == 0, r.err
    assert r.json()["status"] == "registered" and r.json()["metric"]["value"] == 0.88
    assert "metrics.yaml key eval.auroc" in r.err


def test_the_project_file_names_predictions_and_they_are_measured(scratch: Path) -> None:
    (scratch / "data").mkdir()
    evidence(scratch / "data", "eval.csv", 2000, 1.8)
    (scratch / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.hokusai]\npredictions = "data/eval.csv"\n'
        'score-column = "score"\nlabel-column = "label"\n'
    )
    (scratch / "metrics.json").write_text('{"auroc": 0.5}')  # the project file comes first
    r = run_here(*spec_command("gate"), "--output", "json", cwd=scratch)
    assert r.code == 0, r.err
    measured = r.json()["measured"]
    assert measured["rows"] == 2000 and measured["value"] > 0.85
    assert "[tool.hokusai] predictions=data/eval.csv" in r.err


def test_two_files_that_disagree_are_exit_2_naming_both(scratch: Path) -> None:
    (scratch / "out").mkdir()
    (scratch / "out" / "metrics.json").write_text('{"auroc": 0.9}')
    (scratch / "metrics.yaml").write_text("auroc: 0.85\n")
    args = ["model", "gate", "--token-id", "XRAY", "--model-path", "out", *SPEC]
    (scratch / "out" / "model.pkl").write_bytes(b"w")
    r = run_here(*args, cwd=scratch)
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert "out/metrics.json auroc=0.9" in r.err and "metrics.yaml auroc=0.85" in r.err
    (scratch / "metrics.yaml").write_text("auroc: 0.9\n")  # the same value in both is one answer
    assert run_here(*args, cwd=scratch).code == 0


def test_two_paths_to_the_metric_in_one_file_are_exit_2_with_the_fix(scratch: Path) -> None:
    (scratch / "metrics.json").write_text(json.dumps({"train": {"auroc": 0.99}, "test": {"auroc": 0.9}}))
    r = run_here(*spec_command("gate"), cwd=scratch)
    assert r.code == 2, r.err
    assert "train.auroc and test.auroc" in r.err and "--metric-key test.auroc" in r.err
    fixed = run_here(*spec_command("gate"), "--metric-key", "test.auroc", "--output", "json", cwd=scratch)
    assert fixed.code == 0, fixed.err
    assert fixed.json()["metric"]["value"] == 0.9


def test_nothing_found_lists_the_three_ways_and_where_it_looked(scratch: Path) -> None:
    (scratch / "metrics.json").write_text('{"loss": 0.2}')  # a metrics file without the metric
    r = run_here(*register_args("XRAY", scratch / "model.pkl", "auroc", "0.82", None, command="gate"), cwd=scratch)
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    for way in ("--metric-value", "--metrics-file", "--predictions", "metrics.json", "[tool.hokusai]"):
        assert way in r.err


def test_a_bad_project_table_is_exit_2_naming_the_key(scratch: Path) -> None:
    (scratch / "pyproject.toml").write_text('[tool.hokusai]\npredictions = "eval.csv"\nscore_col = "p"\n')
    r = run_here(*spec_command("gate"), cwd=scratch)
    assert r.code == 2 and "tool.hokusai.score_col" in r.err and "Traceback" not in r.err


def test_a_project_file_cannot_point_outside_its_folder(scratch: Path, tmp_path: Path) -> None:
    """A checked-out pull request's pyproject.toml naming a file of the machine is refused
    before the file is read."""
    outside = evidence(tmp_path, "secret.csv", 50, 1.0)
    for named in (str(outside), "../secret.csv"):
        (scratch / "pyproject.toml").write_text(f"[tool.hokusai]\npredictions = {json.dumps(named)}\n")
        r = run_here(*spec_command("gate"), cwd=scratch)
        assert r.code == 2 and "resolves outside the project folder" in r.err, r.err
    (scratch / "link.csv").symlink_to(outside)
    (scratch / "pyproject.toml").write_text('[tool.hokusai]\npredictions = "link.csv"\n')
    assert "resolves outside the project folder" in run_here(*spec_command("gate"), cwd=scratch).err


names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(lambda k: k not in ("auroc", "auc"))
trees = st.recursive(
    st.floats(0, 1) | st.integers(0, 5),
    lambda children: st.dictionaries(names, children, max_size=4),
    max_leaves=20,
)


@given(tree=st.dictionaries(names, trees, max_size=5), way=st.lists(names, max_size=4), value=st.floats(0, 1))
def test_the_metric_is_found_at_exactly_the_path_it_was_put(tree: dict[str, Any], way: list[str], value: float) -> None:
    node = tree
    for part in way:
        child = node.get(part)
        node[part] = child if isinstance(child, dict) else {}
        node = node[part]
    node["auroc"] = value
    assert metric_paths(tree, ("auroc",)) == [(*way, "auroc")]
    node["auc"] = {"value": value}  # DVCLive's shape, under the alias: a second path
    assert len(metric_paths(tree, ("auc", "auroc"))) == 2


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(value=st.text(max_size=40) | st.integers() | st.booleans() | st.floats(allow_nan=False))
def test_any_project_value_is_read_or_refused_by_name(tmp_path: Path, value: object) -> None:
    text = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
    path = tmp_path / "pyproject.toml"
    for key in ("predictions", "label-column", "threshold"):
        first = "" if key == "predictions" else "predictions = 'p.csv'\n"
        path.write_text(f"[tool.hokusai]\n{first}{key} = {text}\n", encoding="utf-8")
        try:
            found = read_project(path)
        except HokusaiError as err:
            assert err.exit_code == 2 and "\n" not in err.message
        else:
            assert found is not None and found.predictions is not None


NOT_NUMBERS = {"null": None, "NaN": float("nan"), "Infinity": float("inf"), "true": True, "a list": [0.9], "n/a": "n/a"}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30, deadline=None)
@given(
    bad=st.sampled_from(sorted(NOT_NUMBERS)),
    where=st.sampled_from(["train", "test"]),
    name=st.sampled_from(["auroc", "auc"]),
)
def test_a_metric_that_is_not_a_number_is_refused_never_passed_over(
    scratch: Path, bad: str, where: str, name: str
) -> None:
    """`{"train": {"auroc": 0.99}, "test": {"auroc": null}}` gated on the training metric, and
    `{"auroc": NaN}` alone was reported as a file without 'auroc'."""
    other = "test" if where == "train" else "train"
    (scratch / "metrics.json").write_text(json.dumps({where: {name: NOT_NUMBERS[bad]}}))
    alone = run_here(*spec_command("gate"), cwd=scratch)
    assert alone.code == 2 and alone.err.count("\n") == 1, alone.err
    assert "metrics.json" in alone.err and f"{where}.{name}" in alone.err and "looked for" not in alone.err
    (scratch / "metrics.json").write_text(json.dumps({where: {name: NOT_NUMBERS[bad]}, other: {"auroc": 0.99}}))
    both = run_here(*spec_command("gate"), cwd=scratch)
    assert both.code == 2 and f"{where}.{name}" in both.err and f"{other}.auroc" in both.err, both.err


def test_a_bad_value_in_the_models_folder_is_not_passed_over_for_the_working_directory(scratch: Path) -> None:
    (scratch / "sub").mkdir()
    (scratch / "sub" / "model.pkl").write_bytes(b"weights")
    (scratch / "sub" / "metrics.json").write_text('{"auroc": NaN}')
    (scratch / "metrics.json").write_text('{"auroc": 0.9}')
    r = run_here(*spec_command("gate", "./sub/model.pkl"), cwd=scratch)
    assert r.code == 2 and "sub/metrics.json' key 'auroc' holds nan, not a finite number" in r.err, r.err


def test_the_documented_alias_is_found(scratch: Path) -> None:
    """`{"auc": 0.9}` was "not found" for --metric auroc, though auc is auroc's documented alias."""
    (scratch / "metrics.json").write_text('{"auc": 0.91}')
    r = run_here(*spec_command("gate"), "--output", "json", cwd=scratch)
    assert r.code == 0 and r.json()["metric"]["value"] == 0.91, r.err


def test_a_key_holding_dots_beside_its_nested_reading_is_exit_2_naming_no_option_not_given(scratch: Path) -> None:
    """It was exit 5 saying "--metric-key 'eval.auroc' names two values" with no --metric-key given."""
    (scratch / "metrics.json").write_text('{"eval.auroc": 0.9, "eval": {"auroc": 0.5}}')
    r = run_here(*spec_command("gate"), cwd=scratch)
    assert r.code == 2 and "--metric-key" not in r.err and "rename one of the keys" in r.err, r.err
    assert "'eval.auroc' and 'eval' → 'auroc'" in r.err


def test_where_it_looked_names_each_folder_once(scratch: Path) -> None:
    r = run_here(*spec_command("gate"), cwd=scratch)
    assert r.code == 2 and f"holding 'auroc' in {scratch.resolve()}, and" in r.err, r.err
