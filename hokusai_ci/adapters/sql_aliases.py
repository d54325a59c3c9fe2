"""The SQL token store's aliases: where each (model, alias) stands, moved by compare-and-set in
one transaction with its `alias_moved` outbox event, and the history read back from the outbox.
A mixin of `SqlTokenStore`, which provides the connection, the transaction and the event insert."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from hokusai_ci.adapters.sql_schema import ALIAS_COLUMNS, EVENT_COLUMNS, alias_of_row, event_of_row, ts
from hokusai_ci.domain.errors import AliasMovedError
from hokusai_ci.ports.store import ALIAS_MOVED, AliasRecord, EventRecord, Mover


class SqlAliases:
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _insert_event(self, event: EventRecord, position: int) -> None:
        raise NotImplementedError

    def alias(self, model_name: str, alias: str) -> AliasRecord | None:
        row = self._exec(
            f"SELECT {ALIAS_COLUMNS} FROM aliases WHERE model_name = ? AND alias = ?", (model_name, alias)
        ).fetchone()
        return None if row is None else alias_of_row(dict(row))

    def move_alias(
        self, model_name: str, alias: str, expected: str | None, new_version: str, by: Mover, event: EventRecord
    ) -> AliasRecord:
        """One conditional write (an insert that yields to an existing row, or an update on the
        expected version) and the event, in one transaction: of concurrent moves from the same
        holder exactly one changes anything."""
        moved_at = ts(event.created_at)
        with self._tx():
            if expected is None:
                cur = self._exec(
                    f"INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (model_name, alias) DO NOTHING",
                    (model_name, alias, new_version, by.token_id, moved_at, by.command, by.run_url, by.commit),
                )
            else:
                where = (model_name, alias, expected)
                cur = self._exec(
                    "UPDATE aliases SET version = ?, previous_version = version, token_id = ?, moved_at = ?, "
                    "moved_by = ?, run_url = ?, commit_sha = ? WHERE model_name = ? AND alias = ? AND version = ?",
                    (new_version, by.token_id, moved_at, by.command, by.run_url, by.commit, *where),
                )
            if cur.rowcount == 1:
                self._insert_event(event, 0)
        if cur.rowcount != 1:
            found = self.alias(model_name, alias)
            holder = found.version if found else None
            said = f"version {holder}" if holder else "not set"
            wanted = f"version {expected}" if expected else "not set yet"
            raise AliasMovedError(
                f"alias {alias!r} of {model_name} is {said} in the token store (expected {wanted}); nothing was moved",
                found=holder,
            )
        record = self.alias(model_name, alias)
        assert record is not None
        return record

    def clear_alias(self, model_name: str, alias: str, expected: str, event: EventRecord) -> bool:
        """The alias is no longer set (MLflow removed it with its version): the row goes, only
        while it still names `expected`, in one transaction with `event`. True when cleared."""
        with self._tx():
            cur = self._exec(
                "DELETE FROM aliases WHERE model_name = ? AND alias = ? AND version = ?", (model_name, alias, expected)
            )
            if cur.rowcount == 1:
                self._insert_event(event, 0)
        return bool(cur.rowcount == 1)

    def undo_move(self, decided: AliasRecord, before: AliasRecord | None, event_id: str) -> bool:
        """Take back a move MLflow never got: the alias returns to `before` (None: not set) and
        the move's event is deleted, in one transaction, only while the alias still stands where
        `decided` put it (a later move on top of it is left alone). True when undone."""
        where = (decided.model_name, decided.alias, decided.version, ts(decided.moved_at))
        match = "WHERE model_name = ? AND alias = ? AND version = ? AND moved_at = ?"
        with self._tx():
            if before is None:
                cur = self._exec(f"DELETE FROM aliases {match}", where)
            else:
                b = before
                back = (b.version, b.previous_version, b.token_id, ts(b.moved_at), b.moved_by, b.run_url, b.commit)
                cur = self._exec(
                    "UPDATE aliases SET version = ?, previous_version = ?, token_id = ?, moved_at = ?, moved_by = ?, "
                    f"run_url = ?, commit_sha = ? {match}",
                    (*back, *where),
                )
            if cur.rowcount == 1:
                self._exec("DELETE FROM events WHERE event_id = ?", (event_id,))
        return bool(cur.rowcount == 1)

    def alias_moves(self, model_name: str | None = None, alias: str | None = None) -> list[EventRecord]:
        rows = self._exec(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE event_type = ? ORDER BY created_at, position",
            (ALIAS_MOVED,),
        ).fetchall()
        moves = [event_of_row(dict(row)) for row in rows]
        return [
            e
            for e in moves
            if (model_name is None or e.payload.get("model_name") == model_name)
            and (alias is None or e.payload.get("alias") == alias)
        ]
