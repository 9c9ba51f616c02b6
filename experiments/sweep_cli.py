"""`kankei sweep` and `kankei sensitivity` (スイープ・感度分析のコマンド).

`register(subparsers)` adds both sub-commands to the `kankei` parser (experiments/cli.py).
Everything is validated before anything is written: a bad spec, `--set` or folder raises
`ScenarioError`, which `kankei` reports naming the file and key, with exit status 2.
Exit status: 0 when every run finished, 1 when some failed (the summary says how many), 130 on
Ctrl-C (finished runs are kept: run the same command again to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments import arguments
from experiments.interrupts import EXIT_INTERRUPTED, quiet_second_interrupt
from model.errors import ScenarioError
from model.paths import results_dir

EXIT_FAILED_RUNS = 1

SWEEP_EPILOG = """\
examples:
  kankei sweep experiments/specs/grid_small.toml                      # local process pool
  kankei sweep experiments/specs/lhs.toml --executor serial --out results/sweeps/lhs
  kankei sweep experiments/specs/lhs.toml --executor dask --workers 2 # a Dask LocalCluster
  kankei sweep experiments/specs/lhs.toml --executor dask --scheduler tcp://head:8786

writes DIR (default results/sweeps/<spec name>/): one Parquet file per finished run
(run-000000.parquet, ...: run, point, rep, seed, parameters, output, step, date, year, region,
variable, value), _runs/ (run table: status, traceback, wall time, code version, parameter hash,
package versions) and _sweep/ (sweep.json, design.parquet, spec.toml). Read it with
experiments.load(DIR), pandas.read_parquet(DIR) or DuckDB ('DIR/*.parquet').

With a posterior (--posterior FILE, or posterior = "FILE" in the spec), replication r of every design
point runs parameter draw r, resampled from the posterior by weight: the points are compared on
common parameter draws, and every run records its draw id and parameter values.

Running the same command again (or with --resume) skips finished runs and runs the rest, also
after the sweep was killed (with the same posterior: another one is refused). Failed runs are recorded with their traceback; the sweep goes on and
exits with status 1. A bad spec or --set exits with status 2 and writes nothing.
"""

SENSITIVITY_EPILOG = """\
examples:
  kankei sensitivity experiments/specs/sobol.toml
  kankei sensitivity experiments/specs/morris.toml --outcome final_engaged --outcome settlers_total
  kankei sensitivity experiments/specs/ishigami.toml --executor serial   # known indices, a check

Runs the spec's sweep first (resuming: finished runs are not redone), then prints the indices and
writes DIR/_sensitivity/indices.csv, indices.json and indices.png.
"""

def _conf(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="experiment spec TOML (examples in experiments/specs/)")
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default=None,
                   help="where runs execute (default: processes, a local spawn pool; dask with --scheduler)")
    p.add_argument("--workers", type=arguments.positive_int, default=None, metavar="N",
                   help="worker processes for processes / a local Dask cluster (default: usable cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler to connect to, e.g. tcp://host:8786 (default: start a LocalCluster)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a scenario value for every run, e.g. --set run.people_per_agent=10000 (repeatable)")
    p.add_argument("--seed", type=arguments.seed, default=None, metavar="S",
                   help="root seed (default: the spec's seed, else the scenario's run.seed)")
    p.add_argument("--out", metavar="DIR", default=None, help="sweep folder (default: results/sweeps/<spec name>/)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep in DIR (an error if DIR holds none); running the same command "
                        "again resumes too")
    p.add_argument("--skip-failed", action="store_true", help="when resuming, do not run failed runs again")
    p.add_argument("--posterior", metavar="FILE", default=None,
                   help="posterior file (Parquet: draw, weight, one column per parameter): replication r of every "
                        "design point runs parameter draw r (replaces the spec's posterior)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    """Add `sweep` and `sensitivity` to the `kankei` sub-command parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    sweep = subparsers.add_parser(
        "sweep", help="run an experiment spec (grid, LHS, Sobol, Morris) into a resumable Parquet folder",
        description="Run every run of an experiment spec on an executor into a resumable folder of Parquet files.",
        epilog=SWEEP_EPILOG, formatter_class=fmt)
    _sweep_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)

    sens = subparsers.add_parser(
        "sensitivity", help="Morris screening or Sobol indices (SALib) of run-level outcomes",
        description="Run a Sobol or Morris spec (resuming) and compute sensitivity indices with bootstrap "
                    "confidence intervals: a table, a CSV and a bar chart.",
        epilog=SENSITIVITY_EPILOG, formatter_class=fmt)
    _sweep_arguments(sens)
    sens.add_argument("--outcome", action="append", default=None, metavar="NAME",
                      help="run-level outcome to analyse (repeatable; default: all the sweep keeps)")
    sens.add_argument("--resamples", type=arguments.positive_int, default=1000, metavar="N",
                      help="bootstrap resamples for the confidence intervals (default 1000)")
    sens.add_argument("--conf-level", type=_conf, default=0.95, metavar="P",
                      help="confidence level of the intervals (default 0.95)")
    sens.set_defaults(func=cmd_sensitivity)


