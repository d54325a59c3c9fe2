"""What `model verify` promises a deployer: exit 11 means "differs from what was signed" and
nothing else; everything on the version is either signed or reported; Sigstore is contacted
only when it can help, and its absence is said plainly. Against the real MLflow server; the
network Sigstore would use is a listener on 127.0.0.1 standing in as the HTTPS proxy, so a
test can tell whether anything tried to reach it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hokusai_ci.core.verification import trust_from
from hokusai_ci.domain.errors import Category, HokusaiError
from tests.conftest import run_cli, run_here
from tests.servers import MlflowServer, Receiver
from tests.test_signing import client, failed_checks, keypair, register_signed, server_file, verify


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and closes each at once: as the
    HTTPS proxy, it is the only network a command can reach."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def env(self, home: Path) -> dict[str, str]:
        proxy = f"http://127.0.0.1:{self.port}"
        local = "127.0.0.1,localhost"  # the MLflow server is reached directly
        proxies = {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy}
        # an empty TUF cache: Sigstore's trust root can only come from the network
        cache = {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data")}
        return {**proxies, "NO_PROXY": local, "no_proxy": local, **cache}


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.sock.close()


def signed_version(token: str, model: Path, server: MlflowServer, tmp_path: Path) -> tuple[str, Path, str]:
    """A key-signed registration: (model URI, public key file, MLflow run id)."""
    private, public = keypair(tmp_path)
    r = register_signed(token, model, server, private)
    assert r.code == 0, r.out + r.err
    return f"models:/hokusai-{token}/1", public, r.json()["mlflow_run_id"]


# -- every hokusai.* tag is signed or reported -------------------------------------------------
def test_a_tag_added_after_signing_fails_naming_it(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    uri, public, _ = signed_version("ADDTAG", model_file, mlflow_server, tmp_path)
    ok = verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server)
    assert ok.code == 0, ok.out + ok.err
    tags_check = next(c for c in ok.json()["checks"] if c["name"] == "version_tags")
    assert tags_check["detail"].endswith(
        "; informational, not signed: hokusai.claim_id, other version tags and the run's tags"
    )
    assert "the signature covers hokusai.token_id, hokusai.sha256, hokusai.metric," in tags_check["detail"]
    text = run_here("model", "verify", "--model-uri", uri, "--public-key", str(public),
                    "--mlflow-uri", mlflow_server.url)  # fmt: skip
    assert text.code == 0, text.err
    [line] = [line for line in text.out.splitlines() if "version_tags" in line]
    assert "the signature covers hokusai.token_id" in line and "informational, not signed" in line
    assert "the run's tags" in line

    c = client(mlflow_server)
    for tag, value, says in (
        ("hokusai.repository", "acme/trusted", "added after signing: the signed statement has no value"),
        ("hokusai.commit", "0" * 40, "added after signing"),
        ("hokusai.reviewed", "true", "not a tag hokusai-ci writes"),
        ("Hokusai.commit", "1" * 40, "not a tag hokusai-ci writes"),
    ):
        c.set_model_version_tag("hokusai-ADDTAG", "1", tag, value)
        v = verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server)
        assert v.code == 11, v.out + v.err
        assert failed_checks(v.json()) == ["version_tags"]
        assert v.json()["error"]["message"].startswith(f"version_tags: tag {tag} is {value!r}")
        assert says in v.json()["error"]["message"]
        c.delete_model_version_tag("hokusai-ADDTAG", "1", tag)
    assert verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server).code == 0


def test_a_file_planted_in_the_stored_model_fails_naming_it(
    mlflow_server: MlflowServer, model_dir: Path, tmp_path: Path
) -> None:
    """model_signing and the model digest leave out top-level `.git*` entries; registration never
    uploads them, so one in the registry was put there, and verify names it."""
    uri, public, run_id = signed_version("PLANT", model_dir, mlflow_server, tmp_path)
    stored = server_file(mlflow_server, run_id, "model")
    for planted in (".git/config", ".gitattributes", "shards/extra.bin"):
        path = stored / planted
        path.parent.mkdir(exist_ok=True)
        path.write_text("[core]\n\tfsmonitor = touch /tmp/pwned\n")
        v = verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server)
        assert v.code == 11, v.out + v.err
        assert v.json()["error"]["message"] == f"model_signature: file {planted!r} is not in the signed model"
        path.unlink()
    (stored / ".git").rmdir()
    assert verify("--model-uri", uri, "--public-key", str(public), server=mlflow_server).code == 0


# -- exit 11 only for a difference -----------------------------------------------------------
def test_what_cannot_be_found_has_its_own_code_and_says_where_it_looked(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    uri, public, run_id = signed_version("WHERE", model_file, mlflow_server, tmp_path)

    typo = verify("--model-uri", "models:/hokusai-WHERE/2", "--public-key", str(public), server=mlflow_server)
    assert typo.code == Category.MODEL_NOT_FOUND.exit_code == 13, typo.out + typo.err
    assert typo.json()["error"]["category"] == "model_not_found"
    assert f"models:/hokusai-WHERE/2 does not exist in the registry at {mlflow_server.url}" in typo.err

    # a deployer's laptop: the registry is shared, the token store is not
    laptop = tmp_path / "laptop"
    elsewhere = run_here("model", "verify", "--model-uri", uri, "--public-key", str(public),
                        "--mlflow-uri", mlflow_server.url, "--output", "json",
                        env={"HOKUSAI_HOME": str(laptop)})  # fmt: skip
    assert elsewhere.code == Category.TOKEN_NOT_FOUND.exit_code == 3, elsewhere.out + elsewhere.err
    out = elsewhere.json()
    assert failed_checks(out) == ["token_record"] and out["error"]["category"] == "token_not_found"
    assert f"token WHERE has no record in sqlite:{laptop}/hokusai.db" in out["error"]["message"]

    # a local copy whose model signature was not downloaded, or was given by a wrong path
    c = client(mlflow_server)
    model = c.download_artifacts(run_id, "model", str(tmp_path / "dl"))
    bundles = Path(c.download_artifacts(run_id, "hokusai", str(tmp_path / "dl")))
    local = ["model", "verify", "--model-path", model, "--bundle", str(bundles / "registration.sigstore.json"),
             "--public-key", str(public)]  # fmt: skip
    wrong = run_here(*local, "--model-signature", str(tmp_path / "nope.json"))
    assert wrong.code == 2, wrong.err
    assert f"error: Invalid Input: model-signature='{tmp_path}/nope.json' is invalid: no such file" in wrong.err
    (bundles / "model.sigstore.json").unlink()
    missing = run_here(*local)
    assert missing.code == 2, missing.err
    assert f"no model.sigstore.json beside --bundle (looked for '{bundles}/model.sigstore.json')" in missing.err

    # a real difference still outranks a record that is not here: exit 11
    c.set_model_version_tag("hokusai-WHERE", "1", "hokusai.metric_value", "0.99")
    both = run_here("model", "verify", "--model-uri", uri, "--public-key", str(public),
                   "--mlflow-uri", mlflow_server.url, env={"HOKUSAI_HOME": str(laptop)})  # fmt: skip
    assert both.code == 11 and "version_tags: tag hokusai.metric_value is '0.99'" in both.err, both.err


# -- keyless verification and the network ----------------------------------------------------
def test_keyless_verify_of_a_key_signed_version_never_contacts_sigstore(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path, network: Listener
) -> None:
    uri, _, _ = signed_version("NONET", model_file, mlflow_server, tmp_path)
    v = run_here("model", "verify", "--model-uri", uri, "--mlflow-uri", mlflow_server.url, "--output", "json",
                "--identity", "https://github.com/acme/m/.github/workflows/ci.yml@refs/heads/main",
                "--issuer", "https://token.actions.githubusercontent.com",
                env=network.env(tmp_path / "sigstore-home"))  # fmt: skip
    assert v.code == 11, v.out + v.err
    assert failed_checks(v.json()) == ["registration_signature", "model_signature"]
    message = v.json()["error"]["message"]
    assert "registration.sigstore.json is signed with a key, not keyless" in message
    assert "can never accept a key signature, so Sigstore was not contacted; verify with --public-key" in message
    assert network.connections == 0


def keyless_looking_copy(folder: Path) -> tuple[Path, Path]:
    """A local copy whose bundles carry a certificate: only Sigstore's trust root can judge it."""
    model = folder / "model"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"w" * 64)
    envelope = {"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []}
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": "AAAA"}, "tlogEntries": []},
        "dsseEnvelope": envelope,
    }
    for name in ("registration.sigstore.json", "model.sigstore.json"):
        (folder / name).write_text(json.dumps(bundle))
    return model, folder / "registration.sigstore.json"


