"""Policy comparison (政策比較): each policy paired with the baseline on the same seeds.

Common random numbers: a policy run and its baseline run share the seed, so every draw a lever
does not touch is the same, and before a lever starts the two runs are identical. The difference
in an outcome is taken per seed and summarised across replications (mean and a 90 % interval).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.outcomes import RunView, summarise
from experiments.runs import replication_seeds
from model import KankeiScenario, RelationModel
from model.levers.base import PAYERS
from model.stages import Flow

#: outcomes compared, from the outcome registry (`experiments.outcomes.OUTCOMES`), in the policy's regions
COMPARED = ("settlers_total", "engaged_person_years", "final_engaged", "adults_final", "spending_yen")
PAYER_OUTCOMES = tuple(f"spending_{payer}_yen" for payer in PAYERS)


def policy_regions(model: RelationModel) -> np.ndarray:
    """Regions a policy acts in (the union of its levers' `regions`); all regions if it has no lever."""
    mask = np.zeros(model.table.n, dtype=bool)
    for _, _, masks in model.levers.levers:
        mask |= masks["regions"]
    return mask if mask.any() else np.ones(model.table.n, dtype=bool)


def run_outcomes(model: RelationModel, mask: np.ndarray) -> dict[str, float]:
    """The compared outcomes and spending by payer of a finished model within `mask`."""
    return summarise(model, [*COMPARED, *PAYER_OUTCOMES], regions=mask)


@dataclass
class Comparison:
    """Results of `compare`: tidy tables for each policy against the baseline."""

    table: pd.DataFrame       # policy, outcome (COMPARED), baseline, policy_value, difference, low, high (90 %)
    cost: pd.DataFrame        # policy, spending_yen, by payer, yen_per_settler, yen_per_engaged_person_year
    series: pd.DataFrame      # policy, rep, step, date, engaged_difference, settled_difference
    runs: pd.DataFrame        # every run's outcomes: policy, rep, seed, outcome columns


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    return float(values.mean()), float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))


def compare(baseline: KankeiScenario, policies: list[KankeiScenario], reps: int = 5, seed: int | None = None,
            progress: Callable[[int], None] | None = None) -> Comparison:
    """Run every policy paired with the baseline on `reps` shared seeds and summarise the differences."""
    root = baseline.config.run.seed if seed is None else seed
    seeds = replication_seeds(root, reps)
    rows, series = [], []
    for rep, s in enumerate(seeds):
        base = RelationModel(scenario=baseline, rng=s)
        base.run()
        if progress:
            progress(1)
        for policy in policies:
            pol = RelationModel(scenario=policy, rng=s)
            pol.run()
            if progress:
                progress(1)
            mask = policy_regions(pol)
            b, p = run_outcomes(base, mask), run_outcomes(pol, mask)
            rows.append({"policy": policy.name, "rep": rep, "seed": s,
                         **{f"baseline_{k}": v for k, v in b.items()}, **p})
            vb, vp = RunView(base, mask), RunView(pol, mask)
            series.append(pd.DataFrame({
                "policy": policy.name, "rep": rep, "step": np.arange(pol.n_steps + 1), "date": pol.dates,
                "engaged_difference": vp.engaged() - vb.engaged(),
                "settled_difference": np.cumsum(vp.flow_series(Flow.SETTLE)) - np.cumsum(vb.flow_series(Flow.SETTLE)),
            }))
    runs = pd.DataFrame(rows)
    table_rows, cost_rows = [], []
    for name, g in runs.groupby("policy", sort=False):
        for outcome in COMPARED:
            diff = (g[outcome] - g[f"baseline_{outcome}"]).to_numpy()
            mean, low, high = _interval(diff)
            table_rows.append({"policy": name, "outcome": outcome, "baseline": g[f"baseline_{outcome}"].mean(),
                               "policy_value": g[outcome].mean(), "difference": mean, "low": low, "high": high})
        spend = g["spending_yen"].mean()
        d_settlers = (g["settlers_total"] - g["baseline_settlers_total"]).mean()
        d_epy = (g["engaged_person_years"] - g["baseline_engaged_person_years"]).mean()
        cost_rows.append({
            "policy": name, "spending_yen": spend,
            **{f"{payer}_yen": g[f"spending_{payer}_yen"].mean() for payer in PAYERS},
            "additional_settlers": d_settlers, "additional_engaged_person_years": d_epy,
            "yen_per_additional_settler": spend / d_settlers if d_settlers > 0 else np.nan,
            "yen_per_additional_engaged_person_year": spend / d_epy if d_epy > 0 else np.nan,
        })
    return Comparison(table=pd.DataFrame(table_rows), cost=pd.DataFrame(cost_rows),
                      series=pd.concat(series, ignore_index=True), runs=runs)
