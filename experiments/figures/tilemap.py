"""A tile-grid map of the 47 prefectures (都道府県タイルグリッド地図), coloured by any per-region value.

The layout is data, `prefecture_tiles.csv` beside this module (its header says how it is drawn);
no geodata is downloaded. Regions with a municipality code (5 digits, e.g. 邑南町 32449) are
case-study municipalities: they are marked on their prefecture's tile (code // 1000).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from experiments.figures.text import Lang, new_figure, t

TILES_FILE = Path(__file__).with_name("prefecture_tiles.csv")
N_PREFECTURES = 47


@cache
def tiles() -> pd.DataFrame:
    """The layout: code, short_ja, short_en, col, row (one row per prefecture)."""
    return pd.read_csv(TILES_FILE, comment="#").set_index("code")


def prefecture_map(values: pd.Series, lang: Lang = "en", label: str = "", title: str = "",
                   names: pd.Series | None = None, cmap: str = "viridis", fmt: str = "{:,.0f}"):
    """Tiles coloured by `values` (indexed by region code); prefectures without a value are grey.

    `names` (indexed by region code, e.g. `regions_frame().set_index("region")["name_ja"]`) labels
    case-study municipalities; `label` names the colour bar; `fmt` formats the numbers on the tiles.
    """
    layout = tiles()
    values = pd.Series(values, dtype=float)
    municipalities = [c for c in values.index if int(c) > N_PREFECTURES]
    prefectures = values.drop(municipalities)
    finite = prefectures[np.isfinite(prefectures)]
    fig, axes = new_figure(1, 1, figsize=(8.6, 5.6))
    ax = axes[0, 0]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    norm = mpl.colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
    colours = mpl.colormaps[cmap]
    short = layout["short_ja" if lang == "ja" else "short_en"]
    for code, tile in layout.iterrows():
        v = prefectures.get(code, np.nan)
        face = colours(norm(v)) if np.isfinite(v) else "#e3e3e3"
        ax.add_patch(Rectangle((tile["col"], -tile["row"]), 0.94, 0.94, facecolor=face, edgecolor="white"))
        ink = "white" if np.isfinite(v) and norm(v) < 0.55 else "black"
        ax.text(tile["col"] + 0.47, -tile["row"] + 0.62, short[code], ha="center", va="center", fontsize=6.5, color=ink)
        if np.isfinite(v):
            ax.text(tile["col"] + 0.47, -tile["row"] + 0.28, fmt.format(v), ha="center", va="center", fontsize=5.5,
                    color=ink)
    for i, code in enumerate(municipalities):
        home = layout.loc[int(code) // 1000]
        ax.plot(home["col"] + 0.82, -home["row"] + 0.82, marker="*", ms=11, color="#d62828", mec="white")
        name = str(names.get(code, code)) if names is not None else str(code)
        ax.annotate(f"{t('case_study', lang)}: {name} ({fmt.format(values[code])})",
                    xy=(home["col"] + 0.82, -home["row"] + 0.82), xytext=(0.0, -1.6 - 0.6 * i),
                    fontsize=8, arrowprops={"arrowstyle": "-", "color": "#d62828"})
    if (~layout.index.isin(prefectures.index)).any():
        ax.add_patch(Rectangle((7.5, -9.0), 0.5, 0.5, facecolor="#e3e3e3"))
        ax.text(8.1, -8.75, t("not_in_scenario", lang), va="center", fontsize=8)
    ax.set_xlim(-0.2, layout["col"].max() + 1.1)
    ax.set_ylim(-layout["row"].max() - 0.3, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=colours), ax=ax, shrink=0.6, location="right")
    bar.set_label(label)
    if title:
        ax.set_title(title)
    return fig


def engaged_per_1000_adults(stages: pd.DataFrame, population: pd.DataFrame) -> pd.Series:
    """関係人口 (ENGAGED + DUAL, where they relate to) per 1,000 adults living in each region at the
    last step, mean over replications; from `results()` and `population()`-shaped frames."""
    last = stages["step"].max()
    end = stages[(stages["step"] == last) & stages["stage"].isin(["ENGAGED", "DUAL"])]
    engaged = end.groupby("region", observed=True)["people"].sum()
    adults = population[population["step"] == last].groupby("region", observed=True)["adults"].sum()
    return (engaged / adults * 1000).rename("engaged_per_1000_adults")
