"""The self-test workflow run by nektos/act on the local engine: `uses: ./` from a checkout,
outputs read in later steps, and a failing case with continue-on-error whose outcome is
asserted. act would build `image: Dockerfile` with default networking (no registry here), so
the test copy of action.yml points at the image the test suite built."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.docker_env import BASE_IMAGE


def test_selftest_workflow_runs_under_act(docker_engine: Any, image: str, tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, copy / rel)
    action = copy / "action.yml"
    text = action.read_text()
    assert "  image: Dockerfile\n" in text
    action.write_text(text.replace("  image: Dockerfile\n", f"  image: docker://{image}\n"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=copy, check=True)
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "test"], cwd=copy, check=True)
    act = Path(sys.executable).with_name("act")
    proc = subprocess.run(
        [
            str(act),
            "push",
            "-W",
            ".github/workflows/selftest.yml",
            "-P",
            f"ubuntu-latest={BASE_IMAGE}",
            "--pull=false",
            "--action-offline-mode",
            "--network",
            "host",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DOCKER_HOST": docker_engine.host},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "all outputs read" in log
    assert "failure case asserted" in log
    assert "Job succeeded" in log
