"""Benchmarks as ratios to an anchor measured side by side, in the same run.

Each comparison runs its commands interleaved (A B A B ...) for several rounds and reports the
median and the min-max of each, and the ratio of the medians. Before each timed command the
server's stored uploads are deleted and the disk synced (a gigabyte left to write back would
slow whichever command came next):

  start-up         `hokusai --help` vs `python -c pass`, beside the imports `model register`
                   needs against an MLflow server (`import fire, pydantic, requests`);
                   `model status` / `model list` vs `python -c "import mlflow"`
  register 1 MiB   `hokusai model register` vs a raw MlflowClient script doing the same steps
  register large   `hokusai model register` of a 500 MiB file (1 GiB with --gib), and its upload
                   phase alone, vs `curl -T` of the same file to the same server (throughput
                   ratio: curl time / ours), with the time the command takes beyond curl's;
                   the upload alone by the size of each write of its PUT
  many files       2000 files of 4 KiB vs the raw client's `log_artifacts`, and the upload of the
                   same directory by worker count through a proxy adding 20 ms per request
  memory           peak RSS of `model register` of 100 MiB vs 1 GiB (flat means ~1.0)

All against one local MLflow server (started here unless --mlflow-uri is given).
With --s3, instead: `model register` straight to an S3 bucket (`rclone serve s3`, an MLflow
server with `--no-serve-artifacts` in front) vs boto3's own `upload_file` of the same file
(bench/boto3_upload.py), time and peak RSS, each command under a launcher that reports its
child alone (tests/rss.py).
Usage: python bench/run.py [--rounds 5] [--gib] [--s3] [--readme docs/benchmarks.md] [--tiny]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.s3_stack import S3Server

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = sys.executable
MIB = 1024 * 1024
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
S3_BEGIN, S3_END = "<!-- bench-s3:begin -->", "<!-- bench-s3:end -->"


def installed_copy(work: Path) -> Path:
    """The package as an install holds it: sources with their compiled bytecode. Run from the
    checkout with PYTHONDONTWRITEBYTECODE set (CI machines, most images), every command would
    compile each module again, about 0.1 s that no installed copy pays."""
    site = work / "site"
    shutil.copytree(REPO / "hokusai_ci", site / "hokusai_ci", ignore=shutil.ignore_patterns("__pycache__"))
    if not compileall.compile_dir(site, quiet=1):
        raise SystemExit(f"could not compile the package copied to {site}")
    return site


class Bench:
    def __init__(self, work: Path, uri: str, rounds: int, artifacts: Path | None = None) -> None:
        self.work, self.uri, self.rounds, self.artifacts = work, uri, rounds, artifacts
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "MLFLOW_"))},
            "HOKUSAI_HOME": str(work / "home"),
            "HOKUSAI_LOG_LEVEL": "ERROR",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": str(installed_copy(work)),
        }
        self.rows: list[str] = []
        self.n = 0

    def run(self, cmd: list[str], ok: tuple[int, ...] = (0,), launched: bool = False) -> tuple[float, int]:
        """Wall seconds and peak RSS (KiB) of one child (wait4: each child counts alone);
        `launched`: both as a small launcher measures them, so that the peak is the command's
        even when this process is the larger (Linux keeps a peak across exec)."""
        if launched:
            return self._launched(cmd, ok)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=self.env, cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) not in ok:
            raise SystemExit(f"{' '.join(cmd)} failed: {err.decode()[-800:]}")
        return elapsed, usage.ru_maxrss

    def _launched(self, cmd: list[str], ok: tuple[int, ...]) -> tuple[float, int]:
        from tests.rss import launch, measured

        record = self.work / "measured"
        proc = launch(cmd, record, env=self.env, cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = proc.communicate()
        if proc.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd)} failed: {err.decode()[-800:]}")
        rss, seconds = measured(record)
        return seconds, rss // 1024

    def settle(self) -> None:
        """Before each timed command: the uploads of the one before are deleted and the disk
        synced, so no command pays for the write-back of another's gigabyte."""
        if self.artifacts is not None and self.artifacts.is_dir():
            for child in self.artifacts.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        os.sync()

    def token(self) -> str:
        self.n += 1
        token = f"BENCH{os.getpid()}X{self.n}"
        self.run([PY, "-m", "hokusai_ci", "token", "create", "--token-id", token])
        return token

    def register(self, model: Path, launched: bool = False) -> Callable[[], tuple[float, int]]:
        def go() -> tuple[float, int]:
            token = self.token()
            return self.run([PY, "-m", "hokusai_ci", "model", "register", "--token-id", token, "--model-path",
                             str(model), "--metric", "auroc", "--baseline", "0.8", "--metric-value", "0.9",
                             "--mlflow-uri", self.uri], launched=launched)  # fmt: skip

        return go

    def compare(
        self, title: str, cases: dict[str, Callable[[], tuple[float, int]]], ratio: str = "time", memory: str = ""
    ) -> None:
        """Interleave the cases for `rounds` rounds; the first case is ours, the last the anchor.
        With `memory`, rows under that title give each case's peak RSS too."""
        times: dict[str, list[float]] = {k: [] for k in cases}
        peaks: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(self.rounds):
            for name, fn in cases.items():
                self.settle()
                seconds, rss = fn()
                times[name].append(seconds)
                peaks[name].append(rss / 1024)
        self._rows(title, times, ratio)
        if memory:
            self._memory_rows(memory, peaks)

    def _memory_rows(self, title: str, peaks: dict[str, list[float]]) -> None:
        anchor = list(peaks)[-1]
        base = statistics.median(peaks[anchor])
        for name, values in peaks.items():
            med = statistics.median(values)
            rel = "anchor" if name == anchor else f"{med / base:.2f}x the anchor's peak"
            self._row(f"| {title} | {name} | {med:.0f} MiB RSS | {min(values):.0f}–{max(values):.0f} MiB | {rel} |")

    def _rows(self, title: str, times: dict[str, list[float]], ratio: str) -> None:
        cases = list(times)
        med = {k: statistics.median(v) for k, v in times.items()}
        anchor = list(cases)[-1]
        print(f"== {title}")
        for name, values in times.items():
            if name == anchor:
                rel = "anchor"
            elif ratio == "throughput":
                rel = f"{med[anchor] / med[name]:.2f}x the anchor's throughput"
            else:
                rel = f"{med[name] / med[anchor]:.2f}x the anchor's time"
            self._row(f"| {title} | {name} | {med[name]:.2f} s | {min(values):.2f}–{max(values):.2f} s | {rel} |")
        if ratio == "throughput":  # what the whole command costs beyond the transfer, and its budget
            ours = next(iter(cases))
            budget = med[anchor] / 0.95 - med[anchor]
            self._row(f"| {title} | time beyond the anchor's | {med[ours] - med[anchor]:.2f} s | | "
                      f"0.95x the throughput allows {budget:.2f} s |")  # fmt: skip

    def _row(self, line: str) -> None:
        print("  " + line)
        self.rows.append(line)


