"""One URL, one reading: the host that is checked, logged and connected to is one value.

Real receivers on 127.0.0.1 stand for a trusted host (the configured Hokusai API, whose host may
receive the API key) and an attacker's host. Hypothesis writes URLs that name both, in the
spellings where parsers disagree (backslash, `@` in odd places, whitespace, percent-encoding,
look-alike Unicode). The CLI runs in-process; whatever it accepts, the attacker never receives
the key, and receives a request at all only when the tool logged that very host.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from hokusai_ci.config.settings import load_settings
from hokusai_ci.config.urls import read_http_url
from hokusai_ci.domain.errors import HokusaiError
from tests.conftest import register_args, run_here
from tests.servers import MlflowServer, Receiver

KEY = "hk_test_url_reading_canary_7f3a"
SEPARATORS = ["\\", "%5C", "\\\\", "/\\", " ", "\t", "?", "#", "@", "%40", "＼", "＠", "\u3002", ":", ""]
EXTRA = st.text(alphabet="\\@/%: #?.[]aZ5\t＠。", max_size=4)


class MlflowLike(Receiver):
    """Answers the registry searches of `model status` with nothing found, like an empty MLflow."""

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if "search" in path:
            return 200, {}, {}
        return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}, {}


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[MlflowLike, MlflowLike]]:
    trusted, attacker = MlflowLike().start(), MlflowLike().start()
    yield trusted, attacker
    trusted.stop()
    attacker.stop()


def _authority(receiver: Receiver, name: str) -> str:
    assert receiver.server is not None
    return f"{name}:{receiver.server.server_address[1]}"


def spellings(draw: st.DrawFn, trusted: str, attacker: str) -> str:
    sep = draw(st.sampled_from(SEPARATORS)) + draw(EXTRA)
    user = draw(st.sampled_from(["", "u:p@", "user@", "a%40b:c@"]))
    shape = draw(st.sampled_from(["{a}{s}@{t}", "{u}{a}{s}{t}", "{u}{t}{s}@{a}", "{a}{s}{t}", "{u}{a}@{s}{t}"]))
    return "http://" + shape.format(a=attacker, t=trusted, s=sep, u=user) + draw(st.sampled_from(["/api/mlflow", ""]))


def _logged(err: str, receiver: Receiver) -> bool:
    assert receiver.server is not None
    return f":{receiver.server.server_address[1]}" in err


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_api_key_reaches_only_the_host_the_tool_logged(
    data: st.DataObject, hosts: tuple[MlflowLike, MlflowLike], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trusted, attacker = hosts
    attacker_name = data.draw(st.sampled_from(["127.0.0.1", "localhost"]))
    url = spellings(data.draw, _authority(trusted, "127.0.0.1"), _authority(attacker, attacker_name))
    trusted.received.clear()
    attacker.received.clear()
    monkeypatch.setenv("HOKUSAI_API_KEY", KEY)
    monkeypatch.setenv("HOKUSAI_API_URL", trusted.base_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    (tmp_path / "m.pkl").write_bytes(b"model bytes")
    code, _, err = run_here(
        *register_args("URLTEST", tmp_path / "m.pkl", dry_run="true")
    )  # a dry run logs the hosts it talks to (status and list print no log)
    assert "Traceback" not in err
    if code == 2:
        assert "MLFLOW_TRACKING_URI" in err and KEY not in err
        assert not trusted.received and not attacker.received, "refused, yet something was sent"
    for request in attacker.received:
        assert KEY not in str(request.headers), f"{url!r}: the attacker's host received the API key"
        assert _logged(err, attacker), f"{url!r}: a request reached a host the tool did not log:\n{err}"
    for request in trusted.received:
        if KEY in str(request.headers):
            assert _logged(err, trusted) or "Hokusai API" in err


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{a}\\@127.0.0.1:{t}/hooks",
        "http://127.0.0.1:{a}%5C@127.0.0.1:{t}/hooks",  # one reading: user-info, then the trusted host
        "http://u@127.0.0.1:{a}@127.0.0.1:{t}/hooks",
        "http://127.0.0.1:{a} @127.0.0.1:{t}/hooks",
        "http://127.0.0.1%3A{a}/hooks",
        "http://127.0.0.1:{a}＼@127.0.0.1:{t}/hooks",
    ],
)
def test_events_never_go_to_another_host_than_the_one_logged(
    url: str, hosts: tuple[MlflowLike, MlflowLike], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook: a registration in local mode, the URL naming the trusted and the other host."""
    trusted, attacker = hosts
    assert trusted.server is not None and attacker.server is not None
    spelled = url.format(a=attacker.server.server_address[1], t=trusted.server.server_address[1])
    trusted.received.clear()
    attacker.received.clear()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.pkl").write_bytes(b"model bytes")
    assert run_here("token", "create", "--token-id", "HOOK").code == 0
    code, _, err = run_here(*register_args("HOOK", "m.pkl", "auroc", "0.8", "0.9", webhook_url=spelled))
    assert "Traceback" not in err
    if code == 2:
        assert "webhook-url" in err and not attacker.received and not trusted.received, err
    for receiver in (attacker, trusted):
        if receiver.received:
            assert _logged(err, receiver), f"{spelled!r}: an event reached a host the tool did not log:\n{err}"
    assert code == 2 or trusted.received, "a URL accepted for the trusted host delivered nothing there"


