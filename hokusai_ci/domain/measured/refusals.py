"""What a metric needs of the evidence, checked before anything is computed or written.

Binary metrics need labels that are exactly 0 or 1, with both classes present (AUROC's variance
needs two rows of each). Label metrics (accuracy, precision, recall, f1) need either predicted
labels (0/1) or probabilities in [0, 1] with a threshold; AUROC takes any finite score. R² needs
targets that are not all equal. Each refusal names the file, the first offending row and the fix.

Too little evidence is no evidence: a bound computed from a handful of rows is the interval
method's artefact (DeLong on 2 rows per class, a bootstrap of 4 counts, the CLT on 3 losses), and
it was "confident" on 4 rows. So every metric needs at least MIN_ROWS rows (the usual floor for the
normal approximation the CLT and DeLong rest on), binary metrics at least MIN_CLASS_ROWS of each
class, and a zero-width interval (every resample the same: a perfect score on few rows) is no
bound at all below ZERO_WIDTH_ROWS rows (`check_interval`).
"""

from __future__ import annotations

import numpy as np

from hokusai_ci.domain.measured.evidence_io import Evidence
from hokusai_ci.domain.measured.intervals import BINARY_METRICS, COUNT_METRICS, MEASURABLE
from hokusai_ci.domain.measured.table_base import FloatArray, refuse

MIN_ROWS = 30
MIN_CLASS_ROWS = 10
ZERO_WIDTH_ROWS = 1000


def check_evidence(metric: str, evidence: Evidence, threshold: float | None) -> None:
    if metric not in MEASURABLE:
        raise refuse(
            f"metric={metric!r} cannot be computed from predictions (measurable: {', '.join(MEASURABLE)}); "
            "give its value with --metric-value or --metrics-file",
            "metric",
        )
    same_column(evidence)
    if threshold is not None and metric not in COUNT_METRICS:
        raise refuse(
            f"threshold={threshold!r} does not apply to {metric}, which uses the scores as they are; drop --threshold",
            "threshold",
        )
    if metric in BINARY_METRICS:
        _binary_labels(metric, evidence)
    if metric in COUNT_METRICS:
        _label_predictions(metric, evidence, threshold)
    if metric == "r2" and np.all(evidence.labels == evidence.labels[0]):
        raise refuse(
            f"{evidence.labels_file.name}: every target is {float(evidence.labels[0])!r}, so R² is undefined; "
            "measure on rows whose targets vary",
            "labels",
        )
    _enough(metric, evidence)
    not_the_labels(evidence)


def same_column(evidence: Evidence) -> None:
    """A model's output is never the labels themselves: the label column named as the score
    column (`--score-column label`, from any face) would measure a perfect score and pass any
    baseline. Refused, naming the column and the file."""
    preds, score, label = evidence.predictions_file, evidence.score_column, evidence.label_column
    if preds == evidence.labels_file and score == label:
        raise refuse(
            f"{preds.name}: the scores and the labels are both its column {label!r}, so the labels would be "
            "measured against themselves; name the model's score column with --score-column (and the labels' "
            "with --label-column)",
            "score-column",
        )


def not_the_labels(evidence: Evidence) -> None:
    """Predictions equal to the labels in every row (a copy of the labels file, the targets read
    as predictions) are the labels, not a model's output: an mse of 0 or an auroc of 1 that
    passes any baseline. Refused, naming both columns and files."""
    preds, labels = evidence.predictions_file, evidence.labels_file
    score, label = evidence.score_column, evidence.label_column
    if np.array_equal(evidence.predictions, evidence.labels):
        where = (
            f"{preds.name} columns {score!r} and {label!r}"
            if preds == labels
            else f"{preds.name}{_named(score)} and {labels.name}{_named(label)}"
        )
        raise refuse(
            f"the predictions equal the labels in every one of the {evidence.rows} rows ({where}): a "
            "model's output is never the labels themselves (a copy of the labels, or the label column read as "
            "the scores); give the model's predictions",
            "predictions",
        )


def _named(column: str) -> str:
    return f" column {column!r}" if column else ""


def _binary_labels(metric: str, evidence: Evidence) -> None:
    labels, name = evidence.labels, evidence.labels_file.name
    _only_zero_one(labels, name, "label", "labels", "encode the positive class as 1 and the other as 0")
    positives = int(np.count_nonzero(labels))
    if positives in (0, labels.size):
        only = "1 (positive)" if positives else "0 (negative)"
        raise refuse(
            f"{name}: {positives} of {labels.size} labels are 1, so the labels hold one class only "
            f"({only}); {metric} needs at least {MIN_CLASS_ROWS} rows of each class",
            "labels",
        )


def _enough(metric: str, evidence: Evidence) -> None:
    """The documented minimum, checked after every other refusal so each names its own cause."""
    if evidence.rows < MIN_ROWS:
        raise refuse(
            f"{evidence.predictions_file.name}: {evidence.rows} row{'s' if evidence.rows != 1 else ''} cannot bound "
            f"{metric}; the measured gate needs at least {MIN_ROWS} rows (binary metrics: {MIN_CLASS_ROWS} of each "
            "class): measure on more rows, or give the value with --metric-value",
            "predictions",
        )
    if metric in BINARY_METRICS:
        positives = int(np.count_nonzero(evidence.labels))
        fewer = min(positives, evidence.rows - positives)
        if fewer < MIN_CLASS_ROWS:
            which = "1 (positive)" if positives == fewer else "0 (negative)"
            raise refuse(
                f"{evidence.labels_file.name}: only {fewer} of {evidence.rows} labels are {which}, too few to bound "
                f"{metric}; it needs at least {MIN_CLASS_ROWS} rows of each class: measure on more rows",
                "labels",
            )


def check_interval(metric: str, rows: int, low: float, high: float, file: str) -> None:
    """A zero-width interval from few rows (a perfect score every resample repeats) bounds
    nothing: refused as no evidence rather than read as certainty."""
    if low == high and rows < ZERO_WIDTH_ROWS:
        raise refuse(
            f"{file}: the {metric} interval on {rows} rows has zero width ({low!r} to {high!r}), which bounds "
            f"nothing: below {ZERO_WIDTH_ROWS} rows it is no evidence; measure on at least {ZERO_WIDTH_ROWS} rows",
            "predictions",
        )


def _label_predictions(metric: str, evidence: Evidence, threshold: float | None) -> None:
    preds, name = evidence.predictions, evidence.predictions_file.name
    if threshold is None:
        _only_zero_one(
            preds,
            name,
            "prediction",
            "predictions",
            f"{metric} on scores needs --threshold (a row is positive when its score >= threshold)",
        )
        return
    if not 0.0 <= threshold <= 1.0:
        raise refuse(f"threshold={threshold!r} is outside [0, 1]; give a probability threshold", "threshold")
    outside = (preds < 0.0) | (preds > 1.0)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise refuse(
            f"{name} data row {row + 1}: the score {float(preds[row])!r} is not a probability in [0, 1], which "
            f"{metric} with --threshold needs; give probabilities",
            "predictions",
        )


def _only_zero_one(values: FloatArray, file: str, what: str, field: str, fix: str) -> None:
    other = (values != 0.0) & (values != 1.0)
    if other.any():
        row = int(np.flatnonzero(other)[0])
        raise refuse(f"{file} data row {row + 1}: the {what} {float(values[row])!r} is not 0 or 1; {fix}", field)
