"""The measured gate's inputs cannot lie: what a hostile (or careless) user gave it, each case as
it was found, refused or said plainly.

- the labels measured as the scores (the label column named as the score column, from every face;
  predictions that equal the labels in every row) gave auroc 1 or mse 0 and passed any baseline;
- a link to a kernel pseudo-file (`/proc/self/environ`) printed the environment in a refusal, and
  a file that is no table at all had its first line quoted;
- a `.npy` field of several values a row was an internal error;
- a confidence of 0.5000001 made the "bound" the point value, and 0.99999999999 read "100%";
- refusals that named the wrong cause (UTF-16 without its mark, `1_000`, `1e400`, a comment
  line) or promised that more rows would decide a verdict they cannot change.

Real files in a temporary folder, read by the code the gate runs; the CLI in-process, the Action
through its real entry point. Hypothesis where the space of inputs is large.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.measured import CONFIDENCE_RANGE
from hokusai_ci.domain.measured.decision import percent
from hokusai_ci.domain.measured.evidence_io import load_evidence
from hokusai_ci.domain.measured.quoting import PREFIX_SHOWN
from tests.conftest import register_args, run_here
from tests.test_action_entrypoint import run_entry, runner  # noqa: F401 (fixture)
from tests.test_measured_inputs import refusal, run, write_table

FIXTURE = [HealthCheck.function_scoped_fixture]


def scored(folder: Path, name: str = "rand.csv", rows: int = 2000, seed: int = 1) -> Path:
    """Random scores (auroc about 0.5) with an id column: a model that has learned nothing."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(rows) % 3 == 0).astype(int)
    lines = ["id,score,label", *(f"{i},{rng.random():.6f},{y}" for i, y in enumerate(labels))]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def gate(folder: Path, *options: str, metric: str = "auroc", baseline: str = "0.82", **named: str) -> Any:
    args = register_args("XRAY", folder / "rand.csv", metric, baseline, None, command="gate", **named)
    return run_here(*args, *options, cwd=folder)


def one_line_refusal(r: Any) -> str:
    assert r.code == 2, r.out + r.err
    said = r.err.strip()
    assert "\n" not in said and "Traceback" not in said
    return said


# -- 1. the labels are never the scores --------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"score_column": "label"},
        {"score_column": "label", "label_column": "label"},
        {"score_column": "label", "labels": "rand.csv"},
        {"score_column": "label", "label_column": "label", "labels": "./rand.csv"},
    ],
)
def test_the_label_column_named_as_the_score_column_is_refused(tmp_path: Path, options: dict[str, str]) -> None:
    """It gave auroc 1.0000 with a 95% lower bound of 1.0000 on 2000 random scores: a pass."""
    scored(tmp_path)
    said = one_line_refusal(gate(tmp_path, predictions="rand.csv", **options))
    assert "rand.csv" in said and "'label'" in said and "--score-column" in said


def test_the_project_file_cannot_name_the_label_column_as_the_score(tmp_path: Path) -> None:
    scored(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.hokusai]\npredictions = "rand.csv"\nscore-column = "label"\n')
    args = [
        "model",
        "gate",
        "--token-id",
        "XRAY",
        "--model-path",
        "rand.csv",
        "--metric",
        "auroc",
        "--baseline",
        "0.82",
    ]
    r = run_here(*args, cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    said = r.err.strip().splitlines()[-1]  # after the line saying which project file was used
    assert "rand.csv" in said and "measured against themselves" in said


def test_the_action_cannot_name_the_label_column_as_the_score(runner: dict[str, str]) -> None:  # noqa: F811
    workspace = Path(runner["GITHUB_WORKSPACE"])
    scored(workspace)
    runner |= {"INPUT_METRIC-VALUE": "", "INPUT_PREDICTIONS": "rand.csv", "INPUT_SCORE-COLUMN": "label"}
    proc = run_entry(runner, cwd=workspace)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "measured against themselves" in proc.stdout + proc.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE)
@given(
    metric=st.sampled_from(["auroc", "accuracy", "f1", "mse", "rmse", "mae", "r2"]),
    rows=st.integers(40, 300),
    seed=st.integers(0, 2**32 - 1),
    same_file=st.booleans(),
)
def test_predictions_equal_to_the_labels_are_refused(
    tmp_path: Path, metric: str, rows: int, seed: int, same_file: bool
) -> None:
    """A copy of the labels file (or the targets column read as the predictions) gave mse 0 and
    auroc 1, passing any baseline; a model's output is never the labels themselves."""
    rng = np.random.default_rng(seed)
    binary = metric in ("auroc", "accuracy", "f1")
    truth = (np.arange(rows) % 2).astype(float) if binary else np.round(rng.normal(size=rows), 6)
    rng.shuffle(truth)
    if same_file:
        preds = write_table(tmp_path / "both.csv", ["pred", "target"], [[float(t), float(t)] for t in truth])
        kw: dict[str, Any] = {"predictions": preds, "score_column": "pred", "label_column": "target"}
    else:
        labels = write_table(tmp_path / "labels.csv", ["target"], [[float(t)] for t in truth])
        preds = write_table(tmp_path / "copy.csv", ["target"], [[float(t)] for t in truth])
        kw = {"predictions": preds, "labels": labels}
    err = refusal(lambda: run(metric, baseline=0.5 if binary else 1.0, **kw))
    assert "never the labels themselves" in err.message and f"{rows} rows" in err.message
    assert preds.name in err.message and "'target'" in err.message


