"""Validation of what a user asks for, before anything is read from or written to a server."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hokusai_ci.config.validation import check_path_text, parse_number, refuse_control
from hokusai_ci.domain.attestation import BaselineSource
from hokusai_ci.domain.errors import invalid_input
from hokusai_ci.domain.fingerprint import PSEUDO_ROOTS, inside, list_model_files
from hokusai_ci.domain.measured.decision import MeasuredGate
from hokusai_ci.domain.measured.discovery import discover
from hokusai_ci.domain.measured.options import WITH_PREDICTIONS, check_sources, measure_options
from hokusai_ci.domain.measured.paired_gate import PairedGate
from hokusai_ci.domain.metrics import ALIASES, GateResult, MetricSpec, check_range, check_relative, gate, resolve_metric
from hokusai_ci.domain.metrics_file import key_in_metrics_file, read_metrics_file
from hokusai_ci.domain.results import RegistrationResult

# Identifiers are checked with fullmatch: `$` in re.match also matches before a final newline.
TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
METRIC_KEY = re.compile(r"[^.]{1,128}(?:\.[^.]{1,128}){0,31}")
MODEL_URI = re.compile(r"models:/([A-Za-z0-9][A-Za-z0-9._-]{0,127})/([0-9]{1,12})")
TRUE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class RegistrationRequest(BaseModel):
    """A validated `model register` request."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    token_id: str
    model_path: Path
    metric: MetricSpec
    metric_value: float
    baseline: float
    model_name: str
    dry_run: bool = False
    links_within: tuple[Path, ...] = ()
    metrics_file_sha256: str | None = None  # recorded in the signed statement
    measured: MeasuredGate | None = None  # set when the value was measured from --predictions
    baseline_source: BaselineSource | None = None  # --baseline-from: where the baseline came from
    evidence_files: tuple[Path, ...] = ()  # the predictions (and labels) files measured, stored with the version
    compare_with: tuple[str, str] | None = None  # --compare-with models:/NAME/VERSION: (name, version)
    paired: PairedGate | None = None  # the paired verdict against that version, once compared
    not_paired: str | None = None  # why that version was compared unpaired (no ids joined the rows)
    unpaired: MeasuredGate | None = None  # the candidate's verdict against that version's value, unpaired


def check_token_id(value: Any) -> str:
    if isinstance(value, str):
        refuse_control("token-id", value)
    if not isinstance(value, str) or not TOKEN_ID.fullmatch(value):
        raise invalid_input(
            "token-id",
            value,
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. XRAY)",
        )
    return value


