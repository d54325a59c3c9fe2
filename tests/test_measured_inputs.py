"""Reading predictions and labels for the measured gate, and every refusal.

Files are real files in a temporary folder, read by the same code the gate runs. Hypothesis
writes tables as users' tools do (quoting styles, UTF-8 with and without a byte-order mark,
UTF-16, CRLF, blank lines, odd header names) and checks that every number comes back exactly;
and it puts hostile text in a cell, which must be read or refused in one line naming the file,
never with a traceback. Each refusal of the requirements has its case below: exit 2, one line,
the file and the fix named, nothing written.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured import MeasuredGate, measure
from hokusai_ci.domain.measured.evidence_io import load_evidence
from hokusai_ci.domain.measured.tables import ParquetTable, _arrow_to_numpy
from hokusai_ci.domain.metrics import resolve_metric
from tests.conftest import REPO

# eight rows four times over: the measured gate's minimum is 30 rows, 10 of each class, and
# repeating rows keeps every value the eight rows give (not their intervals)
SCORES = [0.1, 0.4, 0.35, 0.8, 0.65, 0.2, 0.9, 0.55] * 4
LABELS = [0, 0, 1, 1, 1, 0, 1, 0] * 4


def write_table(
    path: Path,
    header: list[str],
    rows: list[list[Any]],
    *,
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
    newline: str = "\n",
    blank_every: int = 0,
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter="\t" if path.suffix == ".tsv" else ",", quoting=quoting, lineterminator=newline
    )
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow([repr(float(x)) if isinstance(x, float) else x for x in row])
        if blank_every and i % blank_every == 0:
            buffer.write(newline)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def both(tmp_path: Path, scores: list[Any] = SCORES, labels: list[Any] = LABELS, name: str = "both.csv") -> Path:
    return write_table(tmp_path / name, ["p", "y"], [[s, y] for s, y in zip(scores, labels, strict=True)])


def one_column(tmp_path: Path, name: str, column: str, values: list[Any]) -> Path:
    return write_table(tmp_path / name, [column], [[v] for v in values])


def run(metric: str = "auroc", **kw: Any) -> MeasuredGate:
    baseline = kw.pop("baseline", 0.5)
    return measure(resolve_metric(metric), baseline, **kw)


# -- Hypothesis over the parsers -----------------------------------------------------------------
header_names = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(header_names, min_size=3, max_size=3, unique=True),
    values=st.lists(st.tuples(finite, st.sampled_from([0, 1]), st.text(max_size=20)), min_size=1, max_size=40),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    newline=st.sampled_from(["\n", "\r\n"]),
    blank_every=st.integers(0, 3),
    suffix=st.sampled_from([".csv", ".tsv"]),
)
def test_any_well_formed_table_reads_back_exactly(
    tmp_path: Path,
    names: list[str],
    values: list[tuple[float, int, str]],
    encoding: str,
    quoting: int,
    newline: str,
    blank_every: int,
    suffix: str,
) -> None:
    score, label, note = names
    rows = [[s, y, text.replace("\r", " ").replace("\n", " ")] for s, y, text in values]
    path = write_table(
        tmp_path / f"t{suffix}",
        [score, label, note],
        rows,
        encoding=encoding,
        quoting=quoting,
        newline=newline,
        blank_every=blank_every,
    )
    evidence = load_evidence(path, score_column=score, label_column=label)
    assert evidence.predictions.tolist() == [s for s, _, _ in values]
    assert evidence.labels.tolist() == [float(y) for _, y, _ in values]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.tuples(finite, st.sampled_from([0, 1])), min_size=1, max_size=50),
    score_type=st.sampled_from(["f8", "f4", "i8", "u1"]),
    chunk=st.integers(1, 50),
)
def test_npy_and_parquet_read_back_exactly(
    tmp_path: Path, values: list[tuple[float, int]], score_type: str, chunk: int
) -> None:
    dtype = np.dtype(score_type)
    if dtype.kind == "f":
        with np.errstate(over="ignore"):  # float32 turns the largest doubles into inf: drop those
            scores = np.array([s for s, _ in values]).astype(dtype)
        scores = scores[np.isfinite(scores)]
    else:
        scores = np.arange(len(values), dtype=dtype)
    labels = np.array([y for _, y in values][: scores.size], dtype=np.int8)
    if scores.size == 0:
        return
    expected = scores.astype(np.float64).tolist()
    np.save(tmp_path / "p.npy", scores)
    np.save(tmp_path / "y.npy", labels)
    from_npy = load_evidence(tmp_path / "p.npy", tmp_path / "y.npy")
    pq.write_table(pa.table({"p": scores, "y": labels}), tmp_path / "both.parquet", row_group_size=chunk)
    from_parquet = load_evidence(tmp_path / "both.parquet", score_column="p", label_column="y")
    for evidence in (from_npy, from_parquet):
        assert evidence.predictions.tolist() == expected
        assert evidence.labels.tolist() == labels.astype(np.float64).tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cell=st.text(max_size=30), row=st.integers(0, len(SCORES) - 1))
def test_hostile_text_in_a_cell_is_read_or_refused_in_one_line(tmp_path: Path, cell: str, row: int) -> None:
    scores: list[Any] = list(SCORES)
    scores[row] = cell
    path = both(tmp_path, scores=scores)
    try:
        evidence = load_evidence(path, score_column="p", label_column="y")
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT
        assert "both.csv" in err.message and "\n" not in err.message
    else:
        assert np.isfinite(evidence.predictions).all() and evidence.rows >= len(SCORES) - 1


def test_a_large_file_with_a_huge_unused_field_reads(tmp_path: Path) -> None:
    n = 200_000
    rng = np.random.default_rng(3)
    scores, labels = rng.random(n).tolist(), (rng.random(n) < 0.3).astype(int).tolist()
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("p,y,note\n")
        f.write(f'{scores[0]!r},{labels[0]},"{"x, " * 300_000}"\n')  # a 900 kB quoted field with commas
        f.writelines(f"{s!r},{y},\n" for s, y in zip(scores[1:], labels[1:], strict=True))
    evidence = load_evidence(path, score_column="p", label_column="y")
    assert evidence.rows == n and evidence.predictions.tolist() == scores


# -- formats and joins ---------------------------------------------------------------------------
def test_csv_tsv_npy_and_parquet_give_the_same_verdict(tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(len(SCORES))]
    csv_result = run(predictions=both(tmp_path), score_column="p", label_column="y")
    tsv = write_table(tmp_path / "both.tsv", ["p", "y"], [[s, y] for s, y in zip(SCORES, LABELS, strict=True)])
    np.save(tmp_path / "p.npy", np.array(SCORES))
    np.save(tmp_path / "y.npy", np.array(LABELS, dtype=np.int8))
    structured = np.array(list(zip(SCORES, LABELS, strict=True)), dtype=[("p", "f8"), ("y", "i4")])
    np.save(tmp_path / "s.npy", structured)
    pq.write_table(pa.table({"id": ids, "p": SCORES, "y": LABELS}), tmp_path / "both.parquet")
    order = [3, 1, 7, 0, 5, 2, 6, 4] * 4  # labels in another order, joined by id
    order = [i + 8 * (k // 8) for k, i in enumerate(order)]
    pq.write_table(pa.table({"id": [ids[i] for i in order], "y": [LABELS[i] for i in order]}), tmp_path / "y.parquet")
    for other in (
        run(predictions=tsv, score_column="p", label_column="y"),
        run(predictions=tmp_path / "p.npy", labels=tmp_path / "y.npy"),
        run(predictions=tmp_path / "s.npy", score_column="p", label_column="y"),
        run(predictions=tmp_path / "both.parquet", score_column="p", label_column="y"),
        run(predictions=tmp_path / "both.parquet", labels=tmp_path / "y.parquet", score_column="p", id_column="id"),
    ):
        assert (other.value, other.interval, other.bound, other.rows, other.positives) == (
            csv_result.value,
            csv_result.interval,
            csv_result.bound,
            csv_result.rows,
            csv_result.positives,
        )


def test_parquet_numbers_of_every_type_and_chunking_read_exactly(tmp_path: Path) -> None:
    """Parquet columns are read from pyarrow's buffers (its to_numpy would import pandas): every
    numeric type, booleans, sliced and multi-chunk columns come back as written."""
    values = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0]
    columns = {f"c_{t}": pa.array(values, type=t) for t in (pa.int8(), pa.uint16(), pa.int32(), pa.int64(),
                                                             pa.float16(), pa.float32(), pa.float64())}  # fmt: skip
    columns["c_bool"] = pa.array([bool(v) for v in values])
    path = tmp_path / "types.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=4)  # three row groups: three chunks
    table = ParquetTable(path, "predictions")
    for name in columns:
        assert table.numbers([name])[0].tolist() == [float(v) for v in values], name
    floats = pa.chunked_array([pa.array([5.0, 6.0, 7.0, 8.0]).slice(1, 2), pa.array([9.0])])
    assert _arrow_to_numpy(floats).tolist() == [6.0, 7.0, 9.0]
    bits = [False] * 9 + [True, False, True]  # a slice starting inside the second byte of the bitmap
    bools = pa.chunked_array([pa.array(bits).slice(9), pa.array([True, False]).slice(1)])
    assert _arrow_to_numpy(bools).tolist() == [True, False, True, False]
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hokusai_ci.domain.measured.tables import ParquetTable\n"
        f"ParquetTable(Path({str(path)!r}), 'predictions').numbers(['c_double', 'c_bool'])\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_two_files_join_by_id_whatever_the_row_order(tmp_path: Path) -> None:
    n = 500
    rng = np.random.default_rng(5)
    targets = rng.normal(size=n)
    predictions = targets + rng.normal(scale=0.5, size=n)
    ids = [f"id-{i:04d}" for i in range(n)]
    aligned = write_table(
        tmp_path / "aligned.csv", ["id", "target"], [[i, t] for i, t in zip(ids, targets, strict=True)]
    )
    shuffled = rng.permutation(n)
    labels = write_table(tmp_path / "labels.csv", ["id", "target"], [[ids[i], targets[i]] for i in shuffled])
    preds = write_table(tmp_path / "preds.csv", ["id", "pred"], [[i, p] for i, p in zip(ids, predictions, strict=True)])
    by_order = run("r2", baseline=0.0, predictions=preds, labels=aligned, score_column="pred", label_column="target")
    by_id = run("r2", baseline=0.0, predictions=preds, labels=labels, id_column="id")  # the other column is taken
    assert (by_id.value, by_id.interval, by_id.rows) == (by_order.value, by_order.interval, by_order.rows)
    assert by_id.labels_sha256 != by_order.labels_sha256  # the digest is of the file given
    assert by_id.predictions_sha256 == by_order.predictions_sha256
    ambiguous = refusal(lambda: run("r2", baseline=0.0, predictions=preds, labels=labels))
    assert "preds.csv has the columns 'id', 'pred': name the one to use with --score-column" in ambiguous.message


def test_the_result_carries_the_evidence(tmp_path: Path) -> None:
    import hashlib

    path = both(tmp_path)
    result = run(predictions=path, score_column="p", label_column="y", seed=7)
    assert result.predictions_sha256 == result.labels_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (result.rows, result.positives, result.seed, result.level, result.side) == (32, 16, 7, 0.95, "lower")
    assert result.method.startswith("DeLong") and result.implementation.startswith("hokusai-ci measured/")
    assert result.interval[0] <= result.bound <= result.value <= result.interval[1]


def test_importing_the_package_does_not_import_numpy() -> None:
    code = "import sys, hokusai_ci.domain.measured, hokusai_ci.domain.measured.decision; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_without_numpy_predictions_are_refused_naming_the_extra(tmp_path: Path) -> None:
    path = both(tmp_path)
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from pathlib import Path\n"
        "from hokusai_ci.domain.errors import HokusaiError\n"
        "from hokusai_ci.domain.measured import measure\n"
        "from hokusai_ci.domain.metrics import resolve_metric\n"
        "try:\n"
        f"    measure(resolve_metric('auroc'), 0.5, Path({str(path)!r}), score_column='p', label_column='y')\n"
        "except HokusaiError as err:\n"
        "    print(err.exit_code, err.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.startswith("2 ") and "pip install 'hokusai-ci[metrics]'" in out


def test_without_pyarrow_parquet_is_refused_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(pa.table({"p": SCORES, "y": LABELS}), tmp_path / "both.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    err = refusal(lambda: run(predictions=tmp_path / "both.parquet", score_column="p", label_column="y"))
    assert "hokusai-ci[parquet]" in err.message


# -- every refusal -------------------------------------------------------------------------------
def refusal(call: Any) -> HokusaiError:
    with pytest.raises(HokusaiError) as info:
        call()
    err = info.value
    assert err.category is Category.INVALID_INPUT and err.exit_code == 2
    assert "\n" not in err.message and "Traceback" not in err.message
    return err


def _bad_npy(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.npy"
    if kind == "objects":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif kind == "matrix":
        np.save(path, np.zeros((4, 3)))
    else:
        path.write_bytes(b"not numpy at all")
    return path


def _parquet_with_null(tmp_path: Path) -> Path:
    pq.write_table(pa.table({"p": [0.1, None, 0.3, 0.9], "y": [0, 1, 0, 1]}), tmp_path / "nulls.parquet")
    return tmp_path / "nulls.parquet"


# (metric, files and options, words the message must hold)
REFUSALS: dict[str, tuple[str, Any, list[str]]] = {
    "one class only": ("auroc", lambda t: dict(predictions=both(t, labels=[0] * 32)), ["one class only", "both.csv"]),
    "too few positives": (
        "auroc",
        lambda t: dict(predictions=both(t, labels=[1] * 9 + [0] * 23)),
        ["only 9 of 32 labels are 1", "at least 10"],
    ),
    "NaN": ("auroc", lambda t: dict(predictions=both(t, scores=[0.1, "nan", *SCORES[2:]])), ["data row 2", "nan"]),
    "infinity": (
        "mse",
        lambda t: dict(predictions=both(t, labels=[1, 2, "-inf", *range(4, 33)])),
        ["data row 3", "-inf"],
    ),
    "empty value": (
        "auroc",
        lambda t: dict(predictions=both(t, scores=[0.1, 0.2, "", *SCORES[3:]])),
        ["line 4", "'p' is empty"],
    ),
    "not a number": (
        "auroc",
        lambda t: dict(predictions=both(t, scores=["0.1", "high", *SCORES[2:]])),
        ["line 3", "'high'"],
    ),
    "too few fields": ("auroc", lambda t: dict(predictions=t / "short.csv"), ["short.csv line 3", "too few"]),
    "length mismatch": (
        "auroc",
        lambda t: dict(
            predictions=one_column(t, "p.csv", "p", SCORES), labels=one_column(t, "y.csv", "y", LABELS[:-1])
        ),
        ["p.csv has 32 rows and y.csv has 31", "--id-column"],
    ),
    "duplicate ids": (
        "auroc",
        lambda t: dict(
            predictions=write_table(t / "p.csv", ["id", "p"], [[i % 7, s] for i, s in enumerate(SCORES)]),
            labels=write_table(t / "y.csv", ["id", "y"], [[i, y] for i, y in enumerate(LABELS)]),
            id_column="id",
        ),
        ["p.csv", "'0' appears more than once", "data rows 1, 8, 15, 22, 29"],
    ),
    "missing ids": (
        "auroc",
        lambda t: dict(
            predictions=write_table(t / "p.csv", ["id", "p"], [[i, s] for i, s in enumerate(SCORES)]),
            labels=write_table(t / "y.csv", ["id", "y"], [[i + 1, y] for i, y in enumerate(LABELS)]),
            id_column="id",
        ),
        ["p.csv data row 1 has the id '0', which y.csv does not have", "1 ids missing"],
    ),
    "non-binary labels": (
        "f1",
        lambda t: dict(predictions=both(t, labels=[0, 1, 2, 1, 0, 1, 0, 1] * 4), threshold=0.5),
        ["data row 3", "label 2.0 is not 0 or 1"],
    ),
    "probabilities outside [0, 1]": (
        "accuracy",
        lambda t: dict(predictions=both(t, scores=[0.1, 1.7, *SCORES[2:]]), threshold=0.5),
        ["data row 2", "1.7 is not a probability"],
    ),
    "scores without a threshold": ("precision", lambda t: dict(predictions=both(t)), ["needs --threshold"]),
    "threshold outside [0, 1]": ("recall", lambda t: dict(predictions=both(t), threshold=5.0), ["threshold=5.0"]),
    "threshold for auroc": ("auroc", lambda t: dict(predictions=both(t), threshold=0.5), ["drop --threshold"]),
    "constant targets for r2": ("r2", lambda t: dict(predictions=both(t, labels=[3] * 32)), ["R² is undefined"]),
    "metric not measurable": ("reply_rate", lambda t: dict(predictions=both(t)), ["--metric-value"]),
    "unknown suffix": ("auroc", lambda t: dict(predictions=t / "preds.xlsx"), ["preds.xlsx", ".parquet"]),
    "missing file": ("auroc", lambda t: dict(predictions=t / "nowhere.csv"), ["does not exist"]),
    "missing column": (
        "auroc",
        lambda t: dict(predictions=both(t), score_column="score"),
        ["no column 'score'", "'p', 'y'"],
    ),
    "unnamed columns": (
        "auroc",
        lambda t: dict(predictions=both(t), score_column=None, label_column=None),
        ["has the columns 'p', 'y'", "--score-column"],
    ),
    "empty file": ("auroc", lambda t: dict(predictions=t / "empty.csv"), ["empty.csv is empty"]),
    "header only": ("auroc", lambda t: dict(predictions=both(t, scores=[], labels=[])), ["no data rows"]),
    "not UTF-8": ("auroc", lambda t: dict(predictions=t / "latin.csv"), ["latin.csv is not UTF-8", "save it as UTF-8"]),
    "pickled npy": (
        "auroc",
        lambda t: dict(predictions=_bad_npy(t, "objects"), labels=_bad_npy(t, "objects")),
        ["Python objects"],
    ),
    "2-D npy": (
        "auroc",
        lambda t: dict(predictions=_bad_npy(t, "matrix"), labels=_bad_npy(t, "matrix")),
        ["shape (4, 3)"],
    ),
    "not npy": (
        "auroc",
        lambda t: dict(predictions=_bad_npy(t, "junk"), labels=_bad_npy(t, "junk")),
        ["not a .npy file"],
    ),
    "parquet null": ("auroc", lambda t: dict(predictions=_parquet_with_null(t)), ["data row 2", "null"]),
    "not parquet": ("auroc", lambda t: dict(predictions=t / "junk.parquet"), ["not a Parquet file"]),
    "confidence": ("auroc", lambda t: dict(predictions=both(t), confidence=1.0), ["confidence=1.0"]),
    "decision": ("auroc", lambda t: dict(predictions=both(t), decision="median"), ["lower-bound or point"]),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_each_bad_input_is_refused_in_one_line_naming_the_file_and_writing_nothing(tmp_path: Path, case: str) -> None:
    metric, make, words = REFUSALS[case]
    (tmp_path / "short.csv").write_text("p,y\n0.1,1\n0.2\n0.3,0\n")
    (tmp_path / "empty.csv").write_text("\n\n")
    (tmp_path / "latin.csv").write_bytes("p,y,café\n0.1,1,x\n".encode("latin-1"))
    (tmp_path / "preds.xlsx").write_bytes(b"PK")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 but not really")
    options = {"score_column": "p", "label_column": "y", **make(tmp_path)}
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    err = refusal(lambda: run(metric, **options))
    for word in words:
        assert word in err.message, (word, err.message)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before


# -- too little evidence is no evidence ----------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(min_value=1, max_value=29),
    metric=st.sampled_from(["auroc", "accuracy", "mse", "mae", "r2"]),
)
def test_fewer_rows_than_the_minimum_are_refused_not_bounded(tmp_path: Path, rows: int, metric: str) -> None:
    """Four rows made auroc "confidently above" 0.999 with the interval [1, 1]."""
    labels = [i % 2 for i in range(rows)] if metric in ("auroc", "accuracy") else [float(i) for i in range(rows)]
    scores = [float(y) for y in labels]  # a perfect model: the most tempting "evidence"
    path = write_table(tmp_path / f"few{rows}.csv", ["p", "y"], [[s, y] for s, y in zip(scores, labels, strict=True)])
    threshold = 0.5 if metric == "accuracy" else None
    err = refusal(lambda: run(metric, baseline=0.0, predictions=path, score_column="p", threshold=threshold))
    reasons = ("needs at least 30 rows", "one class only", "R² is undefined")
    assert any(reason in err.message for reason in reasons) and f"few{rows}.csv" in err.message


def test_too_few_of_one_class_are_refused(tmp_path: Path) -> None:
    path = both(tmp_path, labels=[1] * 5 + [0] * 27)
    err = refusal(lambda: run("accuracy", predictions=path, score_column="p", threshold=0.5))
    assert "only 5 of 32 labels are 1 (positive)" in err.message and "at least 10 rows of each class" in err.message


def test_a_zero_width_interval_from_few_rows_is_no_evidence(tmp_path: Path) -> None:
    """A perfect score on 40 rows: every resample repeats it, and the interval [1, 1] bounded nothing."""
    labels = [i % 2 for i in range(40)]
    path = both(tmp_path, scores=[0.1 + 0.8 * y for y in labels], labels=labels)
    for metric, threshold in (("auroc", None), ("accuracy", 0.5)):
        options = dict(baseline=0.99, predictions=path, score_column="p", threshold=threshold)
        err = refusal(lambda m=metric, o=options: run(m, **o))  # type: ignore[misc]
        assert "zero width" in err.message and "at least 1000 rows" in err.message and "both.csv" in err.message
    labels = [i % 2 for i in range(2000)]
    perfect = both(tmp_path, scores=[0.1 + 0.8 * y for y in labels], labels=labels, name="many.csv")
    assert run("auroc", baseline=0.9, predictions=perfect, score_column="p").passed  # enough rows: the bound stands


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.permutations(["score", "label", "id"]).map(lambda h: h[: 2 + (h[2] != "id")]),
    label_named=st.booleans(),
)
def test_a_score_and_label_file_needs_no_column_options(tmp_path: Path, header: list[str], label_named: bool) -> None:
    """`score,label` was refused with "name the one to use with --score-column", against the docs."""
    columns = {"score": SCORES, "label": LABELS, "id": [f"r{i}" for i in range(len(SCORES))]}
    path = write_table(
        tmp_path / "p.csv", header, [list(row) for row in zip(*(columns[h] for h in header), strict=True)]
    )
    result = run(predictions=path, label_column="label" if label_named else None, id_column=None)
    assert (result.score_column, result.label_column, result.rows) == ("score", "label", 32)


def test_the_one_column_left_is_the_score(tmp_path: Path) -> None:
    result = run(predictions=both(tmp_path), label_column="y")
    assert (result.score_column, result.label_column) == ("p", "y")
    labels = one_column(tmp_path, "y.csv", "y", LABELS)
    scores = one_column(tmp_path, "s.csv", "score", SCORES)
    assert run(predictions=scores, labels=labels).label_column == "y"


def test_a_confidence_of_1_is_refused_saying_why(tmp_path: Path) -> None:
    """ "between 0.5 and 1" refused 1 as if it were inside the range."""
    err = refusal(lambda: run(predictions=both(tmp_path), score_column="p", label_column="y", confidence=1.0))
    assert "confidence=1.0 is invalid: give a level from 0.8 to 0.999" in err.message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    line=st.integers(0, len(SCORES) - 1),
    extra=st.lists(st.sampled_from(["7", "", '"a,b"', "0.5"]), min_size=1, max_size=3),
    suffix=st.sampled_from([".csv", ".tsv"]),
)
def test_a_row_with_more_fields_than_the_header_is_refused_naming_the_line(
    tmp_path: Path, line: int, extra: list[str], suffix: str
) -> None:
    """`0.1,0,7` under `score,label` was read as if the 7 were not there."""
    delimiter = "\t" if suffix == ".tsv" else ","
    rows = [f"{s!r}{delimiter}{y}" for s, y in zip(SCORES, LABELS, strict=True)]
    rows[line] += delimiter + delimiter.join(extra)
    path = tmp_path / f"wide{suffix}"
    path.write_text("score" + delimiter + "label\n" + "\n".join(rows) + "\n")
    err = refusal(lambda: run(predictions=path))
    assert f"wide{suffix} line {line + 2} has {2 + len(extra)} fields, but the header names 2" in err.message


def test_quoted_delimiters_are_not_extra_fields(tmp_path: Path) -> None:
    rows = [f'"{s!r}",{y},"a,b"' for s, y in zip(SCORES, LABELS, strict=True)]
    path = tmp_path / "quoted.csv"
    path.write_text('score,label,"note, free text"\n' + "\n".join(rows) + "\n")
    assert run(predictions=path).rows == len(SCORES)
