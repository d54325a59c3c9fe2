"""Aliases: promotion with compare-and-set, rollback, history (the baseline: alias_baseline.py).

MLflow moves an alias with an upsert and no expected-version check, so two promotions both
succeed and the last one wins silently. Here a move is decided in the tool's own store (a
conditional update on (model, alias, expected version), in one transaction with its
`alias_moved` outbox event), then projected to MLflow. Before deciding, MLflow's alias is read:
a value the store did not put there was moved outside the tool, and is refused (exit 15,
naming the version found) rather than overwritten; how the store's record is brought to
MLflow's where the caller names it (an adopted holder, a deleted one) is `alias_sync.py`. A
move the store decided but whose projection a run did not finish (MLflow still shows the
previous holder) is finished by a re-run of the same command.

The store's decision is the point of no return for a signal (SIGINT, SIGTERM): the write is
never cut, a signal before it leaves nothing moved, and one after it finishes the move in
MLflow; from then on the outcome stands (`signals.decided`).

The new holder is tagged `hokusai.previous_<alias>` with the version it replaced, so `rollback`
knows where to go back to; it checks that version still exists first (deleting a version in
MLflow deletes its aliases), then moves with the same compare-and-set.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hokusai_ci.config.redaction import display_url
from hokusai_ci.core import alias_sync
from hokusai_ci.core.alias_sync import Ports, Standing, Store, moved_error, mover, resync, standing
from hokusai_ci.domain import signals
from hokusai_ci.domain.errors import Cancelled, Category, HokusaiError, invalid_input
from hokusai_ci.domain.events import alias_moved_event
from hokusai_ci.domain.results import AliasMove, AliasMoveResult
from hokusai_ci.ports.store import AliasRecord, TokenRecord, TokenStatus
from hokusai_ci.ports.tracking import Tag

__all__ = [  # the use cases, and the ports they are given (defined with the alias's standing)
    "AliasMoveResult",
    "Ports",
    "Store",
    "check_alias",
    "check_version",
    "history",
    "move",
    "promote",
    "rollback",
]
log = logging.getLogger("hokusai_ci")
ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", re.ASCII)
RESERVED_VERSION = re.compile(r"[vV][0-9]+", re.ASCII)
VERSION = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)
CHAMPION = "champion"  # moved only by an explicit `model promote`, never by a registration


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


# -- the use cases --------------------------------------------------------------------------------
def promote(ports: Ports, token_id: str, alias: str, expect_current: str | None) -> AliasMoveResult:
    """Move `alias` of the token's model to the token's registered version, if it is on
    `expect_current` now (None: not set yet)."""
    try:
        token = _registered(ports, token_id)
    except (KeyboardInterrupt, Cancelled) as exc:
        raise before_decision(exc, f"alias {alias!r}", again_command("", alias, expect_current, token_id)) from None
    assert token.model_name and token.model_version
    return move(ports, token.model_name, alias, expect_current, token.model_version, token_id, "promote")


def _registered(ports: Ports, token_id: str) -> TokenRecord:
    token = ports.store.get(token_id)
    if token is None:
        raise HokusaiError(Category.TOKEN_NOT_FOUND, f"token {token_id!r} does not exist in {ports.store.describe()}")
    if token.status is not TokenStatus.REGISTERED or not token.model_name or not token.model_version:
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {token_id} is {token.status.value}: only a registered token's version can be promoted",
            status=token.status.value,
        )
    return token


def rollback(ports: Ports, model_name: str, alias: str) -> AliasMoveResult:
    """Move `alias` back to the version it held before its current one (that version's
    `hokusai.previous_<alias>` tag), with the same compare-and-set."""
    try:
        holder, previous, token_id = _way_back(ports, model_name, alias)
    except (KeyboardInterrupt, Cancelled) as exc:
        again = again_command(model_name, alias, None, "", "rollback")
        raise before_decision(exc, f"alias {alias!r} of {model_name}", again) from None
    return move(ports, model_name, alias, holder, previous, token_id, "rollback", tag_previous=False)


def _way_back(ports: Ports, model_name: str, alias: str) -> tuple[str, str, str]:
    """The holder rolled back from, the version it replaced, and that version's token."""
    record = ports.store.alias(model_name, alias)
    if record is not None:  # the store and MLflow disagree: a pending or outside move, refused with what to run
        in_mlflow = ports.registry.alias_version(model_name, alias)
        if in_mlflow != record.version:
            resync(ports, record, in_mlflow, record.version, "", "", "rollback", [])
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
        back = record.previous_version if record and record.moved_by == "rollback" else None
        tagged = current is None or Tag.PREVIOUS_PREFIX + alias in current["tags"]
        raise alias_sync.no_way_back(model_name, alias, holder, tagged, back)
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
    return holder, previous, token_id


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
    """Decide the move in the store (compare-and-set), then project it to MLflow. A signal never
    lands inside the store's write: one before the decision leaves nothing moved; one while
    MLflow is written is answered by what MLflow then names (the move it took is kept and
    reported done, else the store's decision is taken back); once MLflow names the new holder
    the outcome is decided and a signal no longer changes it (`signals.decided`). A projection
    that fails is taken back from the store, so the store never keeps a move MLflow did not
    make (only a killed process can leave one, which a re-run finishes)."""
    try:
        return _move(ports, model_name, alias, expected, new_version, token_id, command, tag_previous)
    except (KeyboardInterrupt, Cancelled) as exc:  # before the decision: the store holds no move of this run
        again = again_command(model_name, alias, expected, token_id, command)
        raise before_decision(exc, f"alias {alias!r} of {model_name}", again) from None


