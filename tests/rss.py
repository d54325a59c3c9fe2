"""Peak memory of a command as the kernel counts it (wait4's `ru_maxrss`), and its run time.

Linux keeps a process's peak RSS across `exec`, so a command started straight from a large
process (pytest, the benchmark) would report its parent's size when that is the larger. The
command runs under a small launcher instead, which starts it and records its own child's peak,
and the time from its start to its end (the launcher's own start-up left out).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

LAUNCHER = (
    "import os, sys, time; start = time.perf_counter(); "
    "pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ); _, status, usage = os.wait4(pid, 0); "
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {time.perf_counter() - start}'); "
    "sys.exit(os.waitstatus_to_exitcode(status))"
)


def launch(cmd: list[str], record: Path, **popen: Any) -> subprocess.Popen[Any]:
    """Start `cmd` under the launcher (with its environment: pass `env=` to change it); once
    it ended, `measured(record)` holds its figures."""
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, str(record), *cmd], **popen)


def measured(record: Path) -> tuple[int, float]:
    """The command's peak RSS in bytes and its wall seconds."""
    rss_kib, seconds = record.read_text().split()
    return int(rss_kib) * 1024, float(seconds)


def peak_bytes(record: Path) -> int:
    return measured(record)[0]
