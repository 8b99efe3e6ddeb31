"""What every command of the `sparkstack` tools shares on the terminal: exit codes, common flags, progress.

The one home of these conventions, so `sparkstack <command>` and the old `python -m tools.<command>` entry
points behave alike. Standard library only: every tools package may import it, it imports none of them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

# Exit codes of every command (documented once, in `sparkstack --help` and docs/cli.md).
OK = 0
FINDINGS = 1  # the command ran and found a problem: a warning or worse, a failed run
BAD_INPUT = 2  # it could not run as asked: bad arguments, config, stack, application, path or setup

EXIT_CODES = (f"exit codes: {OK} ok; {FINDINGS} findings or a failed run; "
              f"{BAD_INPUT} bad input (arguments, config, stack, application, path, missing Java)")


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON (stable keys: docs/cli.md)")


def add_verbose(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--verbose", action="store_true", help=what)


class Progress:
    """One status line on a terminal's stderr, rewritten in place; nothing at all when stderr is not a terminal
    (a pipe, a file, CI logs), so piped output stays exactly the report. SPARKSTACK_PROGRESS=off silences it,
    =on forces it."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        if enabled is None:
            setting = os.environ.get("SPARKSTACK_PROGRESS", "").lower()
            enabled = setting == "on" or (setting != "off" and _isatty(self.stream))
        self.enabled = enabled
        self._shown = False
        self._lock = threading.Lock()

    def show(self, message: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.stream.write(f"\r\x1b[K{message}")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if not self.enabled or not self._shown:
            return
        with self._lock:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    @contextmanager
    def until_done(self) -> Iterator[None]:
        """Erase the status line when the block ends, also on an error, before anything else is printed."""
        try:
            yield
        finally:
            self.clear()

    @contextmanager
    def ticking(self, message: str, every: float = 1.0) -> Iterator[None]:
        """`message` with the seconds elapsed, refreshed while the block runs (a subprocess, a Spark job)."""
        if not self.enabled:
            yield
            return
        started = time.monotonic()
        stop = threading.Event()

        def tick() -> None:
            while not stop.is_set():
                self.show(f"{message} ({time.monotonic() - started:.0f} s)")
                stop.wait(every)

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.clear()


QUIET = Progress(enabled=False)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
