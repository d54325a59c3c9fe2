"""The one HTTP proxy of the test suite: on 127.0.0.1 in front of a real server (MLflow, S3, a
webhook receiver), it forwards every request, records it, and puts real faults in its way.

What tests rely on:
- Recording: `seen` holds each request's method, path (with query) and headers, in arrival
  order (`calls` and `auth` are views of it), so a test can list the calls a command made or
  prove a credential never reached a third party's host. `reset()` forgets them.
- Streaming: bodies are forwarded in blocks both ways (flat memory for GiB uploads); a request
  body may have a length or be chunked; `Expect: 100-continue` is answered here.
- `delay`: seconds added before each request is forwarded (a far-away server, for bench/).
- Faults, by rule (`add`): a request matches a rule by method (None: any) and a fragment of
  its path; `times` bounds how many requests it hits (0: every one) and `hits` counts them.
  Several rules may be active; the first that matches acts. Before forwarding:
  - `stall`: once `after_bytes` of the body arrived, hold the request until `release()` is
    called or `seconds` pass, then forward it; held when the proxy stops, it is dropped
    (so a client that gives up first leaves nothing at the server);
  - `cut`: once `after_bytes` of the body arrived, close the connection without an answer;
    nothing of the request reaches the server;
  - `error`: read the whole body, answer `status` with `body` instead of forwarding;
  - `slow`: forward the body at `rate` bytes per second, always moving.
  With `after=True` the rule acts on the server's answer instead: the request was forwarded
  and acted upon, then `stall` holds the answer, `cut` drops it, `error` replaces it (a lost
  answer). `reached` is set when a rule acts, so a test can act while a run waits.
- The listening socket has a small receive window, so a throttled upload waits on this proxy
  rather than piling up megabytes in kernel buffers (which would look like a stall).
- `stop()` releases every held request and closes every connection it holds.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import urlsplit

Action = Literal["stall", "cut", "error", "slow"]
ERROR_BODY = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected by the fault proxy"}'
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "expect"}
_CHUNK = 1024 * 1024
_WINDOW = 32 * 1024


@dataclass
class Rule:
    method: str | None  # None: any method
    path: str  # a fragment of the request's path
    action: Action
    after: bool = False  # act on the upstream's answer instead of the request
    after_bytes: int = 0  # request body bytes received before a stall or cut
    times: int = 1  # how many matching requests it applies to (0: every one)
    seconds: float = 120.0  # the longest a stall lasts without release()
    status: int = 503
    body: bytes = ERROR_BODY  # what an `error` answers
    rate: int = 256 * 1024  # bytes per second of a `slow` body
    hits: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        wanted = self.method is None or method == self.method
        return wanted and self.path in path and (self.times == 0 or self.hits < self.times)

    def release(self) -> None:
        self.released.set()


class _Body:
    """The raw bytes of a request body as they arrive (a length, or chunked framing kept as is)."""

    def __init__(self, h: BaseHTTPRequestHandler) -> None:
        self.rfile = h.rfile
        self.chunked = "chunked" in (h.headers.get("Transfer-Encoding") or "").lower()
        self.left = 0 if self.chunked else int(h.headers.get("Content-Length") or 0)
        self.done = False
        self.framing = b""  # chunk-size lines and trailers not yet handed out

    def read(self, most: int) -> bytes:
        """Up to `most` bytes, as soon as some are there; b"" at the end."""
        if self.chunked and not self.left and not self.framing and not self.done:
            self._next_chunk()
        if self.framing:
            out, self.framing = self.framing[:most], self.framing[most:]
            return out
        if not self.left:
            return b""
        block = self.rfile.read1(min(most, self.left))
        if not block:
            raise ConnectionError("the client closed the connection mid-body")
        self.left -= len(block)
        return block

    def read_exactly(self, count: int) -> bytes:
        parts = []
        while count > 0 and (block := self.read(count)):
            parts.append(block)
            count -= len(block)
        return b"".join(parts)

    def _next_chunk(self) -> None:
        line = self.rfile.readline()
        size = int(line.split(b";")[0].strip() or b"0", 16)
        self.framing = line
        if size:
            self.left = size + 2  # the data and its CRLF
            return
        while (trailer := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            self.framing += trailer
        self.framing += b"\r\n"
        self.done = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _WINDOW)
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away mid-fault is what the faults are for


class FaultProxy:
    def __init__(self, upstream: str, delay: float = 0.0) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.delay = delay
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._open: set[socket.socket] = set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._open.discard(self.connection)
                super().finish()

            def log_message(self, *args: object) -> None:
                return None

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # a short poll: stop() returns at once, not after half a second
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path without query) of each request."""
        return [(method, path.split("?")[0]) for method, path, _ in self.seen]

    @property
    def auth(self) -> list[str | None]:
        """The Authorization header of each request."""
        return [headers.get("Authorization") for _, _, headers in self.seen]

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        for rule in self.rules:
            rule.release()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            held = list(self._open)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def add(self, method: str | None, path: str, action: Action, **options: Any) -> Rule:
        rule = Rule(method, path, action, **options)
        with self._lock:
            self.rules.append(rule)
        return rule

    # -- internals -------------------------------------------------------------------
    def _rule_for(self, method: str, path: str, after: bool) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.after == after and rule.matches(method, path):
                    rule.hits += 1
                    rule.reached.set()
                    return rule
        return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        method, path = h.command, h.path
        with self._lock:
            self.seen.append((method, path, dict(h.headers.items())))
        bare = path.split("?")[0]
        body = _Body(h)
        rule = self._rule_for(method, bare, after=False)
        prefix = b""
        if rule is not None and rule.action == "error":
            while body.read(_CHUNK):
                pass
            return self._error(h, rule)
        if rule is not None and rule.action in ("stall", "cut"):
            prefix = body.read_exactly(rule.after_bytes)
            if rule.action == "cut" or not self._hold(rule):
                return self._drop(h)
        if self.delay:
            time.sleep(self.delay)
        slow = rule if rule is not None and rule.action == "slow" else None
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=600)
        try:
            self._forward_request(h, body, prefix, upstream, slow)
            answer = upstream.getresponse()
            after = self._rule_for(method, bare, after=True)
            if after is not None and after.action == "error":
                answer.read()
                return self._error(h, after)
            if after is not None and (after.action == "cut" or not self._hold(after)):
                return self._drop(h)
            self._forward_answer(h, answer)
        finally:
            upstream.close()

    def _forward_request(
        self,
        h: BaseHTTPRequestHandler,
        body: _Body,
        prefix: bytes,
        upstream: http.client.HTTPConnection,
        slow: Rule | None,
    ) -> None:
        upstream.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
        for key, value in h.headers.items():
            if key.lower() not in _HOP:
                upstream.putheader(key, value)
        if body.chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        block = prefix
        while block or (block := body.read(16 * 1024 if slow else _CHUNK)):
            if slow is not None:
                self._send_slowly(upstream, block, slow.rate)
            else:
                upstream.send(block)
            block = b""

    @staticmethod
    def _send_slowly(upstream: http.client.HTTPConnection, data: bytes, rate: int) -> None:
        step = max(1, rate // 20)
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            upstream.send(piece)
            time.sleep(len(piece) / rate)

    @staticmethod
    def _forward_answer(h: BaseHTTPRequestHandler, answer: http.client.HTTPResponse) -> None:
        h.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP and key.lower() != "content-length":
                h.send_header(key, value)
        length = answer.getheader("Content-Length")
        if h.command == "HEAD" or answer.status in (204, 304):
            if length is not None:
                h.send_header("Content-Length", length)
            h.end_headers()
            return
        if length is None:
            data = answer.read()
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        h.send_header("Content-Length", length)
        h.end_headers()
        while block := answer.read(_CHUNK):
            h.wfile.write(block)

    def _hold(self, rule: Rule) -> bool:
        """Apply a stall; False when the proxy stopped meanwhile (the request is then dropped)."""
        if rule.action == "stall":
            rule.released.wait(rule.seconds)
        return not self._closing.is_set()

    @staticmethod
    def _error(h: BaseHTTPRequestHandler, rule: Rule) -> None:
        h.send_response(rule.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(rule.body)))
        h.end_headers()
        h.wfile.write(rule.body)

    @staticmethod
    def _drop(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)
