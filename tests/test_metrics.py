"""The metric table and the direction-aware gate (pure logic, no I/O)."""

from __future__ import annotations

import pytest

from hokusai_ci.config.validation import parse_number
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.metrics import KNOWN_METRICS, Direction, check_range, gate, resolve_metric


def test_the_twelve_metrics_of_the_spec_with_their_directions() -> None:
    assert len(KNOWN_METRICS) == 12
    lower = {name for name, m in KNOWN_METRICS.items() if m.direction is Direction.LOWER}
    assert lower == {"mse", "rmse", "mae"}
    assert resolve_metric("AUC").name == "auroc"


@pytest.mark.parametrize(
    ("metric", "value", "baseline", "passed", "delta", "improvement"),
    [
        ("auroc", 0.87, 0.85, True, 0.02, 0.02),
        ("auroc", 0.80, 0.82, False, -0.02, -0.02),
        ("auroc", 0.82, 0.82, True, 0.0, 0.0),
        ("mse", 0.10, 0.12, True, -0.02, 0.02),
        ("mse", 0.15, 0.12, False, 0.03, -0.03),
        ("rmse", 2.0, 2.0, True, 0.0, 0.0),
        ("mae", 1.5, 1.0, False, 0.5, -0.5),
        ("r2", -0.1, -0.2, True, 0.1, 0.1),
    ],
)
def test_gate_is_direction_aware(
    metric: str, value: float, baseline: float, passed: bool, delta: float, improvement: float
) -> None:
    result = gate(resolve_metric(metric), value, baseline)
    assert result.passed is passed
    assert result.delta == delta
    assert result.improvement == improvement


def test_relative_delta_and_zero_baseline() -> None:
    assert gate(resolve_metric("accuracy"), 0.9, 0.8).relative_delta == 0.125
    assert gate(resolve_metric("mse"), 0.9, 0.0).relative_delta is None
    assert gate(resolve_metric("r2"), -0.3, -0.2).relative_delta == -0.5


def test_custom_metric_needs_an_explicit_direction() -> None:
    with pytest.raises(HokusaiError) as info:
        resolve_metric("latency_ms")
    assert info.value.category is Category.METRIC_VALIDATION_FAILED
    assert "--direction" in info.value.message
    custom = resolve_metric("latency_ms", "lower")
    assert custom.direction is Direction.LOWER
    assert gate(custom, 120, 150).passed


def test_known_metric_with_contradicting_direction_is_refused() -> None:
    with pytest.raises(HokusaiError) as info:
        resolve_metric("mse", "higher")
    assert info.value.category is Category.METRIC_VALIDATION_FAILED


@pytest.mark.parametrize(("metric", "value"), [("auroc", 1.2), ("accuracy", -0.1), ("mse", -1), ("r2", 1.5)])
def test_out_of_range_values_fail_metric_validation(metric: str, value: float) -> None:
    with pytest.raises(HokusaiError) as info:
        check_range(resolve_metric(metric), "metric-value", value)
    assert info.value.exit_code == 5


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "abc", "", "0x10"])
def test_numbers_must_be_finite_and_plain(text: str) -> None:
    with pytest.raises(HokusaiError) as info:
        parse_number("baseline", text)
    assert info.value.exit_code == 2
    assert repr(text) in info.value.message


def test_numbers_parse_exactly() -> None:
    assert parse_number("baseline", " 0.82 ") == 0.82
    assert parse_number("baseline", "1e-3") == 0.001
