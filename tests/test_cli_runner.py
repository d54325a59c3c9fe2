"""The in-process CLI runner the fast tier relies on: it answers as the real `python -m
hokusai_ci` does, and leaves the test process as it found it, so one test's run cannot change
what the next one sees."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hokusai_ci.config import redaction
from tests.conftest import register_args, run_cli, run_here


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["model", "registr"],
        ["model", "status", "--token-id", "NOPE", "--output", "json"],
    ],
    ids=["version", "typo", "unknown token"],
)
def test_in_process_runs_answer_as_the_real_entry_point(args: list[str]) -> None:
    here, real = run_here(*args), run_cli(*args)
    assert (here.code, here.out, here.err) == (real.code, real.out, real.err)


def test_a_run_leaves_the_process_as_it_found_it(model_file: Path, tmp_path: Path) -> None:
    env, cwd, sigterm, sigint = (
        dict(os.environ),
        os.getcwd(),
        signal.getsignal(signal.SIGTERM),
        signal.getsignal(signal.SIGINT),
    )
    redaction.remember("kept-by-the-test-7Qx")
    try:
        made = run_here("token", "create", "--token-id", "LEAVE", env={"HOKUSAI_MOCK_MODE": "true"}, cwd=tmp_path)
        assert made.code == 0, made.err
        run = run_here(*register_args("LEAVE", model_file), env={"HOKUSAI_MOCK_MODE": "true"}, cwd=tmp_path)
        assert run.code == 0 and "registered" in run.out, run.err
        assert dict(os.environ) == env and os.getcwd() == cwd
        assert signal.getsignal(signal.SIGTERM) == sigterm  # the run installed its own, then it went
        assert signal.getsignal(signal.SIGINT) == sigint
        assert "kept-by-the-test-7Qx" in redaction.known_secrets(())
        code, out, err = run_here("model", "status", "--token-id", "LEAVE")
        assert code == 3 and out == "" and "LEAVE" in err  # not the mock store: that setting went too
    finally:
        redaction.forget()
