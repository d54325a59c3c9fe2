"""Calibration of the measured gate: how often it passes a model that is NOT better than the
baseline, and how often it passes one that is.

For each of AUROC (DeLong), accuracy (bootstrap of the confusion counts) and MSE (CLT), 1000
datasets are simulated with the true metric equal to the baseline, and 1000 more with the true
metric 0.01 better, at n=50,000. The 95% one-sided bound must pass at most 7% of the first and
at least 99% of the second. The point rule is run on the same null datasets and must pass about
half of them: that is what the bound prevents, and it shows the simulation can tell them apart.

Why these limits with 1000 datasets. The number of passes is Binomial(1000, p).
- A calibrated 95% bound has p = 0.05 under the null: mean 50, sd 6.9; 70 passes is 2.9 sd
  above, P(X > 70) ≈ 0.3%. A bound that is really a 90% bound (p = 0.10: mean 100, sd 9.5)
  gives X ≤ 70 with P ≈ 0.1%. So the limit 7% separates "calibrated" from "10% false passes".
- At +0.01 and n=50,000 the expected power is ≥ 99.6% for each simulated metric (AUROC: se ≈
  0.0023, the margin 0.01 is 4.3 se, power Φ(4.3 - 1.645)); with p = 0.996, X ≥ 990 fails with
  P ≈ 0.1%, while a method with half the power fails the limit with certainty.
The datasets come from fixed seeds, so the test is deterministic; the argument above says the
seeds were not lucky picks. Data are drawn for many datasets at once (vectorised), and each
dataset goes through the same functions the gate uses.

The simulated truths: binormal scores (negatives N(0,1), positives N(mu,1), prevalence 0.3)
have AUROC Φ(mu/√2); accuracy counts are multinomial over the four cells with the stated cell
probabilities (their distribution is exactly that of a row sample); MSE of N(0, s²) errors is s².
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from statistics import NormalDist

import numpy as np

from hokusai_ci.domain.measured.decision import decide
from hokusai_ci.domain.measured.intervals import R2_GROUPS, Estimate, auroc, count_metric, loss_metric, r2, r2_value
from hokusai_ci.domain.metrics import resolve_metric

DATASETS = 1000
LEVEL = 0.95
CHUNK = 50  # datasets drawn at once


def pass_rates(metric: str, baseline: float, estimates: Iterator[Estimate]) -> tuple[float, float]:
    """(share passed by the bound rule, share passed by the point rule)."""
    bound = point = 0
    for est in estimates:
        kw = dict(value=est.value, lower_bound=est.lower_bound, upper_bound=est.upper_bound)
        bound += decide(resolve_metric(metric), baseline, **kw)[0]  # type: ignore[arg-type]
        point += decide(resolve_metric(metric), baseline, decision="point", **kw)[0]  # type: ignore[arg-type]
    return bound / DATASETS, point / DATASETS


def binormal_auroc(true_auroc: float, n: int, seed: int) -> Iterator[Estimate]:
    mu = math.sqrt(2) * NormalDist().inv_cdf(true_auroc)
    rng = np.random.default_rng(seed)
    for _ in range(DATASETS // CHUNK):
        positive = rng.random((CHUNK, n)) < 0.3
        scores = rng.standard_normal((CHUNK, n)) + mu * positive
        for i in range(CHUNK):
            yield auroc(scores[i], positive[i], LEVEL)


def accuracy_counts(true_accuracy: float, n: int, seed: int) -> Iterator[Estimate]:
    wrong = 1 - true_accuracy
    cells = [0.3 - wrong / 2, wrong / 2, wrong / 2, 0.7 - wrong / 2]  # tp, fp, fn, tn
    counts = np.random.default_rng(seed).multinomial(n, cells, size=DATASETS)
    for i, row in enumerate(counts):
        yield count_metric("accuracy", tuple(int(c) for c in row), LEVEL, seed=i)  # type: ignore[arg-type]


def gaussian_mse(true_mse: float, n: int, seed: int) -> Iterator[Estimate]:
    rng = np.random.default_rng(seed)
    zeros = np.zeros(n)
    for _ in range(DATASETS // CHUNK):
        errors = rng.normal(0, math.sqrt(true_mse), (CHUNK, n))
        for i in range(CHUNK):
            yield loss_metric("mse", errors[i], zeros, LEVEL)


def check(
    metric: str, baseline: float, better: float, simulate: Callable[[float, int, int], Iterator[Estimate]]
) -> None:
    null_bound, null_point = pass_rates(metric, baseline, simulate(baseline, 5_000, 1))
    assert null_bound <= 0.07, f"{metric}: the 95% bound passed {null_bound:.1%} of models no better than the baseline"
    assert 0.40 <= null_point <= 0.60, null_point  # the point rule is a coin
    power, _ = pass_rates(metric, baseline, simulate(better, 50_000, 2))
    assert power >= 0.99, f"{metric}: the bound passed only {power:.1%} of models 0.01 better at n=50,000"


def test_auroc_delong_bound_is_calibrated() -> None:
    check("auroc", 0.80, 0.81, binormal_auroc)


def test_accuracy_bootstrap_bound_is_calibrated() -> None:
    check("accuracy", 0.80, 0.81, accuracy_counts)


def test_mse_clt_bound_is_calibrated() -> None:
    check("mse", 0.10, 0.09, gaussian_mse)


def test_r2_bootstrap_over_groups_matches_a_row_bootstrap() -> None:
    """Above R2_GROUPS rows the R² bootstrap resamples random groups of rows instead of rows.
    Its interval must be as wide as a plain row bootstrap's (400 draws here, computed directly):
    the spread of 400 draws estimates a width to about ±7%, so 20% apart means a wrong method."""
    rng = np.random.default_rng(9)
    n = 5 * R2_GROUPS
    targets = rng.normal(0, 1, n)
    predictions = 0.7 * targets + rng.normal(0, 0.6, n) + rng.standard_t(3, n) * 0.1  # heavy-tailed errors
    grouped = r2(predictions, targets, LEVEL, seed=3)
    assert grouped.method.startswith("bootstrap of rows dealt into")
    draws = np.empty(400)
    for i in range(draws.size):
        pick = rng.integers(0, n, n)
        draws[i] = r2_value(predictions[pick], targets[pick])
    low, high = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    assert abs((grouped.high - grouped.low) / (high - low) - 1) < 0.2
    assert grouped.low < grouped.value < grouped.high
