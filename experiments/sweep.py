"""The sweep runner (スイープ実行): every run of a plan, on any executor, into a resumable store.

`run_sweep(plan, directory, handle)` submits the runs that are not finished yet to an executor
(anything with the `concurrent.futures.Executor` interface), keeps a bounded number in flight, and
writes each result as it arrives. A run that raises is recorded as failed, with its traceback, and
the sweep goes on. Workers compute and encode a run's Parquet file and return its bytes; only this
process writes into the sweep folder, so files are never half-written and never written twice.

`execute(task)` is the unit of work: it runs one `RelationModel` (or a function model) and returns
a `RunResult`; it never raises.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from experiments.spec import Plan, PlannedRun
from experiments.store import SweepStore, encode_results, file_checksum


@dataclass(frozen=True)
class RunTask:
    """What a worker receives for one run (small: the validated scenario, not the data)."""

    planned: PlannedRun               # run id, design point, replication, seed, parameters, hash
    model: str                        # 'kankei' or a function model
    scenario: Any                     # KankeiScenario for 'kankei', else None
    keep: tuple[str, ...]
    by_region: bool
    outcomes: tuple[str, ...] | None
    types: dict[str, str]
    numba_threads: int | None = None


@dataclass
class RunResult:
    """What a worker returns: the run-table row, the Parquet bytes (ok runs) and the outcomes."""

    run: int
    status: str                       # 'ok' or 'failed'
    row: dict[str, Any]
    payload: bytes | None = None
    outcomes: dict[str, float] = field(default_factory=dict)


# --- provenance, once per worker process ---------------------------------------------------------
@lru_cache(maxsize=1)
def _provenance() -> tuple[str, str]:
    import json

    from experiments.provenance import code_version, package_versions

    return code_version(), json.dumps(package_versions(), sort_keys=True)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def numba_compiles() -> int:
    """Kernel compilations (Numba cache misses) in this process so far; 0 when all came from the cache."""
    kernel = sys.modules.get("model.kernel")
    if kernel is None:
        return 0
    total = 0
    for obj in vars(kernel).values():
        stats = getattr(obj, "stats", None)
        if stats is not None and hasattr(stats, "cache_misses"):
            total += int(sum(stats.cache_misses.values()))
    return total


def _row(task: RunTask, status: str, wall: float, started: str, error: str | None = None) -> dict[str, Any]:
    code, packages = _provenance()
    r = task.planned
    return {"run": r.run, "point": r.point, "rep": r.rep, "seed": r.seed, **r.params,
            "status": status, "wall_seconds": round(wall, 4), "started": started, "worker": _worker_id(),
            "code_version": code, "parameter_hash": r.param_hash, "packages": packages,
            "numba_compiles": numba_compiles(), "error": error}


# --- one run -------------------------------------------------------------------------------------
def simulate(task: RunTask):
    """Run the Kankei model of one task to its horizon; returns the finished `RelationModel`."""
    from model import RelationModel

    if task.numba_threads:
        import numba

        numba.set_num_threads(min(task.numba_threads, numba.config.NUMBA_NUM_THREADS))
    model = RelationModel(scenario=task.scenario, rng=task.planned.seed)
    model.run()
    return model


def execute(task: RunTask) -> RunResult:
    """Run one task and encode its results; any exception becomes a failed result with its traceback."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    try:
        if task.model == "kankei":
            from experiments.outcomes import records

            model = simulate(task)
            frame, values = records(model, list(task.keep), task.by_region, list(task.outcomes or []) or None)
        else:
            from experiments.outcomes import Records, summary
            from experiments.spec import resolve_function

            returned = resolve_function(task.model)(dict(task.planned.params), task.planned.seed)
            values = {k: float(v) for k, v in returned.items() if not task.outcomes or k in task.outcomes}
            frame = Records([summary(values)])
        wall = time.perf_counter() - t0
        row = _row(task, "ok", wall, started)
        payload = encode_results(frame, row, task.planned.params, task.types, row)
        return RunResult(task.planned.run, "ok", row, payload, values)
    except Exception:  # noqa: BLE001  (recorded, the sweep goes on)
        wall = time.perf_counter() - t0
        return RunResult(task.planned.run, "failed", _row(task, "failed", wall, started, traceback.format_exc()))


def failed_result(task: RunTask, exc: BaseException) -> RunResult:
    """A failed result for a task whose future raised (worker died, could not pickle, ...)."""
    text = "".join(traceback.format_exception(exc))
    row = _row(task, "failed", 0.0, "", f"the executor lost the run: {text}")
    row["worker"] = ""
    return RunResult(task.planned.run, "failed", row)


