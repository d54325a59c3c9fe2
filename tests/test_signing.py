"""Signed registrations and `model verify`, against the real MLflow server (no mocks of MLflow).

Keys are EC P-256 pairs generated here with `cryptography`. Tampering is done the way an
attacker with write access would: bytes replaced in the server's artifact store, a tag edited
through MlflowClient, the bundle deleted. OpenSSF's own `model_signing` CLI is the
third-party verifier.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from mlflow import MlflowClient

from hokusai_ci.core.verification import CHECKS
from tests.conftest import REPO, Run, docs_text, register_args, run_here
from tests.servers import MlflowServer, WebhookReceiver

MODEL_SIGNING_CLI = Path(sys.executable).with_name("model_signing")


def keypair(folder: Path, name: str = "signing") -> tuple[Path, Path]:
    """A fresh EC P-256 key: (private PEM file, public PEM file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.key.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def register_signed(token: str, model: Path, server: MlflowServer, key: Path, *extra: str) -> Run:
    run_here("token", "create", "--token-id", token)
    args = register_args(token, model, "accuracy", "0.80", "0.85")
    return run_here(*args, "--mlflow-uri", server.url, "--sign-key", str(key), "--output", "json", *extra)


def verify(*args: str, server: MlflowServer) -> Run:
    return run_here("model", "verify", *args, "--mlflow-uri", server.url, "--output", "json")


def client(server: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def server_file(server: MlflowServer, run_id: str, rel: str) -> Path:
    """Where the server's artifact store keeps one artifact of a run."""
    found = list((server.root / "artifacts").glob(f"*/{run_id}/artifacts/{rel}"))
    assert len(found) == 1, found
    return found[0]


def flip_byte(path: Path, at: int = 7) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def failed_checks(out: dict[str, object]) -> list[str]:
    return [c["name"] for c in out["checks"] if c["verdict"] == "failed"]  # type: ignore[attr-defined]


def test_signed_registration_verifies_by_uri_token_and_local_copy(
    mlflow_server: MlflowServer, model_dir: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    r = register_signed("SIGOK", model_dir, mlflow_server, private)
    assert r.code == 0, r.err
    out = r.json()
    att = out["attestation"]
    assert att["method"] == "key" and len(att["sha256"]) == 64
    assert att["uri"].endswith("/hokusai/registration.sigstore.json")
    tags = client(mlflow_server).get_model_version("hokusai-SIGOK", "1").tags
    assert tags["hokusai.attestation_sha256"] == att["sha256"]
    assert tags["hokusai.model_signature_sha256"] == att["model_signature_sha256"]
    assert private.read_text().splitlines()[1] not in r.out + r.err

    by_uri = verify("--model-uri", "models:/hokusai-SIGOK/1", "--public-key", str(public), server=mlflow_server)
    assert by_uri.code == 0, by_uri.out + by_uri.err
    result = by_uri.json()
    assert result["verified"] is True and result["attestation_sha256"] == att["sha256"]
    verdicts = {c["name"]: c["verdict"] for c in result["checks"]}
    assert verdicts == dict.fromkeys(CHECKS, "passed") | {"platform_answer": "skipped", "evidence": "skipped"}
    assert result["platform_model_id"] is None  # local mode tells no platform
    predicate = result["predicate"]
    assert predicate["model_sha256"] == out["model_sha256"] and predicate["metric"]["value"] == 0.85
    assert predicate["mlflow_run_id"] == out["mlflow_run_id"] and predicate["metric"]["passed"] is True

    text = run_here(
        "model", "verify", "--token-id", "SIGOK", "--public-key", str(public), "--mlflow-uri", mlflow_server.url
    )
    assert text.code == 0, text.err
    assert "ok    token_record" in text.out and "Verified: models:/hokusai-SIGOK/1" in text.out

    # a local copy: the downloaded model/ folder and hokusai/ bundles
    dl = tmp_path / "dl"
    c = client(mlflow_server)
    model = c.download_artifacts(out["mlflow_run_id"], "model", str(dl))
    bundles = c.download_artifacts(out["mlflow_run_id"], "hokusai", str(dl))
    local = run_here(
        "model", "verify", "--model-path", model, "--bundle", f"{bundles}/registration.sigstore.json",
        "--public-key", str(public), "--output", "json",
    )  # fmt: skip
    assert local.code == 0, local.out + local.err
    assert [c["verdict"] for c in local.json()["checks"]][-3:] == ["skipped", "skipped", "skipped"]
    flip_byte(Path(model, "shards/00002.bin"))
    broken = run_here(
        "model", "verify", "--model-path", model, "--bundle", f"{bundles}/registration.sigstore.json",
        "--public-key", str(public),
    )  # fmt: skip
    assert broken.code == 11
    assert "error: Verification Failed: model_signature: file 'shards/00002.bin' differs" in broken.err
    Path(bundles, "model.sigstore.json").write_text("not a bundle")
    swapped = run_here(
        "model", "verify", "--model-path", model, "--bundle", f"{bundles}/registration.sigstore.json",
        "--public-key", str(public), "--output", "json",
    )  # fmt: skip
    assert swapped.code == 11 and "Traceback" not in swapped.err
    assert failed_checks(swapped.json())[:2] == ["model_signature_bundle", "model_signature"]
    assert "model.sigstore.json is not a model_signing bundle" in swapped.out


def test_a_local_copy_of_a_single_file_model_verifies_by_its_file(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    """`--model-path` may name the downloaded model file itself, as `verify --help` says."""
    private, public = keypair(tmp_path)
    r = register_signed("SIGFILE", model_file, mlflow_server, private)
    assert r.code == 0, r.err
    c = client(mlflow_server)
    model = Path(c.download_artifacts(r.json()["mlflow_run_id"], "model", str(tmp_path / "dl")), "model.pkl")
    bundles = c.download_artifacts(r.json()["mlflow_run_id"], "hokusai", str(tmp_path / "dl"))
    args = ["model", "verify", "--model-path", str(model), "--bundle", f"{bundles}/registration.sigstore.json",
            "--public-key", str(public)]  # fmt: skip
    ok = run_here(*args)
    assert ok.code == 0, ok.out + ok.err
    flip_byte(model)
    broken = run_here(*args)
    assert broken.code == 11 and "file 'model.pkl' differs" in broken.err, broken.err


def test_replaced_artifact_bytes_fail_naming_the_file(
    mlflow_server: MlflowServer, model_dir: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    r = register_signed("SIGBYTES", model_dir, mlflow_server, private)
    assert r.code == 0, r.err
    flip_byte(server_file(mlflow_server, r.json()["mlflow_run_id"], "model/shards/00001.bin"))
    v = verify("--model-uri", "models:/hokusai-SIGBYTES/1", "--public-key", str(public), server=mlflow_server)
    assert v.code == 11, v.out + v.err
    out = v.json()
    assert out["verified"] is False and out["error"]["exit_code"] == 11
    assert failed_checks(out) == ["model_signature", "model_digest"]
    assert "file 'shards/00001.bin' differs from the signed model" in out["error"]["message"]
    assert "model_signature: file 'shards/00001.bin'" in v.err


def test_edited_tag_and_another_key_fail_naming_them(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    _, other = keypair(tmp_path, "other")
    r = register_signed("SIGTAG", model_file, mlflow_server, private)
    assert r.code == 0, r.err
    uri = "models:/hokusai-SIGTAG/1"

    wrong_key = verify("--model-uri", uri, "--public-key", str(other), server=mlflow_server)
    assert wrong_key.code == 11
    assert failed_checks(wrong_key.json()) == ["registration_signature", "model_signature"]
    assert wrong_key.json()["error"]["message"].startswith("registration_signature: signed by another key")

    client(mlflow_server).set_model_version_tag("hokusai-SIGTAG", "1", "hokusai.metric_value", "0.99")
    edited = verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server)
    assert edited.code == 11
    assert failed_checks(edited.json()) == ["version_tags"]
    assert edited.json()["error"]["message"] == (
        "version_tags: tag hokusai.metric_value is '0.99'; the signed statement says 0.85"
    )

    # the bundle pointer that events and outputs hand to deployers, aimed at another run's bundle
    c = client(mlflow_server)
    c.set_model_version_tag("hokusai-SIGTAG", "1", "hokusai.metric_value", "0.85")
    kept = c.get_model_version("hokusai-SIGTAG", "1").tags["hokusai.attestation_uri"]
    elsewhere = kept.replace(r.json()["mlflow_run_id"], "0" * 32)
    c.set_model_version_tag("hokusai-SIGTAG", "1", "hokusai.attestation_uri", elsewhere)
    moved = verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server)
    assert moved.code == 11 and failed_checks(moved.json()) == ["version_tags"]
    assert moved.json()["error"]["message"].startswith(f"version_tags: tag hokusai.attestation_uri is {elsewhere!r}")


def test_removed_bundle_fails_as_not_signed(mlflow_server: MlflowServer, model_file: Path, tmp_path: Path) -> None:
    private, public = keypair(tmp_path)
    r = register_signed("SIGGONE", model_file, mlflow_server, private)
    assert r.code == 0, r.err
    folder = server_file(mlflow_server, r.json()["mlflow_run_id"], "hokusai")
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    v = verify("--model-uri", "models:/hokusai-SIGGONE/1", "--public-key", str(public), server=mlflow_server)
    assert v.code == 11
    assert "is not signed" in v.json()["error"]["message"]
    assert failed_checks(v.json()) == ["signed"]


def test_third_party_model_signing_cli_agrees(mlflow_server: MlflowServer, model_dir: Path, tmp_path: Path) -> None:
    """OpenSSF's own verifier on the downloaded model: passes, then fails naming the file."""
    private, public = keypair(tmp_path)
    r = register_signed("SIGINTEROP", model_dir, mlflow_server, private)
    assert r.code == 0, r.err
    c = client(mlflow_server)
    model = c.download_artifacts(r.json()["mlflow_run_id"], "model", str(tmp_path / "dl"))
    sig = c.download_artifacts(r.json()["mlflow_run_id"], "hokusai/model.sigstore.json", str(tmp_path / "dl"))

    def their_verify() -> subprocess.CompletedProcess[str]:
        cmd = [str(MODEL_SIGNING_CLI), "verify", "key", model, "--public_key", str(public), "--signature", sig]
        return subprocess.run(cmd, capture_output=True, text=True)

    ok = their_verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Verification succeeded" in ok.stdout
    flip_byte(Path(model, "config.json"), at=2)
    bad = their_verify()
    assert bad.returncode != 0
    assert re.search(r"Hash mismatch for \\?'config\.json", bad.stdout + bad.stderr), bad.stdout + bad.stderr


def test_events_carry_the_attestation_and_match_the_schemas(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    import jsonschema

    from hokusai_ci.domain.events import json_schemas

    private, _ = keypair(tmp_path)
    r = register_signed("SIGEVT", model_file, mlflow_server, private, "--webhook-url", webhook.url)
    assert r.code == 0, r.err
    att = r.json()["attestation"]
    schemas = json_schemas()
    bodies = [json.loads(x.body) for x in webhook.received]
    assert sorted(b["event_type"] for b in bodies) == ["model_registered", "token_ready_for_deploy"]
    for body in bodies:
        assert body["attestation_uri"] == att["uri"] and body["attestation_sha256"] == att["sha256"]
        assert body["schema_version"] == "1"
        jsonschema.validate(body, schemas[f"{body['event_type']}.v1.schema.json"])


@pytest.mark.parametrize(
    "problem",
    ["missing", "not-pem", "rsa", "encrypted", "env-garbage", "env-path"],
)
def test_unusable_key_exits_2_before_anything_is_written(
    problem: str, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    token = f"SIGBAD{problem.upper().replace('-', '')}"
    run_here("token", "create", "--token-id", token)
    key_file = tmp_path / "key.pem"
    env: dict[str, str] = {}
    secret = "MHcCAQEEIBmVRkZ2l5ZWJhZGtleWJ5dGVzMTIzNDU2Nzg5MGFiY2RlZg"
    if problem == "not-pem":
        key_file.write_text(f"-----BEGIN EC PRIVATE KEY-----\n{secret}\n-----END EC PRIVATE KEY-----\n")
    elif problem == "rsa":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_file.write_bytes(
            rsa_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    elif problem == "encrypted":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        key_file.write_bytes(
            ec_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pass-phrase"),
            )
        )
    args = [*register_args(token, model_file, "accuracy", "0.80", "0.85"), "--mlflow-uri", mlflow_server.url]
    if problem == "env-garbage":
        env["HOKUSAI_SIGNING_KEY"] = f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----"
    elif problem == "env-path":  # a path where the PEM text belongs
        env["HOKUSAI_SIGNING_KEY"] = str(key_file)
    else:
        args += ["--sign-key", str(key_file)]
    r = run_here(*args, env=env)
    assert r.code == 2, r.out + r.err
    assert "Invalid Input" in r.err and "Traceback" not in r.err
    assert secret not in r.out + r.err
    field = "HOKUSAI_SIGNING_KEY" if problem.startswith("env-") else "sign-key"
    assert f"error: Invalid Input: {field}=" in r.err
    fix = {"env-path": "holds one line, not a PEM key", "rsa": "an EC key is needed", "encrypted": "encrypted",
           "missing": "does not exist"}  # fmt: skip
    assert fix.get(problem, "not a PEM private key") in r.err, r.err
    status = run_here("model", "status", "--token-id", token, "--output", "json")
    assert status.json()["status"] == "draft"
    assert client(mlflow_server).search_model_versions(f"name = 'hokusai-{token}'") == []


def readme_section(title: str) -> str:
    text = docs_text()
    start = text.index(f"\n# {title}\n")
    return text[start : text.index("\n# ", start + 1)]


def code_blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def test_readme_verify_example_runs_as_printed(tmp_path: Path) -> None:
    """The "Verify before you deploy" shell block, verbatim, in a fresh folder with the
    embedded local stores; then the same verification after a byte of the model changed."""
    (block,) = code_blocks(readme_section("Verify before you deploy"), "sh")
    (tmp_path / "model.pkl").write_bytes(b"weights" * 500)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    env["HOKUSAI_HOME"] = str(tmp_path / ".hokusai")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Verified: models:/hokusai-SIGNED/1 is what was signed" in proc.stdout
    stored = next((tmp_path / ".hokusai" / "mlruns").glob("*/*/artifacts/model/model.pkl"))
    flip_byte(stored)
    last = block.strip().splitlines()[-1]
    again = subprocess.run(["bash", "-c", last], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 11
    assert "model_signature: file 'model.pkl' differs from the signed model" in again.stderr


def test_readme_keyless_workflow_is_a_valid_workflow(tmp_path: Path) -> None:
    (workflow,) = code_blocks(readme_section("Verify before you deploy"), "yaml")
    path = tmp_path / ".github" / "workflows" / "train.yml"
    path.parent.mkdir(parents=True)
    path.write_text(workflow)
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("actionlint")), "-no-color", str(path)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    jobs = yaml.safe_load(workflow)["jobs"]["register"]
    assert jobs["permissions"]["id-token"] == "write"
    uses = [step.get("uses", "") for step in jobs["steps"]]
    assert "actions/attest-build-provenance@v2" in uses and "hokusai/register-model@v1" in uses


def test_readme_python_verify_snippet_and_api_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python API signs with `sign_key` and `verify_model` runs the README snippet verbatim
    (after the shell example's registration); a changed byte raises with the verdicts attached."""
    from hokusai_ci import ModelRegistry
    from hokusai_ci.domain.errors import Category, HokusaiError

    monkeypatch.chdir(tmp_path)
    keypair(tmp_path)
    (tmp_path / "model.pkl").write_bytes(b"weights" * 300)
    registry = ModelRegistry(sign_key="signing.key.pem")
    registry.create_token("SIGNED")
    registered = registry.register_model("SIGNED", "model.pkl", "auroc", 0.85, 0.82)
    assert registered.attestation is not None and registered.attestation.method == "key"
    (snippet,) = code_blocks(readme_section("Verify before you deploy"), "python")
    proc = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True [('signed', 'passed'), ('registration_signature', 'passed')")
    flip_byte(next(Path(os.environ["HOKUSAI_HOME"], "mlruns").glob("*/*/artifacts/model/model.pkl")))
    with pytest.raises(HokusaiError) as info:
        ModelRegistry().verify_model("models:/hokusai-SIGNED/1", public_key="signing.pub.pem")
    assert info.value.category is Category.VERIFICATION_FAILED and info.value.exit_code == 11
    assert info.value.result.verified is False
    assert [c.name for c in info.value.result.checks if c.verdict == "failed"] == ["model_signature", "model_digest"]


def _verify_peak_rss_mib(home: Path, public: Path) -> float:
    """`model verify` in its own process; its peak resident memory in MiB."""
    code = (
        "import resource, sys\n"
        "from hokusai_ci.faces.cli import main\n"
        "try:\n"
        f"    main(['model', 'verify', '--token-id', 'BIG', '--public-key', {str(public)!r}])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)\n"
    )
    env = {**os.environ, "HOKUSAI_HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return float(proc.stderr.strip().splitlines()[-1])


def test_verify_streams_large_models_with_flat_memory(tmp_path: Path) -> None:
    """Download, re-hash and model_signing's verification all stream: peak memory does not grow
    with the model (8 MiB vs 192 MiB)."""
    private, public = keypair(tmp_path)
    peaks = []
    for size_mib in (8, 192):
        home = tmp_path / f"home{size_mib}"
        model = tmp_path / f"model{size_mib}.bin"
        with model.open("wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(1024 * 1024))
        env = {"HOKUSAI_HOME": str(home)}
        run_here("token", "create", "--token-id", "BIG", env=env)
        r = run_here(*register_args("BIG", model, "accuracy", "0.8", "0.9"), "--sign-key", str(private), env=env)
        assert r.code == 0, r.err
        model.unlink()
        peaks.append(_verify_peak_rss_mib(home, public))
    assert peaks[1] - peaks[0] < 48, peaks  # reading the model into memory would add 184 MiB


def test_verify_names_what_to_verify_once(tmp_path: Path) -> None:
    _, public = keypair(tmp_path)
    both = run_here("model", "verify", "--model-uri", "models:/m/1", "--token-id", "T", "--public-key", str(public))
    assert both.code == 2 and "token-id='T' is invalid: --model-uri was given too" in both.err, both.err
    none = run_here("model", "verify", "--public-key", str(public))
    assert none.code == 2 and "error: Invalid Input: model-uri is missing: give one of --model-uri" in none.err
    assert "None" not in both.err + none.err


def test_a_deployed_token_still_verifies(mlflow_server: MlflowServer, model_file: Path, tmp_path: Path) -> None:
    """Deployment is what verification is for: the platform moving the token on from
    registered does not make its registration unverifiable."""
    import sqlite3

    private, public = keypair(tmp_path)
    assert register_signed("SIGDEPLOY", model_file, mlflow_server, private).code == 0
    with sqlite3.connect(Path(os.environ["HOKUSAI_HOME"], "hokusai.db")) as db:
        db.execute("UPDATE tokens SET status = 'deployed' WHERE token_id = 'SIGDEPLOY'")
    ok = verify("--token-id", "SIGDEPLOY", "--public-key", str(public), server=mlflow_server)
    assert ok.code == 0, ok.out + ok.err
    with sqlite3.connect(Path(os.environ["HOKUSAI_HOME"], "hokusai.db")) as db:
        db.execute("UPDATE tokens SET status = 'archived' WHERE token_id = 'SIGDEPLOY'")
    gone = verify("--model-uri", "models:/hokusai-SIGDEPLOY/1", "--public-key", str(public), server=mlflow_server)
    assert gone.code == 11 and "field status is 'archived'" in gone.json()["error"]["message"]
