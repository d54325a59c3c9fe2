"""The version an alias names deleted in MLflow (which deletes the alias there too) while the
token store still names it: every refusal says what to run, and that command works when
followed. Against a real MLflow server, the token store on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.adapters.sql_store import SqlTokenStore
from hokusai_ci.core import promotion
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.events import json_schemas
from hokusai_ci.domain.schema_files import result_schemas
from tests.conftest import register_args, run_here
from tests.servers import MlflowServer
from tests.test_promotion import World, open_store  # noqa: F401  (the stores fixture)


def _delete(http: MlflowHttp, model: str, version: str) -> None:
    http.call("DELETE", "model-versions/delete", json={"name": model, "version": version})


def test_a_deleted_holder_is_taken_as_not_set_and_each_refusal_s_advice_works(
    mlflow_server: MlflowServer,
    open_store: Callable[[], SqlTokenStore],  # noqa: F811
) -> None:
    world = World(mlflow_server.url, open_store, 4)
    a, b, c, d = world.versions
    va, vb, vc, vd = world.versions.values()
    promotion.promote(world.ports(), a, "champion", None)
    promotion.promote(world.ports(), b, "champion", va)
    _delete(world.http, world.model, vb)
    assert world.in_mlflow() is None  # MLflow deleted the alias with its version

    with pytest.raises(HokusaiError) as back:  # nothing to roll back from: MLflow serves no champion
        promotion.rollback(world.ports(), world.model, "champion")
    said = back.value.message
    assert back.value.category is Category.ALIAS_MOVED and back.value.found is None
    assert f"version {vb}, which the token store names, was deleted there" in said
    assert "`hokusai model promote --token-id T --alias champion` (no --expect-current" in said
    assert f"version {va} held it before" in said
    with pytest.raises(HokusaiError) as stale:  # a holder neither MLflow nor the store names
        promotion.promote(world.ports(), c, "champion", vd)
    assert stale.value.category is Category.ALIAS_MOVED and "(no --expect-current" in stale.value.message
    record = world.store.alias(world.model, "champion")
    assert record is not None and record.version == vb  # refusals wrote nothing

    done = promotion.promote(world.ports(), a, "champion", None)  # the advice, followed
    assert (done.from_version, done.to_version) == (None, va) and world.in_mlflow() == va
    assert [e.event_type for e in done.events] == ["alias_moved", "alias_moved"]  # the adopt, then the move

    _delete(world.http, world.model, va)  # again, and this time the deleted version is the one named
    named = promotion.promote(world.ports(), c, "champion", va)
    assert (named.from_version, named.to_version) == (None, vc) and world.in_mlflow() == vc
    again = promotion.promote(world.ports(), d, "champion", vc)  # and the alias moves on as usual
    assert again.to_version == vd and world.in_mlflow() == vd

    history = promotion.history(world.store, world.model, "champion")  # type: ignore[arg-type]
    assert [(m.from_version, m.to_version, m.command) for m in history] == [
        (None, va, "promote"),
        (va, vb, "promote"),
        (vb, None, "adopt"),
        (None, va, "promote"),
        (va, None, "adopt"),
        (None, vc, "promote"),
        (vc, vd, "promote"),
    ]
    schema = json_schemas()["alias_moved.v1.schema.json"]
    for event in world.store.alias_moves(world.model):
        jsonschema.validate(event.payload, schema)


def test_an_alias_removed_in_mlflow_outside_hokusai_ci_is_followed_the_same_way(
    mlflow_server: MlflowServer,
    open_store: Callable[[], SqlTokenStore],  # noqa: F811
) -> None:
    world = World(mlflow_server.url, open_store, 2)
    a, b = world.versions
    va, vb = world.versions.values()
    promotion.promote(world.ports(), a, "champion", None)
    promotion.promote(world.ports(), b, "champion", va)
    world.http.call("DELETE", "registered-models/alias", json={"name": world.model, "alias": "champion"})
    with pytest.raises(HokusaiError) as stale:
        promotion.promote(world.ports(), a, "champion", va)
    assert stale.value.found is None and "removed outside hokusai-ci" in stale.value.message
    done = promotion.promote(world.ports(), a, "champion", vb)  # naming the store's holder
    assert (done.from_version, done.to_version) == (None, va) and world.in_mlflow() == va


def test_the_commands_go_on_after_the_holder_was_deleted(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """`--set-alias`, `promote` and `rollback` as a user types them: each refusal's command,
    followed, works; `history` shows the alias taken as not set, and with `--mlflow-uri` what
    MLflow names now beside the store (a disagreement said)."""
    model, url = f"del-{uuid.uuid4().hex[:8]}", mlflow_server.url
    versions = {}
    for token, content in (("DA", b"first"), ("DB", b"second"), ("DC", b"third")):
        assert run_here("token", "create", "--token-id", token).code == 0
        path = tmp_path / f"{token}.bin"
        path.write_bytes(content)
        args = register_args(token, path, value="0.9", model_name=model, mlflow_uri=url)
        done = run_here(*args, "--set-alias", "candidate", "--output", "json")
        assert done.code == 0, done.err
        versions[token] = done.json()["model_version"]
        if token == "DA":
            assert run_here("model", "promote", "--token-id", "DA", "--mlflow-uri", url).code == 0
            _delete(MlflowHttp(url), model, versions["DA"])  # the candidate and the champion go with it
    assert run_here("model", "history", "--model-name", model, "--alias", "candidate").out.count("-> not set") == 1
    compared = run_here("model", "history", "--model-name", model, "--alias", "champion", "--mlflow-uri", url)
    assert compared.code == 0, compared.err  # what MLflow holds now, beside the store's history
    said = f"now in MLflow: champion not set, the token store version {versions['DA']}: they disagree"
    assert said in compared.out and "they disagree" in compared.err
    assert "now in MLflow" not in run_here("model", "history", "--model-name", model).out  # the store alone

    back = run_here("model", "rollback", "--model-name", model, "--mlflow-uri", url)
    assert back.code == 15 and "was deleted there" in back.err, back.err
    assert "hokusai model promote --token-id T --alias champion`" in back.err
    stale = run_here("model", "promote", "--token-id", "DB", "--expect-current", versions["DC"], "--mlflow-uri", url)
    assert stale.code == 15 and "no --expect-current" in stale.err, stale.err
    promoted = run_here("model", "promote", "--token-id", "DB", "--mlflow-uri", url, "--output", "json")
    assert promoted.code == 0, promoted.err  # the advice, followed
    jsonschema.validate(promoted.json(), result_schemas()["alias_move_result.v1.schema.json"])
    assert promoted.json()["to_version"] == versions["DB"]
    history = run_here("model", "history", "--model-name", model, "--mlflow-uri", url, "--output", "json")
    assert "disagree" not in history.err
    jsonschema.validate(history.json(), result_schemas()["alias_history.v1.schema.json"])
    every = run_here("model", "history", "--model-name", model, "--mlflow-uri", url).out
    assert f"now in MLflow: champion version {versions['DB']} (the token store agrees)" in every
    assert f"now in MLflow: candidate version {versions['DC']} (the token store agrees)" in every
    assert [(m["command"], m["from_version"], m["to_version"]) for m in history.json() if m["alias"] == "champion"] == [
        ("promote", None, versions["DA"]),
        ("adopt", versions["DA"], None),
        ("promote", None, versions["DB"]),
    ]
