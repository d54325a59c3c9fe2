"""Renderings of results for people (text) and machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from hokusai_ci.config.redaction import redact, redact_data
from hokusai_ci.config.validation import escape_bidi
from hokusai_ci.domain.measured.decision import MeasuredGate, basis_text, number, percent
from hokusai_ci.domain.metrics import GateResult
from hokusai_ci.domain.results import EventInfo, Outcome, RegistrationResult, TokenView, output_fields


def to_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any] | list[Any]) -> str:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        data = value
    else:
        data = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(redact_data(data), indent=2, ensure_ascii=False, allow_nan=False)


def result_json(result: BaseModel) -> str:
    """A command's result as `--output json` prints it. A registration or a verification that
    ran is the whole object; the other commands print what they return (`payload()`), and a
    failure adds `error` to what is still known, else `{"status": "error", "error": ...}`."""
    error = getattr(result, "error", None)
    if isinstance(result, Outcome):
        known = result.payload()
    elif error is not None and getattr(result, "checks", None) == []:  # a verification that never ran
        known = None
    else:
        return to_json(result)
    if error is None:
        return to_json(known)
    return to_json({**(known if isinstance(known, dict) else {"status": "error"}), "error": error.model_dump()})


def gate_line(g: GateResult) -> str:
    rel = "" if g.relative_delta is None else f" ({g.relative_delta:+.2%})"
    verdict = "passed" if g.passed else "FAILED"
    return (
        f"{g.name} {g.value:g} vs baseline {g.baseline:g} ({g.direction.value} is better): "
        f"delta {g.delta:+g}{rel}, {verdict}"
    )


def basis_line(g: MeasuredGate) -> str:
    """Value, bound and baseline on one line, and which of them the verdict used."""
    return f"{summary_line(g)} ({basis_text(g)}; {g.rows} rows)"


def summary_line(g: MeasuredGate) -> str:
    """ "auroc 0.8123 (95% lower bound 0.7990) vs baseline 0.80": what a reviewer reads at a glance."""
    bound = f"{percent(g.level)} {g.side} bound {number(g.bound)}"
    return f"{g.metric} {number(g.value)} ({bound}) vs baseline {g.baseline:g}"


def registration_text(r: RegistrationResult) -> str:
    lines: list[str] = []
    if r.status == "registered":
        reuse = " (reused the version uploaded earlier for this content)" if r.reused_existing_version else ""
        lines.append(f"Registered {r.model_name} version {r.model_version} for token {r.token_id}{reuse}")
    elif r.status == "dry_run":
        lines.append(f"Dry run for token {r.token_id}: {r.message}")
    elif r.status == "gate_only":
        lines.append(f"Gate passed for token {r.token_id} ({r.message})")
    else:
        return ""
    if r.simulated:
        lines[0] = "[simulated] " + lines[0] + " (mock mode: nothing was uploaded or sent)"
    if r.metric:
        lines.append(f"  metric   {gate_line(r.metric)}")
    if r.measured:
        lines.append(f"  basis    {basis_line(r.measured)}")
    if r.baseline_source:
        b = r.baseline_source
        where = (
            f"--baseline (no version holds alias {b.alias} yet)"
            if b.source == "flag"
            else f"{b.model_name} version {b.version} (alias {b.alias})"
        )
        lines.append(f"  baseline {b.value:g} from {where}")
    if r.alias:
        lines.append(f"  moved    {r.alias.get('message', '')}")
    if r.paired:
        lines.append(f"  paired   vs {r.compared_with}: {r.paired.verdict}")
    if r.not_paired:
        lines.append(f"  unpaired {r.not_paired}")
    if r.unpaired:
        lines.append(f"  unpaired vs {r.compared_with}: {r.unpaired.verdict}")
    if r.compared_with and r.decided_by:
        lines.append(f"  decided  {decided_text(r)}")
    if r.model_uri:
        lines.append(f"  model    {r.model_uri}")
    if r.model_sha256:
        lines.append(f"  sha256   {r.model_sha256} ({r.model_bytes} bytes)")
    if r.mlflow_run_id:
        lines.append(f"  run      {r.mlflow_run_id}" + (f"  {r.run_url}" if r.run_url else ""))
    if r.attestation:
        lines.append(f"  signed   {r.attestation.method}: statement sha256 {r.attestation.sha256}")
        lines.append(f"           {r.attestation.uri}")
        lines.append(f"  verify   {verify_command(r)}")
    if r.events:
        lines.append(f"  events   {_events_inline(r.events)}")
    return "\n".join(lines)


def decided_text(r: RegistrationResult) -> str:
    """Which verdict decided the gate, as a person reads it (output and job summary)."""
    if r.decided_by == "paired":
        return "by the paired verdict; the single-value figures are reported, not gated on"
    if r.unpaired is not None:
        return "by the single-value verdicts: against the baseline and against the compared version's value"
    return "by the single-value verdict against the baseline"


def verify_command(r: RegistrationResult) -> str:
    """How a deployer checks this registration (keyless: the workflow identity and issuer)."""
    who = (
        "--public-key YOUR_PUBLIC_KEY.pem"  # the signer's public key: its file name is not known here
        if r.attestation is None or r.attestation.method == "key"
        else "--identity WORKFLOW_IDENTITY --issuer https://token.actions.githubusercontent.com"
    )
    return f"hokusai model verify --model-uri {r.model_uri} {who}"


VERDICT_MARKS = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}


def verification_text(v: Any) -> str:
    """A `VerificationResult` for people: one line per check, then the verdict."""
    what = v.model_uri or "the local copy"
    lines = [f"Verify {what}" + (f" (token {v.token_id})" if v.token_id else "")]
    lines += [f"  {VERDICT_MARKS[c.verdict]}  {c.name:<22} {c.detail}" for c in v.checks]
    if v.verified:
        lines.append(f"Verified: {what} is what was signed (statement sha256 {v.attestation_sha256})")
        if v.platform_model_id:
            lines.append(f"Accepted by the Hokusai platform as model_id {v.platform_model_id}")
    return "\n".join(lines)


def error_text(title: str, message: str) -> str:
    return escape_bidi(redact(f"error: {title}: {message}"))


def status_text(t: TokenView) -> str:
    rows = [("token", t.token_id), ("status", t.status + (" [simulated]" if t.simulated else ""))]
    if t.status == "registering" and t.lease_expires_at:
        rows.append(("lease", f"held until {_when(t.lease_expires_at)}"))
    if t.model_name:
        rows.append(("model", f"{t.model_name} version {t.model_version}"))
        rows.append(("model uri", t.model_uri or "-"))
        rows.append(("run id", t.mlflow_run_id or "-"))
        rows.append(("sha256", t.model_sha256 or "-"))
    if t.metric:
        rows.append(("metric", gate_line(t.metric)))
    rows.append(("created", _when(t.created_at) if t.created_at else "not known here (only the Hokusai site knows)"))
    if t.registered_at:
        rows.append(("registered", _when(t.registered_at)))
    elif t.status == "registered":
        rows.append(("registered", "at a time not recorded"))
    for e in t.events or []:
        detail = f"{e.delivery_status}, {e.attempts} attempt(s)"
        if e.last_error:
            detail += f", last error: {e.last_error}"
        rows.append(("event", f"{e.event_type} {e.event_id}: {detail}"))
    for m in t.alias_moves or []:
        rows.append(("alias move", history_text([m])))
    width = max(len(k) for k, _ in rows)
    return redact("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))


def list_text(tokens: Sequence[TokenView]) -> str:
    if not tokens:
        return "no tokens match"
    header = ("TOKEN", "STATUS", "MODEL", "VERSION", "METRIC", "VALUE", "BASELINE", "REGISTERED")
    rows = [header] + [
        (
            t.token_id,
            t.status,
            t.model_name or "-",
            t.model_version or "-",
            t.metric.name if t.metric else "-",
            f"{t.metric.value:g}" if t.metric else "-",
            f"{t.metric.baseline:g}" if t.metric else "-",
            _when(t.registered_at) if t.registered_at else "-",
        )
        for t in tokens
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows)


def _events_inline(events: Sequence[EventInfo]) -> str:
    return ", ".join(f"{e.event_type}: {e.delivery_status}" for e in events)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def dotenv_lines(r: RegistrationResult) -> str:
    """`HOKUSAI_*=value` lines, one per output field, each value on a single line."""
    lines = []
    for name, value in output_fields(r).items():
        key = "HOKUSAI_" + name.upper().replace("-", "_")
        lines.append(f"{key}={' '.join(value.split())}")
    return redact("\n".join(lines) + "\n")


def write_dotenv(path: str, r: RegistrationResult) -> None:
    from pathlib import Path

    Path(path).write_text(dotenv_lines(r), encoding="utf-8")


def history_text(moves: list[Any], now: list[Any] | None = None, unread: str | None = None) -> str:
    """One line per alias move (`promotion.AliasMove`), oldest first; then, with `now`
    (`AliasNow`), each alias in MLflow beside the store, a disagreement said so; or, when MLflow
    could not be read (`unread`), a line saying so after the store's history."""
    lines = [] if moves else ["no alias moves recorded"]
    for m in moves:
        run = f" {m.run_url}" if m.run_url else ""
        commit = f" commit {m.commit[:12]}" if m.commit else ""
        lines.append(
            f"{m.moved_at:%Y-%m-%d %H:%M:%S} UTC  {m.alias}: {_held(m.from_version)} -> {_held(m.to_version)}  "
            f"({m.command}, token {m.token_id}{commit}{run})"
        )
    for n in now or []:
        same = " (the token store agrees)"
        differ = (
            f", the token store {_held(n.in_store)}: they disagree (the next promote or rollback of it says what to do)"
        )
        lines.append(f"now in MLflow: {n.alias} {_held(n.in_mlflow)}{same if n.agree else differ}")
    if unread:
        lines.append(f"now in MLflow: not read, the history above is the token store's alone ({unread})")
    return "\n".join(lines)


def _held(version: str | None) -> str:
    return f"version {version}" if version else "not set"
