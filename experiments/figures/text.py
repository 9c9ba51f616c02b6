"""Bilingual labels (日英の表記) and the one way every figure is created and finished."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic, which has the Japanese glyphs)

from model.stages import Stage

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

STAGE_EN = {Stage.NONE: "no relationship", Stage.VISITOR: "visitors", Stage.ENGAGED: "engaged",
            Stage.DUAL: "dual residence", Stage.SETTLED: "settlers"}
STAGE_COLOURS = {Stage.VISITOR: "#8fb8de", Stage.ENGAGED: "#2a6f97", Stage.DUAL: "#f4a259",
                 Stage.SETTLED: "#bc4b51"}
LADDER = (Stage.VISITOR, Stage.ENGAGED, Stage.DUAL, Stage.SETTLED)

# (Japanese, English) for every label a figure or the app prints
TERMS: dict[str, tuple[str, str]] = {
    "people_m": ("人数（百万人）", "people (millions)"),
    "people_k": ("人数（千人）", "people (thousands)"),
    "people": ("人数", "people"),
    "people_per_year": ("人／年（対数目盛）", "people per year (log scale)"),
    "stock_log": ("人数（対数目盛）", "people (log scale)"),
    "stages": ("段階別の人数", "people by stage"),
    "small_stages": ("二地域居住・定住人口（期間中の移住者）", "dual residence and settlers (moved during the run)"),
    "band": ("帯：反復の5–95%", "band: 5–95 % of replications"),
    "national": ("全国", "Japan"),
    "funnel": ("関わりの階段（期末の人数）", "the ladder (people at the end)"),
    "funnel_flows": ("段階間の流れ（年平均）", "flows between stages (per year, mean)"),
    "up": ("上る（深まる）", "up the ladder"),
    "down": ("下る（離脱）", "down the ladder (lapse)"),
    "rung_visit": ("無関係→交流人口", "none → visitor"),
    "rung_engage": ("交流人口→関係人口", "visitor → engaged"),
    "rung_dual": ("関係人口→二地域居住", "engaged → dual"),
    "rung_settle": ("→定住人口（移住）", "→ settled (move)"),
    "engaged_diff": ("関係人口の増分（対象地域）", "additional engaged (policy regions)"),
    "settled_diff": ("移住者の増分（累計・対象地域）", "additional settlers (cumulative, policy regions)"),
    "yen_per_settler": ("移住者1人あたり費用", "cost per additional settler"),
    "yen_per_epy": ("関係人口1人年あたり費用", "cost per additional engaged person-year"),
    "man_yen": ("万円（90%区間）", "10,000 yen (90 % interval)"),
    "yen": ("円（90%区間）", "yen (90 % interval)"),
    "not_distinguishable": ("効果はゼロと区別できない", "effect not distinguishable from zero"),
    "negative": ("効果がマイナス", "effect below zero"),
    "no_interval": ("反復が3回未満のため区間なし", "no interval: fewer than 3 replications"),
    "no_spending": ("支出なし", "no spending"),
    "morris": ("モリス法：μ*（効果の大きさ）とσ（非線形・交互作用）", "Morris screening: μ* (effect size) and σ (non-linearity, interactions)"),
    "sobol": ("ソボル指数：一次（S1）と全効果（ST）", "Sobol indices: first order (S1) and total (ST)"),
    "mu_star": ("μ*（平均絶対効果）", "μ* (mean absolute effect)"),
    "sigma": ("σ（効果のばらつき）", "σ (spread of effects)"),
    "index": ("指数（95%区間）", "index (95 % interval)"),
    "calibration": ("観測値と予測区間", "observed values and predictive intervals"),
    "ratio_observed": ("観測値に対する比（対数目盛）", "ratio to the observed value (log scale)"),
    "observed": ("観測値", "observed"),
    "predictive": ("予測区間と中央値", "predictive interval and median"),
    "outside": ("区間外", "outside the interval"),
    "posterior": ("パラメータの事後分布", "posterior marginals"),
    "posterior_draws": ("事後標本", "posterior draws"),
    "prior_range": ("事前分布の範囲", "prior range"),
    "density": ("密度", "density"),
    "not_in_scenario": ("シナリオ外", "not in the scenario"),
    "case_study": ("事例の市町村", "case-study municipality"),
    "spending": ("政策支出", "spending"),
    "spending_yen": ("支出（百万円）", "spending (million yen)"),
    "national_payer": ("国", "national"),
    "prefecture": ("都道府県", "prefecture"),
    "municipality": ("市町村", "municipality"),
    "spending_to_date": ("政策支出（累計）", "spending to date"),
}


def t(key: str, lang: Lang) -> str:
    """The label `key` in `lang`."""
    if lang not in LANGS:
        raise ValueError(f"lang must be 'ja' or 'en', got {lang!r}")
    ja, en = TERMS[key]
    return ja if lang == "ja" else en


def stage_label(stage: Stage, lang: Lang) -> str:
    """A stage's name: 関係人口 in Japanese, 'engaged' in English."""
    t("people", lang)  # validates lang
    return stage.ja if lang == "ja" else STAGE_EN[stage]


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (10, 4.5), **kwargs):
    """A figure with constrained layout (labels are kept on the canvas) and its axes."""
    return plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=False, **kwargs)


def finish(fig: plt.Figure, path: str | Path | None = None, title: str = "") -> plt.Figure:
    """Title, a layout if the figure has none, and (with a path) save as PNG and close; returns the figure."""
    if title:
        fig.suptitle(title)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
