"""What the Action reports: step outputs, the job summary (Markdown) and the escaping that keeps
a user's text from becoming a workflow command, a link or HTML there."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Callable, Mapping

from hokusai_ci.config.redaction import redact, redact_data
from hokusai_ci.config.validation import escape_bidi
from hokusai_ci.core.gate import GATE_ONLY_MODE, NOT_CHECKED
from hokusai_ci.domain.attestation import BaselineSource
from hokusai_ci.domain.errors import Category
from hokusai_ci.domain.measured.decision import basis_text
from hokusai_ci.domain.metrics import GateResult
from hokusai_ci.domain.results import AliasMoveOutcome, RegistrationResult, output_fields
from hokusai_ci.faces.presenters import decided_text, result_json, summary_line

SUMMARY_LIMIT = 64 * 1024  # GitHub allows 1 MiB per step; a registration never needs more


def command_escape(text: str) -> str:
    """Workflow command data escaping (%, CR, LF), so a message cannot inject commands."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def log_escape(text: str) -> str:
    """A plain log line: line breaks escaped (a message cannot start a `::command::` line) and
    the legacy `##[command]` prefix (which the runner finds anywhere in a line) broken. Nothing
    more: the runner shows plain lines as printed, so `%` stays `%` (3.66%, not 3.66%25)."""
    return escape_bidi(text.replace("\r", "%0D").replace("\n", "%0A").replace("##[", "##%5B"))


def property_escape(text: str) -> str:
    return command_escape(text).replace(":", "%3A").replace(",", "%2C")


MD_SPECIAL = set("\\`*_{}[]()#+-.!|~")


def md(text: object) -> str:
    """Escape a user-supplied string for the Markdown summary: no HTML, links or formatting."""
    flat = " ".join(escape_bidi(str(text)).split())
    return "".join(html.escape(c, quote=False) if c in "<>&" else "\\" + c if c in MD_SPECIAL else c for c in flat)


def code_span(text: object) -> str:
    """A literal code span for a table cell. CommonMark keeps backslashes inside code spans, so
    nothing is escaped: the fence is one backtick longer than any run in the value, and only the
    table's own `|` is escaped (GFM removes that backslash before the span is read)."""
    flat = " ".join(escape_bidi(str(text)).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat.replace('|', chr(92) + '|')}{pad}{fence}"


def error_command(title: str, message: str) -> str:
    """`::error title=…::message`, both escaped and redacted."""
    return f"::error title={property_escape(title)}::{command_escape(escape_bidi(redact(message)))}"


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
    if r.paired is not None:
        lines += ["", f"Paired against {code_span(r.compared_with or '')}: **{md(r.paired.verdict)}**"]
    if r.not_paired is not None:
        lines += ["", f"Not paired: {md(r.not_paired)}"]
    if r.unpaired is not None:
        lines += ["", f"Unpaired against {code_span(r.compared_with or '')}: **{md(r.unpaired.verdict)}**"]
    if r.compared_with and r.decided_by:
        lines += ["", f"Decided {decided_text(r)}."]  # our own words: nothing to escape
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
    from hokusai_ci.faces.presenters import verify_command

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


def report(env: Mapping[str, str], result: RegistrationResult, wants_summary: bool) -> None:
    """Outputs and job summary. A file that fails now (a full disk) is one error line; the
    registration's exit code stands."""
    data = redact_data(result.model_dump(mode="json"))
    fields = {**output_fields(result), "result-json": json.dumps(data, sort_keys=True, allow_nan=False)}
    _write_reports(env, fields, summary_markdown(result), wants_summary)


def _write_reports(env: Mapping[str, str], fields: Mapping[str, str], summary: str, wants_summary: bool) -> None:
    writers: dict[str, Callable[[str], None]] = {
        "GITHUB_OUTPUT": lambda path: _write_outputs(path, {k: redact(v) for k, v in fields.items()}),
        "GITHUB_STEP_SUMMARY": lambda path: _append(path, redact(summary)),
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


def move_report(env: Mapping[str, str], command: str, outcome: AliasMoveOutcome, wants_summary: bool) -> None:
    """The Action's outputs and summary line for `command: promote` or `rollback`."""
    move, error = outcome.move, outcome.error
    fields = {
        "status": move.status if move is not None else "error",
        "token-id": move.token_id if move else "",
        "model-name": move.model_name if move else "",
        "model-version": move.to_version if move else "",
        "alias": move.alias if move else "",
        "previous-version": (move.from_version or "") if move else "",
        "error-category": error.category if error else "",
        "result-json": result_json(outcome),
    }
    if move is not None and move.status == "unchanged":  # its message: since when, or moved meanwhile
        summary = f"### ✅ {md(command.capitalize())}: nothing was moved\n\n{md(move.message)}\n"
    elif move is not None:
        was = f"version {md(move.from_version)}" if move.from_version else "not set"
        head = f"### ✅ {md(command.capitalize())}: alias {md(move.alias)} of {md(move.model_name)} moved from {was} "
        summary = f"{head}to version {md(move.to_version)}\n"
    else:
        assert error is not None
        summary = f"### ❌ {md(command.capitalize())} refused\n\n**{md(error.title)}** (exit {error.exit_code}): "
        summary += f"{md(error.message[:2000])}\n"
    _write_reports(env, fields, summary, wants_summary)
