"""The paired comparison of a candidate and a champion on the same rows: each method against an
independent computation, a model against itself, and every refusal of the two files.

Paired DeLong's variance is checked two ways, each written here from its definition: the O(n²)
structural components (every positive against every negative, ties counted half) and Sun & Xu's
mid-rank formula with scipy's `rankdata` (three rankings per model instead of our one sort).
The count, loss and R² pairs are checked against a direct row bootstrap of the difference (the
spread of 400 draws estimates a width to about ±7%, so 20% apart means a wrong method). Files are
real files in a temporary folder, read by the code the verdict runs.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn import metrics as sk

from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured.intervals import COUNT_METRICS, COUNT_STATISTIC, MEASURABLE, auroc, confusion, r2_value
from hokusai_ci.domain.measured.paired import (
    delong_covariance,
    joint_cells,
    paired_counts,
    paired_delong,
    paired_estimate,
    paired_loss,
    paired_r2,
    twice_placements,
)
from hokusai_ci.domain.measured.paired_gate import PairedGate, paired_verdict
from hokusai_ci.domain.metrics import resolve_metric
from tests.conftest import REPO

L = np.array([1.0, -1.0])


def tied_pair(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two correlated score vectors with many ties, labels with both classes at least twice."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 150))
    positive = rng.random(n) < rng.uniform(0.1, 0.9)
    positive[:2], positive[2:4] = True, False
    decimals = int(rng.integers(0, 3))
    champion = np.round(rng.normal(0.8 * positive, 1.0), decimals)
    candidate = np.round(champion + rng.normal(0.2 * positive, 0.6), decimals)
    return candidate, champion, positive


def brute_force_covariance(candidate: np.ndarray, champion: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """DeLong 1988 by definition: psi over every (positive, negative) pair, O(n²)."""
    v10, v01 = [], []
    for scores in (candidate, champion):
        x, y = scores[positive][:, None], scores[~positive][None, :]
        psi = (x > y) + 0.5 * (x == y)
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    m, n = int(positive.sum()), int((~positive).sum())
    return np.asarray(np.cov(np.stack(v10)) / m + np.cov(np.stack(v01)) / n)


def sun_xu_covariance(candidate: np.ndarray, champion: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Sun & Xu 2014: V10 = (rank among all - rank among positives) / n, V01 = 1 - (rank among
    all - rank among negatives) / m, each a mid-rank from scipy."""
    m, n = int(positive.sum()), int((~positive).sum())
    v10, v01 = [], []
    for scores in (candidate, champion):
        overall = rankdata(scores)
        v10.append((overall[positive] - rankdata(scores[positive])) / n)
        v01.append(1.0 - (overall[~positive] - rankdata(scores[~positive])) / m)
    return np.asarray(np.cov(np.stack(v10)) / m + np.cov(np.stack(v01)) / n)


def close(a: float, b: float, tol: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=1e-15)


# -- paired DeLong -------------------------------------------------------------------------------
def test_paired_delong_variance_equals_the_structural_components_and_sun_xu_on_300_tied_cases() -> None:
    for seed in range(300):
        candidate, champion, positive = tied_pair(seed)
        auc_c, auc_h, difference, variance = paired_delong(candidate, champion, positive)
        brute, sun_xu = (
            brute_force_covariance(candidate, champion, positive),
            sun_xu_covariance(candidate, champion, positive),
        )
        assert np.allclose(delong_covariance(candidate, champion, positive), brute, rtol=1e-12, atol=1e-16), seed
        assert np.allclose(brute, sun_xu, rtol=1e-12, atol=1e-16), seed  # the two references agree
        assert close(variance, float(L @ brute @ L)), (seed, variance, float(L @ brute @ L))
        assert auc_c == auroc(candidate, positive, 0.95).value and auc_h == auroc(champion, positive, 0.95).value
        assert close(auc_c, sk.roc_auc_score(positive, candidate)) and close(difference, auc_c - auc_h)
        # the diagonal is each model's own DeLong variance, as the single-model gate computes it
        single = auroc(candidate, positive, 0.95)
        z = NormalDist().inv_cdf(0.975)
        if single.low > 0 and single.high < 1:
            assert close(math.sqrt(brute[0, 0]) * z, single.high - single.value, 1e-9)


