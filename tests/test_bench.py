"""The benchmark script runs (tiny sizes, one round) against the real test server, and
rewrites a README's Benchmarks table from its own output. The full benchmark is not run in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.servers import MlflowServer


def test_bench_runs_and_rewrites_the_readme_table(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "docs" / "benchmarks.md").read_text())
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


@pytest.mark.servers  # its own bucket and MLflow server
def test_bench_s3_route_runs_and_rewrites_its_own_table(tmp_path: Path) -> None:
    """`--s3` starts its own bucket and MLflow server, compares `model register` with boto3's
    `upload_file` in time and peak memory, and rewrites only the S3 table."""
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "docs" / "benchmarks.md").read_text())
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--s3", "--tiny", "--readme", str(readme)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = readme.read_text()
    table = text.split("<!-- bench-s3:begin -->")[1].split("<!-- bench-s3:end -->")[0]
    assert "| S3, 2 MiB | boto3 upload_file |" in table and "| anchor |" in table
    rss = [
        line for line in table.splitlines() if line.startswith("| S3, 2 MiB, peak memory | hokusai model register |")
    ]
    assert len(rss) == 1 and int(rss[0].split("|")[3].split()[0]) > 20  # MiB: a real process was measured
    main_table = "<!-- bench:begin -->", "<!-- bench:end -->"
    before = (REPO / "docs" / "benchmarks.md").read_text()
    assert (
        text.split(main_table[0])[1].split(main_table[1])[0] == before.split(main_table[0])[1].split(main_table[1])[0]
    )
    assert not list(tmp_path.glob("hokusai-bench-*"))


def test_measured_bench_runs_and_rewrites_its_own_table(tmp_path: Path) -> None:
    """bench/measured.py at a tiny size, one round: every command row, the in-process figures and
    the targets' verdict land in the page's measured-gate table, and no other table changes."""
    page = tmp_path / "benchmarks.md"
    before = (REPO / "docs" / "benchmarks.md").read_text()
    page.write_text(before)
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "measured.py"), "--rows", "20000", "--rounds", "1",
         "--readme", str(page)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = page.read_text()
    table = text.split("<!-- bench-measured:begin -->")[1].split("<!-- bench-measured:end -->")[0]
    for label in ("measured csv", "anchor pandas+sklearn", "measured npy", "measured parquet", "measured accuracy csv"):
        assert f"| 20,000 rows (0 MB CSV) | {label} |" in table
    assert "count-metric interval (f1: counts + 2000 draws), in process" in table
    assert "AUROC \\|ours − scikit-learn\\|" in table and "CPUs, 1-minute load average" in table
    assert text.split("<!-- bench-measured:begin -->")[0] == before.split("<!-- bench-measured:begin -->")[0]
    assert not list(tmp_path.glob("hokusai-bench-*"))
