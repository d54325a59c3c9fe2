"""The fault proxy itself, in front of a real HTTP receiver: each fault does what fault tests
rely on, and only to the requests it targets; every request is recorded with its headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.fault_proxy import FaultProxy
from tests.servers import WebhookReceiver


@pytest.fixture
def upstream() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def proxy(upstream: WebhookReceiver) -> Iterator[FaultProxy]:
    started = FaultProxy(upstream.base_url).start()
    yield started
    started.stop()


def test_other_paths_pass_through_and_times_bounds_the_fault(upstream: WebhookReceiver, proxy: FaultProxy) -> None:
    rule = proxy.add("POST", "/hooks", "error", status=502, times=1)
    assert requests.post(f"{proxy.url}/other", json={"a": 1}, timeout=5).status_code == 200
    assert requests.post(f"{proxy.url}/hooks/x", json={"a": 1}, timeout=5).status_code == 502
    assert requests.post(f"{proxy.url}/hooks/x", json={"a": 2}, timeout=5).status_code == 200
    assert rule.hits == 1
    assert [r.path for r in upstream.received] == ["/other", "/hooks/x"]  # the failed request never arrived
    assert proxy.calls == [("POST", "/other"), ("POST", "/hooks/x"), ("POST", "/hooks/x")]


def test_every_request_is_recorded_with_its_headers(proxy: FaultProxy) -> None:
    requests.get(f"{proxy.url}/a?x=1", headers={"Authorization": "Bearer k"}, timeout=5)
    requests.get(f"{proxy.url}/b", timeout=5)
    assert [(m, p) for m, p, _ in proxy.seen] == [("GET", "/a?x=1"), ("GET", "/b")]
    assert proxy.calls == [("GET", "/a"), ("GET", "/b")]
    assert proxy.auth == ["Bearer k", None]
    proxy.reset()
    assert proxy.seen == [] and proxy.calls == []


def test_cut_closes_the_connection_mid_request(upstream: WebhookReceiver, proxy: FaultProxy) -> None:
    rule = proxy.add("POST", "/hooks", "cut", after_bytes=10, times=0)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{proxy.url}/hooks/x", data=b"x" * 100_000, timeout=5)
    assert rule.hits == 1
    assert upstream.received == []


def test_stall_answers_nothing_until_the_client_gives_up(upstream: WebhookReceiver, proxy: FaultProxy) -> None:
    proxy.add(None, "/hooks", "stall")
    began = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{proxy.url}/hooks/x", json={"a": 1}, timeout=1)
    proxy.stop()
    assert 1 <= time.monotonic() - began < 5
    assert upstream.received == []


def test_a_released_stall_forwards_the_request(upstream: WebhookReceiver, proxy: FaultProxy) -> None:
    rule = proxy.add("POST", "/hooks", "stall")
    answers: list[int] = []
    sender = threading.Thread(
        target=lambda: answers.append(requests.post(f"{proxy.url}/hooks/x", json={"a": 1}, timeout=30).status_code)
    )
    sender.start()
    assert rule.reached.wait(10)
    time.sleep(0.3)
    assert upstream.received == [] and answers == []  # held
    rule.release()
    sender.join(30)
    assert answers == [200] and [r.json() for r in upstream.received] == [{"a": 1}]


def test_a_lost_answer_reaches_the_server_but_not_the_client(upstream: WebhookReceiver, proxy: FaultProxy) -> None:
    proxy.add("POST", "/hooks", "error", after=True, status=502, body=b"")
    answer = requests.post(f"{proxy.url}/hooks/x", json={"a": 1}, timeout=5)
    assert answer.status_code == 502 and answer.content == b""
    assert [r.path for r in upstream.received] == ["/hooks/x"]  # the server acted


def test_slow_delivers_everything_at_the_rate(upstream: WebhookReceiver, proxy: FaultProxy) -> None:
    rule = proxy.add("POST", "/hooks", "slow", rate=200_000)
    began = time.monotonic()
    assert requests.post(f"{proxy.url}/hooks/x", data=b"y" * 300_000, timeout=10).status_code == 200
    assert time.monotonic() - began >= 1.2  # 300 kB at 200 kB/s, minus what the kernel buffered first
    assert upstream.received[0].body == b"y" * 300_000 and rule.hits == 1


def test_delay_and_chunked_bodies_are_forwarded(upstream: WebhookReceiver) -> None:
    slow = FaultProxy(upstream.base_url, delay=0.5).start()
    try:
        began = time.monotonic()
        parts = iter([b"ab", b"cd" * 1000])
        assert requests.post(f"{slow.url}/hooks/x", data=parts, timeout=10).status_code == 200
        assert time.monotonic() - began >= 0.5
    finally:
        slow.stop()
    assert upstream.received[0].headers.get("Transfer-Encoding") == "chunked"
