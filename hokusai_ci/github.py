"""The GitHub Action face: maps the runner's world (INPUT_*, GITHUB_OUTPUT, the job summary,
workflow commands) onto the same settings and use case as the CLI.

The runner passes every declared input as INPUT_<NAME> with hyphens kept (INPUT_TOKEN-ID),
empty when not given, and does not enforce `required`: validation happens here.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hokusai_ci.attestation import BaselineSource
from hokusai_ci.errors import Cancelled, Category, HokusaiError, cancel_on_sigterm, internal_error, invalid_input
from hokusai_ci.gate import GATE_ONLY_MODE, NOT_CHECKED
from hokusai_ci.inputs import TRUE_WORDS, parse_flag
from hokusai_ci.measured.decision import basis_text
from hokusai_ci.metrics import GateResult
from hokusai_ci.presenters import summary_line
from hokusai_ci.redaction import (
    MIN_SECRET_LENGTH,
    SECRET_ENV,
    SECRET_SETTINGS,
    fragments,
    install_log_redaction,
    redact,
    redact_data,
    short_lines,
    url_secrets,
)
from hokusai_ci.results import RegistrationResult, failed_result, output_fields
from hokusai_ci.settings import Env, Settings

REQUIRED = ("token-id", "model-path", "metric", "baseline")
OPTIONAL = (
    "metric-value",
    "metrics-file",
    "metric-key",
    "predictions",
    "labels",
    "score-column",
    "label-column",
    "id-column",
    "threshold",
    "confidence",
    "decision",
    "direction",
    "mlflow-uri",
    "api-url",
    "db-config",
    "webhook-url",
    "model-name",
    "dry-run",
    "job-summary",
    "gate-only",
    "links-within",
    "allowed-folder",
    "sign",
    "baseline-from",
    "set-alias",
)
# the measured gate's inputs, passed on only when given (each is refused without predictions)
MEASURED_INPUTS = OPTIONAL[OPTIONAL.index("predictions") : OPTIONAL.index("direction")]
SECRETS = {s.action_input: s.env for s in SECRET_SETTINGS if s.action_input}
PATH_INPUTS = ("model-path", "metrics-file", "predictions", "labels", "db-config", "links-within")
REPORT_TARGETS = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
SUMMARY_LIMIT = 64 * 1024  # GitHub allows 1 MiB per step; a registration never needs more


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """Inputs by kebab-case name; the runner keeps hyphens (INPUT_TOKEN-ID), others may not."""
    found: dict[str, str] = {}
    for name in (*REQUIRED, *OPTIONAL, *SECRETS):
        for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
            value = env.get(key, "").strip()
            if value:
                found[name] = value
                break
    return found


def command_escape(text: str) -> str:
    """Workflow command data escaping (%, CR, LF), so a message cannot inject commands."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def log_escape(text: str) -> str:
    """A plain log line: line breaks escaped (a message cannot start a `::command::` line) and
    the legacy `##[command]` prefix (which the runner finds anywhere in a line) broken. Nothing
    more: the runner shows plain lines as printed, so `%` stays `%` (3.66%, not 3.66%25)."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace("##[", "##%5B")


def property_escape(text: str) -> str:
    return command_escape(text).replace(":", "%3A").replace(",", "%2C")


MD_SPECIAL = set("\\`*_{}[]()#+-.!|~")


def md(text: object) -> str:
    """Escape a user-supplied string for the Markdown summary: no HTML, links or formatting."""
    flat = " ".join(str(text).split())
    return "".join(html.escape(c, quote=False) if c in "<>&" else "\\" + c if c in MD_SPECIAL else c for c in flat)


def code_span(text: object) -> str:
    """A literal code span for a table cell. CommonMark keeps backslashes inside code spans, so
    nothing is escaped: the fence is one backtick longer than any run in the value, and only the
    table's own `|` is escaped (GFM removes that backslash before the span is read)."""
    flat = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat.replace('|', chr(92) + '|')}{pad}{fence}"


