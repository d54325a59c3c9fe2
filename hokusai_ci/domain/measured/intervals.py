"""Each measurable metric's value and its confidence interval, with numpy alone.

One method per metric, each linear or n log n in the rows, so 10M rows stay cheap:
- auroc: DeLong's variance by the mid-rank algorithm (Sun & Xu 2014) over ONE sort of the scores:
  the within-class mid-ranks follow from the same sorted order (counts of each class at the tie
  groups' bounds), so no second sort. Twice a mid-rank is an integer, so the rank sums are exact
  in int64 and the value is the correctly rounded quotient of two exact integers (no drift at
  large n, and never 1.0000001). Bounds are clamped to [0, 1].
- accuracy, precision, recall, f1: a function of the four confusion counts alone, so a
  multinomial draw of the counts is exactly the row bootstrap; 2000 draws cost the same at any n.
- mse, mae: the central limit theorem on the per-row losses; rmse from the mse bounds.
- r2: a seeded bootstrap over the rows' sufficient sums (residual², centred target, its square).
  Up to R2_GROUPS rows it resamples rows; beyond, the rows are first dealt at random into
  R2_GROUPS groups and the groups are resampled (exchangeable group sums: the same variance to
  O(1/groups)), which keeps 10M rows to a fraction of a second.

Two-sided intervals are at `level`; the one-sided bound the gate uses is at `level` too (the
95% lower bound is the 5th percentile, not the 2.5th). Every random draw comes from
numpy's PCG64 seeded with the recorded seed: the same inputs give bit-identical output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from hokusai_ci.domain.measured.decision import THRESHOLD_METRICS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.signedinteger[Any]]

BOOTSTRAP_REPLICATES = 2000
R2_REPLICATES = 1000
R2_GROUPS = 20_000
_R2_DRAWS = 500_000  # group picks drawn at once (x 4 sums x 8 bytes = 16 MB)

COUNT_METRICS = THRESHOLD_METRICS
BINARY_METRICS = ("auroc", *COUNT_METRICS)
REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")
MEASURABLE = (*BINARY_METRICS, *REGRESSION_METRICS)


@dataclass(frozen=True)
class Estimate:
    """A metric's value, its two-sided interval at `level`, and both one-sided bounds at `level`."""

    value: float
    low: float
    high: float
    lower_bound: float
    upper_bound: float
    method: str


def estimate(
    metric: str,
    predictions: FloatArray,
    labels: npt.NDArray[Any],
    *,
    level: float,
    seed: int,
    threshold: float | None = None,
) -> Estimate:
    """The estimate for one metric name of MEASURABLE; inputs are already checked (refusals.py).
    Labels of binary metrics may be 0/1 numbers or booleans."""
    if metric == "auroc":
        return auroc(predictions, labels == 1, level)
    if metric in COUNT_METRICS:
        predicted = predictions >= threshold if threshold is not None else predictions == 1
        return count_metric(metric, confusion(predicted, labels == 1), level, seed)
    if metric in ("mse", "rmse", "mae"):
        return loss_metric(metric, predictions, labels, level)
    if metric == "r2":
        return r2(predictions, labels, level, seed)
    raise ValueError(f"not a measurable metric: {metric}")


# -- AUROC: DeLong by mid-ranks -------------------------------------------------------------------
_GROUPS_AT_ONCE = 1 << 18  # tie groups (or sorted rows) per step: ~12 MB of temporaries at any n


def index_type(rows: int) -> type[np.signedinteger[Any]]:
    """The integer type that holds any row position or count up to `rows`: int32 below 2^31
    rows (4 bytes a row or a group instead of 8)."""
    return np.int32 if rows < 2**31 else np.int64


def tie_bounds(values: FloatArray, order: IntArray) -> IntArray:
    """Where each group of equal values starts in the sorted order `values[order]`, then the
    length, as index_type(rows). The sorted values are gathered a slice at a time, never whole
    (8 bytes a row less), and the bounds are collected a slice at a time too: with every score
    distinct there is one a row."""
    n = order.size
    edge = np.empty(n + 1, dtype=np.bool_)
    edge[0] = edge[n] = True
    last = None
    for lo in range(0, n, _GROUPS_AT_ONCE):
        chunk = values[order[lo : lo + _GROUPS_AT_ONCE]]
        np.not_equal(chunk[1:], chunk[:-1], out=edge[lo + 1 : lo + chunk.size])
        if last is not None:
            edge[lo] = chunk[0] != last
        last = chunk[-1]
    bounds: IntArray = np.empty(int(np.count_nonzero(edge)), dtype=index_type(n + 1))
    at = 0
    for lo in range(0, n + 1, _GROUPS_AT_ONCE):
        found = np.flatnonzero(edge[lo : lo + _GROUPS_AT_ONCE])
        bounds[at : at + found.size] = found + lo
        at += found.size
    return bounds