def _prepare(args: argparse.Namespace, sensitivity: bool = False):
    """Everything that can fail on bad input, before anything is written."""
    from experiments.spec import build_plan, load_spec

    spec = load_spec(args.spec)
    if sensitivity:
        if spec.design.kind not in ("sobol", "morris"):
            raise ScenarioError(args.spec, "design.kind", "sensitivity needs a sobol or morris design, "
                                f"got {spec.design.kind!r}")
        if "summary" not in spec.outputs.keep:
            raise ScenarioError(args.spec, "outputs.keep", "sensitivity needs 'summary' (run-level outcomes)")
    plan = build_plan(spec, str(args.spec), overrides=arguments.overrides(args.overrides), seed=args.seed,
                      posterior=args.posterior)
    if getattr(args, "outcome", None):
        kept = _kept_outcomes(spec, plan)
        for name in args.outcome:
            if name not in kept:
                raise ScenarioError("--outcome", name, f"not an outcome the spec keeps; allowed: {', '.join(kept)}")
    kind = args.executor or ("dask" if args.scheduler else "processes")
    if args.scheduler and kind != "dask":
        raise ScenarioError("--scheduler", args.scheduler, "a scheduler address needs --executor dask")
    if args.workers and kind == "serial":
        raise ScenarioError("--workers", str(args.workers), "the serial executor has no workers")
    out = Path(args.out) if args.out else results_dir() / "sweeps" / plan.name
    from experiments.store import SweepStore

    SweepStore(out).check(plan, resume=args.resume)   # another sweep there, or nothing to resume: exit 2
    return plan, kind, out


def _kept_outcomes(spec, plan) -> list[str]:
    """The outcomes a sweep will keep: the spec's list, all of Kankei's, or what a function model
    returns at the first design point (evaluated once here, before any run starts)."""
    from experiments.outcomes import OUTCOMES

    if spec.outputs.outcomes:
        return list(spec.outputs.outcomes)
    if spec.is_kankei:
        return list(OUTCOMES)
    from experiments.spec import resolve_function

    first = plan.runs[0]
    try:
        return list(resolve_function(spec.model)(dict(first.params), first.seed))
    except Exception as exc:  # noqa: BLE001  (the sweep would record it as a failed run)
        raise ScenarioError(plan.spec_path, "model", f"{spec.model} failed at the first design point, so "
                            f"--outcome cannot be checked: {type(exc).__name__}: {exc}") from None


def _run(args: argparse.Namespace, plan, kind: str, out: Path):
    """Run the sweep; None if interrupted with Ctrl-C (finished runs are kept)."""
    from experiments.executors import open_executor
    from experiments.sweep import TqdmProgress, run_sweep

    spec_text = Path(args.spec).read_text(encoding="utf-8")
    try:
        if plan.spec.is_kankei and not args.scheduler:   # a remote cluster's workers load their own
            load_kernel()
        with open_executor(kind, workers=args.workers, scheduler=args.scheduler, warm=plan.spec.is_kankei) as handle:
            print(f"{plan.name}: {plan.spec.design.kind} design, {plan.n_points} point(s) × "
                  f"{plan.spec.replications} replication(s) = {len(plan.runs)} runs, root seed {plan.root_seed}; "
                  f"{handle.description}", file=sys.stderr)
            if plan.posterior is not None:
                print(f"posterior {plan.posterior.path} ({len(plan.posterior)} particles; "
                      f"{', '.join(plan.posterior.parameters)}): replication r runs draw r at every point",
                      file=sys.stderr)
            return run_sweep(plan, out, handle, resume=args.resume, retry_failed=not args.skip_failed,
                             progress=TqdmProgress(plan.name, disable=args.quiet), spec_text=spec_text)
    except KeyboardInterrupt:
        quiet_second_interrupt()   # the interrupt may have come before the sweep loop (start-up, imports)
        print(f"kankei: interrupted; finished runs are kept in {out}; run the same command again to resume",
              file=sys.stderr)
        return None
    except OSError as exc:
        from experiments.atomic import WRITE_ERRORS

        if exc.errno not in WRITE_ERRORS:
            raise
        raise ScenarioError(out, "", f"cannot write: {exc.strerror or exc}; finished runs are kept, nothing is "
                            "half-written: free some space (or fix the permission) and run the same command again "
                            "to resume") from None


