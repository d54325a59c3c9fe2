"""The measured gate's evidence, stored with the model version it gated.

The predictions file (and the labels file, when separate) goes up as artifacts of the version's
run, next to `model/`, by the model's own route (the server's artifact proxy, S3 directly, a
local store, or MLflow's repositories), so a later run can compare a candidate with this version
on the same rows. Their digests are in the signed statement and the `hokusai.evidence_sha256`
tag; `model verify` re-hashes the stored files against the signed digests, and
`load_stored_evidence` hands them to a later comparison only when they still match.

Layout: `hokusai-evidence/<key>/predictions<suffix>` (and `labels<suffix>`), where `<key>` is
derived from the evidence digests. The folder is named by content, so a run that adopts a
version uploaded earlier reuses the evidence when it is the same (the `hokusai.evidence_uri`
tag, written once the files are stored, names the folder) and otherwise stores its own beside
it: a run that dies part-way never leaves a folder that claims content it does not hold. It is
a folder of its own, outside the signatures' `hokusai/`, so verifying a signature never
downloads gigabytes of evidence.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import ModelFile, sha256_of
from hokusai_ci.domain.measured.decision import MeasuredGate, evidence_sha256
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.tracking import Tag, TrackedModel, Tracker, VersionReader

log = logging.getLogger("hokusai_ci")
EVIDENCE_DIR = "hokusai-evidence"
ROLES = ("predictions", "labels")


def evidence_folder(digests: str) -> str:
    """The run-relative folder of the evidence whose digests are `digests` (the tag's value:
    "<predictions>" or "<predictions>,<labels>")."""
    return f"{EVIDENCE_DIR}/{hashlib.sha256(digests.encode()).hexdigest()[:16]}"


def evidence_sources(measured: MeasuredGate, files: tuple[Path, ...]) -> list[ModelSource]:
    """Each file to store, listed under its role's name (`predictions.csv`, `labels.npy`): the
    labels only when they are a file of their own content."""
    names = []
    for role, path in zip(ROLES, files, strict=False):
        if role == "labels" and measured.labels_sha256 == measured.predictions_sha256:
            continue
        size = path.stat().st_size
        names.append(ModelSource(path, False, (ModelFile(f"{role}{path.suffix.lower()}", size, source=str(path)),)))
    return names


def store_evidence(
    tracker: Tracker,
    tracked: TrackedModel,
    measured: MeasuredGate | None,
    files: tuple[Path, ...],
    progress: Callable[[str, int], ProgressSink],
) -> TrackedModel:
    """Store the evidence with the version (unless it holds the same already), then tag where.
    Before the token store commits: a failure fails the registration like a model upload, and
    the next run adopts the version and stores the evidence then."""
    if measured is None or not files:
        return tracked
    folder = evidence_folder(evidence_sha256(measured))
    if tracked.evidence_uri is not None and tracked.evidence_uri.endswith(f"/{folder}"):
        log.info("reusing the evidence stored earlier with this version: %s", tracked.evidence_uri)
        return tracked
    sources = evidence_sources(measured, files)
    total = sum(s.total_bytes for s in sources)
    uri, sent = tracker.store_evidence(tracked, folder, sources, progress("storing the evidence", total))
    expected = {measured.predictions_sha256, measured.labels_sha256}
    for source, f in zip(sources, sent, strict=True):
        if f.sha256 not in expected:
            raise HokusaiError(
                Category.INVALID_INPUT,
                f"{source.path} changed after it was measured (sha256 {f.sha256[:12]}… now): "
                "re-run once nothing writes to the evidence files; nothing was registered",
                field="predictions",
            )
    tracker.tag(tracked, {Tag.EVIDENCE_URI: uri})
    log.info("stored the evidence (%d file(s)) at %s", len(sent), uri)
    return tracked.model_copy(update={"evidence_uri": uri})


class EvidenceMismatch(Exception):
    """The stored evidence is missing or differs from the digests it was checked against."""


SIGNED = "the signed statement's evidence sha256"
TAGGED = f"the version's {Tag.EVIDENCE_SHA256} tag (an unsigned record: no signed statement was compared)"


def check_stored(folder: Path | None, digests: str, against: str = SIGNED) -> str:
    """The downloaded evidence folder against `digests`: every file one of them, every digest one
    file. `against` says where the digests came from (SIGNED: a verified statement's; TAGGED: the
    version's tag), so a mismatch names what was actually compared. Returns what was checked;
    raises EvidenceMismatch naming the file."""
    wanted = digests.split(",")
    if folder is None or not folder.is_dir():
        raise EvidenceMismatch(f"the evidence is missing: the version's run has no {evidence_folder(digests)}/")
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        found[rel] = sha256_of(path)
        if found[rel] not in wanted:
            raise EvidenceMismatch(f"evidence file {rel!r} (sha256 {found[rel][:12]}…) does not match {against}")
    missing = [d for d in dict.fromkeys(wanted) if d not in found.values()]
    if missing:
        raise EvidenceMismatch(f"no stored evidence file has the sha256 {missing[0][:12]}… of {against}")
    return f"{len(found)} evidence file(s) in {evidence_folder(digests)}/ match {against}"


@dataclass(frozen=True)
class StoredEvidence:
    """A version's evidence, downloaded and checked: the files a paired comparison reads."""

    predictions: Path
    labels: Path | None  # None: the predictions file holds the labels too
    evidence_sha256: str
    uri: str | None  # the folder in the artifact store


def load_stored_evidence(
    reader: VersionReader,
    name: str,
    version: str,
    dest: Path,
    expected: str | None = None,
    *,
    read: tuple[TrackedModel, dict[str, str]] | None = None,
) -> StoredEvidence:
    """Download the evidence stored with models:/name/version into `dest` and check it against
    `expected` (the digests of a verified statement) or, without it, the version's
    `hokusai.evidence_sha256` tag (`read`: the version and its tags when the caller read them
    already, so they are not asked for twice). HokusaiError: INVALID_INPUT when the version was
    not gated on measured evidence, VERIFICATION_FAILED when the stored files differ or are gone."""
    tracked, tags = read or reader.read_version(name, version)
    digests = expected or tags.get(Tag.EVIDENCE_SHA256)
    if not digests:
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"models:/{name}/{version} was not gated on measured evidence (no {Tag.EVIDENCE_SHA256} tag): "
            "only a version registered with --predictions has evidence to compare on",
            field="model-uri",
        )
    folder = evidence_folder(digests)
    got = reader.download(tracked, folder, str(dest))
    try:
        check_stored(Path(got) if got else None, digests, SIGNED if expected else TAGGED)
    except EvidenceMismatch as exc:
        raise HokusaiError(Category.VERIFICATION_FAILED, f"models:/{name}/{version}: {exc}") from None
    assert got is not None
    by_role = {p.stem: p for p in Path(got).iterdir() if p.stem in ROLES}
    return StoredEvidence(
        predictions=by_role["predictions"],
        labels=by_role.get("labels"),
        evidence_sha256=digests,
        uri=tags.get(Tag.EVIDENCE_URI),
    )
