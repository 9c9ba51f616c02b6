"""The charts `kankei run` and `kankei compare` write (グラフ); the figures live in `experiments.figures`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.figures import finish, lever_comparison, stages_over_time
from experiments.figures.text import Lang

__all__ = ["finish", "plot_comparison", "plot_stages"]


def plot_stages(stages: pd.DataFrame, path: Path | None = None, title: str = "", lang: Lang = "en"):
    """People by stage over time (see `experiments.figures.stages_over_time`); saved when `path` is given."""
    return finish(stages_over_time(stages, lang=lang), path, title)


def plot_comparison(comparison, path: Path | None = None, lang: Lang = "en"):
    """Policies against the baseline (see `experiments.figures.lever_comparison`); saved when `path` is given."""
    return finish(lever_comparison(comparison, lang=lang), path)
