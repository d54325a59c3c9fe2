"""A candidate against a registered version on the same evaluation rows (--compare-with).

The version's tags say whether it was gated on measured evidence, on which evaluation set (the
content digest `hokusai.evaluation_sha256`) and with which columns; only when that set is the
candidate's is its stored evidence downloaded (digest-checked by `load_stored_evidence`) and the
paired verdict computed. The comparison costs the version's tag read and the evidence download,
nothing else. Anything that rules a comparison out is a reason a person can act on: no stored
evidence (and how the version was registered), or another evaluation set (both digests).

Rows are paired only when both sides were joined by ids (`--id-column`: the ids are in both
digests, so equal digests mean the same ids with the same labels). Without ids the digest is
the labels in row order: equal digests then prove the same number of rows and the same label
sequence, not the same rows (another set with the same labels has it too), so the candidate is
not paired with the version but compared unpaired, and the output says why (`NotPaired`).

For a threshold metric (accuracy, precision, recall, f1) the version's scores become predictions
at the threshold it was measured with (recorded in `hokusai.evidence_columns`), never at the
candidate's: the same predictions at another threshold would read as another model. A version
that recorded none is not paired: no threshold is guessed.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hokusai_ci.core.inputs import RegistrationRequest, models_uri
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.measured.decision import THRESHOLD_METRICS, rejudge
from hokusai_ci.domain.measured.paired_gate import Columns, PairedGate, paired_verdict
from hokusai_ci.domain.measured.stored import load_stored_evidence
from hokusai_ci.ports.tracking import Tag, VersionReader


@dataclass(frozen=True)
class NotCompared:
    """Why a version cannot be compared with the candidate on the same rows."""

    reason: str


@dataclass(frozen=True)
class NotPaired:
    """A version measured on an evaluation set with the candidate's digest, but not joined by ids:
    compared unpaired, against its recorded value (`value`), for the reason given."""

    reason: str
    value: float | None


def not_paired_reason(uri: str, candidate_ids: bool) -> str:
    """One line naming --id-column: why the rows were not paired."""
    who = "the version" if candidate_ids else "this candidate"
    return (
        f"not paired with {uri}: {who} was measured without --id-column, so the evaluation digest is only the "
        "labels in row order (another evaluation set with the same label sequence has it too); compared unpaired. "
        "Join the rows by ids with --id-column on both registrations to pair them"
    )


def compare_with_version(
    reader: VersionReader, name: str, version: str, request: RegistrationRequest
) -> PairedGate | NotCompared | NotPaired:
    """The paired verdict of the request's candidate against models:/name/version, or why there
    is none (NotPaired: comparable, unpaired). HokusaiError when the version does not exist, its
    stored evidence differs from its digests (VERIFICATION_FAILED), or the files refuse to pair
    (INVALID_INPUT)."""
    measured = request.measured
    assert measured is not None and request.evidence_files, "a comparison needs measured evidence"
    uri = models_uri((name, version))
    read = reader.read_version(name, version)
    tags = read[1]
    theirs, ours = tags.get(Tag.EVALUATION_SHA256), measured.evaluation_sha256
    if not tags.get(Tag.EVIDENCE_SHA256) or not tags.get(Tag.EVIDENCE_URI):
        how = tags.get(Tag.METRIC_BASIS) or "given-value"
        what = "its evidence was not stored" if tags.get(Tag.EVIDENCE_SHA256) else "it holds no evidence"
        return NotCompared(
            f"{uri} has no stored evidence to compare on ({what}; registered with the basis {how}): "
            "only a version registered with --predictions keeps its predictions"
        )
    if theirs is None:
        return NotCompared(
            f"{uri} records no evaluation digest ({Tag.EVALUATION_SHA256}; registered by an earlier hokusai-ci), "
            f"so its rows cannot be matched with this evaluation set (evaluation sha256 {ours})"
        )
    columns = stored_columns(tags.get(Tag.EVIDENCE_COLUMNS))
    ids_ours, ids_theirs = measured.id_column is not None, columns.id is not None
    if theirs != ours:
        joined = (
            ""
            if ids_ours == ids_theirs
            else f" ({'this candidate' if ids_ours else 'the version'} was joined by --id-column and "
            f"{'the version' if ids_ours else 'this candidate'} was not, so the digests cannot match)"
        )
        return NotCompared(
            f"{uri} was measured on another evaluation set (evaluation sha256 {theirs}) than this candidate "
            f"({ours}){joined}; compare on the same rows, with the same labels and ids"
        )
    if not (ids_ours and ids_theirs):
        return NotPaired(not_paired_reason(uri, ids_ours), recorded_value(tags.get(Tag.METRIC_VALUE)))
    their_threshold = stored_threshold(tags.get(Tag.EVIDENCE_COLUMNS), request.metric.name)
    if isinstance(their_threshold, Unrecorded):
        reason = (
            f"not paired with {uri}: its {Tag.EVIDENCE_COLUMNS} tag records no threshold (registered by an earlier "
            f"hokusai-ci), so its stored scores cannot be turned into the {request.metric.name} predictions it was "
            "measured with, and no threshold is guessed; compared unpaired"
        )
        return NotPaired(reason, recorded_value(tags.get(Tag.METRIC_VALUE)))
    with tempfile.TemporaryDirectory(prefix="hokusai-compare-") as tmp:
        stored = load_stored_evidence(reader, name, version, Path(tmp), read=read)
        labels = request.evidence_files[1] if len(request.evidence_files) > 1 else None
        return paired_verdict(
            request.metric,
            request.evidence_files[0],
            stored.predictions,
            labels,
            score_column=measured.score_column,
            label_column=measured.label_column,
            id_column=measured.id_column,
            threshold=measured.threshold,
            confidence=measured.level,
            decision=measured.decision,
            seed=measured.seed,
            champion_labels=stored.labels,
            champion_columns=columns,
            champion_threshold=their_threshold,
        )


def recorded_value(text: str | None) -> float | None:
    """A version's `hokusai.metric_value` tag as a number (None: missing or not a number)."""
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def stored_columns(text: str | None) -> Columns:
    """The columns a version's evidence was read with (its `hokusai.evidence_columns` tag)."""
    try:
        named = json.loads(text or "{}")
    except ValueError:
        named = None
    if not isinstance(named, dict) or not all(isinstance(v, str) for v in named.values()):
        raise invalid_input("compare-with", text, f"the version's {Tag.EVIDENCE_COLUMNS} tag is not the columns' JSON")
    return Columns(named.get("score"), named.get("label"), named.get("id"))


