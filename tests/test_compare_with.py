"""`--compare-with models:/NAME/VERSION`: a candidate gated on the paired difference against a
registered version's stored evidence, on the same evaluation rows.

A real MLflow server (proxying artifacts) holds the version and its evidence; the test fault
proxy counts what the comparison asks of it. The evidence is real CSV files: the candidate is the
champion's scores shifted for the positives (the same rows and labels, a better model).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from hokusai_ci.adapters.mlflow_tracking import MlflowTracker
from hokusai_ci.domain.results import RegistrationResult, output_fields
from hokusai_ci.faces.github_report import summary_markdown
from tests.conftest import register_args, run_here
from tests.fault_proxy import FaultProxy
from tests.servers import MlflowServer
from tests.test_action_entrypoint import run_entry, runner  # noqa: F401 (fixture)
from tests.test_compare_with_inputs import twenty_thousand_rows
from tests.test_measured_stored import stored_files
from tests.test_measured_wire import COLUMNS, evidence
from tests.test_signing import keypair

GATED_AS = {"score_column": "p", "label_column": "y", "id_column": "key"}  # the champion's own column names
IDS = {**COLUMNS, "id_column": "id"}  # the candidates': rows are paired only when joined by ids


def renamed(path: Path, header: str) -> Path:
    """The same rows under another header: the champion was gated with other column names."""
    lines = path.read_text().splitlines()
    out = path.with_name(f"renamed-{path.name}")
    out.write_text("\n".join([header, *lines[1:]]) + "\n")
    return out


def with_ids(path: Path) -> Path:
    """The same rows with an `id` column first (r0, r1, ...): `evidence` files of the same
    length hold the same labels in the same order, so the same ids name the same rows."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([f"id,{lines[0]}", *(f"r{i},{line}" for i, line in enumerate(lines[1:]))]) + "\n")
    return path


def champion(server_url: str, token: str, model: Path, folder: Path, ids: bool = True) -> Path:
    """Version 1 of hokusai-<token>, registered with its predictions (auroc about 0.90 on 2000
    rows), joined by ids unless `ids` is False."""
    preds = evidence(folder, f"champion-{token}.csv", 2000, 1.8)
    preds = renamed(with_ids(preds), "key,p,y") if ids else renamed(preds, "p,y")
    run_here("token", "create", "--token-id", token)
    gated_as = GATED_AS if ids else {k: v for k, v in GATED_AS.items() if k != "id_column"}
    options = {"predictions": str(preds), **gated_as, "mlflow_uri": server_url}
    r = run_here(*register_args(token, model, "auroc", "0.8", None, **options), "--output", "json")
    assert r.code == 0, r.out + r.err
    return preds


def compare(token: str, model: Path, preds: Path, uri: str, command: str = "gate", **extra: str) -> list[str]:
    options = {"predictions": str(preds), **IDS, "compare_with": uri, **extra}
    return [*register_args(token, model, "auroc", "0.8", None, command=command, **options), "--output", "json"]


@pytest.fixture
def better(tmp_path: Path) -> Path:
    """The champion's rows and labels, each positive's score 0.7 higher: auroc about 0.94."""
    return with_ids(evidence(tmp_path, "better.csv", 2000, 2.5))


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
    assert first["hokusai.evidence_columns"] == '{"id":"key","label":"y","score":"p"}'
    assert second["hokusai.evidence_columns"] == '{"id":"id","label":"label","score":"score"}'


def test_the_gate_reads_the_version_from_the_mlflow_the_environment_names(
    mlflow_server: MlflowServer, model_file: Path, better: Path, tmp_path: Path
) -> None:
    """A pull request's gate with MLFLOW_TRACKING_URI exported (no --mlflow-uri) compares with the
    version on that server, as the registration would reach it, not with an empty local store."""
    champion(mlflow_server.url, "CWENV", model_file, tmp_path)
    g = run_here(
        *compare("CWENV", model_file, better, "models:/hokusai-CWENV/1"), env={"MLFLOW_TRACKING_URI": mlflow_server.url}
    )
    assert g.code == 0, g.out + g.err
    assert g.json()["paired"]["passed"] and g.json()["decided_by"] == "paired"


