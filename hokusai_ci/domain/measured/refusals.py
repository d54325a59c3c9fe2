"""What a metric needs of the evidence, checked before anything is computed or written.

Binary metrics need labels that are exactly 0 or 1, with both classes present (AUROC's variance
needs two rows of each). Label metrics (accuracy, precision, recall, f1) need either predicted
labels (0/1) or probabilities in [0, 1] with a threshold; AUROC takes any finite score. R² needs
targets that are not all equal. Each refusal names the file, the first offending row and the fix.
"""

from __future__ import annotations

import numpy as np

from hokusai_ci.domain.measured.evidence_io import Evidence
from hokusai_ci.domain.measured.intervals import BINARY_METRICS, COUNT_METRICS, MEASURABLE
from hokusai_ci.domain.measured.tables import FloatArray, refuse


def check_evidence(metric: str, evidence: Evidence, threshold: float | None) -> None:
    if metric not in MEASURABLE:
        raise refuse(
            f"metric={metric!r} cannot be computed from predictions (measurable: {', '.join(MEASURABLE)}); "
            "give its value with --metric-value or --metrics-file",
            "metric",
        )
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


def _binary_labels(metric: str, evidence: Evidence) -> None:
    labels, name = evidence.labels, evidence.labels_file.name
    _only_zero_one(labels, name, "label", "labels", "encode the positive class as 1 and the other as 0")
    positives = int(np.count_nonzero(labels))
    need = 2 if metric == "auroc" else 1
    if min(positives, labels.size - positives) < need:
        only = "1 (positive)" if positives * 2 > labels.size else "0 (negative)"
        raise refuse(
            f"{name}: {positives} of {labels.size} labels are 1, so the labels hold one class only "
            f"(mostly {only}); {metric} needs at least {need} row{'s' if need > 1 else ''} of each class",
            "labels",
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
