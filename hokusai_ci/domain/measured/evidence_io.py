"""Reading the evidence: predictions and labels from CSV/TSV, `.npy` or Parquet, joined into two
aligned float arrays, with the files' SHA-256.

Text files are parsed by numpy's C reader (`loadtxt`, a few hundred ms per million rows); only
when it refuses a file does a slow Python pass read it again, to name the line, the column and
the value. Text is UTF-8 (a byte-order mark is fine) or UTF-16 with its mark; empty lines are
skipped; fields may be quoted with '"'. Ids are compared as text, exactly as written. Parquet
needs pyarrow, imported only when a Parquet file is given.

One file may hold both columns; two files are joined by the id column when one is named (every
id once in each file, the same ids in both), else by row order (then their lengths must match).
Whenever an id column is named, one file or two, an id that appears twice is refused.
Every refusal is an INVALID_INPUT error naming the file, the row or column and the fix; nothing
here writes anything.
The readers of each format are in tables.py; this module joins what they read.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hokusai_ci.domain.fingerprint import sha256_of
from hokusai_ci.domain.measured.quoting import row_order_hint
from hokusai_ci.domain.measured.table_base import FloatArray, Table, refuse, show
from hokusai_ci.domain.measured.tables import open_table

SCORE, LABEL = "score", "label"  # the columns read when none is named (docs/cli.md)
log = logging.getLogger("hokusai_ci")


@dataclass(frozen=True)
class Evidence:
    """Predictions and labels, aligned row by row, with where they came from."""

    predictions: FloatArray
    labels: FloatArray
    predictions_file: Path
    labels_file: Path
    predictions_sha256: str
    labels_sha256: str
    evaluation_sha256: str  # the rows' content (see evaluation_sha256), whatever the files' format
    score_column: str  # the columns read, as resolved ("" for an unnamed array)
    label_column: str

    @property
    def rows(self) -> int:
        return int(self.predictions.size)


def load_evidence(
    predictions: Path,
    labels: Path | None = None,
    *,
    score_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
) -> Evidence:
    """Read, check and align the evidence (one file with both columns when `labels` is None)."""
    pred_table = open_table(predictions, "predictions")
    if labels is None or labels.resolve() == predictions.resolve():
        if pred_table.names is None:
            raise refuse(f"{predictions.name} holds a single unnamed array; give the labels as a second file")
        score, label = pick_both(pred_table, score_column, label_column, id_column)
        scores, truth = pred_table.numbers([score, label])
        digest = sha256_of(predictions)
        ids = None
        if id_column is not None:
            ids = pred_table.ids(id_column)
            refuse_repeated_ids(pred_table, ids, id_column)
        evaluation = evaluation_sha256(truth, ids)
        return Evidence(scores, truth, predictions, predictions, digest, digest, evaluation, score, label)
    label_table = open_table(labels, "labels")
    score = pred_table.pick(score_column or _default(pred_table, SCORE), "score-column", exclude=(id_column,))
    label = label_table.pick(label_column or _default(label_table, LABEL), "label-column", exclude=(id_column,))
    (scores,) = pred_table.numbers([score])
    (truth,) = label_table.numbers([label])
    ids = None
    if id_column is not None:
        ids = pred_table.ids(id_column)
        truth = align_by_id(pred_table, label_table, id_column, truth, pred_ids=ids)
    elif hint := row_order_hint(predictions.name, _others(pred_table, score), labels.name, _others(label_table, label)):
        log.warning("%s", hint)
    if id_column is None and scores.size != truth.size:
        raise refuse(
            f"{predictions.name} has {scores.size} rows and {labels.name} has {truth.size}: joined by row order "
            "they must have the same length; fix the files or join them by an id column with --id-column",
            "labels",
        )
    digests = sha256_of(predictions), sha256_of(labels)
    return Evidence(scores, truth, predictions, labels, *digests, evaluation_sha256(truth, ids), score, label)


def pick_both(table: Table, score: str | None, label: str | None, id_column: str | None) -> tuple[str, str]:
    """The score and label columns of one file: each as named, else the column called `score`
    (`label`), else the one column left besides the other and the id column."""
    score = score or _default(table, SCORE)
    label = label or _default(table, LABEL)
    if score is None and label is not None:
        label = table.pick(label, "label-column", exclude=())
    score = table.pick(score, "score-column", exclude=(label, id_column))
    return score, table.pick(label, "label-column", exclude=(score, id_column))


def _others(table: Table, used: str) -> list[str] | None:
    return None if table.names is None else [n for n in table.names if n not in (used, SCORE, LABEL)]


def _default(table: Table, name: str) -> str | None:
    return name if table.names is not None and name in table.names else None


def evaluation_sha256(truth: FloatArray, ids: npt.NDArray[Any] | None) -> str:
    """SHA-256 of the evaluation set as content, whatever the files' format: the labels as
    little-endian float64 in row order; joined by id, the ids (UTF-8, one a line) then the labels,
    both in the order of the ids (so a shuffled file has the same digest). Recorded with a version
    gated on it, so a later comparison knows whether it measured the same rows."""
    digest = hashlib.sha256()
    if ids is not None:
        order = np.argsort(ids, kind="stable")
        for start in range(0, order.size, 1 << 18):  # a chunk of ids as text at a time, not all of them
            chunk = ids[order[start : start + (1 << 18)]].tolist()
            digest.update("".join(f"{i}\n" for i in chunk).encode())
        truth = truth[order]
    # the array's own buffer when it is already little-endian float64 (no copy of the column)
    digest.update(np.ascontiguousarray(truth, dtype="<f8").data)
    return digest.hexdigest()


SHOWN_ROWS = 5  # the rows of a repeated id a refusal names


def refuse_repeated_ids(table: Table, ids: npt.NDArray[Any], column: str) -> None:
    """Exit 2 unless each id appears once: the same rows written again would narrow the interval
    as if they were new evidence. Names the first id found again in file order and its data rows."""
    order = np.argsort(ids, kind="stable")
    ranked = ids[order]
    again = order[1:][ranked[1:] == ranked[:-1]]  # the rows whose id an earlier row has
    if not again.size:
        return
    first = ids[int(again.min())]
    rows = (np.flatnonzero(ids == first) + 1).tolist()
    shown = ", ".join(str(r) for r in rows[:SHOWN_ROWS]) + (
        f", ... ({len(rows)} rows in all)" if len(rows) > SHOWN_ROWS else ""
    )
    raise refuse(
        f"{table.path.name} column {column!r}: the id {show(first)} appears more than once (data rows {shown}); "
        "each id must appear once: measure on distinct rows",
        table.field,
    )


def align_by_id(
    preds: Table,
    labels: Table,
    id_column: str,
    truth: FloatArray,
    *,
    pred_ids: npt.NDArray[Any] | None = None,
    labels_id_column: str | None = None,
) -> FloatArray:
    """`truth` reordered to the predictions' rows, matched by id (`labels_id_column`: the other
    table's id column, when it is named otherwise)."""
    pred_ids = preds.ids(id_column) if pred_ids is None else pred_ids
    other_column = labels_id_column or id_column
    label_ids = labels.ids(other_column)
    refuse_repeated_ids(preds, pred_ids, id_column)
    refuse_repeated_ids(labels, label_ids, other_column)
    for table, ids, other, other_ids in ((labels, label_ids, preds, pred_ids), (preds, pred_ids, labels, label_ids)):
        missing = ~np.isin(other_ids, ids)
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise refuse(
                f"{other.path.name} data row {first + 1} has the id {show(other_ids[first])}, which "
                f"{table.path.name} does not have ({int(missing.sum())} ids missing in all); both files "
                "must hold the same ids",
                table.field,
            )
    pred_order, label_order = np.argsort(pred_ids, kind="stable"), np.argsort(label_ids, kind="stable")
    aligned = np.empty_like(truth)
    aligned[pred_order] = truth[label_order]
    return aligned
