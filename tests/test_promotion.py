"""Promotion, rollback and the alias race, through the real use case against a real MLflow
server and the token store on SQLite and PostgreSQL; faults through the test fault proxy."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.adapters.registry_rest import RegistryRest
from hokusai_ci.adapters.sql_store import SqlTokenStore
from hokusai_ci.core import promotion
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.ports.store import Registration
from hokusai_ci.ports.tracking import Tag
from tests.fault_proxy import FaultProxy
from tests.servers import MlflowServer
from tests.test_api_mode import api, hokusai, key_service  # noqa: F401  (API mode's fixtures: the stand-in)

ROUNDS = 100
WORKERS = 8


class World:
    """A model with one registered version per token, in MLflow and in the token store."""

    def __init__(self, url: str, open_store: Callable[[], SqlTokenStore], tokens: int) -> None:
        self.url = url
        self.http = MlflowHttp(url)
        self.open_store = open_store
        self.store = open_store()
        self.model = f"m-{uuid.uuid4().hex[:8]}"
        self.http.call("POST", "registered-models/create", json={"name": self.model})
        self.versions: dict[str, str] = {}
        for i in range(tokens):
            token = f"{self.model}-t{i}"
            self.versions[token] = self.add_version(token)

    def add_version(self, token: str) -> str:
        created = self.http.call(
            "POST",
            "model-versions/create",
            json={
                "name": self.model,
                "source": f"s3://bucket/{token}",
                "tags": [
                    {"key": Tag.TOKEN, "value": token},
                    {"key": Tag.METRIC, "value": "auroc"},
                    {"key": Tag.METRIC_VALUE, "value": "0.85"},
                ],
            },
        )
        version = str(created["model_version"]["version"])
        self.store.create(token)
        assert self.store.claim(token, "setup", 60)
        registration = Registration(
            model_name=self.model,
            model_version=version,
            model_uri=f"models:/{self.model}/{version}",
            mlflow_run_id="r",
            model_sha256="0" * 64,
            metric_name="auroc",
            metric_value=0.85,
            baseline=0.8,
            direction="higher",
        )
        assert self.store.complete(token, "setup", registration, [])
        return version

    def ports(self, url: str | None = None) -> promotion.Ports:
        registry = RegistryRest(MlflowHttp(url or self.url))
        return promotion.Ports(self.open_store(), registry)  # type: ignore[arg-type]

    def in_mlflow(self, alias: str = "champion") -> str | None:
        return RegistryRest(self.http).alias_version(self.model, alias)


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SqlTokenStore]]:
    opened: list[SqlTokenStore] = []
    if request.param == "postgresql":
        dsn = request.getfixturevalue("pg_db")

        def make() -> SqlTokenStore:
            opened.append(SqlTokenStore.postgresql(dsn, "postgresql:test", None))
            return opened[-1]
    else:

        def make() -> SqlTokenStore:
            opened.append(SqlTokenStore.sqlite(tmp_path / "hokusai.db"))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


Crowned = Callable[[int], tuple[World, tuple[str, ...], tuple[str, ...]]]


@pytest.fixture
def crowned(mlflow_server: MlflowServer, open_store: Callable[[], SqlTokenStore]) -> Crowned:
    """`crowned(n)`: a model with n tokens' versions, the first one promoted to champion; the
    world, its tokens and their versions, in order."""

    def make(tokens: int) -> tuple[World, tuple[str, ...], tuple[str, ...]]:
        world = World(mlflow_server.url, open_store, tokens)
        promotion.promote(world.ports(), next(iter(world.versions)), "champion", None)
        return world, tuple(world.versions), tuple(world.versions.values())

    return make


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once (a barrier), each outcome a result or the HokusaiError raised."""
    outcomes: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def one(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = calls[i]()
        except HokusaiError as err:
            outcomes[i] = err

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_eight_promotions_from_one_holder_have_exactly_one_winner_every_round(
    mlflow_server: MlflowServer, open_store: Callable[[], SqlTokenStore]
) -> None:
    world = World(mlflow_server.url, open_store, WORKERS + 1)
    tokens = list(world.versions)
    ports = [world.ports() for _ in range(WORKERS)]
    first = promotion.promote(ports[0], tokens[0], "champion", None)
    holder, holder_token = first.to_version, tokens[0]
    started = time.monotonic()
    for _ in range(ROUNDS):
        contenders = [t for t in tokens if t != holder_token]
        outcomes = _race(
            [partial(promotion.promote, p, t, "champion", holder) for p, t in zip(ports, contenders, strict=True)]
        )
        won = [o for o in outcomes if isinstance(o, promotion.AliasMoveResult)]
        refused = [o for o in outcomes if isinstance(o, HokusaiError)]
        assert len(won) == 1 and len(refused) == WORKERS - 1, [str(o) for o in outcomes]
        assert all(r.category is Category.ALIAS_MOVED and r.found == won[0].to_version for r in refused)
        holder, holder_token = won[0].to_version, won[0].token_id
        assert world.in_mlflow() == holder
        record = world.store.alias(world.model, "champion")
        assert record is not None and record.version == holder
    elapsed = time.monotonic() - started
    moves = world.store.alias_moves(world.model, "champion")
    assert len(moves) == ROUNDS + 1  # no alias_moved event lost (or doubled)
    chain = [(m.payload["from_version"], m.payload["to_version"]) for m in moves]
    assert all(chain[i][1] == chain[i + 1][0] for i in range(len(chain) - 1))
    assert elapsed < 120, f"{ROUNDS} rounds took {elapsed:.0f} s"


def test_first_ever_set_under_an_eight_way_race_surfaces_no_http_400(
    mlflow_server: MlflowServer, open_store: Callable[[], SqlTokenStore]
) -> None:
    world = World(mlflow_server.url, open_store, WORKERS)
    registry = RegistryRest(MlflowHttp(mlflow_server.url))
    for round_ in range(30):  # MLflow's own upsert: a raw client saw HTTP 400 in ~1 round of 4
        alias = f"a{round_}"
        version = next(iter(world.versions.values()))
        outcomes = _race([partial(registry.set_alias, world.model, alias, version)] * WORKERS)
        assert [o for o in outcomes if isinstance(o, HokusaiError)] == []
        assert world.in_mlflow(alias) == version
    outcomes = _race([partial(promotion.promote, world.ports(), t, "champion", None) for t in world.versions])
    errors = [o for o in outcomes if isinstance(o, HokusaiError)]
    assert len(errors) == WORKERS - 1 and all(e.category is Category.ALIAS_MOVED for e in errors)
    assert world.in_mlflow() == next(o for o in outcomes if not isinstance(o, HokusaiError)).to_version


def test_a_move_made_outside_the_tool_between_read_and_write_is_refused(
    mlflow_server: MlflowServer, crowned: Crowned
) -> None:
    world, (a, b, c), _ = crowned(3)
    proxy = FaultProxy(mlflow_server.url).start()
    try:
        for _ in range(5):
            rule = proxy.add("GET", "registered-models/alias", "stall")
            outcome: list[Any] = []
            holder = world.in_mlflow()
            call = partial(promotion.promote, world.ports(proxy.url), b, "champion", holder)
            run = threading.Thread(target=partial(_collect, outcome, call))
            run.start()
            assert rule.reached.wait(30)
            RegistryRest(world.http).set_alias(world.model, "champion", world.versions[c])  # out of band
            rule.release()
            run.join(30)
            err = outcome[0]
            assert isinstance(err, HokusaiError) and err.category is Category.ALIAS_MOVED, err
            assert f"version {world.versions[c]}" in err.message and "outside hokusai-ci" in err.message
            assert world.in_mlflow() == world.versions[c]  # nothing overwritten
            record = world.store.alias(world.model, "champion")
            assert record is not None and record.version == world.versions[a]
            RegistryRest(world.http).set_alias(world.model, "champion", world.versions[a])  # put back
        assert len(world.store.alias_moves(world.model)) == 1
    finally:
        proxy.stop()


def _collect(into: list[Any], call: Callable[[], Any]) -> None:
    try:
        into.append(call())
    except HokusaiError as err:
        into.append(err)


def test_rollback_moves_back_and_refuses_when_the_previous_version_was_deleted(
    mlflow_server: MlflowServer, open_store: Callable[[], SqlTokenStore]
) -> None:
    world = World(mlflow_server.url, open_store, 3)
    a, b, c = world.versions
    va, vb, vc = world.versions.values()
    ports = world.ports()
    promotion.promote(ports, a, "champion", None)
    promotion.promote(ports, b, "champion", va)
    assert world.http.version(world.model, vb)["tags"][Tag.PREVIOUS_PREFIX + "champion"] == va  # type: ignore[index]
    back = promotion.rollback(ports, world.model, "champion")
    assert (back.from_version, back.to_version, back.command) == (vb, va, "rollback")
    assert world.in_mlflow() == va
    with pytest.raises(HokusaiError) as first_holder:  # va was the first: no toggling back to vb
        promotion.rollback(ports, world.model, "champion")
    said = first_holder.value.message
    assert first_holder.value.exit_code == 2 and "there is no version to go back to" in said
    assert f"version {va} holds it by a rollback from version {vb}, and version {va} was promoted there when" in said
    assert "is invalid" not in said  # the alias is valid: it is the history that ends
    promotion.promote(ports, c, "champion", va)
    world.http.call("DELETE", "model-versions/delete", json={"name": world.model, "version": va})
    with pytest.raises(HokusaiError) as refused:
        promotion.rollback(ports, world.model, "champion")
    assert refused.value.category is Category.MODEL_NOT_FOUND and f"version {va} " in refused.value.message
    assert world.in_mlflow() == vc
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == vc
    history = promotion.history(world.store, world.model, "champion")  # type: ignore[arg-type]
    assert [(m.from_version, m.to_version, m.command) for m in history] == [
        (None, va, "promote"),
        (va, vb, "promote"),
        (vb, va, "rollback"),
        (va, vc, "promote"),
    ]


def test_a_move_mlflow_refused_is_taken_back_from_the_store(mlflow_server: MlflowServer, crowned: Crowned) -> None:
    world, (_a, b), (va, vb) = crowned(2)
    proxy = FaultProxy(mlflow_server.url).start()
    try:
        proxy.add("POST", "registered-models/alias", "error", status=503, times=0)
        with pytest.raises(HokusaiError) as failed:
            promotion.promote(world.ports(proxy.url), b, "champion", va)
    finally:
        proxy.stop()
    assert world.in_mlflow() == va
    said = failed.value.message
    assert "nothing was recorded" in said and f"--token-id {b} --alias champion --expect-current {va}" in said
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == va  # the store never names what MLflow does not
    assert len(world.store.alias_moves(world.model)) == 1  # no alias_moved event for a move not made
    done = promotion.promote(world.ports(), b, "champion", va)  # the advice, followed
    assert done.to_version == vb and world.in_mlflow() == vb
    assert len(world.store.alias_moves(world.model)) == 2


def test_a_move_a_killed_run_left_decided_is_finished_by_a_rerun_and_nothing_else_moves_over_it(
    crowned: Crowned,
) -> None:
    from hokusai_ci.domain.events import alias_moved_event
    from hokusai_ci.ports.store import Mover

    world, (_a, b, c), (va, vb, _vc) = crowned(3)
    # a run killed (SIGKILL, a lost runner) between the store's decision and MLflow's write
    by = Mover(token_id=b, command="promote")
    event = alias_moved_event(
        model_name=world.model, alias="champion", from_version=va, to_version=vb, by=by, destination=None
    )
    world.store.move_alias(world.model, "champion", va, vb, by, event)
    with pytest.raises(HokusaiError) as other:
        promotion.promote(world.ports(), c, "champion", va)
    said = other.value.message
    assert other.value.category is Category.ALIAS_MOVED and f"a move to version {vb}" in said
    assert f"`hokusai model promote --token-id {b} --alias champion --expect-current {va}`" in said
    with pytest.raises(HokusaiError) as back:  # no rollback "from" a version MLflow never served
        promotion.rollback(world.ports(), world.model, "champion")
    assert back.value.category is Category.ALIAS_MOVED and world.in_mlflow() == va
    done = promotion.promote(world.ports(), b, "champion", va)  # the advice, followed
    assert done.to_version == vb and world.in_mlflow() == vb and "already decided" in done.message
    assert [m.payload["to_version"] for m in world.store.alias_moves(world.model)] == [va, vb]


def test_ctrl_c_while_mlflow_is_written_finishes_the_decided_move(
    mlflow_server: MlflowServer, crowned: Crowned
) -> None:
    """SIGINT while the request setting the alias hangs (MLflow has not taken it yet): the move
    was decided, so it is set in MLflow again and reported done; whichever request MLflow
    applies last, both name the decided version."""
    world, (_a, b), (va, vb) = crowned(2)
    done = _stopped_while_mlflow_answers(world, mlflow_server.url, b, va, after=False, finish_fails=False)
    assert isinstance(done, promotion.AliasMoveResult), done
    assert (done.from_version, done.to_version) == (va, vb) and "finished in MLflow after SIGINT" in done.message
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == vb and world.in_mlflow() == vb
    assert [m.payload["to_version"] for m in world.store.alias_moves(world.model)] == [va, vb]


def test_a_deleted_target_version_is_refused_before_the_store_decides(crowned: Crowned) -> None:
    world, (_a, b), (va, vb) = crowned(2)
    world.http.call("DELETE", "model-versions/delete", json={"name": world.model, "version": vb})
    with pytest.raises(HokusaiError) as refused:
        promotion.promote(world.ports(), b, "champion", va)
    assert refused.value.category is Category.MODEL_NOT_FOUND and f"version {vb} " in refused.value.message
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == va and record.previous_version is None
    assert len(world.store.alias_moves(world.model)) == 1 and world.in_mlflow() == va


def test_a_move_made_outside_the_tool_is_adopted_when_named_and_the_alias_moves_again(crowned: Crowned) -> None:
    world, (_a, _b, c), (va, vb, vc) = crowned(3)
    RegistryRest(world.http).set_alias(world.model, "champion", vb)  # moved outside hokusai-ci
    with pytest.raises(HokusaiError) as stale:
        promotion.promote(world.ports(), c, "champion", va)
    assert stale.value.found == vb and f"pass --expect-current {vb}" in stale.value.message
    with pytest.raises(HokusaiError) as other:  # the version the caller expected is the one named
        promotion.promote(world.ports(), c, "champion", vc)
    said = other.value.message
    assert f"moved outside hokusai-ci from version {va}, which the token store names (expected version {vc})" in said
    with pytest.raises(HokusaiError) as back:
        promotion.rollback(world.ports(), world.model, "champion")
    assert back.value.category is Category.ALIAS_MOVED
    assert f"--expect-current {vb}`" in back.value.message and back.value.message.count("nothing was moved") == 1
    done = promotion.promote(world.ports(), c, "champion", vb)  # the advice, followed: MLflow's holder
    assert (done.from_version, done.to_version) == (vb, vc) and world.in_mlflow() == vc
    history = promotion.history(world.store, world.model, "champion")  # type: ignore[arg-type]
    assert [(m.from_version, m.to_version, m.command) for m in history] == [
        (None, va, "promote"),
        (va, vb, "adopt"),
        (vb, vc, "promote"),
    ]
    back_to = promotion.rollback(world.ports(), world.model, "champion")
    assert back_to.to_version == vb and world.in_mlflow() == vb


def test_a_rerun_does_not_overwrite_a_move_made_outside_the_tool_meanwhile(
    mlflow_server: MlflowServer, crowned: Crowned
) -> None:
    world, (_a, b, _c), (va, _vb, vc) = crowned(3)
    proxy = FaultProxy(mlflow_server.url).start()
    try:
        proxy.add("POST", "registered-models/alias", "error", status=503, times=0)
        with pytest.raises(HokusaiError):
            promotion.promote(world.ports(proxy.url), b, "champion", va)
    finally:
        proxy.stop()
    RegistryRest(world.http).set_alias(world.model, "champion", vc)  # out of band, before the re-run
    with pytest.raises(HokusaiError) as refused:
        promotion.promote(world.ports(), b, "champion", va)
    assert refused.value.category is Category.ALIAS_MOVED and refused.value.found == vc
    assert world.in_mlflow() == vc


# -- the command line, against the real server ------------------------------------------------------
def test_commands_register_with_a_candidate_promote_and_read_the_champion_as_baseline(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    from tests.conftest import register_args, run_here

    model = f"cli-{uuid.uuid4().hex[:8]}"
    url = mlflow_server.url
    for token in ("CA", "CB", "CC"):
        assert run_here("token", "create", "--token-id", token).code == 0
    champion_first = run_here(
        *register_args(
            "CA", model_file, baseline=None, model_name=model, mlflow_uri=url, baseline_from="alias:champion"
        ),
        "--output",
        "json",
    )
    assert champion_first.code == 2 and "give --baseline" in champion_first.json()["error"]["message"]
    refused = run_here(*register_args("CA", model_file, model_name=model, mlflow_uri=url, set_alias="champion"))
    assert refused.code == 2 and "model promote" in refused.err
    first = run_here(
        *register_args(
            "CA", model_file, value="0.85", model_name=model, mlflow_uri=url, baseline_from="alias:champion"
        ),
        "--set-alias",
        "candidate",
        "--output",
        "json",
    )
    assert first.code == 0, first.err
    result = first.json()
    assert result["baseline_source"]["source"] == "flag" and result["baseline_source"]["value"] == 0.8
    assert result["alias"]["alias"] == "candidate" and result["alias"]["to_version"] == result["model_version"]
    promoted = run_here("model", "promote", "--token-id", "CA", "--mlflow-uri", url, "--output", "json")
    assert promoted.code == 0, promoted.err
    assert promoted.json()["to_version"] == result["model_version"]
    again = run_here(
        "model",
        "register",
        *register_args("CA", model_file, model_name=model, mlflow_uri=url)[2:],
        "--set-alias",
        "candidate",
    )
    assert again.code == 4, again.err  # registered already, nothing to finish: the alias is not touched

    proxy = FaultProxy(url).start()
    try:
        plain = run_here(*register_args("CB", model_file, value="0.9", model_name=model, mlflow_uri=proxy.url))
        assert plain.code == 0, plain.err
        without = len(proxy.calls)
        proxy.reset()
        other = tmp_path / "other.bin"
        other.write_bytes(b"another model")
        read = run_here(
            *register_args(
                "CC",
                other,
                baseline="0.1",
                value="0.9",
                model_name=model,
                mlflow_uri=proxy.url,
                baseline_from="alias:champion",
            ),
            "--output",
            "json",
        )
        assert read.code == 0, read.err
        assert len(proxy.calls) - without <= 2, proxy.calls  # the baseline lookup's requests
    finally:
        proxy.stop()
    source = read.json()["baseline_source"]
    assert (source["source"], source["version"], source["value"], source["metric"]) == (
        "alias",
        result["model_version"],
        0.85,
        "auroc",
    )
    stale = run_here("model", "promote", "--token-id", "CC", "--expect-current", "99", "--mlflow-uri", url)
    assert stale.code == 15 and f"version {result['model_version']}" in stale.err
    other_metric = run_here(
        *register_args(
            "CC", model_file, metric="accuracy", model_name=model, mlflow_uri=url, baseline_from="alias:champion"
        )
    )
    assert other_metric.code == 2 and "auroc" in other_metric.err and "accuracy" in other_metric.err
    history = run_here("model", "history", "--model-name", model, "--output", "json")
    assert [(m["alias"], m["command"]) for m in history.json()] == [("candidate", "register"), ("champion", "promote")]
    status = run_here("model", "status", "--token-id", "CB", "--output", "json").json()
    assert [(m["alias"], m["to_version"]) for m in status["alias_moves"]] == [
        ("candidate", result["model_version"]),
        ("champion", result["model_version"]),
    ]
    text = run_here("model", "status", "--token-id", "CA").out
    assert "alias move" in text and "champion: not set -> version" in text


def test_the_action_reads_the_baseline_from_an_alias_and_moves_a_candidate(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    import json

    from tests.conftest import run_here
    from tests.test_action_entrypoint import parse_outputs, run_entry, runner

    env = {k: v for k, v in runner.__wrapped__(tmp_path).items() if k != "HOKUSAI_MOCK_MODE"}  # type: ignore[attr-defined]
    model = f"act-{uuid.uuid4().hex[:8]}"
    env |= {
        "HOKUSAI_MODE": "local",
        "INPUT_MLFLOW-URI": mlflow_server.url,
        "INPUT_MODEL-NAME": model,
        "INPUT_BASELINE": "",
        "INPUT_BASELINE-FROM": "alias:champion",
        "INPUT_SET-ALIAS": "candidate",
    }
    assert run_here("token", "create", "--token-id", "XRAY").code == 0
    refused = run_entry(env)
    assert refused.returncode == 2 and "no version of" in refused.stdout, refused.stdout
    done = run_entry({**env, "INPUT_BASELINE": "0.82"})
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(parse_outputs(Path(env["GITHUB_OUTPUT"]))["result-json"])
    assert result["baseline_source"]["source"] == "flag" and result["alias"]["alias"] == "candidate"
    assert "from the `baseline` input" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


# -- API mode: alias calls go through the platform's MLflow proxy (the stand-in answers as it does) --
def test_api_mode_moves_aliases_through_the_proxy_for_a_registry_admin_only(
    request: pytest.FixtureRequest, mlflow_server: MlflowServer, model_file: Path
) -> None:
    from hokusai_ci import ModelRegistry
    from tests.test_api_mode import WRITER

    use_key, standin = request.getfixturevalue("api"), request.getfixturevalue("hokusai")
    registry = ModelRegistry()
    registry.register_model("API-PROMOTE", model_file, "auroc", 0.91, 0.88)
    moved = registry.promote("API-PROMOTE")
    assert (moved.from_version, moved.to_version) == (None, "1")
    assert any("registered-models/alias" in seen.path for seen in standin.seen)
    assert RegistryRest(MlflowHttp(mlflow_server.url)).alias_version("hokusai-API-PROMOTE", "champion") == "1"
    use_key(WRITER)
    with pytest.raises(HokusaiError) as refused:
        ModelRegistry().rollback("hokusai-API-PROMOTE")
    assert refused.value.category is Category.PLATFORM_REJECTED and "REGISTRY_ADMIN_REQUIRED" in str(refused.value)


def test_alias_moved_reaches_the_webhook_signed_and_fits_its_schema(
    mlflow_server: MlflowServer, open_store: Callable[[], SqlTokenStore], webhook: Any
) -> None:
    import json

    import jsonschema

    from hokusai_ci.adapters.webhook_sink import WebhookSink
    from hokusai_ci.domain.events import json_schemas
    from hokusai_ci.webhooks import verify

    world = World(mlflow_server.url, open_store, 2)
    a, b = world.versions
    ports = world.ports()
    ports.webhook, ports.webhook_target = WebhookSink(webhook.url, "s3cret", 5, 2), webhook.url
    ports.ci = {"hokusai.run_url": "https://ci.example/runs/9", "hokusai.commit": "f00d"}
    first = promotion.promote(ports, a, "champion", None)
    promotion.promote(ports, b, "champion", first.to_version)
    bodies = [json.loads(r.body) for r in webhook.received]
    assert [(e["event_type"], e["from_version"], e["to_version"]) for e in bodies] == [
        ("alias_moved", None, first.to_version),
        ("alias_moved", first.to_version, world.versions[b]),
    ]
    schema = json_schemas()["alias_moved.v1.schema.json"]
    for received, body in zip(webhook.received, bodies, strict=True):
        assert verify(received.body, received.headers, "s3cret")["event_id"] == body["event_id"]
        jsonschema.validate(body, schema)
        assert (body["run_url"], body["commit"]) == ("https://ci.example/runs/9", "f00d")
    assert all(e.delivery_status.value == "delivered" for e in world.store.alias_moves(world.model))


def test_the_signed_statement_carries_the_baseline_source_and_a_promoted_version_still_verifies(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    from tests.conftest import register_args, run_here
    from tests.test_signing import keypair, verify

    private, public = keypair(tmp_path)
    model = f"sig-{uuid.uuid4().hex[:8]}"
    url = mlflow_server.url
    signed = ("--sign-key", str(private), "--output", "json")
    run_here("token", "create", "--token-id", "SA")
    first = run_here(*register_args("SA", model_file, model_name=model, mlflow_uri=url), *signed)
    assert first.code == 0, first.err
    assert run_here("model", "promote", "--token-id", "SA", "--mlflow-uri", url).code == 0
    run_here("token", "create", "--token-id", "SB")
    other = tmp_path / "b.bin"
    other.write_bytes(b"challenger")
    second = run_here(
        *register_args("SB", other, baseline=None, value="0.95", model_name=model, mlflow_uri=url),
        "--baseline-from",
        "alias:champion",
        *signed,
    )
    assert second.code == 0, second.err
    for version in ("1", "2"):
        checked = verify("--model-uri", f"models:/{model}/{version}", "--public-key", str(public), server=mlflow_server)
        assert checked.code == 0, checked.out
    predicate = checked.json()["predicate"]
    assert predicate["baseline_source"] == {
        "source": "alias",
        "alias": "champion",
        "model_name": model,
        "version": "1",
        "value": 0.9,
        "metric": "auroc",
        "evaluation_sha256": None,
    }
    assert predicate["metric"]["baseline"] == 0.9


def test_moving_an_alias_to_the_version_it_names_records_nothing(
    mlflow_server: MlflowServer, open_store: Callable[[], SqlTokenStore]
) -> None:
    world = World(mlflow_server.url, open_store, 1)
    [(token, version)] = world.versions.items()
    ports = world.ports()
    promotion.move(ports, world.model, "candidate", None, version, token, "register")
    again = promotion.move(ports, world.model, "candidate", version, version, token, "register")
    assert (again.status, again.from_version, again.to_version) == ("unchanged", version, version)
    assert again.events == [] and f"already names version {version}" in again.message
    assert len(world.store.alias_moves(world.model)) == 1
    tags = world.http.version(world.model, version)["tags"]  # type: ignore[index]
    assert tags[Tag.PREVIOUS_PREFIX + "candidate"] == ""  # never the version itself


# -- names and versions as MLflow takes them, refused before anything is written ---------------------
@given(st.sampled_from(["latest", "LATEST", "Latest", "v1", "v3", "V12", "v007"]))
@settings(max_examples=20, deadline=None)
def test_names_mlflow_reserves_are_refused(name: str) -> None:
    with pytest.raises(HokusaiError) as refused:
        promotion.check_alias(name)
    assert refused.value.exit_code == 2 and "MLflow reserves" in refused.value.message


@given(st.lists(st.booleans(), min_size=8, max_size=8))
@settings(max_examples=60, deadline=None)
def test_a_case_variant_of_champion_is_refused_so_there_is_one_champion(upper: list[bool]) -> None:
    name = "".join(ch.upper() if up else ch for ch, up in zip(promotion.CHAMPION, upper, strict=True))
    if name == promotion.CHAMPION:
        assert promotion.check_alias(name) == name
        return
    with pytest.raises(HokusaiError) as refused:
        promotion.check_alias(name)
    assert refused.value.exit_code == 2 and "'champion' (lower case)" in refused.value.message
    with pytest.raises(HokusaiError):  # and a registration may not move it either
        from hokusai_ci.core.aliases import alias_to_set

        alias_to_set(name)


HOSTILE_VERSIONS = st.sampled_from(["016", " 16", "16 ", "+16", "0", "1e1", "١٦"]) | st.text(max_size=6)


@given(HOSTILE_VERSIONS)
@settings(max_examples=60, deadline=None)
def test_expect_current_is_a_version_as_mlflow_writes_it(text: str) -> None:
    assert promotion.check_version("16") == "16" and promotion.check_version(16) == "16"
    if text.isascii() and text.isdigit() and not text.startswith("0"):
        assert promotion.check_version(text) == text
        return
    with pytest.raises(HokusaiError) as refused:
        promotion.check_version(text)
    assert refused.value.exit_code == 2 and "expect-current" in refused.value.message


def test_set_alias_without_an_mlflow_server_is_refused_before_registering(model_file: Path) -> None:
    from tests.conftest import register_args, run_here

    assert run_here("token", "create", "--token-id", "NOALIAS").code == 0
    refused = run_here(*register_args("NOALIAS", model_file, value="0.85"), "--set-alias", "cand")
    assert refused.code == 2 and "mlflow-uri" in refused.err and "registered, but" not in refused.err
    status = run_here("model", "status", "--token-id", "NOALIAS", "--output", "json").json()
    assert status["status"] == "draft"  # nothing written


def test_a_typo_in_baseline_from_names_the_aliases_that_exist_and_the_text_says_each_thing_once(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    from tests.conftest import register_args, run_here

    model = f"typo-{uuid.uuid4().hex[:8]}"
    url = mlflow_server.url
    for token in ("TA", "TB", "TC"):
        assert run_here("token", "create", "--token-id", token).code == 0
    first = run_here(*register_args("TA", model_file, model_name=model, mlflow_uri=url), "--set-alias", "candidate")
    assert first.code == 0, first.err
    assert "alias    alias" not in first.out and "moved    alias 'candidate'" in first.out
    assert first.err.count("MLflow: ") == 1 and first.err.count("token store: ") == 1  # said once
    reserved = run_here("model", "promote", "--token-id", "TA", "--alias", "v1", "--mlflow-uri", url)
    assert reserved.code == 2 and "MLflow reserves" in reserved.err
    assert run_here("model", "history", "--model-name", model, "--output", "json").json()[-1]["alias"] == "candidate"
    other = tmp_path / "b.bin"
    other.write_bytes(b"another model")
    args = register_args("TB", other, baseline="0.1", model_name=model, mlflow_uri=url, baseline_from="alias:candidat")
    typo = run_here(*args)
    assert typo.code == 0, typo.err
    assert "holds alias 'candidat'; its aliases are candidate" in typo.err and "warning: no version of" in typo.err
    third = tmp_path / "c.bin"
    third.write_bytes(b"a third model")
    refused = run_here(
        *register_args("TC", third, baseline=None, model_name=model, mlflow_uri=url, baseline_from="alias:candidat")
    )
    assert refused.code == 2 and "its aliases are candidate" in refused.err


def _stopped_while_mlflow_answers(
    world: World, mlflow_url: str, token: str, expected: str, *, after: bool, finish_fails: bool
) -> Any:
    """Promote through a proxy that holds the request setting the alias (`after`: MLflow took
    it, its answer is held); SIGINT comes then (`finish_fails`: every later request setting the
    alias is answered 503). The outcome: the result, or the error raised."""
    import os
    import signal

    proxy = FaultProxy(mlflow_url).start()
    rule = proxy.add("POST", "registered-models/alias", "stall", after=after)

    def interrupt() -> None:
        if rule.reached.wait(30):
            if finish_fails:
                proxy.add("POST", "registered-models/alias", "error", status=503, times=0)
            os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt)
    sender.start()
    try:
        return promotion.promote(world.ports(proxy.url), token, "champion", expected)
    except HokusaiError as err:
        return err
    finally:
        rule.release()
        sender.join(30)
        proxy.stop()


def test_when_mlflow_took_the_move_as_a_sigint_came_it_is_kept_and_reported_done(
    mlflow_server: MlflowServer, crowned: Crowned
) -> None:
    world, (_a, b), (va, vb) = crowned(2)
    done = _stopped_while_mlflow_answers(world, mlflow_server.url, b, va, after=True, finish_fails=False)
    assert isinstance(done, promotion.AliasMoveResult), done  # decided and projected: the signal changes nothing
    assert (done.from_version, done.to_version) == (va, vb)
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == vb and world.in_mlflow() == vb
    assert [m.payload["to_version"] for m in world.store.alias_moves(world.model)] == [va, vb]


def test_a_decided_move_a_sigint_could_not_finish_is_finished_by_the_same_command(
    mlflow_server: MlflowServer, crowned: Crowned
) -> None:
    """SIGINT while MLflow is written, and MLflow refuses the move set again after it: the
    decision stays in the store (a request in flight may still be applied), the message says
    both possible states, and the command it names finishes the move."""
    world, (_a, b, c), (va, vb, _vc) = crowned(3)
    stopped = _stopped_while_mlflow_answers(world, mlflow_server.url, b, va, after=False, finish_fails=True)
    assert isinstance(stopped, HokusaiError), stopped
    said = stopped.message
    assert stopped.category is Category.INTERRUPTED and f"the token store holds the move to version {vb}" in said
    assert f"or version {vb} if it took" in said and f"`hokusai model promote --token-id {b} --alias champion" in said
    with pytest.raises(HokusaiError) as other:  # nothing else moves over the decided move
        promotion.promote(world.ports(), c, "champion", va)
    assert other.value.category is Category.ALIAS_MOVED
    done = promotion.promote(world.ports(), b, "champion", va)  # the same command, as the message says
    assert (done.from_version, done.to_version) == (va, vb)
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == vb and world.in_mlflow() == vb
    assert [m.payload["to_version"] for m in world.store.alias_moves(world.model)] == [va, vb]
