"""Policy comparison (政策比較): each policy paired with the baseline on the same seeds.

Common random numbers: a policy run and its baseline run share the seed, so every draw a lever
does not touch is the same, and before a lever starts the two runs are identical. The difference
in an outcome is taken per seed and summarised across replications: the mean, its paired sd, a 90 %
bootstrap interval of the mean (`experiments.intervals`; none with fewer than 3 replications), the
replications a given width would need, and a status that says whether the effect is
distinguishable from zero. Cost per outcome follows the one rule of `experiments.intervals`.

A policy is usually the baseline plus a change (the default baseline of `kankei compare` is the status
quo, `scenarios/status_quo.toml`; a policy file extends it and adds or changes levers). So outcomes are
counted in the regions of the levers the policy adds or changes (`changed_levers`), and money (spending
by payer, the ledger) and programme participants are the policy run's less the baseline run's: what
the change adds. With a baseline without levers this is the policy's own money and participants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.intervals import (INTERVAL_LABEL, cost_per_outcome, effect_status, mean_interval,
                                   replications_for_width, status_text)
from experiments.outcomes import LEDGER_OUTCOMES, RunView, summarise
from experiments.runs import replication_seeds
from model import KankeiScenario, RelationModel
from model.levers.base import PAYERS
from model.stages import Flow, Stage

#: outcomes compared, from the outcome registry (`experiments.outcomes.OUTCOMES`), in the policy's regions
COMPARED = ("settlers_total", "engaged_person_years", "final_engaged", "adults_final", "spending_yen")
PAYER_OUTCOMES = tuple(f"spending_{payer}_yen" for payer in PAYERS)
MONEY_OUTCOMES = (*PAYER_OUTCOMES, *LEDGER_OUTCOMES, "net_public_cost_yen")
#: outcomes priced in the cost table: (outcome, cost column, status column)
PRICED = (("settlers_total", "yen_per_additional_settler", "settler_cost_status"),
          ("engaged_person_years", "yen_per_additional_engaged_person_year", "engaged_person_year_cost_status"))
PRECISION = 0.1   # default target: an interval of ± this share of the mean effect
INSIDE, ELSEWHERE = "policy regions", "elsewhere"


def changed_levers(model: RelationModel, baseline: RelationModel | None = None) -> tuple[list[int], list[int]]:
    """What a policy changes relative to its baseline: the indices of the policy's levers that the
    baseline does not hold identically (added or changed), and of the baseline's levers that the
    policy does not hold identically (changed or removed). Without a baseline, every lever is added."""
    if baseline is None:
        return [i for i, _, _ in model.levers.levers], []
    ours = [lever for _, lever, _ in model.levers.levers]
    theirs = [lever for _, lever, _ in baseline.levers.levers]
    return ([i for i, lever, _ in model.levers.levers if lever not in theirs],
            [i for i, lever, _ in baseline.levers.levers if lever not in ours])


def policy_regions(model: RelationModel, baseline: RelationModel | None = None) -> np.ndarray:
    """Regions a policy acts in: the union of the `regions` of the levers it adds or changes relative
    to `baseline` (with the regions of baseline levers it changes or removes), or of all its levers
    without a baseline; all regions if there is none (a policy that changes no lever)."""
    mask = np.zeros(model.table.n, dtype=bool)
    added, dropped = changed_levers(model, baseline)
    for run, which in ((model, added), (baseline, dropped)):
        for i, _, masks in (run.levers.levers if which else ()):
            if i in which:
                mask |= masks["regions"]
    return mask if mask.any() else np.ones(model.table.n, dtype=bool)


def run_outcomes(model: RelationModel, mask: np.ndarray) -> dict[str, float]:
    """The compared outcomes, spending by payer and the ledger of a finished model within `mask`."""
    return summarise(model, [*COMPARED, *MONEY_OUTCOMES], regions=mask)


@dataclass
class Comparison:
    """Results of `compare`: tidy tables for each policy against the baseline."""

    table: pd.DataFrame       # policy, outcome (COMPARED), baseline, policy_value, difference, low, high (90 %),
    #                           sd, reps, status, reps_for_precision, reps_to_exclude_zero, note
    cost: pd.DataFrame        # policy, spending_yen, by payer, yen_per_additional_settler, ..., the ledger's totals
    series: pd.DataFrame      # policy, rep, step, date, engaged_difference, settled_difference
    runs: pd.DataFrame        # every run's outcomes: policy, rep, seed, outcome columns
    transfers: pd.DataFrame = field(default_factory=pd.DataFrame)
    #                           policy, fiscal_year, item, payer, where (policy regions / elsewhere), yen (mean)


def difference_summary(diffs: np.ndarray, precision: float = PRECISION) -> dict[str, float | str]:
    """Mean, interval, sd, status, replications needed and a note explaining every NaN, of paired differences."""
    n = len(diffs)
    mean = float(diffs.mean())
    low, high = mean_interval(diffs)
    sd = float(diffs.std(ddof=1)) if n >= 2 else math.nan
    status = effect_status(low, high)
    notes = [status_text(status, n)] if status in ("no_interval", "not_distinguishable", "negative") else []
    if n < 2:
        notes.append("no sd (and no replications needed) from one replication")
    elif mean == 0 and sd == 0:
        notes.append("identical to the baseline in every replication")
    elif mean == 0:
        notes.append("mean difference is zero: no width to aim for")
    return {"difference": mean, "low": low, "high": high, "sd": sd, "reps": n, "status": status,
            "reps_for_precision": replications_for_width(sd, 2 * precision * abs(mean)),
            "reps_to_exclude_zero": replications_for_width(sd, 2 * abs(mean)),
            "note": "; ".join(notes)}


LEDGER_KEYS = ["fiscal_year", "item", "payer", "where"]


def _ledger_rows(model: RelationModel, mask: np.ndarray) -> pd.DataFrame:
    book = model.history.ledger_frame()
    inside = set(model.table.codes[mask].tolist())
    book["where"] = np.where(book["region"].isin(inside), INSIDE, ELSEWHERE)
    return book.groupby(LEDGER_KEYS, observed=True, as_index=False)["yen"].sum()


def ledger_difference(base: RelationModel, pol: RelationModel, mask: np.ndarray) -> pd.DataFrame:
    """The policy run's ledger less its baseline run's, by fiscal year, item, payer and where it falls
    (rows that differ only; the policy's ledger itself when the baseline moves no money)."""
    ours, theirs = _ledger_rows(pol, mask), _ledger_rows(base, mask)
    if theirs.empty:
        return ours
    both = ours.merge(theirs, on=LEDGER_KEYS, how="outer", suffixes=("", "_baseline"))
    both["yen"] = both["yen"].fillna(0.0) - both["yen_baseline"].fillna(0.0)
    return both.loc[both["yen"] != 0, [*LEDGER_KEYS, "yen"]].reset_index(drop=True)


PARTICIPATION = ("participants", "participants_engaged_end", "participants_engaged_end_anyway",
                 "participants_settled_end", "participants_settled_end_anyway")


def added(runs: pd.DataFrame, outcome: str) -> float:
    """Mean over replications of the policy's value less its baseline's (money the policy adds)."""
    return float((runs[outcome] - runs[f"baseline_{outcome}"]).mean())


def deadweight(runs: pd.DataFrame) -> dict[str, float]:
    """Mean participants over replications and the deadweight shares: of the participants who are
    関係人口 or deeper (or settled) at the end, the share who are so in the baseline too."""
    if "participants" not in runs.columns or runs["participants"].isna().all():
        return {}
    mean = runs[list(PARTICIPATION)].mean()

    def share(anyway: str, reached: str) -> float:
        return float(mean[anyway] / mean[reached]) if mean[reached] > 0 else np.nan

    return {"participants": float(mean["participants"]),
            "yen_per_participant": added(runs, "spending_yen") / float(mean["participants"])
            if mean["participants"] > 0 else np.nan,
            "deadweight_engaged_share": share("participants_engaged_end_anyway", "participants_engaged_end"),
            "deadweight_settled_share": share("participants_settled_end_anyway", "participants_settled_end")}


def participation(base: RelationModel, pol: RelationModel) -> dict[str, float]:
    """Deadweight, exactly (同じ乱数での対照): the people a policy's programmes enrolled, how many are
    関係人口 or deeper (ENGAGED, DUAL, SETTLED) and settled at the end, and how many of those are so in
    the baseline run on the same seed too (person slots line up across the paired runs), in real people.
    Only the programme levers the policy adds or changes count, and of a changed one only the people
    the baseline run did not enrol in it too."""
    n = base.people.n
    slots = [pol.levers.slots[i] for i in changed_levers(pol, base)[0] if i in pol.levers.slots]
    if not slots or pol.people.n != n:
        return {}
    theirs = base.levers.programme_labels()
    same_slot = np.array([theirs.index(label) if label in theirs else -2 for label in pol.levers.programme_labels()])
    programme = pol.people.programme[:n]
    enrolled = np.isin(programme, slots)
    enrolled[enrolled] = base.people.programme[:n][enrolled] != same_slot[programme[enrolled]]
    deep = (Stage.ENGAGED, Stage.DUAL, Stage.SETTLED)
    engaged_pol = np.isin(pol.people.stage[:n], deep) & enrolled
    engaged_base = np.isin(base.people.stage[:n], deep)
    settled_pol = (pol.people.stage[:n] == Stage.SETTLED) & enrolled
    settled_base = base.people.stage[:n] == Stage.SETTLED
    counts = (enrolled.sum(), engaged_pol.sum(), (engaged_pol & engaged_base).sum(), settled_pol.sum(),
              (settled_pol & settled_base).sum())
    return {name: float(pol.scale.people(int(c))) for name, c in zip(PARTICIPATION, counts)}


def compare(baseline: KankeiScenario, policies: list[KankeiScenario], reps: int = 5, seed: int | None = None,
            progress: Callable[[int], None] | None = None, precision: float = PRECISION) -> Comparison:
    """Run every policy paired with the baseline on `reps` shared seeds and summarise the differences;
    `precision` sets the width asked of `reps_for_precision` (± that share of the mean effect)."""
    root = baseline.config.run.seed if seed is None else seed
    seeds = replication_seeds(root, reps)
    rows, series, books = [], [], []
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
            mask = policy_regions(pol, base)
            b, p = run_outcomes(base, mask), run_outcomes(pol, mask)
            rows.append({"policy": policy.name, "rep": rep, "seed": s,
                         **{f"baseline_{k}": v for k, v in b.items()}, **p, **participation(base, pol)})
            vb, vp = RunView(base, mask), RunView(pol, mask)
            series.append(pd.DataFrame({
                "policy": policy.name, "rep": rep, "step": np.arange(pol.n_steps + 1), "date": pol.dates,
                "engaged_difference": vp.engaged() - vb.engaged(),
                "settled_difference": np.cumsum(vp.flow_series(Flow.SETTLE)) - np.cumsum(vb.flow_series(Flow.SETTLE)),
            }))
            books.append(ledger_difference(base, pol, mask).assign(policy=policy.name))
    runs = pd.DataFrame(rows)
    table_rows, cost_rows = [], []
    for name, g in runs.groupby("policy", sort=False):
        for outcome in COMPARED:
            diff = (g[outcome] - g[f"baseline_{outcome}"]).to_numpy()
            table_rows.append({"policy": name, "outcome": outcome, "baseline": g[f"baseline_{outcome}"].mean(),
                               "policy_value": g[outcome].mean(), **difference_summary(diff, precision)})
        cost_rows.append({   # money the policy adds to its baseline's (the baseline's own is 0 without levers)
            "policy": name, "spending_yen": added(g, "spending_yen"),
            **{f"{payer}_yen": added(g, f"spending_{payer}_yen") for payer in PAYERS},
            "additional_settlers": (g["settlers_total"] - g["baseline_settlers_total"]).mean(),
            "additional_engaged_person_years": (g["engaged_person_years"] - g["baseline_engaged_person_years"]).mean(),
            **{o: added(g, o) for o in (*LEDGER_OUTCOMES, "net_public_cost_yen")},
            **deadweight(g),
        })
    table, cost = pd.DataFrame(table_rows), pd.DataFrame(cost_rows)
    for outcome, column, status in PRICED:
        priced = cost_per_outcome(table, cost, outcome).reindex(cost["policy"])
        cost[column] = priced["yen"].to_numpy()
        cost[status] = priced["status"].to_numpy()
    transfers = pd.concat(books, ignore_index=True) if books else pd.DataFrame()
    if not transfers.empty:
        transfers = (transfers.groupby(["policy", "fiscal_year", "item", "payer", "where"], observed=True,
                                       sort=False, as_index=False)["yen"].sum())
        transfers["yen"] /= reps
    table.attrs["interval"] = INTERVAL_LABEL
    return Comparison(table=table, cost=cost, series=pd.concat(series, ignore_index=True), runs=runs,
                      transfers=transfers)