def test_paired_delong_at_a_million_rows_equals_sun_xu_and_scikit_learn() -> None:
    """Large n is where reference implementations drift; the integers here keep it exact."""
    rng = np.random.default_rng(12)
    positive = rng.random(1_000_000) < 0.3
    shared = rng.standard_normal(positive.size) + positive
    champion = np.round(shared + 0.2 * rng.standard_normal(positive.size), 4)
    candidate = np.round(shared + 0.2 * rng.standard_normal(positive.size) + 0.05 * positive, 4)
    auc_c, auc_h, difference, variance = paired_delong(candidate, champion, positive)
    assert close(auc_c, sk.roc_auc_score(positive, candidate)) and close(auc_h, sk.roc_auc_score(positive, champion))
    assert close(variance, float(L @ sun_xu_covariance(candidate, champion, positive) @ L))
    assert close(difference, auc_c - auc_h)


def test_placements_are_twice_the_counts_of_the_other_class_below_ties_half() -> None:
    scores = np.array([0.1, 0.5, 0.5, 0.9, 0.5, 0.2])
    positive = np.array([False, True, False, True, True, False])
    twice, m, n = twice_placements(scores, positive)
    # positives 0.5, 0.9, 0.5 over negatives 0.1, 0.5, 0.2: 2.5, 3, 2.5 negatives below; negatives
    # 0.1, 0.5, 0.2 under positives: 3, 1 + 1/2 + 1/2 (two ties), 3 positives above
    assert (m, n) == (3, 3)
    assert twice.tolist() == [6, 5, 4, 6, 5, 6]


def test_a_shared_error_is_removed_by_pairing_where_the_sum_of_variances_keeps_it() -> None:
    rng = np.random.default_rng(4)
    positive = rng.random(5000) < 0.3
    shared = rng.standard_normal(5000) + positive
    candidate, champion = shared + 0.1 * rng.standard_normal(5000), shared + 0.1 * rng.standard_normal(5000)
    cov = delong_covariance(candidate, champion, positive)
    _, _, _, variance = paired_delong(candidate, champion, positive)
    assert cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]) > 0.95
    assert variance < 0.1 * (cov[0, 0] + cov[1, 1])


def test_swapping_the_models_negates_the_difference_and_keeps_the_variance() -> None:
    for seed in range(50):
        candidate, champion, positive = tied_pair(seed)
        forward, backward = paired_delong(candidate, champion, positive), paired_delong(champion, candidate, positive)
        assert forward[2] == -backward[2] and close(forward[3], backward[3])


# -- counts, losses, R² ----------------------------------------------------------------------------
def row_bootstrap_width(
    statistic: Any, candidate: np.ndarray, champion: np.ndarray, truth: np.ndarray, level: float = 0.95
) -> float:
    rng = np.random.default_rng(17)
    draws = np.empty(400)
    for i in range(draws.size):
        pick = rng.integers(0, truth.size, truth.size)
        draws[i] = statistic(candidate[pick], truth[pick]) - statistic(champion[pick], truth[pick])
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(high - low)


def correlated_labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.3
    champion = rng.random(n) < np.where(positive, 0.75, 0.2)
    candidate = np.where(rng.random(n) < 0.85, champion, rng.random(n) < np.where(positive, 0.8, 0.2))
    return candidate, champion, positive


