"""Every option of every face, declared once: its name, help, default, environment variable and
whether the GitHub Action takes it as an input.

The CLI's Fire methods are generated from `COMMANDS` (signature and docstring), the Action reads
its inputs by `ACTION`, and `tests/test_options.py` checks `action.yml`, the Python API's
parameters and the option tables in `docs/cli.md` and `docs/action.md` against this table. A new
command or option is one entry here (and its use case); every face follows.

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
        from hokusai_ci.settings import Env

        return None if self.env is None else str(getattr(Env, self.env))


_OPTIONS = (
    Option(
        "token_id",
        "Token id, e.g. XRAY.",
        action_help="Token id created on the Hokusai site (must be in Draft status)",
    ),
    Option(
        "model_path",
        "Model file or directory to upload, e.g. ./model.pkl.",
        path=True,
        action_help="Model file or directory, relative to the workspace",
    ),
    Option(
        "metric",
        "Metric name: accuracy, auroc/auc, f1, precision, recall, mse, rmse, mae, r2, reply_rate, conversion_rate, "
        "engagement_score, or a custom name with --direction.",
        api_name="metric_name",
        action_help="Metric name (accuracy, auroc, auc, f1, precision, recall, mse, rmse, mae, r2, reply_rate, "
        "conversion_rate, engagement_score) or a custom name with direction",
    ),
    Option(
        "baseline",
        "Baseline the model must meet, e.g. 0.82.",
        api_name="baseline_value",
        action_help="Baseline the model must meet (equal passes)",
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
        "Confidence level of the bound, e.g. 0.95 (default 0.95).",
        action_help="Confidence level of the bound (default 0.95)",
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
    # the Action's own inputs
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


@dataclass(frozen=True)
class Use:
    """An option as one command takes it: required there or not, and, where the command gives
    it a narrower meaning (the token of `model status` is the one shown), its own wording."""

    name: str
    required: bool = False
    help: str | None = None

    @property
    def option(self) -> Option:
        return OPTIONS[self.name]

    @property
    def text(self) -> str:
        """The docstring's line: `(required)` closes the help of a required option."""
        text = self.help or self.option.help
        return f"{text.rstrip('.')} (required)." if self.required else text


def uses(*names: str | Use) -> tuple[Use, ...]:
    return tuple(n if isinstance(n, Use) else Use(n) for n in names)


@dataclass(frozen=True)
class CommandSpec:
    path: tuple[str, ...]
    summary: str
    body: str
    options: tuple[Use, ...]

    def names(self, *roles: Role) -> tuple[str, ...]:
        """The option names of these roles (all when none is given), in the command's order."""
        return tuple(u.name for u in self.options if not roles or u.option.role in roles)

    def docstring(self) -> str:
        """What Fire and `usage` read: the summary, the body and one `Args:` line per option."""
        args = "\n".join(f"    {u.name}: {u.text}" for u in self.options)
        body = f"{self.body}\n\n" if self.body else ""
        return f"{self.summary}\n\n{body}Args:\n{args}\n"


# The options that decide a verdict: `model register`, `model gate`, the Action and the API.
MEASURED = ("predictions", "labels", "score_column", "label_column", "id_column", "threshold", "confidence", "decision")
VERDICT = ("metric_value", "metrics_file", "metric_key", *MEASURED, "direction")
COMMON = ("output", "log_level")

