"""Progress for long phases (hashing, uploading multi-gigabyte models).

On a terminal: one self-overwriting line. In CI logs: a line at most every 10% or 30 seconds,
so a 20 GB upload shows it is alive without flooding the log.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

QUIET_BELOW = 16 * 1024 * 1024  # small models finish before progress would help


class ProgressSink(Protocol):
    def advance(self, nbytes: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def advance(self, nbytes: int) -> None:
        return None

    def finish(self) -> None:
        return None


class FileMeter:
    """Meters one file's bytes across the tries of a retried request: a try starts over from
    byte 0 (`restart`), and only bytes beyond what an earlier try already counted advance the
    display, so a retried upload never shows more than its size."""

    def __init__(self, sink: ProgressSink) -> None:
        self._sink = sink
        self._counted = self._position = 0

    def restart(self) -> None:
        self._position = 0

    def advance(self, nbytes: int) -> None:
        self._position += nbytes
        new = self._position - self._counted
        if new > 0:
            self._counted = self._position
        self._sink.advance(max(new, 0))

    def finish(self) -> None:
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        stream: TextIO | None = None,
        clock: Callable[[], float] | None = None,
        interval: float = 30.0,
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock or time.monotonic
        self.done = 0
        self.started = self.clock()
        self.interval = interval
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = total >= QUIET_BELOW
        self._last_line = self.started
        self._last_decile = 0
        self._last_draw = 0.0
        self._lock = threading.Lock()

    def advance(self, nbytes: int) -> None:
        """Count bytes done; `advance(0)` only refreshes (elapsed time, CI heartbeat line)."""
        with self._lock:
            self._advance(nbytes)

    def _advance(self, nbytes: int) -> None:
        self.done += nbytes
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self.stream.write("\r" + self._text(now))
                self.stream.flush()
            return
        decile = int(10 * self.done / self.total)
        if decile > self._last_decile or now - self._last_line >= self.interval:
            self._last_decile, self._last_line = decile, now
            self.stream.write(self._text(now) + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if not self.enabled:
            return
        self.stream.write(("\r" if self.tty else "") + self._text(self.clock()) + " done\n")
        self.stream.flush()

    def _text(self, now: float) -> str:
        pct = min(100, int(100 * self.done / self.total))
        elapsed = max(now - self.started, 1e-9)
        rate = human_bytes(self.done / elapsed)
        return (
            f"{self.label}: {pct:3d}% {human_bytes(self.done)} / {human_bytes(self.total)} ({rate}/s, {elapsed:.0f}s)"
        )


@contextmanager
def heartbeat(progress: ProgressSink, every: float = 1.0) -> Iterator[None]:
    """Keep progress alive while a transfer we cannot meter byte by byte is in flight (one
    large file): the terminal line keeps counting seconds, CI logs get a line per interval."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            progress.advance(0)

    thread = threading.Thread(target=beat, name="hokusai-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
