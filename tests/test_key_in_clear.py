"""A live Hokusai API key is never sent over plain http to another machine: the setting is
refused before any request (no name is even looked up); plain http to this machine (a local
stand-in of the API) stays allowed."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from hokusai_ci.config.settings import load_settings
from hokusai_ci.domain.errors import HokusaiError
from tests.conftest import register_args, run_here

LIVE = "hk_live_abcdefghijklmnop"
NOWHERE = "hokusai-api.invalid"  # .invalid never resolves (RFC 6761): a request could only fail to connect


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name the process resolves during the test (the real resolver still answers)."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return seen


@pytest.mark.parametrize("command", ["status", "register"])
def test_a_live_key_over_plain_http_to_a_remote_api_is_refused_before_any_request(
    tmp_path: Path, lookups: list[str], command: str
) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 64)
    env = {
        "HOKUSAI_API_KEY": LIVE,
        "HOKUSAI_API_URL": f"http://user:pw@{NOWHERE}:8080/v1",
        "HOKUSAI_HOME": str(tmp_path),
    }
    args = ["model", "status", "--token-id", "CLEAR"] if command == "status" else register_args("CLEAR", model)
    r = run_here(*args, env=env)
    assert r.code == 2, r.err
    assert "HOKUSAI_API_URL=" in r.err and "https://" in r.err and "in clear" in r.err, r.err
    assert "pw" not in r.err and LIVE not in r.err and LIVE[:12] not in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert [h for h in lookups if NOWHERE in h] == []


def test_the_flag_is_named_when_the_url_came_from_it() -> None:
    with pytest.raises(HokusaiError, match="api-url="):
        load_settings({"api_url": f"http://{NOWHERE}"}, {"HOKUSAI_API_KEY": LIVE})


@pytest.mark.parametrize("host", ["127.0.0.1:9", "127.8.9.10", "localhost:8000", "[::1]:9"])
def test_plain_http_to_this_machine_keeps_working_with_a_live_key(host: str) -> None:
    settings = load_settings({}, {"HOKUSAI_API_KEY": LIVE, "HOKUSAI_API_URL": f"http://{host}/"})
    assert settings.api_url == f"http://{host}/"


@pytest.mark.parametrize(
    ("key", "url"),
    [(LIVE, f"https://{NOWHERE}/"), ("hk_test_abcdefghijklmnop", f"http://{NOWHERE}/")],
)
def test_https_or_a_test_key_is_not_refused(key: str, url: str) -> None:
    assert load_settings({}, {"HOKUSAI_API_KEY": key, "HOKUSAI_API_URL": url}).api_url == url
