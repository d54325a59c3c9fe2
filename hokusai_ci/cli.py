"""The `hokusai` command line (Fire). Every value reaches the code exactly as typed: Fire's
literal parsing is switched off, so a token id like 007, 1e5, True or 2024-01-01 stays text.

Fire runs a command only after `usage.check` has matched the whole command line against the
command's signature; help, `--version` and completion are rendered from the same signatures."""

import itertools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

import fire
from fire import decorators

from hokusai_ci import usage
from hokusai_ci.errors import Cancelled, Category, HokusaiError, cancel_on_sigterm, internal_error, invalid_input
from hokusai_ci.redaction import redact

log = logging.getLogger("hokusai_ci")
OUTPUTS = ("text", "json")


F = TypeVar("F", bound=Callable[..., Any])


def _identity(value: str) -> str:
    return value


# Fire would otherwise literal_eval every value ("007" -> 7, "True" -> True, "1e5" -> 100000.0).
# Its metadata attribute is renamed private so `--help` does not list it as a command group.
decorators.FIRE_METADATA = "_hokusai_fire_metadata"
as_typed = cast(Callable[[F], F], decorators.SetParseFn(_identity))


def _run(
    output: Any,
    config: dict[str, Any],
    action: Callable[[Any, str], str | None],
    report: Callable[[Any], None] | None = None,
    *,
    reads_settings: bool = True,
) -> NoReturn:
    """Load settings, run `action(settings, output)`, print, exit with the documented code.
    `report(result)` also gets a failed registration's result (for the dotenv report). A
    command that `reads_settings=False` (the gate) sees only the log level of the environment."""
    fmt = str(output).strip().lower() if output is not None else "text"
    cancel_on_sigterm()
    try:
        if fmt not in OUTPUTS:
            fmt = "text"
            raise invalid_input("output", output, "use text or json")
        from hokusai_ci.app import configure_logging
        from hokusai_ci.settings import Env, load_settings

        for name, value in config.items():
            if value == "":  # `--db-config ""` would otherwise silently mean the environment or default
                flag = name.replace("_", "-")
                raise invalid_input(flag, "", f"give a value, or leave --{flag} out for the default")

        environ = None if reads_settings else {k: v for k, v in os.environ.items() if k == Env.LOG_LEVEL}
        settings = load_settings(config, environ)
        configure_logging(settings.log_level)
        printed = action(settings, fmt)
        if printed:
            print(printed if fmt == "json" else redact(printed))  # JSON is redacted field by field
        sys.exit(0)
    except HokusaiError as err:
        _fail(err, fmt, report)
    except KeyboardInterrupt:
        _fail(HokusaiError(Category.INTERRUPTED, "interrupted (SIGINT)"), fmt, report)
    except Cancelled:
        _fail(HokusaiError(Category.TERMINATED, "terminated (SIGTERM)"), fmt, report)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        _fail(internal_error(exc), fmt, report)


def _fail(err: HokusaiError, fmt: str, report: Callable[[Any], None] | None = None) -> NoReturn:
    """Report a failure: the JSON object (or partial text result) on stdout, one line on stderr."""
    from hokusai_ci import presenters
    from hokusai_ci.results import RegistrationResult, failed_result

    if log.isEnabledFor(logging.DEBUG):
        log.debug("details", exc_info=True)
    result = err.result
    if result is None and report is not None:  # a registration that failed before it started
        result = failed_result(err)
        report(result)
    if isinstance(result, RegistrationResult):
        if fmt == "json":
            print(presenters.to_json(result))
        elif text := presenters.registration_text(result):
            print(text)
    elif result is not None:  # a verification's verdicts, printed as on success
        print(presenters.to_json(result) if fmt == "json" else presenters.verification_text(result))
    elif fmt == "json":
        partial = err.details.get("replay")
        base = partial.model_dump(mode="json") if partial is not None else {"status": "error"}
        print(presenters.to_json({**base, "error": _error_dict(err)}))
    print(presenters.error_text(err.category.title, err.message), file=sys.stderr)
    if err.category in (Category.INTERRUPTED, Category.TERMINATED):
        # cleaned up already; do not wait for upload threads still blocked on the network
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(err.exit_code)
    sys.exit(err.exit_code)


def _error_dict(err: HokusaiError) -> dict[str, Any]:
    from hokusai_ci.results import ErrorInfo

    info = ErrorInfo.of(err).model_dump()
    info["message"] = redact(info["message"])
    return info


