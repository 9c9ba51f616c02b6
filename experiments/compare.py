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

With a posterior (`experiments.posterior`, `kankei compare --posterior FILE --draws D`), parameter
uncertainty enters too: D parameter sets are resampled from the posterior by weight, each runs on
K = `reps` seeds of its own (D·K replications), and in each replication the policy and its baseline
share both the draw and the seed. The paired differences then vary for two reasons, and each
outcome's row splits their variance by a one-way random-effects analysis of variance (method of
moments, `experiments.posterior.variance_parts`): a parameter part (between draws) and a stochastic
part (within a draw, between its seeds); `share_parameter` and `share_stochastic` are their shares of
the variance of the mean difference, i.e. of the interval's squared width. The interval is the same
expanded-percentile bootstrap, applied to the D draws' mean differences (each draw's seeds resampled
together): the draws are independent, and a draw's mean carries both its parameter and its seed
noise, so resampling draws holds both parts, while resampling seeds as well would count the seed
noise twice (Davison & Hinkley, *Bootstrap Methods and their Application*, 1997, §3.8; Field &
Welsh, J. R. Statist. Soc. B 69(3), 2007). docs/experiments.md "Parameter uncertainty" has the details.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.intervals import (INTERVAL_LABEL, LEVEL, MIN_REPS, RESAMPLES, cost_per_outcome, effect_status,
                                   mean_interval, replications_for_width, status_text)
from experiments.outcomes import LEDGER_OUTCOMES, RunView, summarise
from experiments.posterior import Posterior, draw_seed, parameter_value, variance_parts
from experiments.runs import replication_seeds
from model import KankeiScenario, RelationModel
from model.errors import ScenarioError
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
REPS = 5                  # replications without a posterior
DRAWS, SEEDS_PER_DRAW = 10, 2   # with a posterior: parameter draws, and seeds (replications) per draw
POSTERIOR_INTERVAL_LABEL = (f"{LEVEL:.0%} bootstrap interval of the mean paired difference over posterior draws "
                            f"(expanded percentile, {RESAMPLES:,} resamples of the draws' mean differences; each "
                            "draw's seeds stay together)")
#: the columns a posterior adds to the comparison table
POSTERIOR_COLUMNS = ("draws", "seeds_per_draw", "sd_parameter", "sd_stochastic", "share_parameter",
                     "share_stochastic")


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
    posterior: dict | None = None   # with a posterior: its description, draws and seeds per draw


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


def posterior_difference_summary(diffs: np.ndarray, draws: int, seeds: int, precision: float = PRECISION,
                                 point: bool = False) -> dict[str, float | str]:
    """`difference_summary` for replications over posterior draws: `diffs` in replication order
    (draw d's seeds k at d·seeds + k). The mean is over all replications; the interval is the
    expanded-percentile bootstrap of the draws' mean differences (none with fewer than 3 draws); the
    variance is split into a parameter and a stochastic part (`variance_parts`, shares of the variance
    of the mean); `reps_for_precision` and `reps_to_exclude_zero` count replications at `seeds` per draw.

    A `point` posterior (every particle the same values) has no parameter part: its replications are
    then independent seeds of one parameter set and are summarised as without a posterior.
    """
    y = np.asarray(diffs, dtype=float).reshape(draws, seeds)
    n = y.size
    if point:
        out = difference_summary(y.ravel(), precision)
        sd = out["sd"]
        share = (0.0, 1.0) if math.isfinite(sd) and sd > 0 else (math.nan, math.nan)
        out.update(draws=draws, seeds_per_draw=seeds, sd_parameter=0.0, sd_stochastic=sd,
                   share_parameter=share[0], share_stochastic=share[1])
        out["note"] = "; ".join(filter(None, [out["note"], "every posterior particle has the same parameter values: "
                                              "no parameter part"]))
        return _ordered(out)
    means = y.mean(axis=1)
    mean = float(y.mean())
    low, high = mean_interval(means)
    spread = y - y.flat[0]          # equal differences give a spread of exactly 0, not rounding noise
    sd = float(spread.std(ddof=1)) if n >= 2 else math.nan
    sd_draws = float(spread.mean(axis=1).std(ddof=1)) if draws >= 2 else math.nan
    parts = variance_parts(y)
    share_p, share_s = parts.shares
    status = effect_status(low, high)
    notes = []
    if status == "no_interval":
        notes.append(f"no interval estimated: fewer than {MIN_REPS} posterior draws ({draws})")
    elif status in ("not_distinguishable", "negative"):
        notes.append(f"{status_text(status, n)} ({draws} draws × {seeds} seeds)")
    if seeds < 2:
        notes.append("one seed per draw: the parameter and stochastic parts cannot be separated")
    elif draws < 2:
        notes.append("one draw: the parameter part cannot be estimated")
    elif parts.clamped:
        notes.append("parameter part set to 0: its moment estimate was negative (the draws' means differ less "
                     "than their seeds do)")
    if mean == 0 and sd == 0:
        notes.append("identical to the baseline in every replication")
    elif sd == 0:
        notes.append("the same difference in every replication: no spread to split")
    elif mean == 0:
        notes.append("mean difference is zero: no width to aim for")

    def reps_for(width: float) -> float:
        return seeds * replications_for_width(sd_draws, width)

    return _ordered({"difference": mean, "low": low, "high": high, "sd": sd, "reps": n, "draws": draws,
                     "seeds_per_draw": seeds, "sd_parameter": math.sqrt(parts.between),
                     "sd_stochastic": math.sqrt(parts.within), "share_parameter": share_p,
                     "share_stochastic": share_s, "status": status,
                     "reps_for_precision": reps_for(2 * precision * abs(mean)),
                     "reps_to_exclude_zero": reps_for(2 * abs(mean)), "note": "; ".join(notes)})


