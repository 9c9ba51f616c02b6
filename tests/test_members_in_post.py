"""Programme members in post when the run starts (着任中の参加者, `initial_participants`): placed by the
programme's own rules, their terms end on schedule, they occupy places and are paid for, at any scale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import RelationModel, ScenarioError, load_scenario
from model.codes import PersonFlag
from model.relation_model import dates_of_steps, step_dates
from model.stages import Stage

REPO = Path(__file__).resolve().parents[1]
KYORYOKUTAI = REPO / "tests" / "scenarios" / "programme_kyoryokutai.toml"
COST = 4_800_000           # the lever's yen per member-year
PLACES = 20_000            # per prefecture-year: enough simulated members to count at a coarse scale
FULL_TERM = PLACES * 47    # places of a full one-year term in the 47 host regions


def model(ppa: float, members: float, rng: int = 5, **overrides) -> RelationModel:
    """The 協力隊 lever alone with one-year terms and `members` in post at the start, over one year."""
    sc = load_scenario(KYORYOKUTAI, overrides={
        "run.people_per_agent": ppa, "run.horizon_years": 1.0, "levers.0.places_per_region_year": PLACES,
        "levers.0.duration_months": 12, "levers.0.initial_participants": members, **overrides})
    return RelationModel(scenario=sc, rng=rng)


def members_of(m: RelationModel) -> np.ndarray:
    """Ids of the people enrolled before the run started."""
    p = m.people
    return np.flatnonzero((p.programme[: p.n] == 0) & (p.enrolled_at[: p.n] < 0))


@pytest.mark.parametrize("ppa", [5000.0, 20000.0])
def test_members_in_post_at_the_start_are_the_initial_participants(ppa):
    m = model(ppa, 400_000)
    p = m.people
    ids = members_of(m)
    # within one agent in all, and in each host region floor or ceil of its share of the places
    assert abs(len(ids) * ppa - 400_000) < ppa
    per_region = np.bincount(p.target[ids], minlength=47)
    expected = 400_000 / 47 / ppa
    assert set(per_region) <= {np.floor(expected), np.ceil(expected)}
    start = m.programmes().query("step == 0")
    assert start["participants"].sum() == len(ids) * ppa and start["entries"].sum() == 0
    # enrolled uniformly over the term before the start, by the programme's rules, at its entry stage
    served = -p.enrolled_at[ids]
    assert set(served) <= set(range(1, 13))
    assert abs(served.mean() - 6.5) < 4 * np.sqrt((12 ** 2 - 1) / 12 / len(ids)), "uniform over 1..12 steps"
    assert np.all(p.flags[ids] & PersonFlag.ENROLLED)
    age_at_entry = p.age[ids] + p.enrolled_at[ids] / 12
    assert age_at_entry.min() >= 18 and age_at_entry.max() < 40
    own = p.home[ids] == p.target[ids]
    assert np.all(p.stage[ids][~own] == Stage.DUAL) and np.all(p.stage[ids][own] == Stage.ENGAGED)
    assert np.all(p.steps_in_stage[ids][~own] == -p.enrolled_at[ids][~own])
    # their stage before: one the lever takes; entering 関係人口 from below, as 直接寄与 (direct contribution)
    plain = model(ppa, 0.0)
    before = plain.people.stage[ids]
    assert np.isin(before, (Stage.NONE, Stage.VISITOR, Stage.ENGAGED)).all()
    assert np.all(p.etype[ids][before < Stage.ENGAGED] == 4)
    assert np.array_equal(p.etype[ids][before == Stage.ENGAGED], plain.people.etype[ids][before == Stage.ENGAGED])
    # nobody else was touched: the same run without members has the same people otherwise
    others = np.setdiff1d(np.arange(p.n), ids)
    for field in ("stage", "target", "etype", "tie", "flags", "programme"):
        assert np.array_equal(getattr(plain.people, field)[others], getattr(p, field)[others]), field


def test_their_terms_end_on_schedule_and_their_cohort_is_before_the_run():
    m = model(5000.0, FULL_TERM)
    ids = members_of(m)
    enrolled_at = m.people.enrolled_at[ids].astype(np.int64)
    for k in range(12):
        m.step()
        in_post = (m.people.flags[ids] & PersonFlag.ENROLLED) != 0
        assert np.all(k - enrolled_at[in_post] < 12), f"a member served past the term after step {k}"
        due = k - enrolled_at < 12
        alive = ~np.isin(m.people.stage[ids], (Stage.NONE, Stage.DEAD))
        assert np.array_equal(in_post, due & alive), f"in post exactly while the term runs, after step {k}"
    assert not in_post.any()
    # every member enrolled in FY2019 (the year before a one-year term ending in the run's first year)
    cohort = m.cohorts().query("entry_fiscal_year < 2020")
    assert set(cohort["entry_fiscal_year"]) == {2019} and set(cohort["years_since_entry"]) == {1}
    assert cohort["people"].sum() == len(ids) * 5000.0


def test_members_occupy_places_and_are_paid_from_the_first_step():
    """With a full term in post, the year's intake is still the places (not places + members), the
    stock stays near the full term's places, and spending is members' and entrants' place-years."""
    m = model(5000.0, FULL_TERM).run()
    prog = m.programmes().groupby("step")[["entries", "participants"]].sum()
    assert prog["entries"].sum() == pytest.approx(FULL_TERM, rel=0.15)
    assert prog["participants"].max() < 1.15 * FULL_TERM
    assert prog["participants"].min() > 0.85 * FULL_TERM
    spent = m.spending().groupby("step")["yen"].sum()
    assert np.allclose(spent.to_numpy(), prog["participants"].iloc[1:].to_numpy() * COST / 12, rtol=1e-12)
    assert spent[1] > 0.85 * FULL_TERM * COST / 12, "the members in post are paid for from the first step"
    # members do not enrol again: one enrolment per person, before the start or during the run
    p = m.people
    entered = (p.programme[: p.n] == 0) & (p.enrolled_at[: p.n] >= 0)
    assert entered.sum() * 5000.0 == prog["entries"].sum()


