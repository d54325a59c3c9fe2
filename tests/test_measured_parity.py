"""The measured gate's metrics against scikit-learn, the oracle (test extra only), and DeLong's
variance against its definition.

Every metric must equal scikit-learn within 1e-12 on 500 seeded cases full of ties (scores rounded
to a few decimals, integer targets), and on 1M rows. The 10M-row case lives in
bench/measured.py: it takes tens of seconds and a gigabyte here, too much for a test tier on a
shared 2-core machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk

from hokusai_ci.domain.measured import measure
from hokusai_ci.domain.measured.intervals import COUNT_METRICS, auroc, estimate, r2_value, tie_bounds
from hokusai_ci.domain.metrics import resolve_metric

TOLERANCE = 1e-12
SKLEARN: dict[str, Callable[..., float]] = {
    "auroc": sk.roc_auc_score,
    "accuracy": sk.accuracy_score,
    "precision": lambda y, p: sk.precision_score(y, p, zero_division=0),
    "recall": lambda y, p: sk.recall_score(y, p, zero_division=0),
    "f1": lambda y, p: sk.f1_score(y, p, zero_division=0),
    "mse": sk.mean_squared_error,
    "rmse": sk.root_mean_squared_error,
    "mae": sk.mean_absolute_error,
    "r2": sk.r2_score,
}


def close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def binary_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores with many ties (0 to 3 decimals), labels with a random prevalence, both classes twice."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 400))
    labels = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.float64)
    labels[:2], labels[2:4] = 1.0, 0.0
    scores = np.round(np.clip(rng.normal(0.5 + 0.2 * labels, 0.25), 0, 1), int(rng.integers(0, 4)))
    return scores, labels


def regression_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(10_000 + seed)
    n = int(rng.integers(3, 400))
    scale = 10.0 ** rng.integers(-3, 4)
    targets = np.round(rng.normal(0, scale, n), int(rng.integers(0, 3)))
    targets[:2] = (0.0, scale)  # never constant
    predictions = np.round(targets + rng.normal(0, scale / 2, n), int(rng.integers(0, 3)))
    return predictions, targets


def test_every_metric_equals_scikit_learn_on_500_seeded_cases_with_ties() -> None:
    checked = 0
    for seed in range(500):
        scores, labels = binary_case(seed)
        assert close(estimate("auroc", scores, labels, level=0.95, seed=1).value, SKLEARN["auroc"](labels, scores))
        hard = (scores >= 0.5).astype(np.float64)
        precision, recall, f1, _ = sk.precision_recall_fscore_support(labels, hard, average="binary", zero_division=0)
        oracle = {"accuracy": sk.accuracy_score(labels, hard), "precision": precision, "recall": recall, "f1": f1}
        for name in COUNT_METRICS:
            on_scores = estimate(name, scores, labels, level=0.95, seed=1, threshold=0.5).value
            on_labels = estimate(name, hard, labels, level=0.95, seed=1).value
            assert close(on_scores, oracle[name]) and close(on_labels, oracle[name]), (seed, name)
        predictions, targets = regression_case(seed)
        for name in ("mse", "rmse", "mae", "r2"):
            ours = estimate(name, predictions, targets, level=0.95, seed=1).value
            assert close(ours, SKLEARN[name](targets, predictions)), (seed, name)
        checked += 1
    assert checked == 500


def delong_by_definition(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """DeLong (1988) straight from its definition, O(m*n): the structural components of each row
    and their variances."""
    x, y = scores[positive], scores[~positive]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / x.size + v01.var(ddof=1) / y.size)


def test_delong_variance_by_mid_ranks_equals_the_definition() -> None:
    compared = 0
    for seed in range(200):
        scores, labels = binary_case(seed)
        value, variance = delong_by_definition(scores, labels == 1)
        est = auroc(scores, labels == 1, 0.95)
        assert close(est.value, value)
        # the two-sided 95% interval is value ± 1.959964 se: recover se where no clamping cut it
        if est.low > 0 and est.high < 1:
            se = (est.high - est.low) / (2 * 1.959963984540054)
            assert math.isclose(se * se, variance, rel_tol=1e-9, abs_tol=1e-15), seed
            compared += 1
    assert compared > 150


def test_tie_groups() -> None:
    values = np.array([5.0, 2.0, 1.0, 2.0, 5.0, 2.0])
    assert tie_bounds(values, np.argsort(values)).tolist() == [0, 1, 4, 6]
    assert tie_bounds(np.array([-0.0, 0.0]), np.arange(2)).tolist() == [0, 2]  # -0.0 == 0.0: one tie
    assert auroc(np.array([0.0, -0.0, 1.0, 0.5]), np.array([True, False, True, False]), 0.95).value == 0.625


@pytest.fixture(scope="module")
def million() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    n = 1_000_000
    labels = (rng.random(n) < 0.3).astype(np.float64)
    scores = np.round(1 / (1 + np.exp(-rng.normal(labels * 1.2, 1.0))), 3)  # 1001 distinct values
    targets = np.round(rng.normal(50, 10, n), 1)
    predictions = np.round(targets + rng.normal(0, 3, n), 1)
    return scores, labels, predictions, targets


def test_parity_at_one_million_rows(million: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    scores, labels, predictions, targets = million
    assert close(estimate("auroc", scores, labels, level=0.95, seed=1).value, SKLEARN["auroc"](labels, scores))
    hard = (scores >= 0.5).astype(np.float64)
    for name in COUNT_METRICS:
        ours = estimate(name, scores, labels, level=0.95, seed=1, threshold=0.5).value
        assert close(ours, SKLEARN[name](labels, hard)), name
    for name in ("mse", "rmse", "mae", "r2"):
        assert close(
            estimate(name, predictions, targets, level=0.95, seed=1).value, SKLEARN[name](targets, predictions)
        )
    assert close(r2_value(predictions, targets), sk.r2_score(targets, predictions))


def test_perfect_separation_at_one_million_rows_is_exactly_one() -> None:
    n = 1_000_000
    labels = np.zeros(n)
    labels[n // 3 :] = 1
    scores = np.linspace(0, 1, n)
    est = auroc(scores, labels == 1, 0.95)
    assert est.value == 1.0 and est.high == 1.0 and est.upper_bound == 1.0
    assert 0 <= est.low <= est.lower_bound <= 1.0


def test_same_inputs_give_bit_identical_results_and_the_seed_is_what_varies(tmp_path: Path) -> None:
    scores, labels = binary_case(7)
    path = tmp_path / "both.csv"
    np.savetxt(path, np.column_stack([scores, labels]), delimiter=",", header="p,y", comments="", fmt="%.17g")
    for metric in ("auroc", "accuracy", "r2"):
        args = dict(score_column="p", label_column="y", threshold=0.5 if metric == "accuracy" else None)
        first = measure(resolve_metric(metric), 0.5, path, **args)  # type: ignore[arg-type]
        again = measure(resolve_metric(metric), 0.5, path, **args)  # type: ignore[arg-type]
        assert first.model_dump_json() == again.model_dump_json()
        other = measure(resolve_metric(metric), 0.5, path, seed=1, **args)  # type: ignore[arg-type]
        assert other.value == first.value
        assert (other.interval == first.interval) is (metric == "auroc")  # DeLong draws nothing


def test_delong_sums_in_slices_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large inputs are summed a slice of tie groups at a time; slices of 7 groups give the same
    value exactly and the same interval to rounding."""
    from hokusai_ci.domain.measured import intervals

    for seed in range(20):
        scores, labels = binary_case(seed)
        whole = auroc(scores, labels == 1, 0.95)
        monkeypatch.setattr(intervals, "_GROUPS_AT_ONCE", 7)
        sliced = auroc(scores, labels == 1, 0.95)
        monkeypatch.undo()
        assert sliced.value == whole.value
        assert math.isclose(sliced.low, whole.low, rel_tol=1e-12, abs_tol=1e-15)
