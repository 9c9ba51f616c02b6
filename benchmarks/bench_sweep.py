#!/usr/bin/env python
"""Sweep throughput: runs per minute, serial vs a 2-worker process pool vs a Dask LocalCluster.

    uv run python benchmarks/bench_sweep.py                      # 200 runs at 10,000 and 2,000 adults/agent
    uv run python benchmarks/bench_sweep.py --runs 50 --people-per-agent 10000   # a quick look

For each scale, a 200-run Latin-hypercube sweep of the default scenario (scenarios/baseline.toml,
15 years, monthly) over two behavioural rates runs four times, each in a fresh process:

* ``serial-1``: the serial executor with NUMBA_NUM_THREADS=1 (one core: the efficiency baseline);
* ``serial-2``: the serial executor with Numba's default threads (what ``--executor serial`` gives);
* ``processes``: the default executor, a spawn pool of 2 workers with 1 Numba thread each;
* ``dask``: a Dask LocalCluster on 127.0.0.1, 2 worker processes × 1 thread, NUMBA_NUM_THREADS=1.

Timed: `run_sweep` from the first submission to the last file written (executor start-up is
timed separately; every executor warms its workers first). Reported: runs/min, mean seconds per
run (the model's own wall time, from the run table), parallel efficiency of the pool
(serial-1 wall / (2 × pool wall)), the Dask path's extra time per run relative to the pool,
and Numba kernel compilations in the workers (0 = every worker loaded the kernel from the cache).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_EFFICIENCY = 0.85      # 2 workers, runs of 0.5 s or more
TARGET_DASK_OVERHEAD = 0.05   # extra wall time of the Dask path per run, relative to the pool
CONFIGS = ("serial-1", "serial-2", "processes", "dask")


def spec_for(runs: int, ppa: float) -> dict:
    return {"name": f"bench-{int(ppa)}", "seed": 20240401, "replications": 1,
            "set": {"run.people_per_agent": ppa},
            "design": {"kind": "lhs", "samples": runs},
            "parameters": {"rates.visit": {"min": 0.03, "max": 0.08}, "rates.engage": {"min": 0.1, "max": 0.4}},
            "outputs": {"keep": ["yearly", "summary"]}}


# --- one configuration, in its own process ------------------------------------------------------
def child(config: str, runs: int, ppa: float, workers: int, out: str) -> dict:
    from experiments import load_runs
    from experiments.executors import _warm_up, open_executor
    from experiments.spec import build_plan, parse_spec
    from experiments.sweep import run_sweep

    plan = build_plan(parse_spec(spec_for(runs, ppa)))
    kind = config.split("-")[0]
    t0 = time.perf_counter()
    if kind == "serial":
        _warm_up()                       # load the kernel from the cache before timing, as workers do
    with open_executor(kind, workers=None if kind == "serial" else workers) as handle:
        startup = time.perf_counter() - t0
        report = run_sweep(plan, out, handle)
    table = load_runs(out)
    import numba

    return {"config": config, "runs": runs, "people_per_agent": ppa, "ok": report.ok, "failed": report.failed,
            "startup_s": startup, "wall_s": report.wall_seconds, "runs_per_min": report.runs_per_minute,
            "mean_run_s": float(table["wall_seconds"].mean()), "workers": int(table["worker"].nunique()),
            "numba_compiles": int(table["numba_compiles"].max()), "executor": handle.description,
            "numba_threads": numba.config.NUMBA_NUM_THREADS}


def run_child(config: str, runs: int, ppa: float, workers: int) -> dict:
    env = dict(os.environ)
    if config == "serial-1":
        env["NUMBA_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory(prefix="kankei-bench-") as tmp:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", config, "--runs", str(runs),
               "--people-per-agent", str(ppa), "--workers", str(workers), "--out", str(Path(tmp) / "sweep")]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"{config} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200, help="runs per sweep (default 200)")
    ap.add_argument("--people-per-agent", default="10000,2000",
                    help="comma-separated scales (default 10000,2000: ~0.1–0.2 s and ~0.5–0.7 s per run)")
    ap.add_argument("--workers", type=int, default=2, help="workers for processes and dask (default 2)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.runs, float(a.people_per_agent), a.workers, a.out)))
        return 0

    import numba

    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs "
          f"(usable {len(os.sched_getaffinity(0))}); Python {platform.python_version()}, numba {numba.__version__}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    configs = a.configs.split(",")
    for ppa in (float(x) for x in a.people_per_agent.split(",")):
        print(f"\n== {a.runs} runs of the default scenario (15 years, monthly) at {ppa:,.0f} adults per agent ==")
        rows = {}
        for config in configs:
            r = run_child(config, a.runs, ppa, a.workers)
            rows[config] = r
            results.append(r)
            print(f"{config:10s} {r['runs_per_min']:8.1f} runs/min  wall {r['wall_s']:7.1f} s  "
                  f"mean run {r['mean_run_s']:.3f} s  start-up {r['startup_s']:5.1f} s  workers {r['workers']}  "
                  f"Numba compiles {r['numba_compiles']}  failed {r['failed']}", flush=True)
        for config, r in rows.items():
            workers = 1 if config.startswith("serial") else a.workers
            per_run = r["wall_s"] * workers / a.runs
            print(f"  {config:10s} sweep time per run and worker {per_run * 1e3:7.1f} ms = run "
                  f"{r['mean_run_s'] * 1e3:7.1f} ms + runner {(per_run - r['mean_run_s']) * 1e3:5.1f} ms "
                  f"({(per_run - r['mean_run_s']) / per_run:.1%}: outputs, Parquet, writes, scheduling)")
        if {"serial-1", "processes"} <= rows.keys():
            slow = rows["processes"]["mean_run_s"] / rows["serial-1"]["mean_run_s"] - 1
            print(f"a run takes {slow:+.1%} longer when {a.workers} run side by side (the machine: shared caches, "
                  "memory bandwidth, vCPUs)")
            eff = rows["serial-1"]["wall_s"] / (a.workers * rows["processes"]["wall_s"])
            verdict = "PASS" if eff >= TARGET_EFFICIENCY else ("FAIL" if rows["serial-1"]["mean_run_s"] >= 0.5 else "n/a")
            print(f"parallel efficiency, {a.workers}-worker pool vs 1 core: {eff:.1%} "
                  f"(target ≥ {TARGET_EFFICIENCY:.0%} for runs ≥ 0.5 s: {verdict}; "
                  f"runs here {rows['serial-1']['mean_run_s']:.2f} s)")
            results.append({"people_per_agent": ppa, "efficiency_processes": eff})
        if {"serial-1", "dask"} <= rows.keys():
            eff = rows["serial-1"]["wall_s"] / (a.workers * rows["dask"]["wall_s"])
            print(f"parallel efficiency, Dask LocalCluster ({a.workers} workers) vs 1 core: {eff:.1%}")
            results.append({"people_per_agent": ppa, "efficiency_dask": eff})
        if {"processes", "dask"} <= rows.keys():
            extra = rows["dask"]["wall_s"] / rows["processes"]["wall_s"] - 1
            per_run_ms = (rows["dask"]["wall_s"] - rows["processes"]["wall_s"]) * a.workers / a.runs * 1e3
            print(f"Dask path vs process pool: {extra:+.1%} wall time ({per_run_ms:+.1f} ms per run per worker; "
                  f"target ≤ {TARGET_DASK_OVERHEAD:.0%}: {'PASS' if extra <= TARGET_DASK_OVERHEAD else 'FAIL'})")
            results.append({"people_per_agent": ppa, "dask_overhead": extra})
        compiles = [rows[c]["numba_compiles"] for c in ("processes", "dask") if c in rows]
        if compiles:
            print(f"kernel recompiled by a worker: {'no (PASS)' if max(compiles) == 0 else 'YES (FAIL)'}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
