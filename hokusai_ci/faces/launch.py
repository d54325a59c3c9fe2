"""The program's entry (`hokusai`, `hokusai-ci`, `python -m hokusai_ci`). Loading the CLI takes a
few tenths of a second of imports; a Ctrl-C (or a CI job's SIGTERM) in that time is held until
it has loaded and then ends the command as one during its run does (exit 130 or 143, the
command's failure in the format asked for), never a traceback from the middle of an import nor a
silent death. (Python's own start-up, before this runs, is outside the program's reach.)"""

from __future__ import annotations

import signal
from types import FrameType


def main() -> None:
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        from hokusai_ci.faces import cli, cli_runner
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    cli_runner.signal_while_loading = held[0] if held else None
    cli.main()
