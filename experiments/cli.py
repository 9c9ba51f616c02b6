"""The `kankei` command line (コマンドライン)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments import arguments
from experiments.interrupts import EXIT_INTERRUPTED
from experiments.sweep_cli import register as register_sweep_commands
from experiments.calibrate_cli import register as register_calibration_commands
from model.errors import ScenarioError
from model.paths import default_scenario, results_dir, status_quo_scenario

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141      # 128 + SIGPIPE, what a Unix tool killed by a closed pipe reports

DESCRIPTION = """\
Kankei (関係): an agent-based simulator of Japan's 関係人口 (relationship population) policy.
People move through 交流人口 (visitor) → 関係人口 (engaged) → 二地域居住 (dual residence) →
定住人口 (settled) across Japan's 47 prefectures under policy levers.
"""

RUN_EPILOG = """\
examples:
  kankei run                                   # the default scenario (scenarios/baseline.toml)
  kankei run --set run.people_per_agent=1000   # 10x fewer agents, faster
  kankei run scenarios/baseline.toml --reps 5 --seed 7 --out results/five

writes to DIR (default results/<scenario>/): stages.parquet (step, date, region, stage, type,
people), population.parquet, flows.parquet, visit_days.parquet, kpis.parquet,
spending.parquet, summary.csv,
settlers_per_year.csv, stages.png and manifest.json (code version, parameter hash, seeds,
package versions, wall time). A bad scenario or --set exits with status 2 and writes nothing.
"""


COMPARE_EPILOG = """\
examples:
  kankei compare scenarios/policy_relocation_grant.toml          # a larger grant vs today's policies
  kankei compare scenarios/policy_cko.toml scenarios/policy_intermediary.toml --reps 10
  kankei compare scenarios/status_quo.toml --baseline scenarios/baseline.toml   # what today's policies do
  kankei compare scenarios/package_all.toml --baseline scenarios/baseline.toml --set run.people_per_agent=1000

the baseline is by default the built-in status quo (scenarios/status_quo.toml: 移住支援金, ふるさと納税,
地域おこし協力隊, the side-job travel subsidy, プロ人材拠点, model projects and ふるさとワーキングホリデー at their
actual sizes). the shipped policy_*.toml and programme_*.toml files extend it and add or change one
lever, so each comparison answers "what does this change to today's policies do"; --baseline
scenarios/baseline.toml compares with no policy at all.

outcomes are measured in the regions of the levers a policy adds or changes: settlers, 関係人口
person-years, 関係人口 and adults at the end; spending is the public cost the policy adds to the
baseline's, wherever it falls (tax deductions of ふるさと納税 fall on the donors' home regions).
intervals are 90% bootstrap intervals of the mean paired difference (none with fewer than 3
replications); a cost per outcome is printed only where the whole interval of the effect is above
zero, otherwise the reason is.

writes to DIR (default results/compare_<baseline>/): table.csv and .parquet (difference per outcome,
interval, paired sd, replications needed, status and a note for every missing value), cost.csv and
.parquet (public cost by payer, the ledger of money moved besides spending, yen per additional settler
and engaged person-year with their status), transfers.csv and .parquet (the ledger by fiscal year,
item, payer and where it falls), series.parquet, runs.parquet and comparison.png.

