"""The measured verdict: the one-sided bound against the baseline, and the evidence behind it.

Pure Python (no numpy), so the result model can be imported by presenters and schemas at no
start-up cost. The default rule passes only when the bound at the chosen confidence is on the
better side of the baseline: the lower bound for higher-is-better metrics, the upper bound for
lower-is-better ones. At equality the bound does not "beat" the baseline. The point rule (value
meets the baseline, as the unmeasured gate does) stays available and is named in the verdict.

"About N rows would decide it": an interval narrows as 1/sqrt(rows), so with the same value the
bound would sit on the same side of the baseline as the value once
rows * (half-width / |value - baseline|)^2 rows are measured; shown to two significant figures,
and only when the value itself beats the baseline (otherwise more rows cannot make it pass).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel

from hokusai_ci.domain.metrics import Direction, MetricSpec

Decision = Literal["lower-bound", "point"]
DECISIONS: tuple[Decision, ...] = ("lower-bound", "point")
# the metrics that count predictions: scores become predictions at a threshold (intervals.py)
THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1")


class MeasuredGate(BaseModel):
    """A metric measured from predictions and labels, its interval, and the verdict."""

    metric: str
    direction: Direction
    baseline: float
    value: float
    bound: float  # the one-sided bound at `level`, on the side `side`
    interval: tuple[float, float]  # two-sided at `level`
    method: str
    level: float
    side: Literal["lower", "upper"]
    decision: Decision
    passed: bool
    rows: int
    positives: int | None  # binary metrics only
    threshold: float | None
    predictions_sha256: str
    labels_sha256: str
    seed: int
    implementation: str
    rows_to_decide: int | None  # None when the value does not beat the baseline: more rows cannot help
    verdict: str
    # the evaluation rows' content (evidence_io.evaluation_sha256): a later paired comparison
    # against this version needs the same; the columns read, so its stored file can be read back
    evaluation_sha256: str | None = None
    score_column: str | None = None
    label_column: str | None = None
    id_column: str | None = None


def rows_to_decide(rows: int, value: float, bound: float, baseline: float, direction: Direction) -> int | None:
    """None when no number of rows would make the bound pass: the value itself does not beat the
    baseline (a decided failure, 0.4992 against 0.82), or equals it."""
    gap = value - baseline if direction is Direction.HIGHER else baseline - value
    if gap <= 0:
        return None
    half = abs(value - bound)
    return max(rows, math.ceil(rows * (half / gap) ** 2)) if half else rows


def decide(
    metric: MetricSpec,
    baseline: float,
    *,
    value: float,
    lower_bound: float,
    upper_bound: float,
    decision: Decision = "lower-bound",
    strict: bool = False,
) -> tuple[bool, float, Literal["lower", "upper"]]:
    """(passed, bound used, side of the bound). `strict`: the point rule needs the value strictly
    better than the baseline (against a champion, an equal value is no improvement); the bound
    rule is strict always."""
    return _judge(metric.direction, baseline, value, lower_bound, upper_bound, decision, strict)


def _judge(
    direction: Direction,
    baseline: float,
    value: float,
    lower_bound: float,
    upper_bound: float,
    decision: str,
    strict: bool,
) -> tuple[bool, float, Literal["lower", "upper"]]:
    side: Literal["lower", "upper"]
    if direction is Direction.HIGHER:
        bound, side = lower_bound, "lower"
        confident, meets = bound > baseline, (value > baseline if strict else value >= baseline)
    else:
        bound, side = upper_bound, "upper"
        confident, meets = bound < baseline, (value < baseline if strict else value <= baseline)
    return (meets if decision == "point" else confident), bound, side


def rejudge(gate: MeasuredGate, baseline: float, *, strict: bool = False) -> MeasuredGate:
    """The same measurement decided against another baseline (a champion's value): the bound
    and interval do not depend on the baseline, only the verdict does."""
    lower = gate.bound if gate.side == "lower" else gate.interval[0]
    upper = gate.bound if gate.side == "upper" else gate.interval[1]
    passed, _, _ = _judge(gate.direction, baseline, gate.value, lower, upper, gate.decision, strict)
    again = gate.model_copy(
        update={
            "baseline": baseline,
            "passed": passed,
            "rows_to_decide": rows_to_decide(gate.rows, gate.value, gate.bound, baseline, gate.direction),
        }
    )
    again.verdict = verdict(again, strict=strict)
    return again


def verdict(gate: MeasuredGate, *, strict: bool = False) -> str:
    """One sentence a reviewer reads at a glance: value, bound, baseline, and the rows it would
    take (`strict`: the point rule against a champion, which an equal value does not beat)."""
    name, level = gate.metric, percent(gate.level)
    shown = f"{name} {number(gate.value)} ({level} {gate.side} bound {number(gate.bound)})"
    above = "above" if gate.direction is Direction.HIGHER else "below"
    baseline = f"the baseline {gate.baseline:g}"
    if gate.decision == "point" and strict:
        said = f"{shown} {'beats' if gate.passed else 'does not beat'} {baseline} by the point rule"
        if gate.value == gate.baseline:
            return f"{said}; it equals the champion's value, and an equal value is no improvement"
    elif gate.decision == "point":
        said = f"{shown} {'meets' if gate.passed else 'does not meet'} {baseline} by the point rule"
    else:
        said = f"{shown} is {'' if gate.passed else 'not '}confidently {above} {baseline}"
    if gate.passed and (gate.decision == "lower-bound" or _bound_agrees(gate)):
        return said
    if gate.rows_to_decide is None:  # the value itself fails (or ties): more rows would not change that
        return said
    return f"{said}; about {about(gate.rows_to_decide)} rows would decide it"


def _bound_agrees(gate: MeasuredGate) -> bool:
    if gate.direction is Direction.HIGHER:
        return gate.bound > gate.baseline
    return gate.bound < gate.baseline


def number(x: float) -> str:
    """Four decimals for values in the usual range of metrics, four significant figures beyond."""
    return f"{x:.4f}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.4g}"


def about(rows: int) -> str:
    """Two significant figures with thousands separators: 123456 -> '120,000'."""
    if rows < 100:
        return str(rows)
    digits = len(str(rows)) - 2
    return f"{math.ceil(rows / 10**digits) * 10**digits:,}"


Basis = Literal["measured-lower-bound", "point", "given-value", "paired-lower-bound", "paired-point"]


def basis(gate: MeasuredGate | None, paired: Decision | None = None) -> Basis:
    """What a verdict rested on: the measured confidence bound, the measured point value, or a
    value the user gave (--metric-value, --metrics-file); `paired` (the paired verdict's rule,
    when a paired comparison decided): the paired difference's bound or point value."""
    if gate is None:
        return "given-value"
    if paired is not None:
        return "paired-lower-bound" if paired == "lower-bound" else "paired-point"
    return "measured-lower-bound" if gate.decision == "lower-bound" else "point"


def evidence_sha256(gate: MeasuredGate) -> str:
    """The digests of the evidence files: the predictions file's, then the labels file's when the
    labels are a separate file ("<predictions>,<labels>"), so each can be checked with sha256sum."""
    if gate.labels_sha256 == gate.predictions_sha256:
        return gate.predictions_sha256
    return f"{gate.predictions_sha256},{gate.labels_sha256}"


def evidence_columns(gate: MeasuredGate) -> str:
    """The columns the evidence was read with, as the `hokusai.evidence_columns` tag holds them
    (JSON, the unnamed ones left out), so a later run reads the stored file the same way; for a
    threshold metric also the threshold its scores were turned into predictions at, so a later
    comparison scores this version as it was scored, not at the candidate's threshold."""
    import json

    named = {"score": gate.score_column, "label": gate.label_column, "id": gate.id_column}
    if gate.metric in THRESHOLD_METRICS:  # the threshold it was scored at ("none": 0/1 predictions)
        named["threshold"] = "none" if gate.threshold is None else repr(gate.threshold)
    return json.dumps({k: v for k, v in named.items() if v}, sort_keys=True, separators=(",", ":"))


def basis_text(gate: MeasuredGate | None) -> str:
    """The basis as a person reads it: "measured: 95% lower bound", "point value", "given value"."""
    if gate is None:
        return "given value"
    if gate.decision == "point":
        return "point value"
    return f"measured: {percent(gate.level)} {gate.side} bound"


def percent(level: float) -> str:
    """A confidence level as a percentage with every digit it was given (0.95 -> "95%",
    0.9995 -> "99.95%"), so a level never reads as a rounded 100%."""
    return f"{round(level * 100, 10):.12g}%"
