"""The measured gate's evidence stored with the version: the artifact, its tag, `model verify`
against the signed digests, the reader a later comparison uses, adoption by content, and a
failed evidence upload that registers nothing.

Real MLflow servers (one proxying artifacts, one writing to an S3 bucket), the embedded local
store, the test fault proxy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hokusai_ci.adapters.mlflow_tracking import MlflowTracker
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured.stored import EVIDENCE_DIR, evidence_folder, load_stored_evidence
from tests.conftest import register_args, run_cli, run_here
from tests.fault_proxy import FaultProxy
from tests.s3_stack import MlflowOnS3, S3Server
from tests.servers import MlflowServer
from tests.test_measured_wire import COLUMNS, evidence, measured_args
from tests.test_s3 import run_keys, verify_s3
from tests.test_signing import keypair


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_files(server: MlflowServer, name: str, version: str) -> dict[str, Path]:
    """The evidence files as the server's artifact store holds them."""
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    run_id = client.get_model_version(name, version).run_id
    found = {p.name: p for p in server.root.rglob(f"{run_id}/artifacts/{EVIDENCE_DIR}/*/*") if p.is_file()}
    return found


@pytest.fixture
def strong(tmp_path: Path) -> Path:
    return evidence(tmp_path, "eval.csv", 2000, 1.8)


