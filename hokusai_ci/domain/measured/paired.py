"""The difference candidate - champion of one metric measured on the SAME rows, and its interval.

Two models scored on one evaluation set make correlated errors: most rows one gets right the
other gets right too. Adding the two single-model variances ignores that and overstates the
noise of the difference several-fold; pairing each row with itself removes the shared part.
One method per metric, numpy alone, each as cheap as its single-model counterpart (intervals.py):
- auroc: paired DeLong. Each row's structural component (its placement among the other class)
  comes from the mid-ranks of ONE sort per model; the variance of the difference is
  var(V10_c - V10_h)/m + var(V01_c - V01_h)/n, which is L S L' of DeLong's 2x2 covariance S
  with L = (1, -1). Twice a placement times the other class's size is an integer, so the
  per-row differences and the difference of the AUCs are exact.
- accuracy, precision, recall, f1: each model's statistic is a function of its confusion
  counts, and both models' counts are functions of the eight joint cells (label, candidate's
  prediction, champion's prediction). A multinomial draw of the eight cells is exactly the paired
  row bootstrap for any statistic of them.
- mse, mae: the central limit theorem on the per-row loss differences. rmse: the same on the
  per-row squared errors, linearised through the square root (delta method).
- r2: a seeded bootstrap resampling the same rows for both models (above R2_GROUPS rows, random
  groups of rows, as in intervals.r2).
A model compared with itself gets a difference of exactly 0 and a zero-width interval. Every
random draw comes from PCG64 seeded with the recorded seed: same inputs, bit-identical output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hokusai_ci.domain.measured.intervals import (
    BOOTSTRAP_REPLICATES,
    COUNT_METRICS,
    COUNT_STATISTIC,
    R2_GROUPS,
    R2_REPLICATES,
    BoolArray,
    Estimate,
    FloatArray,
    IntArray,
    _normal,
    _percentile,
    index_type,
    multinomial,
    positives_at,
    r2_value,
    resampled_sums,
    tie_bounds,
)

_R2_DRAWS = 500_000  # group picks drawn at once, as in intervals.r2


@dataclass(frozen=True)
class PairedEstimate:
    """Each model's value, and the difference candidate - champion with its interval and bounds
    (an Estimate whose value is the difference)."""

    candidate: float
    champion: float
    difference: Estimate


def paired_estimate(
    metric: str,
    candidate: FloatArray,
    champion: FloatArray,
    labels: npt.NDArray[Any],
    *,
    level: float,
    seed: int,
    threshold: float | None = None,
    champion_threshold: float | Literal["same"] | None = "same",
) -> PairedEstimate:
    """The paired estimate for one metric of intervals.MEASURABLE; the three arrays are aligned row
    by row and already checked (refusals.py). Labels of binary metrics may be 0/1 or booleans.
    Each model's scores become predictions at its own threshold (`champion_threshold`: the one
    the champion was measured with; "same": the candidate's; None: its scores are 0/1)."""
    if metric == "auroc":
        return paired_auroc(candidate, champion, labels == 1, level)
    if metric in COUNT_METRICS:
        theirs = threshold if champion_threshold == "same" else champion_threshold
        cand = candidate >= threshold if threshold is not None else candidate == 1
        champ = champion >= theirs if theirs is not None else champion == 1
        return paired_counts(metric, joint_cells(labels == 1, cand, champ), level, seed)
    if metric in ("mse", "rmse", "mae"):
        return paired_loss(metric, candidate, champion, labels, level)
    if metric == "r2":
        return paired_r2(candidate, champion, labels, level, seed)
    raise ValueError(f"not a measurable metric: {metric}")


# -- AUROC: paired DeLong -----------------------------------------------------------------------
def twice_placements(scores: FloatArray, positive: BoolArray) -> tuple[IntArray, int, int]:
    """(per-row integers, m positives, n negatives): for a positive row 2n*V10, twice the number
    of negatives below its score (ties counted half); for a negative row 2m*V01, twice the
    positives above it. From one sort: a row in the tie group [s, e) of the sorted order has
    N(s) + N(e) and 2m - P(s) - P(e) respectively (P, N: positives, negatives before k).
    The integers are at most twice the rows, so int32 holds them below 2^30 rows (4 bytes a row
    each, and the difference of two models' fits too)."""
    out: IntArray = np.empty(scores.size, dtype=np.int32 if scores.size < 2**30 else np.int64)
    m, n, _ = place(scores, positive, out, subtract=False)
    return out, m, n


