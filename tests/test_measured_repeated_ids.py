"""With `--id-column`, an id that appears twice is refused in every file the gate reads.

Found by a hostile user: one predictions file holding scores and labels, named with
`--id-column`, did not refuse repeated ids, so the same 100 rows written 30 times narrowed the
interval as if they were 3000 and passed where the 100 fail. Real files in a temporary folder,
read by the code the gate runs; the CLI in-process; Hypothesis draws the duplication patterns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.measured.evidence_io import SHOWN_ROWS, load_evidence
from hokusai_ci.domain.measured.paired_gate import paired_verdict
from hokusai_ci.domain.metrics import resolve_metric
from tests.conftest import register_args, run_here

FIXTURE = [HealthCheck.function_scoped_fixture]


def hundred_rows(copies: int) -> str:
    """100 rows (auroc about 0.86, its 95% lower bound under 0.8 on 100 rows), `copies` times."""
    rng = np.random.default_rng(3)
    labels = np.arange(100) % 2
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, 100) + 1.5 * labels)))
    rows = [f"r{i},{s!r},{y}\n" for i, (s, y) in enumerate(zip(scores.tolist(), labels.tolist(), strict=True))]
    return "id,score,label\n" + "".join(rows * copies)


def gate(path: Path, **options: str) -> list[str]:
    args = register_args("DUPID", path, "auroc", "0.8", None, command="gate", predictions=str(path), **options)
    return [*args, "--output", "json"]


def test_the_same_hundred_rows_written_thirty_times_are_refused_by_their_ids(tmp_path: Path) -> None:
    once, thirty = tmp_path / "once.csv", tmp_path / "thirty.csv"
    once.write_text(hundred_rows(1))
    thirty.write_text(hundred_rows(30))
    assert run_here(*gate(once, id_column="id")).code == 6  # the 100 rows do not decide
    assert run_here(*gate(thirty)).code == 0  # without ids the copies are not seen (documented)
    r = run_here(*gate(thirty, id_column="id"))
    assert r.code == 2, r.out + r.err
    message = r.json()["error"]["message"]
    assert message.startswith("thirty.csv column 'id': the id 'r0' appears more than once (data rows 1, 101, 201,")
    assert "(30 rows in all)" in message


def expected(ids: list[str]) -> str:
    """The refusal's words, worked out here by another route: the first row whose id an earlier
    row has, that id, and every data row holding it."""
    first = next(i for i, v in enumerate(ids) if v in ids[:i])
    rows = [str(j + 1) for j, v in enumerate(ids) if v == ids[first]]
    more = f", ... ({len(rows)} rows in all)" if len(rows) > SHOWN_ROWS else ""
    return f"the id '{ids[first]}' appears more than once (data rows {', '.join(rows[:SHOWN_ROWS])}{more})"


@st.composite
def repeated(draw: st.DrawFn) -> list[str]:
    """At least 30 distinct ids, then some of them written again at random places."""
    ids = [f"k{i}" for i in range(draw(st.integers(30, 60)))]
    for _ in range(draw(st.integers(1, 12))):
        again = ids[draw(st.integers(0, len(ids) - 1))]
        ids.insert(draw(st.integers(0, len(ids))), again)
    return ids


def write(path: Path, header: str, ids: list[str], column: str) -> Path:
    """One row an id: the id's number as the label's parity, a score from it."""
    cells = {"score": lambda n: f"{(n % 7) / 7!r}", "label": lambda n: str(n % 2)}
    lines = [header, *(",".join([i, *(cells[c](int(i[1:])) for c in column.split(","))]) for i in ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(HokusaiError) as caught:
        call()
    assert caught.value.exit_code == 2
    return caught.value.message


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE)
@given(ids=repeated(), where=st.sampled_from(["one file", "predictions", "labels", "champion"]))
def test_a_repeated_id_is_refused_in_every_file_read_naming_it_and_its_rows(
    tmp_path: Path, ids: list[str], where: str
) -> None:
    distinct = list(dict.fromkeys(ids))
    both = "score,label"
    if where == "one file":
        path = write(tmp_path / "both.csv", "id,score,label", ids, both)
        message = refused(lambda: load_evidence(path, id_column="id"))
        assert message.startswith(f"both.csv column 'id': {expected(ids)}"), message
    elif where in ("predictions", "labels"):
        preds = write(tmp_path / "p.csv", "id,score", ids if where == "predictions" else distinct, "score")
        labels = write(tmp_path / "y.csv", "id,label", ids if where == "labels" else distinct, "label")
        message = refused(lambda: load_evidence(preds, labels, id_column="id"))
        assert f"{'p' if where == 'predictions' else 'y'}.csv column 'id': {expected(ids)}" in message, message
    else:
        cand = write(tmp_path / "cand.csv", "id,score,label", distinct, both)
        champ = write(tmp_path / "champ.csv", "id,score,label", ids, both)
        message = refused(lambda: paired_verdict(resolve_metric("auroc"), cand, champ, id_column="id"))
        assert message.startswith(f"champ.csv column 'id': {expected(ids)}"), message
