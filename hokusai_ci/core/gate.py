"""The gate-only use case: a pull request's check, with no token store and no secrets.

A pull request (a fork's included) cannot reach the token store or the platform, and must not
write anything. This checks the inputs as `model register` does and compares the metric with the
baseline, then says plainly what it did not do: the token was not checked, nothing was uploaded
or written. The registration on the default branch makes the binding decision.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from hokusai_ci.config.mode_choice import mode_without_secrets, rules_of
from hokusai_ci.config.settings import Settings
from hokusai_ci.core.champion_compare import compare_request
from hokusai_ci.core.inputs import build_request, measured_refusal, record_verdict
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.metrics import platform_refusal
from hokusai_ci.domain.results import ErrorInfo, RegistrationResult
from hokusai_ci.ports.tracking import VersionReader

GATE_ONLY_MODE = "gate-only"  # the `mode` of a gate-only result
NOT_CHECKED = "gate only: the token was not checked and nothing was uploaded or written"


def platform_rules_apply(env: Mapping[str, str] | None = None, has_db_config: bool = False) -> bool:
    """Whether the registration this gate stands for goes through the Hokusai platform: the
    same mode decision as `model register` (API mode forced with HOKUSAI_MODE=api, which needs
    no secret here, or an API key with no database and no mock mode)."""
    return rules_of(mode_without_secrets(os.environ if env is None else env, has_db_config)).platform


def gate_only(
    *,
    platform: bool | None = None,
    reader: Callable[[], VersionReader] | None = None,
    reads: Callable[[], Settings] | None = None,
    **raw: Any,
) -> RegistrationResult:
    """Validate the inputs and gate the metric (and, for API mode, the platform's own rules).
    `reader` reads the version --compare-with names and `reads` gives the settings MLflow is read
    with for --baseline-from (the one server a gate may read from, as the registration reaches
    it), so a pull request's verdict against the champion is the one the registration will reach.
    Returns the result, with `error` set when an input is bad or the result would not pass."""
    from hokusai_ci.core import aliases

    token_id = raw.get("token_id")
    result = RegistrationResult(token_id=token_id if isinstance(token_id, str) else None, mode=GATE_ONLY_MODE)
    baseline_from = raw.pop("baseline_from", None)
    try:
        source = None
        if baseline_from not in (None, ""):
            if reads is None:
                raise AssertionError("--baseline-from needs the settings MLflow is read with")
            source = aliases.baseline_source(reads(), raw, baseline_from)
        request = build_request(**raw, dry_run=False)
        if source is not None:
            request = aliases.compared(request, source)
            result.baseline_source = request.baseline_source
        if request.compare_with is not None:
            if reader is None:
                raise AssertionError("--compare-with needs a version reader")
            request = compare_request(request, reader)
        outcome = record_verdict(result, request)
        result.message = NOT_CHECKED
        if request.measured is not None and not outcome.passed:
            raise HokusaiError(Category.PERFORMANCE_BELOW_BASELINE, f"{measured_refusal(request)}; {NOT_CHECKED}")
        if not outcome.passed:
            raise HokusaiError(
                Category.PERFORMANCE_BELOW_BASELINE,
                f"{outcome.name} {outcome.value:g} does not meet the baseline {outcome.baseline:g} "
                f"({outcome.direction.value} is better; delta {outcome.delta:+g}); {NOT_CHECKED}",
            )
        refusal = platform_refusal(outcome) if (platform_rules_apply() if platform is None else platform) else None
        if refusal is not None:
            raise HokusaiError(Category.PLATFORM_REJECTED, f"{refusal}; {NOT_CHECKED}")
    except HokusaiError as err:
        result.status, result.error = "error", ErrorInfo.of(err)
        return result
    result.status = "gate_only"
    return result