@settings(max_examples=400)
@given(url=st.text(min_size=1, max_size=60).map(lambda s: "http://" + s))
def test_an_accepted_url_has_one_reading_and_the_client_connects_there(url: str) -> None:
    """Any text after http:// is refused with exit 2, or read alike by urlsplit, urllib3 and the
    request `requests` prepares."""
    try:
        parsed = read_http_url("HOKUSAI_WEBHOOK_URL", url)
    except HokusaiError as exc:
        assert exc.exit_code == 2 and "HOKUSAI_WEBHOOK_URL" in str(exc)
        return
    client = parse_url(requests.Request("GET", url).prepare().url)
    assert (client.host or "").strip("[]").lower() == parsed.host
    assert (client.port or 80) == parsed.port


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MLFLOW_TRACKING_URI", "https://attacker\\@registry.hokus.ai/api/mlflow"),
        ("HOKUSAI_API_URL", "https://attacker\\@api.hokus.ai/"),
        ("HOKUSAI_WEBHOOK_URL", "http://a.example\\@b.example/hook"),
        ("MLFLOW_S3_ENDPOINT_URL", "http://attacker\\@s3.example.com"),
        ("MLFLOW_TRACKING_URI", "https://registry.hokus.ai%2eattacker.example/"),
        ("MLFLOW_TRACKING_URI", "https://ｒegistry.hokus.ai/api/mlflow"),
        ("MLFLOW_TRACKING_URI", "https://user@attacker@registry.hokus.ai/"),
    ],
)
def test_each_setting_refuses_a_url_with_two_readings(variable: str, value: str) -> None:
    with pytest.raises(HokusaiError) as caught:
        load_settings({}, {variable: value, "HOKUSAI_API_KEY": KEY})
    assert caught.value.exit_code == 2 and variable in str(caught.value)


def test_artifact_uploads_to_another_host_carry_no_credentials(hosts: tuple[MlflowLike, MlflowLike]) -> None:
    """A server may name another host for artifacts (`mlflow-artifacts://host/...`): the session's
    credentials stay with the server they were configured for."""
    from hokusai_ci.adapters.mlflow_http import HttpConfig, MlflowHttp

    trusted, attacker = hosts
    attacker.received.clear()
    trusted.received.clear()
    http = MlflowHttp(trusted.base_url, HttpConfig(token=KEY, retries=0))
    http.send("PUT", f"{attacker.base_url}/api/2.0/mlflow-artifacts/artifacts/x", True, data=b"x")
    http.send("GET", f"{trusted.base_url}/api/2.0/mlflow/experiments/search", True)
    assert attacker.received and "Authorization" not in attacker.received[0].headers
    assert trusted.received[0].headers.get("Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("mlflow_uri", "api_url", "trusted"),
    [
        ("https://registry.hokus.ai/api/mlflow", None, True),
        ("http://registry.hokus.ai:443/api/mlflow", None, False),  # the registry's port, in the clear
        ("http://registry.hokus.ai/api/mlflow", None, False),
        ("http://127.0.0.1:8443/api/mlflow", "https://127.0.0.1:8443", False),
        ("https://127.0.0.1:8443/api/mlflow", "https://127.0.0.1:8443", True),
    ],
)
def test_the_key_goes_only_over_the_scheme_of_the_trusted_origin(
    mlflow_uri: str, api_url: str | None, trusted: bool
) -> None:
    env = {
        "HOKUSAI_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": mlflow_uri,
        **({"HOKUSAI_API_URL": api_url} if api_url else {}),
    }
    assert (load_settings({}, env).registry_token() == KEY) is trusted


@given(key=st.text(min_size=4, max_size=40).filter(lambda k: not (k.isascii() and k.isprintable()) or " " in k))
def test_an_api_key_that_cannot_be_a_header_is_refused_before_anything_is_sent(key: str) -> None:
    """A key goes in an HTTP header: a non-ASCII or unprintable one would fail after the upload."""
    with pytest.raises(HokusaiError) as caught:
        load_settings({}, {"HOKUSAI_API_KEY": "hk_test_" + key})
    assert caught.value.exit_code == 2 and "HOKUSAI_API_KEY" in str(caught.value)


