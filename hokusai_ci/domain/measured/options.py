"""The measured gate's command-line options: which evidence source was given, and the checks that
come before any file is read.

Exactly one evidence source: --metric-value, --metrics-file or --predictions. The options that
only mean something with predictions (--labels, the columns, --threshold, --confidence,
--decision) are refused without it rather than ignored, so a typo never gates on the wrong basis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hokusai_ci.config.validation import check_path_text, parse_number, refuse_control
from hokusai_ci.domain.errors import invalid_input
from hokusai_ci.domain.measured.decision import DECISIONS, Decision, MeasuredGate
from hokusai_ci.domain.metrics import MetricSpec

SOURCES = (
    "give exactly one of --metric-value (the number), --metrics-file (JSON/YAML) or --predictions (a file to measure)"
)
WITH_PREDICTIONS = (
    "labels",
    "score_column",
    "label_column",
    "id_column",
    "threshold",
    "confidence",
    "decision",
    "compare_with",
)


def given(value: Any) -> bool:
    return value not in (None, "")


def check_sources(metric_value: Any, metrics_file: Any, predictions: Any, extra: dict[str, Any]) -> None:
    """Exit 2 unless exactly one evidence source is given, and nothing only predictions use is
    given without them."""
    sources = [
        name
        for name, v in (("metric-value", metric_value), ("metrics-file", metrics_file), ("predictions", predictions))
        if given(v)
    ]
    if len(sources) != 1:
        field = sources[1] if len(sources) > 1 else "metric-value"
        value = {"metric-value": metric_value, "metrics-file": metrics_file, "predictions": predictions}[field]
        raise invalid_input(field, value, SOURCES)
    for name in WITH_PREDICTIONS:
        value = extra.get(name)
        if value is None:
            continue
        flag = name.replace("_", "-")
        if not given(predictions):
            fix = f"--{flag} applies to --predictions only; give --predictions or leave it out"
            raise invalid_input(flag, value, fix)
        if value == "":
            raise invalid_input(flag, "", f"give a value, or leave --{flag} out for the default")


def measure_options(metric: MetricSpec, baseline: float, predictions: Any, extra: dict[str, Any]) -> MeasuredGate:
    """Check the options as typed, then measure (numpy runs here only)."""
    from hokusai_ci.domain.measured import DEFAULT_CONFIDENCE, measure

    pred_path = _path("predictions", predictions)
    labels = extra.get("labels")
    label_path = None if labels is None else _path("labels", labels)
    columns: dict[str, str | None] = {}
    for name in ("score_column", "label_column", "id_column"):
        value = extra.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid_input(name.replace("_", "-"), value, "give a column name")
        if isinstance(value, str):
            refuse_control(name.replace("_", "-"), value)
        columns[name] = value
    threshold = extra.get("threshold")
    confidence = extra.get("confidence")
    decision = extra.get("decision")
    if decision is None:
        decision = "lower-bound"
    if decision not in DECISIONS:
        raise invalid_input("decision", decision, f"use {' or '.join(DECISIONS)}")
    chosen: Decision = "point" if decision == "point" else "lower-bound"
    return measure(
        metric,
        baseline,
        pred_path,
        label_path,
        score_column=columns["score_column"],
        label_column=columns["label_column"],
        id_column=columns["id_column"],
        threshold=None if threshold is None else parse_number("threshold", threshold),
        confidence=DEFAULT_CONFIDENCE if confidence is None else parse_number("confidence", confidence),
        decision=chosen,
    )


def _path(field: str, value: Any) -> Path:
    if not isinstance(value, (str, Path)):
        raise invalid_input(field, value, "give a file path")
    text = str(value)
    check_path_text(field, text)
    return Path(text).expanduser()
