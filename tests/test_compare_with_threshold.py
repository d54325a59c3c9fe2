"""A threshold metric's champion is scored at its own threshold, never at the candidate's.

Found by a hostile user: the champion's stored scores were counted at the CANDIDATE's
--threshold, so a candidate whose scores are the champion's to the 4th power, counted at
0.68⁴, predicted every row exactly as the champion yet "beat" it by +0.22. The real MLflow
server, the CLI in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from mlflow import MlflowClient

from hokusai_ci.core.champion_compare import Unrecorded, stored_threshold
from hokusai_ci.domain.measured.paired_gate import paired_verdict
from hokusai_ci.domain.metrics import resolve_metric
from tests.conftest import register_args, run_here
from tests.servers import MlflowServer
from tests.test_signing import keypair

THRESHOLD = 0.68
POWER = 4
CANDIDATE_THRESHOLD = "0.21381376"  # 0.68⁴
COLUMNS = {"id_column": "id", "score_column": "score", "label_column": "label"}


def champion_scores(folder: Path, rows: int = 2000) -> tuple[Path, Path]:
    """The champion's probabilities (accuracy about 0.77 at 0.68, none within 0.001 of it) and a
    candidate whose scores are their 4th power: at 0.68⁴ every row is predicted as the champion's."""
    rng = np.random.default_rng(7)
    labels = (rng.random(rows) < 0.5).astype(int)
    p = np.clip(0.55 + 0.25 * (labels - 0.5) + rng.normal(0, 0.17, rows), 0.0, 1.0).round(6)
    p[np.abs(p - THRESHOLD) < 1e-3] += 0.01
    champ, cand = folder / "champ_p.csv", folder / "cand_p.csv"
    rows_of = list(zip(p.tolist(), labels.tolist(), strict=True))
    champ.write_text("id,score,label\n" + "".join(f"r{i},{s!r},{y}\n" for i, (s, y) in enumerate(rows_of)))
    cand.write_text("id,score,label\n" + "".join(f"r{i},{s**POWER!r},{y}\n" for i, (s, y) in enumerate(rows_of)))
    return champ, cand


def register_champion(url: str, token: str, model: Path, preds: Path) -> None:
    run_here("token", "create", "--token-id", token)
    options = {"predictions": str(preds), **COLUMNS, "threshold": str(THRESHOLD), "mlflow_uri": url}
    r = run_here(*register_args(token, model, "accuracy", "0.5", None, **options), "--output", "json")
    assert r.code == 0, r.out + r.err
    assert run_here("model", "promote", "--token-id", token, "--mlflow-uri", url).code == 0


def against_champion(
    url: str, token: str, model: Path, preds: Path, command: str, champ: str = "THRCHAMP"
) -> list[str]:
    """`model gate|register` of `preds` at 0.68⁴ against the champion of hokusai-<champ>."""
    options = {"predictions": str(preds), **COLUMNS, "threshold": CANDIDATE_THRESHOLD, "mlflow_uri": url}
    options |= {"baseline_from": "alias:champion", "model_name": f"hokusai-{champ}"}
    return [*register_args(token, model, "accuracy", None, None, command=command, **options), "--output", "json"]


