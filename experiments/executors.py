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

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from experiments.interrupts import ignore_interrupts, interrupts_ignored
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
        warm_up()


def pool_worker_setup(numba_threads: int = 1, warm: bool = True) -> None:
    """`worker_setup` for a local pool's worker, which also ignores SIGINT: Ctrl-C is the main
    process's business (experiments.interrupts)."""
    ignore_interrupts()
    worker_setup(numba_threads, warm)


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


def warm_up() -> None:
    """Run a tiny model for one step: loads the kernel from Numba's cache (or compiles it)."""
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
    pool: "ProcessPool | None" = None   # a local process pool that can be replaced when a worker dies

    def in_flight(self) -> int:
        return max(1, self.slots())

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Submit one task."""
        return self.executor.submit(fn, *args)

    def lost_worker(self, exc: BaseException) -> bool:
        """Did this task's future fail because its worker process died (and can the pool be replaced)?"""
        return self.pool is not None and isinstance(exc, BrokenProcessPool)

    def replace_pool(self) -> str:
        """Replace a broken process pool with a fresh one; returns how the dead worker(s) ended."""
        assert self.pool is not None
        death = self.pool.replace()
        self.executor = self.pool.executor
        return death


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
            with interrupts_ignored():   # the workers start here and inherit the ignored SIGINT
                futures = [pool.submit(_ready, 0.05) for _ in range(n)]
            seen.update(f.result() for f in futures)
    finally:
        if saved is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = saved


def signal_text(exitcode: int | None) -> str:
    """How a worker process ended, from its exit code: 'killed by SIGKILL', 'exit status 1', ..."""
    import signal

    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


class ProcessPool:
    """A spawn `ProcessPoolExecutor` whose workers are started up front and which can be replaced
    when a worker dies (an out-of-memory kill, a segfault): the runner then retries the runs."""

    def __init__(self, workers: int, numba_threads: int, warm: bool = True) -> None:
        self.workers = workers
        self.numba_threads = numba_threads
        self.warm = warm
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                   initializer=pool_worker_setup, initargs=(self.numba_threads, self.warm))
        _start_workers(pool, self.workers, self.numba_threads)
        # the worker processes, kept to read how one ended and to stop them on Ctrl-C
        self.processes = dict(getattr(pool, "_processes", None) or {})
        return pool

    def replace(self) -> str:
        """Start a fresh pool in place of a broken one; returns how its dead worker(s) ended."""
        old, processes = self.executor, self.processes
        old.shutdown(wait=False, cancel_futures=True)
        for p in processes.values():
            p.join(timeout=10)
        # the pool terminates (SIGTERM) its other workers once one died: report the others first
        ends = sorted(((p.exitcode, pid) for pid, p in processes.items()), key=lambda e: e[0] == -15)
        death = "; ".join(f"worker {pid} {signal_text(code)}" for code, pid in ends[:1]) or "a worker died"
        self.executor = self._start()
        return death

    def stop(self) -> None:
        """Stop at once: kill the workers (runs in flight are abandoned) and let the pool go."""
        for p in self.processes.values():
            if p.is_alive():
                p.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for p in self.processes.values():
            p.join(timeout=5)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def open_executor(kind: str = "processes", workers: int | None = None, scheduler: str | None = None,
                  numba_threads: int = 1, warm: bool = True) -> Iterator[ExecutorHandle]:
    """Start (and afterwards stop) an executor of `kind`; yields an `ExecutorHandle`.

    `warm`: each pool worker loads the Kankei kernel before the first run (not needed for
    function models)."""
    if kind not in EXECUTORS:
        raise ScenarioError("--executor", kind, f"unknown executor; allowed: {', '.join(EXECUTORS)}")
    if scheduler and kind != "dask":
        raise ScenarioError("--scheduler", scheduler, "a scheduler address needs --executor dask")
    if kind == "serial":
        yield ExecutorHandle(SerialExecutor(), "serial", 1, None, "serial (in this process)", lambda: 1)
        return
    if kind == "processes":
        n = workers or default_workers()
        pool = ProcessPool(n, numba_threads, warm)
        try:
            yield ExecutorHandle(pool.executor, "processes", n, numba_threads,
                                 f"{n} worker process(es), {numba_threads} Numba thread(s) each", lambda: 2 * n,
                                 pool=pool)
        except BaseException:
            pool.stop()           # Ctrl-C or an error: do not wait for the runs in flight
            raise
        else:
            pool.shutdown()
        return
    with _dask(workers, scheduler, numba_threads) as handle:
        yield handle


def _numba_plugin(numba_threads: int, local: bool) -> Any:
    """A Dask worker plugin running `worker_setup` on every worker, present and future; the
    workers of a local cluster also ignore SIGINT (Ctrl-C is this process's business)."""
    from distributed import WorkerPlugin

    class NumbaWorkerSetup(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            if local:
                ignore_interrupts()
                # runs cancelled by a Ctrl-C of the sweep end with CancelledError: not worth a warning
                logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
            worker_setup(numba_threads)

    return NumbaWorkerSetup()


@contextmanager
def dask_client(workers: int | None, scheduler: str | None, numba_threads: int = 1) -> Iterator[tuple[Any, str]]:
    """A Dask client, on the cluster at `scheduler` or on a new LocalCluster of `workers` processes
    × 1 thread, with `numba_threads` Numba threads per worker and no statistical profiler; yields
    (client, description) and closes both."""
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
        client.register_plugin(_numba_plugin(numba_threads, local=cluster is not None), name="kankei-numba-setup")
        yield client, where
    except KeyboardInterrupt:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)   # Ctrl-C: close quietly
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def _dask(workers: int | None, scheduler: str | None, numba_threads: int) -> Iterator[ExecutorHandle]:
    with dask_client(workers, scheduler, numba_threads) as (client, where):
        cache = {"at": 0.0, "slots": 2}

        def slots() -> int:   # the cluster may grow or shrink (adaptive scaling): look again every 2 s
            now = time.monotonic()
            if now - cache["at"] > 2.0:
                cache["slots"] = 2 * max(1, sum(client.nthreads().values()))
                cache["at"] = now
            return cache["slots"]

        yield ExecutorHandle(client.get_executor(pure=False), "dask", sum(client.nthreads().values()),
                             numba_threads, where, slots)


_warm_up = warm_up   # the name benchmarks/bench_sweep.py imports
