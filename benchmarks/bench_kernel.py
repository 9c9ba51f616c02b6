"""Kankei performance benchmark: Numba kernel vs full model step vs plain Mesa, in one process.

    uv run python benchmarks/bench_kernel.py [--people-per-agent 100] [--steps 24] ...

Measures (best of several repeats; other work on the machine only ever makes a run slower):

1. `kernel.advance` alone on the default scenario (~1.05 M agents at people_per_agent=100), called
   with exactly the arguments `RelationModel.step` passes, with NUMBA_NUM_THREADS threads and with 1;
2. the full `RelationModel.step()` (kernel + new adults + tallies + History + DataCollector);
3. a plain-Mesa implementation of the same per-person work (`benchmarks/plain_mesa.py`) on a
   random subset of the same people;
4. the ratios, 5. bytes of person state per agent, 6. a fresh-process cache check;

then prints a PASS/FAIL table against the targets. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np

# targets of the open issues (kernel interface; surveys; levers that treat people), at ~1.05 M agents
TARGET_KERNEL = 150e6      # agent-steps/s, kernel alone with NUMBA_NUM_THREADS threads
TARGET_FULL = 100e6        # agent-steps/s, full model.step()
TARGET_RATIO = 150.0       # full step × plain Mesa in the same run (the kernel row is shown against it too)
TARGET_BYTES = 48.0        # bytes of person state per living agent (allocated; at the start and at the horizon)
HORIZON_PPA = 500.0        # people per agent of the whole run that measures memory at the horizon
TARGET_FIRST_CALL = 1.0    # s, first Numba call plus first advance() call in a fresh process (cache hit)
BUSY_CORES = 0.15          # other processes above this many cores during a best repeat: flag the number

# --- the kernel's arguments, exactly as RelationModel.step builds them --------------------------
def prepare_inputs(model, k: int) -> None:
    """What RelationModel.step does before calling the kernel (fold the levers in force, ration)."""
    model.prepare_step(k)


def kernel_args(model, k: int, people=None, tallies=None, ration=None) -> tuple:
    """`RelationModel.kernel_arguments(k)`, with a subset's people, tallies or rationing substituted.
    Call `prepare_inputs(model, k)` first."""
    people_, region, programmes, tables, scalars, step, tallies_ = model.kernel_arguments(k)
    return (people_ if people is None else people, region if ration is None else region._replace(ration=ration),
            programmes, tables, scalars, step, tallies_ if tallies is None else tallies)


def subset(people, ids: np.ndarray):
    """The kernel's person arrays for the slots `ids` (copies)."""
    from model.kernel import PersonArrays
    arrays = people.arrays()
    return PersonArrays(*(np.ascontiguousarray(getattr(arrays, f)[ids]) for f in PersonArrays._fields))


def dispatcher_stats(module) -> dict[str, tuple[int, int]]:
    """(cache hits, cache misses) of every Numba dispatcher in `module` that has loaded or compiled."""
    out = {}
    for name, obj in vars(module).items():
        st = getattr(obj, "stats", None)
        if st is not None and hasattr(st, "cache_hits"):
            hits, misses = int(sum(st.cache_hits.values())), int(sum(st.cache_misses.values()))
            if hits or misses:
                out[name] = (hits, misses)
    return out


def fmt_stats(stats: dict) -> str:
    return ", ".join(f"{k} {h} hit/{m} miss" for k, (h, m) in stats.items()) or "none"


# --- state snapshots -------------------------------------------------------------------------------
def snapshot(model) -> dict[str, np.ndarray]:
    from model.kernel import PersonArrays
    p = model.people
    snap = {f: getattr(p, f).copy() for f in PersonArrays._fields}
    snap["_n"] = p.n
    snap["_tallies"] = tuple(a.copy() for a in model.tallies)
    return snap


def restore(model, snap) -> None:
    from model.kernel import PersonArrays
    p = model.people
    for f in PersonArrays._fields:
        getattr(p, f)[...] = snap[f]
    p.n = snap["_n"]
    for a, b in zip(model.tallies, snap["_tallies"]):
        a[...] = b


