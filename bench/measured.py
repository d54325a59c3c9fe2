"""The measured gate, timed against the obvious alternative, side by side in one run.

For each size (1M and 10M rows by default) one seeded dataset is written as CSV (`p,y`), as a
structured `.npy` and as Parquet. Then, interleaved for several rounds, each a whole process:

  measured csv       the full verdict with its DeLong interval from the CSV
  anchor             `pandas.read_csv` + `sklearn.metrics.roc_auc_score` (point value only),
                     the script a user would write, on the same CSV
  measured npy       the verdict from the .npy file
  measured parquet   the verdict from the Parquet file
  measured accuracy  accuracy with --threshold and its bootstrap interval, from the CSV
  paired npy         the paired verdict: candidate against a champion scored on the same rows
                     (paired DeLong), both from .npy files

Each row reports the median wall time, min-max, and the peak RSS of that process (its VmHWM,
reported as it exits). Then, in this process: the count-metric interval alone (confusion counts + 2000
multinomial draws), paired DeLong alone beside the single-model DeLong, and the AUROC parity with
scikit-learn at that size. The targets of the
requirements are checked at the end: CSV verdict <= 2 s at 1M and <= 20 s at 10M, peak RSS
<= 400 MB, .npy and Parquet faster than CSV, the verdict <= 1.0x the anchor, count-metric
interval <= 0.5 s, paired DeLong (two sorts) <= 2 s per million rows, the CSV verdict's budget.

With `--readme docs/benchmarks.md` the figures replace the page's measured-gate table (between
its `bench-measured` markers), with the load average at the start and the end of the run.

Usage: python bench/measured.py [--rows 1000000 10000000] [--rounds 3] [--readme docs/benchmarks.md]
(the machine is shared: `--rows 1000000` alone is the quick run)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = sys.executable
BEGIN, END = "<!-- bench-measured:begin -->", "<!-- bench-measured:end -->"

# Each process reports its own peak RSS (VmHWM of its address space) as it exits: wait4's
# ru_maxrss would include the parent's RSS at the fork (Linux carries it across exec).
PEAK = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
    "    sys.stderr.write('PEAK_KB ' + hwm[0].split()[1] + '\\n')\n"
    "atexit.register(_peak)\n"
)
VERDICT = PEAK + (
    "import sys\n"
    "from pathlib import Path\n"
    "from hokusai_ci.domain.measured import measure\n"
    "from hokusai_ci.domain.metrics import resolve_metric\n"
    "metric, path = sys.argv[1], Path(sys.argv[2])\n"
    "threshold = 0.5 if metric == 'accuracy' else None\n"
    "print(measure(resolve_metric(metric), 0.5, path, score_column='p', label_column='y',"
    " threshold=threshold).verdict)\n"
)
PAIRED = PEAK + (
    "import sys\n"
    "from pathlib import Path\n"
    "from hokusai_ci.domain.measured.paired_gate import paired_verdict\n"
    "from hokusai_ci.domain.metrics import resolve_metric\n"
    "gate = paired_verdict(resolve_metric('auroc'), Path(sys.argv[1]), Path(sys.argv[2]),"
    " score_column='p', label_column='y')\n"
    "print(gate.verdict)\n"
)
ANCHOR = PEAK + (
    "import sys\n"
    "import pandas as pd\n"
    "from sklearn.metrics import roc_auc_score\n"
    "d = pd.read_csv(sys.argv[1])\n"
    "print(roc_auc_score(d['y'], d['p']))\n"
)


@dataclass
class Timed:
    label: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    last: str = ""

    def run(self, env: dict[str, str]) -> None:
        """One whole process, timed from spawn to exit."""
        start = time.perf_counter()
        proc = subprocess.run(self.argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        self.seconds.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{self.label} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        self.last = proc.stdout.strip()
        peak = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("PEAK_KB ")]
        self.rss_mb = max(self.rss_mb, int(peak[-1]) / 1024)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def write_inputs(rows: int, folder: Path) -> dict[str, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(rows)
    positive = rng.random(rows) < 0.3
    scores = np.round(1 / (1 + np.exp(-rng.normal(positive * 1.2, 1.0))), 6)
    labels = positive.astype(np.int8)
    paths = {
        "csv": folder / "both.csv",
        "npy": folder / "both.npy",
        "parquet": folder / "both.parquet",
        "champion": folder / "champion.npy",
    }
    with paths["csv"].open("w") as f:
        f.write("p,y\n")
        step = 1_000_000
        for start in range(0, rows, step):
            chunk = zip(scores[start : start + step].tolist(), labels[start : start + step].tolist(), strict=True)
            f.write("".join(f"{p:.6f},{y}\n" for p, y in chunk))
    structured = np.empty(rows, dtype=[("p", "f8"), ("y", "i1")])
    structured["p"], structured["y"] = scores, labels
    np.save(paths["npy"], structured)
    pq.write_table(pa.table({"p": scores, "y": labels}), paths["parquet"])
    # the champion: the same rows, its scores sharing most of the candidate's error
    structured["p"] = np.round(np.clip(scores + rng.normal(0, 0.05, rows), 0, 1), 6)
    np.save(paths["champion"], structured)
    return paths


def in_process(rows: int, paths: dict[str, Path]) -> tuple[float, float, float, float]:
    """(seconds of the count-metric interval, of paired DeLong, of single-model DeLong,
    |ours - scikit-learn| for AUROC) at this size."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from hokusai_ci.domain.measured.intervals import auroc, confusion, count_metric
    from hokusai_ci.domain.measured.paired import paired_auroc

    data = np.load(paths["npy"])
    scores, positive = data["p"], data["y"] == 1
    start = time.perf_counter()
    count_metric("f1", confusion(scores >= 0.5, positive), 0.95, seed=1)
    seconds = time.perf_counter() - start
    champion = np.load(paths["champion"])["p"]
    start = time.perf_counter()
    paired_auroc(scores, champion, positive, 0.95)
    paired_seconds = time.perf_counter() - start
    start = time.perf_counter()
    value = auroc(scores, positive, 0.95).value
    single_seconds = time.perf_counter() - start
    return seconds, paired_seconds, single_seconds, abs(value - float(roc_auc_score(positive, scores)))