def place(scores: FloatArray, positive: BoolArray, out: IntArray, *, subtract: bool) -> tuple[int, int, int]:
    """Write each row's twice_placements integer into `out` (or subtract it from what `out`
    holds: the per-row difference of two models without a second array), a slice of sorted
    rows at a time; (m, n, 2U). The sort's order is kept as index_type (4 bytes a row), and
    nothing else a row long is made: the tie groups' bounds and counts are 8 bytes a group."""
    order = np.argsort(scores).astype(index_type(scores.size))
    bounds = tie_bounds(scores, order)
    pos_upto = positives_at(positive, order, bounds)
    m = int(pos_upto[-1])
    n = int(bounds[-1]) - m
    twice_u = 0
    for lo in range(0, scores.size, _ROWS_AT_ONCE):
        hi = min(lo + _ROWS_AT_ONCE, scores.size)
        # the tie groups that hold the rows [lo, hi), and how many of those rows each holds
        first = int(np.searchsorted(bounds, np.array(lo, dtype=bounds.dtype), side="right")) - 1
        last = int(np.searchsorted(bounds, np.array(hi, dtype=bounds.dtype), side="left"))
        start = bounds[first : last + 1].astype(np.int64)
        p = pos_upto[first : last + 1].astype(np.int64)
        neg = start - p  # now N at each group bound
        rows = np.minimum(start[1:], hi) - np.maximum(start[:-1], lo)
        where = order[lo:hi]
        here = positive[where]
        as_negative = np.repeat((2 * m - p[:-1] - p[1:]).astype(out.dtype), rows)
        values = np.where(here, np.repeat((neg[:-1] + neg[1:]).astype(out.dtype), rows), as_negative)
        twice_u += int(values[here].sum(dtype=np.int64))
        if subtract:
            out[where] -= values  # each row once: a gather, a subtraction, a scatter
        else:
            out[where] = values
    return m, n, twice_u


_ROWS_AT_ONCE = 1 << 18  # sorted rows placed per step (a few MB of temporaries at any n)


def paired_auroc(candidate: FloatArray, champion: FloatArray, positive: BoolArray, level: float) -> PairedEstimate:
    """Paired DeLong: both AUCs and the normal interval of their difference."""
    auc_c, auc_h, value, variance = paired_delong(candidate, champion, positive)
    est = _normal(value, math.sqrt(variance), level, "paired DeLong", -1.0, 1.0)
    return PairedEstimate(auc_c, auc_h, est)


def paired_delong(
    candidate: FloatArray, champion: FloatArray, positive: BoolArray
) -> tuple[float, float, float, float]:
    """(AUC of the candidate, of the champion, their difference, its DeLong variance), the
    variance from the per-row differences of the structural components."""
    twice_c: IntArray = np.empty(candidate.size, dtype=np.int32 if candidate.size < 2**30 else np.int64)
    m, n, u_c = place(candidate, positive, twice_c, subtract=False)  # 2U of each: exact integers
    _, _, u_h = place(champion, positive, twice_c, subtract=True)  # now the per-row differences
    d10, d01 = twice_c[positive], twice_c[~positive]
    del twice_c
    value = (u_c - u_h) / (2 * m * n)  # exact integers, one correctly rounded quotient
    # per-row differences of V10 are d10/(2n) with mean `value`; of V01, d01/(2m) likewise
    s10 = float(np.square(d10 / (2.0 * n) - value).sum()) / (m - 1)
    s01 = float(np.square(d01 / (2.0 * m) - value).sum()) / (n - 1)
    return u_c / (2 * m * n), u_h / (2 * m * n), value, max(s10 / m + s01 / n, 0.0)


def delong_covariance(candidate: FloatArray, champion: FloatArray, positive: BoolArray) -> FloatArray:
    """DeLong's 2x2 covariance matrix of the two AUCs (S10/m + S01/n), for reports and checks."""
    twice_c, m, n = twice_placements(candidate, positive)
    twice_h, _, _ = twice_placements(champion, positive)
    v10 = np.stack([twice_c[positive], twice_h[positive]]) / (2.0 * n)
    v01 = np.stack([twice_c[~positive], twice_h[~positive]]) / (2.0 * m)
    return np.asarray(np.cov(v10, ddof=1) / m + np.cov(v01, ddof=1) / n, dtype=np.float64)


