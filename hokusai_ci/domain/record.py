"""The registration record: which version was registered for a token, with what content and
against which gate. One type with one spelling inside the code (`run_id`, `sha256`, as MLflow
and the fingerprint name them).

The published contracts spell two of its fields differently and keep doing so: the token
store's columns, the JSON results, the event payloads and the signed statement say
`mlflow_run_id` and `model_sha256`. The names are mapped here, at the edge, by pydantic
aliases: a record reads either spelling and `published()` writes the contracts' one.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

PUBLISHED_NAMES = {"run_id": "mlflow_run_id", "sha256": "model_sha256"}
VERSION_FIELDS = ("model_name", "model_version", "model_uri", "run_id", "sha256")  # which version, what content


def run_id_field(default: Any = ...) -> Any:
    """The MLflow run id, published as `mlflow_run_id`."""
    return Field(default, validation_alias=AliasChoices("run_id", "mlflow_run_id"), serialization_alias="mlflow_run_id")


def sha256_field(default: Any = ...) -> Any:
    """The model's content digest, published as `model_sha256`."""
    return Field(default, validation_alias=AliasChoices("sha256", "model_sha256"), serialization_alias="model_sha256")


class Registration(BaseModel):
    """What one registration records: the token store writes it onto the token, the platform is
    told it, the events and the signed statement carry it."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    model_name: str
    model_version: str
    model_uri: str
    run_id: str = run_id_field()
    sha256: str = sha256_field()
    metric_name: str
    metric_value: float
    baseline: float
    direction: str

    def published(self) -> dict[str, Any]:
        """The record under the published names (token store columns, result fields, payloads)."""
        return self.model_dump(by_alias=True)

    def published_version(self) -> dict[str, str]:
        """Which version and what content, under the published names: the part every published
        record of a registration (payloads, the signed statement, the result) shares."""
        names = [PUBLISHED_NAMES.get(field, field) for field in VERSION_FIELDS]
        published = self.published()
        return {name: published[name] for name in names}
