from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import MlflowServer, PostgresServer, WebhookReceiver

REPO = Path(__file__).resolve().parents[1]
# The documentation a reader meets, in reading order: the README, then the reference pages.
DOC_PAGES = [
    REPO / "README.md",
    *(
        REPO / "docs" / f"{name}.md"
        for name in (
            "cli",
            "action",
            "container",
            "exit-codes",
            "modes",
            "reliability",
            "configuration",
            "verify",
            "storage",
            "events",
            "security",
            "benchmarks",
            "development",
        )
    ),
]


def docs_text() -> str:
    """The README and every docs page, as one text: where a test looks for what the docs say."""
    return "\n".join(page.read_text() for page in DOC_PAGES)


# Variables a developer's shell might carry that would point tests at the wrong place.
_SCRUB = [k for k in os.environ if k.startswith(("HOKUSAI_", "MLFLOW_", "GITHUB_", "GITLAB_", "CIRCLE"))] + [
    "JENKINS_URL",
    "CI",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in _SCRUB:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOKUSAI_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer.start(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # pytest's temp root is private to root; the postgres user needs a directory it can reach
    root = Path(tempfile.mkdtemp(prefix="hokusai-pg-"))
    server = PostgresServer.start(root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database per test; returns its URL (with the test password)."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    return postgres.create_database(name)


@pytest.fixture(scope="session")
def stack(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """One S3 bucket (rclone) and an MLflow server writing artifacts there, for the session."""
    from tests.s3_stack import MlflowOnS3, S3Server

    root = tmp_path_factory.mktemp("s3stack")
    s3 = S3Server.start(root / "s3")
    mlflow = MlflowOnS3.start(root / "mlflow", postgres.create_database("mlflow_on_s3"), s3)
    yield mlflow, s3
    mlflow.stop()
    s3.kill()


@pytest.fixture
def s3_env(stack: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The bucket's credentials and endpoint in the environment, for the CLI and the checks."""
    env: dict[str, str] = stack[1].env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def direct_mlflow(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands talk to the session's MLflow server directly."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)


@pytest.fixture
def proxy(mlflow_server: MlflowServer) -> Iterator[Any]:
    """The test fault proxy in front of the session's MLflow server."""
    from tests.fault_proxy import FaultProxy

    started = FaultProxy(mlflow_server.url).start()
    yield started
    started.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __iter__(self) -> Iterator[Any]:
        """`code, out, err = run_here(...)`."""
        return iter((self.code, self.out, self.err))


@contextlib.contextmanager
def process_state_kept(env: dict[str, str] | None = None, cwd: Path | None = None) -> Iterator[None]:
    """Run a face in this process as in a new one: `env` added to the environment, `cwd` entered,
    no secret remembered; what the run changes (environment, working folder, SIGINT and SIGTERM
    handlers, the tool's loggers, the secrets it remembered to redact) is put back after it."""
    from hokusai_ci.config import redaction

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    loggers = [logging.getLogger(name) for name in ("hokusai_ci", "mlflow")]
    saved_logs = [(list(log.handlers), log.level, log.propagate) for log in loggers]
    remembered = redaction.known_secrets(())
    redaction.forget()
    os.environ.update(env or {})
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for log, (handlers, level, propagate) in zip(loggers, saved_logs, strict=True):
            log.handlers[:] = handlers
            log.setLevel(level)
            log.propagate = propagate
        redaction.forget()
        redaction.remember(*remembered)


def run_here(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """The CLI in-process, as `hokusai ...` runs it: exit code, stdout, stderr, at a fraction of
    `run_cli`'s cost. For what a command says and exits with; what only a real process shows
    (signals, entry points, a closed pipe, an unprivileged user, start-up imports, settings read
    once per process such as the temporary folder) stays with `run_cli`. `env` is added to the
    environment for the run; what a run changes in the process (environment, working folder,
    SIGINT and SIGTERM handlers, the tool's loggers, the secrets it remembered to redact) is put back after
    it, and it starts remembering no secret, as a new process does."""
    from hokusai_ci.faces.cli import main

    out, err = io.StringIO(), io.StringIO()
    with process_state_kept(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return Run(code, out.getvalue(), err.getvalue())


# Root reads any file. A command that must meet an entry its user may not read runs, when the
# tests run as root, without the two capabilities that bypass file permissions: a mode-0 entry is
# then unreadable to it, while the checkout, its venv and pytest's private folders stay readable
# as long as root owns them, a 0700 temporary folder included. Any other user needs no change.
def _without_read_override() -> list[str]:
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
    unprivileged: bool = False,
) -> Run:
    """Run `python -m hokusai_ci` as a user would, in a child process (`unprivileged`: one that
    cannot read a file its mode forbids)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [*(_without_read_override() if unprivileged else []), sys.executable, "-m", "hokusai_ci", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"not really a pickle: hokusai-ci never unpickles\x00\x01\x02" * 100)
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "checkpoint"
    (root / "shards").mkdir(parents=True)
    (root / "config.json").write_text('{"layers": 2}')
    (root / "shards" / "00001.bin").write_bytes(os.urandom(4096))
    (root / "shards" / "00002.bin").write_bytes(os.urandom(2048))
    return root


class _Images:
    """The Docker engine and the hokusai-ci image, made once per session. When the collected tests
    need the image, it is built before the first test runs (`pytest_runtestloop`), outside every
    test's timeout: on a slow or loaded machine a build is slow, never a test failure."""

    engine: Any = None
    image: str | None = None

    @classmethod
    def get_engine(cls) -> Any:
        if cls.engine is None:
            from tests.docker_env import start_engine

            cls.engine = start_engine()
        return cls.engine

    @classmethod
    def get_image(cls) -> str:
        if cls.image is None:
            from tests.docker_env import build_image, ensure_base_image

            client = cls.get_engine().client
            cls.image = build_image(client, ensure_base_image(client))
        return cls.image


_NEEDS_IMAGE = pytest.StashKey[bool]()


# Tiers, from the fixtures a test uses (its whole closure): `docker` needs the engine, `servers`
# a real server process (MLflow, PostgreSQL, S3, FTP, the API stand-in), `fast` neither: in-process
# runs and threads on 127.0.0.1 only. A module that starts a server itself says `servers` once.
DOCKER_FIXTURES = frozenset({"docker_engine", "image"})
SERVER_FIXTURES = frozenset({"mlflow_server", "postgres", "pg_db", "own_postgres", "stack", "hokusai"})
TIERS = {"fast": "no server process, no Docker", "servers": "real server processes", "docker": "a Docker engine"}


def pytest_configure(config: pytest.Config) -> None:
    for tier, what in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {what} (applied from the fixtures a test uses)")


def tier_of(item: pytest.Item) -> str:
    used = set(getattr(item, "fixturenames", ()))
    if used & DOCKER_FIXTURES:
        return "docker"
    if used & SERVER_FIXTURES or any(item.get_closest_marker(m) for m in ("servers", "mlflow_server", "postgres")):
        return "servers"
    return "fast"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if not item.get_closest_marker(tier):
            item.add_marker(getattr(pytest.mark, tier))


def pytest_collection_finish(session: pytest.Session) -> None:
    """After `-m`/`-k` deselection: the image is built only when a test that runs needs it."""
    session.config.stash[_NEEDS_IMAGE] = any("image" in getattr(i, "fixturenames", ()) for i in session.items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    if session.config.stash.get(_NEEDS_IMAGE, False) and not session.config.option.collectonly:
        _Images.get_image()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _Images.engine is not None:
        _Images.engine.stop()
        _Images.engine = None


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    return _Images.get_engine()


@pytest.fixture(scope="session")
def image(docker_engine: Any) -> str:
    """The hokusai-ci image, built from the Dockerfile as shipped on a Debian base."""
    return _Images.get_image()


def register_args(
    token: str,
    model: str | Path,
    metric: str | None = "auroc",
    baseline: str | None = "0.8",
    value: str | None = "0.9",
    *,
    command: str = "register",
    joined: bool = False,
    **options: str | None,
) -> list[str]:
    """`model register` (or another `model` command: `command="gate"`) with the options every
    registration needs, then `options` in order (`mlflow_uri="..."` is `--mlflow-uri ...`; an
    option already named is replaced in place). An option given None is left out. `joined`
    spells each as `--name=value`, so a value starting with `-` stays a value."""
    named: dict[str, str | None] = {
        "token-id": token,
        "model-path": str(model),
        "metric": metric,
        "baseline": baseline,
        "metric-value": value,
    }
    named.update({key.replace("_", "-"): text for key, text in options.items()})
    args = ["model", command]
    for key, text in named.items():
        if text is not None:
            args += [f"--{key}={text}"] if joined else [f"--{key}", text]
    return args