def make_tasks(plan: Plan, runs: list[PlannedRun], types: dict[str, str], numba_threads: int | None) -> list[RunTask]:
    """Tasks for the given runs of a plan."""
    spec = plan.spec
    outcomes = tuple(spec.outputs.outcomes) if spec.outputs.outcomes else None
    return [RunTask(planned=r, model=spec.model, scenario=plan.scenario_of(r), keep=tuple(spec.outputs.keep),
                    by_region=spec.outputs.by_region, outcomes=outcomes, types=types,
                    numba_threads=numba_threads) for r in runs]


# --- the sweep -----------------------------------------------------------------------------------
@dataclass
class SweepReport:
    """What a sweep session did."""

    directory: Path
    planned: int
    already_done: int
    skipped_failed: int = 0
    ok: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)
    interrupted: bool = False
    executor: str = ""
    worker_deaths: int = 0
    damaged: list[int] = field(default_factory=list)   # finished runs whose files were damaged: run again

    @property
    def remaining(self) -> int:
        """Runs without a result after this session (failed or never run)."""
        return self.planned - self.already_done - self.ok

    @property
    def complete(self) -> bool:
        """Every planned run has its result."""
        return self.remaining == 0

    @property
    def runs_per_minute(self) -> float:
        done = self.ok + self.failed
        return 60.0 * done / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"planned": self.planned, "already_done": self.already_done, "skipped_failed": self.skipped_failed,
                "ok": self.ok, "failed": self.failed,
                "wall_seconds": round(self.wall_seconds, 3), "runs_per_minute": round(self.runs_per_minute, 2),
                "interrupted": self.interrupted, "executor": self.executor,
                "worker_deaths": self.worker_deaths, "damaged_runs": self.damaged,
                "failed_runs": [r for r, _ in self.failures]}


class Progress:
    """Callbacks the runner reports to (the CLI's progress bar); the default does nothing."""

    def start(self, total: int, already_done: int) -> None: ...

    def update(self, result: RunResult) -> None: ...

    def close(self) -> None: ...