def before_decision(exc: BaseException, what: str, again: str) -> HokusaiError:
    """A signal before the move was decided: nothing moved (an `adopt` the history may show
    records what MLflow named, nothing else), and the command that moves it."""
    return HokusaiError(
        _category(exc), f"{_signal(exc)} before {what} was moved: nothing was moved; run `{again}` to move it"
    )


def _move(
    ports: Ports,
    model_name: str,
    alias: str,
    expected: str | None,
    new_version: str,
    token_id: str,
    command: str,
    tag_previous: bool,
) -> AliasMoveResult:
    where = display_url(ports.registry.base)
    if ports.registry.version(model_name, new_version) is None:  # else MLflow refuses the move after the decision
        raise HokusaiError(
            Category.MODEL_NOT_FOUND,
            f"version {new_version} of {model_name} does not exist in the model registry at {where} (deleted?); "
            f"nothing was moved: alias {alias!r} can only name a live version",
        )
    now = standing(ports, model_name, alias, expected, new_version, token_id, command)
    record, expected = now.record, now.expected
    rerun = record is not None and record.version == new_version and record.previous_version == expected
    current = record.version if record else None
    if current != expected and not rerun:
        raise moved_error(model_name, alias, current, expected, "in the token store", command)
    done = rerun and now.in_mlflow == new_version  # a repeated command: the move is made in both
    if record is not None and current == new_version and (done or not rerun):  # the alias names it already
        return _unchanged(ports, record, command, list(now.adopted))
    undo: tuple[AliasRecord, AliasRecord | None, str] | None = None
    moved, note, events = record, "", list(now.adopted)
    tag = tag_previous
    try:
        if rerun:
            assert record is not None
            note = f"already decided by {record.moved_by} at {record.moved_at:%Y-%m-%d %H:%M:%S} UTC; set in MLflow"
        else:
            with signals.deferred():  # the decision is written whole, and known, before a signal is taken
                moved, event = _decide(ports, now, model_name, alias, new_version, token_id, command)
                undo = (moved, record, event.event_id)
                events.append(event)
        _set_in_mlflow(ports, model_name, alias, expected, new_version, tag)
        signals.decided()
    except (KeyboardInterrupt, Cancelled) as exc:
        if undo is None and not rerun:
            raise  # before the decision: nothing moved
        _finish(ports, exc, model_name, alias, expected, new_version, token_id, tag)
        note = f"finished in MLflow after {_signal(exc)}: the move was decided when it came"
    except Exception as exc:
        if undo is None and not rerun:
            raise  # the store refused (exit 15), or failed: nothing moved
        with signals.deferred():  # taking the decision back is not cut either
            failure = _not_projected(ports, exc, undo, model_name, alias, expected, new_version, token_id)
        raise failure from None
    assert moved is not None
    return _project(ports, moved, command, events, note)


def _set_in_mlflow(
    ports: Ports, model_name: str, alias: str, expected: str | None, new_version: str, tag: bool
) -> None:
    """The projection: the new holder tagged with the one it replaces, then the alias (both
    idempotent, so setting them again after a signal is safe)."""
    if tag:
        ports.registry.set_version_tag(model_name, new_version, Tag.PREVIOUS_PREFIX + alias, expected or "")
    ports.registry.set_alias(model_name, alias, new_version)


