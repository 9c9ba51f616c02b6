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

COSTS = (("settlers", "yen_per_settler"), ("engaged_person_years", "yen_per_epy"))


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