def test_a_pull_requests_gate_against_the_champion_reaches_the_registrations_verdict(
    mlflow_server: MlflowServer, model_file: Path, better: Path, tmp_path: Path
) -> None:
    """`model gate --baseline-from alias:champion` (MLflow named by the environment, as in a pull
    request) pairs with the champion exactly as the registration on main does: the same verdict,
    the same baseline source, for a better candidate and for the champion's own predictions."""
    preds = champion(mlflow_server.url, "CWPR", model_file, tmp_path)
    assert run_here("model", "promote", "--token-id", "CWPR", "--mlflow-uri", mlflow_server.url).code == 0
    same = tmp_path / "same.csv"
    same.write_text("id,score,label\n" + preds.read_text().split("\n", 1)[1])
    run_here("token", "create", "--token-id", "CWPR2")
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url}
    for candidate, code in ((better, 0), (same, 6)):
        seen = []
        for command in ("gate", "register"):
            options = {"predictions": str(candidate), **IDS, "baseline_from": "alias:champion"}
            options |= {"model_name": "hokusai-CWPR", "dry_run": "true" if command == "register" else None}
            args = register_args("CWPR2", model_file, "auroc", None, None, command=command, **options)
            r = run_here(*args, "--output", "json", env=env)
            assert r.code == code, (command, r.out, r.err)
            out = r.json()
            assert out["baseline_source"]["source"] == "alias" and out["baseline_source"]["version"] == "1"
            seen.append(
                (out["decided_by"], out["paired"]["passed"], out["paired"]["difference"], out["metric"]["baseline"])
            )
        assert seen[0] == seen[1], seen


