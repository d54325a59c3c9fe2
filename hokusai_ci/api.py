"""The Python API: the same use cases as the CLI, returning their results, and, alone among
the faces, raising on failure (its documented contract): `CommandFailed`, a `HokusaiError`
that carries the failed command's result.

The parameters of `register_model` and `verify_model` follow `command_specs.API_REGISTER` and
`command_specs.API_VERIFY` (a test checks them against the option table)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeVar

from hokusai_ci.config.redaction import install_log_redaction
from hokusai_ci.config.settings import Settings, load_settings
from hokusai_ci.core import app
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.results import ErrorInfo, RegistrationResult, TokenView
from hokusai_ci.faces.command_specs import API_REGISTER
from hokusai_ci.faces.options import OPTIONS

if TYPE_CHECKING:
    from hokusai_ci.core.verification import VerificationResult
    from hokusai_ci.domain.results import AliasMove, AliasMoveResult


class CommandFailed(HokusaiError):
    """A command failed: its category and message, and `.result`, the command's result object
    (what it still knew, e.g. the metric verdict of a registration or each check of a
    verification)."""

    def __init__(self, error: ErrorInfo, result: Any) -> None:
        super().__init__(Category[error.category.upper()], error.message)
        self.result = result


R = TypeVar("R")


def _raise_failed(result: R) -> R:
    error: ErrorInfo | None = getattr(result, "error", None)
    if error is not None:
        raise CommandFailed(error, result)
    return result


def _paths(values: dict[str, Any]) -> dict[str, Any]:
    """Path parameters as text, as typed on a command line."""
    return {k: os.fspath(v) if OPTIONS[k].path and v is not None else v for k, v in values.items()}


class ModelRegistry:
    """Register models and read registrations.

    Configuration follows the CLI: keyword arguments win over environment variables, which win
    over the `db_config` file and the embedded defaults. Failures raise
    `hokusai_ci.api.CommandFailed`, a `hokusai_ci.domain.errors.HokusaiError` (`.category`,
    `.exit_code`, and `.result`: what the failed registration still knows, e.g. the metric verdict).
    Log records (ours and MLflow's) are redacted whatever handlers the caller installs.
    """

    def __init__(
        self,
        *,
        mlflow_uri: str | None = None,
        db_config: str | os.PathLike[str] | None = None,
        webhook_url: str | None = None,
        home: str | os.PathLike[str] | None = None,
        sign_key: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        install_log_redaction()
        self.settings = settings or load_settings(
            {
                "mlflow_uri": mlflow_uri,
                "db_config": None if db_config is None else os.fspath(db_config),
                "webhook_url": webhook_url,
                "home": None if home is None else os.fspath(home),
                "sign_key": None if sign_key is None else os.fspath(sign_key),
            }
        )

    def register_model(
        self,
        token_id: str,
        model_path: str | os.PathLike[str],
        metric_name: str,
        metric_value: float | None = None,
        baseline_value: float | None = None,
        *,
        metrics_file: str | os.PathLike[str] | None = None,
        metric_key: str | None = None,
        predictions: str | os.PathLike[str] | None = None,
        labels: str | os.PathLike[str] | None = None,
        score_column: str | None = None,
        label_column: str | None = None,
        id_column: str | None = None,
        threshold: float | None = None,
        confidence: float | None = None,
        decision: str | None = None,
        compare_with: str | None = None,
        direction: str | None = None,
        model_name: str | None = None,
        dry_run: bool = False,
        links_within: str | os.PathLike[str] | None = None,
        baseline_from: str | None = None,
        set_alias: str | None = None,
    ) -> RegistrationResult:
        """Register a model; `links_within` names a folder that links inside `model_path` may
        resolve into (a Hugging Face cache's `blobs/`); by default links must stay inside it.
        `predictions` (with `labels` when they are a separate file) measures the metric instead of
        `metric_value`, and gates on its confidence bound (`decision="point"`: on the value);
        `compare_with="models:/NAME/VERSION"` compares with that version: on the paired difference,
        which then decides (`result.decided_by`), when both were joined by `id_column`; else
        unpaired, against its value (`result.not_paired` says why). `baseline_from="alias:champion"`
        gates on that alias's version, which an equal value does not beat (`baseline_value` only
        while no version holds it); `set_alias` moves an
        alias other than champion to the new version."""
        given = locals()
        raw = {name: given[OPTIONS[name].api_name or name] for name in API_REGISTER}
        return _raise_failed(app.register(self.settings, **_paths(raw)))

    def verify_model(
        self,
        model_uri: str | None = None,
        *,
        token_id: str | None = None,
        model_path: str | os.PathLike[str] | None = None,
        bundle: str | os.PathLike[str] | None = None,
        public_key: str | os.PathLike[str] | None = None,
        identity: str | None = None,
        issuer: str | None = None,
        trust_config: str | os.PathLike[str] | None = None,
    ) -> VerificationResult:
        """Verify a registered version (or a local copy with its bundle) against its signatures.
        Returns the result when every check holds; raises `CommandFailed` (exit code 11, or 3 when
        the token store has no record; `.result` the same result object with each check's
        verdict) when one fails. `trust_config`: Sigstore's trust root from a file (offline)."""
        given = {k: v for k, v in locals().items() if k != "self"}
        return _raise_failed(app.verify(self.settings, **_paths(given)))

    def status(self, token_id: str) -> TokenView:
        token = _raise_failed(app.status(self.settings, token_id)).token
        assert token is not None
        return token

    def list_models(self, status: str | None = None) -> list[TokenView]:
        return _raise_failed(app.list_tokens(self.settings, status)).tokens or []

    def create_token(self, token_id: str, metadata: dict[str, Any] | None = None) -> TokenView:
        token = _raise_failed(app.create_token(self.settings, token_id, metadata)).token
        assert token is not None
        return token

    def promote(
        self, token_id: str, alias: str = "champion", expect_current: str | int | None = None
    ) -> AliasMoveResult:
        """Move `alias` to the token's registered version if it is on `expect_current` now
        (None: not set yet); raises `CommandFailed` exit 15 naming the version found otherwise."""
        from hokusai_ci.core import aliases

        move = _raise_failed(aliases.promote(self.settings, token_id, alias, expect_current)).move
        assert move is not None
        return move

    def rollback(self, model_name: str, alias: str = "champion") -> AliasMoveResult:
        """Move `alias` back to the version it held before (exit 13 if that version was deleted)."""
        from hokusai_ci.core import aliases

        move = _raise_failed(aliases.rollback(self.settings, model_name, alias)).move
        assert move is not None
        return move

    def alias_history(self, model_name: str, alias: str | None = None) -> list[AliasMove]:
        """Every recorded alias move of the model, oldest first."""
        from hokusai_ci.core import aliases

        return _raise_failed(aliases.history(self.settings, model_name, alias, compare=False)).moves or []