# --- measurements ----------------------------------------------------------------------------------
def _summary(runs: list[tuple[float, int, list[float], float | None]]) -> dict:
    """Best repeat (least total time) plus per-step statistics; `best_steps` is Σ_j min over repeats of step j."""
    secs, agent_steps, per_step, other = min(runs, key=lambda r: r[0])
    best_steps = float(np.sum(np.min(np.array([r[2] for r in runs]), axis=0)))
    return {"secs": secs, "agent_steps": agent_steps, "rate": agent_steps / secs, "other": other,
            "rate_best_steps": agent_steps / best_steps, "all": [r[0] for r in runs],
            "min_step": min(per_step), "median_step": float(np.median(per_step)), "max_step": max(per_step),
            "alive": agent_steps / len(per_step)}


def time_kernel(model, kernel, numba, snap, k0: int, steps: int, repeats: int, thread_counts: list[int],
                budget: float) -> dict[int, dict]:
    """`steps` kernel calls from the same state, repeated; thread counts interleaved; best repeat kept.

    Stops repeating once `budget` seconds have passed (after at least one repeat of each).
    """
    runs: dict[int, list] = {nt: [] for nt in thread_counts}
    t0, w0 = time.perf_counter(), QUIET.waited
    for _ in range(repeats):
        for nt in thread_counts:
            numba.set_num_threads(nt)
            restore(model, snap)
            QUIET()
            meter = CpuMeter()
            secs, agent_steps, per_step = 0.0, 0, []
            for j in range(steps):
                prepare_inputs(model, k0 + j)             # inputs prepared outside the timer
                args = kernel_args(model, k0 + j)
                alive = int(model.counts_by_home.sum())   # living at the start of the step
                t = time.perf_counter()
                kernel.advance(*args)
                dt = time.perf_counter() - t
                secs += dt
                per_step.append(dt)
                agent_steps += alive
            runs[nt].append((secs, agent_steps, per_step, meter.other_cores()))
        if time.perf_counter() - t0 - (QUIET.waited - w0) > budget:
            break
    numba.set_num_threads(max(thread_counts))
    restore(model, snap)
    return {nt: _summary(r) for nt, r in runs.items()}


def time_full(RelationModel, kernel, overrides: dict, steps: int, repeats: int, budget: float) -> dict:
    """`steps` model.step() calls after one warm-up step, each repeat on a fresh model; best repeat kept.

    `kernel.advance` is wrapped by a timer for the duration, so the time spent inside the kernel
    during model.step() is measured too (`in_kernel`: seconds in the best repeat).
    """
    runs, in_kernel = [], []
    real = kernel.advance
    calls: list[float] = []

    def timed_advance(*args):
        t = time.perf_counter()
        real(*args)
        calls.append(time.perf_counter() - t)

    t0, w0 = time.perf_counter(), QUIET.waited
    kernel.advance = timed_advance  # RelationModel.step looks kernel.advance up at call time
    try:
        for _ in range(repeats):
            m = RelationModel(scenario=SCENARIO, rng=1, **overrides)
            m.step()  # warm-up (step index 0), like the kernel measurement
            QUIET()
            meter = CpuMeter()
            calls.clear()
            secs, agent_steps, per_step = 0.0, 0, []
            for _ in range(steps):
                alive = m.n_alive
                t = time.perf_counter()
                m.step()
                dt = time.perf_counter() - t
                secs += dt
                per_step.append(dt)
                agent_steps += alive
            runs.append((secs, agent_steps, per_step, meter.other_cores()))
            in_kernel.append(sum(calls))
            del m
            if time.perf_counter() - t0 - (QUIET.waited - w0) > budget:
                break
    finally:
        kernel.advance = real
    out = _summary(runs)
    out["in_kernel"] = in_kernel[int(np.argmin([r[0] for r in runs]))]
    return out