def test_compare_with_another_version_than_the_champion_is_refused(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """`--baseline-from alias:champion` names the version to beat; `--compare-with` naming another
    (a weaker one) would let a candidate worse than the champion pass on the paired verdict."""
    url = mlflow_server.url
    champion(url, "CWTWO", model_file, tmp_path)
    assert run_here("model", "promote", "--token-id", "CWTWO", "--mlflow-uri", url).code == 0
    weaker = with_ids(evidence(tmp_path, "weaker.csv", 2000, 0.8))
    run_here("token", "create", "--token-id", "CWTWO2")
    options = {"predictions": str(weaker), **IDS, "mlflow_uri": url, "model_name": "hokusai-CWTWO"}
    assert run_here(*register_args("CWTWO2", model_file, "auroc", "0.5", None, **options)).code == 0  # version 2
    candidate = with_ids(evidence(tmp_path, "mid.csv", 2000, 1.5))
    run_here("token", "create", "--token-id", "CWTWO3")
    for command in ("gate", "register"):
        options = {"predictions": str(candidate), **IDS, "mlflow_uri": url, "model_name": "hokusai-CWTWO"}
        options |= {"baseline_from": "alias:champion", "compare_with": "models:/hokusai-CWTWO/2"}
        r = run_here(*register_args("CWTWO3", model_file, "auroc", None, None, command=command, **options))
        assert r.code == 2, r.out + r.err
        assert (
            "--baseline-from alias:champion names models:/hokusai-CWTWO/1, the version the candidate must beat" in r.err
        )
    assert run_here("model", "status", "--token-id", "CWTWO3", "--output", "json").json()["status"] == "draft"


def test_a_candidate_equal_to_the_champion_is_exit_6_naming_the_paired_verdict(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    preds = champion(mlflow_server.url, "CWSAME", model_file, tmp_path)
    same = tmp_path / "same.csv"
    same.write_text("id,score,label\n" + preds.read_text().split("\n", 1)[1])
    run_here("token", "create", "--token-id", "CWSAME2")
    for command in ("gate", "register"):
        again = {"mlflow_uri": mlflow_server.url, "model_name": "hokusai-CWSAME" if command == "register" else None}
        r = run_here(*compare("CWSAME2", model_file, same, "models:/hokusai-CWSAME/1", command, **again))
        assert r.code == 6, r.out + r.err
        message = r.json()["error"]["message"]
        assert "against models:/hokusai-CWSAME/1, auroc: candidate" in message
        assert "= 0 (95% lower bound 0; paired DeLong, 2,000 rows) is not confidently above 0" in message
        assert r.json()["measured"]["passed"] and not r.json()["paired"]["passed"]  # the baseline alone passes
        assert r.json()["decided_by"] == "paired" and "(the paired verdict decides)" in message
    assert run_here("model", "status", "--token-id", "CWSAME2", "--output", "json").json()["status"] == "draft"


def test_another_evaluation_set_is_exit_2_naming_both_digests(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    champion(mlflow_server.url, "CWOTHER", model_file, tmp_path)
    other = with_ids(evidence(tmp_path, "other.csv", 1500, 2.5))
    r = run_here(*compare("CWOTHER", model_file, other, "models:/hokusai-CWOTHER/1", mlflow_uri=mlflow_server.url))
    assert r.code == 2, r.out + r.err
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    theirs = client.get_model_version("hokusai-CWOTHER", "1").tags["hokusai.evaluation_sha256"]
    message = r.json()["error"]["message"]
    assert f"evaluation sha256 {theirs})" in message and "another evaluation set" in message
    measured = run_here(
        *register_args("CWOTHER", model_file, "auroc", "0.8", None, command="gate", predictions=str(other), **IDS),
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
    with_ids(evidence(workspace, "better.csv", 2000, 2.5))
    env = {k: v for k, v in runner.items() if k != "HOKUSAI_MOCK_MODE"}
    env |= {"INPUT_GATE-ONLY": "true", "INPUT_TOKEN-ID": "CWACTION", "INPUT_METRIC-VALUE": "", "INPUT_BASELINE": "0.8"}
    env |= {"INPUT_PREDICTIONS": "better.csv", "INPUT_SCORE-COLUMN": "score", "INPUT_LABEL-COLUMN": "label"}
    env |= {"INPUT_ID-COLUMN": "id"}
    env |= {"INPUT_COMPARE-WITH": "models:/hokusai-CWACTION/1", "INPUT_MLFLOW-URI": mlflow_server.url}
    proc = run_entry(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Paired against `models:/hokusai-CWACTION/1`: **auroc: candidate 0\\." in summary
    assert "paired DeLong, 2,000 rows\\) is confidently above 0**" in summary
    assert "Decided by the paired verdict; the single-value figures are reported, not gated on." in summary
    assert "paired   vs models:/hokusai-CWACTION/1: auroc: candidate" in proc.stdout
    assert "  decided  by the paired verdict; the single-value figures are reported, not gated on" in proc.stdout


def test_the_evaluation_digest_is_signed_and_verify_checks_its_tag(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    preds = renamed(evidence(tmp_path, "signed.csv", 2000, 1.8), "p,y")
    run_here("token", "create", "--token-id", "CWSIGN")
    options = {"predictions": str(preds), "score_column": "p", "label_column": "y"}
    options |= {"mlflow_uri": mlflow_server.url, "sign_key": str(private)}
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
    same.write_text("id,score,label\n" + preds.read_text().split("\n", 1)[1])
    outcomes = {}
    for token, candidate in (("CWALIAS2", better), ("CWALIAS3", same)):
        run_here("token", "create", "--token-id", token)
        options = {"predictions": str(candidate), **IDS, "mlflow_uri": mlflow_server.url}
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


def test_without_ids_another_set_with_the_same_labels_is_not_paired_but_compared_unpaired(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """Both measured by row order: the evaluation digest is the labels in row order, which a
    DIFFERENT evaluation set with the same label sequence shares. Such a candidate is never
    paired with the version: the output says why in one line naming --id-column, and the
    candidate is compared unpaired (its own bound against the version's value; with
    --baseline-from that value is the baseline already)."""
    champion(mlflow_server.url, "CWNOID", model_file, tmp_path, ids=False)
    # other rows (another noise draw) with the same label sequence: the same id-less digest
    easier = tmp_path / "easier.csv"
    rng = np.random.default_rng(5)
    easier.write_text("score,label\n" + "".join(f"{rng.normal(2.2 * (i % 2))!r},{i % 2}\n" for i in range(2000)))
    uri = "models:/hokusai-CWNOID/1"
    plain = {"predictions": str(easier), **COLUMNS, "compare_with": uri, "mlflow_uri": mlflow_server.url}
    r = run_here(
        *register_args("CWNOID", model_file, "auroc", "0.8", None, command="gate", **plain), "--output", "json"
    )
    assert r.code == 0, r.out + r.err
    out = r.json()
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    tags = client.get_model_version("hokusai-CWNOID", "1").tags
    assert out["measured"]["evaluation_sha256"] == tags["hokusai.evaluation_sha256"]  # the digest cannot tell
    assert out["paired"] is None and out["decided_by"] == "single-value" and out["compared_with"] == uri
    assert out["not_paired"].startswith(f"not paired with {uri}: this candidate was measured without --id-column")
    assert out["unpaired"]["baseline"] == float(tags["hokusai.metric_value"]) and out["unpaired"]["passed"]
    text = run_here(*register_args("CWNOID", model_file, "auroc", "0.8", None, command="gate", **plain))
    [line] = [ln for ln in text.out.splitlines() if "--id-column" in ln]
    assert line.startswith(f"  unpaired not paired with {uri}:")
    assert f"  unpaired vs {uri}: auroc 0." in text.out
    assert "  decided  by the single-value verdicts" in text.out

    # through --baseline-from: the champion's value is the baseline, the same line says why
    assert run_here("model", "promote", "--token-id", "CWNOID", "--mlflow-uri", mlflow_server.url).code == 0
    run_here("token", "create", "--token-id", "CWNOID2")
    options = {"predictions": str(easier), **COLUMNS, "mlflow_uri": mlflow_server.url}
    options |= {"baseline_from": "alias:champion", "model_name": "hokusai-CWNOID"}
    reg = run_here(*register_args("CWNOID2", model_file, "auroc", None, None, **options), "--output", "json")
    assert reg.code == 0, reg.out + reg.err
    got = reg.json()
    assert got["paired"] is None and got["unpaired"] is None and got["decided_by"] == "single-value"
    assert got["not_paired"].startswith(f"not paired with {uri}:") and "--id-column" in got["not_paired"]
    assert got["measured"]["baseline"] == got["baseline_source"]["value"] == float(tags["hokusai.metric_value"])


def test_at_20000_rows_a_small_gain_registers_on_the_paired_verdict_against_the_champion(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """The paired comparison's motivating example, end to end: the champion registered with its
    20,000 predictions and promoted; the candidate's own bound is below the champion's value, the
    paired difference (+0.005 ± 0.0021) is confidently above 0 and decides. The JSON, the text
    output and the job summary say so."""
    cand, champ = twenty_thousand_rows(tmp_path)
    columns = {"score_column": "score", "label_column": "label", "id_column": "id", "mlflow_uri": mlflow_server.url}
    run_here("token", "create", "--token-id", "CW20K")
    first = run_here(*register_args("CW20K", model_file, "auroc", "0.7", None, predictions=str(champ), **columns))
    assert first.code == 0, first.out + first.err
    assert run_here("model", "promote", "--token-id", "CW20K", "--mlflow-uri", mlflow_server.url).code == 0
    run_here("token", "create", "--token-id", "CW20K2")
    options = {"predictions": str(cand), **columns, "baseline_from": "alias:champion", "model_name": "hokusai-CW20K"}
    private, public = keypair(tmp_path)
    options["sign_key"] = str(private)
    r = run_here(*register_args("CW20K2", model_file, "auroc", None, None, **options), "--output", "json")
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["decided_by"] == "paired" and out["paired"]["passed"] and not out["measured"]["passed"]
    assert out["metric"]["passed"] and out["model_version"] == "2"
    half = out["paired"]["interval"][1] - out["paired"]["difference"]
    assert 0.0018 <= half <= 0.0024, half
    # the version's record says the paired verdict decided; its bound tag stays the candidate's own
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    tags = client.get_model_version("hokusai-CW20K", "2").tags
    assert tags["hokusai.metric_basis"] == "paired-lower-bound"
    assert float(tags["hokusai.metric_bound"]) == out["measured"]["bound"] < out["baseline_source"]["value"]
    assert output_fields(RegistrationResult.model_validate(out))["metric-basis"] == "paired-lower-bound"
    verify = ["model", "verify", "--model-uri", "models:/hokusai-CW20K/2", "--public-key", str(public)]
    assert run_here(*verify, "--mlflow-uri", mlflow_server.url).code == 0  # the signed statement records it too
    summary = summary_markdown(RegistrationResult.model_validate(out))
    assert "Decided by the paired verdict; the single-value figures are reported, not gated on." in summary
    assert "95% lower bound" in summary and "vs baseline 0" in summary  # the single-value figures, reported


def test_a_candidate_equal_to_the_champion_is_refused_by_every_rule(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """With --baseline-from alias:champion an equal candidate is no improvement: a given value
    equal to the champion's is exit 6 (a typed --baseline it equals still passes), as is a
    measured one by the point rule; a value above it passes."""
    run_here("token", "create", "--token-id", "CWEQ")
    url = {"mlflow_uri": mlflow_server.url}
    assert run_here(*register_args("CWEQ", model_file, "auroc", "0.8", "0.85", **url)).code == 0
    assert run_here("model", "promote", "--token-id", "CWEQ", "--mlflow-uri", mlflow_server.url).code == 0
    alias = {**url, "baseline_from": "alias:champion", "model_name": "hokusai-CWEQ"}
    run_here("token", "create", "--token-id", "CWEQ2")
    equal = run_here(*register_args("CWEQ2", model_file, "auroc", None, "0.85", **alias), "--output", "json")
    assert equal.code == 6, equal.out + equal.err
    message = equal.json()["error"]["message"]
    assert message.startswith("auroc 0.85 equals the baseline 0.85 of hokusai-CWEQ version 1 (alias champion)")
    assert "an equal value is no improvement" in message
    gate_equal = run_here(*register_args("CWEQ2", model_file, "auroc", "0.85", "0.85", command="gate"))
    assert gate_equal.code == 0, gate_equal.out + gate_equal.err  # a typed baseline is met by an equal value
    above = run_here(*register_args("CWEQ2", model_file, "auroc", None, "0.8501", **alias), "--output", "json")
    assert above.code == 0, above.out + above.err
    assert above.json()["metric"]["passed"] and above.json()["decided_by"] == "single-value"