def test_predictions_that_differ_from_the_labels_in_one_row_are_measured(tmp_path: Path) -> None:
    truth = [float(i % 2) for i in range(60)]
    preds = [*truth[:-1], 1.0 - truth[-1]]
    path = write_table(tmp_path / "near.csv", ["p", "y"], [[p, y] for p, y in zip(preds, truth, strict=True)])
    assert run("accuracy", baseline=0.5, predictions=path, score_column="p", label_column="y").rows == 60


# -- 2. a kernel pseudo-file is never read, a file that is no table never quoted ----------------
@pytest.mark.parametrize("option", ["predictions", "labels", "metrics_file"])
def test_a_link_to_the_environment_is_refused_without_reading_it(tmp_path: Path, option: str) -> None:
    """`--predictions` linked to /proc/self/environ printed the environment, a CI job token
    included (only the secrets the tool knows are masked)."""
    scored(tmp_path)
    (tmp_path / "env.csv").symlink_to("/proc/self/environ")
    (tmp_path / "metrics.json").symlink_to("/proc/self/environ")
    token = "glcbt-64-not-a-known-secret-7f3a"
    named = {"predictions": "env.csv"}
    if option == "labels":
        named = {"predictions": "rand.csv", "labels": "env.csv", "score_column": "score"}
    elif option == "metrics_file":
        named = {"metrics_file": "metrics.json"}
    r = run_here(
        *register_args("XRAY", tmp_path / "rand.csv", "auroc", "0.82", None, command="gate", **named),
        env={"CI_JOB_TOKEN": token},
        cwd=tmp_path,
    )
    said = one_line_refusal(r)
    assert "pseudo-file" in said and option.replace("_", "-") in said
    assert token not in r.out + r.err and "CI_JOB_TOKEN" not in r.out + r.err


@pytest.mark.skipif(not os.path.exists("/etc/passwd"), reason="needs /etc/passwd")
def test_a_link_to_a_password_file_quotes_no_more_than_a_prefix(tmp_path: Path) -> None:
    first = Path("/etc/passwd").read_text().splitlines()[0]
    (tmp_path / "pw.csv").symlink_to("/etc/passwd")
    scored(tmp_path)
    said = one_line_refusal(gate(tmp_path, predictions="pw.csv"))
    assert "does not look like a header of column names" in said
    assert first not in said and repr(first[:PREFIX_SHOWN] + "…") in said


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80).filter(
    lambda s: s.strip() and "\n" not in s and "\r" not in s
)


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE)
@given(header=st.lists(names, min_size=2, max_size=30))
def test_a_refusal_quotes_at_most_five_short_escaped_names(tmp_path: Path, header: list[str]) -> None:
    """Whatever the first line holds, a refusal quotes at most five names of at most 40
    characters (or a 20-character prefix of a line that is no header), escaped."""
    path = write_table(tmp_path / "h.csv", header, [[0.5] * len(header)] * 3, encoding="utf-8")
    with pytest.raises(HokusaiError) as info:
        load_evidence(path, score_column="no such column \u2603")
    message = info.value.message
    assert "\n" not in message and "Traceback" not in message
    assert len(message) < 500
    for name in header:
        if len(name.strip()) > 40:
            assert name.strip() not in message


def test_a_secret_on_a_first_line_is_not_quoted(tmp_path: Path) -> None:
    """A `.env` file given as the predictions: its first line is no header, and not quoted."""
    path = tmp_path / "dotenv.csv"
    path.write_text("DEPLOY_TOKEN=s3cr3t-value-4f9a\nOTHER=1\n")
    err = refusal(lambda: load_evidence(path))
    assert "s3cr3t" not in err.message and "does not look like a header" in err.message


# -- 3. a field of several values a row -----------------------------------------------------------
def test_a_npy_field_with_a_shape_is_refused_naming_it(tmp_path: Path) -> None:
    """dtype [('score', 'f8', (2,)), ('label', 'f8')] was an internal error (IndexError)."""
    array = np.zeros(100, dtype=[("score", "f8", (2,)), ("label", "f8")])
    array["label"][::2] = 1
    array["score"][:, 0] = np.random.default_rng(1).random(100)
    np.save(tmp_path / "sub.npy", array)
    err = refusal(lambda: run(predictions=tmp_path / "sub.npy"))
    assert "sub.npy field 'score' has the shape (2,)" in err.message


