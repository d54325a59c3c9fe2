"""Benchmarks, reported as ratios measured side by side in one run.

1. Start-up: `hokusai --help`, `model status`, `model list` against `python -c "import mlflow"`.
2. Registration of a small and a large model on the embedded defaults: peak memory (RSS) of
   the whole `hokusai` process, and wall time against `sha256sum` + `cp` of the same bytes.
   Memory flat in the model's size means the large/small RSS ratio stays near 1.

Usage: python bench/run.py [--large-mib 512] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def rss_of(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child, read with wait4 so each child counts alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err.decode()[-500:]}")
    return elapsed, usage.ru_maxrss


def best(n: int, cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    return min(rss_of(cmd, env, cwd)[0] for _ in range(n))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large-mib", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hokusai-bench-"))
    env = {**os.environ, "HOKUSAI_HOME": str(work / "home"), "HOKUSAI_LOG_LEVEL": "ERROR"}
    hk = [PY, "-m", "hokusai_ci"]
    try:
        print(f"== start-up (best of {args.repeat})")
        mlflow = best(args.repeat, [PY, "-c", "import mlflow"], env, work)
        rows = {
            "hokusai --help": best(args.repeat, [*hk, "--help"], env, work),
            "hokusai model status": best(args.repeat, [*hk, "model", "status", "--token-id", "NONE"], env, work),
            "hokusai model list": best(args.repeat, [*hk, "model", "list"], env, work),
        }
        print(f"  {'python -c import mlflow':28s} {mlflow:6.2f}s  1.00x")
        for name, secs in rows.items():
            print(f"  {name:28s} {secs:6.2f}s  {secs / mlflow:.2f}x of import mlflow")

        print("== register on embedded defaults: memory and time vs sha256sum + cp")
        results = {}
        for label, mib in (("small", 16), ("large", args.large_mib)):
            model = work / f"{label}.bin"
            with model.open("wb") as fh:
                for _ in range(mib):
                    fh.write(os.urandom(1024 * 1024))
            token = f"BENCH-{label.upper()}"
            subprocess.run([*hk, "token", "create", "--token-id", token], env=env, cwd=work, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            secs, rss = rss_of(
                [*hk, "model", "register", "--token-id", token, "--model-path", str(model), "--metric", "auroc",
                 "--baseline", "0.8", "--metric-value", "0.9"],
                env,
                work,
            )  # fmt: skip
            base_start = time.perf_counter()
            subprocess.run(["sha256sum", str(model)], check=True, stdout=subprocess.DEVNULL)
            shutil.copyfile(model, work / f"{label}.copy")
            baseline = time.perf_counter() - base_start
            results[label] = (mib, secs, rss, baseline)
            print(f"  {label:5s} {mib:6d} MiB  {secs:6.2f}s  peak RSS {rss / 1024:6.1f} MiB  "
                  f"(sha256sum+cp {baseline:5.2f}s, ratio {secs / baseline:.2f}x)")  # fmt: skip
            model.unlink()
            (work / f"{label}.copy").unlink()
        s, big = results["small"], results["large"]
        print(f"  size ratio {big[0] / s[0]:.0f}x -> peak RSS ratio {big[2] / s[2]:.2f}x (flat means ~1.0)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