REGISTER = CommandSpec(
    ("model", "register"),
    "Register a trained model for a Draft token, if it meets the baseline.",
    """Checks everything before writing: inputs, token status, the metric gate, MLflow
reachability. Then uploads the model, registers a version, marks the token registered
and emits token_ready_for_deploy and model_registered. Exit codes: see README.

Mode (printed at start): database when --db-config or HOKUSAI_DB_* is set, else API
mode when HOKUSAI_API_KEY is set, else the embedded local store; HOKUSAI_MODE forces
one, HOKUSAI_MOCK_MODE=true simulates everything. In API mode the platform has no token
lookup: the client checks the key, the metric gate and whether the registry already
holds an accepted version for the token; the site checks that the token is Draft.""",
    uses(
        Use("token_id", True, "Token id created on the Hokusai site, e.g. XRAY."),
        Use("model_path", True),
        Use("metric", True),
        Use("baseline", True),
        *VERDICT,
        "model_name",
        "mlflow_uri",
        "api_url",
        "db_config",
        "webhook_url",
        "dry_run",
        "output",
        "dotenv_report",
        "sign_key",
        "sign",
        "log_level",
        "links_within",
    ),
)
GATE = CommandSpec(
    ("model", "gate"),
    "Gate only, for pull requests: check the inputs and the metric against the baseline.",
    """Needs no token store, no MLflow and no secret. The token is not checked and nothing is
uploaded or written; exit 0 when the metric meets the baseline, 6 when it does not. In API
mode, decided as for register (HOKUSAI_MODE=api, which needs no key here, or an API key with
no database and no mock mode), the Hokusai platform's own rules apply too (exit 10).""",
    uses(
        Use("token_id", True, "Token id the model is meant for, e.g. XRAY."),
        Use("model_path", True, "Model file or directory (checked to exist and be non-empty)."),
        Use("metric", True),
        Use("baseline", True),
        *VERDICT,
        "links_within",
        *COMMON,
    ),
)
VERIFY = CommandSpec(
    ("model", "verify"),
    "Check that a registered model is still what was signed: files, signatures, tags, token record.",
    """Downloads the version's files and signature bundles, re-hashes every file, verifies the
model signature (OpenSSF model_signing format) and the registration statement, and
compares the version's tags and the token record with the signed statement. Exit 0
when every check holds, 11 naming the first file, tag or field that differs; 13 when the
version does not exist, 3 when the token store has no record of the token, 14 when
Sigstore's trust root cannot be fetched.""",
    uses(
        "model_uri",
        Use("token_id", help="Or the token whose registered version to verify."),
        Use(
            "model_path",
            help="Or a local copy: the downloaded model/ folder (or the model file), with --bundle.",
        ),
        "bundle",
        "model_signature",
        "public_key",
        "identity",
        "issuer",
        "trust_config",
        "mlflow_uri",
        "db_config",
        *COMMON,
    ),
)
STATUS = CommandSpec(
    ("model", "status"),
    "Show a token: status, registered model, metric, and the delivery state of its events.",
    "",
    uses(Use("token_id", True, "Token id to show, e.g. XRAY."), "db_config", *COMMON),
)
LIST = CommandSpec(
    ("model", "list"),
    "List registered tokens and their models (a table, or a JSON array).",
    "",
    uses("status", "db_config", Use("output", help="text (a table) or json (a JSON array)."), "log_level"),
)
REPLAY = CommandSpec(
    ("events", "replay"),
    "Deliver pending and failed events to the webhook again (same event ids and idempotency keys).",
    "",
    uses(
        Use("token_id", help="Only this token's events (default: every pending event)."),
        "webhook_url",
        "db_config",
        *COMMON,
    ),
)
TOKEN_CREATE = CommandSpec(
    ("token", "create"),
    "Create a Draft token in the configured database store.",
    "",
    uses(Use("token_id", True, "New token id, e.g. XRAY."), "db_config", *COMMON),
)
TOKEN_RELEASE = CommandSpec(
    ("token", "release"),
    "Release the claim a killed run left on a token (status registering), so it is draft again.",
    """Refused while the holder's lease is live (a run may still be working) unless --force.
Runs renew their lease while they work, so a claim whose lease expired belongs to a run
that is gone; the next registration takes such a claim over by itself.""",
    uses(Use("token_id", True, "Token id to release, e.g. XRAY."), "force", "db_config", *COMMON),
)
COMMANDS: dict[tuple[str, ...], CommandSpec] = {
    c.path: c for c in (REGISTER, GATE, VERIFY, STATUS, LIST, REPLAY, TOKEN_CREATE, TOKEN_RELEASE)
}

# The GitHub Action's inputs, in action.yml's order (required: the verdict's four).
ACTION_REQUIRED = ("token_id", "model_path", "metric", "baseline")
ACTION = (
    *ACTION_REQUIRED,
    *VERDICT,
    "mlflow_uri",
    "api_url",
    "db_config",
    "webhook_url",
    "model_name",
    "dry_run",
    "job_summary",
    "gate_only",
    "links_within",
    "allowed_folder",
    "api_key",
    "webhook_secret",
    "sign",
    "signing_key",
)

# The Python API's `ModelRegistry.register_model` and `verify_model`, in their order.
API_REGISTER = (
    "token_id",
    "model_path",
    "metric",
    "metric_value",
    "baseline",
    *VERDICT[1:],
    "model_name",
    "dry_run",
    "links_within",
)
API_VERIFY = ("model_uri", "token_id", "model_path", "bundle", "public_key", "identity", "issuer", "trust_config")
