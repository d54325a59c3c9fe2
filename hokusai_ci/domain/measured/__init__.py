"""The measured gate: the metric computed from predictions and labels, gated on its confidence bound.

A typed metric value certifies nothing: a typo, the wrong split or plain noise passes a point
comparison about half the time when the model is no better than the baseline. Here the tool
computes the value itself and passes only when the one-sided bound beats the baseline, and it
returns the evidence a signed statement can carry (digests of the inputs, rows, method, level,
seed, implementation version).

Modules: `evidence_io` reads and aligns the files, `refusals` checks what the metric needs,
`intervals` computes the value and interval (numpy only), `decision` holds the result model and
the verdict (no numpy). numpy is imported only when `measure` runs, never at CLI start-up; it is
the `metrics` extra, and without it the call is refused with the extra's name.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured.decision import DECISIONS, Decision, MeasuredGate, decide, rows_to_decide, verdict
from hokusai_ci.domain.metrics import MetricSpec

ALGORITHMS_VERSION = "1"  # bump when a value or interval computed from the same inputs could change
DEFAULT_SEED = 20_260_101
DEFAULT_CONFIDENCE = 0.95
# the levels a bound may be asked at: below 0.8 a "bound" sits next to the point value (0.5000001
# is the point value itself), above 0.999 the normal and bootstrap tails it rests on are not measured
CONFIDENCE_RANGE = (0.8, 0.999)

__all__ = ["DECISIONS", "DEFAULT_CONFIDENCE", "DEFAULT_SEED", "Decision", "MeasuredGate", "measure"]


def implementation() -> str:
    """The version recorded with each result: this module's algorithms and the numpy that ran them."""
    import numpy

    return f"hokusai-ci measured/{ALGORITHMS_VERSION} numpy/{numpy.__version__}"


def require_numpy() -> None:
    try:
        importlib.import_module("numpy")
    except ImportError:
        raise HokusaiError(
            Category.INVALID_INPUT,
            "predictions need numpy to compute the metric: pip install 'hokusai-ci[metrics]', "
            "or give the value with --metric-value or --metrics-file",
            field="predictions",
        ) from None


def measure(
    metric: MetricSpec,
    baseline: float,
    predictions: Path,
    labels: Path | None = None,
    *,
    score_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    threshold: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    decision: Decision = "lower-bound",
    seed: int = DEFAULT_SEED,
) -> MeasuredGate:
    """Read and check the evidence, compute the metric and its interval, and decide.
    Raises HokusaiError(INVALID_INPUT) for any refused input; writes nothing."""
    _check_settings(confidence, decision, seed)
    require_numpy()
    import numpy as np

    from hokusai_ci.domain.measured.evidence_io import load_evidence
    from hokusai_ci.domain.measured.intervals import BINARY_METRICS, estimate
    from hokusai_ci.domain.measured.refusals import check_evidence, check_interval

    evidence = load_evidence(
        predictions, labels, score_column=score_column, label_column=label_column, id_column=id_column
    )
    check_evidence(metric.name, evidence, threshold)
    rows, digests = evidence.rows, (evidence.predictions_sha256, evidence.labels_sha256)
    shown = evidence.predictions_file.name
    read = {"score_column": evidence.score_column or None, "label_column": evidence.label_column or None}
    scores, truth, evaluation = evidence.predictions, evidence.labels, evidence.evaluation_sha256
    binary = metric.name in BINARY_METRICS
    positives = int(np.count_nonzero(truth == 1)) if binary else None
    del evidence
    if binary:  # 1 byte a row instead of 8 while the metric is computed
        truth = truth == 1
    est = estimate(metric.name, scores, truth, level=confidence, seed=seed, threshold=threshold)
    del scores, truth
    check_interval(metric.name, rows, est.low, est.high, shown)
    passed, bound, side = decide(
        metric, baseline, value=est.value, lower_bound=est.lower_bound, upper_bound=est.upper_bound, decision=decision
    )
    result = MeasuredGate(
        metric=metric.name,
        direction=metric.direction,
        baseline=baseline,
        value=est.value,
        bound=bound,
        interval=(est.low, est.high),
        method=est.method,
        level=confidence,
        side=side,
        decision=decision,
        passed=passed,
        rows=rows,
        positives=positives,
        threshold=threshold,
        predictions_sha256=digests[0],
        labels_sha256=digests[1],
        seed=seed,
        implementation=implementation(),
        rows_to_decide=rows_to_decide(rows, est.value, bound, baseline, metric.direction),
        verdict="",
        evaluation_sha256=evaluation,
        id_column=id_column,
        **read,
    )
    result.verdict = verdict(result)
    return result


def _check_settings(confidence: float, decision: str, seed: int) -> None:
    low, high = CONFIDENCE_RANGE
    if not low <= confidence <= high:
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"confidence={confidence!r} is invalid: give a level from {low} to {high}, such as 0.95 (below {low} the "
            f"bound is next to the point value; above {high} the interval's tails are not measured)",
            field="confidence",
        )
    if decision not in DECISIONS:
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"decision={decision!r} is invalid: use {' or '.join(DECISIONS)}",
            field="decision",
        )
    if not 0 <= seed < 2**63:
        raise HokusaiError(
            Category.INVALID_INPUT, f"seed={seed!r} is invalid: use an integer from 0 to 2^63-1", field="seed"
        )
