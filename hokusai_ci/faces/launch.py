"""The program's entry (`hokusai`, `hokusai-ci`, `python -m hokusai_ci`). Loading the CLI takes a
few tenths of a second of imports; a Ctrl-C in that time is held until it has loaded and then
ends the command as a Ctrl-C during its run does (exit 130, the command's failure in the format
asked for), never a traceback from the middle of an import."""

from __future__ import annotations

import signal
from types import FrameType


def main() -> None:
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        from hokusai_ci.faces import cli, cli_runner
    finally:
        signal.signal(signal.SIGINT, previous)
    cli_runner.interrupted_while_loading = bool(held)
    cli.main()
