"""The alias commands say exactly what happened: a promote to the version the alias already names
says nothing was moved (and not a move it did not make, nor a holder another run has since
replaced); a rollback with nowhere to go says why truthfully, with advice that works; `history`
prints the store's history even when MLflow cannot be read. Against a real MLflow server, the
token store on SQLite and PostgreSQL."""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.adapters.registry_rest import RegistryRest
from hokusai_ci.adapters.sql_store import SqlTokenStore
from hokusai_ci.core import promotion
from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.schema_files import result_schemas
from tests.conftest import register_args, run_here
from tests.servers import MlflowServer, free_port
from tests.test_promotion import World, open_store  # noqa: F401  (the stores fixture)

MOVE_SCHEMA = "alias_move_result.v1.schema.json"


class _MovedAfterRead(RegistryRest):
    """MLflow's registry, with another run's move made right after the alias is first read: the
    moment a promote has read where the alias stands and not yet answered."""

    def __init__(self, http: MlflowHttp, then: Callable[[], object]) -> None:
        super().__init__(http)
        self.then: Callable[[], object] | None = then

    def alias_version(self, model_name: str, alias: str) -> str | None:
        found = super().alias_version(model_name, alias)
        if self.then is not None:
            then, self.then = self.then, None
            then()
        return found


def _rolled_back(world: World) -> tuple[str, str, str, str, str]:
    """Champion on the first version, reached by a rollback from the second; the tokens of the
    first and third versions, and the three versions."""
    a, b, c = world.versions
    va, vb, vc = world.versions.values()
    promotion.promote(world.ports(), a, "champion", None)
    promotion.promote(world.ports(), b, "champion", va)
    back = promotion.rollback(world.ports(), world.model, "champion")
    assert (back.from_version, back.to_version) == (vb, va)
    return a, c, va, vb, vc


def test_promoting_the_version_the_alias_names_says_nothing_was_moved(
    mlflow_server: MlflowServer,
    open_store: Callable[[], SqlTokenStore],  # noqa: F811
) -> None:
    world = World(mlflow_server.url, open_store, 3)
    a, _, va, vb, _ = _rolled_back(world)
    before = len(world.store.alias_moves(world.model))
    same = promotion.promote(world.ports(), a, "champion", va)
    assert same.status == "unchanged" and (same.from_version, same.to_version) == (va, va)
    assert f"alias 'champion' of {world.model} already names version {va} (since " in same.message
    assert ", by rollback); nothing was moved" in same.message
    assert "moved from" not in same.message and f"version {vb}" not in same.message
    assert same.events == [] and len(world.store.alias_moves(world.model)) == before
    jsonschema.validate(same.model_dump(mode="json"), result_schemas()[MOVE_SCHEMA])
    assert world.in_mlflow() == va


class _Writes(RegistryRest):
    """MLflow's registry, counting the writes a command makes."""

    def __init__(self, http: MlflowHttp) -> None:
        super().__init__(http)
        self.writes: list[str] = []

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.writes.append(f"alias {alias}={version}")
        super().set_alias(name, alias, version)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.writes.append(f"tag {key}")
        super().set_version_tag(name, version, key, value)


def test_the_same_promote_run_again_says_nothing_was_moved_and_writes_nothing(
    mlflow_server: MlflowServer,
    open_store: Callable[[], SqlTokenStore],  # noqa: F811
) -> None:
    """A re-run CI job repeats a promote that was made in the store and in MLflow: it answers
    `unchanged` (not the old move as if just made) and writes nothing to MLflow."""
    world = World(mlflow_server.url, open_store, 2)
    a, b = world.versions
    va, vb = world.versions.values()
    for token, expected, version in ((a, None, va), (b, va, vb)):
        promotion.promote(world.ports(), token, "champion", expected)
        before = len(world.store.alias_moves(world.model))
        registry = _Writes(MlflowHttp(world.url))
        again = promotion.promote(promotion.Ports(world.open_store(), registry), token, "champion", expected)
        assert again.status == "unchanged" and (again.from_version, again.to_version) == (version, version)
        assert f"already names version {version} (since " in again.message and "moved from" not in again.message
        assert registry.writes == [] and len(world.store.alias_moves(world.model)) == before
        assert world.in_mlflow() == version


