"""Every figure renders in Japanese and English with no missing glyph and nothing off the canvas."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from experiments import figures
from experiments.figures.text import TERMS
from experiments.figures.tilemap import tiles
from figure_data import function_sweep, tiny_comparison, tiny_run

CALIBRATION = pd.DataFrame({  # a made-up frame in the calibration figure's input shape
    "target_id": ["mlit_engaged_share_metro", "tokyo_net_inmigration_2022", "furusato_nozei_donors"],
    "observed": [0.184, 38_023.0, 8.9e6], "low": [0.15, 41_000.0, 6.0e6], "median": [0.18, 52_000.0, 8.1e6],
    "high": [0.21, 60_000.0, 9.5e6]})


_rng = np.random.default_rng(3)
POSTERIOR = pd.DataFrame({  # made-up draws in the shape of a calibration's posterior table
    "rates.visit": _rng.normal(0.05, 0.005, 400), "rates.settle": _rng.gamma(4.0, 0.002, 400),
    "ties.kappa_lapse": _rng.uniform(0.0, 0.1, 400), "weight": _rng.uniform(0.5, 1.5, 400)})
PRIORS = {"rates.visit": (0.02, 0.1), "rates.settle": (0.0, 0.03), "ties.kappa_lapse": (0.0, 0.2)}


def test_posterior_marginals_weigh_the_draws_over_the_prior_range():
    fig = figures.posterior_marginals(POSTERIOR, PRIORS)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["rates.visit", "rates.settle", "ties.kappa_lapse"]
    assert visible[0].get_xlim() == PRIORS["rates.visit"]
    heights = np.array([patch.get_height() for patch in visible[0].patches if patch.get_width() < 0.01])
    width = (0.1 - 0.02) / 30
    assert heights.sum() * width == pytest.approx(1.0), "a density over the prior range"
    plt.close(fig)
    with pytest.raises(ValueError, match="no parameter"):
        figures.posterior_marginals(POSTERIOR[["weight"]])


def render_problems(fig: plt.Figure) -> list[str]:
    """Missing-glyph warnings while drawing, and whether anything drawn lies outside the canvas."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    problems = [str(w.message) for w in caught if "missing from" in str(w.message)]
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    tol = 0.02
    if box.x0 < -tol or box.y0 < -tol or box.x1 > width + tol or box.y1 > height + tol:
        problems.append(f"drawn area {box.bounds} exceeds the {width}x{height} inch canvas")
    plt.close(fig)
    return problems


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    run = tiny_run()
    per_1000 = figures.engaged_per_1000_adults(run.stages, run.population)
    base = tmp_path_factory.mktemp("sweeps")
    return {"run": run, "comparison": tiny_comparison(), "per_1000": per_1000,
            "sobol": function_sweep(base / "sobol", "sobol"), "morris": function_sweep(base / "morris", "morris")}


FIGURES = {
    "stages_over_time": lambda d, lang: figures.stages_over_time(d["run"].stages, lang=lang),
    "stages_one_region": lambda d, lang: figures.stages_over_time(d["run"].stages, lang=lang, region=32),
    "ladder_funnel": lambda d, lang: figures.ladder_funnel(d["run"].stages, d["run"].flows, lang=lang),
    "prefecture_map": lambda d, lang: figures.prefecture_map(d["per_1000"], lang=lang, label="‰"),
    "lever_comparison": lambda d, lang: figures.lever_comparison(d["comparison"], lang=lang),
    "sobol": lambda d, lang: figures.sensitivity_indices(d["sobol"], lang=lang),
    "morris": lambda d, lang: figures.sensitivity_indices(d["morris"], lang=lang),
    "calibration": lambda d, lang: figures.calibration_intervals(CALIBRATION, lang=lang),
    "posterior": lambda d, lang: figures.posterior_marginals(POSTERIOR, PRIORS, lang=lang),
}


@pytest.mark.parametrize("lang", figures.LANGS)
@pytest.mark.parametrize("name", FIGURES)
def test_figure_renders_cleanly(inputs, name, lang):
    fig = FIGURES[name](inputs, lang)
    texts = " ".join(t.get_text() for t in fig.findobj(plt.Text))
    has_kana = any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in texts)
    assert has_kana == (lang == "ja")
    assert render_problems(fig) == []


def test_the_check_catches_missing_glyphs_and_labels_off_the_canvas():
    fig, ax = plt.subplots()
    ax.set_title("関係人口", fontfamily="DejaVu Sans")
    assert any("missing from" in p for p in render_problems(fig))
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_ylabel("a label far too long to fit beside the axes " * 3)
    fig.text(0.98, 0.5, "off the right edge")
    assert any("exceeds" in p for p in render_problems(fig))


def test_every_label_exists_in_both_languages():
    assert all(ja and en and ja != en for ja, en in TERMS.values())


def test_engaged_per_1000_adults_is_a_share(inputs):
    values = inputs["per_1000"]
    assert len(values) == 47 and values.between(10, 1000).all()


def test_tile_layout_has_each_prefecture_once():
    layout = tiles()
    assert sorted(layout.index) == list(range(1, 48))
    assert not layout.duplicated(["col", "row"]).any()
    assert layout.loc[1, "row"] < layout.loc[13, "row"] < layout.loc[47, "row"]   # Hokkaido, Tokyo, Okinawa
    assert layout.loc[47, "col"] < layout.loc[13, "col"] < layout.loc[1, "col"]


def test_map_marks_a_case_study_municipality_and_greys_missing_prefectures():
    values = pd.Series({32449: 120.0, 32: 80.0, 13: 300.0})
    fig = figures.prefecture_map(values, lang="ja", names=pd.Series({32449: "邑南町"}))
    texts = [t.get_text() for t in fig.findobj(plt.Text)]
    assert any("邑南町" in s and "120" in s for s in texts)
    assert "シナリオ外" in texts
    assert render_problems(fig) == []


def test_cost_per_outcome_is_withheld_where_the_effect_includes_zero():
    table = pd.DataFrame({"policy": ["a", "b", "c"], "outcome": "settlers_total",
                          "difference": [100.0, 20.0, -30.0], "low": [50.0, -5.0, -60.0], "high": [150.0, 45.0, -1.0]})
    cost = pd.DataFrame({"policy": ["a", "b", "c"], "spending_yen": [1e8, 1e8, 1e8]})
    out = figures.cost_per_outcome(table, cost, "settlers_total")
    assert out.loc["a", "yen"] == pytest.approx(1e6)
    assert (out.loc["a", "yen_low"], out.loc["a", "yen_high"]) == pytest.approx((1e8 / 150, 2e6))
    assert list(out["status"]) == ["ok", "not_distinguishable", "negative"]
    assert np.isnan(out.loc[["b", "c"], "yen"]).all()
    series = pd.DataFrame({"policy": "a", "rep": 0, "date": pd.date_range("2020-04", periods=3, freq="MS"),
                           "engaged_difference": 0.0, "settled_difference": 0.0})
    both = pd.concat([table, table.assign(outcome="engaged_person_years")])
    fig = figures.lever_comparison(type("C", (), {"table": both, "cost": cost, "series": series}), lang="en")
    texts = [t.get_text() for t in fig.findobj(plt.Text)]
    assert texts.count("effect not distinguishable from zero") == 2 and texts.count("effect below zero") == 2
    assert " 100" in texts            # a's 1,000,000 yen = 100 man-yen, printed once per panel
    assert render_problems(fig) == []
