"""Charts (グラフ) with Japanese labels: stages over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic for Japanese labels)
import numpy as np
import pandas as pd

from model.stages import Stage

def finish(fig: plt.Figure, path: Path | None = None, title: str = "") -> plt.Figure:
    """Title, tight layout, and (with a path) save as PNG and close; returns the figure."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


STAGE_COLOURS = {
    Stage.VISITOR: "#8fb8de", Stage.ENGAGED: "#2a6f97", Stage.DUAL: "#f4a259", Stage.SETTLED: "#bc4b51",
}


def plot_stages(stages: pd.DataFrame, path: Path | None = None, title: str = "") -> plt.Figure:
    """National people by stage over time (millions); with several reps, the mean and a 5–95% band.

    `stages` is `RelationModel.results()` (one run) or a `kankei run` stages table (with `rep`).
    """
    if "rep" not in stages.columns:
        stages = stages.assign(rep=0)
    national = stages.groupby(["rep", "date", "stage"], observed=True)["people"].sum().reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for stage, colour in STAGE_COLOURS.items():
        ax = axes[0] if stage in (Stage.VISITOR, Stage.ENGAGED) else axes[1]
        sub = national[national["stage"] == stage.name].pivot(index="date", columns="rep", values="people") / 1e6
        ax.plot(sub.index, sub.mean(axis=1), color=colour, label=f"{stage.ja} ({stage.name.lower()})")
        if sub.shape[1] > 1:
            ax.fill_between(sub.index, sub.quantile(0.05, axis=1), sub.quantile(0.95, axis=1), color=colour, alpha=0.25)
    axes[0].set_ylabel("人数（百万人） / people (millions)")
    axes[0].set_title("交流人口・関係人口")
    axes[1].set_title("二地域居住・定住人口（期間中の移住者）")
    for ax in axes:
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    return finish(fig, path, title)


def plot_comparison(series: pd.DataFrame, cost: pd.DataFrame, path: Path | None = None) -> plt.Figure:
    """Difference from the baseline over time (mean and 90 % band) and yen per additional outcome."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [3, 2, 2]})
    for name, g in series.groupby("policy", sort=False):
        wide = g.pivot(index="date", columns="rep", values="engaged_difference") / 1e3
        line = axes[0].plot(wide.index, wide.mean(axis=1), label=name)[0]
        if wide.shape[1] > 1:
            axes[0].fill_between(wide.index, wide.quantile(0.05, axis=1), wide.quantile(0.95, axis=1),
                                 color=line.get_color(), alpha=0.2)
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set_title("関係人口の増分（対象地域） / additional engaged")
    axes[0].set_ylabel("千人 / thousand people")
    axes[0].legend(fontsize=7, loc="best")
    for ax, col, title in ((axes[1], "yen_per_additional_settler", "定住者1人あたり費用 / yen per settler"),
                           (axes[2], "yen_per_additional_engaged_person_year",
                            "関係人口1人年あたり費用 / yen per engaged person-year")):
        values = cost.set_index("policy")[col] / 1e4
        ax.barh(values.index, values.fillna(0.0).to_numpy(), color="#2a6f97")
        for y, v in enumerate(values):
            if not np.isfinite(v):
                ax.text(0, y, " no measurable gain", va="center", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("万円 / 10,000 yen")
        ax.invert_yaxis()
    for ax in axes:
        ax.grid(alpha=0.3)
    return finish(fig, path)