def _finish(
    ports: Ports,
    exc: BaseException,
    model_name: str,
    alias: str,
    expected: str | None,
    new_version: str,
    token_id: str,
    tag: bool,
) -> None:
    """A signal after the store decided the move: the move is set in MLflow again, so whatever
    request was in flight, MLflow ends on the decided version and the outcome stands (the
    signal that came is held by the face's end guard). When that fails too (a second signal,
    MLflow unreachable), the decision stays in the store, and the same command finishes it."""
    try:
        _set_in_mlflow(ports, model_name, alias, expected, new_version, tag)
        signals.decided()
    except (Exception, KeyboardInterrupt, Cancelled) as again:
        log.debug("finishing the alias move failed", exc_info=True)
        how = "a second signal" if isinstance(again, (KeyboardInterrupt, Cancelled)) else again.__class__.__name__
        was = f"version {expected}" if expected else "not set"
        run = again_command(model_name, alias, expected, token_id, "promote")
        raise HokusaiError(
            _category(exc),
            f"{_signal(exc)} while setting alias {alias!r} of {model_name}, and finishing it failed ({how}): the "
            f"token store holds the move to version {new_version}; MLflow shows {was}, or version {new_version} "
            f"if it took the move as the signal came; run `{run}` to finish it",
        ) from None


def _decide(
    ports: Ports, now: Standing, model_name: str, alias: str, new_version: str, token_id: str, command: str
) -> tuple[AliasRecord, Any]:
    """The compare-and-set in the store, with its `alias_moved` event."""
    by = mover(ports, token_id, command)
    event = alias_moved_event(
        model_name=model_name,
        alias=alias,
        from_version=now.expected,
        to_version=new_version,
        by=by,
        destination=ports.webhook_target,
    )
    return ports.store.move_alias(model_name, alias, now.expected, new_version, by, event), event


def again_command(model_name: str, alias: str, expected: str | None, token_id: str, command: str = "promote") -> str:
    if command == "rollback":
        return f"hokusai model rollback --model-name {model_name} --alias {alias}"
    return f"hokusai model promote --token-id {token_id} --alias {alias}" + (
        f" --expect-current {expected}" if expected else ""
    )


def _signal(exc: BaseException) -> str:
    return "SIGINT" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"


def _category(exc: BaseException) -> Category:
    return Category.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else Category.TERMINATED


def _not_projected(
    ports: Ports,
    exc: Exception,
    undo: tuple[AliasRecord, AliasRecord | None, str] | None,
    model_name: str,
    alias: str,
    expected: str | None,
    new_version: str,
    token_id: str,
) -> HokusaiError:
    """MLflow refused the move or could not be reached: take it back from the store (it then
    records nothing), and say what state is left and what to run."""
    undone = False
    if undo is not None:
        try:
            undone = ports.store.undo_move(*undo)
        except Exception:  # the store is unreachable too: the move stays decided, a re-run finishes it
            log.debug("undoing the alias move failed", exc_info=True)
    was = f"version {expected}" if expected else "not set"
    state = (
        f"nothing was recorded (the token store's move was taken back); MLflow shows {was}"
        if undone or undo is None
        else f"the token store holds the move to version {new_version}, MLflow shows {was}"
    )
    again = again_command(model_name, alias, expected, token_id, "promote")
    state += f"; run `{again}` to move it (or record the move MLflow made)"
    if isinstance(exc, HokusaiError):
        return HokusaiError(exc.category, f"{exc.message}; alias {alias!r} not moved: {state}")
    return HokusaiError(
        Category.MLFLOW_ERROR, f"setting alias {alias!r} of {model_name} failed ({exc.__class__.__name__}): {state}"
    )


def _unchanged(ports: Ports, record: AliasRecord, command: str, events: list[Any]) -> AliasMoveResult:
    """The alias already names the version asked for: nothing is decided or written (setting it
    in MLflow again could undo a move another run decides meanwhile); said as of when it was read."""
    done = _project(ports, record, command, events, "")
    message = alias_sync.unchanged_message(ports, record)
    return done.model_copy(update={"status": "unchanged", "from_version": record.version, "message": message})


def _project(ports: Ports, record: AliasRecord, command: str, events: list[Any], note: str) -> AliasMoveResult:
    from hokusai_ci.core.after_commit import deliver, stored_events

    try:
        infos = deliver(events, ports.store, ports.console, ports.webhook) if events else []
    except (KeyboardInterrupt, Cancelled):  # the move is done: its events wait in the outbox (`events replay`)
        infos = stored_events(ports.store, events)
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


def history(store: Store, model_name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of the model's aliases (or of one), oldest first, from the outbox."""
    return [
        AliasMove(
            moved_at=e.created_at,
            model_name=e.payload["model_name"],
            alias=e.payload["alias"],
            from_version=e.payload.get("from_version"),
            to_version=e.payload.get("to_version"),
            token_id=e.token_id,
            command=e.payload.get("command", ""),
            run_url=e.payload.get("run_url"),
            commit=e.payload.get("commit"),
            delivery_status=e.delivery_status.value,
        )
        for e in store.alias_moves(model_name, alias)
    ]
