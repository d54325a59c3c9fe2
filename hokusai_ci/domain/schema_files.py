"""The published JSON Schemas in hokusai_ci/schemas/: the event payloads (events.py) and the
command results (`register`/`gate`, `status`, `list`, `events replay`, `model verify`,
`model promote`/`rollback` and `model history` with `--output json`).

Generated from the pydantic models, so the files cannot drift from the code (a test compares
them). Regenerate after changing a model: `python -m hokusai_ci.domain.schema_files`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from hokusai_ci.domain.events import SCHEMA_DIR, json_schemas
from hokusai_ci.domain.results import AliasMove, AliasMoveResult, RegistrationResult, ReplayResult, TokenView

RESULT_VERSION = "1"
BASE = "https://hokus.ai/schemas/results/"


def _result_models() -> dict[str, type[BaseModel]]:
    from hokusai_ci.domain.verdicts import VerificationResult

    return {
        "registration_result": RegistrationResult,
        "token_view": TokenView,
        "replay_result": ReplayResult,
        "verification_result": VerificationResult,
        "alias_move_result": AliasMoveResult,
    }


def _document(name: str, title: str, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    file = f"{name}.v{RESULT_VERSION}.schema.json"
    return file, {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE + file,
        **schema,
        "title": title,
    }


def result_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each command's `--output json` shape, keyed by file name."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in _result_models().items():
        file, doc = _document(name, name, model.model_json_schema(mode="serialization"))
        out[file] = doc
    for name, item in (("token_list", TokenView), ("alias_history", AliasMove)):
        items = item.model_json_schema(mode="serialization")
        defs = items.pop("$defs", {})
        file, doc = _document(name, name, {"type": "array", "items": items, **({"$defs": defs} if defs else {})})
        out[file] = doc
    return out


def all_schemas() -> dict[str, dict[str, Any]]:
    return {**json_schemas(), **result_schemas()}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for file, schema in all_schemas().items():
        (SCHEMA_DIR / file).write_text(render(schema))


if __name__ == "__main__":
    write_all()
