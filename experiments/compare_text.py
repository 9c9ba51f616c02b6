"""The printed `kankei compare` report (比較結果の表示): one block per policy and a summary table.

Every number that cannot be given is replaced by the reason (`Comparison.table["note"]`,
`experiments.intervals.status_text`); costs per outcome follow the one rule of
`experiments.intervals.cost_per_outcome`. Columns are aligned for Japanese labels
(`experiments.terminal`).
"""

from __future__ import annotations

import math

import pandas as pd

from experiments.compare import ELSEWHERE, PRICED, Comparison
from experiments.intervals import INTERVAL_LABEL, LEVEL, status_text
from experiments.outcomes import OUTCOMES
from experiments.terminal import render_table
from model.levers.base import LEDGER, PAYERS

PAYER_JA = {"national": "国", "prefecture": "都道府県", "municipality": "市町村"}


def yen(value: float) -> str:
    """Yen, short: ¥1.23 bn, ¥4.5 M, ¥12 k, ¥0."""
    if not math.isfinite(value):
        return "—"
    for size, unit in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"¥{value / size:,.3g} {unit}" if abs(value) < 1000 * size else f"¥{value / size:,.0f} {unit}"
    return f"¥{value:,.0f}"


def number(value: float, money: bool = False) -> str:
    """A cell: people with thousands separators, yen short; '—' for NaN."""
    if not math.isfinite(value):
        return "—"
    return yen(value) if money else f"{value:,.0f}"


def label(outcome: str) -> str:
    """The registry's Japanese label and the outcome's name."""
    return f"{OUTCOMES[outcome].ja} {outcome}"


def share(value: float) -> str:
    """A share as a whole percentage; '—' for NaN."""
    return f"{value:.0%}" if math.isfinite(value) else "—"


def _differences(g: pd.DataFrame, precision: float) -> str:
    level = f"{LEVEL:.0%} interval"
    shares = "share_parameter" in g.columns      # a comparison over posterior draws
    rows = []
    for r in g.itertuples():
        money = r.outcome.endswith("_yen")
        interval = (f"{number(r.low, money)} – {number(r.high, money)}" if r.status != "no_interval" else "none")
        split = [share(r.share_parameter), share(r.share_stochastic)] if shares else []
        rows.append([label(r.outcome), number(r.baseline, money), number(r.policy_value, money),
                     number(r.difference, money), interval, *split, number(r.sd, money),
                     number(r.reps_for_precision), number(r.reps_to_exclude_zero), r.note])
    split_head = ["parameter share", "stochastic share"] if shares else []
    return render_table(["outcome", "baseline", "policy", "difference", level, *split_head, "paired sd",
                         f"reps for ±{precision:.0%}", "reps to tell from 0", "note"], rows,
                        align="<>>>>" + ">>" * shares + ">>><")


def _payers(c: pd.Series) -> str:
    rows = [[f"{PAYER_JA[p]} {p}", yen(c[f"{p}_yen"])] for p in PAYERS]
    rows.append(["total", yen(c["spending_yen"])])
    return render_table(["payer", "public cost added (programme + tax deductions)"], rows)


def _ledger(policy: str, transfers: pd.DataFrame) -> str:
    """The ledger by fiscal year with a totals row, and where the deductions fall."""
    t = transfers[transfers["policy"] == policy]
    wide = t.pivot_table(index="fiscal_year", columns="item", values="yen", aggfunc="sum", observed=True)
    items = [i for i in LEDGER if i.name in wide.columns]
    rows = [[str(fy), *(yen(wide.loc[fy, i.name]) for i in items)] for fy in wide.index]
    rows.append(["total", *(yen(wide[i.name].sum()) for i in items)])
    deductions = t[t["payer"] != ""]
    outside = deductions.loc[deductions["where"] == ELSEWHERE, "yen"].sum() / max(deductions["yen"].sum(), 1e-300)
    text = render_table(["年度 FY", *(i.ja for i in items)], rows)
    return (f"{text}\n(the deductions fall on the donors' home regions: {outside:.0%} of them outside the "
            "policy's regions; donations = self-burden + deductions; net = donations − gifts − handling)")