class Masks:
    """`::add-mask::` for every spelling of every secret (each line of a multi-line one), printed
    before anything else; a secret that could not be masked is refused instead of printed."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def add(self, secret: str, name: str, *, refuse: bool = True) -> None:
        """`refuse=False` for URL credentials: redaction removes them by position in any URL."""
        if refuse and (short_lines(secret) or len(secret.strip()) < MIN_SECRET_LENGTH):
            raise HokusaiError(
                Category.INVALID_INPUT,
                f"{name} is invalid: a value or line shorter than {MIN_SECRET_LENGTH} characters cannot be masked "
                "in the log (value not shown); use a longer secret",
                field=name,
            )
        for text in sorted(fragments(secret) - self.done):
            print(f"::add-mask::{command_escape(text)}")
            self.done.add(text)


def _write_outputs(path: str, fields: Mapping[str, str]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in fields.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def _link(label: str, url: str | None) -> str:
    if not url or not url.startswith(("http://", "https://")):
        return ""
    from urllib.parse import quote

    return f"[{label}]({quote(url, safe=':/#?=&%@')})"


def summary_markdown(r: RegistrationResult) -> str:
    lines: list[str] = []
    token = md(r.token_id or "?")
    simulated = " (simulated)" if r.simulated else ""
    if r.status == "registered":
        lines.append(f"### ✅ Registered {md(r.model_name)} version {md(r.model_version)} for token {token}{simulated}")
    elif r.status == "dry_run":
        lines.append(f"### ☑️ Dry run passed for token {token}: nothing was written{simulated}")
    elif r.status == "gate_only":
        lines.append(f"### ☑️ Gate passed for token {token}")
    elif r.mode == GATE_ONLY_MODE and r.metric is None:  # refused before any comparison
        lines.append(f"### ❌ Gate not run for token {token}: an input was refused")
    elif r.mode == GATE_ONLY_MODE and _platform_refused(r):  # the baseline is met; the platform's rules are not
        lines.append(f"### ❌ Gate failed for token {token}: the Hokusai platform would refuse this result")
    elif r.mode == GATE_ONLY_MODE:
        lines.append(f"### ❌ Gate failed for token {token}")
    else:
        lines.append(f"### ❌ Registration failed for token {token}")
    if r.mode == GATE_ONLY_MODE:
        lines += ["", "Gate only: the token was **not checked** and nothing was uploaded or written."]
    if r.error is not None:
        fix = "" if r.status != "registered" else " The model is registered; re-running the job finishes what is left."
        message = r.error.message.removesuffix(f"; {NOT_CHECKED}")  # said once, above
        lines += ["", f"**{md(r.error.title)}** (exit {r.error.exit_code}): {md(message[:2000])}{fix}"]
    if r.metric is not None:
        lines += ["", *_metric_table(r.metric, _platform_refused(r))]
    if r.baseline_source is not None:
        lines += ["", baseline_line(r.baseline_source)]
    if r.measured is not None:
        basis = basis_text(r.measured)
        lines += ["", f"**{md(summary_line(r.measured))}** ({md(basis)}, {r.measured.rows} rows)"]
    rows = [
        ("Model", f"{md(r.model_name)} v{md(r.model_version)}" if r.model_version else md(r.model_name or "")),
        ("Model URI", code_span(r.model_uri) if r.model_uri else ""),
        ("MLflow run", " ".join(filter(None, [md(r.mlflow_run_id or ""), _link("open run", r.run_url)]))),
        ("Model version", _link("open version", r.version_url)),
        ("SHA-256", code_span(r.model_sha256) if r.model_sha256 else ""),
        ("Mode", md(r.mode or "")),
    ]
    shown = [(k, v) for k, v in rows if v]
    if shown:  # a list: a two-column table would need a header row, rendered as an empty grey bar
        lines += ["", *[f"- **{k}**: {v}" for k, v in shown]]
    if r.attestation is not None:
        lines += ["", *_attestation_lines(r)]
    if r.events:
        lines += ["", "| Event | Delivery | Attempts |", "|---|---|---|"]
        lines += [f"| {md(e.event_type)} | {md(e.delivery_status)} | {e.attempts} |" for e in r.events]
    text = "\n".join(lines) + "\n"
    return text[:SUMMARY_LIMIT]


def baseline_line(source: BaselineSource) -> str:
    """Where the baseline came from: the alias's version, or the input while no version holds it."""
    if source.source == "flag":
        return f"Baseline {source.value:g} from the `baseline` input: no version holds alias {md(source.alias)} yet"
    return (
        f"Baseline {source.value:g} ({md(source.metric or '')}) from {md(source.model_name)} version "
        f"{md(source.version or '')}, alias {md(source.alias)}"
    )


