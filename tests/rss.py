"""Peak memory of a command as the kernel counts it (wait4's `ru_maxrss`).

Linux keeps a process's peak RSS across `exec`, so a command started straight from a large
process (pytest, the benchmark) would report its parent's size when that is the larger. The
command runs under a small launcher instead, which starts it and records the peak of its own
child: the command's figure alone (plus the launcher's ~10 MiB, were that ever the larger).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

LAUNCHER = (
    "import os, sys; pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ); "
    "_, status, usage = os.wait4(pid, 0); code = os.waitstatus_to_exitcode(status); "
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); sys.exit(code)"
)


def launch(cmd: list[str], record: Path, **popen: Any) -> subprocess.Popen[Any]:
    """Start `cmd` (an executable's full path first) under the launcher; once it ended,
    `peak_bytes(record)` is its peak RSS."""
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, str(record), *cmd], **popen)


def peak_bytes(record: Path) -> int:
    return int(record.read_text()) * 1024
