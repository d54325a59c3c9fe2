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
from hokusai_ci.domain.results import (
    AliasMove,
    AliasMoveResult,
    ErrorInfo,
    RegistrationResult,
    ReplayResult,
    TokenView,
)

RESULT_VERSION = "1"
BASE = "https://hokus.ai/schemas/results/"


def _whole_models() -> dict[str, type[BaseModel]]:
    """Results printed whole on success and failure alike (`status` "error" and `error` set)."""
    from hokusai_ci.domain.verdicts import VerificationResult

    return {"registration_result": RegistrationResult, "verification_result": VerificationResult}


# Results printed alone on success (an object, or an array: `list`, `history`); a failure prints
# the failure object below instead, so these schemas are one of the two.
_OBJECTS: dict[str, type[BaseModel]] = {
    "token_view": TokenView,
    "replay_result": ReplayResult,
    "alias_move_result": AliasMoveResult,
}
_ARRAYS: dict[str, type[BaseModel]] = {"token_list": TokenView, "alias_history": AliasMove}


def _failure(name: str) -> dict[str, Any]:
    """What a failed command prints: `error`, and `status` ("error", or the command's own status
    with what it still knows kept, e.g. `events replay`'s counts and "failed")."""
    properties: dict[str, Any] = {"status": {"type": "string"}, "error": {"$ref": "#/$defs/ErrorInfo"}}
    if name == "alias_move_result":
        properties["found_version"] = {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "alias_moved (exit 15): the version the alias is on, null when it is not set",
        }
    return {"type": "object", "title": "failure", "required": ["status", "error"], "properties": properties}


def _either(name: str, success: dict[str, Any]) -> dict[str, Any]:
    """One of: the success shape (an object holds no `error`), or the failure object."""
    defs = {**success.pop("$defs", {}), "ErrorInfo": ErrorInfo.model_json_schema()}
    if success.get("type") == "object":
        success = {**success, "not": {"required": ["error"]}}
    return {"$defs": defs, "oneOf": [success, _failure(name)]}


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
    for name, model in _whole_models().items():
        file, doc = _document(name, name, model.model_json_schema(mode="serialization"))
        out[file] = doc
    for name, model in _OBJECTS.items():
        file, doc = _document(name, name, _either(name, model.model_json_schema(mode="serialization")))
        out[file] = doc
    for name, item in _ARRAYS.items():
        items = item.model_json_schema(mode="serialization")
        defs = items.pop("$defs", {})
        file, doc = _document(name, name, _either(name, {"type": "array", "items": items, "$defs": defs}))
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
