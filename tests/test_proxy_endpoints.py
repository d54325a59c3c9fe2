"""HTTP_PROXY/HTTPS_PROXY/NO_PROXY change where requests go: the endpoint lines printed at start
say which proxy each endpoint is reached through (its user-info masked), by the rules the HTTP
client applies. A real local proxy (tests/fault_proxy.FaultProxy) in front of a real webhook
receiver proves the line matches where the request went."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import register_args, run_here
from tests.fault_proxy import FaultProxy
from tests.servers import WebhookReceiver

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def forward_proxy(webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A proxy on 127.0.0.1 forwarding to the webhook receiver; no proxy setting inherited."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    started = FaultProxy(webhook.base_url).start()
    yield started
    started.stop()


def _register(tmp_path: Path, webhook: WebhookReceiver, token: str, env: dict[str, str]) -> tuple[int, str]:
    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 64)
    local = {"HOKUSAI_MODE": "local", "HOKUSAI_HOME": str(tmp_path / "home")}
    assert run_here("token", "create", "--token-id", token, env=local).code == 0
    r = run_here(*register_args(token, model, webhook_url=webhook.url), env={**local, **env})
    return r.code, r.err


def test_the_webhook_line_names_the_proxy_the_request_goes_through(
    tmp_path: Path, webhook: WebhookReceiver, forward_proxy: FaultProxy
) -> None:
    port = forward_proxy.url.rsplit(":", 1)[1]
    proxy = f"http://relay:proxy-pw-1234@127.0.0.1:{port}"
    code, err = _register(tmp_path, webhook, "PXY", {"HTTP_PROXY": proxy})
    assert code == 0, err
    line = next(line for line in err.splitlines() if line.startswith("hokusai: webhook: "))
    assert line == f"hokusai: webhook: {webhook.url} through proxy http://***@127.0.0.1:{port}"
    mlflow_line = next(line for line in err.splitlines() if line.startswith("hokusai: MLflow: "))
    assert "through proxy" not in mlflow_line  # a local MLflow store is no HTTP request
    assert "proxy-pw-1234" not in err and "relay" not in err
    assert [call for call in forward_proxy.calls if call[0] == "POST"], "the webhook did not go through the proxy"
    assert webhook.received  # and it arrived


def test_a_host_in_no_proxy_is_reached_directly_and_the_line_says_nothing(
    tmp_path: Path, webhook: WebhookReceiver, forward_proxy: FaultProxy
) -> None:
    env = {"HTTP_PROXY": forward_proxy.url, "NO_PROXY": "127.0.0.1"}
    code, err = _register(tmp_path, webhook, "DIRECT", env)
    assert code == 0, err
    assert f"hokusai: webhook: {webhook.url}\n" in err + "\n" and "through proxy" not in err
    assert forward_proxy.seen == [] and webhook.received


def test_each_endpoint_gets_the_proxy_of_its_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    from hokusai_ci.config.urls import proxy_for

    for name in PROXY_VARS:
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://u:secret@corp-proxy:3128")
    monkeypatch.setenv("HTTP_PROXY", "plain-proxy:8080")
    monkeypatch.setenv("NO_PROXY", "internal.example,10.0.0.0/8")
    assert proxy_for("https://api.hokus.ai/") == "http://***@corp-proxy:3128"
    assert proxy_for("http://mlflow.example:5000") == "http://plain-proxy:8080"
    assert proxy_for("http://mlflow.internal.example/") is None
    assert proxy_for("http://10.1.2.3:5000/") is None
    assert proxy_for("file:///tmp/mlruns") is None


@settings(max_examples=60, deadline=None)
@given(
    variable=st.sampled_from(["HTTP_PROXY", "https_proxy", "ALL_PROXY"]),
    password=st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=4, max_size=24),
    scheme=st.sampled_from(["http://", "https://", "socks5://", ""]),
)
def test_a_proxy_password_is_a_secret_wherever_it_is_quoted(variable: str, password: str, scheme: str) -> None:
    """A proxy's password is redacted in any text (a proxy's error page quoting it, a library's
    message), not only inside a URL: as written in the variable and as the client decodes it."""
    from urllib.parse import quote, unquote

    from hokusai_ci.config.redaction import redact

    written = quote(password, safe="")
    with patch.dict(os.environ, {variable: f"{scheme}relay:{written}@proxy.example:3128"}):
        said = redact(f"proxy refused relay/{unquote(written)} (sent {written})")
    assert unquote(written) not in said and written not in said, said
