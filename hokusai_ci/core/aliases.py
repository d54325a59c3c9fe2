"""The alias use cases: `model promote`, `model rollback`, `model history`, and what a
registration does with `--baseline-from` and `--set-alias`. Each command returns its result
with `error` set when it failed (`@command`); the compare-and-set itself is `promotion.py`.

Kept apart from `app.py` so the registration's wiring stays readable; the same settings and
adapters are used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hokusai_ci.config.settings import Settings
from hokusai_ci.core.ci_context import ci_tags
from hokusai_ci.core.commands import command
from hokusai_ci.core.inputs import RegistrationRequest, check_token_id, models_uri
from hokusai_ci.core.wiring import build_adapters
from hokusai_ci.domain.errors import Cancelled, HokusaiError, invalid_input
from hokusai_ci.domain.results import (
    AliasHistoryResult,
    AliasMove,
    AliasMoveOutcome,
    AliasNow,
    ErrorInfo,
    RegistrationResult,
)

log = logging.getLogger("hokusai_ci")


def alias_to_set(value: Any) -> str | None:
    """`--set-alias`: any alias but the champion's, which only `model promote` moves."""
    from hokusai_ci.core import promotion

    if value in (None, ""):
        return None
    alias = promotion.check_alias(value, "set-alias")
    if alias.lower() == promotion.CHAMPION:
        raise invalid_input(
            "set-alias", value, "a registration moves other aliases; champion moves only by `hokusai model promote`"
        )
    return alias


def baseline_source(settings: Settings, raw: dict[str, Any], spec: Any) -> Any:
    """`--baseline-from alias:NAME`: the baseline is the metric value of the version the alias
    names (`--baseline` only when none does yet); set into `raw` before the inputs are checked."""
    from hokusai_ci.config.validation import parse_number
    from hokusai_ci.core import alias_baseline
    from hokusai_ci.core.inputs import check_model_name
    from hokusai_ci.core.wiring import registry

    alias = alias_baseline.parse_baseline_from(spec)
    token = check_token_id(raw.get("token_id"))
    given = raw.get("model_name")
    model = check_model_name(given) if given not in (None, "") else f"hokusai-{token}"
    flag = raw.get("baseline")
    fallback = None if flag in (None, "") else parse_number("baseline", flag)
    reg = registry(settings)
    source = alias_baseline.baseline_from(reg.version_by_alias, model, alias, fallback, reg.aliases)
    raw["baseline"] = source.value
    return source


def compared(request: RegistrationRequest, source: Any) -> RegistrationRequest:
    """The request gated on the alias's version, once its metric and evaluation set match. When
    the candidate is measured and that version kept its predictions for the same rows, the
    candidate is also compared with it on those rows (as `--compare-with` does: pairwise when both
    were joined by ids), unless another version was named with `--compare-with`. Against a
    champion the point rule is strict: an equal value is no improvement."""
    from hokusai_ci.core import alias_baseline
    from hokusai_ci.domain.measured.decision import rejudge

    measured = request.measured
    digest = measured.evaluation_sha256 if measured is not None else None
    alias_baseline.check_comparable(source, request.metric.name, digest, request.metric.direction.value)
    if source.source == "alias" and request.compare_with not in (None, (source.model_name, source.version)):
        named = models_uri(request.compare_with)
        raise invalid_input(
            "compare-with",
            named,
            f"--baseline-from alias:{source.alias} names {models_uri((source.model_name, str(source.version)))}, the "
            f"version the candidate must beat; comparing with {named} instead would let a candidate worse than it "
            "pass: leave --compare-with out (the champion is compared with on the same rows), or give --baseline",
        )
    update: dict[str, Any] = {"baseline_source": source}
    if measured is not None and source.source == "alias" and measured.decision == "point":
        measured = update["measured"] = rejudge(measured, source.value, strict=True)
    if measured is not None and request.compare_with is None and source.pairable:
        update["compare_with"] = (source.model_name, source.version)
    return request.model_copy(update=update)


def set_alias(settings: Settings, result: RegistrationResult, alias: str) -> None:
    """Move a candidate alias to the version just registered (compare-and-set against what the
    store holds, or, when this store has no record of it, against what MLflow names); a refusal
    leaves the registration done and says so (exit 15)."""
    from hokusai_ci.core import promotion

    assert result.model_name and result.model_version and result.token_id
    try:
        ports, adapters = _alias_ports(settings, described=True)
        try:
            record = ports.store.alias(result.model_name, alias)
            expected = record.version if record else ports.registry.alias_version(result.model_name, alias)
            moved = promotion.move(
                ports, result.model_name, alias, expected, result.model_version, result.token_id, "register"
            )
        finally:
            adapters.close()
        result.alias = moved.model_dump(mode="json")
    except HokusaiError as err:
        result.error = ErrorInfo.of(_not_moved(err, alias))


def _not_moved(err: HokusaiError, alias: str) -> HokusaiError:
    note = f"registered, but alias {alias!r} was not moved: "
    return HokusaiError(err.category, note + err.message, field=err.field, status=err.status)