def positives_at(positive: BoolArray, order: IntArray, bounds: IntArray) -> IntArray:
    """P(k) at each bound k: the positives among the first k rows of the sorted order, counted a
    slice of sorted rows at a time (the labels in sorted order, or a running count, whole would
    be 1 and 4 bytes a row more)."""
    out: IntArray = np.zeros(bounds.size, dtype=bounds.dtype)
    carry = 0
    for lo in range(0, order.size, _GROUPS_AT_ONCE):
        hi = min(lo + _GROUPS_AT_ONCE, order.size)
        counted = np.cumsum(positive[order[lo:hi]], dtype=np.int64)
        # the bounds b with lo < b <= hi (searched for as bounds' own type: another would copy them)
        first, last = np.searchsorted(bounds, np.array([lo, hi], dtype=bounds.dtype), side="right")
        out[first:last] = counted[bounds[first:last] - 1 - lo] + carry
        carry += int(counted[-1])
    return out


def auroc(scores: FloatArray, positive: BoolArray, level: float) -> Estimate:
    """DeLong's structural components come from the mid-ranks, which depend only on each row's
    tie group in the one sorted order: with N(k) and P(k) the negatives and positives among the
    first k sorted rows, a positive in the group [s, e) has twice its overall mid-rank minus
    twice its mid-rank among positives equal to N(s) + N(e) (negatives below it, ties counted
    half, times two), and a negative has 2m - P(s) - P(e) likewise. So every sum runs over the
    tie groups, in slices, with integers where exactness matters."""
    order = np.argsort(scores)  # ties in any order: mid-ranks depend on the values alone
    # the peak of memory: the order (8 bytes a row beyond the inputs) and 8 bytes a tie group
    bounds = tie_bounds(scores, order)
    pos_upto = positives_at(positive, order, bounds)  # P at each group bound
    del order
    m = int(pos_upto[-1])
    n = int(bounds[-1]) - m
    twice_u = 0
    for lo in range(0, bounds.size - 1, _GROUPS_AT_ONCE):
        p, x, _, _ = _group_slice(bounds, pos_upto, lo, m)
        twice_u += int((np.diff(p) * x).sum())  # exact: at most 2mn, far below 2^63
    value = twice_u / (2 * m * n)  # the Mann-Whitney U over mn, correctly rounded
    ss10 = ss01 = 0.0
    for lo in range(0, bounds.size - 1, _GROUPS_AT_ONCE):
        p, x, neg, y = _group_slice(bounds, pos_upto, lo, m)
        # sums of products, not np.dot: a BLAS call may spin threads on a busy 2-core runner
        ss10 += float((np.diff(p) * np.square(x / (2.0 * n) - value)).sum())
        ss01 += float((np.diff(neg) * np.square(y / (2.0 * m) - value)).sum())
    variance = ss10 / (m - 1) / m + ss01 / (n - 1) / n
    return _normal(value, math.sqrt(max(variance, 0.0)), level, "DeLong (mid-ranks)", 0.0, 1.0)


