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


def test_readme_workflows_run_under_act_as_printed(docker_engine: Any, image: str, tmp_path: Path) -> None:
    """The README's workflow blocks, as printed, with one substitution: `hokusai/register-model@v1`
    becomes `./` (this checkout; no registry here). The gate-only workflow runs on a pull request
    with nothing configured, as on a fork; the main one runs in mock mode (no platform here) with
    the outputs steps appended after it."""
    import json

    import yaml

    from tests.test_readme import BLOCKS

    copy = _repo_copy(image, tmp_path)
    workflows = [b.text for b in BLOCKS if b.lang == "yaml" and "runs-on: ubuntu-latest" in b.text]
    steps = next(b.text for b in BLOCKS if b.lang == "yaml" and b.text.startswith("      - name: Announce"))
    # the keyless-signing workflow needs Sigstore (not reachable here): linted by tests/test_signing.py
    main, gate = (
        (w for w in workflows if "on: pull_request" not in w and "sign: keyless" not in w),
        (w for w in workflows if "on: pull_request" in w),
    )
    (main_text,), (gate_text,) = list(main), list(gate)
    assert "uses: hokusai/register-model@v1\n" in main_text and "uses: hokusai/register-model@v1\n" in gate_text
    assert "\n  promote:" in main_text
    local = "uses: ./ # zizmor: ignore[self-repository]\n"
    target = copy / ".github" / "workflows"
    # the outputs steps go at the end of the register job; the promote job after it needs a
    # reviewer's approval and a registry admin's key (linted with the README, not run here)
    register_job, promote_job = main_text.split("\n  promote:", 1)
    main_text = f"{register_job}\n{steps.rstrip()}\n  promote:{promote_job}"
    (target / "readme-main.yml").write_text(main_text.replace("uses: hokusai/register-model@v1\n", local))
    (target / "readme-gate.yml").write_text(gate_text.replace("uses: hokusai/register-model@v1\n", local))
    assert yaml.safe_load((target / "readme-main.yml").read_text())["jobs"]["register"]["steps"][-1]["name"]
    _commit(copy)
    event = tmp_path / "pull_request.json"
    event.write_text(json.dumps({"pull_request": {"number": 1, "head": {"ref": "fork"}, "base": {"ref": "main"}}}))

    gate_log = _act(copy, docker_engine, "pull_request", "readme-gate.yml", "-e", str(event))
    assert "Gate passed for token XRAY (gate only: the token was not checked" in gate_log
    main_log = _act(copy, docker_engine, "push", "readme-main.yml", "-j", "register", "--env", "HOKUSAI_MOCK_MODE=true")
    assert "registered models:/hokusai-XRAY/1 (delta 0.03)" in main_log


def _repo_copy(image: str, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, copy / rel)
    action = copy / "action.yml"
    action.write_text(action.read_text().replace("  image: Dockerfile\n", f"  image: docker://{image}\n"))
    for workflow in (copy / ".github" / "workflows").iterdir():
        workflow.unlink()  # only the workflows under test
    return copy


def _commit(copy: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=copy, check=True)
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "test"], cwd=copy, check=True)


def _act(copy: Path, engine: Any, event: str, workflow: str, *extra: str) -> str:
    act = Path(sys.executable).with_name("act")
    proc = subprocess.run(
        [
            str(act),
            event,
            "-W",
            f".github/workflows/{workflow}",
            "-P",
            f"ubuntu-latest={BASE_IMAGE}",
            "--pull=false",
            "--action-offline-mode",
            "--network",
            "host",
            *extra,
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DOCKER_HOST": engine.host},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "Job succeeded" in log
    return log
