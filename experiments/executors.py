"""Executors (実行環境): where a sweep's runs execute, behind the `concurrent.futures.Executor` interface.

* ``serial``: in this process, one run at a time (Numba uses all its threads).
* ``processes`` (default): a local process pool started with ``spawn`` (never ``fork``: forking
  after Numba's OpenMP ran crashes), one run per worker and one Numba thread per worker.
* ``dask``: a Dask distributed cluster. ``scheduler="tcp://host:8786"`` connects to a running one
  (dask-jobqueue on SLURM/PBS, dask-kubernetes, ``dask scheduler`` + ``dask worker``); without an
  address a `LocalCluster` of worker processes starts on 127.0.0.1.

Any other `Executor` works too (e.g. ``mpi4py.futures.MPIPoolExecutor``): pass it to
`experiments.sweep.run_sweep` with the number of runs it should hold at once.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from model.parameters import ScenarioError

EXECUTORS = ("serial", "processes", "dask")


class SerialExecutor(Executor):
    """Runs each task in the calling process when it is submitted (a finished Future comes back)."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future = Future()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001  (a KeyboardInterrupt must still stop the sweep)
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


def worker_setup(numba_threads: int = 1, warm: bool = True) -> None:
    """Prepare a worker process: Numba thread count, then import the model and, with `warm`, run a
    tiny model for one step so that the kernel is loaded from Numba's on-disk cache (no worker
    compiles it again) before the first real run is timed."""
    os.environ["NUMBA_NUM_THREADS"] = str(numba_threads)
    if "numba" in sys.modules:
        import numba

        try:  # the thread pool has not started in a fresh worker: make the new count stick
            numba.config.reload_config()
        except RuntimeError:  # it has (a long-lived remote worker): limit each task instead
            pass
    _restore_malloc_thresholds()
    import model  # noqa: F401

    if warm:
        _warm_up()


def _restore_malloc_thresholds() -> None:
    """Undo Dask's MALLOC_TRIM_THRESHOLD_ in a worker (glibc): setting it turns off glibc's dynamic
    mmap threshold, so every large NumPy temporary is mmap'ed and unmapped again, which made
    Kankei runs about 2× slower (benchmarks/README.md). This sets the thresholds glibc would have
    adapted to by itself (mmap 32 MiB, trim 64 MiB)."""
    if not (os.environ.get("MALLOC_TRIM_THRESHOLD_") or os.environ.get("MALLOC_MMAP_THRESHOLD_")):
        return
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2 ** 20)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 2 ** 20)   # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _warm_up() -> None:
    try:
        from model import RelationModel

        RelationModel(rng=0, **{"run.people_per_agent": 200_000, "run.horizon_years": 1 / 12}).run()
    except Exception:  # noqa: BLE001  (a broken model shows up in the first real run, with its traceback)
        pass


@dataclass
class ExecutorHandle:
    """An executor with what the runner needs to know about it."""

    executor: Executor
    kind: str
    workers: int
    numba_threads: int | None   # Numba threads per run (None: leave the process's setting)
    description: str
    slots: Callable[[], int]    # how many runs to keep in flight

    def in_flight(self) -> int:
        return max(1, self.slots())


def default_workers() -> int:
    """Usable cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _ready(pause: float) -> int:
    time.sleep(pause)
    return os.getpid()


def _start_workers(pool: ProcessPoolExecutor, n: int, numba_threads: int, timeout: float = 120.0) -> None:
    """Start every worker (spawn, initializer, model import) before the first run is timed.

    The workers inherit NUMBA_NUM_THREADS from this process's environment while they start (they
    may import Numba before the initializer runs); the environment is put back afterwards.
    """
    saved = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = str(numba_threads)
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < n and time.monotonic() < deadline:
            seen.update(f.result() for f in [pool.submit(_ready, 0.05) for _ in range(n)])
    finally:
        if saved is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = saved


@contextmanager
def open_executor(kind: str = "processes", workers: int | None = None, scheduler: str | None = None,
                  numba_threads: int = 1) -> Iterator[ExecutorHandle]:
    """Start (and afterwards stop) an executor of `kind`; yields an `ExecutorHandle`."""
    if kind not in EXECUTORS:
        raise ScenarioError("--executor", kind, f"unknown executor; allowed: {', '.join(EXECUTORS)}")
    if scheduler and kind != "dask":
        raise ScenarioError("--scheduler", scheduler, "a scheduler address needs --executor dask")
    if kind == "serial":
        yield ExecutorHandle(SerialExecutor(), "serial", 1, None, "serial (in this process)", lambda: 1)
        return
    if kind == "processes":
        n = workers or default_workers()
        pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"), initializer=worker_setup,
                                   initargs=(numba_threads,))
        try:
            _start_workers(pool, n, numba_threads)
            yield ExecutorHandle(pool, "processes", n, numba_threads,
                                 f"{n} worker process(es), {numba_threads} Numba thread(s) each", lambda: 2 * n)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    with _dask(workers, scheduler, numba_threads) as handle:
        yield handle


def _numba_plugin(numba_threads: int) -> Any:
    """A Dask worker plugin running `worker_setup` on every worker, present and future."""
    from distributed import WorkerPlugin

    class NumbaWorkerSetup(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            worker_setup(numba_threads)

    return NumbaWorkerSetup()


@contextmanager
def _dask(workers: int | None, scheduler: str | None, numba_threads: int) -> Iterator[ExecutorHandle]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ScenarioError("--executor", "dask", f"dask.distributed is not installed: {exc}") from None
    cluster = None
    if scheduler:
        if workers:
            raise ScenarioError("--workers", str(workers), "with --scheduler the cluster decides its workers")
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ScenarioError("--scheduler", scheduler, f"cannot reach the Dask scheduler: {exc}") from None
        where = f"Dask cluster at {scheduler}"
    else:
        import dask

        n = workers or default_workers()
        # Workers read NUMBA_NUM_THREADS when they import Numba, which may be before the nanny's `env`
        # applies, so it goes in the pre-spawn environment. Dask writes that into this process's
        # os.environ for good; the previous environment is put back once the workers have started.
        saved = dict(os.environ)
        pre_spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
                     "NUMBA_NUM_THREADS": str(numba_threads)}
        try:
            # no statistical profiler in the workers: it samples the running task every 10 ms
            with dask.config.set({"distributed.nanny.pre-spawn-environ": pre_spawn,
                                  "distributed.worker.profile.enabled": False}):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, env={"NUMBA_NUM_THREADS": str(numba_threads)})
        finally:
            os.environ.clear()
            os.environ.update(saved)
        client = Client(cluster)
        where = f"Dask LocalCluster, {n} worker process(es) × 1 thread at {cluster.scheduler_address}"
    try:
        client.register_plugin(_numba_plugin(numba_threads), name="kankei-numba-setup")

        cache = {"at": 0.0, "slots": 2}

        def slots() -> int:   # the cluster may grow or shrink (adaptive scaling): look again every 2 s
            now = time.monotonic()
            if now - cache["at"] > 2.0:
                cache["slots"] = 2 * max(1, sum(client.nthreads().values()))
                cache["at"] = now
            return cache["slots"]

        yield ExecutorHandle(client.get_executor(pure=False), "dask", sum(client.nthreads().values()),
                             numba_threads, where, slots)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