def check_model_name(value: Any) -> str:
    if isinstance(value, str):
        refuse_control("model-name", value)
    if not isinstance(value, str) or not MODEL_NAME.fullmatch(value):
        raise invalid_input(
            "model-name", value, "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _path_text(field: str, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise invalid_input(field, value, "give the path of a file or directory")
    return value


def check_model_path(value: Any, links_within: tuple[Path, ...] = ()) -> Path:
    """The model file or folder, listed as it will be hashed and uploaded (see fingerprint)."""
    text = _path_text("model-path", value)
    path = check_path_text("model-path", text)
    try:
        path.stat()
    except FileNotFoundError:
        raise invalid_input(
            "model-path", text, "no such file or directory; check the path and working directory"
        ) from None
    except OSError as exc:
        raise invalid_input("model-path", text, f"cannot be read ({exc.strerror or exc})") from None
    files = list_model_files(path, links_within)
    if sum(f.size for f in files) == 0:
        what = "file is empty" if len(files) == 1 and not path.is_dir() else "directory holds no non-empty file"
        raise invalid_input("model-path", text, f"the {what}; point at the trained model")
    return path


def check_store_outside_model(model_path: Path, home: Path, home_is_used: bool) -> None:
    """HOKUSAI_HOME (the token database, the embedded MLflow store) is written during the run:
    inside the model folder it would be uploaded as part of the model, half-written."""
    if not model_path.is_dir() or not (home_is_used or home.exists()):
        return
    model, store = model_path.resolve(), home.resolve()
    if store == model or model in store.parents:
        raise invalid_input(
            "model-path",
            str(model_path),
            f"the folder holds hokusai-ci's own store {home} (HOKUSAI_HOME), which would be uploaded with "
            "the model; give the model's own folder, or set HOKUSAI_HOME to a folder outside it",
        )


def check_links_within(value: Any) -> tuple[Path, ...]:
    """The extra root that links in the model folder may resolve into: an existing folder."""
    if value is None or value == "":
        return ()
    text = _path_text("links-within", value)
    path = check_path_text("links-within", text)
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise invalid_input("links-within", text, f"cannot be read ({exc.strerror or exc})") from None
    if not is_dir:
        raise invalid_input("links-within", text, "give an existing folder the model's links point into")
    real = os.path.realpath(path)
    if real == "/" or any(inside(real, root) for root in PSEUDO_ROOTS):
        raise invalid_input("links-within", text, "name the folder that holds the link targets, not a system root")
    return (path,)


def check_compare_with(value: Any) -> tuple[str, str] | None:
    """--compare-with: a registered version, models:/NAME/VERSION (None when not given)."""
    if value is None:
        return None
    if isinstance(value, str):
        refuse_control("compare-with", value)
    match = MODEL_URI.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid_input(
            "compare-with",
            value,
            "use models:/NAME/VERSION of a version gated on the same rows, e.g. models:/hokusai-XRAY/1",
        )
    return match[1], match[2]


def parse_flag(field: str, value: Any) -> bool:
    """Strict boolean: True/False, or true/false/1/0/yes/no as text."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    word = str(value).strip(" \t").lower()  # spaces only: a line break is refused, not dropped
    if word not in TRUE_WORDS:
        raise invalid_input(field, value, "use true or false")
    return TRUE_WORDS[word]


def metric_names(typed: str, resolved: MetricSpec) -> tuple[str, ...]:
    """The names a metrics file may hold the metric under: as typed, canonical, its aliases."""
    aliases = [alias for alias, name in ALIASES.items() if name == resolved.name]
    return tuple(dict.fromkeys((typed.strip().lower(), resolved.name, *aliases)))


def build_request(
    *,
    token_id: Any,
    model_path: Any,
    metric: Any,
    baseline: Any,
    metric_value: Any = None,
    metrics_file: Any = None,
    metric_key: Any = None,
    direction: Any = None,
    model_name: Any = None,
    dry_run: Any = False,
    links_within: Any = None,
    predictions: Any = None,
    **measured_options: Any,
) -> RegistrationRequest:
    """Check every input in the order a user would fix them; the first problem is reported."""
    for field, value in (
        ("token-id", token_id),
        ("model-path", model_path),
        ("metric", metric),
        ("baseline", baseline),
    ):
        if value is None or value == "":
            raise invalid_input(field, value, f"--{field} is required")
    token = check_token_id(token_id)
    roots = check_links_within(links_within)
    path = check_model_path(model_path, roots)
    for field, text in (("metric", metric), ("direction", direction), ("metric-key", metric_key)):
        if isinstance(text, str):
            refuse_control(field, text)
    if not isinstance(metric, str) or len(metric) > 64:
        raise invalid_input("metric", metric, "give a metric name such as auroc")
    if direction is not None and not isinstance(direction, str):
        raise invalid_input("direction", direction, "use 'higher' or 'lower'")
    resolved: MetricSpec = resolve_metric(metric, direction)
    base = parse_number("baseline", baseline)
    check_range(resolved, "baseline", base)
    if model_name == "":  # typed empty: never silently the default name
        raise invalid_input("model-name", "", f"give a name, or leave --model-name out for hokusai-{token}")
    name = check_model_name(model_name) if model_name is not None else f"hokusai-{token}"
    metrics_sha: str | None = None  # the cheap checks above come before the evidence is measured
    unknown = set(measured_options) - set(WITH_PREDICTIONS)
    if unknown:
        raise TypeError(f"build_request() got unexpected keyword arguments {sorted(unknown)}")
    # the spec's own command names no evidence: it is looked for (a typed "" is refused below)
    if all(v is None for v in (metric_value, metrics_file, predictions)):
        names = metric_names(metric, resolved)
        found = discover(names, path, key=metric_key if isinstance(metric_key, str) and metric_key else None)
        metrics_file, predictions = found.metrics_file, found.predictions
        metric_key = found.metric_key or metric_key
        measured_options = {**found.options, **{k: v for k, v in measured_options.items() if v is not None}}
    check_sources(metric_value, metrics_file, predictions, measured_options)
    compare_with = check_compare_with(measured_options.get("compare_with"))
    given_value = metric_value not in (None, "")
    measured: MeasuredGate | None = None
    evidence_files: tuple[Path, ...] = ()
    if given_value:
        value = parse_number("metric-value", metric_value)
    elif predictions not in (None, ""):
        measured = measure_options(resolved, base, predictions, measured_options)
        value = measured.value
        labels = measured_options.get("labels")
        evidence_files = tuple(Path(str(p)).expanduser() for p in (predictions, labels) if p not in (None, ""))
    else:
        key = str(metric_key or metric)
        if not METRIC_KEY.fullmatch(key):
            raise invalid_input("metric-key", metric_key, "give a dotted path such as eval.auroc (no empty parts)")
        metrics_path = _path_text("metrics-file", metrics_file)
        if not metric_key:  # the metric's name as typed, its canonical name or an alias (`auc`)
            key = key_in_metrics_file(metrics_path, (key, *metric_names(metric, resolved)))
        value = read_metrics_file(metrics_path, key)
        metrics_sha = hashlib.sha256(Path(metrics_path).expanduser().read_bytes()).hexdigest()
    check_range(resolved, "metric-value", value)
    check_relative(gate(resolved, value, base))  # derived numbers (delta, ratio) must be finite too
    return RegistrationRequest(
        token_id=token,
        model_path=path,
        metric=resolved,
        metric_value=value,
        baseline=base,
        model_name=name,
        dry_run=parse_flag("dry-run", dry_run),
        links_within=roots,
        metrics_file_sha256=metrics_sha,
        measured=measured,
        evidence_files=evidence_files,
        compare_with=compare_with,
    )


Decided = Literal["single-value", "paired"]


def decided_by(req: RegistrationRequest) -> Decided:
    """Which verdict decides: the paired one whenever a paired comparison was made (it asks
    whether the candidate beats that version on the same rows, more sharply than a bound against
    one value can), else the single-value one(s): the value, or its bound, against the baseline
    (and against the compared version's value when it was compared unpaired)."""
    return "paired" if req.paired is not None else "single-value"


def champion_baseline(req: RegistrationRequest) -> bool:
    """The baseline is a champion's value (`--baseline-from` found a version): an equal
    candidate is no improvement, so the point rule needs it strictly better."""
    return req.baseline_source is not None and req.baseline_source.source == "alias"


def record_verdict(result: RegistrationResult, req: RegistrationRequest) -> GateResult:
    """The verdict into the result, with what it was measured and compared with and which
    verdict decides: `model register` and `model gate` report it the same way."""
    result.metric = outcome = request_gate(req)
    result.measured, result.paired, result.baseline_source = req.measured, req.paired, req.baseline_source
    result.not_paired, result.unpaired, result.decided_by = req.not_paired, req.unpaired, decided_by(req)
    result.compared_with = models_uri(req.compare_with) or None
    return outcome


def request_gate(req: RegistrationRequest) -> GateResult:
    """The gate of a request: the value against the baseline, and passed as the deciding verdict
    says (decided_by): the paired verdict when one was made; else, when the value was measured,
    the measured verdict (by default its confidence bound) and the unpaired one against the
    compared version; else the value against the baseline (strictly beyond a champion's)."""
    outcome = gate(req.metric, req.metric_value, req.baseline)
    if req.paired is not None:
        passed = req.paired.passed
    elif req.measured is not None:
        passed = req.measured.passed and (req.unpaired is None or req.unpaired.passed)
    elif champion_baseline(req):
        passed = outcome.improvement > 0
    else:
        return outcome
    return outcome.model_copy(update={"passed": passed})


def measured_refusal(req: RegistrationRequest) -> str:
    """Why a measured request did not pass: the deciding verdict that failed (the paired one
    when a paired comparison was made; else the verdict against the baseline and the unpaired
    one against the compared version, whichever failed)."""
    assert req.measured is not None
    uri = models_uri(req.compare_with)
    if req.paired is not None:
        return f"against {uri}, {req.paired.verdict} (the paired verdict decides)"
    said = [] if req.measured.passed else [req.measured.verdict]
    if req.unpaired is not None and not req.unpaired.passed:
        said.append(f"against {uri} (unpaired), {req.unpaired.verdict}")
    return "; ".join(said)


def value_refusal(req: RegistrationRequest, outcome: GateResult) -> str:
    """Why a given value did not pass: below the baseline, or equal to a champion's value."""
    said = f"{outcome.name} {outcome.value:g} does not meet the baseline {outcome.baseline:g}"
    if champion_baseline(req) and outcome.improvement == 0:
        b = req.baseline_source
        assert b is not None
        said = (
            f"{outcome.name} {outcome.value:g} equals the baseline {outcome.baseline:g} of {b.model_name} version "
            f"{b.version} (alias {b.alias}): a candidate must beat the champion, an equal value is no improvement"
        )
    return said


def models_uri(version: tuple[str, str] | None) -> str:
    return "" if version is None else f"models:/{version[0]}/{version[1]}"
