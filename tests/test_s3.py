"""Registration on the storage real deployments use: MLflow on PostgreSQL with artifacts in an
S3 bucket the client writes to directly (`rclone serve s3`, a real S3 server on 127.0.0.1),
and the PostgreSQL token store for the load test. One stack for the module (the 1 GiB,
2000-file, signing and load tests share it); bytes are compared with what the S3 server stored."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hokusai_ci.adapters import s3_upload
from hokusai_ci.adapters.s3_upload import upload_s3
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import fingerprint
from hokusai_ci.domain.streaming import ModelSource
from tests.conftest import REPO, Run, register_args, run_cli
from tests.fault_proxy import FaultProxy, Rule
from tests.rss import launch, peak_bytes
from tests.s3_stack import BUCKET, SECRET_KEY, MlflowOnS3, S3Server
from tests.servers import WebhookReceiver
from tests.test_signing import flip_byte, keypair

GIB = 1024 * 1024 * 1024


def stored(s3: S3Server, run_id: str, folder: str = "model") -> Path:
    """The folder where the S3 server keeps this run's objects under `artifacts/<folder>`."""
    found = list((s3.data / BUCKET / "mlflow").glob(f"*/{run_id}/artifacts/{folder}"))
    assert len(found) == 1, found
    return found[0]


def run_keys(s3: S3Server, run_id: str) -> list[str]:
    """The run's artifact objects as any S3 client lists them (every page: the bucket holds the
    2000-file test's objects too), relative to `artifacts/`."""
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="mlflow/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", []) if f"/{run_id}/artifacts/" in o["Key"]]
    return sorted(k.split(f"/{run_id}/artifacts/", 1)[1] for k in keys)