def _ordered(row: dict) -> dict:
    first = ("difference", "low", "high", "sd", "reps", *POSTERIOR_COLUMNS, "status", "reps_for_precision",
             "reps_to_exclude_zero", "note")
    return {k: row[k] for k in first}


@dataclass(frozen=True)
class Replication:
    """One paired replication: its index, seed and, with a posterior, its draw."""

    rep: int
    seed: int
    slot: int | None = None     # which of the D posterior draws (0..D−1)
    draw: int | None = None     # that draw's particle id (the posterior file's `draw`)


def replications(root: int, reps: int, posterior: Posterior | None = None,
                 draws: int | None = None) -> list[Replication]:
    """The replications of a comparison: `reps` seeds spawned from `root`; with a posterior, `draws`
    particles resampled by weight (seeded by `draw_seed(root)`), each on `reps` seeds of its own
    (replication d·reps + k is draw d's seed k; seeds are spawned for replications 0..draws·reps−1)."""
    if posterior is None:
        return [Replication(r, s) for r, s in enumerate(replication_seeds(root, reps))]
    d_count = DRAWS if draws is None else draws
    ids = posterior.indices(d_count, draw_seed(root))
    seeds = replication_seeds(root, d_count * reps)
    return [Replication(d * reps + k, seeds[d * reps + k], d, int(ids[d]))
            for d in range(d_count) for k in range(reps)]


def posterior_options(path: str | None, draws: int | None, reps: int | None, overrides: dict,
                      baseline: KankeiScenario, policies: list[KankeiScenario]) -> tuple[Posterior | None, int | None, int]:
    """`kankei compare`'s --posterior, --draws and --reps, checked before any run: (posterior or None,
    draws, replications per draw or in all). The posterior is validated against the baseline and every
    policy; a parameter it draws may not be fixed by --set, nor differ between a policy and the baseline
    (each draw sets it in both, so the policy's own value would be lost). A lever's effect size is set in
    each scenario that has a lever of that name: a policy that removed the lever stays without it."""
    if path is None:
        if draws is not None:
            raise ScenarioError("--draws", str(draws), "needs --posterior FILE: draws are parameter sets resampled "
                                "from a posterior")
        return None, None, REPS if reps is None else reps
    from experiments.posterior import load_posterior

    post = load_posterior(path, [baseline, *policies])
    for key in overrides:
        if key in post.parameters:
            raise ScenarioError("--set", key, f"is a parameter of the posterior {path}: each draw sets it; remove it "
                                "from --set")
    for policy in policies:
        for key in post.parameters:
            a, b = parameter_value(baseline.config, key), parameter_value(policy.config, key)
            if a is not None and b is not None and a != b:   # None: a lever the scenario does not have
                raise ScenarioError(policy.source, key, f"is {b!r} here and {a!r} in the baseline, and it is a "
                                    f"parameter of the posterior {path}: each draw sets it in both, so the policy's "
                                    "own value would be lost. Compare on the baseline's value or drop the column")
    return post, DRAWS if draws is None else draws, SEEDS_PER_DRAW if reps is None else reps


