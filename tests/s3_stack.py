"""The deployment many teams run, on 127.0.0.1: an S3-compatible server (`rclone serve s3` on a
local folder, multipart included) and an MLflow server whose backend store is PostgreSQL and
whose artifact root is a bucket on it, not proxied (`--no-serve-artifacts`): clients write
artifacts straight to the bucket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import free_port, stop_group, wait_http

ACCESS_KEY, SECRET_KEY = "AKIAHOKUSAITESTKEY01", "hokusai-s3-secret-Vb81"
BUCKET = "models"


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class S3Server:
    port: int
    data: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, data: Path, port: int | None = None) -> S3Server:
        (data / BUCKET).mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        rclone = Path(sys.executable).with_name("rclone")
        proc = subprocess.Popen(
            [str(rclone), "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
             str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        server = cls(port, data, proc)
        try:
            wait_port(port, 60, proc)
        except Exception:
            stop_group(proc)
            raise
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What an MLflow client (and hokusai-ci) needs to write to this bucket."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    def kill(self) -> None:
        stop_group(self.proc)

    def restart(self) -> S3Server:
        """A new server process on the same port and data, as after a crash (this object then
        stands for it, so whoever stops this object stops the new process)."""
        self.proc = S3Server.start(self.data, self.port).proc
        return self


@dataclass
class MlflowOnS3:
    url: str
    proc: subprocess.Popen[bytes]
    root: Path

    @classmethod
    def start(cls, root: Path, pg_url: str, s3: S3Server) -> MlflowOnS3:
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **s3.env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
               "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
        backend = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", backend,
             "--default-artifact-root", f"s3://{BUCKET}/mlflow", "--no-serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=(root / "server.log").open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/health", 180, proc)
        except Exception:
            stop_group(proc)
            raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
        return cls(url, proc, root)

    def stop(self) -> None:
        stop_group(self.proc)