def test_the_same_predictions_at_another_threshold_do_not_beat_the_champion(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """Exit 6 with a difference of exactly 0, by gate and by register; the version records the
    threshold it was measured with (tag and signed field) and the paired result names both."""
    champ, cand = champion_scores(tmp_path)
    register_champion(mlflow_server.url, "THRCHAMP", model_file, champ)
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    columns = json.loads(client.get_model_version("hokusai-THRCHAMP", "1").tags["hokusai.evidence_columns"])
    assert columns["threshold"] == repr(THRESHOLD)
    for command in ("gate", "register"):
        run_here("token", "create", "--token-id", "THRCAND")
        r = run_here(*against_champion(mlflow_server.url, "THRCAND", model_file, cand, command))
        assert r.code == 6, (command, r.out + r.err)
        paired = r.json()["paired"]
        assert paired is not None and paired["difference"] == 0.0, (command, paired)
        assert paired["candidate_value"] == paired["champion_value"]
        assert paired["threshold"] == float(CANDIDATE_THRESHOLD) and paired["champion_threshold"] == THRESHOLD
    assert run_here("model", "status", "--token-id", "THRCAND", "--output", "json").json()["status"] == "draft"


def test_a_version_that_recorded_no_threshold_is_not_paired_and_says_why(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """A version registered before the threshold was recorded: its scores are not counted at a
    guessed threshold; the candidate is compared unpaired and one line says why."""
    champ, cand = champion_scores(tmp_path)
    register_champion(mlflow_server.url, "THRPAST", model_file, champ)
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    client.set_model_version_tag("hokusai-THRPAST", "1", "hokusai.evidence_columns", '{"id":"id"}')
    run_here("token", "create", "--token-id", "THROLD")
    r = run_here(*against_champion(mlflow_server.url, "THROLD", model_file, cand, "gate", "THRPAST"))
    out = r.json()
    assert out["paired"] is None, out["paired"]
    reason = out["not_paired"]
    assert reason.startswith("not paired with models:/hokusai-THRPAST/1: its hokusai.evidence_columns tag records")
    assert "no threshold is guessed" in reason and "\n" not in reason
    assert out["measured"]["baseline"] == out["baseline_source"]["value"]


def test_each_model_is_counted_at_its_own_threshold(tmp_path: Path) -> None:
    """The paired verdict itself: the champion at 0.68, the candidate at 0.68⁴, the same predictions."""
    champ, cand = champion_scores(tmp_path)
    accuracy = resolve_metric("accuracy")
    own = paired_verdict(
        accuracy, cand, champ, **COLUMNS, threshold=float(CANDIDATE_THRESHOLD), champion_threshold=THRESHOLD
    )
    assert own.difference == 0.0 and own.candidate_value == own.champion_value and not own.passed
    shared = paired_verdict(accuracy, cand, champ, **COLUMNS, threshold=float(CANDIDATE_THRESHOLD))
    assert shared.difference > 0.1  # both at the candidate's threshold: what the comparison must not do


def test_the_recorded_threshold_is_read_back_and_never_guessed() -> None:
    assert stored_threshold('{"id":"id","threshold":"0.68"}', "f1") == 0.68
    assert stored_threshold('{"id":"id","threshold":"none"}', "accuracy") is None  # 0/1 predictions
    assert isinstance(stored_threshold('{"id":"id"}', "precision"), Unrecorded)
    assert isinstance(stored_threshold(None, "recall"), Unrecorded)
    assert stored_threshold('{"id":"id"}', "auroc") is None  # no threshold applies


def test_the_threshold_is_signed_and_verify_refuses_a_changed_one(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """The threshold decides how the stored scores are counted later, so it is in the signed
    statement; a tag changed after signing fails `model verify` (exit 11) naming the tag."""
    private, public = keypair(tmp_path)
    champ, _ = champion_scores(tmp_path)
    run_here("token", "create", "--token-id", "THRSIGN")
    options = {"predictions": str(champ), **COLUMNS, "threshold": str(THRESHOLD)}
    options |= {"mlflow_uri": mlflow_server.url, "sign_key": str(private)}
    r = run_here(*register_args("THRSIGN", model_file, "accuracy", "0.5", None, **options), "--output", "json")
    assert r.code == 0, r.out + r.err
    verify = ["model", "verify", "--model-uri", "models:/hokusai-THRSIGN/1", "--public-key", str(public)]
    verify += ["--mlflow-uri", mlflow_server.url, "--output", "json"]
    assert run_here(*verify).code == 0
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    changed = '{"id":"id","label":"label","score":"score","threshold":"0.2"}'
    client.set_model_version_tag("hokusai-THRSIGN", "1", "hokusai.evidence_columns", changed)
    v = run_here(*verify)
    assert v.code == 11, v.out + v.err
    assert f"tag hokusai.evidence_columns is '{changed}'; the signed threshold is 0.68" in v.json()["error"]["message"]