def make_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            fh.write(block)
            left -= len(block)
    return path


def make_dir(path: Path, count: int, size: int) -> Path:
    for i in range(count):
        sub = path / f"part{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.bin").write_bytes(os.urandom(size))
    return path


@contextmanager
def mlflow_server(uri: str | None, work: Path) -> Iterator[tuple[str, Path | None]]:
    """The server's URL, and its artifact folder when it is ours (to clear between runs)."""
    if uri:
        yield uri, None
        return
    from tests.servers import MlflowServer

    server = MlflowServer.start(work / "mlflow")
    try:
        yield server.url, server.root / "artifacts"
    finally:
        server.stop()


def curl_put(bench: Bench, model: Path) -> Callable[[], tuple[float, int]]:
    def go() -> tuple[float, int]:
        bench.n += 1
        dest = f"{bench.uri}/api/2.0/mlflow-artifacts/artifacts/curl/{bench.n}/{model.name}"
        return bench.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(model), dest])

    return go


def upload_alone(bench: Bench, model: Path) -> Callable[[], tuple[float, int]]:
    """The transfer phase of `model register` by itself: the same streaming, hashing PUT, in
    this process, without the command's start-up, checks and registration calls."""
    from hokusai_ci.adapters import rest_tracker
    from hokusai_ci.domain.progress import Progress
    from hokusai_ci.domain.streaming import ModelSource

    tracker = rest_tracker.RestTracker(bench.uri, "bench-upload")

    def go() -> tuple[float, int]:
        bench.n += 1
        start = time.perf_counter()
        with open(os.devnull, "w") as devnull:  # metered as the command meters it, in a CI log
            progress = Progress("uploading", model.stat().st_size, stream=devnull)
            tracker._send(f"mlflow-artifacts:/upload-alone/{bench.n}", ModelSource.of(model), progress)
        return time.perf_counter() - start, 0

    return go


def write_sizes(bench: Bench, model: Path, sizes_kib: list[int]) -> None:
    """The upload phase alone by the size of each write of the streaming PUT, vs `curl -T`."""
    from hokusai_ci.adapters import rest_artifacts

    chosen = rest_artifacts.PUT_CHUNK
    upload = upload_alone(bench, model)

    def with_size(kib: int) -> Callable[[], tuple[float, int]]:
        def go() -> tuple[float, int]:
            rest_artifacts.PUT_CHUNK = kib * 1024
            try:
                return upload()
            finally:
                rest_artifacts.PUT_CHUNK = chosen

        return go

    cases = {f"{kib} KiB writes{' (chosen)' if kib * 1024 == chosen else ''}": with_size(kib) for kib in sizes_kib}
    bench.compare(f"write size, {model.stat().st_size // MIB} MiB", {**cases, "curl -T": curl_put(bench, model)})


def workers_through_latency(bench: Bench, model: Path, delay: float, counts: list[int]) -> None:
    """Upload one directory with each worker count through a proxy adding `delay` per request."""
    from hokusai_ci.adapters import rest_tracker
    from hokusai_ci.domain import streaming
    from hokusai_ci.domain.progress import NoProgress
    from hokusai_ci.domain.streaming import ModelSource
    from tests.fault_proxy import FaultProxy

    proxy = FaultProxy(bench.uri, delay=delay).start()
    try:
        tracker = rest_tracker.RestTracker(proxy.url, "bench-workers")
        source = ModelSource.of(model)
        times: dict[int, list[float]] = {n: [] for n in counts}
        for r in range(bench.rounds):
            for n in counts:
                streaming.UPLOAD_WORKERS = n
                start = time.perf_counter()
                tracker._send(f"mlflow-artifacts:/workers/{n}/{r}", source, NoProgress())
                times[n].append(time.perf_counter() - start)
        base = statistics.median(times[counts[0]])
        title = f"{len(source.files)} files, +{delay * 1000:.0f} ms/request"
        print(f"== upload workers: {title}")
        for n, values in times.items():
            med = statistics.median(values)
            spread = f"{min(values):.2f}–{max(values):.2f} s"
            line = f"| {title} | {n} worker{'s' if n > 1 else ''} | {med:.2f} s | {spread} | {base / med:.2f}x vs 1 |"
            print("  " + line)
            bench.rows.append(line)
    finally:
        proxy.stop()


class S3Bench(Bench):
    """Between timed commands the bucket is emptied through the S3 API (the server's own view
    of its folder would go stale if files vanished under it) and the disk synced."""

    def __init__(self, work: Path, uri: str, rounds: int, s3: S3Server) -> None:
        super().__init__(work, uri, rounds)
        self.s3, self.client = s3, s3.client()
        self.env.update(s3.env())

    def settle(self) -> None:
        from tests.s3_stack import BUCKET

        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})
        os.sync()

    def upload_file(self, model: Path) -> Callable[[], tuple[float, int]]:
        from tests.s3_stack import BUCKET

        def go() -> tuple[float, int]:
            self.n += 1
            script = str(REPO / "bench" / "boto3_upload.py")
            return self.run([PY, script, str(model), BUCKET, f"boto3/{self.n}/{model.name}"], launched=True)

        return go


