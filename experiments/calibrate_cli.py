"""`kankei validate` and `kankei calibrate`: the targets file against the model, and fitting it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments import arguments
from model.paths import default_scenario, results_dir

VALIDATE_EPILOG = """\
examples:
  kankei validate scenarios/data/calibration_targets.csv --reps 10
  kankei validate my_targets.csv --scenario scenarios/status_quo.toml --set run.people_per_agent=1000

Each replication runs the scenario up to the last target it can measure (not its whole horizon).
Writes DIR (default results/validate_<scenario>/): table.csv (observed, median, 90 % interval,
inside), fit.png and manifest.json. A bad targets row (unknown output, filter, statistic or window)
is refused with the file, row and allowed values (exit status 2), and nothing is written.
"""

CALIBRATE_EPILOG = """\
examples:
  kankei calibrate scenarios/status_quo.toml --targets scenarios/data/calibration_targets.csv --budget 3000
  kankei calibrate scenarios/status_quo.toml --targets T.csv --executor dask --scheduler tcp://head:8786
  kankei calibrate scenarios/status_quo.toml --targets T.csv --out results/cal --resume

The scenario's [calibration.priors] tables are the free parameters (docs/calibration.md). pyABC's
ABC-SMC runs simulations at calibration.people_per_agent until --budget simulations (checked after
each generation), --generations or a generation accepting less than --min-acceptance. DIR (default
results/calibrate_<scenario>/) holds abc.db (pyABC's history: every finished generation, what
--resume continues from), posterior.parquet (draw, weight, one column per parameter), fit.csv,
generations.csv, calibrated.toml (the scenario with posterior medians), marginals.png, pairs.png
and calibrate.log. Ctrl-C keeps every finished generation; --resume carries on from it.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the validate and calibrate commands to the `kankei` parser."""
    v = sub.add_parser("validate", help="the model against a targets file: median, 90 %% interval, inside or not",
                       description="Run the scenario N times and compare every target of TARGETS with the "
                                   "model's median and 90 % predictive interval.",
                       epilog=VALIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("targets", metavar="TARGETS", help="targets CSV (see docs/calibration.md for its columns)")
    v.add_argument("--scenario", default=None, metavar="FILE",
                   help="scenario TOML (default: the built-in scenarios/baseline.toml)")
    v.add_argument("--reps", type=arguments.positive_int, default=10, metavar="N", help="replications (default 10)")
    v.add_argument("--posterior", default=None, metavar="FILE",
                   help="posterior draws (kankei calibrate's posterior.parquet): replication r runs with a "
                        "parameter set resampled by weight, so the interval holds parameter uncertainty too")
    v.add_argument("--seed", type=arguments.seed, default=None, metavar="S", help="root seed (default: the scenario's)")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a scenario value by dotted name (repeatable)")
    v.add_argument("--out", metavar="DIR", default=None, help="output folder (default results/validate_<scenario>/)")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("calibrate", help="fit the scenario's free parameters to a targets file (pyABC ABC-SMC)",
                       description="Fit the free parameters named in the scenario's [calibration.priors] to "
                                   "the targets by ABC-SMC (pyABC), resumably.",
                       epilog=CALIBRATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("scenario", metavar="SCENARIO", help="scenario TOML with [calibration.priors]")
    c.add_argument("--targets", required=True, metavar="FILE", help="targets CSV")
    c.add_argument("--budget", type=arguments.positive_int, default=2000, metavar="N",
                   help="simulations, checked after each generation (default 2000)")
    c.add_argument("--population", type=arguments.whole_number(2), default=100, metavar="P",
                   help="particles per generation (default 100)")
    c.add_argument("--generations", type=arguments.positive_int, default=20, metavar="G",
                   help="at most this many generations (default 20)")
    c.add_argument("--min-acceptance", type=arguments.positive_float, default=0.02, metavar="A",
                   help="stop when a generation accepts fewer than this share (default 0.02)")
    c.add_argument("--prior-share", type=arguments.open_share, default=0.2, metavar="S",
                   help="share of proposals drawn from the prior, which bounds the particles' weights "
                        "(default 0.2; docs/calibration.md, Method)")
    c.add_argument("--seed", type=arguments.seed, default=1, metavar="S", help="root seed (default 1)")
    c.add_argument("--executor", choices=("serial", "processes", "dask"), default="processes",
                   help="serial (reproducible bit for bit), processes (a local Dask cluster, default) or dask")
    c.add_argument("--workers", type=arguments.positive_int, default=2, metavar="N",
                   help="local worker processes (default 2)")
    c.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a running Dask scheduler (with --executor dask)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a scenario value by dotted name (repeatable)")
    c.add_argument("--out", metavar="DIR", default=None, help="output folder (default results/calibrate_<scenario>/)")
    c.add_argument("--resume", action="store_true", help="continue the calibration in --out from its last generation")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_calibrate)


def cmd_validate(args: argparse.Namespace) -> int:
    """`kankei validate`: read and check the targets and the scenario, run, write everything at once."""
    from tqdm import tqdm

    from experiments.atomic import atomic_folder, check_output_folder
    from experiments.calibrate import run_horizon
    from experiments.provenance import manifest
    from experiments.targets import load_targets
    from experiments.validate import fit_table, plot_fit, simulate
    from model.parameters import load_scenario, with_overrides

    targets = load_targets(args.targets)
    scenario = load_scenario(args.scenario or default_scenario(), overrides=arguments.overrides(args.overrides))
    scenario = with_overrides(scenario, {"run.horizon_years": run_horizon(scenario, targets)})
    posterior = sets = None
    if args.posterior:
        from experiments.posterior import draw_seed, load_posterior

        posterior = load_posterior(args.posterior, scenario)
        root = scenario.config.run.seed if args.seed is None else args.seed
        sets = posterior.draws(args.reps, draw_seed(root))
    out_dir = check_output_folder(Path(args.out) if args.out else results_dir() / f"validate_{scenario.name}",
                                  "validate")
    with tqdm(total=args.reps * scenario.config.run.n_steps, desc="validate", unit="step",
              disable=True if args.quiet else None, file=sys.stderr) as bar:
        sims = simulate(scenario, targets, args.reps, seed=args.seed, parameter_sets=sets, progress=bar.update)
    table = fit_table(targets, sims)
    with atomic_folder(out_dir, "validate") as tmp:
        table.to_csv(tmp / "table.csv", index=False)
        sims.to_csv(tmp / "replications.csv", index=False)
        plot_fit(table, tmp / "fit.png", f"{scenario.name}: {args.reps} replications vs {Path(args.targets).name}")
        info = manifest(scenario.config, scenario.source, sorted(set(sims["seed"])), 0.0,
                        {"targets": str(Path(args.targets).resolve()), "reps": args.reps,
                         "posterior": posterior.describe() if posterior is not None else None,
                         "files": ["table.csv", "replications.csv", "fit.png", "manifest.json"]})
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    print(format_fit(table))
    print(f"\nwrote {out_dir}")
    return 0


def format_fit(table) -> str:
    """The fit table as text: comparable targets first, then the others with the reason."""
    from experiments.terminal import render_table

    def num(x: float, like: float) -> str:
        """`x` written as the observed figure `like` is: a share to 3 decimals, a count in whole units."""
        return "" if x != x else (f"{x:.3f}" if abs(like) < 10 else f"{x:,.0f}")

    shown = table[table["inside"].notna()]
    rows = [(r.target_id, str(r.period), r.use, num(r.observed, r.observed), num(r.median, r.observed),
             f"{num(r.low, r.observed)} – {num(r.high, r.observed)}", "yes" if r.inside else "NO")
            for r in shown.itertuples()]
    text = render_table(("target", "period", "use", "observed", "model median", "90 % interval", "inside"), rows,
                        align="<<<>>>^")
    fitted, checks = shown[shown["use"] == "fit"], shown[shown["use"] == "check"]
    counts = [f"{int(fitted['inside'].astype(bool).sum())} of {len(fitted)} comparable fitted targets inside the "
              "model's 90 % interval"] if len(fitted) else []
    if len(checks):    # often fixed by inputs, so without spread: judged by the figure's stated precision
        counts.append(f"{int(checks['inside'].astype(bool).sum())} of {len(checks)} checks (not fitted) inside it; "
                      f"{int((checks['z'].abs() <= 1).sum())} within their stated precision (|model median − "
                      "observed| ≤ rel_sd × |observed|)")
    text += "\n\n" + "\n".join(counts)
    other = table[table["inside"].isna()]
    if len(other):
        text += "\n\nNot comparable:\n" + "\n".join(f"  {r.target_id}: {r.how}" for r in other.itertuples())
    return text


def cmd_calibrate(args: argparse.Namespace) -> int:
    """`kankei calibrate`: check everything first, then run (or resume) ABC-SMC in --out."""
    from tqdm import tqdm

    from experiments.atomic import check_output_folder
    from experiments.calibrate import DB_NAME, OUTPUT_FILES, Settings, calibrate, write_calibration
    from experiments.interrupts import EXIT_INTERRUPTED, first_interrupt_only, quiet_second_interrupt
    from experiments.provenance import manifest
    from experiments.store import atomic_write
    from experiments.targets import load_targets
    from model.parameters import ScenarioError, load_scenario

    targets = load_targets(args.targets)
    scenario = load_scenario(args.scenario, overrides=arguments.overrides(args.overrides))
    if not scenario.config.calibration.priors:
        raise ScenarioError(scenario.source, "calibration.priors", "names no free parameter; add a table such as "
                            '[calibration.priors."rates.settle"] with low, high, scale and source')
    if args.scheduler and args.executor != "dask":
        raise ScenarioError("--scheduler", args.scheduler, "a scheduler address needs --executor dask")
    out_dir = check_output_folder(Path(args.out) if args.out else results_dir() / f"calibrate_{scenario.name}",
                                  "calibrate")
    has_db = (out_dir / DB_NAME).exists()
    if has_db and not args.resume:
        raise ScenarioError("--out", str(out_dir), "holds a calibration already; add --resume to continue it, "
                            "or give a new folder")
    if args.resume and not has_db:
        raise ScenarioError("--resume", str(out_dir), f"holds no calibration ({DB_NAME}) to resume")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [DB_NAME, "manifest.json", *OUTPUT_FILES]
    info = manifest(scenario.config, scenario.source, [args.seed], 0.0,
                    {"kind": "calibrate", "targets": str(Path(args.targets).resolve()), "files": files})
    atomic_write(out_dir / "manifest.json", json.dumps(info, indent=2, ensure_ascii=False).encode())
    settings = Settings(budget=args.budget, population=args.population, generations=args.generations,
                        min_acceptance=args.min_acceptance, prior_share=args.prior_share, seed=args.seed,
                        executor=args.executor, workers=args.workers, scheduler=args.scheduler)
    log_lines: list[str] = []
    interrupted = False
    with tqdm(total=args.budget, desc="calibrate", unit="sim", disable=True if args.quiet else None,
              file=sys.stderr) as bar, pyabc_log(log_lines):
        def progress(done: int, _budget: int) -> None:
            bar.n = min(done, args.budget)
            bar.refresh()
        try:
            with first_interrupt_only():
                cal = calibrate(scenario, targets, out_dir, settings, resume=args.resume, progress=progress)
        except KeyboardInterrupt:
            quiet_second_interrupt()
            interrupted = True
    if interrupted:
        print(f"kankei: interrupted; every finished generation is kept in {out_dir / DB_NAME}: continue with "
              "the same command and --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    write_calibration(cal, scenario, out_dir, log_lines)
    print(cal.generations.to_string(index=False))
    print()
    print(cal.fit.to_string(index=False))
    print(f"\n{cal.simulations} simulations; wrote {out_dir}")
    return 0


@contextmanager
def pyabc_log(lines: list[str]) -> Iterator[None]:
    """pyABC's log goes into `lines` (for calibrate.log) instead of the terminal, for the command's length."""
    logger = logging.getLogger("ABC")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers = [_ListHandler(lines)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers, level, logger.propagate = saved[0], saved[1], saved[2]
        logger.setLevel(level)


class _ListHandler(logging.Handler):
    """Keeps pyABC's log lines (generation timings, epsilon, acceptance) for calibrate.log."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname}: {record.getMessage()}")
