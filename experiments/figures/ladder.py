"""The ladder (関わりの階段) over time and as a funnel: people by stage, flows up and down per year."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.figures.text import LADDER, STAGE_COLOURS, Lang, new_figure, stage_label, t
from model.stages import Flow, Stage

# rungs of the ladder: (label key, flow up, flow down)
RUNGS = (("rung_visit", Flow.VISIT, Flow.LAPSE_VISITOR), ("rung_engage", Flow.ENGAGE, Flow.LAPSE_ENGAGED),
         ("rung_dual", Flow.DUAL, Flow.LAPSE_DUAL), ("rung_settle", Flow.SETTLE, Flow.LEAVE))


def _with_rep(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if "rep" in frame.columns else frame.assign(rep=0)


def stage_series(stages: pd.DataFrame, region: int | None = None) -> pd.DataFrame:
    """People by (date, rep) × stage, nationally or in one region, from a `results()`-shaped frame."""
    frame = _with_rep(stages)
    if region is not None:
        frame = frame[frame["region"] == region]
        if frame.empty:
            raise ValueError(f"region {region} is not in the results")
    return frame.pivot_table(index=["date", "rep"], columns="stage", values="people", aggfunc="sum", observed=True)


def _band(ax, wide: pd.DataFrame, colour: str, label: str, base: pd.Series | None = None) -> None:
    """Mean line (stacked on `base`) and a 5–95 % band across replications."""
    base = 0.0 if base is None else base
    ax.plot(wide.index, wide.mean(axis=1) + base, color=colour, lw=1.2, label=label)
    if wide.shape[1] > 1:
        ax.fill_between(wide.index, wide.quantile(0.05, axis=1) + base, wide.quantile(0.95, axis=1) + base,
                        color=colour, alpha=0.3, lw=0)


def stages_over_time(stages: pd.DataFrame, lang: Lang = "en", region: int | None = None,
                     title: str = ""):
    """People by stage over time (段階別の人数の推移): stacked areas of the ladder, and the small stages
    (二地域居住, 定住人口) on their own axis; with several replications, 5–95 % bands.

    `stages` is `RelationModel.results()` or a `kankei run` stages table (with `rep`); `region` a
    region code (default: national).
    """
    series = stage_series(stages, region)
    fig, axes = new_figure(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    stack, small = axes[0]
    base = None
    for stage in LADDER:
        wide = series[stage.name].unstack("rep") / 1e6 if stage.name in series else None
        if wide is None:
            continue
        mean = wide.mean(axis=1)
        lower = 0.0 if base is None else base
        stack.fill_between(wide.index, lower, lower + mean, color=STAGE_COLOURS[stage], alpha=0.85, lw=0,
                           label=stage_label(stage, lang))
        if wide.shape[1] > 1:
            stack.fill_between(wide.index, lower + wide.quantile(0.05, axis=1), lower + wide.quantile(0.95, axis=1),
                               color="black", alpha=0.15, lw=0)
        base = lower + mean
        if stage in (Stage.DUAL, Stage.SETTLED):
            _band(small, wide * 1e3, STAGE_COLOURS[stage], stage_label(stage, lang))
    stack.set_ylim(bottom=0)
    small.set_ylim(bottom=0)
    stack.set_ylabel(t("people_m", lang))
    small.set_ylabel(t("people_k", lang))
    where = t("national", lang) if region is None else str(region)
    stack.set_title(f"{t('stages', lang)}（{where}）" if lang == "ja" else f"{t('stages', lang)} ({where})", fontsize=10)
    small.set_title(t("small_stages", lang), fontsize=10)
    for ax in (stack, small):
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if series.index.get_level_values("rep").nunique() > 1:
        fig.supxlabel(t("band", lang), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def yearly_flows(flows: pd.DataFrame) -> pd.Series:
    """Mean people per year making each flow, nationally, from a `flows()`-shaped frame (any reps)."""
    frame = _with_rep(flows)
    dates = pd.DatetimeIndex(sorted(frame["date"].unique()))
    step_days = float(np.median(np.diff(dates).astype("timedelta64[s]").astype(float))) / 86400 if len(dates) > 1 \
        else 365.25 / 12
    years = len(dates) * step_days / 365.25
    return frame.groupby("flow", observed=True)["people"].sum() / frame["rep"].nunique() / years


def ladder_funnel(stages: pd.DataFrame, flows: pd.DataFrame, lang: Lang = "en", title: str = ""):
    """The ladder as a funnel (関わりの階段): people at each stage at the end, and the flows up and
    down each rung per year (mean over replications, national)."""
    end = _with_rep(stages)
    end = end[end["date"] == end["date"].max()]
    stock = end.groupby("stage", observed=True)["people"].sum() / end["rep"].nunique()
    per_year = yearly_flows(flows)
    fig, axes = new_figure(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1]})
    left, right = axes[0]
    y = np.arange(len(LADDER))
    values = np.array([stock.get(s.name, 0.0) for s in LADDER])
    left.barh(y, np.where(values > 0, values, np.nan), color=[STAGE_COLOURS[s] for s in LADDER])
    for yi, v in zip(y, values):
        left.text(v, yi, f" {v:,.0f}", va="center", fontsize=8)
    left.set_yticks(y, [stage_label(s, lang) for s in LADDER])
    left.set_xscale("log")
    left.set_xlim(right=values[values > 0].max() * 30 if (values > 0).any() else 10)
    left.set_xlabel(t("stock_log", lang))
    left.set_title(t("funnel", lang), fontsize=10)
    ups = np.array([per_year.get(up.name, 0.0) for _, up, _ in RUNGS])
    downs = np.array([per_year.get(down.name, 0.0) for _, _, down in RUNGS])
    h = 0.38
    right.barh(y - h / 2, np.where(ups > 0, ups, np.nan), height=h, color="#2a9d8f", label=t("up", lang))
    right.barh(y + h / 2, np.where(downs > 0, downs, np.nan), height=h, color="#9a9a9a", label=t("down", lang))
    for yi, u, d in zip(y, ups, downs):
        right.text(u, yi - h / 2, f" {u:,.0f}", va="center", fontsize=7)
        right.text(d, yi + h / 2, f" {d:,.0f}", va="center", fontsize=7)
    right.set_yticks(y, [t(key, lang) for key, _, _ in RUNGS])
    right.set_xscale("log")
    positive = np.concatenate([ups, downs])
    positive = positive[positive > 0]
    if positive.size:
        right.set_xlim(positive.min() / 3, positive.max() * 30)
    right.set_xlabel(t("people_per_year", lang))
    right.set_title(t("funnel_flows", lang), fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