@dataclass
class SizeResult:
    rows: int
    csv_mb: float
    commands: list[Timed]
    count_seconds: float
    paired_seconds: float
    single_seconds: float
    auroc_gap: float
    checks: dict[str, bool]


def bench(rows: int, rounds: int, work: Path) -> SizeResult:
    folder = work / str(rows)
    folder.mkdir()
    paths = write_inputs(rows, folder)
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # bytecode written by the warm-up run, as an install has it
    commands = [
        Timed("measured csv", [PY, "-c", VERDICT, "auroc", str(paths["csv"])]),
        Timed("anchor pandas+sklearn", [PY, "-c", ANCHOR, str(paths["csv"])]),
        Timed("measured npy", [PY, "-c", VERDICT, "auroc", str(paths["npy"])]),
        Timed("measured parquet", [PY, "-c", VERDICT, "auroc", str(paths["parquet"])]),
        Timed("measured accuracy csv", [PY, "-c", VERDICT, "accuracy", str(paths["csv"])]),
        Timed("paired npy", [PY, "-c", PAIRED, str(paths["npy"]), str(paths["champion"])]),
    ]
    for c in commands:  # warm the page cache once, untimed
        c.run(env)
        c.seconds.clear()
        c.rss_mb = 0.0
    for _ in range(rounds):
        for c in commands:
            c.run(env)
    count_seconds, paired_seconds, single_seconds, auroc_gap = in_process(rows, paths)
    csv_, anchor, npy, parquet, _, _paired = commands
    limit = 2.0 if rows <= 1_000_000 else 20.0 * rows / 10_000_000
    checks = {
        f"CSV verdict <= {limit:g} s": csv_.median <= limit,
        "peak RSS <= 400 MB": all(c.rss_mb <= 400 for c in commands if c is not anchor),
        ".npy and Parquet faster than CSV": npy.median < csv_.median and parquet.median < csv_.median,
        "verdict with interval <= 1.0x anchor": csv_.median <= anchor.median,
        "count-metric interval <= 0.5 s": count_seconds <= 0.5,
        "paired DeLong <= 2 s per million rows": paired_seconds <= 2 * rows / 1_000_000,
        "AUROC parity within 1e-12": auroc_gap <= 1e-12,
    }
    return SizeResult(
        rows,
        paths["csv"].stat().st_size / 1e6,
        commands,
        count_seconds,
        paired_seconds,
        single_seconds,
        auroc_gap,
        checks,
    )