def kernel_cached() -> bool:
    """Does Numba's cache hold the kernel (so loading it takes a second, not a compilation)?"""
    import numba

    import model.kernel

    folder = Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else Path(model.kernel.__file__).parent / "__pycache__"
    return any(folder.rglob("kernel.*.nbi"))


def load_kernel() -> None:
    """Load the kernel here before any worker starts; on a cold cache say that it compiles (once),
    so that the progress bar and its time estimate start with the runs themselves."""
    import time

    from experiments.executors import warm_up

    if kernel_cached():
        warm_up()
        return
    t0 = time.perf_counter()
    print("kankei: compiling the kernel (once; later runs and workers load it from Numba's cache) ...",
          file=sys.stderr, flush=True)
    warm_up()
    print(f"kankei: kernel compiled in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def _print_report(report, out: Path) -> None:
    done = report.ok + report.failed
    skipped = f", {report.skipped_failed} failed before and skipped" if report.skipped_failed else ""
    if report.damaged:
        shown = ", ".join(str(r) for r in report.damaged[:20]) + (" ..." if len(report.damaged) > 20 else "")
        print(f"\n{len(report.damaged)} finished run file(s) were damaged (size or checksum differ from the run "
              f"table): run(s) {shown}; moved to {out}/_sweep/damaged/ and run again")
    print(f"\n{report.planned} runs planned: {report.already_done} finished before, {report.ok} finished now, "
          f"{report.failed} failed{skipped}, {report.remaining - report.failed - report.skipped_failed} not run")
    if done:
        print(f"{done} run(s) in {report.wall_seconds:.1f} s ({report.runs_per_minute:.1f} runs/min) on "
              f"{report.executor}")
    if report.failures:
        shown = ", ".join(f"{r}" for r, _ in report.failures[:20]) + (" ..." if len(report.failures) > 20 else "")
        print(f"FAILED: {report.failed} run(s): {shown}")
        for run, last in report.failures[:3]:
            print(f"  run {run}: {last}")
    if not report.complete:
        print("  tracebacks: experiments.load_runs(DIR) (column error) or DIR/_runs/; run the same command "
              "again to retry failed runs and finish the rest")
    print(f"wrote {out}")


def cmd_sweep(args: argparse.Namespace) -> int:
    """`kankei sweep`."""
    plan, kind, out = _prepare(args)
    report = _run(args, plan, kind, out)
    if report is None:
        return EXIT_INTERRUPTED
    _print_report(report, out)
    return 0 if report.complete else EXIT_FAILED_RUNS


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """`kankei sensitivity`: the sweep (resuming), then the indices."""
    import pandas as pd

    from experiments.sensitivity import analyze, format_table, write_report

    plan, kind, out = _prepare(args, sensitivity=True)
    report = _run(args, plan, kind, out)
    if report is None:
        return EXIT_INTERRUPTED
    _print_report(report, out)
    if not report.complete:
        print("kankei: sensitivity indices need every design point; fix or retry the failed runs", file=sys.stderr)
        return EXIT_FAILED_RUNS
    indices = analyze(out, outcomes=args.outcome, num_resamples=args.resamples, conf_level=args.conf_level)
    method = "Sobol (Saltelli) S1 / ST" if plan.spec.design.kind == "sobol" else "Morris μ* / σ / μ"
    print(f"\n{method} indices, ± half-width of the {args.conf_level:.0%} bootstrap interval "
          f"({args.resamples} resamples), replications averaged per point:\n")
    with pd.option_context("display.width", 160, "display.max_colwidth", 40):
        print(format_table(indices))
    where = write_report(out, indices)
    print(f"\nwrote {where}/indices.csv, indices.json, indices.png")
    return 0
