"""Aliases: promotion with compare-and-set, rollback, history (the baseline: alias_baseline.py).

MLflow moves an alias with an upsert and no expected-version check, so two promotions both
succeed and the last one wins silently. Here a move is decided in the tool's own store (a
conditional update on (model, alias, expected version), in one transaction with its
`alias_moved` outbox event), then projected to MLflow. Before deciding, MLflow's alias is read:
a value the store did not put there was moved outside the tool, and is refused (exit 15,
naming the version found) rather than overwritten. A move the store decided but whose
projection a run did not finish (MLflow still shows the previous holder) is finished by a
re-run of the same command.

The new holder is tagged `hokusai.previous_<alias>` with the version it replaced, so `rollback`
knows where to go back to; it checks that version still exists first (deleting a version in
MLflow deletes its aliases), then moves with the same compare-and-set.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from hokusai_ci.adapters.registry_rest import RegistryRest
from hokusai_ci.config.redaction import display_url
from hokusai_ci.domain.errors import AliasMovedError, Cancelled, Category, HokusaiError, invalid_input
from hokusai_ci.domain.events import ConsoleSink, EventSink, alias_moved_event
from hokusai_ci.domain.results import AliasMove, AliasMoveResult
from hokusai_ci.ports.store import AliasRecord, AliasStore, Mover, TokenStatus, TokenStore
from hokusai_ci.ports.tracking import TAG_PREFIX, Tag

log = logging.getLogger("hokusai_ci")
ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", re.ASCII)
RESERVED_VERSION = re.compile(r"[vV][0-9]+", re.ASCII)
VERSION = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)
CHAMPION = "champion"  # moved only by an explicit `model promote`, never by a registration
_UNRECORDED = "in MLflow, and this token store has no record of it (a fresh CI runner, or set outside hokusai-ci)"


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


def check_alias(value: Any, field: str = "alias") -> str:
    """An alias name MLflow accepts: not its reserved `latest` or a version alias `v<digits>`
    (any case; MLflow refuses them only after the store would have decided the move), and
    `champion` in exactly that spelling, so a case variant cannot become a second champion."""
    if not isinstance(value, str) or not ALIAS.fullmatch(value):
        raise invalid_input(
            field, value, "use 1-64 letters, digits, '_' or '-', starting with a letter or '_' (e.g. champion)"
        )
    if value.lower() == "latest" or RESERVED_VERSION.fullmatch(value):
        raise invalid_input(
            field, value, "MLflow reserves 'latest' and 'v<number>' for its own version names; choose another name"
        )
    if value.lower() == CHAMPION and value != CHAMPION:
        raise invalid_input(field, value, f"the champion alias is spelled {CHAMPION!r} (lower case)")
    return value


def check_version(value: Any, field: str = "expect-current") -> str:
    """A version number as MLflow writes it: digits, no sign, spaces or leading zero."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not VERSION.fullmatch(text):
        raise invalid_input(field, value, "give a version number as MLflow shows it, such as 7")
    return text


def _mover(ports: Ports, token_id: str, command: str) -> Mover:
    return Mover(
        token_id=token_id,
        command=command,
        run_url=ports.ci.get(f"{TAG_PREFIX}run_url") or None,
        commit=ports.ci.get(f"{TAG_PREFIX}commit") or None,
    )


# -- the use cases --------------------------------------------------------------------------------
def promote(ports: Ports, token_id: str, alias: str, expect_current: str | None) -> AliasMoveResult:
    """Move `alias` of the token's model to the token's registered version, if it is on
    `expect_current` now (None: not set yet)."""
    token = ports.store.get(token_id)
    if token is None:
        raise HokusaiError(Category.TOKEN_NOT_FOUND, f"token {token_id!r} does not exist in {ports.store.describe()}")
    if token.status is not TokenStatus.REGISTERED or not token.model_name or not token.model_version:
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {token_id} is {token.status.value}: only a registered token's version can be promoted",
            status=token.status.value,
        )
    return move(ports, token.model_name, alias, expect_current, token.model_version, token_id, "promote")