# -- counts: the joint 2x2x2 cells --------------------------------------------------------------
def joint_cells(positive: BoolArray, candidate: BoolArray, champion: BoolArray) -> tuple[int, ...]:
    """Counts of the eight cells, index 4*label + 2*candidate's prediction + champion's."""
    code = 4 * positive.astype(np.int8) + 2 * candidate.astype(np.int8) + champion.astype(np.int8)
    return tuple(int(c) for c in np.bincount(code, minlength=8))


def _confusions(cells: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Each model's (tp, fp, fn, tn) from the joint cells (last axis of 8)."""
    c = cells.reshape(*cells.shape[:-1], 2, 2, 2)  # label, candidate, champion
    return _tp_fp_fn_tn(c.sum(axis=-1)), _tp_fp_fn_tn(c.sum(axis=-2))  # each: label x prediction


def _tp_fp_fn_tn(x: FloatArray) -> FloatArray:
    return np.stack([x[..., 1, 1], x[..., 0, 1], x[..., 1, 0], x[..., 0, 0]], axis=-1)


def paired_counts(metric: str, cells: tuple[int, ...], level: float, seed: int) -> PairedEstimate:
    """The difference of the statistic, with a percentile interval from multinomial draws of the
    joint cells (exactly the paired row bootstrap)."""
    statistic = COUNT_STATISTIC[metric]
    observed = np.asarray(cells, dtype=np.float64)
    rows = int(observed.sum())
    draws = multinomial(np.random.default_rng(seed), rows, observed / rows, BOOTSTRAP_REPLICATES)
    cand, champ = _confusions(observed)
    draw_cand, draw_champ = _confusions(draws)
    value_c, value_h = float(statistic(cand)), float(statistic(champ))
    samples = statistic(draw_cand) - statistic(draw_champ)
    est = _percentile(value_c - value_h, samples, level, "paired bootstrap of the joint confusion cells")
    return PairedEstimate(value_c, value_h, est)


# -- regression ---------------------------------------------------------------------------------
def paired_loss(
    metric: str, candidate: FloatArray, champion: FloatArray, targets: FloatArray, level: float
) -> PairedEstimate:
    """The CLT on per-row loss differences; for rmse, on the per-row squared errors each divided
    by twice its model's rmse (the square root linearised), which keeps the verdict's sign that
    of the mse difference."""
    if metric == "mae":
        loss_c, loss_h = np.abs(candidate - targets), np.abs(champion - targets)
    else:
        loss_c, loss_h = np.square(candidate - targets), np.square(champion - targets)
    value_c, value_h = float(np.mean(loss_c)), float(np.mean(loss_h))
    method = "paired CLT of per-row loss differences"
    if metric == "rmse":
        value_c, value_h = math.sqrt(value_c), math.sqrt(value_h)
        loss_c = loss_c / (2 * value_c) if value_c else np.zeros_like(loss_c)  # exact predictions: no spread
        loss_h = loss_h / (2 * value_h) if value_h else np.zeros_like(loss_h)
        method = "paired CLT of per-row squared-error differences, delta method for the square root"
    diff = loss_c - loss_h
    del loss_c, loss_h
    se = float(np.std(diff, ddof=1)) / math.sqrt(diff.size) if diff.size > 1 else 0.0
    est = _normal(value_c - value_h, se, level, method, None, None)
    return PairedEstimate(value_c, value_h, est)


def paired_r2(
    candidate: FloatArray, champion: FloatArray, targets: FloatArray, level: float, seed: int
) -> PairedEstimate:
    """A bootstrap of the rows' sufficient sums (count, centred target, its square, each model's
    squared residual), the same rows for both models in every draw."""
    rng = np.random.default_rng(seed)
    centred = targets - np.mean(targets)
    n = centred.size
    parts = (
        np.ones_like(centred),
        centred,
        np.square(centred),
        np.square(targets - candidate),
        np.square(targets - champion),
    )
    draws = resampled_sums(parts, rng)
    del parts, centred
    samples = np.empty(R2_REPLICATES, dtype=np.float64)
    for start, s in draws:
        total = s[:, 2] - np.square(s[:, 1]) / s[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(total != 0, (s[:, 4] - s[:, 3]) / np.where(total != 0, total, 1.0), 0.0)
        samples[start : start + len(s)] = gain  # R²_c - R²_h = (SSres_h - SSres_c) / SStot
    value_c, value_h = r2_value(candidate, targets), r2_value(champion, targets)
    method = "paired bootstrap of rows" if n <= R2_GROUPS else f"paired bootstrap of rows in {R2_GROUPS} random groups"
    return PairedEstimate(value_c, value_h, _percentile(value_c - value_h, samples, level, method))