def test_a_two_dimensional_record_array_is_refused(tmp_path: Path) -> None:
    """Its rows were flattened into twice as many rows as it has."""
    array = np.zeros((50, 2), dtype=[("score", "f8"), ("label", "f8")])
    array["label"][::2] = 1
    np.save(tmp_path / "grid.npy", array)
    err = refusal(lambda: run(predictions=tmp_path / "grid.npy"))
    assert "grid.npy holds a structured array of shape (50, 2)" in err.message


# -- 4. the confidence level ----------------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE)
@given(
    level=st.one_of(
        st.floats(0.0, 1.0).filter(lambda x: not CONFIDENCE_RANGE[0] <= x <= CONFIDENCE_RANGE[1]),
        st.sampled_from([0.5000001, 0.6, 0.7999, 0.9991, 0.99999999999]),
    )
)
def test_a_confidence_outside_the_documented_range_is_refused(tmp_path: Path, level: float) -> None:
    """0.5000001 made the "50% lower bound" the point value, which passed a baseline it fails
    at 95%."""
    path = scored(tmp_path, rows=200)
    err = refusal(lambda: run(predictions=path, confidence=level))
    assert f"confidence={level!r} is invalid: give a level from 0.8 to 0.999" in err.message


@given(level=st.floats(*CONFIDENCE_RANGE))
def test_a_level_never_reads_as_100_percent(level: float) -> None:
    """0.99999999999 was shown as a "100% lower bound"."""
    shown = percent(level)
    assert shown != "100%" and abs(float(shown[:-1]) / 100 - level) < 1e-9


def test_the_level_shown_is_the_level_asked(tmp_path: Path) -> None:
    result = run(predictions=scored(tmp_path, rows=200), confidence=0.999)
    assert "(99.9% lower bound" in result.verdict


# -- 5. refusals name the real cause ------------------------------------------------------------
def test_utf16_without_its_mark_is_said_to_be_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(scored(tmp_path).read_text().encode("utf-16-le"))
    err = refusal(lambda: run(predictions=path))
    assert "u16.csv is not UTF-8 text" in err.message and "save it as UTF-8" in err.message
    assert "\\x00" not in err.message


def _with_cell(tmp_path: Path, name: str, cell: str) -> Path:
    lines = scored(tmp_path).read_text().splitlines()
    lines[6] = f"5,{cell},0"
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_underscore_number_is_named_with_its_line(tmp_path: Path) -> None:
    """`1_000` was "could not be read as CSV ... check its quoting"."""
    err = refusal(lambda: run(predictions=_with_cell(tmp_path, "us.csv", "1_000")))
    assert "us.csv line 7 column 'score' holds '1_000', not a number" in err.message


@pytest.mark.parametrize("cell", ["1e400", "-1e400", "9" * 1_000_000])
def test_a_number_beyond_float_is_quoted_as_written(tmp_path: Path, cell: str) -> None:
    """`1e400` and a field of millions of digits were "inf is not a finite number"."""
    err = refusal(lambda: run(predictions=_with_cell(tmp_path, "big.csv", cell)))
    assert f"big.csv column 'score' data row 6: {cell[:60]!r}"[:-1] in err.message
    assert "is not a finite number" in err.message and len(err.message) < 400


def test_a_comment_line_is_said_to_be_unsupported(tmp_path: Path) -> None:
    """It was read as the header: "has the columns '# produced by eval'"."""
    path = tmp_path / "commented.csv"
    path.write_text("# produced by eval\n" + scored(tmp_path).read_text())
    err = refusal(lambda: run(predictions=path))
    assert "commented.csv line 1 starts with '#': comment lines are not supported" in err.message


def test_a_decided_failure_says_nothing_of_more_rows(tmp_path: Path) -> None:
    """auroc 0.4992 against 0.82 on 2000 rows said "about 2,000 rows would decide it"."""
    scored(tmp_path)
    r = gate(tmp_path, predictions="rand.csv", score_column="score", label_column="label")
    assert r.code == 6, r.err
    assert "not confidently above the baseline 0.82" in r.err and "rows would decide" not in r.err


def test_two_files_with_an_id_joined_by_row_order_say_so(tmp_path: Path) -> None:
    full = scored(tmp_path).read_text().splitlines()
    (tmp_path / "preds.csv").write_text("\n".join(line.rsplit(",", 1)[0] for line in full) + "\n")
    (tmp_path / "labels.csv").write_text("\n".join(f"{c[0]},{c[2]}" for c in (x.split(",") for x in full)) + "\n")
    by_order = gate(tmp_path, predictions="preds.csv", labels="labels.csv")
    assert by_order.code == 6
    assert "preds.csv and labels.csv both have the column 'id'" in by_order.err
    assert "--id-column id" in by_order.err
    by_id = gate(tmp_path, predictions="preds.csv", labels="labels.csv", id_column="id")
    assert by_id.code == 6 and "both have the column" not in by_id.err
