"""The published result schemas: generated from the models, committed, and matching what the
commands really print. One vocabulary: `status` and `list` carry register's `metric` object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from hokusai_ci.domain.events import SCHEMA_DIR
from hokusai_ci.domain.schema_files import all_schemas, render, result_schemas
from tests.conftest import register_args, run_here
from tests.servers import WebhookReceiver


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