class Unrecorded:
    """A threshold metric's version that did not record the threshold it was measured with."""


def stored_threshold(text: str | None, metric: str) -> float | Unrecorded | None:
    """The threshold a version's scores were measured at, from its `hokusai.evidence_columns` tag
    (None: its scores were 0/1 predictions, or the metric takes no threshold)."""
    if metric not in THRESHOLD_METRICS:
        return None
    try:
        named = json.loads(text or "{}")
    except ValueError:
        named = None
    value = named.get("threshold") if isinstance(named, dict) else None
    if value is None:
        return Unrecorded()
    if value == "none":
        return None
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        threshold = math.nan
    if not 0.0 <= threshold <= 1.0:
        raise invalid_input("compare-with", text, f"the version's {Tag.EVIDENCE_COLUMNS} tag holds no valid threshold")
    return threshold


def compare_request(request: RegistrationRequest, reader: Callable[[], VersionReader]) -> RegistrationRequest:
    """The request with its paired verdict when --compare-with was given (or --baseline-from
    named a version that kept its evidence); exit 2 naming why when the version cannot be
    compared. Not joined by ids: no paired verdict, the reason, and, when the version is not the
    baseline already, the candidate's own verdict against the version's value (`unpaired`)."""
    if request.compare_with is None:
        return request
    name, version = request.compare_with
    got = compare_with_version(reader(), name, version, request)
    if isinstance(got, NotCompared):
        raise HokusaiError(Category.INVALID_INPUT, got.reason, field="compare-with")
    if isinstance(got, PairedGate):
        return request.model_copy(update={"paired": got})
    source, measured = request.baseline_source, request.measured
    assert measured is not None
    update: dict[str, object] = {"not_paired": got.reason}
    if source is None or source.source != "alias" or (source.model_name, source.version) != (name, version):
        if got.value is None:
            raise HokusaiError(
                Category.INVALID_INPUT,
                f"{got.reason}; and {models_uri(request.compare_with)} records no {Tag.METRIC_VALUE} to compare with",
                field="compare-with",
            )
        update["unpaired"] = rejudge(measured, got.value, strict=True)
    return request.model_copy(update=update)