def _platform_refused(r: RegistrationResult) -> bool:
    return r.error is not None and r.error.category == Category.PLATFORM_REJECTED.slug


def _attestation_lines(r: RegistrationResult) -> list[str]:
    """The signed statement's digest and the command a deployer runs to check it."""
    from hokusai_ci.presenters import verify_command

    a = r.attestation
    assert a is not None
    command = "".join(c for c in verify_command(r) if c.isprintable() and c != "`")
    return [
        f"**Signed** ({md(a.method)}): registration statement sha256 `{a.sha256}`",
        "",
        "Verify before you deploy:",
        "",
        "```sh",
        command,
        "```",
    ]


def _metric_table(g: GateResult, platform_refused: bool = False) -> list[str]:
    rel = "" if g.relative_delta is None else f" ({g.relative_delta:+.2%})"
    verdict = "✅ passed" if g.passed else "❌ below baseline"
    if platform_refused:
        verdict = "✅ meets the baseline; ❌ the platform's rules"
    return [
        "| Metric | Value | Baseline | Better | Delta | Gate |",
        "|---|---|---|---|---|---|",
        f"| {md(g.name)} | {g.value:g} | {g.baseline:g} | {g.direction.value} | {g.delta:+g}{rel} | {verdict} |",
    ]


def configure_logging(level: str) -> None:
    """The CLI's logging, with every line (any logger's, tracebacks included) redacted and then
    escaped as workflow-command data: a message cannot start a `::command::` line."""
    from hokusai_ci import app

    install_log_redaction(escape=log_escape)
    app.configure_logging(level)