def rollback(ports: Ports, model_name: str, alias: str) -> AliasMoveResult:
    """Move `alias` back to the version it held before its current one (that version's
    `hokusai.previous_<alias>` tag), with the same compare-and-set."""
    record = ports.store.alias(model_name, alias)
    if record is not None:  # the store and MLflow disagree: a pending or outside move, refused with what to run
        in_mlflow = ports.registry.alias_version(model_name, alias)
        if in_mlflow != record.version:
            _resync(ports, record, in_mlflow, record.version, "", "", "rollback", [])
    # a fresh store (a new CI job) has no record: the holder MLflow names is the one rolled back
    # from, and is adopted by the move below
    holder = record.version if record else ports.registry.alias_version(model_name, alias)
    if holder is None:
        raise invalid_input("alias", alias, f"no version of {model_name} holds it: nothing to undo")
    where = display_url(ports.registry.base)
    current = ports.registry.version(model_name, holder)
    # the holder's own tag says where it came from ("": it was the first); the store's record
    # stands in only when the holder cannot be read
    previous = current["tags"].get(Tag.PREVIOUS_PREFIX + alias) if current else None
    previous = previous if current or record is None else record.previous_version
    if not previous:
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"alias {alias!r} of {model_name}: version {holder} was the first to hold it, there is no earlier "
            "version to go back to; nothing was moved",
            field="alias",
        )
    target = ports.registry.version(model_name, previous)
    if target is None:
        raise HokusaiError(
            Category.MODEL_NOT_FOUND,
            f"version {previous} of {model_name}, which held alias {alias!r} before version {holder}, no "
            f"longer exists in the model registry at {where} (deleting a version deletes its aliases); nothing was "
            f"moved: promote another version with `hokusai model promote --token-id T --alias {alias} "
            f"--expect-current {holder}`",
        )
    token_id = target["tags"].get(Tag.TOKEN) or (record.token_id if record else model_name.removeprefix("hokusai-"))
    if ports.store.get(token_id) is None:  # the move's event belongs to the new holder's token
        raise HokusaiError(
            Category.TOKEN_NOT_FOUND,
            f"token {token_id!r} of version {previous} of {model_name} does not exist in {ports.store.describe()}; "
            "nothing was moved: roll back where that token is recorded (a database store, or API mode)",
        )
    return move(ports, model_name, alias, holder, previous, token_id, "rollback", tag_previous=False)


def move(
    ports: Ports,
    model_name: str,
    alias: str,
    expected: str | None,
    new_version: str,
    token_id: str,
    command: str,
    *,
    tag_previous: bool = True,
) -> AliasMoveResult:
    """Decide the move in the store (compare-and-set), then project it to MLflow; a projection
    that fails (an HTTP error, a signal) is taken back from the store, so the store never keeps a
    move MLflow did not make (only a killed process can leave one, which a re-run finishes)."""
    where = display_url(ports.registry.base)
    if ports.registry.version(model_name, new_version) is None:  # else MLflow refuses the move after the decision
        raise HokusaiError(
            Category.MODEL_NOT_FOUND,
            f"version {new_version} of {model_name} does not exist in the model registry at {where} (deleted?); "
            f"nothing was moved: alias {alias!r} can only name a live version",
        )
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
        record, adopted = _resync(ports, record, in_mlflow, expected, new_version, token_id, command, adopted)
    rerun = record is not None and record.version == new_version and record.previous_version == expected
    current = record.version if record else None
    if current != expected and not rerun:
        raise _moved(model_name, alias, current, expected, "in the token store", command)
    if record is None and in_mlflow is not None and not taken:  # the alias exists, this store never saw it set
        raise _moved(model_name, alias, in_mlflow, None, _UNRECORDED, command)
    events = adopted
    already = not rerun and current == new_version  # nothing to move: the alias names it already
    undo: tuple[AliasRecord, AliasRecord | None, str] | None = None
    if rerun or already:
        assert record is not None
        when = f"{record.moved_at:%Y-%m-%d %H:%M:%S} UTC"
        moved, note = record, f"already decided by {record.moved_by} at {when}; set in MLflow"
    else:
        by = _mover(ports, token_id, command)
        event = alias_moved_event(
            model_name=model_name,
            alias=alias,
            from_version=expected,
            to_version=new_version,
            by=by,
            destination=ports.webhook_target,
        )
        moved, note = ports.store.move_alias(model_name, alias, expected, new_version, by, event), ""
        events = [*adopted, event]
        undo = (moved, record, event.event_id)
    try:
        if tag_previous and not already:
            ports.registry.set_version_tag(model_name, new_version, Tag.PREVIOUS_PREFIX + alias, expected or "")
        ports.registry.set_alias(model_name, alias, new_version)
    except (Exception, KeyboardInterrupt, Cancelled) as exc:
        raise _not_projected(ports, exc, undo, model_name, alias, expected, new_version, token_id) from None
    return _project(ports, moved, command, events, note)