with --posterior FILE --draws D, D parameter sets are resampled from the posterior by weight and each
runs on --reps seeds (default 2); policy and baseline share the draw and the seed. table gains draws,
seeds_per_draw, sd_parameter, sd_stochastic, share_parameter and share_stochastic (the variance of the
mean difference split between draws and seeds; one-way random-effects ANOVA), and the interval is
taken over the draws; runs.parquet records each replication's draw and parameter values.
"""

def build_parser() -> argparse.ArgumentParser:
    """The `kankei` parser with its sub-commands."""
    parser = argparse.ArgumentParser(prog="kankei", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run a scenario and write tables, a chart and a manifest",
                         description="Run a scenario to its horizon, print a summary and write the results.",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", nargs="?", default=None,
                     help="scenario TOML file (default: the built-in scenarios/baseline.toml)")
    run.add_argument("--reps", type=arguments.positive_int, default=1, metavar="N",
                     help="replications, seeded from --seed by numpy SeedSequence (default 1)")
    run.add_argument("--seed", type=arguments.seed, default=None, metavar="S",
                     help="root seed (default: the scenario's run.seed)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                     help="override a scenario value by dotted name, e.g. --set run.horizon_years=5 (repeatable)")
    run.add_argument("--out", metavar="DIR", default=None, help="output folder (default: results/<scenario>/)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    cmp = sub.add_parser("compare", help="compare policies with the status quo (or another baseline) on shared seeds",
                         description="Run each POLICY paired with the baseline (default: the status quo) on the "
                                     "same seeds and report the difference in outcomes (mean and 90 % interval "
                                     "across replications), the public cost it adds by payer and the cost per "
                                     "additional settler and engaged person-year.",
                         epilog=COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                         usage="kankei compare [-h] POLICY [POLICY ...] [--baseline FILE] [--reps N] [--seed S] "
                               "[--set KEY=VALUE] [--out DIR] [--precision P] [--posterior FILE [--draws N]] [--quiet]")
    cmp.add_argument("policies", nargs="*", metavar="POLICY", help="policy scenario TOML files (one or more)")
    cmp.add_argument("--baseline", metavar="FILE", default=None,
                     help="baseline scenario TOML (default: the built-in scenarios/status_quo.toml, today's "
                          "policies; scenarios/baseline.toml is no policy)")
    cmp.add_argument("--reps", type=arguments.positive_int, default=None, metavar="N",
                     help="replications (default 5); with --posterior, seeds per draw (default 2)")
    cmp.add_argument("--seed", type=arguments.seed, default=None, metavar="S", help="root seed (default: the baseline's)")
    cmp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                     help="override a value in the baseline and every policy (repeatable)")
    cmp.add_argument("--out", metavar="DIR", default=None,
                     help="output folder (default: results/compare_<baseline>/)")
    cmp.add_argument("--precision", type=arguments.positive_float, default=0.1, metavar="P",
                     help="report the replications an interval of ± P × the mean effect needs (default 0.1)")
    cmp.add_argument("--posterior", metavar="FILE", default=None,
                     help="posterior file (Parquet: draw, weight, one column per parameter; written by kankei "
                          "calibrate): parameter uncertainty in the interval, split from seed noise")
    cmp.add_argument("--draws", type=arguments.positive_int, default=None, metavar="N",
                     help="with --posterior: parameter sets resampled from it, each run on --reps seeds (default 10)")
    cmp.add_argument("--quiet", action="store_true", help="no progress bar")
    cmp.set_defaults(func=cmd_compare)
    register_sweep_commands(sub)
    register_calibration_commands(sub)
    report = sub.add_parser("report", help="one self-contained HTML page of a run, compare or sweep folder",
                            description="Write DIR/report-<lang>.html: figures embedded, tables, scenario and "
                                        "manifest; it opens offline and prints. A folder that kankei run, compare "
                                        "or sweep did not write is refused (exit status 2).")
    report.add_argument("directory", metavar="DIR", help="a results folder")
    report.add_argument("--lang", choices=("ja", "en"), default="en", help="language of the page (default en)")
    report.add_argument("--out", metavar="FILE", default=None, help="output file (default DIR/report-<lang>.html)")
    report.set_defaults(func=cmd_report)
    app = sub.add_parser("app", help="the interactive app (Mesa SolaraViz) in your browser, on this machine only",
                         description="Serve experiments/app.py with Solara: pick a scenario, move lever sliders, "
                                     "press Reset, then Step or Play, and watch stages, the map and spending.")
    app.add_argument("--port", type=arguments.positive_int, default=8765, help="port (default 8765)")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: only this machine can connect)")
    app.set_defaults(func=cmd_app)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """`kankei run`: validate everything first, run, then write all outputs at once."""
    import pandas as pd
    from tqdm import tqdm

    from experiments.runs import run_scenario, write_outputs
    from model.parameters import load_scenario

    from experiments.atomic import check_output_folder

    scenario = load_scenario(args.scenario or default_scenario(), overrides=arguments.overrides(args.overrides))
    out_dir = check_output_folder(Path(args.out) if args.out else results_dir() / scenario.name, "run")
    total = args.reps * scenario.config.run.n_steps
    with tqdm(total=total, desc=f"{scenario.name}", unit="step", disable=True if args.quiet else None,
              file=sys.stderr) as bar:
        out = run_scenario(scenario, reps=args.reps, seed=args.seed, progress=bar.update)
    write_outputs(out, scenario, out_dir)
    with pd.option_context("display.float_format", "{:,.0f}".format, "display.width", 120):
        print(f"\n{scenario.name}: {args.reps} replication(s), {scenario.config.run.n_steps} steps, "
              f"{out.wall_seconds:.1f} s")
        print("\nPeople by stage (national, mean over replications)")
        print(out.summary().to_string())
        print("\nSettlers and leavers per fiscal year (national)")
        print(out.settlers_per_year().to_string())
    print(f"\nwrote {out_dir}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """`kankei compare`: validate every scenario first, run the pairs, write all outputs at once."""
    from tqdm import tqdm

    from experiments.atomic import atomic_folder, check_output_folder
    from experiments.compare import compare, posterior_options
    from experiments.compare_text import format_comparison
    from experiments.plots import plot_comparison
    from experiments.provenance import code_version, package_versions, parameter_hash
    from model.parameters import load_scenario

    if not args.policies:
        raise ScenarioError("kankei compare", "POLICY", "give one or more policy scenario files to compare with "
                            "the baseline, e.g. kankei compare scenarios/policy_relocation_grant.toml (the "
                            "baseline is the status quo unless --baseline FILE names another)")
    overrides = arguments.overrides(args.overrides)
    baseline = load_scenario(args.baseline or status_quo_scenario(), overrides=overrides)
    policies = [load_scenario(p, overrides=overrides) for p in args.policies]
    check_comparable(baseline, policies)
    posterior, draws, reps = posterior_options(args.posterior, args.draws, args.reps, overrides, baseline, policies)
    for p in policies:
        if not p.config.levers and baseline.config.levers:
            print(f"kankei: note: {p.name} has no levers, so it is compared as a policy with the baseline "
                  f"{baseline.name} (the baseline is given with --baseline FILE, not as the first file)",
                  file=sys.stderr)
    out_dir = check_output_folder(Path(args.out) if args.out else results_dir() / f"compare_{baseline.name}",
                                  "compare")
    total = reps * (draws or 1) * (1 + len(policies))
    with tqdm(total=total, desc="runs", unit="run", disable=True if args.quiet else None, file=sys.stderr) as bar:
        result = compare(baseline, policies, reps=reps, seed=args.seed, progress=bar.update,
                         precision=args.precision, posterior=posterior, draws=draws)
    with atomic_folder(out_dir, "compare") as tmp:
        for name in ("table", "cost", "series", "runs", "transfers"):
            frame = getattr(result, name)
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
            if name in ("table", "cost", "transfers"):
                frame.to_csv(tmp / f"{name}.csv", index=False)
        plot_comparison(result, tmp / "comparison.png")
        info = {"baseline": baseline.source, "policies": [p.source for p in policies], "reps": reps,
                "seed": args.seed, "overrides": {k: str(v) for k, v in overrides.items()},
                "code_version": code_version(), "packages": package_versions(),
                "parameter_hashes": {s.name: parameter_hash(s.config) for s in (baseline, *policies)}}
        if result.posterior is not None:
            info["posterior"] = result.posterior
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
    print("\n" + format_comparison(result, baseline.name, args.precision))
    print(f"\nwrote {out_dir}")
    return 0


def check_comparable(baseline, policies) -> None:
    """Before any run: policy names are distinct and every scenario has the baseline's regions and steps."""
    from model.regions import read_region_table

    seen: dict[str, str] = {baseline.name: baseline.source}
    for p in policies:
        if p.name in seen:
            raise ScenarioError(p.source, "run.name", f"the name {p.name!r} is also the name of {seen[p.name]}; "
                                "scenarios in one comparison need distinct names (set run.name or rename a file)")
        seen[p.name] = p.source
    codes = read_region_table(baseline.data_path()).codes
    grid = _time_grid(baseline)
    for p in policies:
        other = read_region_table(p.data_path()).codes
        if len(other) != len(codes) or (other != codes).any():
            raise ScenarioError(p.source, "regions.data", f"its region table ({p.data_path()}, {len(other)} regions) "
                                f"differs from the baseline's ({baseline.data_path()}, {len(codes)} regions); "
                                "a comparison needs the same regions in both")
        if _time_grid(p) != grid:
            raise ScenarioError(p.source, "run", f"start, steps per year and steps {_time_grid(p)} differ from the "
                                f"baseline's {grid}; a comparison needs the same time steps")


