"""Where an alias stands before a move is decided: the token store's record against what MLflow
names now, and what is taken into the store so that they agree (the compare-and-set itself is
`promotion.py`).

MLflow is what serves, so when it names another holder than the store the store follows it,
but only when the caller said so: naming MLflow's holder with `--expect-current` adopts it (an
`adopt` move in the history); a store with no record of the alias (a fresh CI runner) adopts
the holder MLflow names the same way. When MLflow names no holder while the store does (the
version was deleted there, which deletes its aliases, or the alias was removed), `promote`
without `--expect-current`, or naming the store's holder, takes that into the store (an `adopt`
move to not set) and moves from there. Every refusal names the command that goes on from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from hokusai_ci.adapters.registry_rest import RegistryRest
from hokusai_ci.config.redaction import display_url
from hokusai_ci.domain.errors import AliasMovedError, Category, HokusaiError
from hokusai_ci.domain.events import ConsoleSink, EventSink, alias_moved_event
from hokusai_ci.ports.store import AliasRecord, AliasStore, Mover, TokenStore
from hokusai_ci.ports.tracking import TAG_PREFIX, Tag

log = logging.getLogger("hokusai_ci")
UNRECORDED = "in MLflow, and this token store has no record of it (a fresh CI runner, or set outside hokusai-ci)"


class Store(TokenStore, AliasStore, Protocol):
    """A token store that also keeps aliases (the SQL and API stores)."""


@dataclass
class Ports:
    store: Store
    registry: RegistryRest
    webhook: EventSink | None = None
    webhook_target: str | None = None
    console: EventSink = field(default_factory=ConsoleSink)
    ci: dict[str, str] = field(default_factory=dict)  # the provenance tags of this CI run


@dataclass
class Standing:
    """The alias as the move starts from it: the store's record (None: not set), the `adopt`
    events that brought the store to MLflow's state, whether MLflow already names the target
    (a move it took while the run that asked was stopped), and the holder the move expects."""

    record: AliasRecord | None
    adopted: list[Any]
    taken: bool
    expected: str | None
    in_mlflow: str | None = None  # the holder MLflow named, read last


def mover(ports: Ports, token_id: str, command: str) -> Mover:
    return Mover(
        token_id=token_id,
        command=command,
        run_url=ports.ci.get(f"{TAG_PREFIX}run_url") or None,
        commit=ports.ci.get(f"{TAG_PREFIX}commit") or None,
    )


def standing(
    ports: Ports, model_name: str, alias: str, expected: str | None, new_version: str, token_id: str, command: str
) -> Standing:
    """Read the store and MLflow (MLflow last, just before deciding) and bring the store to
    MLflow's holder where the caller named it; refuse (exit 15) where they disagree otherwise."""
    record = ports.store.alias(model_name, alias)
    adopted: list[Any] = []
    if record is None and expected is not None:  # a fresh store (a new CI job): take MLflow's holder
        record, adopted = _adopt(ports, model_name, alias, expected, token_id, command)
    in_mlflow = ports.registry.alias_version(model_name, alias)  # read again just before deciding
    if record is not None and in_mlflow != record.version:
        record = ports.store.alias(model_name, alias) or record  # a concurrent move may have just been decided
    # MLflow already names the target: a move MLflow took while the run that asked was stopped
    # (and its decision taken back) is recorded now, as the same command's re-run
    taken = in_mlflow == new_version and expected == (record.version if record else None)
    if record is not None and in_mlflow != record.version and not taken:
        if in_mlflow is None and expected in (None, record.version) and not _pending(ports, record, in_mlflow):
            return Standing(None, [*adopted, *_unset(ports, record, token_id)], False, None, in_mlflow)
        record, adopted = resync(ports, record, in_mlflow, expected, new_version, token_id, command, adopted)
    if record is None and in_mlflow is not None and not taken:  # the alias exists, this store never saw it set
        raise moved_error(model_name, alias, in_mlflow, None, UNRECORDED, command)
    return Standing(record, adopted, taken, expected, in_mlflow)


def _pending(ports: Ports, record: AliasRecord, in_mlflow: str | None) -> bool:
    """A move decided in the store that MLflow does not show yet (MLflow still names the
    holder before it, and the decided version exists): a run stopped, or one is running."""
    if in_mlflow != record.previous_version:
        return False
    return ports.registry.version(record.model_name, record.version) is not None


