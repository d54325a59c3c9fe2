"""Artifact stores that are neither proxied by the MLflow server nor S3 go through MLflow's own
artifact repository, the model and the signature bundles alike. The store here is a real FTP
server on 127.0.0.1 (pyftpdlib), the artifact root of a real MLflow server that does not serve
artifacts (`--no-serve-artifacts`); its password sits in the artifact URI, as MLflow's FTP
repository expects, and must never be printed. One stack for the module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO, register_args, run_cli
from tests.fault_proxy import FaultProxy
from tests.servers import free_port, stop_group, wait_http
from tests.test_signing import keypair

FTP_USER, FTP_PASSWORD = "hokusai", "ftp-secret-canary-Lm27"
# pyftpdlib still builds on asyncore/asynchat, which warn on import under Python 3.11
pytestmark = pytest.mark.filterwarnings("ignore:The asyn(core|chat) module is deprecated:DeprecationWarning")


@dataclass
class FtpServer:
    folder: Path
    port: int
    server: object
    thread: threading.Thread

    @classmethod
    def start(cls, folder: Path, port: int = 0) -> FtpServer:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        folder.mkdir(parents=True, exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(folder), perm="elradfmwMT")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
        server = ThreadedFTPServer(("127.0.0.1", port), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
        thread.start()
        return cls(folder, server.address[1], server, thread)

    def stop(self) -> None:
        self.server.close_all()  # type: ignore[attr-defined]
        self.thread.join(10)

    def restart(self) -> None:
        """A new server on the same port and folder (this object then stands for it)."""
        again = FtpServer.start(self.folder, self.port)
        self.server, self.thread = again.server, again.thread

    def uri(self, path: str) -> str:
        return f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{self.port}/{path}"


@dataclass
class MlflowOnFtp:
    url: str
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, root: Path, ftp: FtpServer) -> MlflowOnFtp:
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
             f"sqlite:///{root}/mlflow.db", "--default-artifact-root", ftp.uri("mlflow"), "--no-serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=(root / "server.log").open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/health", 180, proc)
        except Exception:
            stop_group(proc)
            raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
        return cls(url, proc)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowOnFtp, FtpServer]]:
    root = tmp_path_factory.mktemp("ftpstack")
    ftp = FtpServer.start(root / "ftp")
    try:
        mlflow = MlflowOnFtp.start(root / "mlflow", ftp)
    except Exception:
        ftp.stop()
        raise
    yield mlflow, ftp
    stop_group(mlflow.proc)
    ftp.stop()


def run_files(ftp: FtpServer, run_id: str) -> list[str]:
    """The run's artifacts as the FTP server stores them, relative to `artifacts/`."""
    (root,) = (ftp.folder / "mlflow").glob(f"*/{run_id}/artifacts")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_ftp_root_gets_the_model_and_its_bundles_through_mlflows_repository_and_verifies(
    stack: tuple[MlflowOnFtp, FtpServer], model_dir: Path, tmp_path: Path
) -> None:
    mlflow_server, ftp = stack
    private, public = keypair(tmp_path)
    run_cli("token", "create", "--token-id", "FTPSIG")
    args = register_args("FTPSIG", model_dir, "accuracy", "0.80", "0.85")
    r = run_cli(*args, "--mlflow-uri", mlflow_server.url, "--sign-key", str(private), "--output", "json")
    assert r.code == 0, r.err
    run_id = r.json()["mlflow_run_id"]
    assert run_files(ftp, run_id) == [
        "hokusai/model.sigstore.json",
        "hokusai/registration.sigstore.json",
        "model/config.json",
        "model/shards/00001.bin",
        "model/shards/00002.bin",
    ]
    recorded = f"ftp://127.0.0.1:{ftp.port}/mlflow/1/{run_id}/artifacts/hokusai/registration.sigstore.json"
    assert r.json()["attestation"]["uri"] == recorded  # the store's credentials are never recorded
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    assert client.get_model_version("hokusai-FTPSIG", "1").tags["hokusai.attestation_uri"] == recorded

    v = run_cli("model", "verify", "--token-id", "FTPSIG", "--public-key", str(public), "--mlflow-uri",
                mlflow_server.url)  # fmt: skip
    assert v.code == 0, v.out + v.err
    assert "Verified: models:/hokusai-FTPSIG/1" in v.out
    assert FTP_PASSWORD not in r.out + r.err + v.out + v.err


def test_ftp_store_gone_before_the_bundles_is_exit_12_and_resumable(
    stack: tuple[MlflowOnFtp, FtpServer], model_file: Path, tmp_path: Path
) -> None:
    """The FTP server stops once the version exists (MLflow's answer to its creation is held
    meanwhile): storing the bundles fails with exit 12 in one line naming the store, nothing is
    registered, and a re-run once the store is back signs the same version."""
    mlflow_server, ftp = stack
    private, public = keypair(tmp_path)
    run_cli("token", "create", "--token-id", "FTPGONE")
    args = [*register_args("FTPGONE", model_file, "accuracy", "0.80", "0.85"), "--sign-key", str(private),
            "--output", "json"]  # fmt: skip
    proxy = FaultProxy(mlflow_server.url).start()
    held = proxy.add("POST", "/api/2.0/mlflow/model-versions/create", "stall", after=True)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "hokusai_ci", *args, "--mlflow-uri", proxy.url], cwd=REPO,
                                env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        assert held.reached.wait(120), "the run never created its version"
        ftp.stop()
        held.release()
        out, err = proc.communicate(timeout=300)
    finally:
        proxy.stop()
    assert proc.returncode == 12, out + err
    error = json.loads(out)["error"]
    assert error["category"] == "signing_failed"
    assert error["message"].startswith(
        f"could not store the signatures in the artifact store ftp://{FTP_USER}:***@127.0.0.1:{ftp.port}/"
    ), error["message"]
    assert "/artifacts/hokusai: ConnectionRefusedError" in error["message"]
    assert FTP_PASSWORD not in out + err and "Traceback" not in err
    client = MlflowClient(tracking_uri=mlflow_server.url)
    kept = client.get_model_version("hokusai-FTPGONE", "1")
    assert kept.tags["hokusai.status"] == "not_registered" and "hokusai.attestation_sha256" not in kept.tags
    assert run_files(ftp, kept.run_id) == ["model/model.pkl"]

    ftp.restart()  # where the run's artifact URI says the store is
    again = run_cli(*args, "--mlflow-uri", mlflow_server.url)
    assert again.code == 0, again.err
    assert again.json()["reused_existing_version"] is True and again.json()["model_version"] == "1"
    assert run_files(ftp, kept.run_id) == [
        "hokusai/model.sigstore.json",
        "hokusai/registration.sigstore.json",
        "model/model.pkl",
    ]
    v = run_cli("model", "verify", "--token-id", "FTPGONE", "--public-key", str(public), "--mlflow-uri",
                mlflow_server.url)  # fmt: skip
    assert v.code == 0, v.out + v.err
