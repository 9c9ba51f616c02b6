"""Charts (グラフ) with Japanese labels: stages over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib_fontja  # noqa: E402,F401  (registers IPAexGothic for Japanese labels)
import pandas as pd  # noqa: E402

from model.stages import Stage  # noqa: E402

STAGE_COLOURS = {
    Stage.VISITOR: "#8fb8de", Stage.ENGAGED: "#2a6f97", Stage.DUAL: "#f4a259", Stage.SETTLED: "#bc4b51",
}


def plot_stages(stages: pd.DataFrame, path: Path | None = None, title: str = "") -> plt.Figure:
    """National people by stage over time (millions); with several reps, the mean and a 5–95% band."""
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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
