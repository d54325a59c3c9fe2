"""SIGINT and SIGTERM around the moments a command cannot be cut: one rule for every face.

- `deferred()`: a short write that must be whole and known (the store deciding an alias move, or
  taking it back) holds a signal until the write returned, then delivers it where the caller
  can act on it.
- `Ending`: once a command's outcome is decided (a registration committed and its result built,
  an alias moved in the store and in MLflow), a signal no longer unwinds it: the result is
  printed whole, then the process exits with the result's code. Python's default would raise
  `KeyboardInterrupt` wherever the signal lands, and one left uncaught kills the process by the
  signal itself (return code -2), after a success was already printed. A face arms one per run
  (`arm`); a use case marks the moment its outcome is decided (`decided`); without a face (the
  Python API) nothing changes.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs; the first one that came is delivered once
    the block ended (to the handlers in place before it), so it lands after the write."""
    if not _main_thread():
        yield
        return
    came: list[int] = []
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def hold(signum: int, frame: object) -> None:
        came.append(signum)

    for sig in SIGNALS:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if came:
            signal.raise_signal(came[0])


class Ending:
    """From `hold()` until the process is gone, SIGINT and SIGTERM only note that they came;
    `printed(code)` then ends the process with the result's code."""

    def __init__(self) -> None:
        self.code: int | None = None  # set once the result is printed: a signal then exits at once
        self.pending = False
        self.saved: dict[int, Any] = {}  # the handlers `hold` replaced (empty: not holding)

    def hold(self) -> None:
        if _main_thread() and not self.saved:
            self.saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
            for sig in SIGNALS:
                signal.signal(sig, self._signalled)

    def release(self) -> None:
        """Put back the handlers `hold` replaced (a face run inside a longer-lived process)."""
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved = {}

    def _signalled(self, signum: int, frame: object) -> None:
        if self.code is None:
            self.pending = True
        else:
            exit_now(self.code)

    def printed(self, code: int) -> None:
        """The result is out: a signal that came meanwhile, or comes now, ends the process with
        `code` without waiting for anything else (threads, exit handlers). The interpreter's own
        shutdown puts the default handlers back after the exit handlers ran, where a signal
        would kill the process (return code -2): from the last exit handler on, they are
        ignored."""
        self.code = code
        if self.pending:
            exit_now(code)
        if self.saved:
            atexit.unregister(_ignore_signals)
            atexit.register(_ignore_signals)


def _ignore_signals() -> None:
    if _main_thread():
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


_armed: list[Ending] = []  # the running face's, at most one


def arm() -> Ending:
    """A face's run starts: the `Ending` that `decided()` will hold (one per run)."""
    ending = Ending()
    _armed[:] = [ending]
    return ending


def disarm(ending: Ending) -> None:
    if _armed and _armed[0] is ending:
        _armed.clear()


def decided() -> None:
    """The command's outcome is decided: from here a signal no longer changes it (when a face
    armed an `Ending`; the Python API keeps Python's own handling)."""
    if _armed:
        _armed[0].hold()


def exit_now(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