def test_results_do_not_depend_on_the_scale():
    """A year's spending (members and entrants together) agrees at 5,000 and 20,000 people per agent,
    over a few seeds, with the full term's place-years it pays for."""
    spent = {ppa: np.mean([model(ppa, FULL_TERM, rng=seed).run().spending()["yen"].sum() for seed in (1, 2, 3)])
             for ppa in (5000.0, 20000.0)}
    expected = FULL_TERM * COST
    assert spent[5000.0] == pytest.approx(expected, rel=0.1)
    assert spent[20000.0] == pytest.approx(expected, rel=0.15)
    assert spent[5000.0] == pytest.approx(spent[20000.0], rel=0.15)


def test_no_members_is_the_run_without_the_field():
    a = model(5000.0, 0.0).run()
    sc = load_scenario(KYORYOKUTAI, overrides={"run.people_per_agent": 5000.0, "run.horizon_years": 1.0,
                                               "levers.0.places_per_region_year": PLACES,
                                               "levers.0.duration_months": 12})
    b = RelationModel(scenario=sc, rng=5).run()
    assert a.results().equals(b.results()) and a.programmes().equals(b.programmes())


def test_two_programmes_place_their_members_apart(tmp_path):
    both = tmp_path / "both.toml"
    both.write_text(f'extends = "{KYORYOKUTAI.as_posix()}"\n\n[[levers]]\nname = "academy"\nkind = "programme"\n'
                    'regions = "rural"\nplaces_per_region_year = 20000\nduration_months = 12\n'
                    'initial_participants = 300000\n', encoding="utf-8")
    sc = load_scenario(both, overrides={"run.people_per_agent": 5000.0, "run.horizon_years": 1.0,
                                        "levers.0.places_per_region_year": PLACES, "levers.0.duration_months": 12,
                                        "levers.0.initial_participants": 400_000})
    m = RelationModel(scenario=sc, rng=5)
    p = m.people
    for slot, members in ((0, 400_000), (1, 300_000)):
        placed = np.count_nonzero((p.programme[: p.n] == slot) & (p.enrolled_at[: p.n] < 0))
        assert abs(placed * 5000.0 - members) < 5000.0, slot
    academy = np.flatnonzero(p.programme[: p.n] == 1)
    assert not m.table.is_metro[p.target[academy]].any(), "hosted in its own (rural) host regions"


def test_dates_of_steps_extend_the_run_calendar_backwards():
    assert dates_of_steps("2020-04", np.arange(61), 12).equals(step_dates("2020-04", 60, 12))
    assert str(dates_of_steps("2020-04", np.array([-1, -12, -13]), 12).date.tolist()) == \
        "[datetime.date(2020, 3, 1), datetime.date(2019, 4, 1), datetime.date(2019, 3, 1)]"
    assert dates_of_steps("2020-04", np.arange(53), 52).equals(step_dates("2020-04", 52, 52))


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"levers.0.initial_participants": -1}, "greater than or equal to 0"),
    ({"levers.0.initial_participants": float("nan")}, "finite number"),
    ({"levers.0.initial_participants": float("inf")}, "finite number"),
    ({"levers.0.initial_participants": 5_641}, r"exceed the places of a full term \(5,640 = places_per_region_year "
                                               r"40 × 47 host regions × duration_months 36 ÷ 12\); allowed: 0 to 5,640"),
    ({"levers.0.initial_participants": 100, "levers.0.start": "2021-04"},
     "in force 2021-04 to 2099-12 and the run starts 2020-04; allowed: 0, or a lever in force"),
    ({"levers.0.initial_participants": 100, "levers.0.start": "2019-04", "levers.0.end": "2020-03"},
     "in force 2019-04 to 2020-03"),
])
def test_bad_members_in_post_are_refused(overrides, fragment):
    with pytest.raises(ScenarioError, match=r"programme_kyoryokutai\.toml: levers\.0\.initial_participants: .*"
                                            + fragment):
        load_scenario(KYORYOKUTAI, overrides={"run.horizon_years": 3, **overrides})


def test_the_command_line_refuses_too_many_members_with_exit_2(tmp_path):
    out = tmp_path / "res"
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "run", "scenarios/status_quo.toml", "--set",
                           "levers.kyoryokutai.initial_participants=6000", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "status_quo.toml: levers.7.initial_participants: 6000 members in post exceed" in done.stderr
    assert "allowed: 0 to 5,640" in done.stderr and not out.exists()