def _not_projected(
    ports: Ports,
    exc: BaseException,
    undo: tuple[AliasRecord, AliasRecord | None, str] | None,
    model_name: str,
    alias: str,
    expected: str | None,
    new_version: str,
    token_id: str,
) -> HokusaiError:
    """MLflow did not take the move: take it back from the store (it then records nothing), and
    say what state is left and what to run."""
    was = f"version {expected}" if expected else "not set"
    again = f"hokusai model promote --token-id {token_id} --alias {alias}" + (
        f" --expect-current {expected}" if expected else ""
    )
    undone = False
    if undo is not None:
        try:
            undone = ports.store.undo_move(*undo)
        except Exception:  # the store is unreachable too: the move stays decided, a re-run finishes it
            log.debug("undoing the alias move failed", exc_info=True)
    state = (
        f"nothing was recorded (the token store's move was taken back); MLflow shows {was}"
        if undone or undo is None
        else f"the token store holds the move to version {new_version}, MLflow shows {was}"
    )
    if isinstance(exc, (KeyboardInterrupt, Cancelled)):  # MLflow may have taken it as the signal came
        state += f", or version {new_version} if it took the move as the signal came"
    state += f"; run `{again}` to move it (or record the move MLflow made)"
    if isinstance(exc, KeyboardInterrupt):
        return HokusaiError(Category.INTERRUPTED, f"SIGINT while setting alias {alias!r} of {model_name}: {state}")
    if isinstance(exc, Cancelled):
        return HokusaiError(Category.TERMINATED, f"SIGTERM while setting alias {alias!r} of {model_name}: {state}")
    if isinstance(exc, HokusaiError):
        return HokusaiError(exc.category, f"{exc.message}; alias {alias!r} not moved: {state}")
    return HokusaiError(
        Category.MLFLOW_ERROR, f"setting alias {alias!r} of {model_name} failed ({exc.__class__.__name__}): {state}"
    )


def _resync(
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
    pending = in_mlflow == record.previous_version
    if pending and ports.registry.version(model_name, record.version) is not None:
        if record.version == new_version and record.previous_version == expected:
            return record, adopted  # the re-run of the decided move: finished below
        when = f"{record.moved_at:%Y-%m-%d %H:%M:%S} UTC"
        finish = f"hokusai model promote --token-id {record.token_id} --alias {alias}" + (
            f" --expect-current {in_mlflow}" if in_mlflow else ""
        )
        raise AliasMovedError(
            f"alias {alias!r} of {model_name} is {_said(in_mlflow)} in MLflow, but a move to version {record.version} "
            f"was decided by {record.moved_by} at {when} and is not set in MLflow yet (a run stopped, or one is "
            f"running); nothing was moved: finish that move with `{finish}`, then move from version {record.version}",
            found=record.version,
        )
    if expected != in_mlflow or in_mlflow is None:
        where = f"in MLflow at {display_url(ports.registry.base)}, moved outside hokusai-ci"
        raise _moved(model_name, alias, in_mlflow, record.version, where, command)
    by = _mover(ports, token_id, "adopt")
    event = alias_moved_event(
        model_name=model_name,
        alias=alias,
        from_version=record.version,
        to_version=in_mlflow,
        by=by,
        destination=ports.webhook_target,
    )
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


def _said(version: str | None) -> str:
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
        raise _moved(model_name, alias, in_mlflow, expected, _UNRECORDED if in_mlflow else "in MLflow", command)
    by = _mover(ports, token_id, "adopt")
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


def _project(ports: Ports, record: AliasRecord, command: str, events: list[Any], note: str) -> AliasMoveResult:
    from hokusai_ci.core.after_commit import deliver

    infos = deliver(events, ports.store, ports.console, ports.webhook) if events else []
    was = f"version {record.previous_version}" if record.previous_version else "not set"
    return AliasMoveResult(
        command=command,
        model_name=record.model_name,
        alias=record.alias,
        from_version=record.previous_version,
        to_version=record.version,
        token_id=record.token_id,
        moved_at=record.moved_at,
        run_url=record.run_url,
        commit=record.commit,
        events=infos,
        message=f"alias {record.alias!r} of {record.model_name} moved from {was} to version {record.version}"
        + (f" ({note})" if note else ""),
    )


def _moved(
    model: str, alias: str, found: str | None, expected: str | None, where: str, command: str
) -> AliasMovedError:
    """Exit 15 naming the holder found, with the command that goes on from it."""
    said = f"is on version {found}" if found else "is not set"
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
    message = f"alias {alias!r} of {model} {said} {where} ({wanted}); nothing was moved: {fix}"
    return AliasMovedError(message, found=found)


def history(store: Store, model_name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of the model's aliases (or of one), oldest first, from the outbox."""
    return [
        AliasMove(
            moved_at=e.created_at,
            model_name=e.payload["model_name"],
            alias=e.payload["alias"],
            from_version=e.payload.get("from_version"),
            to_version=e.payload["to_version"],
            token_id=e.token_id,
            command=e.payload.get("command", ""),
            run_url=e.payload.get("run_url"),
            commit=e.payload.get("commit"),
            delivery_status=e.delivery_status.value,
        )
        for e in store.alias_moves(model_name, alias)
    ]
