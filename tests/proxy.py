"""A real HTTP proxy on 127.0.0.1 in front of a real server: records each request (method and
path), can add latency per request, and streams bodies both ways (flat memory for GiB uploads).

Used by the request-count test and by bench/ (a proxy adding 20 ms per request shows where
parallel uploads pay off)."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}
_CHUNK = 1024 * 1024


@dataclass
class CountingProxy:
    upstream: str
    delay: float = 0.0  # seconds added before each request is forwarded
    calls: list[tuple[str, str]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)  # the Authorization header of each call
    # (method, path fragment, status): the next matching request is answered with that status
    # instead of being forwarded, once per entry
    faults: list[tuple[str, str, int]] = field(default_factory=list)
    # the same, but the request is forwarded first: the server acts and its answer is lost
    lost: list[tuple[str, str, int]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.auth.clear()

    def start(self) -> Self:
        proxy = self
        target = urlsplit(self.upstream)
        host, port = target.hostname or "127.0.0.1", target.port or 80

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                path = urlsplit(self.path).path
                with proxy._lock:
                    proxy.calls.append((self.command, path))
                    proxy.auth.append(self.headers.get("Authorization"))
                    fault = next((f for f in proxy.faults if f[0] == self.command and f[1] in path), None)
                    if fault is not None:
                        proxy.faults.remove(fault)
                    lost = None
                    if fault is None:  # an answered fault was not forwarded: nothing to lose
                        lost = next((f for f in proxy.lost if f[0] == self.command and f[1] in path), None)
                    if lost is not None:
                        proxy.lost.remove(lost)
                length = int(self.headers.get("Content-Length", "0"))
                if fault is not None:
                    self.rfile.read(length)
                    self._empty(fault[2])
                    return
                if proxy.delay:
                    time.sleep(proxy.delay)
                upstream = http.client.HTTPConnection(host, port, timeout=600)
                try:
                    upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for key, value in self.headers.items():
                        if key.lower() not in _HOP:
                            upstream.putheader(key, value)
                    upstream.endheaders()
                    remaining = length
                    while remaining > 0:
                        block = self.rfile.read(min(_CHUNK, remaining))
                        if not block:
                            break
                        upstream.send(block)
                        remaining -= len(block)
                    answer = upstream.getresponse()
                    body = answer.read()
                finally:
                    upstream.close()
                if lost is not None:
                    self._empty(lost[2])
                    return
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
