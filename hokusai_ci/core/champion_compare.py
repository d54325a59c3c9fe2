"""A candidate against a registered version on the same evaluation rows (--compare-with).

The version's tags say whether it was gated on measured evidence, on which evaluation set (the
content digest `hokusai.evaluation_sha256`) and with which columns; only when that set is the
candidate's is its stored evidence downloaded (digest-checked by `load_stored_evidence`) and the
paired verdict computed. The comparison costs the version's tag read and the evidence download,
nothing else. Anything that rules a comparison out is a reason a person can act on: no stored
evidence (and how the version was registered), or another evaluation set (both digests).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hokusai_ci.core.inputs import RegistrationRequest, models_uri
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.measured.paired_gate import Columns, PairedGate, paired_verdict
from hokusai_ci.domain.measured.stored import load_stored_evidence
from hokusai_ci.ports.tracking import Tag, VersionReader


@dataclass(frozen=True)
class NotCompared:
    """Why a version cannot be compared with the candidate on the same rows."""

    reason: str


def compare_with_version(
    reader: VersionReader, name: str, version: str, request: RegistrationRequest
) -> PairedGate | NotCompared:
    """The paired verdict of the request's candidate against models:/name/version, or why there
    is none. HokusaiError when the version does not exist, its stored evidence differs from its
    digests (VERIFICATION_FAILED), or the files refuse to pair (INVALID_INPUT)."""
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
    if theirs != ours:
        return NotCompared(
            f"{uri} was measured on another evaluation set (evaluation sha256 {theirs}) than this candidate "
            f"({ours}); compare on the same rows, with the same labels and ids"
        )
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
            champion_columns=stored_columns(tags.get(Tag.EVIDENCE_COLUMNS)),
        )


def stored_columns(text: str | None) -> Columns:
    """The columns a version's evidence was read with (its `hokusai.evidence_columns` tag)."""
    try:
        named = json.loads(text or "{}")
    except ValueError:
        named = None
    if not isinstance(named, dict) or not all(isinstance(v, str) for v in named.values()):
        raise invalid_input("compare-with", text, f"the version's {Tag.EVIDENCE_COLUMNS} tag is not the columns' JSON")
    return Columns(named.get("score"), named.get("label"), named.get("id"))


def compare_request(request: RegistrationRequest, reader: Callable[[], VersionReader]) -> RegistrationRequest:
    """The request with its paired verdict when --compare-with was given; exit 2 naming why when
    the version cannot be compared on the same rows."""
    if request.compare_with is None:
        return request
    name, version = request.compare_with
    got = compare_with_version(reader(), name, version, request)
    if isinstance(got, NotCompared):
        raise HokusaiError(Category.INVALID_INPUT, got.reason, field="compare-with")
    return request.model_copy(update={"paired": got})