def run_action(env: Mapping[str, str] | None = None) -> int:
    """Run the Action. Returns the process exit code (the CLI's table)."""
    from hokusai_ci import presenters

    env = dict(os.environ if env is None else env)
    cancel_on_sigterm()
    install_log_redaction(escape=log_escape)  # from here on, every log line is escaped
    masks = Masks()
    inputs = read_inputs(env)
    try:
        for var in SECRET_ENV:
            if env.get(var):
                masks.add(env[var], var)
        for name in SECRETS:
            if name in inputs:
                masks.add(inputs[name], f"input '{name}'")
    except HokusaiError as err:
        return _refuse(env, inputs, err)
    if platform.system() != "Linux":
        print("::error title=Unsupported runner::hokusai/register-model is a Docker action and needs a Linux runner")
        return 2
    for name, var in SECRETS.items():
        if name in inputs:
            os.environ[var] = inputs[name]
    if not env.get(Env.HOME):  # keep the embedded store out of the workspace (no root-owned files)
        os.environ[Env.HOME] = str(Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "hokusai")
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    debug = env.get("RUNNER_DEBUG") == "1"
    wants_summary = True
    result: RegistrationResult
    try:
        # a summary that may be asked for is checked too (the input itself is parsed strictly below)
        _check_report_targets(env, inputs.get("job-summary", "true").strip().lower() not in ("false", "0", "no"))
    except HokusaiError as err:  # nowhere to report to: say so and write nothing
        print(f"::error title={property_escape(err.category.title)}::{command_escape(redact(err.message))}")
        return err.exit_code
    try:
        # baseline-from (alias:champion) reads the baseline from the registry, `baseline` is its fallback
        missing = [n for n in REQUIRED if n not in inputs and not (n == "baseline" and "baseline-from" in inputs)]
        if missing:
            raise invalid_input(missing[0], "", f"input '{missing[0]}' is required: add it under `with:`")
        given = dict(inputs)
        for name in PATH_INPUTS:
            if name in inputs and not os.path.isabs(inputs[name]):
                inputs[name] = str(workspace / inputs[name])
        check_within_workspace(inputs, given, workspace)
        wants_summary = parse_flag("job-summary", inputs.get("job-summary", "true"))
        if parse_flag("gate-only", inputs.get("gate-only", "false")):
            result = _gate_only(inputs, debug)
        else:
            result = _register(inputs, debug, masks)
    except HokusaiError as err:
        result = failed_result(err)
    except (KeyboardInterrupt, Cancelled) as exc:
        category = Category.TERMINATED if isinstance(exc, Cancelled) else Category.INTERRUPTED
        result = failed_result(HokusaiError(category, f"{category.title.lower()} before the registration started"))
    except Exception as exc:
        result = failed_result(internal_error(exc))
    result.token_id = result.token_id or inputs.get("token-id")
    if result.mode is None and TRUE_WORDS.get(inputs.get("gate-only", "").lower()):
        result.mode = GATE_ONLY_MODE  # refused before the gate ran: still reported as the gate
    if result.error is not None:
        print(f"::error title={property_escape(result.error.title)}::{command_escape(redact(result.error.message))}")
    text = presenters.registration_text(result)
    for line in text.splitlines():
        print(log_escape(redact(line)))
    _report(env, result, wants_summary)
    return result.exit_code


def check_within_workspace(inputs: Mapping[str, str], given: Mapping[str, str], workspace: Path) -> None:
    """Path inputs name files of the checked-out repository: `../../etc/passwd` or `/etc/passwd`
    (or a link in the workspace pointing there) would register, hash or parse a file of the
    machine. Each must resolve inside GITHUB_WORKSPACE, or inside the one folder the
    `allowed-folder` input names (a model downloaded elsewhere, a Hugging Face cache)."""
    from hokusai_ci.validation import check_path_text

    roots = [workspace.resolve()]
    if "allowed-folder" in inputs:
        allowed = check_path_text("allowed-folder", inputs["allowed-folder"])
        folder = (workspace / allowed).resolve()
        if folder == Path("/") or folder.parts[:2] in (("/", "proc"), ("/", "sys"), ("/", "dev")):
            raise invalid_input(
                "allowed-folder", inputs["allowed-folder"], "name a folder of models, not / or a kernel folder"
            )
        roots.append(folder)
    for name in PATH_INPUTS:
        if name not in inputs:
            continue
        try:
            real = check_path_text(name, inputs[name]).resolve()
        except (OSError, RuntimeError):  # a link loop
            raise invalid_input(name, given[name], "cannot be resolved (a loop of links?)") from None
        if not any(real == root or root in real.parents for root in roots):
            raise invalid_input(
                name,
                given[name],
                f"resolves to {str(real)!r}, outside the workspace {str(roots[0])!r}: name a path inside "
                "GITHUB_WORKSPACE, or allow one folder outside it with the `allowed-folder` input",
            )