def test_a_noop_promote_racing_a_real_move_neither_claims_a_move_nor_undoes_it(
    mlflow_server: MlflowServer,
    open_store: Callable[[], SqlTokenStore],  # noqa: F811
) -> None:
    """Another run moves the alias on after this promote read it: the promote moved nothing, says
    where the alias is now, and leaves MLflow on the other run's version."""
    world = World(mlflow_server.url, open_store, 3)
    a, c, va, _, vc = _rolled_back(world)
    moves: list[object] = []
    racing = _MovedAfterRead(
        MlflowHttp(world.url), lambda: moves.append(promotion.promote(world.ports(), c, "champion", va))
    )
    ports = promotion.Ports(world.open_store(), racing)  # type: ignore[arg-type]
    same = promotion.promote(ports, a, "champion", va)
    assert len(moves) == 1  # the other run's move was made in between
    assert same.status == "unchanged" and (same.from_version, same.to_version) == (va, va)
    assert f"named version {va} when read" in same.message and "nothing was moved" in same.message
    assert f"it is now on version {vc} (moved by promote at " in same.message
    assert "already names" not in same.message and "moved from" not in same.message
    assert world.in_mlflow() == vc  # the other run's move stands in MLflow
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == vc


def test_rollback_after_the_alias_was_unset_says_why_and_its_advice_works(
    mlflow_server: MlflowServer,
    open_store: Callable[[], SqlTokenStore],  # noqa: F811
) -> None:
    """History 3 (deleted) -> not set -> 7 -> 5 -> 8 (deleted) -> not set -> 7: version 7 was not
    the first to hold the alias, it was moved there when the alias named none."""
    world = World(mlflow_server.url, open_store, 4)
    t3, t7, t5, t8 = world.versions
    v3, v7, v5, v8 = world.versions.values()
    alias = "candidate"
    promotion.promote(world.ports(), t3, alias, None)
    world.http.call("DELETE", "model-versions/delete", json={"name": world.model, "version": v3})
    promotion.promote(world.ports(), t7, alias, None)  # takes "not set" into the store, then moves
    promotion.promote(world.ports(), t5, alias, v7)
    promotion.promote(world.ports(), t8, alias, v5)
    world.http.call("DELETE", "model-versions/delete", json={"name": world.model, "version": v8})
    promotion.promote(world.ports(), t7, alias, None)
    history = promotion.history(world.store, world.model, alias)  # type: ignore[arg-type]
    assert [(m.from_version, m.to_version) for m in history] == [
        (None, v3),
        (v3, None),
        (None, v7),
        (v7, v5),
        (v5, v8),
        (v8, None),
        (None, v7),
    ]
    with pytest.raises(HokusaiError) as refused:
        promotion.rollback(world.ports(), world.model, alias)
    said = refused.value.message
    assert refused.value.exit_code == 2 and "first" not in said
    assert f"version {v7} was promoted there when the alias named no version" in said
    assert "(its hokusai.previous_candidate tag is empty)" in said and "nothing was moved" in said
    assert world.in_mlflow(alias) == v7
    advice = re.search(r"`hokusai model promote --token-id T --alias (\w+) --expect-current (\d+)`", said)
    assert advice is not None and advice.group(1) == alias  # followed, with the token of version 5
    done = promotion.promote(world.ports(), t5, advice.group(1), advice.group(2))
    assert (done.status, done.from_version, done.to_version) == ("moved", v7, v5) and world.in_mlflow(alias) == v5


@pytest.fixture
def not_mlflow() -> Iterator[str]:
    """A web server that answers every path 404 in plain text (a wrong port or path prefix)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("where", ["nothing listens", "another web server"])
def test_history_prints_the_store_s_history_when_mlflow_cannot_be_read(
    where: str, mlflow_server: MlflowServer, model_file: Path, request: pytest.FixtureRequest
) -> None:
    """MLflow unreachable, or a server at that URL that is not MLflow (every path 404): the
    store's history is printed and MLflow is said not read, never read as "alias not set"."""
    model, url, token = f"hist-{uuid.uuid4().hex[:8]}", mlflow_server.url, f"HA{uuid.uuid4().hex[:6]}"
    assert run_here("token", "create", "--token-id", token).code == 0
    done = run_here(
        *register_args(token, model_file, value="0.9", model_name=model, mlflow_uri=url), "--set-alias", "candidate"
    )
    assert done.code == 0, done.err
    gone = f"http://127.0.0.1:{free_port()}" if where == "nothing listens" else request.getfixturevalue("not_mlflow")
    shown = run_here("model", "history", "--model-name", model, "--mlflow-uri", gone)
    assert shown.code == 0, shown.err  # a read-only report whose main part, the store's history, succeeded
    assert "candidate: not set -> version 1" in shown.out and f"(register, token {token}" in shown.out
    assert "now in MLflow: not read, the history above is the token store's alone" in shown.out
    assert "MLflow could not be read, so the history is not compared with it" in shown.err
    assert "disagree" not in shown.out + shown.err
    as_json = run_here("model", "history", "--model-name", model, "--mlflow-uri", gone, "--output", "json")
    assert as_json.code == 0, as_json.err
    jsonschema.validate(as_json.json(), result_schemas()["alias_history.v1.schema.json"])
    assert [(m["alias"], m["to_version"]) for m in as_json.json()] == [("candidate", "1")]