KEYLESS = ["--identity", "https://github.com/acme/m/.github/workflows/ci.yml@refs/heads/main",
           "--issuer", "https://token.actions.githubusercontent.com"]  # fmt: skip


def test_an_unreachable_trust_root_says_what_and_how_to_run_offline(tmp_path: Path, network: Listener) -> None:
    model, bundle = keyless_looking_copy(tmp_path / "copy")
    args = ["model", "verify", "--model-path", str(model), "--bundle", str(bundle), *KEYLESS]
    v = run_here(*args, env=network.env(tmp_path / "sigstore-home"))
    assert v.code == Category.TRUST_ROOT_UNREACHABLE.exit_code == 14, v.out + v.err
    assert "error: Trust Root Unreachable: keyless verification needs Sigstore's trust root, and it could not be " \
        "fetched from https://tuf-repo-cdn.sigstore.dev (TUFError" in v.err  # fmt: skip
    assert "to verify offline, give a Sigstore client trust config file (JSON) with --trust-config FILE" in v.err
    assert "Traceback" not in v.err and network.connections > 0

    missing = run_here(*args, "--trust-config", str(tmp_path / "absent.json"))
    assert missing.code == 2 and "trust-config=" in missing.err and "does not exist" in missing.err, missing.err
    (tmp_path / "bad.json").write_text('{"mediaType": "nonsense"}')
    bad = run_here(*args, "--trust-config", str(tmp_path / "bad.json"), env=network.env(tmp_path / "h2"))
    assert bad.code == 2 and "is invalid: not a Sigstore trust config" in bad.err, bad.err