@pytest.mark.parametrize("metric", COUNT_METRICS)
def test_the_joint_cell_bootstrap_is_the_paired_row_bootstrap(metric: str) -> None:
    candidate, champion, positive = correlated_labels(3000, 5)
    est = paired_counts(metric, joint_cells(positive, candidate, champion), 0.95, seed=2)
    statistic = COUNT_STATISTIC[metric]
    own = [float(statistic(np.asarray(confusion(p, positive), dtype=np.float64))) for p in (candidate, champion)]
    assert (est.candidate, est.champion) == (own[0], own[1])  # each model's value, exactly the single one
    assert est.difference.value == own[0] - own[1]

    def by_rows(pred: np.ndarray, truth: np.ndarray) -> float:
        return float(statistic(np.asarray(confusion(pred, truth), dtype=np.float64)))

    width = row_bootstrap_width(by_rows, candidate, champion, positive)
    assert abs((est.difference.high - est.difference.low) / width - 1) < 0.2
    unpaired = [paired_counts(metric, joint_cells(positive, p, p), 0.95, seed=2) for p in (candidate, champion)]
    assert all(u.difference.high == u.difference.low == 0 for u in unpaired)


def test_joint_cells_marginalise_to_each_models_confusion_counts() -> None:
    candidate, champion, positive = correlated_labels(500, 6)
    cells = np.asarray(joint_cells(positive, candidate, champion)).reshape(2, 2, 2)
    for model, axis in ((candidate, 2), (champion, 1)):
        label_by_pred = cells.sum(axis=axis)
        tp, fp, fn, tn = confusion(model, positive)
        assert label_by_pred.tolist() == [[tn, fp], [fn, tp]]


def regression_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = rng.normal(0, 1, n)
    shared = rng.normal(0, 0.5, n)
    return targets + shared + rng.normal(0, 0.15, n), targets + shared + rng.normal(0, 0.2, n), targets


@pytest.mark.parametrize("metric", ["mse", "mae", "rmse"])
def test_the_paired_clt_on_losses_matches_a_row_bootstrap_and_scikit_learn(metric: str) -> None:
    candidate, champion, targets = regression_pair(4000, 7)
    est = paired_loss(metric, candidate, champion, targets, 0.95)
    oracle = {"mse": sk.mean_squared_error, "mae": sk.mean_absolute_error, "rmse": sk.root_mean_squared_error}
    assert close(est.candidate, oracle[metric](targets, candidate))
    assert close(est.champion, oracle[metric](targets, champion))
    width = row_bootstrap_width(lambda p, t: oracle[metric](t, p), candidate, champion, targets)
    assert abs((est.difference.high - est.difference.low) / width - 1) < 0.2
    if metric == "mse":  # the CLT exactly: the standard error of the mean per-row difference
        diff = np.square(candidate - targets) - np.square(champion - targets)
        se = float(np.std(diff, ddof=1)) / math.sqrt(diff.size)
        assert close(est.difference.upper_bound - est.difference.value, NormalDist().inv_cdf(0.95) * se, 1e-9)


def test_the_paired_r2_bootstrap_matches_a_row_bootstrap() -> None:
    candidate, champion, targets = regression_pair(3000, 8)
    est = paired_r2(candidate, champion, targets, 0.95, seed=3)
    assert (est.candidate, est.champion) == (r2_value(candidate, targets), r2_value(champion, targets))
    width = row_bootstrap_width(lambda p, t: r2_value(p, t), candidate, champion, targets)
    assert abs((est.difference.high - est.difference.low) / width - 1) < 0.2


# -- a model against itself --------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    metric=st.sampled_from(MEASURABLE),
    values=st.lists(st.integers(0, 6), min_size=5, max_size=40),
    flips=st.lists(st.booleans(), min_size=5, max_size=40),
    seed=st.integers(0, 2**32),
)
def test_a_model_compared_with_itself_differs_by_exactly_zero_with_zero_width(
    metric: str, values: list[int], flips: list[bool], seed: int
) -> None:
    n = min(len(values), len(flips))
    scores = np.asarray(values[:n], dtype=np.float64) / 6  # probabilities with ties
    if metric in ("auroc", *COUNT_METRICS):
        truth = np.asarray(flips[:n], dtype=np.float64)
        truth[:2], truth[2:4] = 1.0, 0.0
    else:
        truth = np.asarray(values[:n][::-1], dtype=np.float64) + np.asarray(flips[:n])
        truth[:2] = (0.0, 7.0)  # never constant
    threshold = 0.5 if metric in COUNT_METRICS else None
    est = paired_estimate(metric, scores, scores.copy(), truth, level=0.95, seed=seed, threshold=threshold)
    d = est.difference
    assert est.candidate == est.champion
    assert (d.value, d.low, d.high, d.lower_bound, d.upper_bound) == (0.0, 0.0, 0.0, 0.0, 0.0)


