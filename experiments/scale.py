"""Scale study (規模依存性の検証): do effects and their pairing depend on `run.people_per_agent`?

For a baseline and some policies, at each scale, run `reps` paired replications (the seeds
`kankei compare` uses) and report per policy and outcome: the mean paired difference, the paired sd
(sd of the per-seed differences), the unpaired sd (sd of a difference of independent runs,
√(var baseline + var policy)) and their ratio, the baseline mean and its sd. Outcomes are measured in
the regions of the levers each policy adds or changes, as in `kankei compare`.

    uv run python -m experiments.scale scenarios/status_quo.toml scenarios/policy_intermediary.toml \
        --ppa 200 1000 --reps 10 --set run.horizon_years=7.5
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.arguments import overrides as parse_overrides
from experiments.compare import policy_regions
from experiments.intervals import mean_interval
from experiments.outcomes import summarise
from experiments.runs import replication_seeds
from model import KankeiScenario, RelationModel, load_scenario

OUTCOMES = ("settlers_total", "final_engaged")


def paired_runs(baseline: KankeiScenario, policies: list[KankeiScenario], reps: int, seed: int | None = None,
                outcomes: tuple[str, ...] = OUTCOMES) -> pd.DataFrame:
    """One row per (policy, replication): the outcomes of the baseline and the policy run on one seed."""
    root = baseline.config.run.seed if seed is None else seed
    rows = []
    for rep, s in enumerate(replication_seeds(root, reps)):
        base = RelationModel(scenario=baseline, rng=s).run()
        for policy in policies:
            pol = RelationModel(scenario=policy, rng=s).run()
            mask = policy_regions(pol, base)
            b, p = summarise(base, list(outcomes), regions=mask), summarise(pol, list(outcomes), regions=mask)
            rows.append({"policy": policy.name, "rep": rep, "seed": s,
                         **{f"baseline_{k}": v for k, v in b.items()}, **p})
    return pd.DataFrame(rows)


def summarise_pairs(runs: pd.DataFrame, outcomes: tuple[str, ...] = OUTCOMES) -> pd.DataFrame:
    """Per policy and outcome: effect, its 90 % interval, paired and unpaired sd, baseline mean and sd."""
    rows = []
    for name, g in runs.groupby("policy", sort=False):
        for outcome in outcomes:
            b, p = g[f"baseline_{outcome}"].to_numpy(), g[outcome].to_numpy()
            d = p - b
            low, high = mean_interval(d)
            paired = float(d.std(ddof=1)) if len(d) > 1 else math.nan
            unpaired = math.sqrt(b.var(ddof=1) + p.var(ddof=1)) if len(d) > 1 else math.nan
            rows.append({"policy": name, "outcome": outcome, "reps": len(d), "effect": float(d.mean()),
                         "low": low, "high": high, "paired_sd": paired, "unpaired_sd": unpaired,
                         "paired_over_unpaired": paired / unpaired if unpaired > 0 else math.nan,
                         "baseline": float(b.mean()), "baseline_sd": float(b.std(ddof=1)) if len(b) > 1 else math.nan})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline")
    ap.add_argument("policies", nargs="+")
    ap.add_argument("--ppa", type=float, nargs="+", default=[200.0, 1000.0], help="people per agent to compare")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, default=None, help="write the table as CSV here")
    args = ap.parse_args(argv)
    overrides = parse_overrides(args.overrides)
    tables = []
    for ppa in args.ppa:
        over = {**overrides, "run.people_per_agent": ppa}
        start = time.perf_counter()
        base = load_scenario(args.baseline, overrides=over)
        pols = [load_scenario(p, overrides=over) for p in args.policies]
        table = summarise_pairs(paired_runs(base, pols, args.reps, args.seed))
        table.insert(0, "ppa", ppa)
        tables.append(table)
        print(f"ppa {ppa:g}: {time.perf_counter() - start:.0f} s", flush=True)
    out = pd.concat(tables, ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:,.3g}".format):
        print(out.drop(columns=["low", "high"]).to_string(index=False))
    if args.out:
        out.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
