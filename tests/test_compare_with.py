"""`--compare-with models:/NAME/VERSION`: a candidate gated on the paired difference against a
registered version's stored evidence, on the same evaluation rows.

A real MLflow server (proxying artifacts) holds the version and its evidence; the test fault
proxy counts what the comparison asks of it. The evidence is real CSV files: the candidate is the
champion's scores shifted for the positives (the same rows and labels, a better model).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hokusai_ci.adapters.mlflow_tracking import MlflowTracker
from tests.conftest import register_args, run_here
from tests.fault_proxy import FaultProxy
from tests.servers import MlflowServer
from tests.test_action_entrypoint import run_entry, runner  # noqa: F401 (fixture)
from tests.test_measured_stored import stored_files
from tests.test_measured_wire import COLUMNS, evidence
from tests.test_signing import keypair

GATED_AS = {"score_column": "p", "label_column": "y"}  # the champion's own column names


def renamed(path: Path, header: str) -> Path:
    """The same rows under another header: the champion was gated with other column names."""
    lines = path.read_text().splitlines()
    out = path.with_name(f"renamed-{path.name}")
    out.write_text("\n".join([header, *lines[1:]]) + "\n")
    return out


def champion(server_url: str, token: str, model: Path, folder: Path) -> Path:
    """Version 1 of hokusai-<token>, registered with its predictions (auroc about 0.90 on 2000 rows)."""
    preds = renamed(evidence(folder, f"champion-{token}.csv", 2000, 1.8), "p,y")
    run_here("token", "create", "--token-id", token)
    options = {"predictions": str(preds), **GATED_AS, "mlflow_uri": server_url}
    r = run_here(*register_args(token, model, "auroc", "0.8", None, **options), "--output", "json")
    assert r.code == 0, r.out + r.err
    return preds


def compare(token: str, model: Path, preds: Path, uri: str, command: str = "gate", **extra: str) -> list[str]:
    options = {"predictions": str(preds), **COLUMNS, "compare_with": uri, **extra}
    return [*register_args(token, model, "auroc", "0.8", None, command=command, **options), "--output", "json"]


@pytest.fixture
def better(tmp_path: Path) -> Path:
    """The champion's rows and labels, each positive's score 0.7 higher: auroc about 0.94."""
    return evidence(tmp_path, "better.csv", 2000, 2.5)


def test_a_better_candidate_passes_on_the_paired_difference_and_register_records_it(
    mlflow_server: MlflowServer, model_file: Path, better: Path, tmp_path: Path
) -> None:
    champion(mlflow_server.url, "CWBETTER", model_file, tmp_path)
    uri = "models:/hokusai-CWBETTER/1"
    g = run_here(*compare("CWBETTER", model_file, better, uri, mlflow_uri=mlflow_server.url))
    assert g.code == 0, g.out + g.err
    paired = g.json()["paired"]
    assert g.json()["compared_with"] == uri and paired["passed"] and paired["method"].startswith("paired DeLong")
    assert paired["difference"] > 0 and paired["bound"] > 0 and paired["rows"] == 2000
    assert paired["evaluation_sha256"] == g.json()["measured"]["evaluation_sha256"]
    text = run_here(*compare("CWBETTER", model_file, better, uri, mlflow_uri=mlflow_server.url)[:-2])
    assert f"paired   vs {uri}: auroc: candidate 0." in text.out and "paired DeLong, 2,000 rows)" in text.out

    # register a second version with the comparison: passed, its tags carry the same evaluation digest
    run_here("token", "create", "--token-id", "CWBETTER2")  # a token registers once: the next one, same model
    again = {"mlflow_uri": mlflow_server.url, "model_name": "hokusai-CWBETTER"}
    r = run_here(*compare("CWBETTER2", model_file, better, uri, "register", **again))
    assert r.code == 0, r.out + r.err
    assert r.json()["model_version"] == "2" and r.json()["paired"]["passed"]
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    first, second = (client.get_model_version("hokusai-CWBETTER", v).tags for v in ("1", "2"))
    assert first["hokusai.evaluation_sha256"] == second["hokusai.evaluation_sha256"] == paired["evaluation_sha256"]
    assert first["hokusai.evidence_columns"] == '{"label":"y","score":"p"}'
    assert second["hokusai.evidence_columns"] == '{"label":"label","score":"score"}'


def test_a_candidate_equal_to_the_champion_is_exit_6_naming_the_paired_verdict(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    preds = champion(mlflow_server.url, "CWSAME", model_file, tmp_path)
    same = tmp_path / "same.csv"
    same.write_text("score,label\n" + preds.read_text().split("\n", 1)[1])
    run_here("token", "create", "--token-id", "CWSAME2")
    for command in ("gate", "register"):
        again = {"mlflow_uri": mlflow_server.url, "model_name": "hokusai-CWSAME" if command == "register" else None}
        r = run_here(*compare("CWSAME2", model_file, same, "models:/hokusai-CWSAME/1", command, **again))
        assert r.code == 6, r.out + r.err
        message = r.json()["error"]["message"]
        assert "against models:/hokusai-CWSAME/1, auroc: candidate" in message
        assert "= 0 (95% lower bound 0; paired DeLong, 2,000 rows) is not confidently above 0" in message
        assert r.json()["measured"]["passed"] and not r.json()["paired"]["passed"]  # the baseline alone passes
    assert run_here("model", "status", "--token-id", "CWSAME2", "--output", "json").json()["status"] == "draft"


def test_another_evaluation_set_is_exit_2_naming_both_digests(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    champion(mlflow_server.url, "CWOTHER", model_file, tmp_path)
    other = evidence(tmp_path, "other.csv", 1500, 2.5)
    r = run_here(*compare("CWOTHER", model_file, other, "models:/hokusai-CWOTHER/1", mlflow_uri=mlflow_server.url))
    assert r.code == 2, r.out + r.err
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    theirs = client.get_model_version("hokusai-CWOTHER", "1").tags["hokusai.evaluation_sha256"]
    message = r.json()["error"]["message"]
    assert f"evaluation sha256 {theirs})" in message and "another evaluation set" in message
    measured = run_here(
        *register_args("CWOTHER", model_file, "auroc", "0.8", None, command="gate", predictions=str(other), **COLUMNS),
        "--output",
        "json",
    )
    assert f"({measured.json()['measured']['evaluation_sha256']})" in message


def test_a_version_without_evidence_is_exit_2_naming_how_it_was_registered(
    mlflow_server: MlflowServer, model_file: Path, better: Path
) -> None:
    run_here("token", "create", "--token-id", "CWNONE")
    assert run_here(*register_args("CWNONE", model_file, mlflow_uri=mlflow_server.url)).code == 0
    r = run_here(*compare("CWNONE", model_file, better, "models:/hokusai-CWNONE/1", mlflow_uri=mlflow_server.url))
    assert r.code == 2, r.out + r.err
    message = r.json()["error"]["message"]
    assert "models:/hokusai-CWNONE/1 has no stored evidence" in message and "given-value" in message


def test_tampered_stored_evidence_is_refused_by_its_digest(
    mlflow_server: MlflowServer, model_file: Path, better: Path, tmp_path: Path
) -> None:
    champion(mlflow_server.url, "CWTAMP", model_file, tmp_path)
    [stored] = stored_files(mlflow_server, "hokusai-CWTAMP", "1").values()
    stored.write_text(stored.read_text().replace("\n", "\n-", 1))  # one score changed
    r = run_here(*compare("CWTAMP", model_file, better, "models:/hokusai-CWTAMP/1", mlflow_uri=mlflow_server.url))
    assert r.code == 11, r.out + r.err
    message = r.json()["error"]["message"]
    assert message.startswith("models:/hokusai-CWTAMP/1: evidence file 'predictions.csv' (sha256 ")
    # the version was never signed: what was compared is its tag's digest, and the message says so
    tag = "the version's hokusai.evidence_sha256 tag (an unsigned record: no signed statement was compared)"
    assert message.endswith(f"does not match {tag}")
    assert r.json()["paired"] is None


def test_the_comparison_adds_only_the_tag_read_and_the_evidence_download(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, better: Path, tmp_path: Path
) -> None:
    """A gate without --compare-with asks MLflow nothing; with it, the requests are exactly one
    read of the version and its run, then one download of the evidence folder (as MLflow's
    client downloads a folder: it lists it and reads the run itself)."""
    champion(mlflow_server.url, "CWCOUNT", model_file, tmp_path)
    proxy.reset()
    r = run_here(*compare("CWCOUNT", model_file, better, "models:/hokusai-CWCOUNT/1", mlflow_uri=proxy.url))
    assert r.code == 0, r.out + r.err
    gate_calls = list(proxy.calls)
    assert r.json()["paired"]["candidate_sha256"] == hashlib.sha256(better.read_bytes()).hexdigest()

    proxy.reset()
    reader = MlflowTracker(proxy.url, "hokusai")
    tracked, tags = reader.read_version("hokusai-CWCOUNT", "1")
    tag_read = list(proxy.calls)
    proxy.reset()
    folder = tags["hokusai.evidence_uri"].rsplit("/", 2)[-2:]
    assert reader.download(tracked, "/".join(folder), str(tmp_path / "once")) is not None
    download = list(proxy.calls)
    assert tag_read == [("GET", "/api/2.0/mlflow/model-versions/get"), ("GET", "/api/2.0/mlflow/runs/get")]
    # MLflow's client asks a server for its capabilities once a process (server-info): the
    # reader here asked before, the gate's run did not
    assert [c for c in gate_calls if not c[1].endswith("/server-info")] == tag_read + download
    assert [p for m, p in gate_calls if "hokusai-evidence" in p] == [p for m, p in download if "hokusai-evidence" in p]
    assert not any(m in ("PUT", "DELETE") or p.endswith(("/set-tag", "/create")) for m, p in gate_calls)

    proxy.reset()
    plain = {"predictions": str(better), **COLUMNS, "mlflow_uri": proxy.url}
    assert run_here(*register_args("CWCOUNT", model_file, "auroc", "0.8", None, command="gate", **plain)).code == 0
    assert proxy.calls == []


def test_the_action_gate_compares_and_its_summary_names_the_paired_verdict(
    runner: dict[str, str],  # noqa: F811 (fixture)
    mlflow_server: MlflowServer,
    model_file: Path,
    tmp_path: Path,
) -> None:
    """The real entry point in a pull request's gate-only job: MLflow is read for the version
    `compare-with` names, with the `mlflow-uri` input, and nothing else is touched."""
    champion(mlflow_server.url, "CWACTION", model_file, tmp_path)
    workspace = Path(runner["GITHUB_WORKSPACE"])
    evidence(workspace, "better.csv", 2000, 2.5)
    env = {k: v for k, v in runner.items() if k != "HOKUSAI_MOCK_MODE"}
    env |= {"INPUT_GATE-ONLY": "true", "INPUT_TOKEN-ID": "CWACTION", "INPUT_METRIC-VALUE": "", "INPUT_BASELINE": "0.8"}
    env |= {"INPUT_PREDICTIONS": "better.csv", "INPUT_SCORE-COLUMN": "score", "INPUT_LABEL-COLUMN": "label"}
    env |= {"INPUT_COMPARE-WITH": "models:/hokusai-CWACTION/1", "INPUT_MLFLOW-URI": mlflow_server.url}
    proc = run_entry(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Paired against `models:/hokusai-CWACTION/1`: **auroc: candidate 0\\." in summary
    assert "paired DeLong, 2,000 rows\\) is confidently above 0**" in summary
    assert "paired   vs models:/hokusai-CWACTION/1: auroc: candidate" in proc.stdout


def test_the_evaluation_digest_is_signed_and_verify_checks_its_tag(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    preds = renamed(evidence(tmp_path, "signed.csv", 2000, 1.8), "p,y")
    run_here("token", "create", "--token-id", "CWSIGN")
    options = {"predictions": str(preds), **GATED_AS, "mlflow_uri": mlflow_server.url, "sign_key": str(private)}
    r = run_here(*register_args("CWSIGN", model_file, "auroc", "0.8", None, **options), "--output", "json")
    assert r.code == 0, r.out + r.err
    digest = r.json()["measured"]["evaluation_sha256"]
    verify = ["model", "verify", "--model-uri", "models:/hokusai-CWSIGN/1", "--public-key", str(public)]
    verify += ["--mlflow-uri", mlflow_server.url, "--output", "json"]
    assert run_here(*verify).code == 0
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    client.set_model_version_tag("hokusai-CWSIGN", "1", "hokusai.evaluation_sha256", "0" * 64)
    v = run_here(*verify)
    assert v.code == 11, v.out + v.err
    assert f"tag hokusai.evaluation_sha256 is '{'0' * 64}'; the signed statement says '{digest}'" in v.out


def test_a_champion_that_kept_its_predictions_is_compared_pairwise_through_baseline_from(
    mlflow_server: MlflowServer, model_file: Path, better: Path, tmp_path: Path
) -> None:
    """`register --baseline-from alias:champion` with a measured candidate: the champion's value is
    the baseline and, as the champion kept its predictions for the same rows, the candidate is
    compared with it pairwise too (the output names the version and the method); a candidate
    equal to the champion is exit 6 and its token stays draft."""
    preds = champion(mlflow_server.url, "CWALIAS", model_file, tmp_path)
    promoted = run_here("model", "promote", "--token-id", "CWALIAS", "--mlflow-uri", mlflow_server.url)
    assert promoted.code == 0, promoted.err
    same = tmp_path / "same.csv"
    same.write_text("score,label\n" + preds.read_text().split("\n", 1)[1])
    outcomes = {}
    for token, candidate in (("CWALIAS2", better), ("CWALIAS3", same)):
        run_here("token", "create", "--token-id", token)
        options = {"predictions": str(candidate), **COLUMNS, "mlflow_uri": mlflow_server.url}
        options |= {"baseline_from": "alias:champion", "model_name": "hokusai-CWALIAS"}
        outcomes[token] = run_here(
            *register_args(token, model_file, "auroc", None, None, **options), "--output", "json"
        )
    won, equal = outcomes["CWALIAS2"], outcomes["CWALIAS3"]
    assert won.code == 0, won.out + won.err
    out = won.json()
    assert out["compared_with"] == "models:/hokusai-CWALIAS/1" and out["paired"]["method"].startswith("paired DeLong")
    assert out["paired"]["passed"] and out["baseline_source"]["version"] == "1" and out["model_version"] == "2"
    assert out["baseline_source"]["evaluation_sha256"] == out["measured"]["evaluation_sha256"]
    assert equal.code == 6, equal.out + equal.err
    assert not equal.json()["paired"]["passed"]
    assert "against models:/hokusai-CWALIAS/1" in equal.json()["error"]["message"]
    assert run_here("model", "status", "--token-id", "CWALIAS3", "--output", "json").json()["status"] == "draft"