# -- the verdict from files -------------------------------------------------------------------------
def write_csv(path: Path, columns: dict[str, Any]) -> Path:
    names = list(columns)
    rows = zip(*(columns[k] for k in names), strict=True)
    path.write_text(",".join(names) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))
    return path


def models(n: int = 2000, seed: int = 3, lift: float = 0.5) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(int)
    shared = rng.standard_normal(n) + 1.2 * labels
    champion = 1 / (1 + np.exp(-(shared + 0.3 * rng.standard_normal(n))))
    candidate = 1 / (1 + np.exp(-(shared + 0.3 * rng.standard_normal(n) + lift * labels)))
    return [f"row-{i}" for i in range(n)], np.round(candidate, 5), np.round(champion, 5), labels


def one_file_pair(tmp_path: Path, shuffle: bool = True) -> tuple[Path, Path]:
    ids, candidate, champion, labels = models()
    order = np.random.default_rng(1).permutation(len(ids)) if shuffle else np.arange(len(ids))
    cand = write_csv(tmp_path / "candidate.csv", {"id": ids, "p": candidate, "y": labels})
    champ = write_csv(
        tmp_path / "champion.csv", {"id": [ids[i] for i in order], "p": champion[order], "y": labels[order]}
    )
    return cand, champ


def verdict_of(cand: Path, champ: Path, metric: str = "auroc", **options: Any) -> PairedGate:
    columns = {"score_column": "p", "label_column": "y", "id_column": "id"}
    return paired_verdict(resolve_metric(metric), cand, champ, **{**columns, **options})


def test_a_better_candidate_passes_and_the_output_names_method_difference_bound_rows_and_evaluation_set(
    tmp_path: Path,
) -> None:
    cand, champ = one_file_pair(tmp_path)
    gate = verdict_of(cand, champ)
    assert gate.passed and gate.side == "lower" and gate.method == "paired DeLong"
    assert gate.bound > 0 and gate.interval[0] < gate.difference < gate.interval[1] and gate.rows == 2000
    assert gate.verdict == (
        f"auroc: candidate {gate.candidate_value:.4f} - champion {gate.champion_value:.4f} = "
        f"+{gate.difference:.4f} (95% lower bound +{gate.bound:.4f}; paired DeLong, 2,000 rows) "
        "is confidently above 0"
    )
    # the evaluation set's digest is the rows' content: the same whichever model's file, in any order
    again = verdict_of(champ, cand)
    assert again.evaluation_sha256 == gate.evaluation_sha256 and not again.passed
    assert again.difference == -gate.difference
    assert gate.candidate_sha256 != gate.champion_sha256 and gate.labels_sha256 == gate.candidate_sha256
    assert verdict_of(cand, champ) == gate  # seeded: bit-identical


def test_a_margin_must_be_beaten_and_lower_is_better_metrics_need_the_upper_bound_below_it(tmp_path: Path) -> None:
    cand, champ = one_file_pair(tmp_path)
    plain = verdict_of(cand, champ)
    assert not verdict_of(cand, champ, margin=plain.bound + 1e-6).passed
    assert verdict_of(cand, champ, margin=plain.bound / 2).passed
    mse = verdict_of(cand, champ, metric="mse")  # the candidate's probabilities are closer to the labels
    assert mse.side == "upper" and mse.difference < 0 and mse.bound < 0 and mse.passed
    assert mse.verdict.endswith("is confidently below 0")
    strict = verdict_of(cand, champ, metric="mse", margin=-mse.bound + 1e-9)
    assert not strict.passed and strict.verdict.endswith(f"is not confidently below the margin -{strict.margin:.4f}")
    f1 = verdict_of(cand, champ, metric="f1", threshold=0.5)
    assert f1.method.startswith("paired bootstrap of the joint confusion cells") and f1.positives == int(
        np.loadtxt(cand, delimiter=",", skiprows=1, usecols=2).sum()
    )


