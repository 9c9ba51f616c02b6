"""Sensitivity (感度分析) and calibration (キャリブレーション) figures from tidy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, NullFormatter

from experiments.figures.text import Lang, new_figure, t
from experiments.outcomes import OUTCOMES

CALIBRATION_COLUMNS = ("target_id", "observed", "low", "median", "high")


def _outcome_title(name: str, lang: Lang) -> str:
    return OUTCOMES[name].ja if lang == "ja" and name in OUTCOMES else name


def _conf(part: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(part["conf"].to_numpy(dtype=float))


def sensitivity_indices(indices: pd.DataFrame, lang: Lang = "en", title: str = ""):
    """One panel per outcome: Morris μ* against σ (μ* with its interval), or Sobol S1 and ST bars with
    intervals. `indices` is `experiments.sensitivity.analyze(DIR)`: outcome, parameter, index,
    estimate, conf."""
    morris = "mu_star" in set(indices["index"])
    outcomes = list(dict.fromkeys(indices["outcome"]))
    n_params = indices["parameter"].nunique()
    ncols = min(2, len(outcomes))
    nrows = -(-len(outcomes) // ncols)
    height = 3.6 if morris else 1.4 + 0.32 * n_params
    fig, axes = new_figure(nrows, ncols, figsize=(6 * ncols, height * nrows))
    for ax in axes.ravel()[len(outcomes):]:
        ax.set_visible(False)
    for ax, outcome in zip(axes.ravel(), outcomes):
        sub = indices[indices["outcome"] == outcome]
        if morris:
            mu = sub[sub["index"] == "mu_star"].set_index("parameter")
            sigma = sub[sub["index"] == "sigma"].set_index("parameter")["estimate"].reindex(mu.index)
            ax.errorbar(mu["estimate"], sigma, xerr=_conf(mu), fmt="o", color="#2a6f97", capsize=3)
            for name, x, s in zip(mu.index, mu["estimate"], sigma):
                ax.annotate(name, (x, s), fontsize=7, xytext=(3, 3), textcoords="offset points")
            ax.set_xlim(left=0, right=float((mu["estimate"] + _conf(mu)).max()) * 1.35 or 1.0)
            ax.set_ylim(bottom=0, top=float(sigma.max()) * 1.25 or 1.0)
            ax.set_xlabel(t("mu_star", lang))
            ax.set_ylabel(t("sigma", lang))
        else:
            params = list(dict.fromkeys(sub["parameter"][sub["index"].isin(["S1", "ST"])]))
            y = np.arange(len(params))
            for k, (idx, colour) in enumerate((("S1", "#2a6f97"), ("ST", "#f4a259"))):
                part = sub[sub["index"] == idx].set_index("parameter").reindex(params)
                ax.barh(y + (k - 0.5) * 0.4, part["estimate"], height=0.4, xerr=_conf(part), color=colour,
                        capsize=3, label=idx)
            ax.set_yticks(y, params, fontsize=8)
            ax.invert_yaxis()
            ax.axvline(0, color="black", lw=0.6)
            ax.set_xlabel(t("index", lang))
            ax.legend(fontsize=8, loc="lower right")
        ax.set_title(_outcome_title(outcome, lang), fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title or t("morris" if morris else "sobol", lang), fontsize=11)
    return fig


def calibration_intervals(targets: pd.DataFrame, lang: Lang = "en", title: str = ""):
    """Observed values against simulated predictive intervals (観測値と予測区間), one row per target.

    `targets` has columns target_id, observed, low, median, high (optional `label`); every value is
    drawn as a ratio to the observed one on a log axis, so targets of any unit share one axis, and
    targets whose interval misses the observation are marked.
    """
    missing = [c for c in CALIBRATION_COLUMNS if c not in targets.columns]
    if missing:
        raise ValueError(f"calibration frame lacks columns {missing}; needs {list(CALIBRATION_COLUMNS)}")
    frame = targets[targets["observed"] > 0].reset_index(drop=True)
    ratio = frame[["low", "median", "high"]].div(frame["observed"], axis=0)
    inside = (frame["low"] <= frame["observed"]) & (frame["observed"] <= frame["high"])
    fig, axes = new_figure(1, 1, figsize=(8, 1.2 + 0.38 * len(frame)))
    ax = axes[0, 0]
    y = np.arange(len(frame))
    colour = np.where(inside, "#2a6f97", "#d62828")
    ax.hlines(y, ratio["low"], ratio["high"], color=colour, lw=3, label=t("predictive", lang))
    ax.scatter(ratio["median"], y, color=colour, zorder=3, s=18)
    ax.axvline(1.0, color="black", lw=1, label=t("observed", lang))
    if (~inside).any():
        ax.plot([], [], color="#d62828", lw=3, label=t("outside", lang))
    labels = frame["label"] if "label" in frame.columns else frame["target_id"]
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    span = max(float(np.nanmax(ratio.to_numpy())), 1 / float(np.nanmin(ratio.to_numpy())), 2.0)
    ax.set_xlim(1 / (span * 1.5), span * 1.5)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(t("ratio_observed", lang))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or t("calibration", lang), fontsize=11)
    return fig


def posterior_marginals(draws: pd.DataFrame, priors: dict[str, tuple[float, float]] | None = None,
                        lang: Lang = "en", title: str = "", bins: int = 30):
    """One panel per parameter (事後分布): a histogram of the posterior draws, weighted by a `weight`
    column if there is one, over the parameter's prior range (shaded) when `priors` gives it.

    `draws` has one column per parameter (its dotted scenario name) and one row per draw, as a
    calibration's posterior table; `priors` maps a name to its (low, high) prior range.
    """
    names = [c for c in draws.columns if c != "weight"]
    if not names:
        raise ValueError("posterior frame has no parameter columns")
    weights = draws["weight"].to_numpy(dtype=float) if "weight" in draws.columns else None
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows + 0.6))
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), names):
        values = draws[name].to_numpy(dtype=float)
        lo, hi = (priors or {}).get(name, (float(np.nanmin(values)), float(np.nanmax(values))))
        if hi <= lo:
            hi = lo + 1.0
        ax.axvspan(lo, hi, color="#dddddd", alpha=0.6, lw=0, label=t("prior_range", lang))
        ax.hist(values, bins=np.linspace(lo, hi, bins + 1), weights=weights, density=True, color="#2a6f97",
                alpha=0.85, label=t("posterior_draws", lang))
        ax.set_xlim(lo, hi)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(t("density", lang), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title or t("posterior", lang), fontsize=11)
    return fig
