"""What the measured gate holds in memory while it reads the evidence, per row.

The gate must stay within 400 MB at 10M rows in every input format (docs/benchmarks.md times
it); these tests pin the reading steps that set the peak, at a few million rows, in bytes a row
beyond the float64 columns themselves. numpy reports its arrays to tracemalloc, so the peak of
numpy's own allocations is measured exactly; pyarrow allocates outside it, so the memory it keeps
after a Parquet read is measured as resident memory in a fresh process.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hokusai_ci.domain.measured.evidence_io import evaluation_sha256, load_evidence
from hokusai_ci.domain.measured.paired_gate import _paired_rows, paired_verdict
from hokusai_ci.domain.metrics import resolve_metric
from tests.conftest import REPO

ROWS = 2_000_000
MIB = 1 << 20
SLICES = 16 * MIB  # the temporaries of the slices worked on at a time, the same at any size


def traced_peak(call: Callable[[], Any]) -> tuple[int, Any]:
    """(peak bytes numpy and Python allocated during the call beyond what was held before, result)."""
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start, result


def structured(rows: int, seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    table = np.empty(rows, dtype=[("p", "f8"), ("y", "i1")])
    table["y"] = rng.random(rows) < 0.3
    table["p"] = np.round(rng.random(rows), 6)
    return table


def test_the_evaluation_digest_reads_the_labels_in_place() -> None:
    """The digest of the labels hashes the float64 column's own buffer: no copy of the column
    (a copy was 8 bytes a row at the verdict's peak), and the digest is unchanged."""
    labels = (np.random.default_rng(3).random(ROWS) < 0.3).astype(np.float64)
    peak, digest = traced_peak(lambda: evaluation_sha256(labels, None))
    assert digest == hashlib.sha256(labels.astype("<f8").tobytes()).hexdigest()
    assert peak < MIB, f"hashing {ROWS:,} labels allocated {peak / MIB:.1f} MiB"


def test_npy_columns_are_read_a_block_of_rows_at_a_time(tmp_path: Path) -> None:
    """A structured .npy is not loaded whole beside its float64 columns (9 bytes a row more),
    and the columns read back exactly."""
    table = structured(ROWS, 4)
    np.save(tmp_path / "both.npy", table)
    peak, evidence = traced_peak(lambda: load_evidence(tmp_path / "both.npy", score_column="p", label_column="y"))
    assert np.array_equal(evidence.predictions, table["p"]) and np.array_equal(evidence.labels, table["y"])
    beyond = peak - evidence.predictions.nbytes - evidence.labels.nbytes
    assert beyond < ROWS * 2 + 4 * MIB, f"{beyond / ROWS:.1f} bytes a row beyond the two columns"


def test_a_big_endian_and_a_single_column_npy_read_back_exactly(tmp_path: Path) -> None:
    """The block reader converts whatever the file holds: big-endian fields, an (n, 1) array."""
    table = structured(300_001, 5).astype([("p", ">f8"), ("y", ">i2")])
    np.save(tmp_path / "big.npy", table)
    np.save(tmp_path / "column.npy", table["p"].reshape(-1, 1))
    both = load_evidence(tmp_path / "big.npy", score_column="p", label_column="y")
    alone = load_evidence(tmp_path / "column.npy", tmp_path / "big.npy", label_column="y")
    for evidence in (both, alone):
        assert np.array_equal(evidence.predictions, table["p"].astype(np.float64))
        assert np.array_equal(evidence.labels, table["y"].astype(np.float64))


def test_pyarrow_keeps_little_memory_after_a_parquet_read(tmp_path: Path) -> None:
    """pyarrow's allocator keeps freed memory for reuse; the reader hands it back once the
    columns are read (it kept 52 MiB at 2M rows, 83 MiB at 4M, on top of the verdict's arrays)."""
    table = structured(ROWS, 6)
    path = tmp_path / "both.parquet"
    pq.write_table(pa.table({"p": table["p"], "y": table["y"].astype(np.int8)}), path)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import pyarrow.parquet\n"
        "from hokusai_ci.domain.measured.evidence_io import load_evidence\n"
        "def rss():\n"
        "    return int([x for x in open('/proc/self/status') if x.startswith('VmRSS')][0].split()[1]) * 1024\n"
        "before = rss()\n"
        "e = load_evidence(Path(sys.argv[1]), score_column='p', label_column='y')\n"
        "print(rss() - before - e.predictions.nbytes - e.labels.nbytes)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True, check=True)
    kept = int(done.stdout)
    assert kept < 36 * MIB, f"{kept / MIB:.0f} MiB kept after reading {ROWS:,} rows of Parquet"


def test_the_paired_verdict_pairs_rows_in_order_without_copying_the_champion(tmp_path: Path) -> None:
    """Paired by row order, the champion's scores are used as read (no index array and no
    copies: 24 bytes a row), and its labels are let go once compared."""
    table = structured(ROWS, 7)
    np.save(tmp_path / "cand.npy", table)
    table["p"] = np.round(np.clip(table["p"] + np.random.default_rng(8).normal(0, 0.05, ROWS), 0, 1), 6)
    np.save(tmp_path / "champ.npy", table)
    cand, champ, columns = tmp_path / "cand.npy", tmp_path / "champ.npy", paired_columns()
    peak, rows = traced_peak(lambda: _paired_rows("auroc", cand, champ, None, columns, (None, columns), (None, None)))
    scores_c, scores_h, truth, _ = rows
    assert np.array_equal(scores_h, table["p"]) and np.array_equal(truth, table["y"])
    held = scores_c.nbytes + scores_h.nbytes + truth.nbytes
    # while the champion is read the candidate's two columns are held: the peak is 4 columns
    assert peak < held + ROWS * 12 + 4 * MIB, f"{(peak - held) / ROWS:.1f} bytes a row beyond the result"
    gate = paired_verdict(resolve_metric("auroc"), tmp_path / "cand.npy", tmp_path / "champ.npy", score_column="p")
    assert gate.rows == ROWS


def paired_columns() -> Any:
    from hokusai_ci.domain.measured.paired_gate import Columns

    return Columns("p", "y", None)


def distinct_scores(rows: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Scores as a model writes them, every one distinct (one tie group a row: the costliest
    case for the group arrays), a correlated second model, and the labels."""
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < 0.3
    scores = rng.normal(positive * 1.2, 1.0)
    return scores, scores + rng.normal(0, 0.3, rows), positive


def test_delong_holds_the_sort_and_8_bytes_a_tie_group() -> None:
    """The sort's order (8 bytes a row) and the tie groups' bounds and positives as int32 (8
    bytes a group); the labels in sorted order and the running count of positives are taken a
    slice at a time (all distinct, it held 33 bytes a row), and the value is what it was."""
    from hokusai_ci.domain.measured.intervals import auroc

    scores, _, positive = distinct_scores(ROWS, 9)
    peak, est = traced_peak(lambda: auroc(scores, positive, 0.95))
    assert peak < ROWS * 16 + SLICES, f"{peak / ROWS:.1f} bytes a row"
    # the figures the earlier implementation gave on these rows, to the bit
    assert (est.value, est.lower_bound, est.upper_bound) == (0.8016147609989568, 0.8010656637775638, 0.8021638582203497)


def test_paired_delong_holds_the_differences_and_one_sort_at_a_time() -> None:
    """Per row: the int32 differences (4 bytes) and one model's sort as int32 (4), with its tie
    groups' bounds and positives (8 bytes a group), or that sort as it comes, int64, at its cast
    (12); the champion's placements are subtracted in place (it held 53 bytes a row), and the
    estimate is what it was."""
    from hokusai_ci.domain.measured.paired import paired_auroc

    candidate, champion, positive = distinct_scores(ROWS, 10)
    peak, est = traced_peak(lambda: paired_auroc(candidate, champion, positive, 0.95))
    assert peak < ROWS * 17 + SLICES, f"{peak / ROWS:.1f} bytes a row"
    # the figures the earlier implementation gave on these rows, to the bit
    assert (est.candidate, est.champion) == (0.8020494699595024, 0.791782505499273)
    diff = est.difference
    assert (diff.value, diff.lower_bound, diff.upper_bound) == (
        0.010266964460229441,
        0.010089111848348912,
        0.010444817072109971,
    )
