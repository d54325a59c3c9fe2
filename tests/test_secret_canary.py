"""Secret canaries: every secret setting holds a unique marker, every command runs, and every
place the tool prints, writes or sends is scanned for any line of any marker.

The markers come from `SECRET_SETTINGS` (one per row: a secret added there is covered here
without a new line), plus the secrets that arrive another way: a `--db-config` file's password
and URL password, user-info and a token query parameter in the MLflow and webhook URLs.
Everything is real: the MLflow server, PostgreSQL (its trust authentication accepts any password,
so the canaries can sit where a real password would), the webhook receiver, the Action
entrypoint under a runner-like environment. In API mode the Hokusai API is the local stand-in of
tests/hokusai_standin.py (the hosted API cannot be reached from here), and the third party's
MLflow is a recording proxy in front of the real server.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mlflow import MlflowClient

from hokusai_ci.config.redaction import SECRET_SETTINGS
from tests.conftest import register_args, run_cli
from tests.fault_proxy import FaultProxy
from tests.hokusai_standin import HokusaiStandIn, Key, KeyService
from tests.servers import MlflowServer, PostgresServer, WebhookReceiver, free_port
from tests.test_action_entrypoint import run_entry

pytestmark = [pytest.mark.mlflow_server, pytest.mark.postgres]

# secrets that travel in an HTTP header must stay on one line, and a webhook secret with a line
# break is refused as a copy-paste mistake; every other one is multi-line
ONE_LINE = {"HOKUSAI_API_KEY", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "HOKUSAI_WEBHOOK_SECRET"}
SHAPE = {"HOKUSAI_API_KEY": "hk_test_{}", "HOKUSAI_WEBHOOK_SECRET": "{}-signing-key"}  # the shape a value must have


def _signing_key() -> str:
    """A real EC private key (a canary in itself: random, multi-line), since signing parses it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


GENERATED = {"HOKUSAI_SIGNING_KEY": _signing_key}  # secrets whose value must be real to be used


def marker(label: str) -> str:
    return f"cnry{label}{secrets.token_hex(6)}"


@dataclass
class Canaries:
    """One marker per secret, and everything the tool wrote that must not hold any."""

    env: dict[str, str]
    db_url_password: str = field(default_factory=lambda: marker("dburl"))
    db_file_password: str = field(default_factory=lambda: marker("dbfile"))
    mlflow_uri_password: str = field(default_factory=lambda: marker("mlfuri"))
    webhook_url_password: str = field(default_factory=lambda: marker("whuri"))
    webhook_query_token: str = field(default_factory=lambda: marker("whq"))
    scanned: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_table(cls) -> Canaries:
        env = {}
        for n, row in enumerate(SECRET_SETTINGS):
            if row.env in GENERATED:
                env[row.env] = GENERATED[row.env]()
                continue
            value = marker(f"env{n}")
            if row.env not in ONE_LINE:
                value = f"{value}\n{marker(f'env{n}l2')}\n{marker(f'env{n}l3')}\n"
            env[row.env] = SHAPE.get(row.env, "{}").format(value)
        return cls(env)

    def lines(self) -> list[str]:
        values = [
            *self.env.values(),
            self.db_url_password,
            self.db_file_password,
            self.mlflow_uri_password,
            self.webhook_url_password,
            self.webhook_query_token,
        ]
        return [line.strip() for v in values for line in v.splitlines() if line.strip()]

    def scan(self, where: str, text: str) -> None:
        self.scanned.append((where, text))
        leaked = [line for line in self.lines() if line in text]
        assert not leaked, f"{where} leaked {leaked}:\n{text[:3000]}"


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> Canaries:
    found = Canaries.from_table()
    for key, value in found.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the closed-port case fails at once
    return found


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver().start()
    yield started
    started.stop()


def credentialed(url: str, user: str, password: str) -> str:
    return url.replace("http://", f"http://{user}:{password}@", 1)


def db_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"db-{secrets.token_hex(3)}.yaml"
    path.write_text(text)
    return str(path)


def mlflow_contents(server: MlflowServer) -> str:
    """Every param, tag, metric key and description the server holds, as text."""
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    parts: list[Any] = []
    experiments = client.search_experiments()
    parts += [(e.name, e.tags) for e in experiments]
    for run in client.search_runs([e.experiment_id for e in experiments], max_results=1000):
        parts += [run.info.run_name, run.data.params, run.data.tags, list(run.data.metrics)]
    for model in client.search_registered_models():
        parts += [model.name, model.tags, model.description]
    for version in client.search_model_versions():
        parts += [version.source, version.tags, version.description, version.run_id]
    return repr(parts)


