"""Ctrl-C (割り込み) for commands with worker processes: only the main process hears it.

A terminal's Ctrl-C sends SIGINT to the whole process group, and `uv run` forwards it once more,
so a command receives it once or twice and so would every worker it started. Workers therefore
ignore it: a local pool's workers inherit the ignored disposition when they are started
(`interrupts_ignored`) and keep it (`ignore_interrupts`); a local Dask cluster's workers set it in
their worker plugin. The main process alone turns Ctrl-C into KeyboardInterrupt, stops its
workers and exits. After the first interrupt, `quiet_second_interrupt` ignores further ones so
that the clean-up is not interrupted half-way (which is what left sweeps hanging in
`concurrent.futures`), and clears the mark CPython leaves when an interrupt passes through code run
from a string (see `quiet_second_interrupt`). A command that stopped on Ctrl-C exits with
`EXIT_INTERRUPTED` (128 + SIGINT, what a shell reports for a program stopped by Ctrl-C).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130


def ignore_interrupts() -> None:
    """In a worker process: ignore SIGINT for good (the main process decides when to stop)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def quiet_second_interrupt() -> None:
    """After the first Ctrl-C: ignore the next ones while the command cleans up and exits.

    It also clears CPython's "unhandled KeyboardInterrupt" mark. CPython 3.12 sets that mark when a
    KeyboardInterrupt leaves code run from a string (`exec`/`eval` of source text, as `namedtuple` and
    `dataclasses` do while a module is imported), even if a caller then catches it; under `python -m`
    the interpreter then ends by killing itself with SIGINT instead of exiting with the command's 130.
    Every string `exec` clears the mark when it starts, so one harmless `exec` here does it.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    exec("pass", {})   # noqa: S102  (a constant: resets the mark described above)


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT while starting worker processes, which inherit the ignored disposition.

    Use it only around the moment of starting them (milliseconds): a Ctrl-C in that moment is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def first_interrupt_only() -> Iterator[None]:
    """Inside: the first Ctrl-C raises KeyboardInterrupt and ignores further ones at once, in the signal
    handler itself, so that a second SIGINT (`uv run` forwards each one, a user presses twice) cannot land
    in the clean-up before the `except` clause calls `quiet_second_interrupt` (it did, in sqlite's
    connection close during a calibration's clean-up). The previous handler is restored on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is first:
            signal.signal(signal.SIGINT, previous)
