"""The pure parts of `--compare-with`: the evaluation digest a registration records is the one
the paired comparison computes, a champion read with its own columns and labels file, the
columns tag read back, and the refusals that come before any server is asked.

Real files in a temporary folder, read by the code the verdict runs; the CLI in-process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hokusai_ci.core.champion_compare import stored_columns
from hokusai_ci.core.inputs import build_request, decided_by, measured_refusal, request_gate
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured import measure
from hokusai_ci.domain.measured.decision import evidence_columns
from hokusai_ci.domain.measured.paired_gate import Columns, paired_verdict
from hokusai_ci.domain.metrics import resolve_metric
from tests.conftest import register_args, run_here
from tests.test_measured_paired import models, one_file_pair, verdict_of, write_csv

AUROC = resolve_metric("auroc")


def test_the_recorded_evaluation_digest_is_the_paired_comparisons_whatever_the_format(tmp_path: Path) -> None:
    cand, champ = one_file_pair(tmp_path)  # the champion's file shuffled
    paired = verdict_of(cand, champ)
    by_id = {"score_column": "p", "label_column": "y", "id_column": "id"}
    for path in (cand, champ):
        assert measure(AUROC, 0.5, path, **by_id).evaluation_sha256 == paired.evaluation_sha256
    # by row order: the labels alone, the same in one CSV or in two .npy files
    _, candidate, _, labels = models()
    one = measure(AUROC, 0.5, cand, score_column="p", label_column="y")
    np.save(tmp_path / "scores.npy", candidate)
    np.save(tmp_path / "labels.npy", labels)
    two = measure(AUROC, 0.5, tmp_path / "scores.npy", tmp_path / "labels.npy")
    assert one.evaluation_sha256 == two.evaluation_sha256 != paired.evaluation_sha256
    assert verdict_of(cand, cand, id_column=None).evaluation_sha256 == one.evaluation_sha256
    # one label changed: another evaluation set
    flipped = labels.copy()
    flipped[7] = 1 - flipped[7]
    np.save(tmp_path / "flipped.npy", flipped)
    other = measure(AUROC, 0.5, tmp_path / "scores.npy", tmp_path / "flipped.npy")
    assert other.evaluation_sha256 != two.evaluation_sha256


def test_a_champion_is_read_with_its_own_columns_and_labels_file(tmp_path: Path) -> None:
    """The stored champion was gated with a separate labels file and other column names; the
    candidate holds both columns in one file: the verdict is the one of the same-format files."""
    ids, candidate, champion, labels = models()
    cand = write_csv(tmp_path / "cand.csv", {"id": ids, "p": candidate, "y": labels})
    same_format = write_csv(tmp_path / "champ.csv", {"id": ids, "p": champion, "y": labels})
    order = np.random.default_rng(5).permutation(len(ids))
    stored = write_csv(tmp_path / "predictions.csv", {"key": [ids[i] for i in order], "prob": champion[order]})
    stored_labels = write_csv(tmp_path / "labels.csv", {"key": ids, "truth": labels})
    expected = verdict_of(cand, same_format)
    got = paired_verdict(
        AUROC,
        cand,
        stored,
        score_column="p",
        label_column="y",
        id_column="id",
        champion_labels=stored_labels,
        champion_columns=Columns("prob", "truth", "key"),
    )
    assert got.passed and (got.difference, got.bound) == (expected.difference, expected.bound)
    assert got.evaluation_sha256 == expected.evaluation_sha256


def test_the_columns_tag_round_trips_and_a_broken_one_is_exit_2(tmp_path: Path) -> None:
    cand, _ = one_file_pair(tmp_path)
    gate = measure(AUROC, 0.5, cand, score_column="p", label_column="y", id_column="id")
    assert evidence_columns(gate) == '{"id":"id","label":"y","score":"p"}'
    assert stored_columns(evidence_columns(gate)) == Columns("p", "y", "id")
    assert stored_columns(None) == Columns()
    for broken in ("not json", '{"score": 1}', "[1]"):
        with pytest.raises(HokusaiError) as err:
            stored_columns(broken)
        assert err.value.category is Category.INVALID_INPUT and "hokusai.evidence_columns" in err.value.message


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (
            {"metric_value": "0.9"},
            "compare-with='models:/hokusai-X/1' is invalid: --compare-with applies to --predictions",
        ),
        ({"compare_with": "models:/hokusai-X/latest"}, "use models:/NAME/VERSION of a version gated on the same rows"),
        ({"compare_with": "hokusai-X/1"}, "compare-with='hokusai-X/1' is invalid"),
        ({"compare_with": "models:/a\nb/1"}, "compare-with"),
    ],
)
def test_a_bad_compare_with_is_exit_2_before_any_server_is_asked(
    model_file: Path, tmp_path: Path, options: dict[str, str], said: str
) -> None:
    cand, _ = one_file_pair(tmp_path)
    given = {"predictions": str(cand), "score_column": "p", "label_column": "y", "compare_with": "models:/hokusai-X/1"}
    if "metric_value" in options:
        given = {"compare_with": "models:/hokusai-X/1"}
    args = register_args("X", model_file, "auroc", "0.8", options.get("metric_value"), command="gate", **given)
    if "compare_with" in options:
        args[args.index("--compare-with") + 1] = options["compare_with"]
    # an MLflow URI nothing listens on: a refusal that reached a server would say so instead
    r = run_here(*args, "--mlflow-uri", "http://127.0.0.1:9", "--output", "json")
    assert r.code == 2, r.out + r.err
    assert said in r.json()["error"]["message"]
    assert "127.0.0.1:9" not in r.out + r.err


def test_a_refusal_names_the_verdict_that_failed(model_file: Path, tmp_path: Path) -> None:
    cand, champ = one_file_pair(tmp_path)
    options = {"score_column": "p", "label_column": "y", "id_column": "id", "compare_with": "models:/hokusai-X/3"}
    request = build_request(
        token_id="X", model_path=model_file, metric="auroc", baseline="0.5", predictions=str(champ), **options
    )
    losing = verdict_of(champ, cand)  # the champion's file is the worse model
    refused = request.model_copy(update={"paired": losing})
    said = f"against models:/hokusai-X/3, {losing.verdict} (the paired verdict decides)"
    assert measured_refusal(refused) == said and not request_gate(refused).passed
    assert refused.measured is not None and refused.measured.passed and decided_by(refused) == "paired"
    # the paired verdict decides: a failing single-value verdict beside it is reported, not named
    both = refused.model_copy(update={"measured": refused.measured.model_copy(update={"passed": False})})
    assert measured_refusal(both) == said


def test_a_stored_file_that_differs_names_the_digest_it_was_compared_with(tmp_path: Path) -> None:
    """A version never signed has only its tag's digest: a changed stored file is reported as
    differing from that tag, never as "not the signed evidence"; against a verified statement's
    digest it names the statement."""
    from hokusai_ci.domain.measured.stored import SIGNED, TAGGED, EvidenceMismatch, check_stored

    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "predictions.csv").write_text("score,label\n0.5,1\n")
    for against, said in ((TAGGED, "the version's hokusai.evidence_sha256 tag"), (SIGNED, "the signed statement's")):
        with pytest.raises(EvidenceMismatch) as err:
            check_stored(folder, "0" * 64, against)
        assert str(err.value).startswith("evidence file 'predictions.csv' (sha256 ")
        assert f"does not match {said}" in str(err.value) and "not the signed evidence" not in str(err.value)
    with pytest.raises(EvidenceMismatch, match="no signed statement was compared"):
        check_stored(folder, f"{'0' * 64}", TAGGED)


def twenty_thousand_rows(folder: Path) -> tuple[Path, Path]:
    """The figure the paired comparison was built for, as files joined by ids: 20,000 rows
    (prevalence 0.3, champion AUROC about 0.80), the candidate truly +0.005 better, the two
    models sharing most of their error (tests/test_measured_paired_calibration.py, seed 0)."""
    from tests.test_measured_paired_calibration import lift_for, shared_scores

    cand, champ, positive = shared_scores(np.random.default_rng(0), 20_000, 0.21, lift_for(0.005, 0.21))
    ids, labels = [f"r{i}" for i in range(positive.size)], positive.astype(int)
    return (
        write_csv(folder / "candidate-20k.csv", {"id": ids, "score": np.round(cand, 6), "label": labels}),
        write_csv(folder / "champion-20k.csv", {"id": ids, "score": np.round(champ, 6), "label": labels}),
    )


def test_at_20000_rows_the_paired_verdict_decides_a_gain_the_single_value_check_cannot(
    model_file: Path, tmp_path: Path
) -> None:
    """The candidate's own 95% lower bound (about 0.7965) is below the champion's value (about
    0.7966): the single-value check alone refuses it. Paired on the same rows the difference is
    about +0.005 ± 0.0021 and confidently above 0; that verdict decides, the other is reported."""
    cand, champ = twenty_thousand_rows(tmp_path)
    columns = {"score_column": "score", "label_column": "label", "id_column": "id"}
    champion_value = measure(AUROC, 0.5, champ, **columns).value
    request = build_request(
        token_id="X",
        model_path=model_file,
        metric="auroc",
        baseline=repr(champion_value),
        predictions=str(cand),
        compare_with="models:/hokusai-X/1",
        **columns,
    )
    assert request.measured is not None and not request.measured.passed
    assert request.measured.value > champion_value > request.measured.bound
    assert not request_gate(request).passed  # no comparison made: the single-value verdict decides
    paired = paired_verdict(AUROC, cand, champ, **columns)
    half = paired.interval[1] - paired.difference
    assert paired.passed and 0.0018 <= half <= 0.0024 and 0.003 <= paired.difference <= 0.007
    decided = request.model_copy(update={"paired": paired})
    outcome = request_gate(decided)
    assert outcome.passed and decided_by(decided) == "paired" and outcome.value == request.measured.value