class TqdmProgress(Progress):
    """A progress bar: runs done, failed, and the estimated time left."""

    def __init__(self, name: str, disable: bool = False) -> None:
        self.name = name
        self.disable = disable
        self.bar = None
        self.failed = 0

    def start(self, total: int, already_done: int) -> None:
        from tqdm import tqdm

        desc = self.name + (f" ({already_done} done before)" if already_done else "")
        self.bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=self.disable or None,
                        dynamic_ncols=True)
        self.bar.set_postfix_str("failed=0", refresh=False)

    def update(self, result: RunResult) -> None:
        if result.status != "ok":
            self.failed += 1
            self.bar.set_postfix_str(f"failed={self.failed}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


MAX_WORKER_DEATHS = 2   # a run that kills its worker this many times (running alone) is recorded as failed


def run_sweep(plan: Plan, directory: str | Path, handle, *, resume: bool = False, retry_failed: bool = True,
              progress: Progress | None = None, spec_text: str | None = None, durable: bool = True,
              task_fn: Callable[[RunTask], RunResult] = execute,
              max_worker_deaths: int = MAX_WORKER_DEATHS) -> SweepReport:
    """Run every unfinished run of `plan` on `handle` (an `ExecutorHandle`) into the store at `directory`.

    Finished runs (their result file exists and matches its checksum) are skipped; failed runs are
    run again unless `retry_failed` is false. When a worker process dies (a local pool), the pool
    is replaced and the runs that were in flight are run again one at a time: a run that kills its
    worker `max_worker_deaths` times on its own is recorded as failed with the signal, the others
    go on as if nothing happened. On KeyboardInterrupt the runs in flight are abandoned,
    everything finished stays, and the interrupt propagates after the report is recorded.
    """
    from experiments.interrupts import quiet_second_interrupt

    progress = progress or Progress()
    if spec_text is None and plan.spec_path and Path(plan.spec_path).is_file():
        spec_text = Path(plan.spec_path).read_text(encoding="utf-8")
    store = SweepStore(directory, durable=durable)
    state = store.open(plan, resume=resume, spec_text=spec_text)
    try:
        skip = set(state["finished"]) | (set() if retry_failed else set(state["failed"]))
        todo = [r for r in plan.runs if r.run not in skip]
        report = SweepReport(Path(directory), len(plan.runs), len(state["finished"]), executor=handle.description,
                             damaged=list(state.get("damaged", [])))
        if not retry_failed:
            report.skipped_failed = len(state["failed"])
        queue = _Queue(make_tasks(plan, todo, store.types, handle.numba_threads))
        in_flight: dict[Future, RunTask] = {}
        deaths: dict[int, int] = {}
        start = time.perf_counter()
        progress.start(len(todo), len(state["finished"]))
        completed = False
        try:
            queue.fill(handle, in_flight, task_fn)
            while in_flight:
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                lost: list[tuple[RunTask, BaseException]] = []
                for fut in done:
                    _collect(fut, in_flight.pop(fut), handle, store, report, progress, lost)
                if lost:   # the pool broke: every other run in flight fails with it (or has just finished)
                    rest, _ = wait(list(in_flight), timeout=60)
                    for fut in rest:
                        _collect(fut, in_flight.pop(fut), handle, store, report, progress, lost)
                    for fut, task in in_flight.items():
                        fut.cancel()
                        lost.append((task, BrokenProcessPool("the executor did not report this run")))
                    in_flight.clear()
                    death = handle.replace_pool()
                    report.worker_deaths += 1
                    queue.broken = False
                    if len(lost) == 1:   # it ran alone: it killed its worker
                        task = lost[0][0]
                        deaths[task.planned.run] = deaths.get(task.planned.run, 0) + 1
                        if deaths[task.planned.run] >= max_worker_deaths:
                            result = crashed_result(task, death, deaths[task.planned.run])
                            _record(store, result, report)
                            progress.update(result)
                        else:
                            queue.suspects.appendleft(task)
                    else:
                        queue.suspects.extend(task for task, _ in lost)
                queue.fill(handle, in_flight, task_fn)
                if queue.broken:
                    if not in_flight:     # the pool broke with nothing in flight: who killed it is unknown
                        handle.replace_pool()
                        report.worker_deaths += 1
                        queue.broken = False
                        queue.fill(handle, in_flight, task_fn)
            completed = True
        except KeyboardInterrupt:
            quiet_second_interrupt()
            report.interrupted = True
            for fut in in_flight:
                fut.cancel()
            raise
        finally:
            report.wall_seconds = time.perf_counter() - start
            progress.close()
            try:
                store.finish({"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **report.as_dict()})
            except OSError:
                if completed:         # else the error that stopped the sweep (e.g. a full disk) is the news
                    raise
    finally:
        store.close()
    return report


class _Queue:
    """Runs still to submit: suspects (in flight when a worker died) go first, one at a time."""

    def __init__(self, tasks: list[RunTask]) -> None:
        self.tasks = iter(tasks)
        self.returned: deque[RunTask] = deque()   # taken, but the pool broke before they were submitted
        self.suspects: deque[RunTask] = deque()
        self.broken = False                       # a submit found the pool broken

    def fill(self, handle, in_flight: dict, task_fn) -> None:
        if self.suspects:
            if not in_flight:
                self._submit(handle, in_flight, task_fn, self.suspects)
            return
        while len(in_flight) < handle.in_flight() and not self.broken:
            if not self.returned:
                task = next(self.tasks, None)
                if task is None:
                    return
                self.returned.append(task)
            self._submit(handle, in_flight, task_fn, self.returned)

    def _submit(self, handle, in_flight: dict, task_fn, source: deque) -> None:
        try:
            in_flight[handle.submit(task_fn, source[0])] = source[0]
        except BrokenProcessPool:
            if handle.pool is None:
                raise
            self.broken = True                    # the runs in flight will report it; else replace now
        else:
            source.popleft()


def _collect(fut: Future, task: RunTask, handle, store: SweepStore, report: SweepReport, progress: Progress,
             lost: list) -> None:
    """Record a finished future; a run lost with its worker goes to `lost` instead."""
    try:
        result = fut.result()
    except Exception as exc:  # noqa: BLE001  (the executor lost it: record and go on)
        if handle.lost_worker(exc):
            lost.append((task, exc))
            return
        result = failed_result(task, exc)
    _record(store, result, report)
    progress.update(result)


def crashed_result(task: RunTask, death: str, times: int) -> RunResult:
    """A failed result for a run whose worker process died every time it ran (alone)."""
    row = _row(task, "failed", 0.0, "", f"WorkerDied: the worker process running this run died {times} time(s) "
                                        f"while it ran alone ({death}); recorded as failed")
    row["worker"] = ""
    return RunResult(task.planned.run, "failed", row)


def _record(store: SweepStore, result: RunResult, report: SweepReport) -> None:
    if result.status == "ok" and result.payload is not None:
        store.write_result(result.run, result.payload)
        store.write_row({**result.row, **file_checksum(result.payload)})
        report.ok += 1
    else:
        store.write_row(result.row)
        report.failed += 1
        last = (result.row.get("error") or "").strip().splitlines()
        report.failures.append((result.run, last[-1] if last else "failed"))