def test_a_model_against_its_own_file_never_passes(tmp_path: Path) -> None:
    cand, _ = one_file_pair(tmp_path)
    for metric, threshold in (("auroc", None), ("accuracy", 0.5), ("mae", None), ("r2", None)):
        gate = verdict_of(cand, cand, metric=metric, threshold=threshold)
        assert gate.difference == 0 and gate.interval == (0.0, 0.0) and not gate.passed, metric
    # by the point rule too: an equal candidate is no improvement over the champion
    point = verdict_of(cand, cand, decision="point")
    assert not point.passed and point.verdict.endswith(
        "= 0 (95% lower bound 0; paired DeLong, 2,000 rows) does not beat 0 by the point rule"
    )
    better = verdict_of(cand, tmp_path / "champion.csv", decision="point")
    assert better.passed and better.verdict.endswith("beats 0 by the point rule")


def test_separate_labels_join_both_models_to_the_same_labels_file(tmp_path: Path) -> None:
    ids, candidate, champion, labels = models()
    order = np.random.default_rng(2).permutation(len(ids))
    label_file = write_csv(tmp_path / "labels.csv", {"id": [ids[i] for i in order], "y": labels[order]})
    cand = write_csv(tmp_path / "cand.csv", {"id": ids, "p": candidate})
    champ = write_csv(tmp_path / "champ.csv", {"id": ids[::-1], "p": champion[::-1]})
    joined = paired_verdict(
        resolve_metric("auroc"), cand, champ, label_file, score_column="p", label_column="y", id_column="id"
    )
    direct = paired_delong(candidate, champion, labels == 1)
    assert (joined.candidate_value, joined.champion_value, joined.difference) == direct[:3]
    assert joined.labels_sha256 != joined.candidate_sha256


def refused(call: Any) -> str:
    with pytest.raises(HokusaiError) as caught:
        call()
    err = caught.value
    assert err.category is Category.INVALID_INPUT and err.exit_code == 2
    message = str(err)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_refusals_name_the_file_and_the_row(tmp_path: Path) -> None:
    ids, candidate, champion, labels = models(n=50)
    cand = write_csv(tmp_path / "candidate.csv", {"id": ids, "p": candidate, "y": labels})

    def champion_file(name: str, **changes: Any) -> Path:
        columns = {"id": list(ids), "p": list(champion), "y": list(labels), **changes}
        return write_csv(tmp_path / name, columns)

    # different row sets: by order, the lengths; by id, an id the other file lacks, or one twice
    short = write_csv(tmp_path / "short.csv", {"p": champion[:49], "y": labels[:49]})
    both_cols = write_csv(tmp_path / "cand2.csv", {"p": candidate, "y": labels})
    message = refused(
        lambda: paired_verdict(resolve_metric("auroc"), both_cols, short, score_column="p", label_column="y")
    )
    assert "cand2.csv has 50 rows and short.csv has 49" in message and "--id-column" in message
    other = champion_file("other.csv", id=[*ids[:7], "row-x", *ids[8:]])
    message = refused(lambda: verdict_of(cand, other))
    assert "data row 8 has the id 'row-7', which other.csv does not have" in message
    twice = champion_file("twice.csv", id=[*ids[:9], ids[3], *ids[10:]])
    assert "twice.csv column 'id': the id 'row-3' appears more than once (data rows 4, 10)" in refused(
        lambda: verdict_of(cand, twice)
    )
    # different labels between the two files
    flipped = list(labels)
    flipped[11] = 1 - flipped[11]
    message = refused(lambda: verdict_of(cand, champion_file("relabelled.csv", y=flipped)))
    assert message.startswith("Invalid Input: relabelled.csv data row 12 (id 'row-11') has the label")
    assert "candidate.csv data row 12" in message and "1 row differs" in message
    # the champion's own values: NaN, and scores where the metric needs 0/1 predictions
    nan = list(champion)
    nan[20] = "nan"
    assert "nan.csv column 'p' data row 21" in refused(lambda: verdict_of(cand, champion_file("nan.csv", p=nan)))
    hard = write_csv(tmp_path / "hard.csv", {"id": ids, "p": (candidate >= 0.5).astype(int), "y": labels})
    assert "champion.csv data row 1: the prediction" in refused(
        lambda: verdict_of(hard, champion_file("champion.csv"), metric="accuracy")
    )
    # settings
    assert "margin=-0.01" in refused(lambda: verdict_of(cand, cand, margin=-0.01))
    assert "margin=nan" in refused(lambda: verdict_of(cand, cand, margin=float("nan")))
    assert "confidence=1.5" in refused(lambda: verdict_of(cand, cand, confidence=1.5))