def time_plain(PlainRelationModel, model, ids: np.ndarray, k0: int, steps: int, repeats: int) -> dict:
    """Best-of-`repeats` time of `steps` plain-Mesa steps; each repeat builds the agents afresh."""
    runs = []
    for r in range(repeats):
        t = time.perf_counter()
        pm = PlainRelationModel(model, ids, first_step=k0, seed=r)
        build = time.perf_counter() - t
        QUIET()
        meter = CpuMeter()
        secs, agent_steps = 0.0, 0
        flows = np.zeros((model.table.n, len(pm.flows[0])), dtype=np.int64)
        for _ in range(steps):
            alive = len(pm.agents)
            t = time.perf_counter()
            pm.step()
            secs += time.perf_counter() - t
            agent_steps += alive
            flows += np.asarray(pm.flows)
        by_home = np.asarray(pm.by_home)
        runs.append((secs, agent_steps, build, flows, by_home, meter.other_cores()))
        del pm
    secs, agent_steps, build, flows, by_home, other = min(runs, key=lambda x: x[0])
    return {"secs": secs, "agent_steps": agent_steps, "rate": agent_steps / secs, "build": build, "other": other,
            "all": [x[0] for x in runs], "flows": flows, "by_home": by_home}


def kernel_on_subset(model, kernel, snap, ids: np.ndarray, k0: int, steps: int) -> dict:
    """The kernel on the same subset as plain Mesa (for a side-by-side check of the flows)."""
    restore(model, snap)
    sub = subset(model.people, ids)
    alive = int(np.count_nonzero(model.people.stage[: model.people.n] != kernel.DEAD))
    share = len(ids) / alive
    R = model.table.n
    out = kernel.Tallies.zeros(R, len(model.levers.slots))
    kernel.tally(sub, out.by_target, out.by_home)  # the stocks are counted once, then kept up to date
    demand = model.tallies.demand * share
    flows = np.zeros((R, kernel.N_FLOWS), dtype=np.int64)
    for j in range(steps):
        prepare_inputs(model, k0 + j)
        cap = model.inputs.capacity * share
        with np.errstate(divide="ignore", invalid="ignore"):
            ration = np.minimum(np.where(demand > 0, cap / demand, 1.0), 1.0)
        kernel.advance(*kernel_args(model, k0 + j, people=sub, tallies=out, ration=ration))
        flows += out.flows
        demand = out.demand.astype(float)
    return {"flows": flows, "by_home": out.by_home.copy()}


def memory(model, kernel) -> dict:
    """Bytes of person state: per slot (Σ itemsize), allocated and used arrays per living agent."""
    p = model.people
    arrays = {k: v for k, v in vars(p).items() if isinstance(v, np.ndarray) and v.ndim == 1}
    n = p.n
    alive = int(np.count_nonzero(p.stage[:n] != kernel.DEAD))
    itemsizes = sum(a.itemsize for a in arrays.values())
    kernel_itemsizes = sum(arrays[f].itemsize for f in kernel.PersonArrays._fields)
    allocated = sum(a.nbytes for a in arrays.values())
    used = sum(a[:n].nbytes for a in arrays.values())
    return {"fields": len(arrays), "itemsizes": itemsizes, "kernel_itemsizes": kernel_itemsizes,
            "capacity": p.capacity, "n": n, "alive": alive, "allocated": allocated, "used": used,
            "alloc_per_alive": allocated / alive, "used_per_slot": used / n, "used_per_alive": used / alive}


def memory_at_horizon(RelationModel, kernel, overrides: dict) -> dict:
    """`memory` at the end of a whole run (dead slots are never reused, so bytes per living agent grow)."""
    model = RelationModel(scenario=SCENARIO, rng=1, **overrides)
    model.run()
    return memory(model, kernel)


def plain_agent_bytes(PlainRelationModel, model, ids: np.ndarray) -> float:
    """Python heap bytes per plain-Mesa agent (tracemalloc over building them)."""
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    pm = PlainRelationModel(model, ids, seed=0)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del pm
    return used / len(ids)


