"""The measured verdict: which bound decides, in which direction, and the sentence a reviewer reads."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hokusai_ci.domain.measured import measure
from hokusai_ci.domain.measured.decision import MeasuredGate, about, decide, rows_to_decide, verdict
from hokusai_ci.domain.metrics import Direction, resolve_metric
from tests.conftest import REPO


def gate(
    metric: str, value: float, bound: float, baseline: float, rows: int = 1000, point: bool = False
) -> MeasuredGate:
    m = resolve_metric(metric)
    lower, upper = (bound, value) if m.direction is Direction.HIGHER else (value, bound)
    passed, used, side = decide(
        m, baseline, value=value, lower_bound=lower, upper_bound=upper, decision="point" if point else "lower-bound"
    )
    result = MeasuredGate(
        metric=m.name,
        direction=m.direction,
        baseline=baseline,
        value=value,
        bound=used,
        interval=(lower, upper),
        method="test",
        level=0.95,
        side=side,
        decision="point" if point else "lower-bound",
        passed=passed,
        rows=rows,
        positives=None,
        threshold=None,
        predictions_sha256="0" * 64,
        labels_sha256="0" * 64,
        seed=1,
        implementation="test",
        rows_to_decide=rows_to_decide(rows, value, used, baseline, m.direction),
        verdict="",
    )
    result.verdict = verdict(result)
    return result


def test_a_value_above_the_baseline_whose_bound_is_not_fails_and_says_how_many_rows_would_decide() -> None:
    g = gate("auroc", 0.8123, 0.7990, 0.80)
    assert not g.passed and g.side == "lower"
    # half-width 0.0133, gap 0.0123: 1000 * (0.0133 / 0.0123)^2 = 1169.2 rows
    assert g.rows_to_decide == 1170
    assert g.verdict == (
        "auroc 0.8123 (95% lower bound 0.7990) is not confidently above the baseline 0.8; "
        "about 1,200 rows would decide it"
    )


def test_a_bound_above_the_baseline_passes() -> None:
    g = gate("auroc", 0.83, 0.81, 0.80)
    assert g.passed and g.verdict == "auroc 0.8300 (95% lower bound 0.8100) is confidently above the baseline 0.8"


def test_a_bound_equal_to_the_baseline_does_not_beat_it() -> None:
    assert not gate("accuracy", 0.82, 0.80, 0.80).passed
    assert not gate("mse", 0.08, 0.10, 0.10).passed


def test_lower_is_better_metrics_are_decided_by_the_upper_bound() -> None:
    g = gate("mse", 0.09, 0.095, 0.10)
    assert g.passed and g.side == "upper"
    assert g.verdict == "mse 0.0900 (95% upper bound 0.0950) is confidently below the baseline 0.1"
    worse = gate("rmse", 0.12, 0.13, 0.10)
    assert not worse.passed and worse.verdict.endswith("is not confidently below the baseline 0.1")


def test_the_point_rule_is_named_and_still_shows_the_bound() -> None:
    g = gate("auroc", 0.8123, 0.7990, 0.80, point=True)
    assert g.passed and g.decision == "point"
    assert g.verdict.startswith("auroc 0.8123 (95% lower bound 0.7990) meets the baseline 0.8 by the point rule; about")
    below = gate("auroc", 0.79, 0.77, 0.80, point=True)
    assert not below.passed and "does not meet the baseline 0.8 by the point rule" in below.verdict


def test_a_value_equal_to_the_baseline_cannot_be_decided_by_more_rows() -> None:
    g = gate("auroc", 0.80, 0.79, 0.80)
    assert g.rows_to_decide is None and "rows" not in g.verdict


@pytest.mark.parametrize(
    ("metric", "value", "bound", "baseline", "point"),
    [
        ("auroc", 0.4992, 0.4740, 0.82, False),  # decided: the value itself fails
        ("auroc", 0.4992, 0.4740, 0.82, True),
        ("mse", 0.30, 0.33, 0.10, False),
        ("accuracy", 0.80, 0.78, 0.80, False),  # a tie: more rows cannot lift the value
    ],
)
def test_a_value_that_itself_fails_says_nothing_about_more_rows(
    metric: str, value: float, bound: float, baseline: float, point: bool
) -> None:
    """'about 2,000 rows would decide it' was said of auroc 0.4992 against 0.82 on 2000 rows,
    which no number of rows would change."""
    g = gate(metric, value, bound, baseline, rows=2000, point=point)
    assert not g.passed and g.rows_to_decide is None
    assert "would decide it" not in g.verdict and "rows" not in g.verdict


@pytest.mark.parametrize(("rows", "text"), [(7, "7"), (1169, "1,200"), (123_456, "130,000"), (8_426_232, "8,500,000")])
def test_rows_are_rounded_up_to_two_significant_figures(rows: int, text: str) -> None:
    assert about(rows) == text


def test_the_rows_it_would_take_are_the_rows_that_decide_it(tmp_path: Path) -> None:
    """The estimate assumes the same value on more rows. Copies of the same rows keep the value
    exactly and shrink DeLong's variance as 1/copies: at the promised number of rows the bound
    clears the baseline, at half of it it does not yet."""
    rng = np.random.default_rng(11)
    positive = rng.random(2_000) < 0.3
    scores = rng.normal(positive * 1.2, 1.0)

    def run(copies: int, baseline: float) -> MeasuredGate:
        np.save(tmp_path / "p.npy", np.tile(scores, copies))
        np.save(tmp_path / "y.npy", np.tile(positive, copies).astype(np.int8))
        return measure(resolve_metric("auroc"), baseline, tmp_path / "p.npy", tmp_path / "y.npy")

    first = run(1, 0.5)
    baseline = first.value - (first.value - first.bound) / 3  # about 9 times the rows would decide it
    small = run(1, baseline)
    assert not small.passed and small.rows_to_decide is not None
    assert 8 * small.rows < small.rows_to_decide < 10 * small.rows
    enough = run(math.ceil(small.rows_to_decide / small.rows), baseline)
    assert enough.passed and enough.value == small.value, enough.verdict
    half = run(math.floor(small.rows_to_decide / small.rows / 2), baseline)
    assert not half.passed and half.value == small.value


def test_results_are_bit_identical_across_processes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    np.save(tmp_path / "p.npy", rng.random(3000))
    np.save(tmp_path / "y.npy", (rng.random(3000) < 0.4).astype(np.int8))
    code = (
        "from pathlib import Path\n"
        "from hokusai_ci.domain.measured import measure\n"
        "from hokusai_ci.domain.metrics import resolve_metric\n"
        f"t = Path({str(tmp_path)!r})\n"
        "for m in ('auroc', 'f1', 'r2'):\n"
        "    print(measure(resolve_metric(m), 0.1, t / 'p.npy', t / 'y.npy',"
        " threshold=0.5 if m == 'f1' else None).model_dump_json())\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and runs[0].count("\n") == 3