def test_registered_evidence_is_stored_tagged_verified_and_read_back(
    mlflow_server: MlflowServer, model_file: Path, strong: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    run_here("token", "create", "--token-id", "EVST")
    args = [*measured_args("EVST", model_file, strong), "--mlflow-uri", mlflow_server.url]
    r = run_here(*args, "--sign-key", str(private), "--output", "json")
    assert r.code == 0, r.out + r.err
    digest = r.json()["measured"]["predictions_sha256"]
    assert digest == sha(strong)
    files = stored_files(mlflow_server, "hokusai-EVST", "1")
    assert list(files) == ["predictions.csv"] and sha(files["predictions.csv"]) == digest
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    tags = client.get_model_version("hokusai-EVST", "1").tags
    assert tags["hokusai.evidence_sha256"] == digest
    assert tags["hokusai.evidence_uri"].endswith(f"/{evidence_folder(digest)}")

    verify = ["model", "verify", "--model-uri", "models:/hokusai-EVST/1", "--public-key", str(public)]
    v = run_here(*verify, "--mlflow-uri", mlflow_server.url, "--output", "json")
    assert v.code == 0, v.out + v.err
    [check] = [c for c in v.json()["checks"] if c["name"] == "evidence"]
    assert check["verdict"] == "passed" and "match the signed statement's evidence sha256" in check["detail"]

    reader = MlflowTracker(mlflow_server.url, "hokusai")
    loaded = load_stored_evidence(reader, "hokusai-EVST", "1", tmp_path / "back")
    assert loaded.labels is None and loaded.evidence_sha256 == digest
    assert loaded.predictions.read_bytes() == strong.read_bytes()

    # one changed row in the stored evidence: verify and the reader both refuse it
    files["predictions.csv"].write_text(strong.read_text().replace("\n1", "\n0", 1))
    tampered = run_here(*verify, "--mlflow-uri", mlflow_server.url, "--output", "json")
    assert tampered.code == 11, tampered.out + tampered.err
    failed = [c for c in tampered.json()["checks"] if c["verdict"] == "failed"]
    assert [c["name"] for c in failed] == ["evidence"] and "predictions.csv" in failed[0]["detail"]
    assert failed[0]["detail"].endswith("does not match the signed statement's evidence sha256")
    with pytest.raises(HokusaiError) as err:
        load_stored_evidence(reader, "hokusai-EVST", "1", tmp_path / "again")
    assert err.value.category is Category.VERIFICATION_FAILED
    # the reader compared the version's tag, not the statement: it says so
    assert "does not match the version's hokusai.evidence_sha256 tag" in err.value.message
    assert "not the signed evidence" not in err.value.message
    files["predictions.csv"].unlink()
    gone = run_here(*verify, "--mlflow-uri", mlflow_server.url)
    assert gone.code == 11 and "the evidence is missing" in gone.out + gone.err


def test_separate_labels_are_stored_too_and_the_local_store_holds_them(model_file: Path, tmp_path: Path) -> None:
    rows = evidence(tmp_path, "both.csv", 2000, 1.8).read_text().splitlines()[1:]
    preds, labels = tmp_path / "preds.csv", tmp_path / "labels.tsv"
    preds.write_text("score\n" + "\n".join(r.split(",")[0] for r in rows) + "\n")
    labels.write_text("label\n" + "\n".join(r.split(",")[1] for r in rows) + "\n")
    run_here("token", "create", "--token-id", "EVLAB")
    options = {"predictions": str(preds), "labels": str(labels), **COLUMNS}
    r = run_here(*register_args("EVLAB", model_file, "auroc", "0.8", None, **options), "--output", "json")
    assert r.code == 0, r.err
    stored = {p.name: p for p in (tmp_path / "home").rglob(f"{EVIDENCE_DIR}/*/*")}
    assert sorted(stored) == ["labels.tsv", "predictions.csv"]
    assert sha(stored["labels.tsv"]) == sha(labels) and sha(stored["predictions.csv"]) == sha(preds)


def test_a_given_value_stores_no_evidence_and_verify_skips_the_check(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    run_here("token", "create", "--token-id", "EVNONE")
    args = [*register_args("EVNONE", model_file), "--mlflow-uri", mlflow_server.url, "--sign-key", str(private)]
    assert run_here(*args).code == 0
    assert stored_files(mlflow_server, "hokusai-EVNONE", "1") == {}
    verify = ["model", "verify", "--model-uri", "models:/hokusai-EVNONE/1", "--public-key", str(public)]
    v = run_here(*verify, "--mlflow-uri", mlflow_server.url, "--output", "json")
    assert v.code == 0, v.out + v.err
    assert [c["verdict"] for c in v.json()["checks"] if c["name"] == "evidence"] == ["skipped"]
    with pytest.raises(HokusaiError) as err:
        load_stored_evidence(MlflowTracker(mlflow_server.url, "hokusai"), "hokusai-EVNONE", "1", tmp_path / "x")
    assert err.value.category is Category.INVALID_INPUT and "not gated on measured evidence" in err.value.message


def test_a_failed_evidence_upload_registers_nothing_and_the_rerun_adopts_the_version(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, strong: Path
) -> None:
    run_here("token", "create", "--token-id", "EVFAIL")
    refuse = proxy.add("PUT", f"/{EVIDENCE_DIR}/", "error", status=503, times=0)
    env = {"MLFLOW_TRACKING_URI": proxy.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    first = run_here(*measured_args("EVFAIL", model_file, strong), "--output", "json", env=env)
    assert first.code == 8, first.err
    assert refuse.hits >= 1 and "evidence" in first.json()["error"]["message"]
    assert run_here("model", "status", "--token-id", "EVFAIL", "--output", "json").json()["status"] == "draft"
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    tags = client.get_model_version("hokusai-EVFAIL", "1").tags
    assert tags["hokusai.status"] == "not_registered" and "hokusai.evidence_uri" not in tags

    proxy.rules.remove(refuse)  # the next run's requests pass
    proxy.reset()
    again = run_here(*measured_args("EVFAIL", model_file, strong), "--output", "json", env=env)
    assert again.code == 0, again.err
    assert again.json()["model_version"] == "1" and again.json()["reused_existing_version"] is True
    assert sha(stored_files(mlflow_server, "hokusai-EVFAIL", "1")["predictions.csv"]) == sha(strong)
    assert client.get_model_version("hokusai-EVFAIL", "1").tags["hokusai.status"] == "registered"


def test_a_rerun_adopting_the_version_reuses_stored_evidence_of_the_same_content(
    proxy: FaultProxy, mlflow_server: MlflowServer, model_file: Path, strong: Path, tmp_path: Path
) -> None:
    """The first run stores the evidence, then cannot store its signatures (exit 12); the re-run
    adopts the version and sends no evidence byte again."""
    private, _ = keypair(tmp_path)
    run_here("token", "create", "--token-id", "EVSAME")
    signatures = proxy.add("PUT", "/hokusai/registration", "error", status=503, times=0)
    env = {"MLFLOW_TRACKING_URI": proxy.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    args = [*measured_args("EVSAME", model_file, strong), "--sign-key", str(private)]
    first = run_here(*args, env=env)
    assert first.code == 12, first.err
    assert any(EVIDENCE_DIR in path for method, path in proxy.calls if method == "PUT")
    proxy.rules.remove(signatures)
    proxy.reset()
    again = run_here(*args, "--output", "json", env=env)
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is True
    assert not any(EVIDENCE_DIR in path for method, path in proxy.calls if method == "PUT")


def test_on_the_s3_route_the_evidence_goes_to_the_bucket_and_verifies(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], model_file: Path, strong: Path, tmp_path: Path
) -> None:
    """An MLflow server that does not proxy artifacts: the evidence is written to the bucket
    directly, beside model/ and hokusai/, and verify reads it back through MLflow's S3 repository."""
    mlflow, s3 = stack
    private, public = keypair(tmp_path)
    run_cli("token", "create", "--token-id", "EVS3")
    args = [*measured_args("EVS3", model_file, strong), "--mlflow-uri", mlflow.url, "--sign-key", str(private)]
    r = run_cli(*args, "--output", "json")
    assert r.code == 0, r.err
    digest = r.json()["measured"]["predictions_sha256"]
    keys = run_keys(s3, r.json()["mlflow_run_id"])
    assert f"{evidence_folder(digest)}/predictions.csv" in keys
    assert [k for k in keys if k.startswith(EVIDENCE_DIR)] == [f"{evidence_folder(digest)}/predictions.csv"]
    v = verify_s3(mlflow, public, "--model-uri", "models:/hokusai-EVS3/1")
    assert v.code == 0, v.out + v.err
    assert [c["verdict"] for c in v.json()["checks"] if c["name"] == "evidence"] == ["passed"]