def _register(inputs: Mapping[str, str], debug: bool, masks: Masks) -> RegistrationResult:
    from hokusai_ci import app
    from hokusai_ci.settings import load_settings

    settings = load_settings(
        {
            "mlflow_uri": inputs.get("mlflow-uri"),
            "api_url": inputs.get("api-url"),
            "db_config": inputs.get("db-config"),
            "webhook_url": inputs.get("webhook-url"),
            "log_level": "DEBUG" if debug else None,
            "sign": inputs.get("sign"),
        }
    )
    _mask_configured(masks, settings)
    configure_logging(settings.log_level)
    app.refuse_empty_local_store(settings, app.SECRET_STEP)
    print("::group::Register model")
    try:
        return app.register(
            settings,
            **_verdict_inputs(inputs),
            model_name=inputs.get("model-name"),
            dry_run=inputs.get("dry-run", "false"),
            baseline_from=inputs.get("baseline-from"),
            set_alias=inputs.get("set-alias"),
        )
    finally:
        print("::endgroup::")


def _gate_only(inputs: Mapping[str, str], debug: bool) -> RegistrationResult:
    """A pull request's gate: no settings, store, MLflow or secret is read."""
    from hokusai_ci.gate import gate_only, platform_rules_apply

    configure_logging("DEBUG" if debug else "INFO")
    return gate_only(platform=platform_rules_apply(has_db_config="db-config" in inputs), **_verdict_inputs(inputs))


def _verdict_inputs(inputs: Mapping[str, str]) -> dict[str, Any]:
    """The inputs that decide a verdict, shared by a registration and the gate-only path."""
    return {
        "token_id": inputs["token-id"],
        "model_path": inputs["model-path"],
        "metric": inputs["metric"],
        "baseline": inputs.get("baseline"),
        "metric_value": inputs.get("metric-value"),
        "metrics_file": inputs.get("metrics-file"),
        "metric_key": inputs.get("metric-key"),
        **{name.replace("-", "_"): inputs[name] for name in MEASURED_INPUTS if name in inputs},
        "direction": inputs.get("direction"),
        "links_within": inputs.get("links-within"),
    }


def _mask_configured(masks: Masks, settings: Settings) -> None:
    """What the db-config file and the URL settings carried."""
    db = settings.database
    if db is not None and db.password is not None:
        masks.add(db.password.get_secret_value(), "db-config password")
    urls = {"db-config url": db.url.get_secret_value() if db and db.url else None}
    urls.update({"mlflow-uri": settings.mlflow_uri, "webhook-url": settings.webhook_url, "api-url": settings.api_url})
    for name, url in urls.items():
        for secret in url_secrets(url):
            masks.add(secret, name, refuse=False)


def _refuse(env: Mapping[str, str], inputs: Mapping[str, str], err: HokusaiError) -> int:
    result = failed_result(err)
    result.token_id = inputs.get("token-id")
    print(f"::error title={property_escape(err.category.title)}::{command_escape(redact(err.message))}")
    _report(env, result, wants_summary=True)
    return err.exit_code


def _check_report_targets(env: Mapping[str, str], wants_summary: bool) -> None:
    """Before anything is written: the runner's output and summary files must be writable."""
    from hokusai_ci.validation import check_report_target

    for name in REPORT_TARGETS:
        if env.get(name) and (name != "GITHUB_STEP_SUMMARY" or wants_summary):
            check_report_target(name, env[name])


def _report(env: Mapping[str, str], result: RegistrationResult, wants_summary: bool) -> None:
    """Outputs and job summary. A file that fails now (a full disk) is one error line; the
    registration's exit code stands."""
    data = redact_data(result.model_dump(mode="json"))
    fields = {**output_fields(result), "result-json": json.dumps(data, sort_keys=True, allow_nan=False)}
    writers: dict[str, Callable[[str], None]] = {
        "GITHUB_OUTPUT": lambda path: _write_outputs(path, {k: redact(v) for k, v in fields.items()}),
        "GITHUB_STEP_SUMMARY": lambda path: _append(path, redact(summary_markdown(result))),
    }
    for name, write in writers.items():
        if not env.get(name) or (name == "GITHUB_STEP_SUMMARY" and not wants_summary):
            continue
        try:
            write(env[name])
        except OSError as exc:
            print(f"::error title=Report Not Written::{command_escape(f'{name}: {exc.strerror or exc}')}")


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
