"""The baseline read from an alias (`--baseline-from alias:NAME`): the metric value of the
version the alias names, whether it can stand as this candidate's baseline (same metric, same
evaluation rows), and `--baseline` only while no version holds the alias."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from hokusai_ci.core.champion_compare import recorded_value
from hokusai_ci.core.promotion import check_alias
from hokusai_ci.domain.attestation import BaselineSource
from hokusai_ci.domain.errors import invalid_input
from hokusai_ci.domain.metrics import KNOWN_METRICS
from hokusai_ci.ports.tracking import Tag

log = logging.getLogger("hokusai_ci")
BASELINE_FROM = re.compile(r"alias:(.+)", re.DOTALL)


def parse_baseline_from(value: Any) -> str:
    """`alias:NAME` → NAME."""
    match = BASELINE_FROM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid_input("baseline-from", value, "use alias:NAME, e.g. alias:champion")
    return check_alias(match.group(1), "baseline-from")


def baseline_from(
    read: Callable[[str, str], dict[str, Any] | None],
    model_name: str,
    alias: str,
    fallback: float | None,
    others: Callable[[str], dict[str, str]] | None = None,
) -> BaselineSource:
    """The baseline a registration is gated on: the metric value of the version `alias` names
    (one registry request: the alias answer carries the version's tags), or `fallback`
    (`--baseline`) when no version holds the alias yet; neither: exit 2. When the alias is not
    set, the model's other aliases (`others`, one more request) are named, so a typo shows."""
    found = read(model_name, alias)
    if found is None:
        existing = sorted((others or (lambda _: {}))(model_name))
        named = f"; its aliases are {', '.join(existing)}" if existing else ""
        if fallback is None:
            raise invalid_input(
                "baseline-from",
                f"alias:{alias}",
                f"no version of {model_name} holds alias {alias!r}{named}; give --baseline for the first registration",
            )
        log.warning(
            "warning: no version of %s holds alias %r%s: the baseline %g comes from --baseline",
            model_name,
            alias,
            named,
            fallback,
        )
        return BaselineSource(source="flag", alias=alias, model_name=model_name, value=fallback)
    tags, version = found["tags"], str(found["version"])
    value = recorded_value(tags.get(Tag.METRIC_VALUE))
    if value is None or not tags.get(Tag.METRIC):
        raise invalid_input(
            "baseline-from",
            f"alias:{alias}",
            f"version {version} of {model_name} carries no {Tag.METRIC}/{Tag.METRIC_VALUE} tags (not registered by "
            "hokusai-ci); give --baseline instead",
        )
    return BaselineSource(
        source="alias",
        alias=alias,
        model_name=model_name,
        version=version,
        value=value,
        metric=tags[Tag.METRIC],
        evaluation_sha256=tags.get(Tag.EVALUATION_SHA256),
    ).with_stored_evidence(bool(tags.get(Tag.EVIDENCE_URI)), tags.get(Tag.DIRECTION))


def check_comparable(
    source: BaselineSource, metric: str, evaluation_sha256: str | None, direction: str | None = None
) -> None:
    """A champion measured on another metric, gated the other way (a worse value would beat it),
    or (both measured, labels in their own files) on another evaluation set, is no baseline for
    this candidate: exit 2 naming both."""
    if source.source != "alias":
        return
    holder = f"{source.model_name} version {source.version} (alias {source.alias})"
    if source.metric != metric:
        raise invalid_input(
            "metric",
            metric,
            f"{holder} was gated on {source.metric}, this model on {metric}; compare the same metric, or give "
            "--baseline instead of --baseline-from",
        )
    if direction is not None and source.direction is not None and source.direction != direction:
        own = KNOWN_METRICS.get(metric.lower())
        default = f", or leave it out for {metric}'s own" if own and own.direction.value == source.direction else ""
        raise invalid_input(
            "direction",
            direction,
            f"{holder} was gated on {metric} with {source.direction} is better, this model with {direction} is "
            f"better (a worse value would beat it); use --direction {source.direction}{default}",
        )
    if source.evaluation_sha256 and evaluation_sha256 and source.evaluation_sha256 != evaluation_sha256:
        raise invalid_input(
            "predictions",
            evaluation_sha256,
            f"{holder} was measured on evaluation data {source.evaluation_sha256}, this model on "
            f"{evaluation_sha256}; measure both on the same evaluation set, joined the same way (a digest of rows "
            "joined by --id-column never equals one without)",
        )
