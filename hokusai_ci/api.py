"""The Python API: the same use cases as the CLI, returning result objects."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from hokusai_ci import app
from hokusai_ci.redaction import install_log_redaction
from hokusai_ci.results import RegistrationResult, TokenView, error_of
from hokusai_ci.settings import Settings, load_settings

if TYPE_CHECKING:
    from hokusai_ci.promotion import AliasMoveResult
    from hokusai_ci.results import AliasMove
    from hokusai_ci.verification import VerificationResult


class ModelRegistry:
    """Register models and read registrations.

    Configuration follows the CLI: keyword arguments win over environment variables, which win
    over the `db_config` file and the embedded defaults. Failures raise
    `hokusai_ci.errors.HokusaiError` (`.category`, `.exit_code`, and `.result`: what the failed
    registration still knows, e.g. the metric verdict).
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
        `metric_value`, and gates on its confidence bound (`decision="point"`: on the value).
        `baseline_from="alias:champion"` gates on that alias's version (`baseline_value` only
        while no version holds it); `set_alias` moves an alias other than champion to the new
        version."""
        result = app.register(
            self.settings,
            token_id=token_id,
            model_path=model_path,
            metric=metric_name,
            baseline=baseline_value,
            metric_value=metric_value,
            metrics_file=None if metrics_file is None else os.fspath(metrics_file),
            metric_key=metric_key,
            predictions=None if predictions is None else os.fspath(predictions),
            labels=None if labels is None else os.fspath(labels),
            score_column=score_column,
            label_column=label_column,
            id_column=id_column,
            threshold=threshold,
            confidence=confidence,
            decision=decision,
            direction=direction,
            model_name=model_name,
            dry_run=dry_run,
            links_within=None if links_within is None else os.fspath(links_within),
            baseline_from=baseline_from,
            set_alias=set_alias,
        )
        err = error_of(result)
        if err is not None:
            raise err
        return result

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
        Returns the result when every check holds; raises `HokusaiError` (exit code 11, or 3 when
        the token store has no record; `.result` the same result object with each check's
        verdict) when one fails. `trust_config`: Sigstore's trust root from a file (offline)."""
        return app.verify(
            self.settings,
            model_uri=model_uri,
            token_id=token_id,
            model_path=None if model_path is None else os.fspath(model_path),
            bundle=None if bundle is None else os.fspath(bundle),
            public_key=None if public_key is None else os.fspath(public_key),
            identity=identity,
            issuer=issuer,
            trust_config=None if trust_config is None else os.fspath(trust_config),
        )

    def status(self, token_id: str) -> TokenView:
        return app.status(self.settings, token_id)

    def list_models(self, status: str | None = None) -> list[TokenView]:
        return app.list_tokens(self.settings, status)

    def create_token(self, token_id: str, metadata: dict[str, Any] | None = None) -> TokenView:
        return app.create_token(self.settings, token_id, metadata)

    def promote(
        self, token_id: str, alias: str = "champion", expect_current: str | int | None = None
    ) -> AliasMoveResult:
        """Move `alias` to the token's registered version if it is on `expect_current` now
        (None: not set yet); raises `HokusaiError` exit 15 naming the version found otherwise."""
        return app.promote(self.settings, token_id, alias, expect_current)

    def rollback(self, model_name: str, alias: str = "champion") -> AliasMoveResult:
        """Move `alias` back to the version it held before (exit 13 if that version was deleted)."""
        return app.rollback(self.settings, model_name, alias)

    def alias_history(self, model_name: str, alias: str | None = None) -> list[AliasMove]:
        """Every recorded alias move of the model, oldest first."""
        return app.history(self.settings, model_name, alias)