def _time_grid(scenario) -> tuple:
    run = scenario.config.run
    return run.start, run.steps_per_year, run.n_steps


def cmd_report(args: argparse.Namespace) -> int:
    """`kankei report`: build the page, then write it at once."""
    from experiments.atomic import check_report_file
    from experiments.report import write_report

    check_report_file(args.out or Path(args.directory) / f"report-{args.lang}.html")
    print(f"wrote {write_report(args.directory, args.lang, args.out)}")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """`kankei app`: run the Solara server until Ctrl-C (or SIGTERM), then stop it with one line, 130.

    The server runs in its own session, so a terminal's Ctrl-C reaches only this process, which then
    asks the server to shut down (SIGTERM) and waits for it; on Linux the server also ends if this
    process is killed outright (PR_SET_PDEATHSIG).
    """
    import signal
    import subprocess

    from experiments.interrupts import quiet_second_interrupt

    command = [sys.executable, "-m", "solara", "run", str(Path(__file__).with_name("app.py")), "--production",
               "--no-open", "--host", args.host, "--port", str(args.port)]
    print(f"Kankei app on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    server = subprocess.Popen(command, start_new_session=True, preexec_fn=_end_with_parent)
    try:
        return server.wait()
    except KeyboardInterrupt:
        quiet_second_interrupt()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print("kankei: app stopped", file=sys.stderr)
        return EXIT_INTERRUPTED


def _end_with_parent() -> None:
    """In the server process (Linux): receive SIGTERM when the `kankei app` process dies."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kankei` console script.

    A user mistake is one line on stderr and exit status 2; Ctrl-C (once or twice) is one line and
    130; a closed pipe (`kankei run | head`) ends quietly with 141 after the outputs are written.
    """
    from experiments.interrupts import quiet_second_interrupt

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"kankei: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        quiet_second_interrupt()
        print("kankei: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:   # a write error not met by a command's own handling (e.g. opening a sweep folder)
        from experiments.atomic import WRITE_ERRORS

        if exc.errno not in WRITE_ERRORS:
            raise
        print(f"kankei: error: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that Python's exit flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