def _alias_ports(settings: Settings, *, described: bool = False) -> tuple[Any, Any]:
    """The alias commands' ports and the adapters to close after them (`described`: the
    registration already said where everything goes)."""
    from hokusai_ci.core.promotion import Ports
    from hokusai_ci.core.wiring import describe_endpoints, registry

    reg = registry(settings)  # refused before the store is opened: mock mode, a file store
    adapters = build_adapters(settings, read_only=False)
    store: Any = adapters.store
    if not described:
        describe_endpoints(settings)
    return Ports(store, reg, adapters.webhook, adapters.webhook_target, ci=ci_tags()), adapters


@command(AliasMoveOutcome)
def promote(settings: Settings, token_id: Any, alias: Any = "champion", expect_current: Any = None) -> AliasMoveOutcome:
    """`model promote`: move the alias to the token's version if it is where expected."""
    from hokusai_ci.core import promotion

    tid = check_token_id(token_id)
    name = promotion.check_alias(promotion.CHAMPION if alias is None else alias)
    expected = None if expect_current in (None, "") else promotion.check_version(expect_current)
    again = promotion.again_command("", name, expected, tid, "promote")
    with _nothing_moved_on_signal(f"alias {name!r}", again):
        ports, adapters = _alias_ports(settings)
    try:
        return AliasMoveOutcome(move=promotion.promote(ports, tid, name, expected))
    finally:
        adapters.close()


@contextmanager
def _nothing_moved_on_signal(what: str, again: str) -> Iterator[None]:
    """A signal while the store and MLflow are opened, before any move is decided: nothing
    moved, said with the command that moves it (the use cases say the same from there on)."""
    from hokusai_ci.core import promotion

    try:
        yield
    except (KeyboardInterrupt, Cancelled) as exc:
        raise promotion.before_decision(exc, what, again) from None


@command(AliasMoveOutcome)
def rollback(settings: Settings, model_name: Any, alias: Any = "champion") -> AliasMoveOutcome:
    """`model rollback`: move the alias back to the version it held before."""
    from hokusai_ci.core import promotion
    from hokusai_ci.core.inputs import check_model_name

    model = check_model_name(model_name)
    name = promotion.check_alias(promotion.CHAMPION if alias is None else alias)
    again = promotion.again_command(model, name, None, "", "rollback")
    with _nothing_moved_on_signal(f"alias {name!r} of {model}", again):
        ports, adapters = _alias_ports(settings)
    try:
        return AliasMoveOutcome(move=promotion.rollback(ports, model, name))
    finally:
        adapters.close()


@command(AliasHistoryResult)
def history(settings: Settings, model_name: Any, alias: Any = None, *, compare: bool = True) -> AliasHistoryResult:
    """`model history`: every alias move the store recorded, oldest first. With an MLflow
    server named (`--mlflow-uri`, MLFLOW_TRACKING_URI) and `compare`, also what each alias
    names there now, beside the store's record: the history is the store's, and a reader
    should see where MLflow, which serves, says otherwise. When MLflow cannot be read, the
    store's history is still the answer (exit 0), with a warning that it was not compared."""
    from hokusai_ci.core import promotion
    from hokusai_ci.core.inputs import check_model_name
    from hokusai_ci.core.wiring import registry

    model = check_model_name(model_name)
    name = None if alias in (None, "") else promotion.check_alias(alias)
    reg = registry(settings) if compare and settings.mlflow_uri else None  # refused before the store opens
    adapters = build_adapters(settings, read_only=True)
    try:
        moves = alias_moves(adapters.store, model, name)
        if reg is None:
            return AliasHistoryResult(moves=moves)
        try:
            return AliasHistoryResult(moves=moves, now=_now(reg, adapters.store, model, name, moves or []))
        except HokusaiError as err:  # the history is the store's and stands: MLflow's side is said missing
            log.warning("MLflow could not be read, so the history is not compared with it: %s", err.message)
            return AliasHistoryResult(moves=moves, mlflow_unread=err.message)
    finally:
        adapters.close()


def _now(reg: Any, store: Any, model: str, alias: str | None, moves: list[AliasMove]) -> list[AliasNow]:
    """Each alias (the one asked for, else every one the store or MLflow knows) in both."""
    names = [alias] if alias else sorted({m.alias for m in moves} | set(reg.aliases(model)))
    found = []
    for name in names:
        record = store.alias(model, name) if getattr(store, "alias", None) else None
        now = AliasNow(
            alias=name, in_mlflow=reg.alias_version(model, name), in_store=record.version if record else None
        )
        if not now.agree:
            log.warning(
                "alias %r of %s is %s in MLflow, %s in the token store: they disagree",
                name,
                model,
                _said(now.in_mlflow),
                _said(now.in_store),
            )
        found.append(now)
    return found


def _said(version: str | None) -> str:
    return f"version {version}" if version else "not set"


def alias_moves(store: Any, model_name: str, alias: str | None = None) -> list[AliasMove] | None:
    """The moves a store recorded (None: a store that keeps no aliases, the mock's)."""
    from hokusai_ci.core.promotion import history as recorded

    if getattr(store, "alias_moves", None) is None:
        return None
    return recorded(store, model_name, alias)