@pytest.mark.parametrize("target", ["registration.sigstore.json", "model.sigstore.json"])
def test_a_deeply_nested_bundle_is_not_a_bundle(tmp_path: Path, target: str) -> None:
    _, public = keypair(tmp_path)
    model, bundle = keyless_looking_copy(tmp_path / "copy")
    (tmp_path / "copy" / target).write_text('{"verificationMaterial": ' + "[" * 200_000 + "]" * 200_000 + "}")
    v = run_here("model", "verify", "--model-path", str(model), "--bundle", str(bundle), "--public-key", str(public),
                "--output", "json")  # fmt: skip
    assert v.code == 11, v.out + v.err
    assert "RecursionError" not in v.out + v.err and "Traceback" not in v.err
    kind = "a Sigstore bundle" if target.startswith("registration") else "a model_signing bundle"
    assert f"{target} is not {kind}" in v.json()["error"]["message"] + json.dumps(v.json()["checks"])


# -- who the deployer trusts -----------------------------------------------------------------
SIGNERS = st.text(st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=300, deadline=None)
@given(identity=SIGNERS, issuer=SIGNERS)
@example(identity="https://github.com/acme/m/.github/workflows/ci.yml@refs/heads/main\n::warning::x",
         issuer="https://token.actions.githubusercontent.com")  # fmt: skip
@example(identity="javascript:alert(1)", issuer="https://token.actions.githubusercontent.com")
@example(identity="ci@acme.example", issuer="javascript:alert(1)")
@example(identity="ci@acme.example", issuer="https://accounts.google.com\r")
def test_identity_and_issuer_are_an_address_or_https_url(identity: str, issuer: str) -> None:
    try:
        trust = trust_from(None, identity, issuer)
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT
        assert err.field in ("identity", "issuer", "public-key")
        assert "\n" not in err.message and "\r" not in err.message
        return
    for value in (trust.identity, trust.issuer):
        assert value is not None and value.isprintable() and " " not in value
    assert str(trust.issuer).startswith("https://")
    assert str(trust.identity).startswith("https://") or "@" in str(trust.identity)


def test_a_bad_identity_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    issuer = "https://token.actions.githubusercontent.com"
    v = run_here("model", "verify", "--model-uri", "models:/m/1", "--identity", "javascript:alert(1)",
                "--issuer", issuer, "--mlflow-uri", "http://127.0.0.1:9")  # fmt: skip
    assert v.code == 2, v.err
    assert "error: Invalid Input: identity='javascript:alert(1)' is invalid: must be an https:// URL or an " \
        "e-mail address" in v.err  # fmt: skip


def test_with_a_trust_config_file_keyless_verification_runs_offline(tmp_path: Path, network: Listener) -> None:
    """The way out the unreachable message names: the trust root from a file, no connection."""
    from tests.test_signing_keyless_action import SIGSTORE_STORE

    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((SIGSTORE_STORE / "trusted_root.json").read_text()),
        "signingConfig": json.loads((SIGSTORE_STORE / "signing_config.v0.2.json").read_text()),
    }
    (tmp_path / "trust.json").write_text(json.dumps(config))
    model, bundle = keyless_looking_copy(tmp_path / "copy")
    v = run_here("model", "verify", "--model-path", str(model), "--bundle", str(bundle), *KEYLESS,
                "--trust-config", str(tmp_path / "trust.json"), "--output", "json",
                env=network.env(tmp_path / "sigstore-home"))  # fmt: skip
    assert v.code == 11, v.out + v.err  # the made-up certificate is judged, offline, and refused
    assert v.json()["error"]["message"].startswith("registration_signature: keyless signature not verified")
    assert network.connections == 0


class NotMlflow(Receiver):
    """A web server that answers every path with JSON that is not MLflow's (or an empty 307)."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        return self.status, ({"ok": True} if self.status == 200 else {}), {}


@pytest.mark.parametrize("status", [200, 307])
def test_verify_against_a_server_that_is_not_mlflow_is_exit_8_not_a_signature_failure(
    status: int, tmp_path: Path
) -> None:
    server = NotMlflow(status).start()
    try:
        _, public = keypair(tmp_path)
        r = run_cli("model", "verify", "--model-uri", "models:/hokusai-X/1", "--public-key", str(public),
                    "--mlflow-uri", server.base_url)  # fmt: skip
    finally:
        server.stop()
    assert r.code == Category.MLFLOW_ERROR.exit_code == 8, r.err
    assert "is this an MLflow server?" in r.err or "MLflow" in r.err, r.err