CHILD = r"""
import importlib.util, json, os, pickle, sys, time
t0 = time.perf_counter()
from model import kernel
t1 = time.perf_counter()
import numpy as np
with open(sys.argv[1], "rb") as fh:
    args = pickle.load(fh)
t15 = time.perf_counter()
kernel.uniforms(np.uint64(1), np.int64(0), np.int64(0), np.arange(2, dtype=np.int64))  # first Numba call
t2 = time.perf_counter()
kernel.advance(*args)
t3 = time.perf_counter()
kernel.advance(*args)
t4 = time.perf_counter()
import numba
stats = {}
for name, obj in vars(kernel).items():
    st = getattr(obj, "stats", None)
    if st is not None and hasattr(st, "cache_hits"):
        h, m = int(sum(st.cache_hits.values())), int(sum(st.cache_misses.values()))
        if h or m:
            stats[name] = (h, m)
st = getattr(kernel.advance, "stats", None)
print(json.dumps({
    "import_s": t1 - t0, "first_numba_s": t2 - t15, "first_call_s": t3 - t2, "second_call_s": t4 - t3, "stats": stats,
    "hits": sum(h for h, _ in stats.values()), "misses": sum(m for _, m in stats.values()),
    "cache_path": None if st is None else str(st.cache_path),
    "signatures": len(kernel.advance.signatures),
    "threading_layer": numba.threading_layer(), "threads": numba.get_num_threads(),
    "numba_bytecode": os.path.exists(importlib.util.cache_from_source(numba.core.dispatcher.__file__)),
    "dont_write_bytecode": sys.flags.dont_write_bytecode,
}))
"""


def cache_check(model, kernel, snap, tiny: int, runs: int) -> dict:
    """Fresh `python -c` processes: import model.kernel, call advance once on `tiny` people."""
    restore(model, snap)
    ids = np.arange(min(tiny, model.people.n))
    prepare_inputs(model, 1)
    args = kernel_args(model, 1, people=subset(model.people, ids), tallies=kernel.Tallies.zeros(model.table.n, len(model.levers.slots)))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny_args.pkl"
        with path.open("wb") as fh:
            pickle.dump(args, fh)
        for _ in range(runs):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT,
                                  capture_output=True, text=True, timeout=300, check=False)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                return {"error": proc.stderr.strip()[-2000:]}
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["wall_s"] = wall
            results.append(res)
    best = min(results, key=lambda r: r["first_numba_s"] + r["first_call_s"])
    best["all_first_call_s"] = [r["first_call_s"] for r in results]
    best["any_miss"] = any((r["misses"] or 0) > 0 for r in results)
    best["tiny"] = len(ids)
    return best


