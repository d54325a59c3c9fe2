"""The alias table of the token store: a compare-and-set move written with its `alias_moved`
event in one transaction, on SQLite and PostgreSQL, and the migration an old database gets."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from hokusai_ci.adapters.sql_store import MIGRATIONS, SCHEMA_VERSION, SqlTokenStore
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.events import alias_moved_event
from hokusai_ci.ports.store import Mover


def _store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> SqlTokenStore:
    if backend == "postgresql":
        return SqlTokenStore.postgresql(request.getfixturevalue("pg_db"), "postgresql:test", None)
    return SqlTokenStore.sqlite(tmp_path / "hokusai.db")


def _move(store: SqlTokenStore, expected: str | None, new: str, token: str = "T") -> object:
    by = Mover(token_id=token, command="promote", run_url="https://ci.example/run/1", commit="abc")
    event = alias_moved_event(
        model_name="hokusai-T", alias="champion", from_version=expected, to_version=new, by=by, destination=None
    )
    return store.move_alias("hokusai-T", "champion", expected, new, by, event)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_move_is_compare_and_set_with_its_event(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _store(backend, tmp_path, request)
    store.create("T")
    _move(store, None, "1")
    with pytest.raises(HokusaiError) as first_again:
        _move(store, None, "2")
    assert first_again.value.category is Category.ALIAS_MOVED and first_again.value.exit_code == 15
    assert first_again.value.found == "1" and "version 1" in first_again.value.message
    _move(store, "1", "2")
    with pytest.raises(HokusaiError) as stale:
        _move(store, "1", "3")
    assert stale.value.found == "2"
    record = store.alias("hokusai-T", "champion")
    assert record is not None and (record.version, record.previous_version) == ("2", "1")
    assert record.run_url == "https://ci.example/run/1" and record.commit == "abc"
    moves = store.alias_moves("hokusai-T", "champion")
    assert [(e.payload["from_version"], e.payload["to_version"]) for e in moves] == [(None, "1"), ("1", "2")]
    assert store.alias_moves("other") == []
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_concurrent_moves_from_one_holder_have_one_winner(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = _store(backend, tmp_path, request)
    first.create("T")
    _move(first, None, "7")
    target = first._target
    stores = [SqlTokenStore(first.dialect, target, "test") for _ in range(8)]
    outcomes: list[str] = []
    gate = threading.Barrier(8)

    def one(i: int) -> None:
        gate.wait()
        try:
            _move(stores[i], "7", str(100 + i))
            outcomes.append("won")
        except HokusaiError as err:
            outcomes.append(f"refused:{err.found}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    record = first.alias("hokusai-T", "champion")
    assert record is not None and all(o in ("won", f"refused:{record.version}") for o in outcomes)
    assert len(first.alias_moves("hokusai-T")) == 2  # the first set and the one winner
    for s in [first, *stores]:
        s.close()


def test_an_old_database_gains_the_alias_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE hokusai_schema (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0][1]:
        conn.execute(statement)
    conn.execute("INSERT INTO hokusai_schema (version) VALUES (1)")
    conn.execute(
        "INSERT INTO tokens (token_id, status, created_at, updated_at) "
        "VALUES ('T', 'draft', '2026-01-01', '2026-01-01')"
    )
    conn.commit()
    conn.close()
    store = SqlTokenStore.sqlite(path)
    assert store.schema_version() == SCHEMA_VERSION == 2
    assert store.get("T") is not None
    _move(store, None, "1")
    assert store.alias("hokusai-T", "champion") is not None
    store.close()
