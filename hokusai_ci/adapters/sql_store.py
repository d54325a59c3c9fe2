"""Token store and event outbox on SQL: SQLite (embedded default) or PostgreSQL.

One SQL dialect subset serves both: `?` placeholders (rewritten for psycopg), TEXT timestamps
in fixed-width ISO 8601 UTC (so they compare correctly as text), JSON kept as TEXT.
The schema (sql_schema.py) is versioned and migrated on open, under a lock, so concurrent first
runs agree.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hokusai_ci.adapters.sql_aliases import SqlAliases
from hokusai_ci.adapters.sql_schema import (
    EVENT_COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    TOKEN_COLUMNS,
    event_of_row,
    token_of_row,
    ts,
)
from hokusai_ci.config.validation import require_extra
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.record import Registration
from hokusai_ci.ports.store import (
    DeliveryStatus,
    EventRecord,
    TokenRecord,
    TokenStatus,
    utcnow,
)

BUSY_SECONDS = 10  # SQLite waits this long for a lock; the final step retries beyond it
_ADVISORY_LOCK = 0x486F6B75  # "Hoku": serialises migrations on PostgreSQL


class SqlTokenStore(SqlAliases):
    """`TokenStore` over a DB-API connection (sqlite3 or psycopg 3).

    One connection, shared by the run and its lease heartbeat under a lock. A PostgreSQL
    connection that the server dropped (a restart) is opened again on the next call.
    """

    def __init__(self, dialect: str, target: str, description: str, secret: str | None = None) -> None:
        self.dialect = dialect
        self._target = target
        self._description = description
        self._secret = secret
        self._lock = threading.RLock()
        self._conn: Any = self._connect(target)
        self._migrate()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def sqlite(cls, path: Path, *, read_only: bool = False) -> SqlTokenStore:
        """The SQLite file at `path`. A read-only open of a store that does not exist yet sees
        an empty store and creates nothing."""
        if read_only and not path.exists():
            return cls("sqlite", ":memory:", f"sqlite:{path}")
        return cls("sqlite", str(path), f"sqlite:{path}")

    @classmethod
    def postgresql(cls, dsn: str, description: str, password: str | None) -> SqlTokenStore:
        """A PostgreSQL store needs the `postgres` extra: without psycopg that is a bad input,
        refused before anything is written, not a server that cannot be reached."""
        require_extra("postgres", description, ("psycopg",))
        return cls("postgresql", dsn, description, secret=password)

    def _connect(self, target: str) -> Any:
        try:
            if self.dialect == "sqlite":
                if target != ":memory:":
                    Path(target).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(target, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
                if target != ":memory:":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA foreign_keys = ON")
                return conn
            import psycopg  # only for PostgreSQL stores
            from psycopg.rows import dict_row

            return psycopg.connect(target, autocommit=True, connect_timeout=10, row_factory=dict_row)
        except Exception as exc:
            raise self._connection_error(exc) from None

    def _ensure_connected(self) -> None:
        if self.dialect == "postgresql" and self._conn.closed:
            self._conn = self._connect(self._target)

    def _connection_error(self, exc: BaseException) -> HokusaiError:
        reason = " ".join(str(exc).split()) or exc.__class__.__name__
        if self._secret:
            reason = reason.replace(self._secret, "***")
        check = (
            "check that the directory is writable (HOKUSAI_HOME)"
            if self.dialect == "sqlite"
            else "check that the server is running and reachable, and the database name, user and password"
        )
        return HokusaiError(
            Category.DATABASE_CONNECTION_FAILED,
            f"cannot use the token store at {self._description}: {reason[:300]}; {check}",
        )

    def describe(self) -> str:
        return self._description

    def close(self) -> None:
        with suppress(Exception):
            self._conn.close()

    # -- low level ----------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    @contextmanager
    def _driver_errors(self) -> Iterator[None]:
        """Driver failures mean the store is unusable, except integrity errors callers handle."""
        try:
            yield
        except HokusaiError:
            raise
        except Exception as exc:
            if _is_integrity_error(exc):
                raise
            raise self._connection_error(exc) from None

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock, self._driver_errors():
            self._ensure_connected()
            return self._conn.execute(self._sql(sql), tuple(params))

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self._lock:
            if self.dialect == "sqlite":
                self._exec("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    with suppress(Exception):
                        self._conn.execute("ROLLBACK")
                    raise
                self._exec("COMMIT")
                return
            with self._driver_errors():
                self._ensure_connected()
                with self._conn.transaction():
                    yield

    def _migrate(self) -> None:
        with self._tx():
            if self.dialect == "postgresql":
                self._exec("SELECT pg_advisory_xact_lock(?)", (_ADVISORY_LOCK,))
            self._exec("CREATE TABLE IF NOT EXISTS hokusai_schema (version INTEGER NOT NULL)")
            row = self._exec("SELECT MAX(version) AS v FROM hokusai_schema").fetchone()
            current = (dict(row)["v"] if row is not None else None) or 0
            if current > SCHEMA_VERSION:
                raise HokusaiError(
                    Category.DATABASE_CONNECTION_FAILED,
                    f"the token store at {self._description} has schema version {current}, newer than "
                    f"this hokusai-ci understands ({SCHEMA_VERSION}); upgrade hokusai-ci",
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        self._exec(statement)
                    self._exec("INSERT INTO hokusai_schema (version) VALUES (?)", (version,))

    def schema_version(self) -> int:
        row = self._exec("SELECT MAX(version) AS v FROM hokusai_schema").fetchone()
        return int(dict(row)["v"])

    # -- tokens -------------------------------------------------------------------------
    def get(self, token_id: str) -> TokenRecord | None:
        row = self._exec(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        return None if row is None else token_of_row(dict(row))

    def create(self, token_id: str, metadata: dict[str, Any] | None = None) -> TokenRecord:
        now = ts(utcnow())
        try:
            with self._tx():
                self._exec(
                    "INSERT INTO tokens (token_id, status, created_at, updated_at, metadata) VALUES (?, ?, ?, ?, ?)",
                    (token_id, TokenStatus.DRAFT.value, now, now, json.dumps(metadata or {}, sort_keys=True)),
                )
        except Exception as exc:
            if not _is_integrity_error(exc):
                raise
            existing = self.get(token_id)
            status = existing.status.value if existing else "unknown"
            raise HokusaiError(
                Category.INVALID_TOKEN_STATUS,
                f"token {token_id!r} already exists (status {status}); "
                f"see `hokusai model status --token-id {token_id}`",
                status=status,
            ) from None
        record = self.get(token_id)
        assert record is not None
        return record

    def now(self) -> datetime:
        """The store's clock, which every lease is computed and compared with: runners whose
        clocks disagree still agree on whether a claim is live. PostgreSQL's `now()`; SQLite is
        one machine's file, so its clock is that machine's."""
        if self.dialect == "sqlite":
            return utcnow()
        row = self._exec("SELECT now() AS now").fetchone()
        return datetime.fromisoformat(str(dict(row)["now"])).astimezone(UTC)

    def claim(self, token_id: str, owner: str, lease_seconds: int) -> bool:
        with self._tx():
            now = self.now()
            cur = self._exec(
                "UPDATE tokens SET status = ?, lease_owner = ?, lease_expires_at = ?, updated_at = ? "
                "WHERE token_id = ? AND (status = ? OR (status = ? AND lease_expires_at < ?))",
                (
                    TokenStatus.REGISTERING.value,
                    owner,
                    ts(now + timedelta(seconds=lease_seconds)),
                    ts(now),
                    token_id,
                    TokenStatus.DRAFT.value,
                    TokenStatus.REGISTERING.value,
                    ts(now),
                ),
            )
            return bool(cur.rowcount == 1)

    def renew(self, token_id: str, owner: str, lease_seconds: int) -> bool:
        """Extend a claim this run still holds; False once another run took it over."""
        now = self.now()
        cur = self._exec(
            "UPDATE tokens SET lease_expires_at = ?, updated_at = ? "
            "WHERE token_id = ? AND status = ? AND lease_owner = ?",
            (ts(now + timedelta(seconds=lease_seconds)), ts(now), token_id, TokenStatus.REGISTERING.value, owner),
        )
        return bool(cur.rowcount == 1)

    def reset_to_draft(self, token_id: str) -> None:
        with self._tx():
            self._exec(
                "UPDATE tokens SET status = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
                "WHERE token_id = ? AND status = ?",
                (TokenStatus.DRAFT.value, ts(utcnow()), token_id, TokenStatus.REGISTERED.value),
            )

    def release(self, token_id: str, owner: str) -> bool:
        cur = self._exec(
            "UPDATE tokens SET status = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
            "WHERE token_id = ? AND status = ? AND lease_owner = ?",
            (TokenStatus.DRAFT.value, ts(utcnow()), token_id, TokenStatus.REGISTERING.value, owner),
        )
        return bool(cur.rowcount == 1)

    def complete(self, token_id: str, owner: str, registration: Registration, events: list[EventRecord]) -> bool:
        now = ts(utcnow())
        r = registration
        with self._tx():
            cur = self._exec(
                "UPDATE tokens SET status = ?, lease_owner = NULL, lease_expires_at = NULL, "
                "model_name = ?, model_version = ?, model_uri = ?, mlflow_run_id = ?, model_sha256 = ?, "
                "metric_name = ?, metric_value = ?, baseline = ?, direction = ?, updated_at = ?, "
                "registered_at = ? WHERE token_id = ? AND status = ? AND lease_owner = ?",
                (
                    TokenStatus.REGISTERED.value,
                    r.model_name,
                    r.model_version,
                    r.model_uri,
                    r.run_id,
                    r.sha256,
                    r.metric_name,
                    r.metric_value,
                    r.baseline,
                    r.direction,
                    now,
                    now,
                    token_id,
                    TokenStatus.REGISTERING.value,
                    owner,
                ),
            )
            if cur.rowcount != 1:
                return self._already_completed(token_id, events)
            for position, event in enumerate(events):
                self._insert_event(event, position)
        return True

    def _already_completed(self, token_id: str, events: list[EventRecord]) -> bool:
        """A retried `complete` whose first attempt committed but whose answer was lost: this
        run's events are in the outbox."""
        if not events:
            return False
        row = self._exec(
            "SELECT 1 FROM events WHERE event_id = ? AND token_id = ?", (events[0].event_id, token_id)
        ).fetchone()
        return row is not None

    def _insert_event(self, event: EventRecord, position: int) -> None:
        self._exec(
            f"INSERT INTO events ({EVENT_COLUMNS}, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                event.event_type,
                event.token_id,
                json.dumps(event.payload, sort_keys=True),
                ts(event.created_at),
                event.destination,
                event.delivery_status.value,
                event.attempts,
                event.last_error,
                ts(event.delivered_at),
                position,
            ),
        )

    def list_tokens(self, statuses: list[TokenStatus] | None = None) -> list[TokenRecord]:
        sql = f"SELECT {TOKEN_COLUMNS} FROM tokens"
        params: list[str] = []
        if statuses:
            sql += " WHERE status IN (" + ", ".join("?" for _ in statuses) + ")"
            params = [s.value for s in statuses]
        sql += " ORDER BY COALESCE(registered_at, updated_at) DESC, token_id"
        return [token_of_row(dict(row)) for row in self._exec(sql, params).fetchall()]

    # -- events -------------------------------------------------------------------------
    def events_for(self, token_id: str) -> list[EventRecord]:
        rows = self._exec(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE token_id = ? ORDER BY created_at, position",
            (token_id,),
        ).fetchall()
        return [event_of_row(dict(row)) for row in rows]

    def pending_events(self, token_id: str | None = None) -> list[EventRecord]:
        """Events a webhook has not accepted yet (pending or failed), oldest first."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE delivery_status IN (?, ?)"
        params: list[str] = [DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]
        if token_id is not None:
            sql += " AND token_id = ?"
            params.append(token_id)
        rows = self._exec(sql + " ORDER BY created_at, position", params).fetchall()
        return [event_of_row(dict(row)) for row in rows]

    def record_delivery(self, event_id: str, ok: bool, error: str | None, attempts: int = 1) -> None:
        now = ts(utcnow())
        with self._tx():
            self._exec(
                "UPDATE events SET attempts = attempts + ?, delivery_status = ?, last_error = ?, "
                "delivered_at = ? WHERE event_id = ?",
                (
                    attempts,
                    (DeliveryStatus.DELIVERED if ok else DeliveryStatus.FAILED).value,
                    None if ok else error,
                    now if ok else None,
                    event_id,
                ),
            )


def _is_integrity_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) or type(exc).__name__ in ("IntegrityError", "UniqueViolation")