def _costs(name: str, g: pd.DataFrame, c: pd.Series) -> str:
    rows = []
    effect = g.set_index("outcome")
    for outcome, column, status in PRICED:
        e = effect.loc[outcome]
        if c[status] == "ok":
            cell, interval = yen(c[column]), f"{yen(c['spending_yen'] / e['high'])} – {yen(c['spending_yen'] / e['low'])}"
        else:
            cell = status_text(c[status], int(e["reps"]))
            if c[status] == "not_distinguishable" and math.isfinite(e["reps_to_exclude_zero"]):
                cell += f" (about {e['reps_to_exclude_zero']:,.0f} would tell an effect of this size from zero)"
            interval = ""
        rows.append([f"per additional {OUTCOMES[outcome].ja} {outcome}", cell, interval])
    return render_table(["cost (spending ÷ mean effect)", "yen", "from the effect's interval"], rows, align="<<<")


def _summary(result: Comparison) -> str:
    rows = []
    cost = result.cost.set_index("policy")
    for name, g in result.table.groupby("policy", sort=False):
        e, c = g.set_index("outcome"), cost.loc[name]
        s = e.loc["settlers_total"]
        interval = f" ({number(s['low'])} – {number(s['high'])})" if s["status"] != "no_interval" else ""
        cells = [yen(c[col]) if c[st] == "ok" else status_text(c[st], int(s["reps"]))
                 for _, col, st in PRICED]
        rows.append([name, number(s["difference"]) + interval,
                     number(e.loc["engaged_person_years", "difference"]), yen(c["spending_yen"]),
                     yen(c["net_public_cost_yen"]), *cells])
    return render_table(["policy", f"extra settlers ({LEVEL:.0%})", "extra 関係人口 person-years", "public cost",
                         "net of revenue", "¥ per extra settler", "¥ per extra person-year"], rows)


def _posterior_head(name: str, baseline: str, result: Comparison) -> str:
    """The heading of a comparison over posterior draws: draws, seeds, the interval and the shares."""
    info = result.posterior
    d, k = info["draws"], info["seeds_per_draw"]
    label = result.table.attrs.get("interval", INTERVAL_LABEL)
    point = label == INTERVAL_LABEL          # every particle the same values: seeds only
    if (d * k if point else d) >= 3:
        interval = label
    else:
        interval = f"none estimated with fewer than 3 {'replications' if point else 'posterior draws'}"
    return (f"{name} vs {baseline}: {d} posterior draws × {k} seeds = {d * k} paired replications (policy and "
            f"baseline share each draw and seed), outcomes in the policy's regions\n"
            f"posterior: {info['file']} ({info['particles']} particles; {', '.join(info['parameters'])})\n"
            f"interval: {interval}\n"
            "parameter / stochastic share: of the variance of the mean difference (between draws / between a "
            "draw's seeds; one-way random-effects ANOVA)")


def format_comparison(result: Comparison, baseline: str, precision: float = 0.1) -> str:
    """The text `kankei compare` prints: per policy the differences, who pays, the ledger (where a
    lever moves money besides spending) and the cost per outcome; then a summary across policies."""
    blocks = []
    cost = result.cost.set_index("policy")
    for name, g in result.table.groupby("policy", sort=False):
        reps = int(g["reps"].iloc[0])
        head = (f"{name} vs {baseline}: {reps} paired replications (common random numbers), outcomes in the "
                f"policy's regions\ninterval: {INTERVAL_LABEL}" if reps >= 3 else
                f"{name} vs {baseline}: {reps} paired replication(s) (common random numbers), outcomes in the "
                f"policy's regions\ninterval: none estimated with fewer than 3 replications")
        if result.posterior is not None:
            head = _posterior_head(name, baseline, result)
        parts = [head, _differences(g, precision), _payers(cost.loc[name])]
        if not result.transfers.empty and (result.transfers["policy"] == name).any():
            parts.append(_ledger(name, result.transfers))
        parts.append(_costs(name, g, cost.loc[name]))
        blocks.append("\n\n".join(parts))
    blocks.append("Summary (means over replications; public cost is what the policy adds to the baseline's, "
                  "deadweight included)\n" + _summary(result))
    return "\n\n\n".join(blocks)