def test_a_failed_tls_handshake_counts_as_nothing_sent(hosts: tuple[MlflowLike, MlflowLike]) -> None:
    """https:// to a server that speaks plain HTTP: the handshake fails before any request byte
    leaves, so the platform notification may be retried and nothing is pinned as sent."""
    from hokusai_ci.adapters.http_retry import _unsent

    trusted, _ = hosts
    assert trusted.server is not None
    try:
        requests.post(f"https://127.0.0.1:{trusted.server.server_address[1]}/x", data=b"{}", timeout=10)
    except requests.RequestException as exc:
        assert _unsent(exc), repr(exc)
    else:
        raise AssertionError("a plain-HTTP server completed a TLS handshake")


class ArtifactRootRewriter:
    """A reverse proxy in front of the real MLflow server that answers `runs/create` with another
    host as the run's artifact root: what a compromised or misconfigured server could say."""

    def __init__(self, upstream: str, artifact_root: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sent = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(self.command, upstream + self.path, data=body, headers=sent, timeout=60)
                content = answer.content
                if self.path.startswith("/api/2.0/mlflow/runs/create") and answer.ok:
                    run = answer.json()
                    run["run"]["info"]["artifact_uri"] = f"{proxy.artifact_root}/{run['run']['info']['run_id']}"
                    content = json.dumps(run).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, *args: Any) -> None:
                return

        self.artifact_root = artifact_root
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("credential", ["token", "basic"])
def test_an_artifact_root_on_another_host_gets_no_credential_and_nothing_is_sent_there(
    credential: str,
    hosts: tuple[MlflowLike, MlflowLike],
    mlflow_server: MlflowServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server names `http://<other host>/…` as the run's artifact root: MLflow's own client
    would PUT the model there with the server's credentials. The registration stops (exit 8,
    naming both hosts) and the other host receives nothing."""
    _, attacker = hosts
    attacker.received.clear()
    proxy = ArtifactRootRewriter(mlflow_server.url, f"{attacker.base_url}/stolen")
    try:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "m.pkl").write_bytes(b"model bytes")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        if credential == "token":  # MLflow's bearer token (the API key takes this path in API mode)
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", KEY)
        else:
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ci-user")
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", KEY)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        assert run_here("token", "create", "--token-id", "ROOT").code == 0
        code, _, err = run_here(
            "model", "register", "--token-id", "ROOT", "--model-path", "m.pkl", "--metric", "auroc",
            "--baseline", "0.8", "--metric-value", "0.9",
        )  # fmt: skip
    finally:
        proxy.stop()
    assert code == 8 and "another host than the server" in err, err
    assert not attacker.received, attacker.received
    assert KEY not in err


@pytest.mark.parametrize("spelling", ["file-uri", "path"])
def test_a_remote_server_naming_a_local_artifact_root_stops_before_writing(
    spelling: str, mlflow_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server records `file:///…` (or a plain path) as the run's artifact root: MLflow's own
    client would write the model on this machine's disk, lost with the CI runner, while the
    server lists the version as stored. The registration stops (exit 8, naming the root and the
    fix) and nothing is written there."""
    disk = tmp_path / "runner-disk"
    root = disk.as_uri() if spelling == "file-uri" else str(disk)
    proxy = ArtifactRootRewriter(mlflow_server.url, root)
    try:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "m.pkl").write_bytes(b"model bytes")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        assert run_here("token", "create", "--token-id", "LOCALROOT").code == 0
        r = run_here(*register_args("LOCALROOT", "m.pkl"))
    finally:
        proxy.stop()
    assert r.code == 8, r.err
    assert f"names {root}/" in r.err and "--serve-artifacts" in r.err and "s3://" in r.err, r.err
    assert [line for line in r.err.splitlines() if line.startswith("error:")] == [r.err.strip().splitlines()[-1]]
    assert not disk.exists(), list(disk.rglob("*"))
    status = run_here("model", "status", "--token-id", "LOCALROOT", "--output", "json")
    assert status.json()["status"] == "draft"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOKUSAI_TRUST_HOSTS", "*"),  # no wildcard: it would match nothing, silently
        ("HOKUSAI_TRUST_HOSTS", "registry.example.com,*.example.com"),
        ("HOKUSAI_TRUST_HOSTS", "exa mple.com"),
        ("MLFLOW_TRACKING_URI", "file://evil.example/tmp/x"),  # a remote host in a local store's URI
    ],
)
def test_trust_entries_and_file_uris_name_one_host_read_alike(variable: str, value: str) -> None:
    with pytest.raises(HokusaiError) as caught:
        load_settings({}, {variable: value})
    assert caught.value.exit_code == 2 and variable in str(caught.value)
