"""Aliases across CI jobs in local mode: each job starts with an empty token store (its own
HOKUSAI_HOME), while the aliases live on in one real MLflow server. A job that finds an alias
its store never saw set adopts the holder MLflow names when it is the version it expects
(`--expect-current`), records that in the history, and refuses any other holder by name."""

from __future__ import annotations

import uuid
from pathlib import Path

import jsonschema

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.adapters.registry_rest import RegistryRest
from hokusai_ci.domain.schema_files import result_schemas
from hokusai_ci.ports.tracking import Tag
from tests.conftest import Run, register_args, run_here
from tests.servers import MlflowServer


def _job(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"HOKUSAI_HOME": str(home)}


def _register(job: dict[str, str], token: str, model_file: Path, model: str, url: str) -> Run:
    assert run_here("token", "create", "--token-id", token, env=job).code == 0
    args = register_args(token, model_file, value="0.9", model_name=model, mlflow_uri=url)
    return run_here(*args, "--set-alias", "candidate", "--output", "json", env=job)


def test_two_jobs_with_their_own_stores_promote_in_turn(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    url, model = mlflow_server.url, f"fresh-{uuid.uuid4().hex[:8]}"
    registry = RegistryRest(MlflowHttp(url))
    first, second = _job(tmp_path / "job-1"), _job(tmp_path / "job-2")

    registered = _register(first, "FA", model_file, model, url)
    assert registered.code == 0, registered.err
    v1 = registered.json()["model_version"]
    promoted = run_here("model", "promote", "--token-id", "FA", "--mlflow-uri", url, env=first)
    assert promoted.code == 0, promoted.err
    assert registry.alias_version(model, "champion") == v1

    other = tmp_path / "other.bin"
    other.write_bytes(b"the second job's model")
    registered = _register(second, "FB", other, model, url)  # candidate: adopted from MLflow, then moved
    assert registered.code == 0, registered.err
    v2 = registered.json()["model_version"]
    assert registered.json()["alias"]["from_version"] == v1 and registry.alias_version(model, "candidate") == v2

    blind = run_here("model", "promote", "--token-id", "FB", "--mlflow-uri", url, env=second)
    assert blind.code == 15 and f"is on version {v1}" in blind.err and f"--expect-current {v1}" in blind.err
    stale = run_here("model", "promote", "--token-id", "FB", "--expect-current", v2, "--mlflow-uri", url, env=second)
    assert stale.code == 15 and f"is on version {v1}" in stale.err
    assert registry.alias_version(model, "champion") == v1  # refusals moved nothing

    args = ("model", "promote", "--token-id", "FB", "--expect-current", v1, "--mlflow-uri", url, "--output", "json")
    moved = run_here(*args, env=second)
    assert moved.code == 0, moved.err
    assert (moved.json()["from_version"], moved.json()["to_version"]) == (v1, v2)
    jsonschema.validate(moved.json(), result_schemas()["alias_move_result.v1.schema.json"])
    assert registry.alias_version(model, "champion") == v2
    assert registry.version(model, v2)["tags"][Tag.PREVIOUS_PREFIX + "champion"] == v1  # type: ignore[index]

    history = run_here("model", "history", "--model-name", model, "--alias", "champion", "--output", "json", env=second)
    assert history.code == 0, history.err
    jsonschema.validate(history.json(), result_schemas()["alias_history.v1.schema.json"])
    moves = [(m["command"], m["from_version"], m["to_version"]) for m in history.json()]
    assert moves == [("adopt", None, v1), ("promote", v1, v2)]
    text = run_here("model", "history", "--model-name", model, env=second).out
    assert "(adopt, token FB" in text

    # back to v1, whose token this job's store never held: refused by name, not a database error
    back = run_here("model", "rollback", "--model-name", model, "--mlflow-uri", url, env=second)
    assert back.code == 3 and "token 'FA'" in back.err, back.err
    assert registry.alias_version(model, "champion") == v2
