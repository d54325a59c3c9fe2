"""The gate-only use case: a pull request's check, with no token store and no secrets.

A pull request (a fork's included) cannot reach the token store or the platform, and must not
write anything. This checks the inputs as `model register` does and compares the metric with the
baseline, then says plainly what it did not do: the token was not checked, nothing was uploaded
or written. The registration on the default branch makes the binding decision.
"""

from __future__ import annotations

from typing import Any

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.inputs import build_request
from hokusai_ci.metrics import gate
from hokusai_ci.results import RegistrationResult

GATE_ONLY_MODE = "gate-only"  # the `mode` of a gate-only result
NOT_CHECKED = "gate only: the token was not checked and nothing was uploaded or written"


def gate_only(**raw: Any) -> RegistrationResult:
    """Validate the inputs and gate the metric. Raises HokusaiError (with the result known so
    far) when an input is bad or the metric does not meet the baseline."""
    result = RegistrationResult(token_id=raw.get("token_id") if isinstance(raw.get("token_id"), str) else None)
    result.mode = GATE_ONLY_MODE
    try:
        request = build_request(**raw, dry_run=False)
    except HokusaiError as err:
        err.details["result"] = result
        raise
    result.metric = outcome = gate(request.metric, request.metric_value, request.baseline)
    result.message = NOT_CHECKED
    if not outcome.passed:
        raise HokusaiError(
            Category.PERFORMANCE_BELOW_BASELINE,
            f"{outcome.name} {outcome.value:g} does not meet the baseline {outcome.baseline:g} "
            f"({outcome.direction.value} is better; delta {outcome.delta:+g}); {NOT_CHECKED}",
            result=result,
        )
    result.status = "gate_only"
    return result
