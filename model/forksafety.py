"""Fork safety (フォーク対策): a process forked after the kernel's threads started fails clearly.

Numba's OpenMP thread pool does not survive `fork()`: a child forked after the parent ran the
parallel kernel waits forever for threads that no longer exist (this is what EMA Workbench's
`MultiprocessingEvaluator` does on Linux when a model has already run in the notebook). Start
worker processes with ``spawn`` instead (`multiprocessing.set_start_method("spawn")`, or
``multiprocessing.get_context("spawn")``); Kankei's own process pool always does.

`register()` installs an at-fork hook: in such a child, `model.kernel.advance` is replaced by a
function that raises `ForkedAfterThreadsError` with that advice, instead of hanging.
"""

from __future__ import annotations

import os

MESSAGE = ("this process was forked after the Numba kernel had started its threads in the parent, "
           "and the kernel would hang here. Start worker processes with 'spawn' instead of 'fork', e.g. "
           "multiprocessing.set_start_method('spawn') before creating the pool (EMA Workbench: "
           "call it before MultiprocessingEvaluator), or use `kankei sweep`, whose workers are spawned")


class ForkedAfterThreadsError(RuntimeError):
    """The kernel was called in a child forked after the parent started Numba's thread pool."""


def _refuse(*args, **kwargs):
    raise ForkedAfterThreadsError(MESSAGE)


def _after_fork_in_child() -> None:
    import sys

    parallel = sys.modules.get("numba.np.ufunc.parallel")   # never import anything new in a fork
    kernel = sys.modules.get("model.kernel")
    if kernel is not None and parallel is not None and getattr(parallel, "_is_initialized", False):
        kernel.advance = _refuse


_registered = False


def register() -> None:
    """Install the at-fork hook (once per process)."""
    global _registered
    if not _registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _registered = True
