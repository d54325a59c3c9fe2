"""Real servers for the test suite: MLflow, PostgreSQL and a webhook receiver, all on 127.0.0.1.

Each is started in its own process group (or thread) and stopped by pid at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import requests

PG_BIN = Path(os.environ.get("HOKUSAI_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@dataclass
class MlflowServer:
    url: str
    proc: subprocess.Popen[bytes]
    root: Path

    @classmethod
    def start(cls, root: Path) -> MlflowServer:
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        log = (root / "server.log").open("wb")
        mlflow_cli = Path(sys.executable).with_name("mlflow")
        proc = subprocess.Popen(
            [
                str(mlflow_cli),
                "server",
                "--backend-store-uri",
                f"sqlite:///{root}/mlflow.db",
                "--artifacts-destination",
                str(root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/health", 120, proc)
        except Exception:
            stop_group(proc)
            raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
        return cls(url, proc, root)

    def stop(self) -> None:
        stop_group(self.proc)


@dataclass
class PostgresServer:
    port: int
    root: Path
    user: str = "postgres"

    @classmethod
    def start(cls, root: Path) -> PostgresServer:
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
        cls._as_postgres([str(PG_BIN / "initdb"), "-D", f"{root}/data", "-A", "trust", "-U", "postgres"])
        server = cls(port, root)
        server.resume()
        server.psql("ALTER USER postgres PASSWORD 'pg-secret-Zq7'")
        return server

    def resume(self) -> None:
        """Start the server on its port and data directory (first start, or after `stop`)."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        data, log = f"{self.root}/data", f"{self.root}/log"
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", data, "-o", options, "-l", log, "-w", "start"])

    @staticmethod
    def _as_postgres(cmd: list[str]) -> None:
        runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(runner + cmd, check=True, capture_output=True, cwd="/")

    def psql(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(sql)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:pg-secret-Zq7@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", f"{self.root}/data", "-m", "fast", "stop"])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records each request (any method); `answer` decides
    the reply."""

    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        raise NotImplementedError

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def read_body(self) -> bytes:
                """The whole body, chunked or not: an answer before the body is read would close the
                connection under a client (or proxy) still sending it."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = b""
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return body

            def do_POST(self) -> None:
                body = self.read_body()
                headers = dict(self.headers.items())
                receiver.received.append(Received(self.path, headers, body, self.command))
                status, payload, extra = receiver.answer(self.path, headers, body)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_PUT = do_HEAD = do_POST

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class WebhookReceiver(Receiver):
    """A webhook endpoint answering with the queued status codes, then 200. With `redirect`
    set to a status, `/hooks/models` answers it with `Location: /hooks/moved`, which answers 200."""

    statuses: list[int] = field(default_factory=list)
    redirect: int | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/models"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.redirect is not None and path == "/hooks/models":
            return self.redirect, {"moved": True}, {"Location": f"{self.base_url}/hooks/moved"}
        return (self.statuses.pop(0) if self.statuses else 200), {"ok": True}, {}
