"""An HTTP proxy on 127.0.0.1 that puts real faults between the tool and a real server, at
the level of whole requests: several rules at once, and stalls that hold a request or the
upstream's answer until the test releases them (so a test can act while a run waits, e.g.
signal it after its model version exists). Byte-level faults mid-transfer (a slow link, a cut
after N bytes) are `tests/faults.py`'s.

Each request is forwarded to the upstream unless a rule matches it (method and path prefix):
- `stall`: hold the request (before forwarding) or the upstream's answer (after forwarding)
  until `release()` is called or `seconds` pass;
- `cut`: close the connection without an answer (before or after forwarding);
- `error`: answer with a status of our own instead of forwarding.
Every request is counted, so tests can list the calls a command made.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, Self
from urllib.parse import urlsplit

Action = Literal["stall", "cut", "error"]


@dataclass
class Rule:
    method: str
    path: str  # prefix
    action: Action
    after: bool = False  # act on the upstream's answer instead of the request
    times: int = 1  # how many matching requests it applies to (0: every one)
    seconds: float = 120.0  # the longest a stall lasts without release()
    status: int = 503
    hits: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and path.startswith(self.path) and (self.times == 0 or self.hits < self.times)

    def release(self) -> None:
        self.released.set()


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.rules: list[Rule] = []
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        for rule in self.rules:
            rule.release()
        self._server.shutdown()
        self._server.server_close()

    def add(self, method: str, path: str, action: Action, **options: object) -> Rule:
        rule = Rule(method, path, action, **options)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def _rule_for(self, method: str, path: str, after: bool) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.after == after and rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        method, path = h.command, h.path
        with self._lock:
            self.calls.append((method, path.split("?")[0]))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        before = self._rule_for(method, path, after=False)
        if before is not None and self._act(before, h):
            return
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        after = self._rule_for(method, path, after=True)
        if after is not None and self._act(after, h):
            conn.close()
            return
        h.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        conn.close()

    def _act(self, rule: Rule, h: BaseHTTPRequestHandler) -> bool:
        """Apply `rule`; True when the request was answered (or dropped) here."""
        rule.reached.set()
        if rule.action == "stall":
            rule.released.wait(rule.seconds)
            return False
        if rule.action == "cut":
            h.close_connection = True
            h.connection.close()
            return True
        payload = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected by the fault proxy"}'
        h.send_response(rule.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
        return True