def postgres_contents(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return repr({t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables})


def sqlite_contents(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return "\n".join(conn.iterdump())


def test_no_command_and_no_output_carries_a_secret(
    canaries: Canaries,
    mlflow_server: MlflowServer,
    postgres: PostgresServer,
    receiver: WebhookReceiver,
    model_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = "canary_" + secrets.token_hex(4)
    postgres.create_database(database)
    cfg = db_config(
        tmp_path, f"url: postgresql://postgres:{canaries.db_url_password}@127.0.0.1:{postgres.port}/{database}\n"
    )
    mlflow_uri = credentialed(mlflow_server.url, "cuser", canaries.mlflow_uri_password)
    webhook_url = credentialed(receiver.url, "whuser", canaries.webhook_url_password)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.setenv("HOKUSAI_WEBHOOK_URL", f"{webhook_url}?token={canaries.webhook_query_token}")
    monkeypatch.setenv("HOKUSAI_WEBHOOK_ATTEMPTS", "1")
    report = tmp_path / "report.env"
    db = ["--db-config", cfg]

    def cli(label: str, *args: str, code: int, env: dict[str, str] | None = None) -> str:
        run = run_cli(*args, env=env)
        canaries.scan(f"{label} stdout", run.out)
        canaries.scan(f"{label} stderr", run.err)
        assert run.code == code, run.err
        return run.err

    for token in ("CAN-OK", "CAN-GATE", "CAN-DOWN", "CAN-HOOK"):
        cli(f"token create {token}", "token", "create", "--token-id", token, *db, code=0)
    ok = register_args("CAN-OK", model_file, "auroc", "0.8", "0.9")
    cli("register", *ok, *db, "--output", "json", "--dotenv-report", str(report), code=0)
    canaries.scan("dotenv report", report.read_text())
    gate = register_args("CAN-GATE", model_file, "auroc", "0.8", "0.7")
    cli("register below baseline", *gate, *db, "--dotenv-report", str(report), code=6)
    canaries.scan("dotenv report (failure)", report.read_text())

    # MLflow's own exception text carries the credentialed URL of a server that is not there
    closed = credentialed(f"http://127.0.0.1:{free_port()}", "cuser", canaries.mlflow_uri_password)
    down = register_args("CAN-DOWN", model_file, "auroc", "0.8", "0.9")
    err = cli("register, MLflow down", *down, *db, "--output", "json", code=8, env={"MLFLOW_TRACKING_URI": closed})
    assert "MLflow Error: could not reach MLflow at http://127.0.0.1:" in err  # named, without its credentials

    receiver.statuses = [500, 500]
    hook = register_args("CAN-HOOK", model_file, "auroc", "0.8", "0.9")
    cli("register, webhook failing", *hook, *db, "--output", "json", code=9)
    cli("events replay", "events", "replay", *db, "--output", "json", code=0)
    for fmt in ("text", "json"):
        cli(f"status {fmt}", "model", "status", "--token-id", "CAN-HOOK", *db, "--output", fmt, code=0)
        cli(f"list {fmt}", "model", "list", "--status", "all", *db, "--output", fmt, code=0)
    cli("status, unknown token", "model", "status", "--token-id", "NOPE", *db, code=3)

    delivered = [r for r in receiver.received if r.method == "POST"]
    assert len(delivered) >= 4  # two events delivered, two failed then replayed
    for r in delivered:
        canaries.scan("webhook body", r.body.decode())
    canaries.scan("MLflow tags and params", mlflow_contents(mlflow_server))
    canaries.scan("PostgreSQL token store", postgres_contents(postgres.dsn(database)))
    assert any("CAN-OK" in text for _, text in canaries.scanned)  # the scans saw real output


def test_the_action_masks_every_secret_and_writes_none(
    canaries: Canaries,
    mlflow_server: MlflowServer,
    postgres: PostgresServer,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    database = "canary_" + secrets.token_hex(4)
    postgres.create_database(database)
    workspace = tmp_path / "workspace"
    (workspace / "models").mkdir(parents=True)
    (workspace / "models" / "model.pkl").write_bytes(b"weights" * 100)
    cfg = db_config(
        workspace,
        f"host: 127.0.0.1\nport: {postgres.port}\ndatabase: {database}\nusername: postgres\n"
        f"password: {canaries.db_file_password}\n",
    )
    assert run_cli("token", "create", "--token-id", "ACT-OK", "--db-config", cfg).code == 0
    assert run_cli("token", "create", "--token-id", "ACT-DOWN", "--db-config", cfg).code == 0
    env_secrets = {k: v for k, v in canaries.env.items() if k != "HOKUSAI_DB_PASSWORD"}  # the file's password
    for token, uri, code in (
        ("ACT-OK", mlflow_server.url, 0),
        ("ACT-DOWN", f"http://127.0.0.1:{free_port()}", 8),
    ):
        files = tmp_path / token
        files.mkdir()
        env = {
            **env_secrets,
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(files / "output"),
            "GITHUB_STEP_SUMMARY": str(files / "summary"),
            "RUNNER_TEMP": str(files / "temp"),
            "INPUT_TOKEN-ID": token,
            "INPUT_MODEL-PATH": "models/model.pkl",
            "INPUT_METRIC": "auroc",
            "INPUT_BASELINE": "0.8",
            "INPUT_METRIC-VALUE": "0.9",
            "INPUT_DB-CONFIG": Path(cfg).name,
            "INPUT_MLFLOW-URI": credentialed(uri, "cuser", canaries.mlflow_uri_password),
            "INPUT_WEBHOOK-URL": credentialed(receiver.url, "whuser", canaries.webhook_url_password),
            "INPUT_API-KEY": canaries.env["HOKUSAI_API_KEY"],
            "INPUT_WEBHOOK-SECRET": canaries.env["HOKUSAI_WEBHOOK_SECRET"],
        }
        proc = run_entry({**env, "HOKUSAI_DB_PASSWORD": ""})
        assert proc.returncode == code, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        masks = {line.removeprefix("::add-mask::") for line in lines if line.startswith("::add-mask::")}
        must_mask = [line for line in canaries.lines() if line in "\n".join(env.values()) + cfg_text(cfg)]
        assert set(must_mask) <= masks, set(must_mask) - masks  # every line of every secret it was given
        canaries.scan(f"Action {token} stdout", "\n".join(li for li in lines if not li.startswith("::add-mask::")))
        canaries.scan(f"Action {token} stderr", proc.stderr)
        canaries.scan(f"Action {token} GITHUB_OUTPUT", (files / "output").read_text())
        canaries.scan(f"Action {token} job summary", (files / "summary").read_text())
    assert "::error title=MLflow Error::could not reach MLflow at http://127.0.0.1:" in proc.stdout
    for r in receiver.received:
        canaries.scan("webhook body", r.body.decode())
    canaries.scan("MLflow tags and params", mlflow_contents(mlflow_server))
    canaries.scan("PostgreSQL token store", postgres_contents(postgres.dsn(database)))


def cfg_text(path: str) -> str:
    return Path(path).read_text()


def test_api_key_never_reaches_a_third_party_mlflow(
    canaries: Canaries, mlflow_server: MlflowServer, model_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = canaries.env["HOKUSAI_API_KEY"]
    key_service = KeyService(keys={key: Key(("model:write", "registry:admin"), is_admin=True)}).start()
    platform = HokusaiStandIn(mlflow_server.url, key_service).start()
    proxy = FaultProxy(mlflow_server.url).start()
    try:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")  # MLflow's own credential would win; here there is none
        monkeypatch.setenv("HOKUSAI_API_URL", platform.url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        run = run_cli(*register_args("API-3P", model_file, "auroc", "0.8", "0.9"), "--output", "json")
        assert run.code == 0, run.err
        assert proxy.seen and all(key not in repr(headers) for _, _, headers in proxy.seen)
        assert "not a Hokusai host" in run.err
        status = run_cli("model", "status", "--token-id", "API-3P", "--output", "json")
        assert status.code == 0 and status.json()["status"] == "registered"
        for where, text in (("stdout", run.out), ("stderr", run.err), ("status", status.out + status.err)):
            canaries.scan(where, text)
        assert all(key not in repr(headers) for _, _, headers in proxy.seen)  # status's reads too
        assert platform.notifications()  # the key went to its home, the Hokusai API, which checked it:
        assert any(r.headers.get("Authorization") == f"Bearer {key}" for r in key_service.received)
        canaries.scan("API-mode outbox", sqlite_contents(tmp_path / "home" / "hokusai.db"))

        # the same host, now trusted by name: the proxy sees the key (so it would have seen it before)
        proxy.seen.clear()
        monkeypatch.setenv("HOKUSAI_TRUST_HOSTS", proxy.url.removeprefix("http://"))
        trusted = run_cli(*register_args("API-3P-TRUSTED", model_file, "auroc", "0.8", "0.9"))
        assert trusted.code == 0, trusted.err
        assert any(headers.get("Authorization") == f"Bearer {key}" for _, _, headers in proxy.seen)
    finally:
        proxy.stop()
        platform.stop()
        key_service.stop()