def s3_route(work: Path, rounds: int, size: int) -> list[str]:
    """`model register` straight to a bucket vs boto3's `upload_file` of the same file."""
    from tests.s3_stack import MlflowOnS3, S3Server

    s3 = S3Server.start(work / "s3")
    try:
        mlflow = MlflowOnS3.start(work / "mlflow-s3", f"sqlite:///{work / 'mlflow-s3.db'}", s3)
        try:
            bench = S3Bench(work, mlflow.url, rounds, s3)
            model = make_file(work / "model.bin", size)
            title = f"S3, {size // MIB} MiB"
            bench.compare(title, {"hokusai model register": bench.register(model, launched=True),
                                  "boto3 upload_file": bench.upload_file(model)},
                          memory=f"{title}, peak memory")  # fmt: skip
            return bench.rows
        finally:
            mlflow.stop()
    finally:
        s3.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--large-mib", type=int, default=500)
    ap.add_argument("--gib", action="store_true", help="also register 1 GiB vs curl -T")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, one round: checks that the script runs")
    ap.add_argument("--mlflow-uri", help="use this server instead of starting one")
    ap.add_argument("--s3", action="store_true", help="only the S3 route, --large-mib MiB, vs boto3's upload_file")
    ap.add_argument("--readme", type=Path, help="rewrite the Benchmarks tables in this page (docs/benchmarks.md)")
    args = ap.parse_args()
    large, small_mem, big_mem, files = args.large_mib * MIB, 100 * MIB, 1024 * MIB, args.files
    if args.tiny:
        args.rounds, large, small_mem, big_mem, files = 1, 2 * MIB, MIB, 2 * MIB, 20
    work = Path(tempfile.mkdtemp(prefix="hokusai-bench-"))
    load_before = os.getloadavg()[0]
    if args.s3:
        try:
            rows = s3_route(work, args.rounds, large)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        conditions = _conditions(load_before)
        print(f"== conditions: {conditions}")
        if args.readme:
            command = f"python bench/run.py --s3 --large-mib {args.large_mib} --rounds {args.rounds}"
            write_readme(args.readme, rows, args.rounds, conditions, command, (S3_BEGIN, S3_END))
        return
    try:
        with mlflow_server(args.mlflow_uri, work) as (uri, artifacts):
            bench = Bench(work, uri, args.rounds, artifacts)
            hk = [PY, "-m", "hokusai_ci"]
            stack = "import fire, pydantic, requests"  # what `model register` imports to reach MLflow
            bench.compare("start-up", {"hokusai --help": lambda: bench.run([*hk, "--help"]),
                                       f'python -c "{stack}"': lambda: bench.run([PY, "-c", stack]),
                                       "python -c pass": lambda: bench.run([PY, "-c", "pass"])})  # fmt: skip
            bench.compare(
                "read commands",
                {
                    "hokusai model status": lambda: bench.run([*hk, "model", "status", "--token-id", "NONE"], (0, 3)),
                    "hokusai model list": lambda: bench.run([*hk, "model", "list"]),
                    'python -c "import mlflow"': lambda: bench.run([PY, "-c", "import mlflow"]),
                },
            )
            one = make_file(work / "one.bin", MIB)
            raw = [PY, str(REPO / "bench" / "raw_client.py"), uri]
            bench.compare(
                "register 1 MiB",
                {"hokusai model register": bench.register(one),
                 "raw MlflowClient script": lambda: bench.run([*raw, str(one), "raw-1mib"])},
            )  # fmt: skip
            for size in [large] + ([big_mem] if args.gib else []):
                big = make_file(work / "model.bin", size)
                bench.compare(
                    f"register {size // MIB} MiB",
                    {
                        "hokusai model register": bench.register(big),
                        "its upload alone": upload_alone(bench, big),
                        "curl -T": curl_put(bench, big),
                    },
                    ratio="throughput",
                )
                if size == large:
                    write_sizes(bench, big, [16, 32, 64, 1024])
                big.unlink()
            many = make_dir(work / "many", files, 4096)
            bench.compare(f"{files} files of 4 KiB", {"hokusai model register": bench.register(many),
                          "raw client log_artifacts": lambda: bench.run([*raw, str(many), "raw-many"])})  # fmt: skip
            workers_through_latency(bench, make_dir(work / "some", max(files // 10, 8), 4096), 0.02, [1, 4, 8, 16])
            print("== peak memory of model register")
            rss = {}
            for size in (small_mem, big_mem):
                model = make_file(work / "mem.bin", size)
                rss[size] = bench.register(model)()[1] / 1024
                model.unlink()
                line = f"| peak memory | register {size // MIB} MiB | {rss[size]:.0f} MiB RSS | | |"
                print("  " + line)
                bench.rows.append(line)
            ratio = rss[big_mem] / rss[small_mem]
            flat = f"| peak memory | ratio | {ratio:.2f}x for {big_mem // small_mem}x the size | | |"
            print("  " + flat)
            bench.rows.append(flat)
        conditions = _conditions(load_before)
        print(f"== conditions: {conditions}")
        if args.readme:
            write_readme(args.readme, bench.rows, args.rounds, conditions)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _conditions(load_before: float) -> str:
    return (
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end, {time.strftime('%Y-%m-%d', time.gmtime())}"
    )


def write_readme(
    readme: Path,
    rows: list[str],
    rounds: int,
    conditions: str,
    command: str = "python bench/run.py --gib",
    markers: tuple[str, str] = (BEGIN, END),
) -> None:
    begin, end = markers
    text = readme.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{readme} has no {begin} ... {end} block to rewrite")
    table = "\n".join(
        [f"Medians of {rounds} interleaved rounds (min–max), `{command} --readme docs/benchmarks.md`",
         f"({conditions}):", "",
         "| comparison | command | median | min–max | vs anchor |", "|---|---|---|---|---|", *rows]
    )  # fmt: skip
    head, rest = text.split(begin, 1)
    readme.write_text(f"{head}{begin}\n{table}\n{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    main()
