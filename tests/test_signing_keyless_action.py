"""Keyless signing up to the network call, a signing failure left resumable, the Action's signing
inputs and outputs, and hostile key values.

Keyless Sigstore needs Fulcio and Rekor on the internet. Here a stand-in on 127.0.0.1 plays the
GitHub OIDC token endpoint and Fulcio (a mock: no real counterpart can run offline); the trust
configuration is Sigstore's own production one with its service URLs pointed at the stand-in, so
the library runs its real flow until Fulcio answers 503.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import sigstore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

from hokusai_ci.domain.errors import Category, HokusaiError
from tests.conftest import register_args, run_cli
from tests.servers import MlflowServer
from tests.test_action_entrypoint import parse_outputs, run_entry, runner
from tests.test_signing import keypair, verify

__all__ = ["runner"]  # the Action's fake runner fixture, shared with the entrypoint tests
SIGSTORE_STORE = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class SigstoreStandIn:
    """GitHub's id-token endpoint and Sigstore's OIDC discovery (GET), and Fulcio (POST, answering
    503), recording every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        now = int(time.time())
        claims = {
            "iss": GITHUB_ISSUER,
            "aud": "sigstore",
            "sub": "repo:acme/models:ref:refs/heads/main",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "email": "ci@acme.example",
            "email_verified": True,
        }
        self.id_token = jwt.encode(claims, "stand-in-signing-secret-of-32-bytes!", algorithm="HS256")
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                stand_in.requests.append((self.command, self.path, dict(self.headers.items())))

            def do_GET(self) -> None:
                self._record()
                answer: dict[str, str] = {"value": stand_in.id_token}
                if self.path.startswith("/.well-known/openid-configuration"):  # Sigstore's OAuth issuer
                    answer = {"authorization_endpoint": f"{stand_in.url}/auth", "token_endpoint": f"{stand_in.url}/t"}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._record()
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def trust_config(self, folder: Path) -> Path:
        signing = json.loads((SIGSTORE_STORE / "signing_config.v0.2.json").read_text())
        for key in ("caUrls", "oidcUrls", "rekorTlogUrls", "tsaUrls"):
            for service in signing[key]:
                service["url"] = self.url
        config = {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": json.loads((SIGSTORE_STORE / "trusted_root.json").read_text()),
            "signingConfig": signing,
        }
        path = folder / "trust_config.json"
        path.write_text(json.dumps(config))
        return path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in() -> Iterator[SigstoreStandIn]:
    server = SigstoreStandIn()
    yield server
    server.stop()


def test_keyless_runs_to_fulcio_then_fails_resumable_and_a_key_run_signs_the_adopted_version(
    mlflow_server: MlflowServer, model_file: Path, tmp_path: Path, stand_in: SigstoreStandIn
) -> None:
    run_cli("token", "create", "--token-id", "KEYLESS")
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_SHA": "0123abc",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{stand_in.url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-request-token",
        "HOKUSAI_SIGSTORE_TRUST_CONFIG": str(stand_in.trust_config(tmp_path)),
    }
    args = [*register_args("KEYLESS", model_file, "accuracy", "0.80", "0.85"), "--mlflow-uri", mlflow_server.url]
    r = run_cli(*args, "--sign", "keyless", "--output", "json", env=github)
    assert r.code == 12, r.out + r.err
    assert r.json()["error"]["category"] == "signing_failed"
    assert "error: Signing Failed: keyless signing could not sign the model" in r.err
    # the real flow ran: the OIDC token was requested for Sigstore, then Fulcio was asked for a certificate
    calls = [(method, path) for method, path, _ in stand_in.requests]
    token_call, fulcio_call = stand_in.requests[0], stand_in.requests[-1]
    assert token_call[0] == "GET" and "audience=sigstore" in token_call[1]
    assert token_call[2]["Authorization"].lower() == "bearer runner-request-token"
    assert fulcio_call[0] == "POST" and fulcio_call[1] == "/api/v2/signingCert", calls
    assert fulcio_call[2]["Authorization"] == f"Bearer {stand_in.id_token}"
    # nothing registered unsigned: the token is draft, the version kept for the next run
    assert run_cli("model", "status", "--token-id", "KEYLESS", "--output", "json").json()["status"] == "draft"
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    kept = client.get_model_version("hokusai-KEYLESS", "1")
    assert kept.tags["hokusai.status"] == "not_registered" and "hokusai.attestation_sha256" not in kept.tags
    assert client.get_run(kept.run_id).info.status == "FAILED"

    private, public = keypair(tmp_path)
    again = run_cli(*args, "--sign-key", str(private), "--output", "json")
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is True and again.json()["model_version"] == "1"
    v = verify("--token-id", "KEYLESS", "--public-key", str(public), server=mlflow_server)
    assert v.code == 0, v.out + v.err


def test_action_signs_with_a_key_masks_every_line_and_reports_the_attestation(
    runner: dict[str, str], tmp_path: Path
) -> None:
    private, _ = keypair(tmp_path)
    pem = private.read_text()
    proc = run_entry({**runner, "INPUT_SIGN": "key", "INPUT_SIGNING-KEY": pem})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
    masks = {ln[len("::add-mask::") :] for ln in proc.stdout.splitlines() if ln.startswith("::add-mask::")}
    assert set(body) <= masks
    unmasked = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("::add-mask::")) + proc.stderr
    outputs_file = Path(runner["GITHUB_OUTPUT"]).read_text()
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    for line in body:
        assert line not in unmasked and line not in outputs_file and line not in summary
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    digest = outputs["attestation-sha256"]
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert outputs["attestation-path"].endswith("/hokusai/registration.sigstore.json")
    assert json.loads(outputs["result-json"])["attestation"]["sha256"] == digest
    assert f"registration statement sha256 `{digest}`" in summary
    assert "hokusai model verify --model-uri models:/hokusai-XRAY/1 --public-key YOUR_PUBLIC_KEY.pem" in summary


def test_action_keyless_without_id_token_permission_fails_at_preflight(runner: dict[str, str]) -> None:
    proc = run_entry({**runner, "INPUT_SIGN": "keyless"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "::error title=Invalid Input::sign='keyless' is invalid" in proc.stdout
    assert "permissions: id-token: write" in proc.stdout
    outputs = parse_outputs(Path(runner["GITHUB_OUTPUT"]))
    assert outputs["error-category"] == "invalid_input" and outputs["attestation-sha256"] == ""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.text(min_size=1, max_size=300),
    wrap=st.booleans(),
)
def test_any_unusable_key_text_is_invalid_input_and_never_echoed(
    body: str, wrap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hokusai_ci.config.redaction import redact
    from hokusai_ci.config.settings import load_settings
    from hokusai_ci.core.app import _signer

    text = f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----" if wrap else body
    if not text.strip() or "\x00" in text:
        return  # empty means "no key" (signing off); environment values cannot hold NUL
    expected = "HOKUSAI_SIGNING_KEY='(hidden)' is invalid"
    if any(len(line.strip()) >= 4 and line.strip() in expected for line in text.splitlines()):
        return  # a secret that is a word of the message itself is redacted from it too (documented)
    monkeypatch.setenv("HOKUSAI_SIGNING_KEY", text)
    with pytest.raises(HokusaiError) as info:
        _signer(load_settings({}))
    assert info.value.category is Category.INVALID_INPUT
    assert info.value.message.startswith(expected)
    if len(body.strip()) >= 8:
        assert body.strip() not in redact(info.value.message)
        assert redact(f"leaked: {text}") == "leaked: ***"
