"""Lever comparison (政策比較): differences from the baseline over time, and cost per outcome.

Cost per additional outcome is the policy's mean spending divided by its mean effect; its interval
divides by the ends of the effect's 90 % interval. Where that interval includes zero (or lies below
it) no cost is printed: the bar is greyed out and says why, since a yen-per-outcome figure for an
effect indistinguishable from zero would be meaningless.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.figures.text import Lang, new_figure, t

COSTS = (("settlers_total", "yen_per_settler"), ("engaged_person_years", "yen_per_epy"))


def cost_per_outcome(table: pd.DataFrame, cost: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Per policy: spending, the effect's interval and yen per additional `outcome` with its interval
    (NaN where the effect is not distinguishable from zero); `status` says which case applies."""
    effect = table[table["outcome"] == outcome].set_index("policy")[["difference", "low", "high"]]
    spend = cost.set_index("policy")["spending_yen"].reindex(effect.index)
    status = np.select([spend <= 0, effect["high"] < 0, effect["low"] <= 0],
                       ["no_spending", "negative", "not_distinguishable"], "ok")
    ok = status == "ok"
    out = pd.DataFrame({"spending_yen": spend, **effect, "status": status}, index=effect.index)
    out["yen"] = np.where(ok, spend / effect["difference"], np.nan)
    out["yen_low"] = np.where(ok, spend / effect["high"], np.nan)
    out["yen_high"] = np.where(ok, spend / effect["low"], np.nan)
    return out


def _over_time(ax, series: pd.DataFrame, column: str, lang: Lang, key: str) -> None:
    for name, g in series.groupby("policy", sort=False):
        wide = g.pivot(index="date", columns="rep", values=column) / 1e3
        line = ax.plot(wide.index, wide.mean(axis=1), label=name, lw=1.3)[0]
        if wide.shape[1] > 1:
            ax.fill_between(wide.index, wide.quantile(0.05, axis=1), wide.quantile(0.95, axis=1),
                            color=line.get_color(), alpha=0.2, lw=0)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(t(key, lang), fontsize=10)
    ax.set_ylabel(t("people_k", lang))
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.legend(fontsize=7, loc="upper left")


def _cost_bars(ax, costs: pd.DataFrame, lang: Lang, key: str) -> None:
    """Bars of yen per outcome with intervals; a grey full-width band, without a number, where the
    effect is not distinguishable from zero."""
    y = np.arange(len(costs))
    ok = costs["status"] == "ok"
    top = float(costs.loc[ok, "yen_high"].max()) if ok.any() else 1.0
    scale, unit = (1e4, "man_yen") if top >= 1e6 else (1.0, "yen")
    for yi, (_, row) in zip(y, costs.iterrows()):
        if row["status"] == "ok":
            err = [[(row["yen"] - row["yen_low"]) / scale], [(row["yen_high"] - row["yen"]) / scale]]
            ax.barh(yi, row["yen"] / scale, xerr=err, color="#2a6f97", capsize=3)
            ax.text(row["yen_high"] / scale, yi, f" {row['yen'] / scale:,.0f}", va="center", fontsize=7)
        else:
            ax.axhspan(yi - 0.4, yi + 0.4, color="#e3e3e3")
            ax.text(0.02, yi, t(row["status"], lang), va="center", fontsize=7, color="#555555",
                    transform=ax.get_yaxis_transform())
    ax.set_yticks(y, list(costs.index))
    ax.set_ylim(len(costs) - 0.5, -0.5)
    if ok.any():
        ax.set_xlim(0, top / scale * 1.25)
        ax.set_xlabel(t(unit, lang))
    else:
        ax.set_xticks([])
    ax.set_title(t(key, lang), fontsize=10)


def lever_comparison(comparison, lang: Lang = "en", title: str = ""):
    """Four panels: additional 関係人口 and settlers over time (mean, 90 % band across paired
    replications) and yen per additional settler and engaged person-year with intervals.

    `comparison` is `experiments.compare.compare(...)` or anything with its `table`, `cost` and
    `series` frames (e.g. read back from a `kankei compare` folder).
    """
    fig, axes = new_figure(2, 2, figsize=(12, 7.5))
    _over_time(axes[0, 0], comparison.series, "engaged_difference", lang, "engaged_diff")
    _over_time(axes[0, 1], comparison.series, "settled_difference", lang, "settled_diff")
    for ax, (outcome, key) in zip(axes[1], COSTS):
        _cost_bars(ax, cost_per_outcome(comparison.table, comparison.cost, outcome), lang, key)
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


PAYER_COLOURS = {"national": "#2a6f97", "prefecture": "#f4a259", "municipality": "#8fb8de"}
PAYER_TERMS = {"national": "national_payer", "prefecture": "prefecture", "municipality": "municipality"}


def spending_by_lever(spending: pd.DataFrame, lang: Lang = "en", title: str = ""):
    """Spending to date per lever, stacked by payer (国 / 都道府県 / 市町村), in million yen.

    `spending` is `RelationModel.spending()` (or a `kankei run` spending table, averaged over `rep`)."""
    reps = spending["rep"].nunique() if "rep" in spending.columns and len(spending) else 1
    table = spending.pivot_table(index="lever", columns="payer", values="yen", aggfunc="sum", observed=False)
    table = table.reindex(columns=list(PAYER_COLOURS), fill_value=0.0).fillna(0.0) / reps / 1e6
    fig, axes = new_figure(1, 1, figsize=(7, 1.6 + 0.4 * max(len(table), 1)))
    ax = axes[0, 0]
    left = np.zeros(len(table))
    for payer, colour in PAYER_COLOURS.items():
        ax.barh(np.arange(len(table)), table[payer].to_numpy(), left=left, color=colour, label=t(PAYER_TERMS[payer], lang))
        left += table[payer].to_numpy()
    if table.empty:
        ax.text(0.5, 0.5, t("no_spending", lang), ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    else:
        ax.set_yticks(np.arange(len(table)), list(table.index), fontsize=8)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlim(left=0)
    ax.invert_yaxis()
    ax.set_xlabel(t("spending_yen", lang))
    ax.set_title(title or t("spending", lang), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig
