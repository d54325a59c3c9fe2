"""The paired verdict: does the candidate beat the champion on the same evaluation rows?

A fixed baseline drifts from what is deployed, and comparing two separately measured values
adds both models' noise. When the champion's predictions for the same rows are at hand, the
difference candidate - champion is measured row by row (paired.py) and the candidate passes
only when the one-sided bound of that difference beats 0 (or a margin) in the metric's
direction: the lower bound above +margin for higher-is-better metrics, the upper bound below
-margin for lower-is-better ones. At equality neither the bound nor, by the point rule, the
difference beats it: a candidate equal to the champion is no improvement.

The champion's predictions file has the candidate's format: with one file holding scores and
labels, the champion's file holds both too, and its labels must equal the candidate's row by
row; with a separate labels file, both predictions files are joined to it. Rows are paired by
the id column when one is named (the same ids in both files, each once), else by row order (then
the lengths must match: the caller vouches that the files hold the same rows, as a registration
does only when both were joined by ids; see champion_compare). Every refusal is exit 2 naming
the file and the row, before anything is written. The result model is importable without
numpy; numpy runs in `paired_verdict` only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured import DEFAULT_CONFIDENCE, DEFAULT_SEED, _check_settings, implementation, require_numpy
from hokusai_ci.domain.measured.decision import Decision, decide, number
from hokusai_ci.domain.metrics import Direction, MetricSpec

PAIRED_VERSION = "1"  # bump when a paired difference or interval from the same inputs could change


class Columns(NamedTuple):
    """The columns one model's evidence is read with (None: the default choice)."""

    score: str | None = None
    label: str | None = None
    id: str | None = None

    def named(self) -> dict[str, str | None]:
        return {"score_column": self.score, "label_column": self.label, "id_column": self.id}


class PairedGate(BaseModel):
    """The candidate and the champion measured on the same rows, the difference, and the verdict."""

    metric: str
    direction: Direction
    candidate_value: float
    champion_value: float
    difference: float  # candidate - champion
    bound: float  # one-sided bound of the difference at `level`, on the side `side`
    interval: tuple[float, float]  # two-sided at `level`
    margin: float  # the improvement the bound must beat (0: any)
    method: str
    level: float
    side: Literal["lower", "upper"]
    decision: Decision
    passed: bool
    rows: int
    positives: int | None  # binary metrics only
    threshold: float | None  # the candidate's
    champion_threshold: float | None = None  # the one the champion was measured with
    candidate_sha256: str
    champion_sha256: str
    labels_sha256: str  # the labels file's; the candidate file's when it holds the labels
    evaluation_sha256: str  # the rows' labels (and ids when joined by id), whatever the file format
    seed: int
    implementation: str
    verdict: str


def paired_verdict(
    metric: MetricSpec,
    candidate: Path,
    champion: Path,
    labels: Path | None = None,
    *,
    score_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    threshold: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    margin: float = 0.0,
    decision: Decision = "lower-bound",
    seed: int = DEFAULT_SEED,
    champion_labels: Path | None = None,
    champion_columns: Columns | None = None,
    champion_threshold: float | Literal["same"] | None = "same",
) -> PairedGate:
    """Read both models' predictions for the same rows, measure candidate - champion, and decide.
    `candidate` and `champion` are predictions files in the same format (`labels` None: each holds
    the score and label columns). A champion kept with its own evidence (stored with its version)
    is read on its own: given `champion_columns` (the columns it was gated with), the champion
    file is read with `champion_labels` (None: it holds its labels), not the candidate's, and
    for a threshold metric scored at `champion_threshold` (the threshold it was measured with;
    None: its scores are 0/1), not the candidate's; "same" (two files given together): the
    candidate's threshold. Raises HokusaiError(INVALID_INPUT) for any refused input."""
    _check_settings(confidence, decision, seed)
    if not (math.isfinite(margin) and margin >= 0):
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"margin={margin!r} is invalid: give the improvement required, 0 or more, in the metric's units",
            field="margin",
        )
    require_numpy()
    from hokusai_ci.domain.measured.paired import paired_estimate

    columns = Columns(score_column, label_column, id_column)
    theirs = (labels, columns) if champion_columns is None else (champion_labels, champion_columns)
    their_threshold = threshold if champion_threshold == "same" else champion_threshold
    read = _paired_rows(metric.name, candidate, champion, labels, columns, theirs, (threshold, their_threshold))
    scores_c, scores_h, truth, digests = read
    del read  # the float labels go once the binary ones are made below
    positives = None
    if metric.name in ("auroc", "accuracy", "precision", "recall", "f1"):
        positives = int((truth == 1).sum())
        truth = truth == 1
    est = paired_estimate(
        metric.name,
        scores_c,
        scores_h,
        truth,
        level=confidence,
        seed=seed,
        threshold=threshold,
        champion_threshold=their_threshold,
    )
    diff = est.difference
    target = margin if metric.direction is Direction.HIGHER else -margin
    passed, bound, side = decide(
        metric,
        target,
        value=diff.value,
        lower_bound=diff.lower_bound,
        upper_bound=diff.upper_bound,
        decision=decision,
        strict=True,  # an equal candidate is no improvement over the champion, by either rule
    )
    result = PairedGate(
        metric=metric.name,
        direction=metric.direction,
        candidate_value=est.candidate,
        champion_value=est.champion,
        difference=diff.value,
        bound=bound,
        interval=(diff.low, diff.high),
        margin=margin,
        method=diff.method,
        level=confidence,
        side=side,
        decision=decision,
        passed=passed,
        rows=int(scores_c.size),
        positives=positives,
        threshold=threshold,
        champion_threshold=their_threshold,
        candidate_sha256=digests[0],
        champion_sha256=digests[1],
        labels_sha256=digests[2],
        evaluation_sha256=digests[3],
        seed=seed,
        implementation=f"{implementation()} paired/{PAIRED_VERSION}",
        verdict="",
    )
    result.verdict = paired_sentence(result)
    return result


def _paired_rows(
    metric: str,
    candidate: Path,
    champion: Path,
    labels: Path | None,
    columns: Columns,
    theirs: tuple[Path | None, Columns],
    thresholds: tuple[float | None, float | None],
) -> tuple[Any, Any, Any, tuple[str, str, str, str]]:
    """(candidate scores, champion scores, labels) aligned to the candidate's rows, and the
    digests (candidate file, champion file, labels, evaluation set). Each model's evidence is
    checked in its own file's row order, so a refusal names the right row."""
    import numpy as np

    from hokusai_ci.domain.measured.evidence_io import align_by_id, load_evidence
    from hokusai_ci.domain.measured.refusals import check_evidence
    from hokusai_ci.domain.measured.table_base import refuse
    from hokusai_ci.domain.measured.tables import open_table

    id_column, (champion_labels, champion_columns) = columns.id, theirs
    cand = load_evidence(candidate, labels, **columns.named())
    check_evidence(metric, cand, thresholds[0])
    champ = load_evidence(champion, champion_labels, **champion_columns.named())
    check_evidence(metric, champ, thresholds[1])
    champion_sha256 = champ.predictions_sha256
    ids = None
    if id_column is not None:
        cand_table, champ_table = open_table(candidate, "predictions"), open_table(champion, "champion")
        index = align_by_id(
            cand_table,
            champ_table,
            id_column,
            np.arange(champ.rows, dtype=np.float64),
            labels_id_column=champion_columns.id,
        )
        where = index.astype(np.int64)  # the champion's row for each candidate row
        ids = cand_table.ids(id_column)
    elif cand.rows != champ.rows:
        raise refuse(
            f"{candidate.name} has {cand.rows} rows and {champion.name} has {champ.rows}: paired by row order "
            "they must be the same rows; compare on the same evaluation set, or pair them by an id column "
            "with --id-column",
            "champion",
        )
    else:
        where = None  # the same rows in the same order: the champion's columns as they are, no copy
    scores_h = champ.predictions if where is None else champ.predictions[where]
    labels_h = champ.labels if where is None else champ.labels[where]
    del champ  # its labels are only compared, so they go once checked
    differ = np.flatnonzero(labels_h != cand.labels)
    if differ.size:
        i = int(differ[0])
        named = "" if ids is None else f" (id {str(ids[i])!r})"
        row_h = i + 1 if where is None else int(where[i]) + 1
        count = "1 row differs" if differ.size == 1 else f"{differ.size} rows differ"
        hint = "" if ids is not None else ", or pair the rows by an id column with --id-column"
        raise refuse(
            f"{champion.name} data row {row_h}{named} has the label {float(labels_h[i])!r} where "
            f"{candidate.name} data row {i + 1} has {float(cand.labels[i])!r} ({count}): the two models must be "
            f"measured on the same labels; compare on the same evaluation set{hint}",
            "champion",
        )
    del labels_h, differ
    digests = (cand.predictions_sha256, champion_sha256, cand.labels_sha256, cand.evaluation_sha256)
    return cand.predictions, scores_h, cand.labels, digests


def paired_sentence(gate: PairedGate) -> str:
    """One sentence: both values, the difference and its bound, the method, the rows, the verdict."""
    level = f"{gate.level * 100:g}%"
    target = gate.margin if gate.direction is Direction.HIGHER else -gate.margin
    shown = (
        f"{gate.metric}: candidate {number(gate.candidate_value)} - champion {number(gate.champion_value)} "
        f"= {signed(gate.difference)} ({level} {gate.side} bound {signed(gate.bound)}; {short(gate.method)}, "
        f"{gate.rows:,} rows)"
    )
    above = "above" if gate.direction is Direction.HIGHER else "below"
    against = "0" if target == 0 else f"the margin {signed(target)}"
    if gate.decision == "point":
        return f"{shown} {'beats' if gate.passed else 'does not beat'} {against} by the point rule"
    return f"{shown} is {'' if gate.passed else 'not '}confidently {above} {against}"


def signed(x: float) -> str:
    return "0" if x == 0 else ("+" if x > 0 else "-") + number(abs(x))


def short(method: str) -> str:
    """The method's name without its details in parentheses or after a comma."""
    return method.split(" (")[0].split(",")[0]
