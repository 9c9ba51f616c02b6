"""Programmes and caseloads: a lever that enrols people acts on them alone, within its places, at its costs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import RelationModel, ScenarioError, load_scenario
from model.kernel import PersonArrays
from model.relation_model import fiscal_year

REPO = Path(__file__).resolve().parents[1]
UNLIMITED = {"capacity.kakawarishiro_per_1000_adults_month": float("inf"),
             "capacity.housing_share_of_vacant_per_year": float("inf")}
STATE = [f for f in PersonArrays._fields if f not in ("flags", "programme", "enrolled_at")]


def run(path: str, steps: int | None = None, rng: int = 5, **overrides) -> RelationModel:
    sc = load_scenario(REPO / path, overrides={"run.people_per_agent": 1000, "run.horizon_years": 3, **overrides})
    m = RelationModel(scenario=sc, rng=rng)
    if steps is None:
        m.run()
    elif steps:
        m.run_for(steps)
    return m


@pytest.mark.parametrize("scenario", ["tests/scenarios/programme_working_holiday.toml",
                                      "tests/scenarios/programme_kyoryokutai.toml",
                                      "tests/scenarios/policy_intermediary.toml"])
def test_a_programme_changes_nobody_it_did_not_enrol(scenario):
    """Same seed, unlimited shared capacities: everyone never enrolled follows the baseline path exactly."""
    fine = {"run.people_per_agent": 250, **UNLIMITED}
    base = run("scenarios/baseline.toml", steps=24, **fine)
    pol = run(scenario, steps=24, **fine)
    n = base.people.n
    assert pol.people.n == n, "new adults do not depend on levers"
    enrolled = pol.people.programme[:n] >= 0
    assert enrolled.sum() > 8, "the programme enrolled people"
    for field in STATE:
        a, b = getattr(base.people, field)[:n], getattr(pol.people, field)[:n]
        assert np.array_equal(a[~enrolled], b[~enrolled]), f"{field} of people never enrolled"
    changed = np.zeros(n, dtype=bool)
    for field in ("stage", "home", "target", "etype"):
        changed |= getattr(base.people, field)[:n] != getattr(pol.people, field)[:n]
    assert changed[enrolled].any(), "the programme changed some participants"


def test_entries_match_places_and_spending_is_per_place_and_entry():
    # 400 places per prefecture and year: about 94 simulated entrants a year, enough to test the rate
    m = run("tests/scenarios/programme_kyoryokutai.toml", **{"run.people_per_agent": 200,
                                                        "levers.0.places_per_region_year": 400})
    prog = m.programmes()
    years = m.n_steps / 12
    places = 400 * 47 * years
    entries = prog["entries"].sum()
    assert entries == pytest.approx(places, rel=0.15), "enrolments fill the places, no more"
    # members in post ≈ entries a year × 3-year term once the first cohorts are in (after 3 years: all of them)
    in_post = prog[prog["step"] == prog["step"].max()]["participants"].sum()
    assert in_post <= entries
    # spending is exactly participants × cost per place-year × dt (people), nothing else
    expected = (prog["participants"] * 4_800_000 / 12).sum()
    assert m.spending()["yen"].sum() == pytest.approx(expected, rel=1e-12)


def test_entries_do_not_depend_on_the_scale():
    """Places are rationed in expectation: 2,000 places per prefecture-year fill alike at 1,000 and 250
    people per agent (about 282 and 1,128 simulated entrants over three years)."""
    many = {"levers.0.places_per_region_year": 2000}
    coarse = run("tests/scenarios/programme_kyoryokutai.toml", **{"run.people_per_agent": 1000, **many}).programmes()
    fine = run("tests/scenarios/programme_kyoryokutai.toml", **{"run.people_per_agent": 250, **many}).programmes()
    places = 2000 * 47 * 3
    assert coarse["entries"].sum() == pytest.approx(places, rel=0.2)
    assert fine["entries"].sum() == pytest.approx(places, rel=0.1)


def test_cohorts_conserve_their_members():
    m = run("tests/scenarios/programme_working_holiday.toml", **{"run.people_per_agent": 500})
    cohorts = m.cohorts()
    prog = m.programmes()
    prog["entry_fy"] = [fiscal_year(d - pd.Timedelta(days=1)) for d in prog["date"]]
    entered = prog.groupby("entry_fy")["entries"].sum()
    size = cohorts.groupby(["fiscal_year", "entry_fiscal_year"])["people"].sum().unstack("fiscal_year")
    for fy, row in size.iterrows():
        seen = row.dropna()
        assert (seen == seen.iloc[0]).all(), f"cohort FY{fy} keeps its members (the dead count as DEAD)"
        assert seen.iloc[0] == pytest.approx(entered.loc[fy])
    assert set(cohorts["stage"].astype(str)) >= {"VISITOR", "NONE"}


def test_identical_to_the_baseline_before_the_start_and_at_size_zero():
    base = run("scenarios/baseline.toml")
    late = run("tests/scenarios/programme_kyoryokutai.toml", **{"levers.0.start": "2021-04"})
    start = int(np.flatnonzero(base.dates == pd.Timestamp("2021-04-01"))[0])
    b, p = base.results(), late.results()
    assert b[b["step"] <= start].equals(p[p["step"] <= start])
    assert not b.equals(p)
    empty = run("tests/scenarios/programme_kyoryokutai.toml", **{"levers.0.places_per_region_year": 0})
    assert empty.results().equals(b) and empty.flows().equals(base.flows())
    assert empty.spending()["yen"].sum() == 0


def test_bad_programmes_are_refused():
    with pytest.raises(ScenarioError, match="age_max"):
        load_scenario(REPO / "tests/scenarios/programme_academy.toml", overrides={"levers.0.age_max": 19})
    with pytest.raises(ScenarioError, match="places_per_region_year"):
        load_scenario(REPO / "tests/scenarios/programme_academy.toml", overrides={"levers.0.places_per_region_year": -1})
    with pytest.raises(ScenarioError, match="stages"):
        load_scenario(REPO / "tests/scenarios/programme_academy.toml", overrides={"levers.0.stages": ["resident"]})
    with pytest.raises(ScenarioError, match="duration_months"):
        load_scenario(REPO / "tests/scenarios/programme_academy.toml", overrides={"levers.0.duration_months": 240})


def test_compare_reports_participants_and_deadweight_exactly():
    """Deadweight from the paired runs: of the participants who are 関係人口 or deeper at the end, those
    who are so in the baseline on the same seed too; its share is between 0 and 1 and below 1."""
    from experiments.compare import compare

    fast = {"run.people_per_agent": 1000, "run.horizon_years": 3}
    base = load_scenario(REPO / "scenarios/baseline.toml", overrides=fast)
    programme = load_scenario(REPO / "tests/scenarios/programme_kyoryokutai.toml", overrides=fast)
    result = compare(base, [programme], reps=2, seed=3)
    runs = result.runs.iloc[0]
    assert runs["participants"] > 0
    assert 0 < runs["participants_engaged_end_anyway"] <= runs["participants_engaged_end"] <= runs["participants"]
    assert runs["participants_settled_end_anyway"] <= runs["participants_settled_end"]
    cost = result.cost.set_index("policy").loc["programme_kyoryokutai"]
    assert 0 <= cost["deadweight_engaged_share"] < 1, "most 協力隊 members would not be 関係人口 of anywhere"
    assert cost["yen_per_participant"] == pytest.approx(cost["spending_yen"] / cost["participants"])
