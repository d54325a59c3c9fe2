"""The metric table and the baseline gate.

Direction decides what "meets the baseline" means: for error metrics (mse, rmse, mae) lower is
better, for everything else higher is better. An equal value always passes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from hokusai_ci.errors import Category, HokusaiError, invalid_input


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Metric:
    name: str
    direction: Direction
    minimum: float | None
    maximum: float | None
    description: str

    def range_text(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"{self.minimum:g}..{self.maximum:g}"
        if self.minimum is not None:
            return f">= {self.minimum:g}"
        if self.maximum is not None:
            return f"<= {self.maximum:g}"
        return "any finite number"


def _m(name: str, direction: Direction, lo: float | None, hi: float | None, text: str) -> Metric:
    return Metric(name, direction, lo, hi, text)


H, L = Direction.HIGHER, Direction.LOWER
KNOWN_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m("accuracy", H, 0.0, 1.0, "overall accuracy"),
        _m("auroc", H, 0.0, 1.0, "area under the ROC curve"),
        _m("f1", H, 0.0, 1.0, "F1 score"),
        _m("precision", H, 0.0, 1.0, "precision"),
        _m("recall", H, 0.0, 1.0, "recall"),
        _m("mse", L, 0.0, None, "mean squared error"),
        _m("rmse", L, 0.0, None, "root mean squared error"),
        _m("mae", L, 0.0, None, "mean absolute error"),
        _m("r2", H, None, 1.0, "coefficient of determination"),
        _m("reply_rate", H, 0.0, 1.0, "email reply rate"),
        _m("conversion_rate", H, 0.0, 1.0, "conversion rate"),
        _m("engagement_score", H, 0.0, None, "user engagement score"),
    )
}
ALIASES = {"auc": "auroc"}
_CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def known_names() -> str:
    return ", ".join(sorted([*KNOWN_METRICS, *ALIASES]))


def resolve_metric(name: str, direction: str | None = None) -> Metric:
    """Find a known metric, or build a custom one when an explicit direction is given."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    chosen = _parse_direction(direction) if direction not in (None, "") else None
    known = KNOWN_METRICS.get(key)
    if known is not None:
        if chosen is not None and chosen is not known.direction:
            raise HokusaiError(
                Category.METRIC_VALIDATION_FAILED,
                f"metric={name!r} is {known.direction.value}-is-better; "
                f"drop --direction={chosen.value} or name a custom metric",
                field="direction",
            )
        return known
    if chosen is None:
        raise HokusaiError(
            Category.METRIC_VALIDATION_FAILED,
            f"metric={name!r} is not a known metric ({known_names()}); "
            "for a custom metric add --direction higher|lower",
            field="metric",
        )
    if not _CUSTOM_NAME.fullmatch(key):
        raise HokusaiError(
            Category.METRIC_VALIDATION_FAILED,
            f"metric={name!r} is not a valid custom metric name: use lowercase letters, "
            "digits and underscores, starting with a letter (max 64)",
            field="metric",
        )
    return Metric(key, chosen, None, None, "custom metric")


def _parse_direction(text: str | None) -> Direction:
    value = (text or "").strip().lower()
    aliases = {"higher": H, "max": H, "maximize": H, "lower": L, "min": L, "minimize": L}
    if value not in aliases:
        raise invalid_input("direction", text, "use 'higher' or 'lower'")
    return aliases[value]


def check_range(metric: Metric, field: str, value: float) -> None:
    lo, hi = metric.minimum, metric.maximum
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise HokusaiError(
            Category.METRIC_VALIDATION_FAILED,
            f"{field}={value:g} is outside the range of {metric.name} ({metric.range_text()}); "
            "check that the value was computed for this metric",
            field=field,
        )


class GateResult(BaseModel):
    """Measured value against the baseline; also the `metric` object of the JSON output."""

    name: str
    value: float
    baseline: float
    direction: Direction
    delta: float
    relative_delta: float | None
    improvement: float
    passed: bool


def gate(metric: Metric, value: float, baseline: float) -> GateResult:
    """Compare value with baseline. `delta` is value - baseline; `improvement` is signed so
    that positive always means better, whatever the direction."""
    delta = _tidy(value - baseline)
    improvement = delta if metric.direction is Direction.HIGHER else -delta
    relative = _tidy(delta / abs(baseline)) if baseline != 0 else None
    if not all(math.isfinite(x) for x in (delta, improvement, relative or 0.0)):
        # two finite inputs can still overflow (1e308 - -1e308, or a delta over a tiny baseline)
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metric-value={value!r} and baseline={baseline!r} are too far apart: their difference "
            "(or its ratio to the baseline) is beyond ±1.8e308; check both numbers",
            field="metric-value",
        )
    return GateResult(
        name=metric.name,
        value=value,
        baseline=baseline,
        direction=metric.direction,
        delta=delta,
        relative_delta=relative,
        improvement=improvement + 0.0,
        passed=improvement >= 0,
    )


def _tidy(x: float) -> float:
    """Drop binary noise (0.87 - 0.85 = 0.020000000000000018) from reported differences."""
    return float(f"{x:.12g}") + 0.0
