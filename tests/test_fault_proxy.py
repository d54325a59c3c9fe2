"""The fault proxy itself, in front of a real HTTP receiver: each fault does what fault tests
rely on, and only to the requests it targets."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.faults import FaultProxy
from tests.servers import WebhookReceiver


@pytest.fixture
def upstream() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def proxy_for(upstream: WebhookReceiver, **kwargs: object) -> FaultProxy:
    assert upstream.server is not None
    return FaultProxy(upstream.server.server_address[1], **kwargs).start()  # type: ignore[arg-type]


def test_other_paths_pass_through_and_times_bounds_the_fault(upstream: WebhookReceiver) -> None:
    proxy = proxy_for(upstream, fault="error", path="/hooks", status=502, times=1)
    try:
        assert requests.post(f"{proxy.url}/other", json={"a": 1}, timeout=5).status_code == 200
        assert requests.post(f"{proxy.url}/hooks/x", json={"a": 1}, timeout=5).status_code == 502
        assert requests.post(f"{proxy.url}/hooks/x", json={"a": 2}, timeout=5).status_code == 200
    finally:
        proxy.stop()
    assert proxy.hits == 1
    assert [r.path for r in upstream.received] == ["/other", "/hooks/x"]  # the failed request never arrived


def test_cut_closes_the_connection_mid_request(upstream: WebhookReceiver) -> None:
    proxy = proxy_for(upstream, fault="cut", path="/hooks", after_bytes=10, times=None)
    try:
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{proxy.url}/hooks/x", data=b"x" * 100_000, timeout=5)
    finally:
        proxy.stop()
    assert upstream.received == []


def test_stall_answers_nothing_until_the_client_gives_up(upstream: WebhookReceiver) -> None:
    proxy = proxy_for(upstream, fault="stall", path="/hooks", after_bytes=0)
    began = time.monotonic()
    try:
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{proxy.url}/hooks/x", json={"a": 1}, timeout=1)
    finally:
        proxy.stop()
    assert 1 <= time.monotonic() - began < 5
    assert upstream.received == []


def test_slow_delivers_everything_at_the_rate(upstream: WebhookReceiver) -> None:
    proxy = proxy_for(upstream, fault="slow", path="/hooks", rate=200_000)
    began = time.monotonic()
    try:
        assert requests.post(f"{proxy.url}/hooks/x", data=b"y" * 300_000, timeout=10).status_code == 200
    finally:
        proxy.stop()
    assert time.monotonic() - began >= 1.2  # 300 kB at 200 kB/s, minus what the kernel buffered first
    assert upstream.received[0].body == b"y" * 300_000