def verify_s3(mlflow: MlflowOnS3, public: Path, *args: str) -> Run:
    return run_cli(
        "model", "verify", *args, "--public-key", str(public), "--mlflow-uri", mlflow.url, "--output", "json"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def big_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        block = os.urandom(1 << 20)
        for i in range(size >> 20):
            fh.write(block[:-8] + i.to_bytes(8, "big"))  # every MiB distinct
    return path


def test_one_gib_file_goes_to_the_bucket_in_parts_with_the_digest_of_its_bytes(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path
) -> None:
    mlflow, s3 = stack
    model = big_file(tmp_path / "model.bin", GIB)
    run_cli("token", "create", "--token-id", "S3BIG")
    r = run_cli(
        *register_args("S3BIG", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json"), timeout=600
    )
    assert r.code == 0, r.err
    out = r.json()
    on_server = stored(s3, out["mlflow_run_id"]) / "model.bin"
    assert out["model_sha256"] == sha256_of(on_server) == sha256_of(model)
    version = MlflowClient(tracking_uri=mlflow.url).get_model_version(out["model_name"], out["model_version"])
    assert version.tags["hokusai.sha256"] == out["model_sha256"]
    assert version.source.startswith(f"s3://{BUCKET}/mlflow/")


def test_two_thousand_files_go_up_in_parallel_and_match(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path
) -> None:
    mlflow = stack[0]
    model = tmp_path / "many"
    for i in range(2000):
        (model / f"d{i % 25:02d}").mkdir(parents=True, exist_ok=True)
        (model / f"d{i % 25:02d}" / f"{i:05d}.bin").write_bytes(os.urandom(512 + i))
    run_cli("token", "create", "--token-id", "S3MANY")
    r = run_cli(
        *register_args("S3MANY", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json"), timeout=600
    )
    assert r.code == 0, r.err
    out = r.json()
    back = Path(MlflowClient(tracking_uri=mlflow.url).download_artifacts(out["mlflow_run_id"], "model",
                                                                         str(tmp_path / "back")))  # fmt: skip
    assert fingerprint(back).sha256 == out["model_sha256"] == fingerprint(model).sha256


def test_s3_killed_mid_upload_then_rerun_gives_one_version_and_nothing_half_written(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path
) -> None:
    mlflow, s3 = stack
    model = big_file(tmp_path / "model.bin", 400 * 1024 * 1024)
    run_cli("token", "create", "--token-id", "S3KILL")
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
    args = register_args("S3KILL", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json")
    proc = subprocess.Popen([sys.executable, "-m", "hokusai_ci", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # CI progress lines: kill once a tenth has left
        if line.startswith("uploading:") and int(line.split(":")[1].split("%")[0]) >= 10:
            break
    s3.kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 8, err
    assert "could not upload the model to the artifact store s3://models/mlflow/" in err
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in err

    restarted = s3.restart()
    client = MlflowClient(tracking_uri=mlflow.url)
    failed = client.search_runs(
        [client.get_experiment_by_name("hokusai-model-registration").experiment_id],
        "tags.`hokusai.token_id` = 'S3KILL'",
    )
    assert [x.info.status for x in failed] == ["FAILED"]
    # the interrupted multipart upload never became an object (as any S3 client lists the bucket)
    assert run_keys(restarted, failed[0].info.run_id) == []
    assert client.search_model_versions("name = 'hokusai-S3KILL'") == []

    time.sleep(0.5)
    r = run_cli(
        *register_args("S3KILL", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json"), timeout=600
    )
    assert r.code == 0, r.err
    assert [v.version for v in client.search_model_versions("name = 'hokusai-S3KILL'")] == ["1"]
    assert sha256_of(stored(restarted, r.json()["mlflow_run_id"]) / "model.bin") == sha256_of(model)


def test_refused_s3_credentials_are_exit_8_naming_the_bucket_and_never_printed(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], model_file: Path
) -> None:
    wrong = "wrong-secret-canary-Qx93"
    run_cli("token", "create", "--token-id", "S3DENY")
    r = run_cli(
        *register_args("S3DENY", model_file, "accuracy", "0.80", "0.85", mlflow_uri=stack[0].url, output="json"),
        env={"AWS_SECRET_ACCESS_KEY": wrong},
    )
    assert r.code == 8, r.err
    message = r.json()["error"]["message"]
    assert message.startswith("could not upload the model to the artifact store s3://models/mlflow/"), message
    assert wrong not in r.out + r.err and "Traceback" not in r.err
    assert run_cli("model", "status", "--token-id", "S3DENY", "--output", "json").json()["status"] == "draft"


def test_signed_registration_puts_its_bundles_in_the_bucket_beside_the_model_and_verifies(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], model_dir: Path, tmp_path: Path
) -> None:
    """The bundles are objects under the run's `artifacts/hokusai/`, not inside `model/`;
    verify reads them back through MLflow's S3 repository, and a byte changed in the stored
    registration bundle is caught (exit 11) and named."""
    mlflow, s3 = stack
    private, public = keypair(tmp_path)
    run_cli("token", "create", "--token-id", "S3SIG")
    r = run_cli(
        *register_args("S3SIG", model_dir, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json"),
        "--sign-key",
        str(private),
    )
    assert r.code == 0, r.err
    out = r.json()
    run_id, att = out["mlflow_run_id"], out["attestation"]
    assert att["uri"].startswith(f"s3://{BUCKET}/mlflow/")
    assert att["uri"].endswith(f"/{run_id}/artifacts/hokusai/registration.sigstore.json")
    assert run_keys(s3, run_id) == [
        "hokusai/model.sigstore.json",
        "hokusai/registration.sigstore.json",
        "model/config.json",
        "model/shards/00001.bin",
        "model/shards/00002.bin",
    ]
    bundle = stored(s3, run_id, "hokusai") / "registration.sigstore.json"
    assert sha256_of(bundle) == att["sha256"]
    tags = MlflowClient(tracking_uri=mlflow.url).get_model_version("hokusai-S3SIG", "1").tags
    assert tags["hokusai.attestation_uri"] == att["uri"] and tags["hokusai.attestation_sha256"] == att["sha256"]

    ok = verify_s3(mlflow, public, "--model-uri", "models:/hokusai-S3SIG/1")
    assert ok.code == 0, ok.out + ok.err
    assert ok.json()["verified"] is True and ok.json()["attestation_sha256"] == att["sha256"]
    verdicts = {c["name"]: c["verdict"] for c in ok.json()["checks"]}
    # not API mode, and a value given rather than measured: no evidence files
    assert verdicts == dict.fromkeys(verdicts, "passed") | {"platform_answer": "skipped", "evidence": "skipped"}

    flip_byte(bundle, at=bundle.read_bytes().index(b'"sig":"') + 20)  # inside the signature
    bad = verify_s3(mlflow, public, "--model-uri", "models:/hokusai-S3SIG/1")
    assert bad.code == 11, bad.out + bad.err
    assert bad.json()["verified"] is False
    assert [c["name"] for c in bad.json()["checks"] if c["verdict"] == "failed"] == ["registration_signature"]
    assert bad.json()["error"]["message"] == (
        "registration_signature: the signature does not match the statement and the given public key"
    )
    for text in (r.out + r.err, ok.out + ok.err, bad.out + bad.err):
        assert SECRET_KEY not in text and private.read_text().splitlines()[1] not in text


def test_signatures_the_bucket_refuses_fail_exit_12_and_the_next_run_signs_the_adopted_version(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], model_file: Path, tmp_path: Path
) -> None:
    """The model is in the bucket and the version created when the S3 server goes away (killed
    while MLflow's answer to the version's creation is held): storing the bundles fails with
    exit 12 naming the bucket, nothing is registered unsigned, and a re-run signs version 1."""
    mlflow, s3 = stack
    private, public = keypair(tmp_path)
    run_cli("token", "create", "--token-id", "S3SIGFAIL")
    proxy = FaultProxy(mlflow.url).start()
    held = proxy.add("POST", "/api/2.0/mlflow/model-versions/create", "stall", after=True)
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    args = [
        *register_args("S3SIGFAIL", model_file, "accuracy", "0.80", "0.85", mlflow_uri=proxy.url, output="json"),
        "--sign-key",
        str(private),
    ]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "hokusai_ci", *args], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert held.reached.wait(120), "the run never created its version"
        s3.kill()
        held.release()
        out, err = proc.communicate(timeout=300)
    finally:
        proxy.stop()
    restarted = s3.restart()
    assert proc.returncode == 12, out + err
    error = json.loads(out)["error"]
    assert error["category"] == "signing_failed"
    assert error["message"].startswith(f"could not store the signatures in the artifact store s3://{BUCKET}/mlflow/")
    assert "/artifacts/hokusai at http://127.0.0.1:" in error["message"]
    assert SECRET_KEY not in out + err and "Traceback" not in err

    client = MlflowClient(tracking_uri=mlflow.url)
    kept = client.get_model_version("hokusai-S3SIGFAIL", "1")
    assert kept.tags["hokusai.status"] == "not_registered" and "hokusai.attestation_sha256" not in kept.tags
    assert client.get_run(kept.run_id).info.status == "FAILED"
    assert run_keys(restarted, kept.run_id) == ["model/model.pkl"]
    assert run_cli("model", "status", "--token-id", "S3SIGFAIL", "--output", "json").json()["status"] == "draft"

    again = run_cli(
        *register_args("S3SIGFAIL", model_file, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json"),
        "--sign-key",
        str(private),
    )
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is True and again.json()["model_version"] == "1"
    assert run_keys(restarted, kept.run_id) == [
        "hokusai/model.sigstore.json",
        "hokusai/registration.sigstore.json",
        "model/model.pkl",
    ]
    v = verify_s3(mlflow, public, "--token-id", "S3SIGFAIL")
    assert v.code == 0, v.out + v.err


def test_mlflow_client_path_puts_the_bundles_in_the_bucket_too(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], model_file: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A tracking URI the lean REST path does not serve (a `file:` store whose experiment keeps
    its artifacts in the bucket) goes through MLflow's client: model and bundles alike go
    straight to the bucket, and verify reads them back from it."""
    s3 = stack[1]
    private, public = keypair(tmp_path)
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("hokusai-model-registration", artifact_location=f"s3://{BUCKET}/filestore")
    run_cli("token", "create", "--token-id", "S3SIGFILE")
    r = run_cli(
        *register_args("S3SIGFILE", model_file, "accuracy", "0.80", "0.85", mlflow_uri=uri, output="json"),
        "--sign-key",
        str(private),
    )
    assert r.code == 0, r.err
    run_id, att = r.json()["mlflow_run_id"], r.json()["attestation"]
    assert att["uri"] == f"s3://{BUCKET}/filestore/{run_id}/artifacts/hokusai/registration.sigstore.json"
    listed = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"filestore/{run_id}/")
    assert sorted(o["Key"] for o in listed["Contents"]) == [
        f"filestore/{run_id}/artifacts/{rel}"
        for rel in ("hokusai/model.sigstore.json", "hokusai/registration.sigstore.json", "model/model.pkl")
    ]
    v = run_cli("model", "verify", "--token-id", "S3SIGFILE", "--public-key", str(public), "--mlflow-uri", uri)
    assert v.code == 0, v.out + v.err
    assert "Verified: models:/hokusai-S3SIGFILE/1" in v.out
    assert SECRET_KEY not in r.out + r.err + v.out + v.err


def test_many_ci_jobs_at_once_on_postgresql_mlflow_and_s3(
    stack: tuple[MlflowOnS3, S3Server],
    s3_env: dict[str, str],
    pg_db: str,
    tmp_path: Path,
    webhook: WebhookReceiver,
) -> None:
    """32 jobs registering 32 tokens while 8 more race on one token, against the PostgreSQL token
    store and the MLflow-on-PostgreSQL/S3 stack: all 32 registered, one winner of the 8, no
    duplicate version, every event delivered and in the outbox."""
    mlflow = stack[0]
    cfg = tmp_path / "db.json"
    cfg.write_text(json.dumps({"url": pg_db}))
    env = {**os.environ, "HOKUSAI_DB_CONFIG": str(cfg), "HOKUSAI_WEBHOOK_URL": webhook.url}
    jobs = []
    for i in range(32):
        model = tmp_path / f"m{i}.bin"
        model.write_bytes(os.urandom(64 * 1024))
        jobs.append((f"LOAD{i:02d}", model))
    race = tmp_path / "race.bin"
    race.write_bytes(os.urandom(64 * 1024))
    jobs += [("LOADRACE", race)] * 8
    for token in sorted({t for t, _ in jobs}):
        assert run_cli("token", "create", "--token-id", token, env=env).code == 0
    start = time.monotonic()
    procs = [
        (token, time.monotonic(), subprocess.Popen([sys.executable, "-m", "hokusai_ci", *register_args(
                                                       token, model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url,
                                                       output="json")],
                                                   cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   text=True))
        for token, model in jobs
    ]  # fmt: skip
    results = []
    for token, began, proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append((token, proc.returncode, out, err, time.monotonic() - began))
    wall = time.monotonic() - start
    slowest = max(r[4] for r in results)
    print(f"load: 40 registrations in {wall:.1f} s, slowest job {slowest:.1f} s")
    assert all(code == 0 for token, code, *_ in results if token != "LOADRACE"), [
        (t, c, e[-300:]) for t, c, _, e, _ in results if c != 0 and t != "LOADRACE"
    ]
    # one run wins; a racer that arrives after the winner's commit and finishes a step it had not
    # yet done (a re-run's job: the tag, the events) also exits 0 for the same version; others 4
    race_codes = sorted(code for token, code, *_ in results if token == "LOADRACE")
    assert race_codes.count(0) >= 1 and set(race_codes) <= {0, 4}, race_codes
    winners = {
        json.loads(out)["model_version"] for token, code, out, *_ in results if token == "LOADRACE" and code == 0
    }
    assert winners == {"1"}, winners
    client = MlflowClient(tracking_uri=mlflow.url)
    for token in {t for t, _ in jobs}:
        versions = client.search_model_versions(f"name = 'hokusai-{token}'")
        assert [v.tags["hokusai.status"] for v in versions] == ["registered"], token
    # each event once by its id (the receiver's idempotency key; delivery is at least once)
    delivered = Counter(token for token, _ in {(x.json()["token_id"], x.json()["event_id"]) for x in webhook.received})
    assert delivered == Counter({t: 2 for t in {t for t, _ in jobs}})
    for token in ("LOAD00", "LOADRACE"):
        status = run_cli("model", "status", "--token-id", token, "--output", "json", env=env).json()
        assert status["status"] == "registered"
        assert [e["delivery_status"] for e in status["events"]] == ["delivered", "delivered"]


MIB = 1024 * 1024
RSS_BOUND = 100_000_000  # bytes: the S3 route's peak memory, whatever the model's size
# the most a connection's kernel send buffer holds (tcp_wmem's maximum) and the slow link's own
# receive buffer: bytes a client has handed over that have not yet left
SEND_BUFFER = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2]) + 64 * 1024


def test_peak_memory_on_the_s3_route_stays_under_100_mb_whatever_the_model_size(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path
) -> None:
    """The real `model register` process sends a 192 MiB file in parts and 16 files of a part
    each: holding parts in flight (boto3 buffering a stream that cannot seek, 188 MiB at 1 GiB)
    or whole files would pass the bound; the route holds no part in memory."""
    mlflow, s3 = stack
    model = tmp_path / "model"
    (model / "shards").mkdir(parents=True)
    big_file(model / "weights.bin", 192 * MIB)
    for i in range(16):
        big_file(model / "shards" / f"{i:02d}.bin", 8 * MIB)
    run_cli("token", "create", "--token-id", "S3RSS")
    record = tmp_path / "peak"
    with (tmp_path / "out.json").open("w") as out, (tmp_path / "err.txt").open("w") as err:
        cli = [
            sys.executable,
            "-m",
            "hokusai_ci",
            *register_args("S3RSS", model, "accuracy", "0.80", "0.85", mlflow_uri=mlflow.url, output="json"),
        ]
        code = launch(cli, record, cwd=REPO, stdout=out, stderr=err).wait(timeout=600)
    assert code == 0, (tmp_path / "err.txt").read_text()
    peak = peak_bytes(record)
    print(f"peak RSS of model register, 320 MiB to S3: {peak / MIB:.0f} MiB")  # 82-84 MiB here
    assert peak <= RSS_BOUND, f"{peak / MIB:.0f} MiB"
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["model_sha256"] == fingerprint(model).sha256
    assert sha256_of(stored(s3, out["mlflow_run_id"]) / "weights.bin") == sha256_of(model / "weights.bin")


class Shown:
    """A progress display that records when it was told of each byte."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, int]] = []

    def advance(self, nbytes: int) -> None:
        self.steps.append((time.monotonic(), nbytes))

    def finish(self) -> None:
        return None

    def by(self, moment: float) -> int:
        return sum(n for t, n in self.steps if t <= moment)

    def when(self, total: int) -> float:
        """When the display first reached `total` bytes."""
        done = 0
        for t, n in self.steps:
            done += n
            if done >= total:
                return t
        raise AssertionError(f"the display stopped at {done} of {total} bytes")


def slow_link(s3: S3Server, rate: int) -> tuple[FaultProxy, Rule]:
    """The S3 server behind a link carrying each upload at `rate` bytes/s."""
    link = FaultProxy(f"http://127.0.0.1:{s3.port}").start()
    return link, link.add("PUT", f"/{BUCKET}/", "slow", times=0, rate=rate)


def test_s3_progress_counts_the_bytes_sent_not_the_bytes_read(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a link carrying 6 MiB/s, 24 MiB in 3 parts over one connection take about 4 s:
    the display follows what has left (boto3's callback), so 2 s in it shows at most what the
    link carried plus what the kernel's send buffer holds, and it reaches 100% as the upload
    ends, not as soon as the file has been read (which takes a moment)."""
    model = big_file(tmp_path / "model.bin", 24 * MIB)
    link, _ = slow_link(stack[1], 6 * MIB)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", link.url)
    monkeypatch.setattr(s3_upload, "PART_WORKERS", 1)  # one connection: one send buffer of slack
    shown = Shown()
    try:
        start = time.monotonic()
        sent = upload_s3(f"s3://{BUCKET}/progress", ModelSource.of(model), shown)
        ended = time.monotonic()
    finally:
        link.stop()
    assert sent[0].sha256 == sha256_of(model) and sum(n for _, n in shown.steps) == 24 * MIB
    assert shown.by(start + 2) <= 2 * 6 * MIB + SEND_BUFFER, shown.by(start + 2)
    early = ended - shown.when(24 * MIB)
    assert early < SEND_BUFFER / (6 * MIB) + 0.5, f"100% shown {early:.1f} s before the end"


def test_a_file_that_changes_while_its_parts_go_up_is_refused_and_nothing_is_stored(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts are sent from the file after it was hashed: bytes that changed in between (their
    CRC-32 as sent differs from the one hashed) fail the upload, the multipart upload is
    aborted, and no digest is recorded for bytes other than those sent."""
    s3 = stack[1]
    model = big_file(tmp_path / "model.bin", 24 * MIB)
    link, slow = slow_link(s3, MIB)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", link.url)
    shown = Shown()
    failure: list[BaseException] = []

    def upload() -> None:
        try:
            upload_s3(f"s3://{BUCKET}/changed", ModelSource.of(model), shown)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=upload)
    try:
        thread.start()
        while slow.hits < 3 and thread.is_alive():  # each part is hashed before it connects
            time.sleep(0.05)
        with model.open("r+b") as fh:  # the last MiB, 7 MiB into the third part: not sent yet
            fh.seek(23 * MIB)
            fh.write(os.urandom(MIB))
        thread.join(60)
    finally:
        link.stop()
    assert len(failure) == 1 and isinstance(failure[0], HokusaiError), failure
    assert failure[0].category is Category.MLFLOW_ERROR
    assert "the bytes sent differ from the bytes hashed" in str(failure[0]) and SECRET_KEY not in str(failure[0])
    assert str(failure[0]).endswith("re-run once nothing writes to the model")
    assert s3.client().list_objects_v2(Bucket=BUCKET, Prefix="changed/").get("Contents", []) == []
    assert s3.client().list_multipart_uploads(Bucket=BUCKET, Prefix="changed/").get("Uploads", []) == []


def test_a_part_cut_mid_send_is_sent_again_and_counted_once(
    stack: tuple[MlflowOnS3, S3Server], s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection cut 3 MiB into a part: boto3 sends the part again from its start, the body
    starts its CRC-32 over (no false "changed"), the display never passes the file's size and
    ends at it, and the stored bytes are the file's."""
    s3 = stack[1]
    model = big_file(tmp_path / "model.bin", 24 * MIB)
    link = FaultProxy(f"http://127.0.0.1:{s3.port}").start()
    cut = link.add("PUT", f"/{BUCKET}/retried/", "cut", after_bytes=3 * MIB)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", link.url)
    shown = Shown()
    try:
        sent = upload_s3(f"s3://{BUCKET}/retried", ModelSource.of(model), shown)
    finally:
        link.stop()
    assert cut.hits == 1
    assert sent[0].sha256 == sha256_of(model) == sha256_of(s3.data / BUCKET / "retried" / "model" / "model.bin")
    running = [sum(n for _, n in shown.steps[: i + 1]) for i in range(len(shown.steps))]
    assert max(running) == running[-1] == 24 * MIB
