"""The benchmark script runs (tiny sizes, one round) against the real test server, and
rewrites a README's Benchmarks table from its own output. The full benchmark is not run in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.servers import MlflowServer


def test_bench_runs_and_rewrites_the_readme_table(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text())
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--tiny", "--mlflow-uri", mlflow_server.url,
         "--readme", str(readme)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for heading in ("start-up", "register 1 MiB", "register 2 MiB", "20 files of 4 KiB", "peak memory"):
        assert f"== {heading}" in proc.stdout
    table = readme.read_text().split("<!-- bench:begin -->")[1].split("<!-- bench:end -->")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows and all(row in proc.stdout for row in rows)
    assert "| register 1 MiB | raw MlflowClient script |" in table
    assert '| start-up | python -c "import fire, pydantic, requests" |' in table  # the stack's imports
    assert "| register 2 MiB | time beyond the anchor's |" in table  # with the budget 0.95x allows
    assert "CPUs, 1-minute load average" in table  # the conditions the figures were measured in
    assert not list(tmp_path.glob("hokusai-bench-*"))  # its scratch directory is removed
