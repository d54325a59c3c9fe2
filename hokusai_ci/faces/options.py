"""Every option of every face, declared once: its name, help, default, environment variable,
and its GitHub Action input (description and default) where the Action takes it.

Which command takes which option is `command_specs.py`. The CLI's Fire methods are generated
from both, the Action reads its inputs from them, and `tests/test_options.py` checks
`action.yml`, the Python API's parameters and the option tables in `docs/cli.md` and
`docs/action.md` against them. A new option is one row here.

Imported at start-up: nothing heavy (environment variable names are resolved from
`settings.Env` only when asked for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["use", "setting", "face", "secret"]


@dataclass(frozen=True)
class Option:
    """One option. `role`: what reads it (`use`: the use case, `setting`: the settings, `face`:
    the face itself, `secret`: an Action input passed on as its environment variable)."""

    name: str  # snake_case; `--kebab-case` on the command line, `kebab-case` as an Action input
    help: str  # one line, as `--help` shows it
    role: Role = "use"
    default: str | bool | None = None  # the CLI's default (a bool: a flag)
    env: str | None = None  # the `settings.Env` attribute of its environment variable
    path: bool = False  # names a file or folder (the Action resolves it inside the workspace)
    action_help: str | None = None  # the Action input's description (action.yml)
    action_default: str | None = None  # the Action input's default (action.yml)
    api_name: str | None = None  # the Python API's parameter name, when it differs
    default_text: str | None = None  # what applies when not given, as every face's docs say it

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def input(self) -> str:
        """The Action input name."""
        return self.name.replace("_", "-")

    @property
    def env_var(self) -> str | None:
        from hokusai_ci.config.settings import Env

        return None if self.env is None else str(getattr(Env, self.env))


_OPTIONS = (
    Option(
        "token_id",
        "Token id, e.g. XRAY.",
        action_help="Token id created on the Hokusai site (in Draft status to register; registered, to promote)",
    ),
    Option(
        "model_path",
        "Model file or directory to upload, e.g. ./model.pkl.",
        path=True,
        action_help="Model file or directory, relative to the workspace (required to register)",
    ),
    Option(
        "metric",
        "Metric name: accuracy, auroc/auc, f1, precision, recall, mse, rmse, mae, r2, reply_rate, conversion_rate, "
        "engagement_score, or a custom name with --direction.",
        api_name="metric_name",
        action_help="Metric name (accuracy, auroc, auc, f1, precision, recall, mse, rmse, mae, r2, reply_rate, "
        "conversion_rate, engagement_score) or a custom name with direction (required to register)",
    ),
    Option(
        "baseline",
        "Baseline the model must meet, e.g. 0.82.",
        api_name="baseline_value",
        action_help="Baseline the model must meet (equal passes; required to register); with baseline-from, used "
        "only while no version holds the alias (a champion's value must be beaten: equal fails)",
    ),
    Option(
        "metric_value",
        "The model's measured value, e.g. 0.85 (or use --metrics-file or --predictions).",
        action_help="The model's measured value (or use metrics-file or predictions)",
    ),
    Option(
        "metrics_file",
        "JSON or YAML file holding the measured value (instead of --metric-value).",
        path=True,
        action_help="JSON or YAML file holding the measured value, relative to the workspace",
    ),
    Option(
        "metric_key",
        "Dotted path of the value in --metrics-file, e.g. eval.auroc (default: the metric name).",
        action_help="Dotted path of the value in metrics-file (default the metric name)",
    ),
    Option(
        "predictions",
        "Predictions file to measure the metric from (CSV, TSV, .npy, .parquet) instead of --metric-value; gated "
        "on its confidence bound (needs the metrics extra).",
        path=True,
        action_help="Predictions file (CSV, TSV, .npy, .parquet) to measure the metric from, relative to the "
        "workspace, instead of metric-value; gated on its confidence bound",
    ),
    Option(
        "labels",
        "Labels file, when the labels are not a column of --predictions.",
        path=True,
        action_help="Labels file, relative to the workspace, when the labels are not a column of predictions",
    ),
    Option(
        "score_column",
        "Column of the scores or predicted values in --predictions (default: the only numeric one left).",
        action_help="Column of the scores or predicted values in predictions (default the only numeric one left)",
    ),
    Option(
        "label_column",
        "Column of the true labels or targets (default: label, or the only numeric one left).",
        action_help="Column of the true labels or targets (default label, or the only numeric one left)",
    ),
    Option(
        "id_column",
        "Column that joins --predictions and --labels row by row (default: row order).",
        action_help="Column that joins predictions and labels (default row order)",
    ),
    Option(
        "threshold",
        "Score at or above which a row is predicted positive, for accuracy, f1, precision and recall on scores.",
        action_help="Score at or above which a row is predicted positive (accuracy, f1, precision, recall on scores)",
    ),
    Option(
        "confidence",
        "Confidence level of the bound, from 0.8 to 0.999 (default 0.95).",
        action_help="Confidence level of the bound, from 0.8 to 0.999 (default 0.95)",
        default_text="0.95",
    ),
    Option(
        "decision",
        "lower-bound (the bound must beat the baseline) or point (the value must meet it) (default: lower-bound).",
        action_help="lower-bound (the bound must beat the baseline) or point (the value must meet it) "
        "(default lower-bound)",
        default_text="lower-bound",
    ),
    Option(
        "compare_with",
        "models:/NAME/VERSION gated on the same evaluation rows: pass only when the candidate beats it, by the "
        "paired difference when both were joined by --id-column, else unpaired (with --predictions).",
        action_help="models:/NAME/VERSION gated on the same evaluation rows: pass only when the candidate beats "
        "it, by the paired difference when both were joined by id-column, else unpaired (with predictions)",
    ),
    Option(
        "direction",
        "higher or lower: which way is better; required only for custom metrics.",
        action_help="higher or lower is better; required only for custom metrics",
    ),
    Option(
        "model_name",
        "Registered model name in MLflow (default: hokusai-<TOKEN-ID>).",
        action_help="Registered model name (default hokusai-<token-id>)",
    ),
    Option(
        "mlflow_uri",
        "MLflow tracking URI (default: $MLFLOW_TRACKING_URI; API mode: the Hokusai registry; else a local store).",
        role="setting",
        env="MLFLOW_TRACKING_URI",
        action_help="MLflow tracking URI (default the Hokusai registry in API mode)",
    ),
    Option(
        "api_url",
        "Hokusai API base URL for API mode (default: $HOKUSAI_API_URL or https://api.hokus.ai).",
        role="setting",
        env="API_URL",
        action_help="Hokusai API base URL (default https://api.hokus.ai)",
        default_text="https://api.hokus.ai",
    ),
    Option(
        "db_config",
        "JSON or YAML database config file (host, port, database, username, password, or url).",
        role="setting",
        env="DB_CONFIG",
        path=True,
        action_help="Database config file (JSON or YAML), relative to the workspace, for database mode",
    ),
    Option(
        "webhook_url",
        "URL that receives the events as JSON POSTs (default: $HOKUSAI_WEBHOOK_URL).",
        role="setting",
        env="WEBHOOK_URL",
        action_help="URL that receives the token_ready_for_deploy and model_registered events",
    ),
    Option(
        "dry_run",
        "Run every check and write nothing.",
        default=False,
        action_help="Run every check and write nothing",
        action_default="false",
    ),
    Option("output", "text (for people) or json (one JSON object on stdout).", role="face", default="text"),
    Option(
        "dotenv_report",
        "Also write the result as HOKUSAI_* KEY=value lines to this file (GitLab dotenv report), on failure too.",
        role="face",
    ),
    Option(
        "links_within",
        "A folder that links inside --model-path may point into, e.g. a Hugging Face cache's blobs folder "
        "(default: links must stay inside the model path).",
        path=True,
        action_help="A folder (relative to the workspace) that symbolic links in the model folder may point into, "
        "e.g. a Hugging Face cache's blobs folder; by default links must stay inside model-path",
    ),
    Option(
        "sign_key",
        "Sign the registration with this EC private key (PEM file; or the PEM itself in $HOKUSAI_SIGNING_KEY).",
        role="setting",
    ),
    Option(
        "sign",
        "key, keyless (Sigstore with the CI's OIDC identity; GitHub Actions with id-token: write) or off "
        "(default: key when a key is given, else off).",
        role="setting",
        env="SIGN",
        action_help="Sign the registration: key (with signing-key), keyless (Sigstore, needs permissions: "
        "id-token: write) or off",
        action_default="off",
    ),
    Option(
        "log_level",
        "DEBUG, INFO, WARNING or ERROR (default: $HOKUSAI_LOG_LEVEL or INFO).",
        role="setting",
        env="LOG_LEVEL",
    ),
    # `model verify`
    Option("model_uri", "The registered version, models:/NAME/VERSION."),
    Option("bundle", "The registration statement bundle (registration.sigstore.json) of the local copy.", path=True),
    Option(
        "model_signature",
        "The model signature bundle of the local copy (default: model.sigstore.json beside --bundle).",
        path=True,
    ),
    Option("public_key", "The signer's EC public key (PEM file), for key signatures.", path=True),
    Option(
        "identity",
        "Keyless: the expected signer identity (the workflow, e.g. "
        "https://github.com/ORG/REPO/.github/workflows/ci.yml@refs/heads/main).",
    ),
    Option(
        "issuer",
        "Keyless: the expected OIDC issuer (https://token.actions.githubusercontent.com on GitHub).",
    ),
    Option(
        "trust_config",
        "Keyless: a Sigstore client trust config file (JSON) instead of fetching Sigstore's trust root, e.g. "
        "offline (default: $HOKUSAI_SIGSTORE_TRUST_CONFIG).",
        env="SIGSTORE_TRUST_CONFIG",
        path=True,
    ),
    # `model list`, `token release`
    Option(
        "status",
        "Which tokens: registered (default), all, or a comma-separated list of draft, registering, registered, "
        "deployed, failed, archived.",
    ),
    Option("force", "Release even though the lease is live (only when the holder is known to be gone).", default=False),
    # aliases: `model register`, `model promote|rollback|history`
    Option(
        "baseline_from",
        "alias:NAME, e.g. alias:champion: the baseline is the metric value of the version that alias names (its "
        "metric, and evaluation set when both are measured, must match); --baseline is then used only while no "
        "version holds it.",
        action_help="alias:NAME (e.g. alias:champion): the baseline is the metric value of the version that alias "
        "names; its metric (and evaluation set, when both are measured) must match",
    ),
    Option(
        "set_alias",
        "After registering, move this alias (e.g. candidate; never champion, see `model promote`) to the new version.",
        action_help="After registering, move this alias (e.g. candidate) to the new version; no alias is moved "
        "unless given, and champion moves only with command promote",
    ),
    Option(
        "alias",
        "The alias to move (default champion).",
        action_help="The alias command promote or rollback moves (default champion)",
        action_default="champion",
    ),
    Option(
        "expect_current",
        "The version the alias must be on now, e.g. 7; leave out only when the alias is not set yet.",
        action_help="The version the alias must be on now for command promote, e.g. 7; leave out only when the "
        "alias is not set yet",
    ),
    # the Action's own inputs
    Option(
        "command",
        "register, promote or rollback.",
        role="face",
        action_help="register (default), promote (move alias to the token's registered version, checked against "
        "expect-current) or rollback (move alias back to the version it held before)",
        action_default="register",
    ),
    Option("job_summary", "Write a job summary", role="face", action_help="Write a job summary", action_default="true"),
    Option(
        "gate_only",
        "Only check the inputs and the metric against the baseline.",
        role="face",
        action_help="Only check the inputs and the metric against the baseline (for pull requests, no token store "
        "or secret needed); the token is not checked and nothing is written",
        action_default="false",
    ),
    Option(
        "allowed_folder",
        "One folder outside the workspace that path inputs may name.",
        role="face",
        action_help="One folder outside the workspace that model-path, metrics-file, predictions, labels, db-config "
        "and links-within may name (a model downloaded elsewhere, a Hugging Face cache); by default every path "
        "must resolve inside the workspace",
    ),
    Option(
        "api_key",
        "Hokusai API key.",
        role="secret",
        env="API_KEY",
        action_help="Hokusai API key; pass a secret (or set HOKUSAI_API_KEY)",
    ),
    Option(
        "webhook_secret",
        "Secret that signs webhook requests.",
        role="secret",
        env="WEBHOOK_SECRET",
        action_help="Secret that signs webhook requests; pass a secret (or set HOKUSAI_WEBHOOK_SECRET)",
    ),
    Option(
        "signing_key",
        "EC private key in PEM for sign=key.",
        role="secret",
        env="SIGNING_KEY",
        action_help="EC private key in PEM for sign=key; pass a secret (or set HOKUSAI_SIGNING_KEY)",
    ),
)
OPTIONS: dict[str, Option] = {o.name: o for o in _OPTIONS}
