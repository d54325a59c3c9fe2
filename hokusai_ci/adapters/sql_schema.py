"""The SQL token store's schema and rows: versioned migrations (applied on open, under a lock),
the column lists, and the mapping between a row and a token or event record. Timestamps are
fixed-width ISO 8601 UTC text, so they compare correctly as text in both dialects."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hokusai_ci.ports.store import AliasRecord, EventRecord, TokenRecord

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE tokens (
                token_id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                lease_owner TEXT,
                lease_expires_at TEXT,
                model_name TEXT,
                model_version TEXT,
                model_uri TEXT,
                mlflow_run_id TEXT,
                model_sha256 TEXT,
                metric_name TEXT,
                metric_value DOUBLE PRECISION,
                baseline DOUBLE PRECISION,
                direction TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                registered_at TEXT,
                metadata TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TABLE events (
                event_id TEXT PRIMARY KEY,
                event_type TEXT NOT NULL,
                token_id TEXT NOT NULL REFERENCES tokens (token_id),
                payload TEXT NOT NULL,
                created_at TEXT NOT NULL,
                destination TEXT,
                delivery_status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                delivered_at TEXT,
                position INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX events_by_status ON events (delivery_status, created_at)",
            "CREATE INDEX events_by_token ON events (token_id, created_at)",
        ],
    ),
    (
        2,
        [
            """CREATE TABLE aliases (
                model_name TEXT NOT NULL,
                alias TEXT NOT NULL,
                version TEXT NOT NULL,
                previous_version TEXT,
                token_id TEXT NOT NULL REFERENCES tokens (token_id),
                moved_at TEXT NOT NULL,
                moved_by TEXT NOT NULL,
                run_url TEXT,
                commit_sha TEXT,
                PRIMARY KEY (model_name, alias)
            )""",
            "CREATE INDEX events_by_type ON events (event_type, created_at)",
        ],
    ),
]


SCHEMA_VERSION = MIGRATIONS[-1][0]


TOKEN_COLUMNS = (
    "token_id, status, lease_owner, lease_expires_at, model_name, model_version, model_uri, "
    "mlflow_run_id, model_sha256, metric_name, metric_value, baseline, direction, created_at, "
    "updated_at, registered_at, metadata"
)


ALIAS_COLUMNS = "model_name, alias, version, previous_version, token_id, moved_at, moved_by, run_url, commit_sha"


EVENT_COLUMNS = (
    "event_id, event_type, token_id, payload, created_at, destination, delivery_status, "
    "attempts, last_error, delivered_at"
)


def ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


def parse_ts(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def token_of_row(row: dict[str, Any]) -> TokenRecord:
    for key in ("created_at", "updated_at", "registered_at", "lease_expires_at"):
        row[key] = parse_ts(row[key])
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return TokenRecord(**row)


def event_of_row(row: dict[str, Any]) -> EventRecord:
    for key in ("created_at", "delivered_at"):
        row[key] = parse_ts(row[key])
    row["payload"] = json.loads(row["payload"])
    return EventRecord(**row)


def alias_of_row(row: dict[str, Any]) -> AliasRecord:
    row["moved_at"] = parse_ts(row["moved_at"])
    row["commit"] = row.pop("commit_sha")
    return AliasRecord(**row)