def resync(
    ports: Ports,
    record: AliasRecord,
    in_mlflow: str | None,
    expected: str | None,
    new_version: str,
    token_id: str,
    command: str,
    adopted: list[Any],
) -> tuple[AliasRecord, list[Any]]:
    """MLflow shows another holder than the store. The one before the store's (a move decided
    whose projection a killed run did not finish, or a concurrent run's in flight) is finished
    by the same command, which is recognised as a re-run; any other holder was moved outside
    hokusai-ci (or the store's holder was deleted in MLflow). MLflow is what serves, so naming
    its holder with `--expect-current` adopts it: an `adopt` move in the store's history."""
    model_name, alias = record.model_name, record.alias
    if _pending(ports, record, in_mlflow):
        if record.version == new_version and record.previous_version == expected:
            return record, adopted  # the re-run of the decided move: finished by the caller
        when = f"{record.moved_at:%Y-%m-%d %H:%M:%S} UTC"
        finish = f"hokusai model promote --token-id {record.token_id} --alias {alias}" + (
            f" --expect-current {in_mlflow}" if in_mlflow else ""
        )
        raise AliasMovedError(
            f"alias {alias!r} of {model_name} is {said(in_mlflow)} in MLflow, but a move to version {record.version} "
            f"was decided by {record.moved_by} at {when} and is not set in MLflow yet (a run stopped, or one is "
            f"running); nothing was moved: finish that move with `{finish}`, then move from version {record.version}",
            found=record.version,
        )
    if in_mlflow is None:
        raise _unset_refusal(ports, record)
    if expected != in_mlflow:
        where = (
            f"in MLflow at {display_url(ports.registry.base)}, moved outside hokusai-ci from version "
            f"{record.version}, which the token store names"
        )
        raise moved_error(model_name, alias, in_mlflow, expected, where, command)
    by, event = _adopt_event(ports, record, in_mlflow, token_id)
    log.warning(
        "alias %r of %s is on version %s in MLflow, version %s in the token store: adopting MLflow's holder",
        alias,
        model_name,
        in_mlflow,
        record.version,
    )
    try:
        return ports.store.move_alias(model_name, alias, record.version, in_mlflow, by, event), [*adopted, event]
    except AliasMovedError:  # resynced (or moved) meanwhile by another run on this store
        found = ports.store.alias(model_name, alias)
        assert found is not None
        return found, adopted


def _adopt_event(ports: Ports, record: AliasRecord, to_version: str | None, token_id: str) -> tuple[Mover, Any]:
    """The `adopt` move that brings the store from its holder to MLflow's (None: not set)."""
    by = mover(ports, token_id, "adopt")
    event = alias_moved_event(
        model_name=record.model_name,
        alias=record.alias,
        from_version=record.version,
        to_version=to_version,
        by=by,
        destination=ports.webhook_target,
    )
    return by, event


def _gone(ports: Ports, record: AliasRecord) -> str:
    """Why MLflow names no holder while the store names `record.version`."""
    if ports.registry.version(record.model_name, record.version) is None:
        return f"version {record.version}, which the token store names, was deleted there (which deletes its aliases)"
    return f"version {record.version}, which the token store names, no longer holds it (removed outside hokusai-ci)"


def _unset(ports: Ports, record: AliasRecord, token_id: str) -> list[Any]:
    """MLflow names no holder: the store takes that (an `adopt` move to not set), and the move
    goes on from not set. A concurrent run that cleared it first is as good."""
    _, event = _adopt_event(ports, record, None, token_id)
    log.warning(
        "alias %r of %s is not set in MLflow: %s; the token store takes that",
        record.alias,
        record.model_name,
        _gone(ports, record),
    )
    if ports.store.clear_alias(record.model_name, record.alias, record.version, event):
        return [event]
    found = ports.store.alias(record.model_name, record.alias)
    if found is not None:
        where = "in the token store (moved meanwhile by another run)"
        raise moved_error(record.model_name, record.alias, found.version, None, where, "promote")
    return []


def _unset_refusal(ports: Ports, record: AliasRecord) -> AliasMovedError:
    """MLflow names no holder and the caller expected another one: refused with the command
    that moves it from not set (it works when followed: `standing` takes the unset state)."""
    model_name, alias = record.model_name, record.alias
    before = f"; version {record.previous_version} held it before" if record.previous_version else ""
    return AliasMovedError(
        f"alias {alias!r} of {model_name} is not set in MLflow at {display_url(ports.registry.base)}: "
        f"{_gone(ports, record)}; nothing was moved: move it with `hokusai model promote --token-id T "
        f"--alias {alias}` (no --expect-current; T: the token of the version it should name{before})",
        found=None,
    )


