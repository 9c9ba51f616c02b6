"""Behaviour the surveys check: visit intensity, ties near home, staying and leaving, no drift."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from model import RelationModel, load_scenario
from model.codes import VISIT_LEVELS
from model.errors import ScenarioError
from model.population import intensity_levels, visit_days_table
from model.stages import EngagementType, Flow, Stage
from model.surveys import VISIT_DAY_BINS, VISIT_DAY_LABELS, Destination
from tests.conftest import CONSTANT_HAZARDS

# every transition off, no deaths: stages are frozen, people only visit
FROZEN = {**CONSTANT_HAZARDS, **{f"rates.{r}": 0.0 for r in (
    "visit", "engage", "lapse_visitor", "deepen", "dual", "settle", "lapse_engaged", "lapse_dual", "leave",
    "leave_floor")}, "run.horizon_years": 1, "run.people_per_agent": 400}


@pytest.mark.parametrize("cv", [0.0, 0.5, 1.0, 2.0])
def test_intensity_levels_have_mean_one_and_the_asked_spread(cv):
    x = intensity_levels(cv)
    assert x.shape == (VISIT_LEVELS,)
    assert x.mean() == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.diff(x) >= 0)
    # the midpoint quantiles lose a little of the gamma tail; the spread stays close to cv
    assert x.std() == pytest.approx(cv, rel=0.15, abs=1e-12)


def band_shares_expected(rates_per_year: np.ndarray, steps_per_year: int) -> np.ndarray:
    """Closed form of the yearly visit-day bands: each step adds floor(x + v) days with x = rate/steps,
    v uniform, i.e. floor(x) plus a Bernoulli(frac x), so a year is steps·floor(x) + Binomial(steps, frac x)."""
    edges = np.array([*VISIT_DAY_BINS, np.inf])
    out = np.zeros(len(VISIT_DAY_BINS))
    for r in rates_per_year:
        x = r / steps_per_year
        base, frac = steps_per_year * np.floor(x), x - np.floor(x)
        j = np.arange(steps_per_year + 1)
        pmf = binom.pmf(j, steps_per_year, frac)
        days = base + j
        for b in range(len(out)):
            out[b] += pmf[(days >= edges[b]) & (days < edges[b + 1])].sum()
    return out / len(rates_per_year)


def test_visit_day_bands_match_the_closed_form_of_the_intensity_distribution():
    sc = load_scenario(overrides=FROZEN)
    m = RelationModel(scenario=sc, rng=5)
    m.run()
    vd = m.visit_days()
    table = visit_days_table(sc.config)
    for etype in (EngagementType.HOBBY_CONSUMPTION, EngagementType.WORK):
        rows = vd[(vd.fiscal_year == 2020) & (vd.stage == "ENGAGED") & (vd.type == etype.name) & vd.full_year]
        got = rows.groupby("days", observed=False)["people"].sum().reindex(list(VISIT_DAY_LABELS)).to_numpy()
        n = got.sum() / sc.config.run.people_per_agent
        assert n > 2000
        want = band_shares_expected(table[Stage.ENGAGED, etype], 12)
        sd = np.sqrt(want * (1 - want) / n)
        assert np.all(np.abs(got / got.sum() - want) < 4 * sd + 1e-9), (etype, got / got.sum(), want)
    # the spread matters: with no heterogeneity every 就労型 person visits 15 days
    flat = load_scenario(overrides={**FROZEN, "visits.cv_work": 0.0})
    assert np.all(visit_days_table(flat.config)[Stage.ENGAGED, EngagementType.WORK] == flat.config.visits.work)


def test_ties_inside_the_home_prefecture_are_chosen_at_the_gravity_share():
    over = {**FROZEN, "choice.own_region_weight": 1.0, "choice.yukari_bonus": 0.0}
    sc = load_scenario(overrides=over)
    m = RelationModel(scenario=sc, rng=3)
    p = m.people
    related = (p.stage[: p.n] >= Stage.VISITOR) & (p.stage[: p.n] <= Stage.ENGAGED)
    home = p.home[: p.n][related]
    expected = m.inputs.gravity.choice_p[0][home, home].mean()
    got = np.mean(p.target[: p.n][related] == home)
    assert 0.02 < expected < 0.5
    assert got == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / home.size))
    m.run()
    mix = m.destinations()
    share = mix[mix.destination == Destination.SAME_PREFECTURE.name]["people"].sum() / mix["people"].sum()
    assert share == pytest.approx(got, rel=0.02)
    # ω_own = 0: no ties inside the home prefecture at all
    none = RelationModel(scenario=load_scenario(overrides={**over, "choice.own_region_weight": 0.0}), rng=3)
    q = none.people
    assert not np.any(q.target[: q.n] == q.home[: q.n])


def test_ties_inside_the_home_prefecture_never_lead_to_a_move():
    sc = load_scenario(overrides={**CONSTANT_HAZARDS, "choice.own_region_weight": 3.0, "run.horizon_years": 3,
                                  "run.people_per_agent": 2000})
    m = RelationModel(scenario=sc, rng=8)
    m.run()
    p = m.people
    settled = p.stage[: p.n] == Stage.SETTLED
    dual = p.stage[: p.n] == Stage.DUAL
    assert settled.sum() > 100 and dual.sum() > 100
    assert np.all(p.origin[: p.n][settled] != p.home[: p.n][settled])
    assert np.all(p.target[: p.n][dual] != p.home[: p.n][dual])


def test_constant_leave_hazard_gives_exponential_retention():
    sc = load_scenario(overrides={**CONSTANT_HAZARDS, "run.horizon_years": 6, "run.people_per_agent": 250})
    m = RelationModel(scenario=sc, rng=2)
    m.run()
    ret = m.retention()
    first = ret[ret.cohort_fiscal_year == 2020].set_index("years_after")
    assert list(first.index) == [1, 3, 5]
    for d in (1, 3, 5):
        n = first.loc[d, "settlers"] / 250
        want = np.exp(-0.2 * d)
        assert first.loc[d, "retention"] == pytest.approx(want, abs=4 * np.sqrt(want * (1 - want) / n))
    assert np.all(first["died"] == 0)  # demography is off


def test_retention_declines_with_no_cliff():
    sc = load_scenario(overrides={"run.people_per_agent": 1000, "rates.leave": 0.3, "rates.leave_floor": 0.05,
                                  "rates.settle": 0.03, "rates.dual": 0.0})
    m = RelationModel(scenario=sc, rng=4)
    m.run()
    ret = m.retention()
    pooled = ret[ret.cohort_fiscal_year <= 2024].groupby("years_after")[["settlers", "left", "died"]].sum()
    r = (pooled.settlers - pooled.left - pooled.died) / (pooled.settlers - pooled.died)
    assert list(r.index) == [1, 3, 5, 10]
    assert r[1] > r[3] > r[5] > r[10] > 0
    # the hazard falls with time since settling: leaving slows, but still goes on after 5 years
    per_year_early = (1 - r[3] / r[1]) / 2
    per_year_late = (1 - r[10] / r[5]) / 5
    assert per_year_late < per_year_early
    assert per_year_late > 0.02


@pytest.mark.parametrize("share", [1.0, 0.3, 0.0])
def test_leavers_go_back_to_their_origin_or_on_by_job_move_gravity(share):
    from model import kernel

    sc = load_scenario(overrides={**CONSTANT_HAZARDS, "rates.leave": 200.0, "rates.leave_floor": 200.0,
                                  "rates.leave_return_share": share, "run.people_per_agent": 2000})
    m = RelationModel(scenario=sc, rng=6)
    p = m.people
    n = p.n
    tokyo = m.table.index_of(13)
    alive = np.flatnonzero(p.stage[:n] != Stage.DEAD)
    p.stage[alive] = Stage.SETTLED
    p.origin[alive] = tokyo
    p.home[alive] = np.where(p.home[alive] == tokyo, m.table.index_of(32), p.home[alive])
    p.target[alive] = p.home[alive]
    p.steps_in_stage[alive] = 0
    kernel.tally(p.arrays(), m.counts_by_target, m.counts_by_home)
    m.prepare_step(0)
    home_before = p.home[:n].copy()
    kernel.advance(*m.kernel_arguments(0))
    left = np.flatnonzero((p.stage[:n] == Stage.NONE))
    assert left.size > 0.9 * alive.size                       # 200 a year: nearly everyone leaves in a month
    # P(back in Tokyo) = share + (1 − share) · P(job-move gravity from the region left picks Tokyo)
    job = np.diff(m.inputs.region.migrate_cum[0], axis=1, prepend=0.0)       # (R, R) job-move choice rows
    expected = share + (1 - share) * job[home_before[left], tokyo]
    back = p.home[left] == tokyo
    sd = np.sqrt(np.sum(expected * (1 - expected))) / left.size
    assert back.mean() == pytest.approx(expected.mean(), abs=4 * sd + 1e-12)
    if share < 1.0:
        onward = left[~back]
        assert onward.size > 100
        assert np.all(job[home_before[onward], p.home[onward]] > 0)   # a region the gravity row can pick
        assert np.all(p.home[onward] != home_before[onward])
    f = m.tallies.flows
    assert f[:, Flow.LEAVE].sum() == f[:, Flow.LEAVE_ARRIVAL].sum() == left.size


def test_engaged_share_does_not_drift_without_demographic_change():
    sc = load_scenario(overrides={"run.people_per_agent": 2000, "demography.enabled": False})
    m = RelationModel(scenario=sc, rng=9)
    m.run()
    bh = m.history.by_home[: m.history.last + 1].astype(float)
    share = (bh[:, :, Stage.ENGAGED] + bh[:, :, Stage.DUAL]).sum(axis=1) / bh.sum(axis=(1, 2))
    assert np.max(np.abs(share - share[0])) < 0.01, share[::12]


@pytest.mark.parametrize("key, value, words", [
    ("visits.cv_work", -0.5, "greater than or equal to 0"),
    ("rates.leave_return_share", 1.5, "less than or equal to 1"),
    ("rates.leave_decay_years", 0.0, "greater than 0"),
    ("travel.own_distance_share", 0.0, "greater than 0"),
    ("choice.own_region_weight", float("nan"), "finite"),
    ("rates.leave_window_years", 5.0, "unknown key"),
])
def test_bad_behaviour_parameters_are_refused_with_the_key_named(key, value, words):
    with pytest.raises(ScenarioError) as err:
        load_scenario(overrides={key: value})
    assert key in str(err.value) and words in str(err.value)
