"""SIGINT and SIGTERM against the real entry point, in a child process: the exit code a CI system
reads (130, 143, or the result's own once it is printed) and the one error line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, register_args

# The CLI, its stdout slowed at a registration's last line so a signal lands exactly there: after
# "Registered …" was written, before the process ended (a window otherwise microseconds wide).
_SLOW_LAST_LINE = """
import sys, time
class SlowAtTheLastLine:
    def __init__(self, out):
        self.out = out
    def write(self, text):
        written = self.out.write(text)
        if "Registered" in text:
            self.out.flush()
            print("last line written", file=sys.stderr, flush=True)
            time.sleep(2)
        return written
    def __getattr__(self, name):
        return getattr(self.out, name)
sys.stdout = SlowAtTheLastLine(sys.stdout)
from hokusai_ci.faces.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_signal_after_the_last_line_of_a_registration_does_not_kill_the_process(
    sig: signal.Signals, model_file: Path, tmp_path: Path
) -> None:
    """The result is printed whole and the process exits with its code (0), never killed by the
    signal (return code -2) nor with a traceback."""
    args = register_args("SIGLAST", model_file)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_LAST_LINE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**_env(tmp_path), "HOKUSAI_MOCK_MODE": "true"},
    )
    out, err = _signal_at_the_last_line(proc, sig)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "error:" not in err
    assert "Registered hokusai-SIGLAST version 1" in out


_SLOW_ACTION = _SLOW_LAST_LINE.replace(
    "from hokusai_ci.faces.cli import main\nmain(sys.argv[1:])",
    "sys.path.insert(0, '.')\nfrom entrypoint import main\nsys.exit(main([]))",
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_a_signal_after_the_action_s_result_is_decided_does_not_kill_it(sig: signal.Signals, tmp_path: Path) -> None:
    """The Action face holds the same end-of-run guard as the CLI: a signal while the result is
    reported lets it be reported whole (log, outputs, summary), and the exit code is the
    result's (0), never the signal's nor a traceback."""
    from tests.test_action_entrypoint import parse_outputs, runner

    env = runner.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    assert "from entrypoint import main" in _SLOW_ACTION
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_ACTION],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}, **env},
    )
    out, err = _signal_at_the_last_line(proc, sig)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err and "::error" not in out
    assert parse_outputs(Path(env["GITHUB_OUTPUT"]))["status"] == "registered"  # reported after the signal
    assert "Registered" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def test_an_interrupted_command_says_so_once(tmp_path: Path) -> None:
    """SIGINT while the command waits on a server that accepted the connection and never answers:
    the category's title, what stopped it, what is left and what to run, not `Interrupted:
    interrupted (SIGINT)`."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        args = ["model", "rollback", "--model-name", "m", "--mlflow-uri", url]  # reads MLflow's alias
        proc = subprocess.Popen(
            [sys.executable, "-m", "hokusai_ci", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=_env(tmp_path),
        )
        server.settimeout(60)
        connection, _ = server.accept()
        with connection:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: Interrupted: SIGINT before alias 'champion' of m was moved: nothing was moved")
    assert last.lower().count("interrupt") == 1 and "`hokusai model rollback --model-name m --alias champion`" in last


@pytest.mark.parametrize(
    ("sig", "code", "category", "said"),
    [
        (signal.SIGINT, 130, "interrupted", "error: Interrupted: by SIGINT (Ctrl-C)"),
        (signal.SIGTERM, 143, "terminated", "error: Terminated: by SIGTERM"),
    ],
    ids=["int", "term"],
)
@pytest.mark.parametrize("module", ["fire", "pydantic"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_signal_while_the_program_loads_ends_as_a_stopped_run(
    sig: signal.Signals, code: int, category: str, said: str, module: str, fmt: str, model_file: Path, tmp_path: Path
) -> None:
    """A Ctrl-C or a cancelled CI job's SIGTERM in the first tenths of a second, while the CLI is
    still importing (here: exactly when `-X importtime` reports `module` loaded), ends with the
    command's stopped failure in the format asked for and its exit code, never a traceback from
    inside an import nor a silent death."""
    args = [*register_args("SIGLOAD", model_file), "--output", fmt]
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "hokusai_ci", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**_env(tmp_path), "HOKUSAI_MOCK_MODE": "true"},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module:
            break
    else:
        raise AssertionError(f"{module} was never imported")
    proc.send_signal(sig)
    out, rest = proc.communicate(timeout=60)
    err = "".join(line for line in rest.splitlines(keepends=True) if not line.startswith("import time:"))
    assert proc.returncode == code, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    if fmt == "json":
        assert json.loads(out)["error"]["category"] == category
    else:
        assert err.strip().splitlines()[-1] == said


def _signal_at_the_last_line(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[str, str]:
    """Wait until the slowed last line is written, send `sig`, and return what was printed."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("last line written"):
            break
    else:
        raise AssertionError(f"the registration was never reported: {seen}")
    proc.send_signal(sig)
    return proc.communicate(timeout=30)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOKUSAI_HOME": str(tmp_path / "home")}
