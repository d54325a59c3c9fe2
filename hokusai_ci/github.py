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
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from hokusai_ci.errors import Cancelled, Category, HokusaiError, cancel_on_sigterm, internal_error, invalid_input
from hokusai_ci.metrics import GateResult
from hokusai_ci.results import RegistrationResult, failed_result, output_fields
from hokusai_ci.settings import Env, redact

REQUIRED = ("token-id", "model-path", "metric", "baseline")
OPTIONAL = (
    "metric-value",
    "metrics-file",
    "metric-key",
    "direction",
    "mlflow-uri",
    "api-url",
    "db-config",
    "webhook-url",
    "model-name",
    "dry-run",
    "job-summary",
    "sign",
)
SECRETS = {"api-key": Env.API_KEY, "webhook-secret": Env.WEBHOOK_SECRET, "signing-key": Env.SIGNING_KEY}
PATH_INPUTS = ("model-path", "metrics-file", "db-config")
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


def add_mask(secret: str) -> None:
    """Mask a secret in the log: the runner masks per line, so a multi-line secret (a PEM key)
    gets one `::add-mask::` per line, and the whole value too."""
    lines = [ln.strip() for ln in secret.splitlines() if ln.strip()]
    for part in {secret.strip(), *lines} if len(lines) > 1 else {secret.strip()}:
        if part:
            print(f"::add-mask::{command_escape(part)}")


def command_escape(text: str) -> str:
    """Workflow command data escaping (%, CR, LF), so a message cannot inject commands."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def property_escape(text: str) -> str:
    return command_escape(text).replace(":", "%3A").replace(",", "%2C")


MD_SPECIAL = set("\\`*_{}[]()#+-.!|~")


def md(text: object) -> str:
    """Escape a user-supplied string for the Markdown summary: no HTML, links or formatting."""
    flat = " ".join(str(text).split())
    return "".join(html.escape(c, quote=False) if c in "<>&" else "\\" + c if c in MD_SPECIAL else c for c in flat)


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
    else:
        lines.append(f"### ❌ Registration failed for token {token}")
    if r.error is not None:
        fix = "" if r.status != "registered" else " The model is registered; only delivery failed."
        lines += ["", f"**{md(r.error.title)}** (exit {r.error.exit_code}): {md(r.error.message[:2000])}{fix}"]
    if r.metric is not None:
        lines += ["", *_metric_table(r.metric)]
    rows = [
        ("Model", f"{md(r.model_name)} v{md(r.model_version)}" if r.model_version else md(r.model_name or "")),
        ("Model URI", f"`{md(r.model_uri)}`" if r.model_uri else ""),
        ("MLflow run", " ".join(filter(None, [md(r.mlflow_run_id or ""), _link("open run", r.run_url)]))),
        ("Model version", _link("open version", r.version_url)),
        ("SHA-256", f"`{md(r.model_sha256)}`" if r.model_sha256 else ""),
        ("Mode", md(r.mode or "")),
    ]
    shown = [(k, v) for k, v in rows if v]
    if shown:
        lines += ["", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in shown]]
    if r.attestation is not None:
        lines += ["", *_attestation_lines(r)]
    if r.events:
        lines += ["", "| Event | Delivery | Attempts |", "|---|---|---|"]
        lines += [f"| {md(e.event_type)} | {md(e.delivery_status)} | {e.attempts} |" for e in r.events]
    text = "\n".join(lines) + "\n"
    return text[:SUMMARY_LIMIT]


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


def _metric_table(g: GateResult) -> list[str]:
    rel = "" if g.relative_delta is None else f" ({g.relative_delta:+.2%})"
    verdict = "✅ passed" if g.passed else "❌ below baseline"
    return [
        "| Metric | Value | Baseline | Better | Delta | Gate |",
        "|---|---|---|---|---|---|",
        f"| {md(g.name)} | {g.value:g} | {g.baseline:g} | {g.direction.value} | {g.delta:+g}{rel} | {verdict} |",
    ]


def run_action(env: Mapping[str, str] | None = None) -> int:
    """Run the Action. Returns the process exit code (the CLI's table)."""
    from hokusai_ci import app, presenters
    from hokusai_ci.settings import load_settings

    env = dict(os.environ if env is None else env)
    cancel_on_sigterm()
    for name in (*SECRETS.values(), Env.DB_PASSWORD, Env.MLFLOW_TRACKING_TOKEN, "MLFLOW_TRACKING_PASSWORD"):
        if env.get(name):
            add_mask(env[name])
    inputs = read_inputs(env)
    for name in SECRETS:
        if name in inputs:
            add_mask(inputs[name])
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
    result: RegistrationResult
    try:
        missing = [name for name in REQUIRED if name not in inputs]
        if missing:
            raise invalid_input(missing[0], "", f"input '{missing[0]}' is required: add it under `with:`")
        for name in PATH_INPUTS:
            if name in inputs and not os.path.isabs(inputs[name]):
                inputs[name] = str(workspace / inputs[name])
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
        app.configure_logging(settings.log_level)
        print("::group::Register model")
        try:
            result = app.register(
                settings,
                token_id=inputs["token-id"],
                model_path=inputs["model-path"],
                metric=inputs["metric"],
                baseline=inputs["baseline"],
                metric_value=inputs.get("metric-value"),
                metrics_file=inputs.get("metrics-file"),
                metric_key=inputs.get("metric-key"),
                direction=inputs.get("direction"),
                model_name=inputs.get("model-name"),
                dry_run=inputs.get("dry-run", "false"),
            )
        finally:
            print("::endgroup::")
    except HokusaiError as err:
        result = failed_result(err)
    except (KeyboardInterrupt, Cancelled) as exc:
        category = Category.TERMINATED if isinstance(exc, Cancelled) else Category.INTERRUPTED
        result = failed_result(HokusaiError(category, f"{category.title.lower()} before the registration started"))
    except Exception as exc:
        result = failed_result(internal_error(exc))
    result.token_id = result.token_id or inputs.get("token-id")
    if result.error is not None:
        print(f"::error title={property_escape(result.error.title)}::{command_escape(redact(result.error.message))}")
    text = presenters.registration_text(result)
    if text:
        print(text)
    _report(env, inputs, result)
    return result.exit_code


def _report(env: Mapping[str, str], inputs: Mapping[str, str], result: RegistrationResult) -> None:
    fields = {**output_fields(result), "result-json": json.dumps(result.model_dump(mode="json"), sort_keys=True)}
    if env.get("GITHUB_OUTPUT"):
        _write_outputs(env["GITHUB_OUTPUT"], {k: redact(v) for k, v in fields.items()})
    wants_summary = inputs.get("job-summary", "true").strip().lower() not in ("false", "0", "no")
    if wants_summary and env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(redact(summary_markdown(result)))