def text_lines(r: SizeResult, rounds: int) -> list[str]:
    anchor = r.commands[1]
    lines = [f"## {r.rows:,} rows ({r.csv_mb:.0f} MB CSV), {rounds} rounds", ""]
    lines.append(f"{'command':<24}{'median s':>10}{'min-max s':>16}{'peak RSS MB':>13}{'x anchor':>10}")
    for c in r.commands:
        spread = f"{min(c.seconds):.2f}-{max(c.seconds):.2f}"
        lines.append(f"{c.label:<24}{c.median:>10.2f}{spread:>16}{c.rss_mb:>13.0f}{c.median / anchor.median:>10.2f}")
    lines += [
        f"count-metric interval (confusion + 2000 draws), in process: {r.count_seconds:.3f} s",
        f"paired DeLong (two sorts), in process: {r.paired_seconds:.3f} s "
        f"(single-model DeLong {r.single_seconds:.3f} s, {r.paired_seconds / r.single_seconds:.1f}x)",
        f"AUROC |ours - scikit-learn|: {r.auroc_gap:.2e}",
        f"verdict: {r.commands[0].last}",
        f"paired verdict: {r.commands[-1].last}",
        "",
    ]
    return lines + [f"{'ok  ' if ok else 'MISS'} {name}" for name, ok in r.checks.items()]


def table_rows(r: SizeResult) -> list[str]:
    """The page's rows for one size: every command, then the in-process figures and the targets."""
    anchor = r.commands[1]
    size = f"{r.rows:,} rows ({r.csv_mb:.0f} MB CSV)"
    rows = []
    for c in r.commands:
        ratio = "anchor" if c is anchor else f"{c.median / anchor.median:.2f}x"
        rows.append(
            f"| {size} | {c.label} | {c.median:.2f} s | {min(c.seconds):.2f}–{max(c.seconds):.2f} s "
            f"| {c.rss_mb:.0f} MiB | {ratio} |"
        )
    rows.append(
        f"| {size} | count-metric interval (f1: counts + 2000 draws), in process | {r.count_seconds:.3f} s | | | |"
    )
    rows.append(
        f"| {size} | paired DeLong (two sorts), in process | {r.paired_seconds:.3f} s | | | "
        f"{r.paired_seconds / r.single_seconds:.1f}x single-model DeLong |"
    )
    missed = [name for name, ok in r.checks.items() if not ok]
    verdict = "all targets met" if not missed else "MISSED: " + "; ".join(missed)
    rows.append(f"| {size} | AUROC \\|ours − scikit-learn\\| {r.auroc_gap:.1e}; {verdict} | | | | |")
    return rows


def write_readme(page: Path, results: list[SizeResult], rounds: int, conditions: str, command: str) -> None:
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page} has no {BEGIN} ... {END} block to rewrite")
    table = "\n".join(
        [
            f"Medians of {rounds} interleaved rounds (min–max), whole processes, `{command}`",
            f"({conditions}):",
            "",
            "| size | command | median | min–max | peak RSS | vs anchor |",
            "|---|---|---|---|---|---|",
            *[row for r in results for row in table_rows(r)],
        ]
    )
    head, rest = text.split(BEGIN, 1)
    page.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--readme", type=Path, help="rewrite the measured-gate table in this page (docs/benchmarks.md)")
    args = parser.parse_args()
    rounds = max(1, args.rounds)
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-measured-") as work:
        for rows in args.rows:
            results.append(bench(rows, rounds, Path(work)))
            print("\n".join(text_lines(results[-1], rounds)), flush=True)
    conditions = (
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end, {time.strftime('%Y-%m-%d', time.gmtime())}"
    )
    print(f"({conditions})")
    if args.readme:
        sizes = " ".join(str(r) for r in args.rows)
        write_readme(
            args.readme,
            results,
            rounds,
            conditions,
            f"python bench/measured.py --rows {sizes} --readme docs/benchmarks.md",
        )


if __name__ == "__main__":
    main()
