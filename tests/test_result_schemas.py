"""The published result schemas: generated from the models, committed, and matching what the
commands really print. One vocabulary: `status` and `list` carry register's `metric` object."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema

from hokusai_ci.domain.events import SCHEMA_DIR
from hokusai_ci.domain.schema_files import all_schemas, render, result_schemas
from tests.conftest import register_args, run_cli, run_here
from tests.servers import MlflowServer, WebhookReceiver


def test_committed_schemas_are_the_generated_ones() -> None:
    generated = all_schemas()
    committed = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(generated), "run: python -m hokusai_ci.domain.schema_files"
    for name, schema in generated.items():
        assert (SCHEMA_DIR / name).read_text() == render(schema), name
        jsonschema.Draft202012Validator.check_schema(schema)


def _validate(document: Any, file: str) -> None:
    jsonschema.validate(document, result_schemas()[file], cls=jsonschema.Draft202012Validator)


def test_every_command_output_matches_its_schema(model_file: Path, webhook: WebhookReceiver) -> None:
    assert run_here("token", "create", "--token-id", "SCH", "--output", "json").code == 0
    args = register_args("SCH", model_file, "rmse", "0.5", "0.4")
    outputs = {
        "dry run": run_here(*args, "--dry-run", "--output", "json"),
        "below baseline": run_here(*register_args("SCH", model_file, "rmse", "0.5", "0.6"), "--output", "json"),
        "gate": run_here("model", "gate", *args[2:], "--output", "json"),
        "registered": run_here(*args, "--output", "json"),
        "already registered": run_here(*args, "--output", "json"),
    }
    assert [r.code for r in outputs.values()] == [0, 6, 0, 0, 4]
    for r in outputs.values():
        _validate(r.json(), "registration_result.v1.schema.json")
    registered = outputs["registered"].json()

    status = run_here("model", "status", "--token-id", "SCH", "--output", "json").json()
    _validate(status, "token_view.v1.schema.json")
    assert status["metric"] == registered["metric"]  # the same object, the same names
    listed = run_here("model", "list", "--output", "json").json()
    _validate(listed, "token_list.v1.schema.json")
    assert [t["metric"] for t in listed] == [registered["metric"]]
    replay = run_here("events", "replay", "--webhook-url", webhook.url, "--output", "json")
    assert replay.code == 0, replay.err
    _validate(replay.json(), "replay_result.v1.schema.json")


def test_a_schema_rejects_the_old_flat_status_shape() -> None:
    flat = {
        "token_id": "X",
        "status": "registered",
        "metric": "auroc",
        "metric_value": 0.9,
        "created_at": "2026-01-01T00:00:00Z",
    }
    try:
        _validate(json.loads(json.dumps(flat)), "token_view.v1.schema.json")
    except jsonschema.ValidationError as err:
        assert "auroc" in str(err.message)
    else:
        raise AssertionError("the flat shape validated")


# Each command's `--output json` and the schema the docs name for it.
SCHEMA_OF = {
    ("model", "register"): "registration_result.v1.schema.json",
    ("model", "gate"): "registration_result.v1.schema.json",
    ("model", "verify"): "verification_result.v1.schema.json",
    ("model", "status"): "token_view.v1.schema.json",
    ("token", "create"): "token_view.v1.schema.json",
    ("model", "list"): "token_list.v1.schema.json",
    ("model", "promote"): "alias_move_result.v1.schema.json",
    ("model", "rollback"): "alias_move_result.v1.schema.json",
    ("model", "history"): "alias_history.v1.schema.json",
    ("events", "replay"): "replay_result.v1.schema.json",
}


def _failed(r: Any, file: str, code: int) -> dict[str, Any]:
    assert r.code == code, (r.code, r.out, r.err)
    document = r.json()
    _validate(document, file)
    assert isinstance(document, dict) and document["error"]["exit_code"] == code
    return document


def test_every_command_failure_matches_its_schema(model_file: Path, tmp_path: Path) -> None:
    """Usage errors (an unknown option) and refusals print the command's published shape: one
    object with `error`, also for `list` and `history`, whose success is an array."""
    for path, file in SCHEMA_OF.items():
        _failed(run_here(*path, "--dryrun", "--output", "json"), file, 2)
    registration = run_here(*register_args("NOPE", model_file), "--dryrun", "--output", "json").json()
    assert registration["simulated"] is False and registration["status"] == "error"
    file_store = (tmp_path / "mlruns").as_uri()
    refusals = {
        ("model", "register"): (run_here(*register_args("NOPE", model_file), "--output", "json"), 3),
        ("model", "gate"): (
            run_here(*register_args("G", model_file, value="0.1", command="gate"), "--output", "json"),
            6,
        ),
        ("model", "verify"): (run_here("model", "verify", "--model-uri", "nope", "--output", "json"), 2),
        ("model", "status"): (run_here("model", "status", "--token-id", "NOPE", "--output", "json"), 3),
        ("token", "create"): (run_here("token", "create", "--token-id", "", "--output", "json"), 2),
        ("model", "list"): (run_here("model", "list", "--status", "bogus", "--output", "json"), 2),
        ("model", "promote"): (
            run_here("model", "promote", "--token-id", "X", "--mlflow-uri", file_store, "--output", "json"),
            2,
        ),
        ("model", "rollback"): (
            run_here("model", "rollback", "--model-name", "m", "--mlflow-uri", file_store, "--output", "json"),
            2,
        ),
        ("model", "history"): (run_here("model", "history", "--model-name", "", "--output", "json"), 2),
        ("events", "replay"): (run_here("events", "replay", "--webhook-url", "ftp://x", "--output", "json"), 2),
    }
    assert set(refusals) == set(SCHEMA_OF)
    for path, (r, code) in refusals.items():
        _failed(r, SCHEMA_OF[path], code)


def test_a_schema_tells_success_from_failure() -> None:
    """One of the two shapes, never both: a success object carries no `error`, a failure needs it."""
    failure = {"status": "error", "error": {"category": "x", "title": "X", "message": "m", "exit_code": 2}}
    for file in ("token_view.v1.schema.json", "token_list.v1.schema.json", "alias_history.v1.schema.json"):
        _validate(failure, file)
        for broken in ({"status": "error"}, {"error": failure["error"]}):
            try:
                _validate(broken, file)
            except jsonschema.ValidationError:
                continue
            raise AssertionError(f"{broken} validated against {file}")


def test_alias_commands_match_their_schemas_and_a_refusal_names_the_version_found(
    mlflow_server: MlflowServer, model_file: Path
) -> None:
    """Real processes in local mode, as a user runs them: every alias command's output, success
    and refusal, fits its published schema."""

    def cli(*args: str) -> Any:
        return run_cli(*args, env={"HOKUSAI_MODE": "local"})

    model = f"sch-{uuid.uuid4().hex[:8]}"
    url = mlflow_server.url
    sa, sb = (f"S{side}{uuid.uuid4().hex[:6]}" for side in "AB")  # token ids are global in one MLflow
    for token in (sa, sb):
        assert cli("token", "create", "--token-id", token).code == 0
        registered = cli(*register_args(token, model_file, model_name=model, mlflow_uri=url))
        assert registered.code == 0, registered.err
        model_file.write_bytes(model_file.read_bytes() + b"another version")
    json_out = ("--mlflow-uri", url, "--output", "json")
    first = cli("model", "promote", "--token-id", sa, *json_out)
    assert first.code == 0, first.err
    _validate(first.json(), SCHEMA_OF["model", "promote"])
    holder = first.json()["to_version"]
    stale = _failed(
        cli("model", "promote", "--token-id", sb, "--expect-current", "99", *json_out),
        SCHEMA_OF["model", "promote"],
        15,
    )
    assert stale["error"]["category"] == "alias_moved", stale
    assert stale["found_version"] == holder, stale
    unset = _failed(
        cli("model", "promote", "--token-id", sb, "--alias", "fresh", "--expect-current", "1", *json_out),
        SCHEMA_OF["model", "promote"],
        15,
    )
    assert unset["found_version"] is None  # the alias is not set yet
    second = cli("model", "promote", "--token-id", sb, "--expect-current", holder, *json_out)
    assert second.code == 0, second.err
    back = cli("model", "rollback", "--model-name", model, *json_out)
    assert back.code == 0, back.err
    _validate(back.json(), SCHEMA_OF["model", "rollback"])
    history = cli("model", "history", "--model-name", model, "--output", "json")
    assert history.code == 0 and len(history.json()) == 3
    _validate(history.json(), SCHEMA_OF["model", "history"])