def test_the_result_model_imports_without_numpy_and_two_processes_give_the_same_bytes(tmp_path: Path) -> None:
    """Presenters import PairedGate at no start-up cost; the verdict is seeded, so a second process
    computing the same files prints the same JSON, byte for byte (bootstrap metrics included)."""
    cand, champ = one_file_pair(tmp_path)
    probe = "import sys, hokusai_ci.domain.measured.paired_gate; print('numpy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hokusai_ci.domain.measured.paired_gate import paired_verdict\n"
        "from hokusai_ci.domain.metrics import resolve_metric\n"
        "for metric, t in (('auroc', None), ('f1', 0.5), ('r2', None)):\n"
        "    g = paired_verdict(resolve_metric(metric), Path(sys.argv[1]), Path(sys.argv[2]), score_column='p',"
        " label_column='y', id_column='id', threshold=t)\n"
        "    print(g.model_dump_json())\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(cand), str(champ)], env=env, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0].splitlines()) == 3
    parsed = PairedGate.model_validate_json(runs[0].splitlines()[1])
    assert parsed == verdict_of(cand, champ, metric="f1", threshold=0.5)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.booleans()), min_size=30, max_size=60),
    shuffle=st.randoms(use_true_random=False),
)
def test_pairing_by_id_in_any_order_equals_pairing_aligned_rows_by_order(
    data: list[tuple[int, int, bool]], shuffle: Any
) -> None:
    import tempfile

    labels = [int(y) for _, _, y in data]
    labels[:10], labels[10:20] = [1] * 10, [0] * 10  # the measured gate's minimum: 10 of each class
    ids = [f"id {i}" for i in range(len(data))]
    order = list(range(len(data)))
    shuffle.shuffle(order)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cand = write_csv(tmp / "cand.csv", {"id": ids, "p": [c / 9 for c, _, _ in data], "y": labels})
        aligned = write_csv(tmp / "aligned.csv", {"id": ids, "p": [h / 9 for _, h, _ in data], "y": labels})
        shuffled = write_csv(
            tmp / "shuffled.csv",
            {"id": [ids[i] for i in order], "p": [data[i][1] / 9 for i in order], "y": [labels[i] for i in order]},
        )
        for metric, threshold in (("auroc", None), ("recall", 0.5), ("mae", None)):
            by_id = verdict_of(cand, shuffled, metric=metric, threshold=threshold)
            by_order = verdict_of(cand, aligned, metric=metric, threshold=threshold, id_column=None)
            keep = {"candidate_sha256", "champion_sha256", "evaluation_sha256"}
            assert by_id.model_dump(exclude=keep) == by_order.model_dump(exclude=keep)
            assert (
                by_id.evaluation_sha256
                == verdict_of(cand, aligned, metric=metric, threshold=threshold).evaluation_sha256
            )
