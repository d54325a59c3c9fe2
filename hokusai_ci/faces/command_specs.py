"""Which command takes which option: the commands of the CLI (`COMMANDS`), the GitHub Action's
inputs (`ACTION`) and the Python API's parameters, composed from the rows of `options.py`.

A new command is one `CommandSpec` here (its summary, body and options), its use case in
`app.py` and its `Job` in `cli_runner.py` (how it is called and read as text); `cli.py` adds it
to the command tree by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from hokusai_ci.domain.measured.options import WITH_PREDICTIONS
from hokusai_ci.faces.options import OPTIONS, Option, Role


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
MEASURED = ("predictions", *WITH_PREDICTIONS)
VERDICT = ("metric_value", "metrics_file", "metric_key", *MEASURED, "direction")
COMMON = ("output", "log_level")

# --baseline, which --baseline-from stands in for once the alias names a version
BASELINE = Use(
    "baseline", help="Baseline the model must meet, e.g. 0.82 (required unless --baseline-from names a set alias)."
)

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
        BASELINE,
        *VERDICT,
        "baseline_from",
        "set_alias",
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
    """Needs no token store, no MLflow and no secret (MLflow only to read the version
--compare-with or --baseline-from names). The token is not checked and nothing is uploaded or written; exit 0
when the metric meets the baseline, 6 when it does not. In API
mode, decided as for register (HOKUSAI_MODE=api, which needs no key here, or an API key with
no database and no mock mode), the Hokusai platform's own rules apply too (exit 10).""",
    uses(
        Use("token_id", True, "Token id the model is meant for, e.g. XRAY."),
        Use("model_path", True, "Model file or directory (checked to exist and be non-empty)."),
        Use("metric", True),
        BASELINE,
        *VERDICT,
        "baseline_from",
        "model_name",
        "links_within",
        "mlflow_uri",
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
PROMOTE = CommandSpec(
    ("model", "promote"),
    "Move an alias (champion by default) of the token's model to the token's registered version.",
    """Compare-and-set: the move happens only if the alias is on --expect-current now; a
concurrent promotion, or a move made in MLflow outside hokusai-ci, is refused with exit 15
naming the version found. When this token store has no record of the alias (a fresh CI
runner), the version MLflow names is adopted if it is --expect-current. The move is recorded
with an alias_moved event.""",
    uses(
        Use("token_id", True, "Registered token whose version to promote, e.g. XRAY."),
        "alias",
        "expect_current",
        "mlflow_uri",
        "api_url",
        "db_config",
        "webhook_url",
        *COMMON,
    ),
)
ROLLBACK = CommandSpec(
    ("model", "rollback"),
    "Move an alias back to the version it held before its current one (same compare-and-set).",
    """Refused (exit 13) when that version no longer exists in MLflow: deleting a version
deletes its aliases; the alias is then left where it is.""",
    uses(
        Use("model_name", True, "Registered model name, e.g. hokusai-XRAY."),
        Use("alias", help="The alias to move back (default champion)."),
        "mlflow_uri",
        "api_url",
        "db_config",
        "webhook_url",
        *COMMON,
    ),
)
HISTORY = CommandSpec(
    ("model", "history"),
    "List every alias move of a model recorded by hokusai-ci: when, from, to, by which command and CI run.",
    """The history is the token store's. With --mlflow-uri (or MLFLOW_TRACKING_URI), each
alias as MLflow names it now is shown beside the store's record, and a disagreement is said
(in the text, and as a warning on stderr; the JSON stays the array of moves).""",
    uses(
        Use("model_name", True, "Registered model name, e.g. hokusai-XRAY."),
        Use("alias", help="Only this alias, e.g. champion (default: every alias)."),
        "mlflow_uri",
        "db_config",
        *COMMON,
    ),
)
COMMANDS: dict[tuple[str, ...], CommandSpec] = {
    c.path: c
    for c in (
        REGISTER,
        GATE,
        VERIFY,
        STATUS,
        LIST,
        PROMOTE,
        ROLLBACK,
        HISTORY,
        REPLAY,
        TOKEN_CREATE,
        TOKEN_RELEASE,
    )
}

# The GitHub Action's inputs, in action.yml's order (required: the verdict's four).
# `token_id` is the one input every command of the Action takes (rollback's model name defaults
# to hokusai-<token-id>); a registration also needs these (`baseline` unless `baseline_from`).
ACTION_REQUIRED = ("token_id",)
ACTION_REGISTER_REQUIRED = ("model_path", "metric", "baseline")
ACTION_COMMANDS = ("register", "promote", "rollback")  # the `command` input
ACTION = (
    *ACTION_REQUIRED,
    *ACTION_REGISTER_REQUIRED,
    *VERDICT,
    "baseline_from",
    "set_alias",
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
    "command",
    "alias",
    "expect_current",
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
    "baseline_from",
    "set_alias",
)
API_VERIFY = ("model_uri", "token_id", "model_path", "bundle", "public_key", "identity", "issuer", "trust_config")