def said(version: str | None) -> str:
    return f"on version {version}" if version else "not set"


def _adopt(
    ports: Ports, model_name: str, alias: str, expected: str, token_id: str, command: str
) -> tuple[AliasRecord | None, list[Any]]:
    """The store has no record of the alias: every CI job of local or API mode starts with an
    empty store, so an alias set by an earlier job is only in MLflow. The holder MLflow names is
    adopted when it is the version the caller expects (`--expect-current`), recorded as an
    `adopt` move (from not set) in the history; any other holder is refused naming it."""
    in_mlflow = ports.registry.alias_version(model_name, alias)
    if in_mlflow != expected:
        raise moved_error(model_name, alias, in_mlflow, expected, UNRECORDED if in_mlflow else "in MLflow", command)
    by = mover(ports, token_id, "adopt")
    event = alias_moved_event(
        model_name=model_name,
        alias=alias,
        from_version=None,
        to_version=expected,
        by=by,
        destination=ports.webhook_target,
    )
    try:
        return ports.store.move_alias(model_name, alias, None, expected, by, event), [event]
    except AliasMovedError:  # adopted (or moved) meanwhile by another run on this store
        return ports.store.alias(model_name, alias), []


def unchanged_message(ports: Ports, record: AliasRecord) -> str:
    """What a move to the version the alias already names says: nothing was moved. The store is
    read again first, so the message never claims a holder another run has since replaced."""
    since = f"since {record.moved_at:%Y-%m-%d %H:%M:%S} UTC, by {record.moved_by}"
    head = f"alias {record.alias!r} of {record.model_name}"
    try:
        later = ports.store.alias(record.model_name, record.alias)
    except Exception:  # the answer stands as read; it only cannot say whether it still holds
        log.debug("reading the alias again failed", exc_info=True)
        return f"{head} named version {record.version} when read ({since}); nothing was moved"
    if later is not None and (later.version, later.moved_at) == (record.version, record.moved_at):
        return f"{head} already names version {record.version} ({since}); nothing was moved"
    now = (
        f"on version {later.version} (moved by {later.moved_by} at {later.moved_at:%Y-%m-%d %H:%M:%S} UTC)"
        if later
        else "not set"
    )
    return f"{head} named version {record.version} when read ({since}), so nothing was moved; it is now {now}"


def no_way_back(
    model_name: str, alias: str, holder: str, tagged: bool, rolled_back_from: str | None = None
) -> HokusaiError:
    """Nothing to roll back to. An empty tag says only that the alias named no version when the
    holder was promoted there (its first set, or after it was taken as not set), not that the
    holder was the first; an absent one, that hokusai-ci did not move it there. A holder a
    rollback put back is said so: a rollback goes back along promotions, it does not undo
    itself. The advice moves it on."""
    tag = Tag.PREVIOUS_PREFIX + alias
    why = (
        f"version {holder} was promoted there when the alias named no version (its {tag} tag is empty)"
        if tagged
        else f"version {holder} has no {tag} tag (hokusai-ci did not move it there): the one before it is not known"
    )
    if rolled_back_from:
        why = f"version {holder} holds it by a rollback from version {rolled_back_from}, and {why}"
    return HokusaiError(
        Category.INVALID_INPUT,
        f"alias {alias!r} of {model_name}: {why}: there is no version to go back to; nothing was moved: promote "
        f"the one you want with `hokusai model promote --token-id T --alias {alias} --expect-current {holder}` "
        "(T: the token of the version it should name; `hokusai model history` lists the versions it named)",
        field="alias",
    )


def moved_error(
    model: str, alias: str, found: str | None, expected: str | None, where: str, command: str
) -> AliasMovedError:
    """Exit 15 naming the holder found, with the command that goes on from it."""
    said_now = f"is on version {found}" if found else "is not set"
    wanted = f"expected version {expected}" if expected else "expected not set yet"
    if not found:
        fix = "check who moved it, then promote without --expect-current"
    elif command == "promote":
        fix = f"check who moved it, then pass --expect-current {found}"
    else:
        fix = (
            f"check who moved it, then move it with `hokusai model promote --token-id T --alias {alias} "
            f"--expect-current {found}` (T: the token of the version it should name)"
        )
    message = f"alias {alias!r} of {model} {said_now} {where} ({wanted}); nothing was moved: {fix}"
    return AliasMovedError(message, found=found)