class Model:
    """Register trained models against Hokusai tokens and inspect registrations."""

    @as_typed
    def register(
        self,
        token_id: str | None = None,
        model_path: str | None = None,
        metric: str | None = None,
        baseline: str | None = None,
        metric_value: str | None = None,
        metrics_file: str | None = None,
        metric_key: str | None = None,
        predictions: str | None = None,
        labels: str | None = None,
        score_column: str | None = None,
        label_column: str | None = None,
        id_column: str | None = None,
        threshold: str | None = None,
        confidence: str | None = None,
        decision: str | None = None,
        direction: str | None = None,
        model_name: str | None = None,
        mlflow_uri: str | None = None,
        api_url: str | None = None,
        db_config: str | None = None,
        webhook_url: str | None = None,
        dry_run: str | bool = False,
        output: str = "text",
        dotenv_report: str | None = None,
        sign_key: str | None = None,
        sign: str | None = None,
        log_level: str | None = None,
        links_within: str | None = None,
        baseline_from: str | None = None,
        set_alias: str | None = None,
    ) -> None:
        """Register a trained model for a Draft token, if it meets the baseline.

        Checks everything before writing: inputs, token status, the metric gate, MLflow
        reachability. Then uploads the model, registers a version, marks the token registered
        and emits token_ready_for_deploy and model_registered. Exit codes: see README.

        Mode (printed at start): database when --db-config or HOKUSAI_DB_* is set, else API
        mode when HOKUSAI_API_KEY is set, else the embedded local store; HOKUSAI_MODE forces
        one, HOKUSAI_MOCK_MODE=true simulates everything. In API mode the platform has no token
        lookup: the client checks the key, the metric gate and whether the registry already
        holds an accepted version for the token; the site checks that the token is Draft.

        Args:
            token_id: Token id created on the Hokusai site, e.g. XRAY (required).
            model_path: Model file or directory to upload, e.g. ./model.pkl (required).
            metric: Metric name: accuracy, auroc/auc, f1, precision, recall, mse, rmse, mae, r2, reply_rate, conversion_rate, engagement_score, or a custom name with --direction (required).
            baseline: Baseline the model must meet, e.g. 0.82 (required).
            metric_value: The model's measured value, e.g. 0.85 (or use --metrics-file or --predictions).
            metrics_file: JSON or YAML file holding the measured value (instead of --metric-value).
            metric_key: Dotted path of the value in --metrics-file, e.g. eval.auroc (default: the metric name).
            predictions: Predictions file to measure the metric from (CSV, TSV, .npy, .parquet) instead of --metric-value; gated on its confidence bound (needs the metrics extra).
            labels: Labels file, when the labels are not a column of --predictions.
            score_column: Column of the scores or predicted values in --predictions (default: the only numeric one left).
            label_column: Column of the true labels or targets (default: label, or the only numeric one left).
            id_column: Column that joins --predictions and --labels row by row (default: row order).
            threshold: Score at or above which a row is predicted positive, for accuracy, f1, precision and recall on scores.
            confidence: Confidence level of the bound, e.g. 0.95 (default 0.95).
            decision: lower-bound (the bound must beat the baseline) or point (the value must meet it) (default: lower-bound).
            direction: higher or lower: which way is better; required only for custom metrics.
            model_name: Registered model name in MLflow (default: hokusai-<TOKEN-ID>).
            mlflow_uri: MLflow tracking URI (default: $MLFLOW_TRACKING_URI; API mode: the Hokusai registry; else a local store).
            api_url: Hokusai API base URL for API mode (default: $HOKUSAI_API_URL or https://api.hokus.ai).
            webhook_url: URL that receives the events as JSON POSTs (default: $HOKUSAI_WEBHOOK_URL).
            dry_run: Run every check and write nothing.
            dotenv_report: Also write the result as HOKUSAI_* KEY=value lines to this file (GitLab dotenv report), on failure too.
            links_within: A folder that links inside --model-path may point into, e.g. a Hugging Face cache's blobs folder (default: links must stay inside the model path).
            sign_key: Sign the registration with this EC private key (PEM file; or the PEM itself in $HOKUSAI_SIGNING_KEY).
            sign: key, keyless (Sigstore with the CI's OIDC identity; GitHub Actions with id-token: write) or off (default: key when a key is given, else off).
            baseline_from: alias:NAME, e.g. alias:champion: the baseline is the metric value of the version that alias names (its metric, and evaluation set when both are measured, must match); --baseline is then used only while no version holds it.
            set_alias: After registering, move this alias (e.g. candidate; never champion, see `model promote`) to the new version.
        """
        config = dict(
            mlflow_uri=mlflow_uri,
            api_url=api_url,
            db_config=db_config,
            webhook_url=webhook_url,
            log_level=log_level,
            sign_key=sign_key,
            sign=sign,
        )
        report_ok: bool | None = None  # None: not checked yet (settings failed first)

        def check_report() -> None:
            nonlocal report_ok
            from hokusai_ci.validation import check_report_target

            report_ok = False
            if dotenv_report == "":
                raise invalid_input("dotenv-report", "", "give a file path, or leave --dotenv-report out")
            if dotenv_report is not None:
                check_report_target("dotenv-report", str(dotenv_report))
                report_ok = True

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters
            from hokusai_ci.results import error_of
            from hokusai_ci.settings import Env

            check_report()  # before anything is written: exit 2 if the report could not be written
            if os.environ.get(Env.CONTAINER) == "true" and os.environ.get(Env.CI) == "true":
                app.refuse_empty_local_store(settings, app.SECRET_FOR_DOCKER)
            result = app.register(
                settings,
                token_id=token_id,
                model_path=model_path,
                metric=metric,
                baseline=baseline,
                metric_value=metric_value,
                metrics_file=metrics_file,
                metric_key=metric_key,
                predictions=predictions,
                labels=labels,
                score_column=score_column,
                label_column=label_column,
                id_column=id_column,
                threshold=threshold,
                confidence=confidence,
                decision=decision,
                direction=direction,
                model_name=model_name,
                dry_run=dry_run,
                links_within=links_within,
                baseline_from=baseline_from,
                set_alias=set_alias,
            )
            write_report(result)
            err = error_of(result)
            if err is not None:
                raise err
            return presenters.to_json(result) if fmt == "json" else presenters.registration_text(result)

        def write_report(result: Any) -> None:
            """On success and failure alike; a report that cannot be written is one error line,
            and the registration's own exit code stands."""
            from hokusai_ci.presenters import error_text, write_dotenv

            if report_ok is None:  # a failure before the check: write the report if it can be
                try:
                    check_report()
                except HokusaiError:
                    return
            if not report_ok:
                return
            try:
                write_dotenv(str(dotenv_report), result)
            except OSError as exc:
                print(
                    error_text("Report Not Written", f"dotenv-report={dotenv_report!r}: {exc.strerror or exc}"),
                    file=sys.stderr,
                )

        _run(output, config, action, write_report)

    @as_typed
    def gate(
        self,
        token_id: str | None = None,
        model_path: str | None = None,
        metric: str | None = None,
        baseline: str | None = None,
        metric_value: str | None = None,
        metrics_file: str | None = None,
        metric_key: str | None = None,
        predictions: str | None = None,
        labels: str | None = None,
        score_column: str | None = None,
        label_column: str | None = None,
        id_column: str | None = None,
        threshold: str | None = None,
        confidence: str | None = None,
        decision: str | None = None,
        direction: str | None = None,
        links_within: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Gate only, for pull requests: check the inputs and the metric against the baseline.

        Needs no token store, no MLflow and no secret. The token is not checked and nothing is
        uploaded or written; exit 0 when the metric meets the baseline, 6 when it does not. In API
        mode, decided as for register (HOKUSAI_MODE=api, which needs no key here, or an API key with
        no database and no mock mode), the Hokusai platform's own rules apply too (exit 10).

        Args:
            token_id: Token id the model is meant for, e.g. XRAY (required).
            model_path: Model file or directory (checked to exist and be non-empty) (required).
            metric: Metric name, as for register (required).
            baseline: Baseline the model must meet, e.g. 0.82 (required).
            metric_value: The model's measured value, e.g. 0.85 (or use --metrics-file or --predictions).
            metrics_file: JSON or YAML file holding the measured value (instead of --metric-value).
            metric_key: Dotted path of the value in --metrics-file (default: the metric name).
            predictions: Predictions file to measure the metric from (CSV, TSV, .npy, .parquet) instead of --metric-value; gated on its confidence bound (needs the metrics extra).
            labels: Labels file, when the labels are not a column of --predictions.
            score_column: Column of the scores or predicted values in --predictions (default: the only numeric one left).
            label_column: Column of the true labels or targets (default: label, or the only numeric one left).
            id_column: Column that joins --predictions and --labels row by row (default: row order).
            threshold: Score at or above which a row is predicted positive, for accuracy, f1, precision and recall on scores.
            confidence: Confidence level of the bound, e.g. 0.95 (default 0.95).
            decision: lower-bound (the bound must beat the baseline) or point (the value must meet it) (default: lower-bound).
            direction: higher or lower: which way is better; required only for custom metrics.
            links_within: A folder that links inside --model-path may point into, e.g. a Hugging Face cache's blobs folder (default: links must stay inside the model path).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import presenters
            from hokusai_ci.gate import gate_only
            from hokusai_ci.results import error_of

            result = gate_only(
                token_id=token_id,
                model_path=model_path,
                metric=metric,
                baseline=baseline,
                metric_value=metric_value,
                metrics_file=metrics_file,
                metric_key=metric_key,
                predictions=predictions,
                labels=labels,
                score_column=score_column,
                label_column=label_column,
                id_column=id_column,
                threshold=threshold,
                confidence=confidence,
                decision=decision,
                direction=direction,
                links_within=links_within,
            )
            err = error_of(result)
            if err is not None:
                raise err
            return presenters.to_json(result) if fmt == "json" else presenters.registration_text(result)

        _run(output, dict(log_level=log_level), action, lambda result: None, reads_settings=False)

    @as_typed
    def verify(
        self,
        model_uri: str | None = None,
        token_id: str | None = None,
        model_path: str | None = None,
        bundle: str | None = None,
        model_signature: str | None = None,
        public_key: str | None = None,
        identity: str | None = None,
        issuer: str | None = None,
        trust_config: str | None = None,
        mlflow_uri: str | None = None,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Check that a registered model is still what was signed: files, signatures, tags, token record.

        Downloads the version's files and signature bundles, re-hashes every file, verifies the
        model signature (OpenSSF model_signing format) and the registration statement, and
        compares the version's tags and the token record with the signed statement. Exit 0
        when every check holds, 11 naming the first file, tag or field that differs; 13 when the
        version does not exist, 3 when the token store has no record of the token, 14 when
        Sigstore's trust root cannot be fetched.

        Args:
            model_uri: The registered version, models:/NAME/VERSION.
            token_id: Or the token whose registered version to verify.
            model_path: Or a local copy: the downloaded model/ folder (or the model file), with --bundle.
            bundle: The registration statement bundle (registration.sigstore.json) of the local copy.
            model_signature: The model signature bundle of the local copy (default: model.sigstore.json beside --bundle).
            public_key: The signer's EC public key (PEM file), for key signatures.
            identity: Keyless: the expected signer identity (the workflow, e.g. https://github.com/ORG/REPO/.github/workflows/ci.yml@refs/heads/main).
            issuer: Keyless: the expected OIDC issuer (https://token.actions.githubusercontent.com on GitHub).
            trust_config: Keyless: a Sigstore client trust config file (JSON) instead of fetching Sigstore's trust root, e.g. offline (default: $HOKUSAI_SIGSTORE_TRUST_CONFIG).
            mlflow_uri: MLflow tracking URI (default: $MLFLOW_TRACKING_URI; API mode: the Hokusai registry; else a local store).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            result = app.verify(
                settings,
                model_uri=model_uri,
                token_id=token_id,
                model_path=model_path,
                bundle=bundle,
                model_signature=model_signature,
                public_key=public_key,
                identity=identity,
                issuer=issuer,
                trust_config=trust_config,
            )
            return presenters.to_json(result) if fmt == "json" else presenters.verification_text(result)

        _run(output, dict(mlflow_uri=mlflow_uri, db_config=db_config, log_level=log_level), action)

    @as_typed
    def status(
        self,
        token_id: str | None = None,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Show a token: status, registered model, metric, and the delivery state of its events.

        Args:
            token_id: Token id to show, e.g. XRAY (required).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            if token_id in (None, ""):
                raise invalid_input("token-id", token_id, "--token-id is required")
            view = app.status(settings, token_id)
            return presenters.to_json(view) if fmt == "json" else presenters.status_text(view)

        _run(output, dict(db_config=db_config, log_level=log_level), action)

    @as_typed
    def list(
        self,
        status: str | None = None,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """List registered tokens and their models (a table, or a JSON array).

        Args:
            status: Which tokens: registered (default), all, or a comma-separated list of draft, registering, registered, deployed, failed, archived.
            output: text (a table) or json (a JSON array).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            tokens = app.list_tokens(settings, status)
            return presenters.to_json(tokens) if fmt == "json" else presenters.list_text(tokens)

        _run(output, dict(db_config=db_config, log_level=log_level), action)

    @as_typed
    def promote(
        self,
        token_id: str | None = None,
        alias: str = "champion",
        expect_current: str | None = None,
        mlflow_uri: str | None = None,
        db_config: str | None = None,
        webhook_url: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Move an alias (champion by default) of the token's model to the token's registered version.

        Compare-and-set: the move happens only if the alias is on --expect-current now; a
        concurrent promotion, or a move made in MLflow outside hokusai-ci, is refused with
        exit 15 naming the version found. The move is recorded with an alias_moved event.

        Args:
            token_id: Registered token whose version to promote, e.g. XRAY (required).
            alias: The alias to move (default champion).
            expect_current: The version the alias must be on now, e.g. 7; leave out when the alias is not set yet.
            mlflow_uri: MLflow server (http or https) whose registry holds the alias (default: $MLFLOW_TRACKING_URI).
            webhook_url: URL that receives the alias_moved event as a JSON POST (default: $HOKUSAI_WEBHOOK_URL).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            if token_id in (None, ""):
                raise invalid_input("token-id", token_id, "--token-id is required")
            moved = app.promote(settings, token_id, alias, expect_current)
            return presenters.to_json(moved) if fmt == "json" else moved.message

        config = dict(mlflow_uri=mlflow_uri, db_config=db_config, webhook_url=webhook_url, log_level=log_level)
        _run(output, config, action)

    @as_typed
    def rollback(
        self,
        model_name: str | None = None,
        alias: str = "champion",
        mlflow_uri: str | None = None,
        db_config: str | None = None,
        webhook_url: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Move an alias back to the version it held before its current one (same compare-and-set).

        Refused (exit 13) when that version no longer exists in MLflow: deleting a version
        deletes its aliases; the alias is then left where it is.

        Args:
            model_name: Registered model name, e.g. hokusai-XRAY (required).
            alias: The alias to move back (default champion).
            mlflow_uri: MLflow server (http or https) whose registry holds the alias (default: $MLFLOW_TRACKING_URI).
            webhook_url: URL that receives the alias_moved event as a JSON POST (default: $HOKUSAI_WEBHOOK_URL).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            if model_name in (None, ""):
                raise invalid_input("model-name", model_name, "--model-name is required")
            moved = app.rollback(settings, model_name, alias)
            return presenters.to_json(moved) if fmt == "json" else moved.message

        config = dict(mlflow_uri=mlflow_uri, db_config=db_config, webhook_url=webhook_url, log_level=log_level)
        _run(output, config, action)

    @as_typed
    def history(
        self,
        model_name: str | None = None,
        alias: str | None = None,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """List every alias move of a model recorded by hokusai-ci: when, from, to, by which command and CI run.

        Args:
            model_name: Registered model name, e.g. hokusai-XRAY (required).
            alias: Only this alias, e.g. champion (default: every alias).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            if model_name in (None, ""):
                raise invalid_input("model-name", model_name, "--model-name is required")
            moves = app.history(settings, model_name, alias)
            return presenters.to_json(moves) if fmt == "json" else presenters.history_text(moves)

        _run(output, dict(db_config=db_config, log_level=log_level), action)


class Events:
    """The events outbox: what was emitted and what a webhook has not accepted yet."""

    @as_typed
    def replay(
        self,
        token_id: str | None = None,
        webhook_url: str | None = None,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Deliver pending and failed events to the webhook again (same event ids and idempotency keys).

        Args:
            token_id: Only this token's events (default: every pending event).
            webhook_url: URL that receives the events (default: $HOKUSAI_WEBHOOK_URL).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            outcome = app.replay_events(settings, token_id)
            if fmt == "json":
                return presenters.to_json(outcome)
            if not outcome.events:
                return "no pending events"
            return f"delivered {outcome.delivered} event(s) to {outcome.webhook}"

        _run(output, dict(webhook_url=webhook_url, db_config=db_config, log_level=log_level), action)


class Token:
    """Manage tokens in a database store (what the Hokusai site does; for local work and tests)."""

    @as_typed
    def create(
        self,
        token_id: str | None = None,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Create a Draft token in the configured database store.

        Args:
            token_id: New token id, e.g. XRAY (required).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            if token_id in (None, ""):
                raise invalid_input("token-id", token_id, "--token-id is required")
            view = app.create_token(settings, token_id)
            if fmt == "json":
                return presenters.to_json(view)
            return f"Created token {view.token_id} (status {view.status}) in {settings.store_description()}"

        _run(output, dict(db_config=db_config, log_level=log_level), action)

    @as_typed
    def release(
        self,
        token_id: str | None = None,
        force: str | bool = False,
        db_config: str | None = None,
        output: str = "text",
        log_level: str | None = None,
    ) -> None:
        """Release the claim a killed run left on a token (status registering), so it is draft again.

        Refused while the holder's lease is live (a run may still be working) unless --force.
        Runs renew their lease while they work, so a claim whose lease expired belongs to a run
        that is gone; the next registration takes such a claim over by itself.

        Args:
            token_id: Token id to release, e.g. XRAY (required).
            force: Release even though the lease is live (only when the holder is known to be gone).
        """

        def action(settings: Any, fmt: str) -> str:
            from hokusai_ci import app, presenters

            if token_id in (None, ""):
                raise invalid_input("token-id", token_id, "--token-id is required")
            outcome = app.release_token(settings, token_id, force)
            return presenters.to_json(outcome) if fmt == "json" else outcome.message

        _run(output, dict(db_config=db_config, log_level=log_level), action)


class Cli:
    """hokusai: register trained models with the Hokusai platform from any CI or a laptop."""

    def __init__(self) -> None:
        self.model = Model()
        self.token = Token()
        self.events = Events()

    def version(self) -> str:
        """Print the hokusai-ci version."""
        from hokusai_ci import __version__

        return __version__

    def completion(self, shell: str) -> str:
        """Print a shell completion script: eval "$(hokusai completion bash)" (or zsh).

        Args:
            shell: bash or zsh.
        """
        render = {"bash": usage.bash_completion, "zsh": usage.zsh_completion}.get(shell)
        if render is None:
            _usage_exit(usage.UsageError("shell", shell, f"shell={shell!r} is invalid: use bash or zsh"), "text")
        return render(usage.describe(Cli()))


def _quiet_broken_pipe() -> NoReturn:
    """The reader went away (`| head`): stop quietly, as `yes | head` does (128 + SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


def _wants_json(args: list[str]) -> bool:
    return "--output=json" in args or any(a == "--output" and b == "json" for a, b in itertools.pairwise(args))


def _usage_exit(err: usage.UsageError, fmt: str) -> NoReturn:
    _fail(HokusaiError(Category.INVALID_INPUT, err.fix, field=err.field), fmt)


def main(argv: list[str] | None = None) -> None:
    try:
        _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # the reader went away while we printed (a usage error's JSON included)
        _quiet_broken_pipe()


def _main(args: list[str]) -> None:
    fmt = "json" if _wants_json(args) else "text"
    tree = usage.describe(Cli())
    try:
        node, rest = usage.resolve(tree, args)
        if "--help" in rest or "-h" in rest:
            text = (
                usage.group_help(node, root_options=not node.path)
                if isinstance(node, usage.Group)
                else usage.command_help(node)
            )
            print(text)
            sys.exit(0)
        if isinstance(node, usage.Group):
            if rest == ["--version"] and not node.path:
                print(Cli().version())
                sys.exit(0)
            if not rest:  # `hokusai`, `hokusai model`: say what there is, as a usage error
                print(usage.group_help(node, root_options=not node.path), file=sys.stderr)
            where = " ".join(("hokusai", *node.path))
            if rest and rest[0].startswith("-"):  # `hokusai --verison`, `hokusai -V`
                raise usage.unknown_group_option(node, rest[0])
            raise usage.UsageError(
                "command", rest[0] if rest else None, f"`{where}` needs a command: {', '.join(node.children())}"
            )
        values = usage.check(node, rest)
    except usage.UsageError as err:
        _usage_exit(err, fmt)
    except BrokenPipeError:
        _quiet_broken_pipe()
    command = [*node.path, *(f"--{name}" if value is True else f"--{name}={value}" for name, value in values.items())]
    try:
        fire.Fire(Cli(), command=command, name="hokusai")
    except BrokenPipeError:
        _quiet_broken_pipe()


if __name__ == "__main__":
    main()
