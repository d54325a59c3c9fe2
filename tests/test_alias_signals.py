"""SIGINT at random moments of a real `hokusai model promote` process, against a real MLflow
server and the token store on SQLite and PostgreSQL: whatever the moment, the exit code and
the state agree. Exit 0: the alias moved in the store and in MLflow, and `model history` ends
with the move. Exit 130: nothing moved anywhere, and the message says so and what to run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.adapters.registry_rest import RegistryRest
from hokusai_ci.adapters.sql_store import SqlTokenStore
from tests.conftest import REPO, register_args, run_here
from tests.servers import MlflowServer

ROUNDS = 40
READY = "token store: "  # the start line said once the store is open: the move starts right after


def _promote(token: str, expected: str, url: str, store: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    args = ["model", "promote", "--token-id", token, "--expect-current", expected, "--mlflow-uri", url, *store]
    return subprocess.Popen(
        [sys.executable, "-m", "hokusai_ci", *args, "--output", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def _started(proc: subprocess.Popen[str]) -> list[str]:
    """Read stderr up to the start line naming the token store (the lines read)."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if READY in line:
            return seen
    raise AssertionError(f"the command never said where its store is: {seen}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigint_at_random_moments_of_a_promotion_leaves_what_the_exit_code_says(
    kind: str, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, model = mlflow_server.url, f"sig-{uuid.uuid4().hex[:8]}"
    env = {**os.environ}
    store_args: list[str] = []
    if kind == "postgresql":
        dsn = request.getfixturevalue("pg_db")
        config = tmp_path / "db.json"
        config.write_text(json.dumps({"url": dsn}))
        store_args = ["--db-config", str(config)]
        open_store = lambda: SqlTokenStore.postgresql(dsn, "postgresql:test", None)  # noqa: E731
    else:
        home = Path(env["HOKUSAI_HOME"])
        open_store = lambda: SqlTokenStore.sqlite(home / "hokusai.db")  # noqa: E731
    versions = {}
    a, b = (f"SIG{side}{uuid.uuid4().hex[:6]}" for side in "AB")  # token ids are global in one MLflow
    for token, content in ((a, b"model a"), (b, b"model b")):
        assert run_here("token", "create", "--token-id", token, *store_args).code == 0
        path = tmp_path / f"{token}.bin"
        path.write_bytes(content)
        done = run_here(*register_args(token, path, model_name=model, mlflow_uri=url), *store_args, "--output", "json")
        assert done.code == 0, done.err
        versions[token] = done.json()["model_version"]
    first = run_here("model", "promote", "--token-id", a, "--mlflow-uri", url, *store_args)
    assert first.code == 0, first.err
    registry = RegistryRest(MlflowHttp(url))

    # how long a promotion runs once its store is open: the signals land across that span
    holder, other = a, b
    proc = _promote(other, versions[holder], url, store_args, env)
    _started(proc)
    began = time.monotonic()
    proc.communicate(timeout=60)
    span = time.monotonic() - began
    assert proc.returncode == 0
    holder, other = other, holder

    rng = random.Random(20261206)
    codes: dict[int, int] = {}
    for round_ in range(ROUNDS):
        moves_before = len(_history(model, store_args))
        proc = _promote(other, versions[holder], url, store_args, env)
        _started(proc)
        time.sleep(rng.uniform(0, span * 1.3))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
        said = f"round {round_}: exit {proc.returncode}\n{out}\n{err}"
        assert proc.returncode in (0, 130) and "Traceback" not in err, said
        in_mlflow = registry.alias_version(model, "champion")
        store = open_store()
        try:
            record = store.alias(model, "champion")
        finally:
            store.close()
        history = _history(model, store_args)
        assert record is not None and record.version == in_mlflow == history[-1]["to_version"], said
        if proc.returncode == 0:
            assert json.loads(out)["to_version"] == versions[other] == in_mlflow, said
            assert (history[-1]["from_version"], len(history)) == (versions[holder], moves_before + 1), said
            holder, other = other, holder
        else:
            assert in_mlflow == versions[holder] and len(history) == moves_before, said
            last = err.strip().splitlines()[-1]
            assert last.startswith("error: Interrupted: "), said
            assert "nothing was" in last and f"hokusai model promote --token-id {other}" in last, said
    assert sum(codes.values()) == ROUNDS and codes.get(130, 0) > 0, codes  # the signals did land before the end


def _history(model: str, store_args: list[str]) -> list[dict[str, str]]:
    shown = run_here("model", "history", "--model-name", model, "--alias", "champion", *store_args, "--output", "json")
    assert shown.code == 0, shown.err
    moves: list[dict[str, str]] = shown.json()
    return moves
