"""A misbehaving network in front of a real server, for fault tests.

`FaultProxy` is a TCP proxy on 127.0.0.1 that forwards everything to a real upstream server
(MLflow, a webhook receiver, PostgreSQL's HTTP neighbours...) and misbehaves on the requests
whose request line matches `path` (a prefix, optionally with `method`):

- `stall`: after forwarding `after_bytes` of the request, forward nothing more either way
  and answer nothing; the connection stays open until the client gives up;
- `cut`: after forwarding `after_bytes` of the request, close both sides;
- `error`: after forwarding `after_bytes` of the request, answer `status` itself and close;
- `slow`: forward the request at `rate` bytes per second, so a healthy transfer takes long
  but always makes progress.

`times` bounds how many requests are hit (None: every one); `hits` counts them. Start it
with `start()`, read `url`, stop with `stop()` (closes every connection it holds).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Literal, Self

Fault = Literal["stall", "cut", "error", "slow"]
REQUEST_LINE = re.compile(rb"(GET|POST|PUT|PATCH|DELETE|HEAD) (/\S*) HTTP/1\.[01]\r\n")
CHUNK = 16 * 1024


@dataclass
class FaultProxy:
    upstream_port: int
    fault: Fault
    path: str = "/"
    method: str | None = None
    after_bytes: int = 0
    times: int | None = 1
    status: int = 503
    rate: int = 256 * 1024
    hits: int = 0
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() the proxy first"
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # a small receive window, so a throttled upload waits on this proxy rather than
        # piling up megabytes in kernel buffers (which would look like a stall to the client)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing.set()
        with self._lock:
            held = [*self._sockets, *([self._listener] if self._listener else [])]
            self._sockets.clear()
        for sock in held:
            _close(sock)

    # -- internals -------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            stalled = threading.Event()  # set: nothing goes back to the client any more
            threading.Thread(target=self._client_to_upstream, args=(client, upstream, stalled), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, stalled), daemon=True).start()

    def _matches(self, data: bytes) -> bool:
        found = REQUEST_LINE.search(data)
        if not found:
            return False
        method, path = found.group(1).decode(), found.group(2).decode()
        if not path.startswith(self.path) or (self.method and method != self.method):
            return False
        with self._lock:
            if self.times is not None and self.hits >= self.times:
                return False
            self.hits += 1
        return True

    def _client_to_upstream(self, client: socket.socket, upstream: socket.socket, stalled: threading.Event) -> None:
        faulty = False
        sent = 0
        try:
            while data := client.recv(CHUNK):
                if not faulty and self._matches(data):
                    faulty, sent = True, 0
                    start = REQUEST_LINE.search(data).start()  # type: ignore[union-attr]
                    upstream.sendall(data[:start])  # the end of an earlier request goes through
                    data = data[start:]
                if not faulty:
                    upstream.sendall(data)
                    continue
                if self.fault == "slow":
                    self._send_slowly(upstream, data)
                    continue
                room = max(0, self.after_bytes - sent)
                upstream.sendall(data[:room])
                sent += min(room, len(data))
                if sent < self.after_bytes:
                    continue
                if self.fault == "error":
                    stalled.set()  # whatever upstream says next is not for the client
                    reason = f"HTTP/1.1 {self.status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    client.sendall(reason.encode())
                elif self.fault == "stall":
                    stalled.set()
                    self._hold(client)  # swallow what the client sends, answer nothing
                break
        except OSError:
            pass
        _close(client)
        _close(upstream)

    def _send_slowly(self, upstream: socket.socket, data: bytes) -> None:
        step = max(1, self.rate // 20)
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            upstream.sendall(piece)
            time.sleep(len(piece) / self.rate)

    def _hold(self, client: socket.socket) -> None:
        client.settimeout(0.2)
        while not self._closing.is_set():
            try:
                if not client.recv(CHUNK):
                    return
            except TimeoutError:
                continue

    def _pump(self, source: socket.socket, sink: socket.socket, stalled: threading.Event) -> None:
        try:
            while data := source.recv(CHUNK):
                if not stalled.is_set():
                    sink.sendall(data)
        except OSError:
            pass
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