class CpuMeter:
    """CPU used by *other* processes since creation: machine busy time (/proc/stat) minus this process's."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.mine0 = time.perf_counter(), self._busy(), self._mine()

    @staticmethod
    def _busy() -> float | None:
        try:
            f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
        return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _mine() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def other_cores(self) -> float | None:
        busy = self._busy()
        if busy is None or self.busy0 is None:
            return None
        wall = time.perf_counter() - self.t0
        return max(0.0, (busy - self.busy0) - (self._mine() - self.mine0)) / wall if wall > 0 else None


class QuietWaiter:
    """Before a timed repeat, wait (within a total budget) until other processes leave the CPUs alone."""

    def __init__(self, budget: float, threshold: float = BUSY_CORES, window: float = 0.5) -> None:
        self.budget, self.threshold, self.window = budget, threshold, window
        self.waited = 0.0

    def __call__(self, max_wait: float = 10.0) -> None:
        start = self.waited
        while self.waited < self.budget and self.waited - start < max_wait:
            meter = CpuMeter()
            time.sleep(self.window)
            self.waited += self.window
            other = meter.other_cores()
            if other is None or other < self.threshold:
                return


QUIET = QuietWaiter(0.0)
SCENARIO = None  # the scenario measured (set from --scenario in main)


SECTION_OTHER: list[float] = []


def fmt_other(x: float | None) -> str:
    """CPU used by other processes during a best repeat."""
    if x is None:
        return ""
    SECTION_OTHER.append(x)
    return f"other processes {x:.2f} cores"


# --- reporting -------------------------------------------------------------------------------------
def fmt_rate(x: float) -> str:
    return f"{x / 1e6:,.1f} M/s" if x >= 1e6 else f"{x / 1e3:,.1f} k/s"


def machine_info(numba, mesa) -> list[str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import llvmlite
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "(not initialised yet)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"CPU            {cpu}; os.cpu_count()={os.cpu_count()}, usable={affinity}",
        f"platform       {platform.platform()}",
        f"python         {platform.python_version()} ({sys.executable})",
        (f"versions       numpy {np.__version__}, numba {numba.__version__}, llvmlite {llvmlite.__version__}, "
         f"mesa {mesa.__version__}"),
        (f"numba threads  NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', '(unset)')} -> "
         f"config {numba.config.NUMBA_NUM_THREADS}, default get_num_threads()={numba.get_num_threads()}; "
         f"threading layer {layer} (requested: {numba.config.THREADING_LAYER})"),
        f"load average   {load}",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--people-per-agent", type=float, default=100.0, help="run.people_per_agent of the big model")
    ap.add_argument("--scenario", default=None, help="scenario file (default: the built-in baseline); e.g. "
                    "scenarios/package_all.toml for every lever in force")
    ap.add_argument("--steps", type=int, default=24, help="timed steps (kernel and full step), after one warm-up")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the kernel timing (best is kept)")
    ap.add_argument("--full-repeats", type=int, default=3, help="repeats of the full-step timing (fresh model each)")
    ap.add_argument("--mesa-agents", type=int, default=50_000, help="people in the plain-Mesa subset")
    ap.add_argument("--mesa-steps", type=int, default=3, help="plain-Mesa steps")
    ap.add_argument("--mesa-repeats", type=int, default=3, help="plain-Mesa repeats (best is kept)")
    ap.add_argument("--cache-runs", type=int, default=2, help="fresh processes for the cache check")
    ap.add_argument("--budget", type=float, default=25.0,
                    help="seconds after which the kernel and full-step timings stop repeating (noisy machine)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="total seconds the script may wait, before timed repeats, for other processes to go idle")
    ap.add_argument("--skip-cache-check", action="store_true")
    a = ap.parse_args(argv)

    t_script = time.perf_counter()
    meter_all = CpuMeter()
    QUIET.budget = a.quiet_wait
    t = time.perf_counter()
    import mesa
    import numba
    from plain_mesa import PlainRelationModel

    from model import kernel
    from model.relation_model import RelationModel
    t_import = time.perf_counter() - t

    print("=" * 96)
    print("Kankei kernel benchmark")
    print("=" * 96)
    for line in machine_info(numba, mesa):
        print(line)
    print(f"imports        {t_import:.2f} s (model, mesa, numba, pandas, ...)")

    overrides = {"run.people_per_agent": a.people_per_agent}
    global SCENARIO
    from model.parameters import load_scenario
    SCENARIO = load_scenario(a.scenario)

    t = time.perf_counter()
    model = RelationModel(scenario=SCENARIO, rng=1, **overrides)
    t_build = time.perf_counter() - t
    n_steps_avail = model.n_steps - 1
    steps = min(a.steps, n_steps_avail)
    print(f"\nmodel          RelationModel(rng=1, people_per_agent={a.people_per_agent:g}): {model.people.n:,} people, "
          f"{model.n_alive:,} alive, {model.table.n} regions, capacity {model.people.capacity:,}; built in {t_build:.2f} s")

    # warm-up: step index 0 (the first call loads the kernel from the on-disk cache, or compiles it)
    t = time.perf_counter()
    prepare_inputs(model, 0)
    kernel.advance(*kernel_args(model, 0))
    t_first = time.perf_counter() - t
    print(f"warm-up        first advance() in this process {t_first * 1e3:.0f} ms; dispatcher stats so far: "
          f"{fmt_stats(dispatcher_stats(kernel))}; threading layer {numba.threading_layer()}")
    snap = snapshot(model)   # state after the warm-up step; every kernel repeat starts here
    k0 = 1
    threads = numba.get_num_threads()

    # 1. kernel alone
    print(f"\n[1] kernel.advance alone: {steps} steps (k={k0}..{k0 + steps - 1}) x {a.repeats} repeats, best kept")
    kern = time_kernel(model, kernel, numba, snap, k0, steps, a.repeats, sorted({threads, 1}, reverse=True),
                       budget=a.budget)
    for nt, r in kern.items():
        print(f"    {nt} thread(s): {r['secs']:.3f} s for {r['agent_steps']:,} agent-steps -> {fmt_rate(r['rate'])}  "
              f"(per step min {r['min_step'] * 1e3:.2f} ms, median {r['median_step'] * 1e3:.2f} ms, "
              f"max {r['max_step'] * 1e3:.1f} ms; best-per-step {fmt_rate(r['rate_best_steps'])}; "
              f"{len(r['all'])} repeats {', '.join(f'{x:.3f}' for x in r['all'])} s; best repeat: {fmt_other(r['other'])})")
    numba.set_num_threads(threads)
    if threads > 1:
        print(f"    parallel speed-up {threads} vs 1 thread: {kern[threads]['rate'] / kern[1]['rate']:.2f}x")

    # 5. memory
    mem = memory(model, kernel)
    print(f"\n[5] person state: {mem['fields']} arrays; {mem['itemsizes']} B per slot (sum of itemsizes; "
          f"{mem['kernel_itemsizes']} B read/written by the kernel)")
    print(f"    allocated {mem['allocated'] / 1e6:.1f} MB for capacity {mem['capacity']:,} -> "
          f"{mem['alloc_per_alive']:.1f} B per living agent; used slots {mem['used'] / 1e6:.1f} MB -> "
          f"{mem['used_per_slot']:.1f} B/slot, {mem['used_per_alive']:.1f} B per living agent "
          f"({mem['n']:,} slots, {mem['alive']:,} alive)")
    end_ppa = max(a.people_per_agent, HORIZON_PPA)
    end = memory_at_horizon(RelationModel, kernel, {**overrides, "run.people_per_agent": end_ppa})
    print(f"    at the horizon (a whole run at {end_ppa:g} people per agent): capacity {end['capacity']:,}, "
          f"{end['n']:,} slots, {end['alive']:,} alive -> {end['alloc_per_alive']:.1f} B per living agent allocated")

    # 3. plain Mesa on a subset of the same people
    restore(model, snap)
    alive_ids = np.flatnonzero(model.people.stage[: model.people.n] != kernel.DEAD)
    rng = np.random.default_rng(12345)
    ids = np.sort(rng.choice(alive_ids, size=min(a.mesa_agents, alive_ids.size), replace=False))
    msteps = min(a.mesa_steps, n_steps_avail)
    print(f"\n[3] plain Mesa (benchmarks/plain_mesa.py): {ids.size:,} agents sampled from the same people, "
          f"{msteps} steps x {a.mesa_repeats} repeats, best kept")
    plain = time_plain(PlainRelationModel, model, ids, k0, msteps, a.mesa_repeats)
    print(f"    {plain['secs']:.2f} s for {plain['agent_steps']:,} agent-steps -> {fmt_rate(plain['rate'])} "
          f"({plain['secs'] / plain['agent_steps'] * 1e6:.1f} us per agent-step; building the agents took "
          f"{plain['build']:.2f} s; repeats {', '.join(f'{x:.2f}' for x in plain['all'])} s; best repeat: {fmt_other(plain['other'])})")
    bytes_plain = plain_agent_bytes(PlainRelationModel, model, ids[: min(10_000, ids.size)])
    print(f"    plain-Mesa agent: ~{bytes_plain:,.0f} B of Python heap per agent (tracemalloc, 10k agents)")
    ksub = kernel_on_subset(model, kernel, snap, ids, k0, msteps)
    print(f"    same subset through the kernel, flows summed over {msteps} steps (plain / kernel; "
          f"different random streams, so they agree up to sampling noise):")
    from model.stages import Flow
    cells = []
    for f in Flow:
        if f == Flow.NEW_ADULT:
            continue
        cells.append(f"{f.name.lower()} {int(plain['flows'][:, f].sum())}/{int(ksub['flows'][:, f].sum())}")
    for i in range(0, len(cells), 5):
        print("      " + "; ".join(cells[i:i + 5]))
    st_names = ["none", "visitor", "engaged", "dual", "settled"]
    print("      living at the end by stage: " + "; ".join(
        f"{nm} {int(plain['by_home'][:, s].sum())}/{int(ksub['by_home'][:, s].sum())}" for s, nm in enumerate(st_names)))
    restore(model, snap)

    # 6. cache check in fresh processes
    cache = None
    if not a.skip_cache_check:
        print(f"\n[6] cache check: {a.cache_runs} fresh `python -c` process(es): import model.kernel, "
              f"advance() twice on a tiny population")
        cache = cache_check(model, kernel, snap, tiny=2000, runs=a.cache_runs)
        if "error" in cache:
            print("    subprocess failed:\n" + cache["error"])
        else:
            print(f"    import model.kernel {cache['import_s']:.2f} s (it imports the model package: mesa, pandas, ...); "
                  f"first Numba call in the process (kernel.uniforms: LLVM start-up + cache load) "
                  f"{cache['first_numba_s'] * 1e3:.0f} ms")
            print(f"    then advance() on {cache['tiny']} people: first call {cache['first_call_s'] * 1e3:.0f} ms "
                  f"(all runs: {', '.join(f'{x * 1e3:.0f}' for x in cache['all_first_call_s'])} ms), second call "
                  f"{cache['second_call_s'] * 1e3:.2f} ms; process wall {cache['wall_s']:.2f} s")
            print(f"    dispatcher stats: {fmt_stats(cache['stats'])}; advance signatures={cache['signatures']}; "
                  f"threading layer {cache['threading_layer']} "
                  f"({cache['threads']} threads); cache at {cache['cache_path']}")
            if not cache["numba_bytecode"]:
                print("    installed packages have no bytecode" + (" and PYTHONDONTWRITEBYTECODE is set" if
                      cache["dont_write_bytecode"] else "") + ": every process compiles numba's, pandas' and mesa's "
                      "Python source first (about 1 s of the times above); `uv sync --compile-bytecode` writes it once")
    del model, snap

    # 2. full model step
    print(f"\n[2] full RelationModel.step(): {steps} steps after one warm-up x {a.full_repeats} fresh models, best kept")
    full = time_full(RelationModel, kernel, overrides, steps, a.full_repeats, budget=a.budget)
    print(f"    {full['secs']:.3f} s for {full['agent_steps']:,} agent-steps -> {fmt_rate(full['rate'])} "
          f"(per step min {full['min_step'] * 1e3:.2f} ms, median {full['median_step'] * 1e3:.2f} ms, "
          f"max {full['max_step'] * 1e3:.1f} ms (fiscal-year close at k=12); best-per-step {fmt_rate(full['rate_best_steps'])}; "
          f"{len(full['all'])} repeats {', '.join(f'{x:.3f}' for x in full['all'])} s; best repeat: {fmt_other(full['other'])})")
    kt = kern[threads]
    ink = full["in_kernel"]
    print(f"    inside kernel.advance during those steps: {ink:.3f} s ({100 * ink / full['secs']:.0f}%); "
          f"outside it {(full['secs'] - ink) / steps * 1e3:.2f} ms per step on average (new adults, tallies, History, "
          f"DataCollector, fiscal-year close); slowest step {full['max_step'] * 1e3:.0f} ms")

    # 4. ratios and the table
    r_kernel = kt["rate"] / plain["rate"]
    r_kernel1 = kern[1]["rate"] / plain["rate"]
    r_full = full["rate"] / plain["rate"]
    one = f"kernel (1 thr) / plain Mesa = {r_kernel1:,.0f}x; " if threads > 1 else ""
    print(f"\n[4] ratios: kernel ({threads} thr) / plain Mesa = {r_kernel:,.0f}x; {one}"
          f"full step / plain Mesa = {r_full:,.0f}x")

    def busy(*parts) -> bool:
        return any((x.get("other") or 0.0) > BUSY_CORES for x in parts)

    def row(name, goal, value, ok, noisy=False):
        status = ("PASS" if ok else "FAIL") + ("*" if noisy else "")
        return f"| {name:<38} | {goal:<13} | {value:<26} | {status:<6} |"

    no_recompile = (cache is not None and "error" not in cache and not cache["any_miss"]
                    and (cache["hits"] or 0) > 0
                    and cache["first_numba_s"] + cache["first_call_s"] < TARGET_FIRST_CALL)
    if cache is None:
        cache_value = "not run"
    elif "error" in cache:
        cache_value = "subprocess failed"
    else:
        cache_value = (f"{(cache['first_numba_s'] + cache['first_call_s']) * 1e3:.0f} ms, "
                       f"{cache['hits']} hit {cache['misses']} miss")
    kernel_goal, ratio_goal = f">= {TARGET_KERNEL / 1e6:.0f} M/s", f">= {TARGET_RATIO:.0f}x"
    lines = [
        row(f"kernel, {threads} thread{'s' if threads > 1 else ''}", kernel_goal, fmt_rate(kt["rate"]), kt["rate"] >= TARGET_KERNEL, busy(kt)),
        row("full model.step()", f">= {TARGET_FULL / 1e6:.0f} M/s", fmt_rate(full["rate"]), full["rate"] >= TARGET_FULL, busy(full)),
        row(f"kernel / plain Mesa ({fmt_rate(plain['rate'])})", ratio_goal, f"{r_kernel:,.0f}x", r_kernel >= TARGET_RATIO,
            busy(kt, plain)),
        row("full step / plain Mesa", ratio_goal, f"{r_full:,.0f}x", r_full >= TARGET_RATIO, busy(full, plain)),
        row("person state per living agent", f"<= {TARGET_BYTES:.0f} B",
            f"{mem['alloc_per_alive']:.1f} B, {end['alloc_per_alive']:.1f} B at end",
            max(mem["alloc_per_alive"], end["alloc_per_alive"]) <= TARGET_BYTES),
        row("no recompile in a fresh process", f"< {TARGET_FIRST_CALL:g} s, 0 miss", cache_value, no_recompile),
    ]
    if threads > 1:
        lines.insert(1, row("kernel, 1 thread (info)", kernel_goal, fmt_rate(kern[1]["rate"]),
                            kern[1]["rate"] >= TARGET_KERNEL, busy(kern[1])))
    width = len(lines[0])
    print("\n" + "-" * width)
    print(f"| {'target':<38} | {'goal':<13} | {'measured':<26} | {'status':<6} |")
    print("-" * width)
    for line in lines:
        print(line)
    print("-" * width)
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "?"
    print(f"agents: kernel/full {kt['alive']:,.0f} living; plain Mesa {ids.size:,}. threads {threads} ({layer}). "
          f"load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}. total {time.perf_counter() - t_script:.0f} s, "
          f"of which {QUIET.waited:.0f} s waiting for other processes to go idle")
    other = max(SECTION_OTHER, default=0.0)
    if other > BUSY_CORES:
        print(f"NOTE (*): other processes used up to {other:.2f} of {os.cpu_count()} cores during a best repeat "
              f"({meter_all.other_cores() or 0:.2f} over the whole run). Rows marked * rest on such a measurement: "
              f"a slowed plain-Mesa run inflates the ratios, a slowed kernel deflates them. Rerun on a quiet machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
