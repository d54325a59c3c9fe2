"""The metric table, the baseline gate, and the Hokusai platform's own acceptance rules.

Direction decides what "meets the baseline" means: for error metrics (mse, rmse, mae) lower is
better, for everything else higher is better. An equal value always passes. The platform's
rules (at the end) are a separate table: what the hosted platform accepts, which is stricter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class MetricSpec:
    """A metric the gate knows: which way is better and its valid range (the signed outcome of a
    gate is `attestation.Metric`; the measured one `GateResult`)."""

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


def _m(name: str, direction: Direction, lo: float | None, hi: float | None, text: str) -> MetricSpec:
    return MetricSpec(name, direction, lo, hi, text)


H, L = Direction.HIGHER, Direction.LOWER
KNOWN_METRICS: dict[str, MetricSpec] = {
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


def resolve_metric(name: str, direction: str | None = None) -> MetricSpec:
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
    return MetricSpec(key, chosen, None, None, "custom metric")


def _parse_direction(text: str | None) -> Direction:
    value = (text or "").strip().lower()
    aliases = {"higher": H, "max": H, "maximize": H, "lower": L, "min": L, "minimize": L}
    if value not in aliases:
        raise invalid_input("direction", text, "use 'higher' or 'lower'")
    return aliases[value]


def check_range(metric: MetricSpec, field: str, value: float) -> None:
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


def gate(metric: MetricSpec, value: float, baseline: float) -> GateResult:
    """Compare value with baseline. `delta` is value - baseline; `improvement` is signed so
    that positive always means better, whatever the direction."""
    delta = _tidy(value - baseline)
    improvement = delta if metric.direction is Direction.HIGHER else -delta
    relative = _relative(delta, baseline)
    if not all(math.isfinite(x) for x in (delta, improvement)):
        # two finite inputs can still overflow (1e308 - -1e308)
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"metric-value={value!r} and baseline={baseline!r} are too far apart: their difference "
            "is beyond ±1.8e308; check both numbers",
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


def check_relative(outcome: GateResult) -> None:
    """A typed baseline so close to zero that the relative delta overflows is no measured
    baseline: refused (exit 2) rather than reported with a null relative delta."""
    if outcome.relative_delta is None and outcome.baseline != 0:
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"baseline={outcome.baseline!r} is too close to zero: the relative delta "
            f"{outcome.delta:g}/{abs(outcome.baseline):g} is beyond ±1.8e308; give the baseline as measured "
            "(0 when there is none)",
            field="baseline",
        )


def _relative(delta: float, baseline: float) -> float | None:
    """delta / |baseline|; None where it means nothing: a zero baseline, or one so tiny that the
    ratio overflows (a baseline of 5e-324, which user input may not give: see `check_relative`)."""
    if baseline == 0:
        return None
    try:
        ratio = _tidy(delta / abs(baseline))
    except OverflowError:
        return None
    return ratio if math.isfinite(ratio) else None


def _tidy(x: float) -> float:
    """Drop binary noise (0.87 - 0.85 = 0.020000000000000018) from reported differences."""
    return float(f"{x:.12g}") + 0.0


# -- the Hokusai platform's acceptance rules ----------------------------------------------------
# The hosted platform validates a registration again when it is notified, by its own rules,
# which differ from the gate above: it knows a fixed list of metrics and accepts a result only
# when `current_value >= baseline_value`, whatever the metric's direction. Its refusals come
# back as the same 502 as its outages, so the client predicts them here, before anything is
# written, and never changes the values it sends to get past them. A platform change is an edit
# of this table and its version. Read from Hokusai-protocol/hokusai-data-pipeline:
# src/validation/metrics.py (MetricValidator) and src/services/model_registry_hooks.py.
PLATFORM_RULES_VERSION = "2026-12-06"
PLATFORM_METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "accuracy": (0.0, 1.0),
    "auroc": (0.0, 1.0),
    "auc": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "mse": (0.0, None),
    "rmse": (0.0, None),
    "mae": (0.0, None),
    "r2": (None, 1.0),
    "reply_rate": (0.0, 1.0),
    "conversion_rate": (0.0, 1.0),
    "engagement_score": (0.0, None),
}
PLATFORM_POSITIVE_BASELINE = frozenset({"mse", "rmse", "mae"})


@dataclass(frozen=True)
class PlatformRule:
    rule_id: str
    summary: str  # what the README's API-mode section says about it
    refuses: Callable[[GateResult], str | None]  # the reason, or None when the result passes


def _unlisted(g: GateResult) -> str | None:
    if g.name in PLATFORM_METRIC_RANGES:
        return None
    return f"it knows only the metrics {', '.join(PLATFORM_METRIC_RANGES)}, and {g.name!r} is not one of them"


def _out_of_range(g: GateResult) -> str | None:
    lo, hi = PLATFORM_METRIC_RANGES[g.name]
    for label, x in (("value", g.value), ("baseline", g.baseline)):
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            bounds = f"{'-inf' if lo is None else f'{lo:g}'}..{'inf' if hi is None else f'{hi:g}'}"
            return f"its range for {g.name} is {bounds}, and the {label} {x:g} is outside it"
    return None


def _baseline_not_positive(g: GateResult) -> str | None:
    if g.name in PLATFORM_POSITIVE_BASELINE and g.baseline <= 0:
        return f"it requires a positive baseline for the error metric {g.name}, and the baseline is {g.baseline:g}"
    return None


def _baseline_zero(g: GateResult) -> str | None:
    if g.baseline != 0:
        return None
    return (
        "it cannot take a baseline of 0 today: it tells the site the model was registered, then fails "
        "dividing by the baseline and answers 502, so the site would hold a registration hokusai-ci "
        "cannot confirm; use a non-zero baseline"
    )


def _below_baseline(g: GateResult) -> str | None:
    if g.value >= g.baseline:
        return None
    why = " (for this lower-is-better metric that is an improvement)" if g.direction is Direction.LOWER else ""
    return (
        "it accepts a result only when the value is at least the baseline, whatever the metric's "
        f"direction, and {g.name} {g.value:g} is below the baseline {g.baseline:g}{why}"
    )


PLATFORM_RULES: tuple[PlatformRule, ...] = (
    PlatformRule("metric-list", f"the metric is one of: {', '.join(PLATFORM_METRIC_RANGES)}", _unlisted),
    PlatformRule(
        "metric-range",
        "value and baseline lie in the metric's range (0..1 for rates and classification scores, "
        "≥ 0 for errors and engagement_score, ≤ 1 for r2)",
        _out_of_range,
    ),
    PlatformRule("positive-baseline", "the baseline of mse, rmse and mae is above 0", _baseline_not_positive),
    PlatformRule(
        "baseline-not-zero",
        "the baseline is not 0, for every metric: the platform tells the site, then fails dividing by "
        "the baseline and answers 502",
        _baseline_zero,
    ),
    PlatformRule(
        "value-at-least-baseline",
        "the value is at least the baseline, for every metric: a lower-is-better metric that "
        "improved (mse 0.40 against 0.50) is refused",
        _below_baseline,
    ),
)


def platform_refusal(result: GateResult) -> str | None:
    """Why the Hokusai platform would refuse this result, as one line; None when it would
    accept it. Pure, so the registration preflight, dry runs and a gate-only check agree."""
    for rule in PLATFORM_RULES:
        reason = rule.refuses(result)
        if reason is not None:
            return (
                f"the Hokusai platform would refuse this result (its rule {rule.rule_id}, rules of "
                f"{PLATFORM_RULES_VERSION}): {reason}. This is the platform's rule, not a failed gate: "
                "hokusai-ci cannot register such a result and never changes the values it sends; "
                "nothing was uploaded"
            )
    return None