def compare(baseline: KankeiScenario, policies: list[KankeiScenario], reps: int | None = None,
            seed: int | None = None, progress: Callable[[int], None] | None = None, precision: float = PRECISION,
            posterior: Posterior | None = None, draws: int | None = None) -> Comparison:
    """Run every policy paired with the baseline on `reps` shared seeds (default 5) and summarise the
    differences; `precision` sets the width asked of `reps_for_precision` (± that share of the mean effect).

    With a `posterior`: `draws` parameter sets (default 10) are resampled from it and each runs on
    `reps` seeds (default 2); policy and baseline share the draw and the seed of every replication;
    the table gains `POSTERIOR_COLUMNS` (`posterior_difference_summary`), and the runs and series
    record each replication's draw (`draw_slot`, `draw`) and the runs its parameter values.
    """
    root = baseline.config.run.seed if seed is None else seed
    if reps is None:
        reps = REPS if posterior is None else SEEDS_PER_DRAW
    plan = replications(root, reps, posterior, draws)
    scenarios: dict[tuple[int, int | None], KankeiScenario] = {}
    for i, sc in enumerate((baseline, *policies)):     # every drawn scenario validated before any run
        for rep in plan:
            if (i, rep.draw) not in scenarios:
                scenarios[i, rep.draw] = sc if posterior is None else posterior.apply(sc, rep.draw)
    rows, series, books = [], [], []
    for rep in plan:
        s = rep.seed
        base = RelationModel(scenario=scenarios[0, rep.draw], rng=s)
        base.run()
        if progress:
            progress(1)
        drawn = {} if posterior is None else {"draw_slot": rep.slot, "draw": rep.draw}
        for i, policy in enumerate(policies, start=1):
            pol = RelationModel(scenario=scenarios[i, rep.draw], rng=s)
            pol.run()
            if progress:
                progress(1)
            mask = policy_regions(pol, base)
            b, p = run_outcomes(base, mask), run_outcomes(pol, mask)
            values = {} if posterior is None else posterior.values(rep.draw)
            rows.append({"policy": policy.name, "rep": rep.rep, "seed": s, **drawn, **values,
                         **{f"baseline_{k}": v for k, v in b.items()}, **p, **participation(base, pol)})
            vb, vp = RunView(base, mask), RunView(pol, mask)
            series.append(pd.DataFrame({
                "policy": policy.name, "rep": rep.rep, **drawn, "step": np.arange(pol.n_steps + 1), "date": pol.dates,
                "engaged_difference": vp.engaged() - vb.engaged(),
                "settled_difference": np.cumsum(vp.flow_series(Flow.SETTLE)) - np.cumsum(vb.flow_series(Flow.SETTLE)),
            }))
            books.append(ledger_difference(base, pol, mask).assign(policy=policy.name))
    runs = pd.DataFrame(rows)
    n_draws = None if posterior is None else len(plan) // reps
    point = posterior is not None and posterior.is_point
    table_rows, cost_rows = [], []
    for name, g in runs.groupby("policy", sort=False):
        g = g.sort_values("rep", kind="stable")
        for outcome in COMPARED:
            diff = (g[outcome] - g[f"baseline_{outcome}"]).to_numpy()
            summary = (difference_summary(diff, precision) if posterior is None else
                       posterior_difference_summary(diff, n_draws, reps, precision, point))
            table_rows.append({"policy": name, "outcome": outcome, "baseline": g[f"baseline_{outcome}"].mean(),
                               "policy_value": g[outcome].mean(), **summary})
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
        transfers["yen"] /= len(plan)
    table.attrs["interval"] = INTERVAL_LABEL if posterior is None or point else POSTERIOR_INTERVAL_LABEL
    info = None if posterior is None else {
        **posterior.describe(), "draws": n_draws, "seeds_per_draw": reps, "draw_seed": draw_seed(root),
        "drawn": [plan[d * reps].draw for d in range(n_draws)]}
    return Comparison(table=table, cost=cost, series=pd.concat(series, ignore_index=True), runs=runs,
                      transfers=transfers, posterior=info)
