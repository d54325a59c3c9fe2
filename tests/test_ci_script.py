"""`.ci/run` is the README's test command: its arguments reach pytest through scripts/test.sh."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO


def test_ci_run_passes_its_arguments_on(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts" / "test.sh").write_text('printf "<%s>" "$@"\n')
    proc = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run"), "tests/test_container.py", "-k", "a b"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == "<tests/test_container.py><-k><a b>"
