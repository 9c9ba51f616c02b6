"""Money levers per case (issue 12 part 4): 移住支援金 per household, the travel subsidy per participant
trip within the yearly cap, ふるさと住民登録 Basic/Premium per registrant."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from model import RelationModel, ScenarioError, load_scenario
from model.codes import PersonFlag
from model.levers import COUNTS, RelocationGrant, StepRecord
from model.levers.base import COUNT_INDEX
from model.relation_model import fiscal_year
from model.units import Scale
from tests.test_programmes import REPO, STATE, UNLIMITED, run  # the programme tests' helpers


def grant_record(children: list[int], ppa: float = 1.0) -> StepRecord:
    """Settlers from region 0 into region 1 (of 2), with the given children each."""
    n = len(children)
    return StepRecord(visit_pairs=np.zeros((10, 2, 2)), flows=np.zeros((2, 1)), scale=Scale(ppa),
                      settler_origin=np.zeros(n, dtype=np.int64), settler_region=np.ones(n, dtype=np.int64),
                      settler_children=np.array(children, dtype=np.int64))


MASKS = {"regions": np.array([False, True]), "origins": np.array([True, False])}
FY2023 = SimpleNamespace(fiscal_year=2023, reach=np.ones(2))


def test_a_couple_is_one_case_and_each_child_is_paid_once():
    """Two settling adults of one couple household with two children: one household case, two add-ons."""
    couples = RelocationGrant(couple_share_with_children=1.0, couple_share_without_children=1.0)
    record = grant_record([2, 2])       # both parents carry the household's two children
    counts = couples.counts(MASKS, FY2023, record)
    assert counts[COUNT_INDEX["cases"], 1] == 1.0
    assert counts[COUNT_INDEX["children"], 1] == 2.0
    assert counts[COUNT_INDEX["persons"], 1] == 4.0
    assert couples.claims(MASKS, FY2023, record)[1] == 1_000_000 + 2 * 1_000_000
    # a childless couple: one household case; singles: one single case each; a lone parent: household rate
    assert couples.claims(MASKS, FY2023, grant_record([0, 0]))[1] == 1_000_000
    singles = RelocationGrant(couple_share_with_children=0.0, couple_share_without_children=0.0)
    assert singles.claims(MASKS, FY2023, grant_record([0, 0]))[1] == 2 * 600_000
    assert singles.claims(MASKS, FY2023, grant_record([1]))[1] == 1_000_000 + 1_000_000
    assert singles.counts(MASKS, FY2023, grant_record([1]))[COUNT_INDEX["persons"], 1] == 2.0
    # expectation: a settler with c children and couple share p is p/2 + (1 − p) of a case, at any scale
    mixed = RelocationGrant(couple_share_with_children=0.9, couple_share_without_children=0.3)
    c = mixed.counts(MASKS, FY2023, grant_record([0, 3], ppa=250.0))[:, 1]
    assert c[COUNT_INDEX["cases"]] == pytest.approx(250 * ((0.15 + 0.7) + (0.45 + 0.1)))
    assert c[COUNT_INDEX["children"]] == pytest.approx(250 * 3 * (0.45 + 0.1))
    assert c[COUNT_INDEX["persons"]] == pytest.approx(250 * ((0.15 * 2 + 0.7) + (0.45 * 5 + 0.1 * 4)))
    yen = mixed.claims(MASKS, FY2023, grant_record([0, 3], ppa=250.0))[1]
    assert yen == pytest.approx(250 * ((0.15 * 1e6 + 0.7 * 6e5) + (0.55 * 1e6 + 3 * 0.55 * 1e6)), rel=1e-12)


@pytest.fixture(scope="module")
def grant_runs():
    """The same seed with every settler in a couple, and with every settler single."""
    couples = {"levers.0.couple_share_with_children": 1.0, "levers.0.couple_share_without_children": 1.0}
    singles = {"levers.0.couple_share_with_children": 0.0, "levers.0.couple_share_without_children": 0.0}
    return (run("tests/scenarios/policy_relocation_grant.toml", **couples),
            run("tests/scenarios/policy_relocation_grant.toml", **singles))


def totals_by_fy(m: RelationModel) -> pd.DataFrame:
    c = m.lever_counts().pivot_table(index="fiscal_year", columns="item", values="value", aggfunc="sum",
                                     observed=True, fill_value=0.0)
    s = m.spending().copy()
    s["fiscal_year"] = [fiscal_year(d - pd.Timedelta(days=1)) for d in s["date"]]
    c["yen"] = s.groupby("fiscal_year")["yen"].sum()
    return c


def test_grant_spending_is_cases_times_unit_amounts_exactly(grant_runs):
    couples, singles = grant_runs
    assert np.array_equal(couples.history.flows, singles.history.flows), "household shares do not change moves"
    a, b = totals_by_fy(couples), totals_by_fy(singles)
    assert (b["cases"] > 20).all(), "enough cases to test"
    grant = RelocationGrant()
    for fy in a.index:
        addon = grant.child_addon(fy)
        # couples: every case is a household (世帯) case; two adults per case; each child once
        assert a.loc[fy, "yen"] == pytest.approx(a.loc[fy, "cases"] * 1e6 + a.loc[fy, "children"] * addon, rel=1e-12)
        assert a.loc[fy, "persons"] == pytest.approx(2 * a.loc[fy, "cases"] + a.loc[fy, "children"], rel=1e-12)
        # the same settlers as singles: one case per adult, twice the couples' cases and add-ons
        assert b.loc[fy, "cases"] == pytest.approx(2 * a.loc[fy, "cases"], rel=1e-12)
        assert b.loc[fy, "children"] == pytest.approx(2 * a.loc[fy, "children"], rel=1e-12)
        # singles: persons are the adults (one per case) and their children
        assert b.loc[fy, "persons"] - b.loc[fy, "cases"] == pytest.approx(b.loc[fy, "children"], rel=1e-12)
    from experiments.outcomes import summarise
    out = summarise(couples, ["relocation_grant_cases", "relocation_grant_persons"])
    assert out["relocation_grant_cases"] == pytest.approx(a["cases"].sum(), rel=1e-12)
    assert out["relocation_grant_persons"] == pytest.approx(a["persons"].sum(), rel=1e-12)


def slot_of(m: RelationModel, kind: str) -> int:
    return next(m.levers.slots[i] for i, lever, _ in m.levers.levers if lever.kind == kind and lever.is_programme)


def test_travel_subsidy_pays_participant_trips_within_the_yearly_cap():
    """Step by step, from the people themselves: each participant's visit-days of the step × the
    subsidy per day of their pair, cut at annual_cap_yen over the 年度, is exactly what the lever paid."""
    cap = 30_000
    m = run("tests/scenarios/policy_travel_subsidy.toml", steps=0, **{"run.people_per_agent": 500,
                                                                 "levers.0.annual_cap_yen": cap,
                                                                 "levers.0.take_up_per_year": 0.5})
    q = slot_of(m, "travel_subsidy")
    _, lever, masks = next(item for item in m.levers.levers if item[1].kind == "travel_subsidy")
    # only trips from an eligible home (a participant who moves away is paid nothing more) to a host
    relief = np.where(m.travel.cost_yen > lever.min_trip_yen, lever.share * m.travel.cost_yen, 0.0)
    relief = relief * masks["homes"][:, None] * masks["regions"][None, :]
    assert np.array_equal(relief, lever.relief(masks, m))
    per_day = relief / lever.days_per_trip
    duration = m.inputs.programmes.duration[q]
    capped = checked = 0
    for k in range(20):
        p = m.people
        n = p.n
        before = p.visit_days[:n].astype(float)
        taking_part = (((p.flags[:n] & PersonFlag.ENROLLED) != 0) & (p.programme[:n] == q)
                       & (k - p.enrolled_at[:n] < duration))
        home, target = p.home[:n].astype(int), p.target[:n].astype(int)
        closes = fiscal_year(m.dates[k + 1]) != fiscal_year(m.dates[k])
        m.step()
        if closes:          # the 年度 closed: visit-days were reset after paying
            continue
        after = p.visit_days[:n].astype(float)
        i = np.flatnonzero(taking_part)
        value = per_day[home[i], target[i]]
        paid = np.minimum(after[i] * value, cap) - np.minimum(before[i] * value, cap)
        expected = paid.sum() * m.people_per_agent
        got = m.history.spending[k + 1].sum()
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-3), k
        capped += int((after[i] * value > cap).sum())
        checked += int((paid > 0).sum())
        trips = m.history.counts[k + 1, :, COUNT_INDEX["trips"]].sum()
        assert trips == pytest.approx((np.where(value > 0, paid / np.maximum(value, 1e-300), 0).sum()
                                       / lever.days_per_trip) * m.people_per_agent, rel=1e-5, abs=1e-6)
    assert checked > 50 and capped > 0, "participants travelled, and some reached the cap"


@pytest.mark.parametrize("scenario", ["tests/scenarios/policy_travel_subsidy.toml",
                                      "tests/scenarios/policy_furusato_resident.toml"])
def test_people_not_enrolled_follow_the_baseline_path(scenario):
    """Same seed, unlimited shared capacities: everyone never enrolled follows the baseline path exactly."""
    fine = {"run.people_per_agent": 500, "run.start": "2026-04", **UNLIMITED}
    extra = {f"levers.{j}.start": "2026-04" for j in range(2 if "furusato" in scenario else 1)}
    base = run("scenarios/baseline.toml", steps=24, **fine)
    pol = run(scenario, steps=24, **fine, **extra)
    n = base.people.n
    assert pol.people.n == n
    enrolled = pol.people.programme[:n] >= 0
    assert enrolled.sum() > 50, "the lever reached people"
    for field in STATE:
        a, b = getattr(base.people, field)[:n], getattr(pol.people, field)[:n]
        assert np.array_equal(a[~enrolled], b[~enrolled]), f"{field} of people never enrolled"
    changed = np.zeros(n, dtype=bool)
    for field in ("stage", "target", "etype"):
        changed |= getattr(base.people, field)[:n] != getattr(pol.people, field)[:n]
    assert changed[enrolled].any(), "the lever changed some participants"
    assert pol.spending()["yen"].sum() > 0


def test_travel_subsidy_and_registration_are_the_baseline_before_start_and_at_size_zero():
    base = run("scenarios/baseline.toml")
    b = base.results()
    late = run("tests/scenarios/policy_travel_subsidy.toml", **{"levers.0.start": "2021-04"})
    start = int(np.flatnonzero(base.dates == pd.Timestamp("2021-04-01"))[0])
    p = late.results()
    assert b[b["step"] <= start].equals(p[p["step"] <= start])
    assert not b.equals(p)
    for path, zero in (("tests/scenarios/policy_travel_subsidy.toml", {"levers.0.share": 0.0}),
                       ("tests/scenarios/policy_travel_subsidy.toml", {"levers.0.take_up_per_year": 0.0}),
                       ("tests/scenarios/policy_furusato_resident.toml",
                        {"levers.0.take_up_per_year": 0.0, "levers.1.take_up_per_year": 0.0,
                         "levers.0.start": "2020-04", "levers.1.start": "2020-04"})):
        empty = run(path, **zero)
        assert empty.results().equals(b) and empty.flows().equals(base.flows()), (path, zero)
        assert empty.spending()["yen"].sum() == 0
        assert empty.programmes()["entries"].sum() == 0


def test_registration_costs_are_per_registrant_and_premium_perks_per_activity_day():
    m = run("tests/scenarios/policy_furusato_resident.toml", **{"run.people_per_agent": 500, "levers.0.start": "2020-04",
                                                          "levers.1.start": "2020-04", "levers.1.min_activities": 10})
    basic, premium = m.config.levers
    prog = m.programmes()
    spent = m.spending().groupby(["lever", "step"], observed=True)["yen"].sum()
    reg = prog.groupby(["programme", "step"], observed=True)["participants"].sum()
    # Basic: registrants × cost per registrant-year × dt, nothing else
    b = reg.loc["furusato_resident_basic"]
    assert b.sum() > 0
    assert spent.loc["furusato_resident_basic"].sum() == pytest.approx((b * basic.cost_per_registrant_year / 12).sum(),
                                                                        rel=1e-12)
    # Premium: registrants' cost plus perks per counted activity day (travel perk per trip + lodging)
    q = slot_of(m, "furusato_resident") + 1
    assert m.levers.programme_labels()[q] == "furusato_resident_premium"
    p = reg.loc["furusato_resident_premium"]
    days = m.history.counts[:, 1, COUNT_INDEX["days"]].sum()
    assert days > 0 and p.sum() > 0
    total = spent.loc["furusato_resident_premium"].sum()
    perk_cap = days * (premium.lodging_yen_per_day + premium.travel_perk_share * m.travel.cost_yen.max() / 2)
    assert (p * premium.cost_per_registrant_year / 12).sum() + days * premium.lodging_yen_per_day < total
    assert total < (p * premium.cost_per_registrant_year / 12).sum() + perk_cap
    # Premium registrants enrol as 関係人口 of a type with ≥ 10 activity days a year (就労 20, 直接寄与 12)
    # only: enrolling is the step's event, so their state after the step is their state on entry
    p_ = m.people
    n = p_.n
    entered = np.flatnonzero(p_.programme[:n] == q)
    assert entered.size > 10
    late = RelationModel(scenario=m.scenario, rng=5)
    seen = 0
    for k in range(12):
        late.step()
        new = np.flatnonzero((late.people.programme[: late.people.n] == q) & (late.people.enrolled_at[: late.people.n] == k))
        seen += new.size
        assert set(np.unique(late.people.etype[new])) <= {3, 4}
        assert set(np.unique(late.people.stage[new])) <= {2, 3}
    assert seen > 10


@pytest.mark.parametrize("path, key, value, message", [
    ("policy_travel_subsidy", "take_up_per_year", float("nan"), "levers.0.take_up_per_year"),
    ("policy_travel_subsidy", "annual_cap_yen", -1.0, "levers.0.annual_cap_yen"),
    ("policy_travel_subsidy", "days_per_trip", float("inf"), "levers.0.days_per_trip"),
    ("policy_travel_subsidy", "take_up", 0.1, "levers.0.take_up"),
    ("policy_relocation_grant", "couple_share_with_children", 1.5, "levers.0.couple_share_with_children"),
    ("policy_relocation_grant", "couple_share_without_children", float("nan"), "levers.0.couple_share_without_children"),
    ("policy_relocation_grant", "child_addon_by_fy", {"FY23": 1e6}, "four-digit"),
    ("policy_furusato_resident", "tier", "gold", "levers.0.tier"),
    ("policy_furusato_resident", "cost_per_registrant_year", float("inf"), "levers.0.cost_per_registrant_year"),
    ("policy_furusato_resident", "premium_take_up", 0.1, "levers.0.premium_take_up"),
])
def test_bad_money_lever_fields_are_refused(path, key, value, message):
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(REPO / "tests" / "scenarios" / f"{path}.toml", overrides={f"levers.0.{key}": value})
    assert f"{path}.toml" in str(err.value)


def test_counts_have_names_and_japanese_labels():
    assert [c.name for c in COUNTS] == ["cases", "persons", "children", "trips", "days"]
    assert all(c.ja for c in COUNTS)