def _group_slice(
    bounds: IntArray, pos_upto: IntArray, lo: int, m: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """For the tie groups from lo in one slice: P and N at their bounds, and per group
    2n*V10 (of each positive in it) and 2m*V01 (of each negative in it), in int64."""
    p = pos_upto[lo : lo + _GROUPS_AT_ONCE + 1].astype(np.int64)
    neg = bounds[lo : lo + _GROUPS_AT_ONCE + 1].astype(np.int64) - p
    return p, neg[:-1] + neg[1:], neg, 2 * m - p[:-1] - p[1:]


# -- counts: accuracy, precision, recall, F1 ------------------------------------------------------
def confusion(predicted: BoolArray, positive: BoolArray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn)."""
    tp = int(np.count_nonzero(predicted & positive))
    fp = int(np.count_nonzero(predicted)) - tp
    fn = int(np.count_nonzero(positive)) - tp
    return tp, fp, fn, int(predicted.size) - tp - fp - fn


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division default)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


COUNT_STATISTIC: dict[str, Callable[[FloatArray], FloatArray]] = {
    "accuracy": lambda c: (c[..., 0] + c[..., 3]) / c.sum(axis=-1),
    "precision": lambda c: _ratio(c[..., 0], c[..., 0] + c[..., 1]),
    "recall": lambda c: _ratio(c[..., 0], c[..., 0] + c[..., 2]),
    "f1": lambda c: _ratio(2 * c[..., 0], 2 * c[..., 0] + c[..., 1] + c[..., 2]),
}


def count_metric(metric: str, counts: tuple[int, int, int, int], level: float, seed: int) -> Estimate:
    """The statistic of the counts, and a percentile interval from a multinomial bootstrap of
    them (the counts of a row bootstrap are distributed exactly so)."""
    statistic = COUNT_STATISTIC[metric]
    observed = np.asarray(counts, dtype=np.float64)
    rows = int(observed.sum())
    draws = multinomial(np.random.default_rng(seed), rows, observed / rows, BOOTSTRAP_REPLICATES)
    value = float(statistic(observed))
    return _percentile(value, statistic(draws), level, "bootstrap of confusion counts")


def multinomial(rng: np.random.Generator, rows: int, cells: FloatArray, size: int) -> FloatArray:
    """`size` multinomial draws, as one vectorised binomial per cell: cell k gets
    Binomial(rows left, p_k / probability left), which is the multinomial exactly (and ~10x
    faster than numpy's per-draw loop for a few cells)."""
    out = np.empty((size, cells.size), dtype=np.float64)
    left = np.full(size, rows, dtype=np.int64)
    mass = 1.0
    for k, p in enumerate(cells[:-1]):
        share = min(1.0, float(p) / mass) if mass > 0 else 0.0
        taken = rng.binomial(left, share)
        out[:, k] = taken
        left -= taken
        mass -= float(p)
    out[:, -1] = left
    return out


# -- regression ---------------------------------------------------------------------------------
def loss_metric(metric: str, predictions: FloatArray, targets: FloatArray, level: float) -> Estimate:
    """Mean loss with a CLT interval; rmse is the square root of the mse and of its bounds."""
    diff = predictions - targets
    losses = np.abs(diff) if metric == "mae" else np.square(diff)
    del diff
    mean = float(np.mean(losses))
    se = float(np.std(losses, ddof=1)) / math.sqrt(losses.size) if losses.size > 1 else 0.0
    est = _normal(mean, se, level, "normal approximation (CLT) of per-row losses", 0.0, None)
    if metric != "rmse":
        return est
    root = math.sqrt
    bounds = (root(est.value), root(est.low), root(est.high), root(est.lower_bound), root(est.upper_bound))
    return Estimate(*bounds, "normal approximation (CLT) of per-row squared errors, square root of its bounds")


def r2_value(predictions: FloatArray, targets: FloatArray) -> float:
    residual = float(np.sum(np.square(targets - predictions)))
    total = float(np.sum(np.square(targets - np.mean(targets))))
    return 1.0 - residual / total


def r2(predictions: FloatArray, targets: FloatArray, level: float, seed: int) -> Estimate:
    rng = np.random.default_rng(seed)
    centred = targets - np.mean(targets)
    n = centred.size
    draws = resampled_sums((np.ones_like(centred), centred, np.square(centred), np.square(targets - predictions)), rng)
    del centred
    samples = np.empty(R2_REPLICATES, dtype=np.float64)
    for start, s in draws:  # s: (replicates, 4): rows, sum y, sum y^2, sum residual^2
        total = s[:, 2] - np.square(s[:, 1]) / s[:, 0]
        samples[start : start + len(s)] = 1.0 - _ratio(s[:, 3], total)
    method = "bootstrap of rows" if n <= R2_GROUPS else f"bootstrap of rows dealt into {R2_GROUPS} random groups"
    return _percentile(r2_value(predictions, targets), samples, level, method)


def resampled_sums(parts: tuple[FloatArray, ...], rng: np.random.Generator) -> Iterator[tuple[int, FloatArray]]:
    """The row bootstrap of per-row sums, R2_REPLICATES draws yielded in chunks as (first draw,
    each draw's column sums). Above R2_GROUPS rows the rows are first dealt into that many random
    groups and the groups are drawn, so a draw costs the same at any n."""
    n = parts[0].size
    if n <= R2_GROUPS:
        sums = np.stack(parts, axis=1)
    else:
        group = rng.integers(0, R2_GROUPS, size=n)
        sums = np.stack([np.bincount(group, weights=p, minlength=R2_GROUPS) for p in parts], axis=1)
        del group
    del parts
    k = sums.shape[0]
    chunk = max(1, _R2_DRAWS // k)
    for start in range(0, R2_REPLICATES, chunk):
        picks = rng.integers(0, k, size=(min(chunk, R2_REPLICATES - start), k))
        yield start, sums[picks].sum(axis=1)


# -- interval shapes ----------------------------------------------------------------------------
def _normal(value: float, se: float, level: float, method: str, lo: float | None, hi: float | None) -> Estimate:
    one = NormalDist().inv_cdf(level) * se
    two = NormalDist().inv_cdf((1 + level) / 2) * se

    def clamp(x: float) -> float:
        x = max(x, lo) if lo is not None else x
        return min(x, hi) if hi is not None else x

    return Estimate(value, clamp(value - two), clamp(value + two), clamp(value - one), clamp(value + one), method)


def _percentile(value: float, samples: FloatArray, level: float, method: str) -> Estimate:
    q = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2, 1 - level, level])
    low, high, lower, upper = (float(x) for x in q)
    return Estimate(value, low, high, lower, upper, f"{method} ({samples.size} seeded draws, percentile)")
