"""Every lever: direction and monotonicity of its effect, neutrality at size zero, budgets, payers, locality."""

from __future__ import annotations

import numpy as np
import pytest

from model import RelationModel, Stage, load_scenario
from model.levers import LEVER_SPECS
from model.stages import EngagementType, Flow
from tests.conftest import NO_MIGRATION, history_digest

BASE = {"run.people_per_agent": 1000, "run.horizon_years": 3}
TOKYO_AREA = [11, 12, 13, 14]
SHIMANE = 32


def run(levers: list[dict], extra: dict | None = None, seed: int = 8) -> RelationModel:
    model = RelationModel(scenario=load_scenario(overrides={**BASE, **(extra or {}), "levers": levers}), rng=seed)
    model.run()
    return model


def rural(m: RelationModel) -> np.ndarray:
    return ~m.table.is_metro


def housed_moves(m):
    """DUAL and SETTLE moves over the run (the moves housing is rationed for)."""
    return flow_total(Flow.DUAL)(m) + flow_total(Flow.SETTLE)(m)


def engaged_rural(m):
    return m.history.by_target[-1][rural(m), Stage.ENGAGED].sum()


def tokyo_engaged_rural(m):
    p = m.people
    n = p.n
    home_tokyo = np.isin(m.table.codes[p.home[:n]], TOKYO_AREA)
    target_rural = (p.target[:n] >= 0) & ~m.table.is_metro[np.maximum(p.target[:n], 0)]
    return int((home_tokyo & target_rural & (p.stage[:n] == Stage.ENGAGED)).sum())


def settled_from_tokyo(m):
    p = m.people
    n = p.n
    return int(((p.stage[:n] == Stage.SETTLED) & (m.table.codes[np.maximum(p.origin[:n], 0)] == 13)).sum())


def flow_total(flow, where=rural):
    return lambda m: m.history.flows[:, where(m), flow].sum()


def visits_to_shimane(m):
    return m.history.flows[:, m.table.index_of(SHIMANE), Flow.VISIT].sum()


def work_engaged_rural(m):
    return m.history.by_target[-1][rural(m), Stage.ENGAGED, EngagementType.WORK].sum()


def dual_rural(m):
    return m.history.by_target[-1][rural(m), Stage.DUAL].sum()


def adopting(m):
    return m.adoption.adopting.sum()


TIGHT_HOUSING = {"capacity.housing_share_of_vacant_per_year": 0.0002}

# kind → (size key, sizes (first is zero), outcome, extra lever keys, extra scenario keys)
CASES = {
    "travel_subsidy": ("share", [0.0, 0.5, 1.0], tokyo_engaged_rural, {"eligible": "all_engaged"}, {}),
    "intermediary": ("count", [0.0, 4.0, 16.0], engaged_rural, {"staff_per_org": 20.0}, {}),
    "cko": ("quality", [0.0, 0.5, 1.0], engaged_rural, {"regions": "rural"}, {}),
    "relocation_grant": ("household_yen", [0.0, 1e6, 4e6], settled_from_tokyo, {"effect_per_million_yen": 0.5}, {}),
    # a strong effect: 430 agents served over 3 years at ppa 1000; at × 4 the expected gain is ~2 settlers
    "coordinator": ("staff", [0.0, 3.0, 10.0], flow_total(Flow.SETTLE), {"caseload_per_staff": 400.0,
                                                                         "settle_effect": 20.0}, {}),
    "information_campaign": ("effect", [0.0, 0.5, 2.0], visits_to_shimane, {"regions": [SHIMANE]}, {}),
    # housing rations both moves from ENGAGED (DUAL and SETTLE): the extra units may go to either
    "housing": ("units_per_year", [0.0, 300.0, 3000.0], housed_moves, {}, TIGHT_HOUSING),
    "side_job_matching": ("staff", [0.0, 110.0, 400.0], work_engaged_rural, {}, {}),
    "dual_residence": ("effect", [0.0, 1.0, 3.0], dual_rural, {"start": "2020-04"}, {}),
    "furusato_nozei": ("extra_donor_share", [0.0, 0.05, 0.2], flow_total(Flow.VISIT), {}, {}),
    "furusato_resident": ("take_up_per_year", [0.0, 0.3, 1.0], engaged_rural,
                          {"start": "2020-04", "basic_engage_effect": 1.0}, {}),
    "adoption_support": ("adoption_rate", [0.0, 0.2, 1.0], adopting, {}, {}),
    "hazard_multiplier": ("factor", [1.0, 1.5, 3.0], engaged_rural, {"transition": "engage", "regions": "rural"}, {}),
    "programme": ("places_per_region_year", [0.0, 500.0, 2000.0], engaged_rural,
                  {"duration_months": 12, "entry_stage": "engaged", "stages": ["none", "visitor"]}, {}),
}
# a CKO acts through the programmes of its region: it is tested with an intermediary beside it
COMPANIONS = {"cko": [{"kind": "intermediary", "regions": "rural", "count": 4.0, "staff_per_org": 20.0}]}


def test_every_lever_kind_has_a_case():
    assert set(CASES) == set(LEVER_SPECS)


@pytest.fixture(scope="module")
def baselines():
    cache = {}

    def get(extra_key):
        extra = CASES[extra_key][4]
        companions = COMPANIONS.get(extra_key, [])
        key = (tuple(sorted(extra.items())), repr(companions))
        if key not in cache:
            cache[key] = run(companions, extra)
        return cache[key]
    return get


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CASES))
def test_lever_moves_its_outcome_monotonically_and_is_neutral_at_zero(kind, baselines):
    size_key, sizes, outcome, lever_extra, scenario_extra = CASES[kind]
    results = []
    for size in sizes:
        m = run([{"kind": kind, size_key: size, **lever_extra}, *COMPANIONS.get(kind, [])], scenario_extra)
        results.append(outcome(m))
        if size == sizes[0]:
            assert history_digest(m) == history_digest(baselines(kind)), f"{kind} at size zero changes the run"
    assert results[0] <= results[1] <= results[2] and results[0] < results[2], (kind, results)


@pytest.mark.slow
def test_lever_after_the_horizon_or_before_its_start_changes_nothing(baselines):
    base = baselines("hazard_multiplier")
    late = run([{"kind": "intermediary", "start": "2030-04"}])
    assert history_digest(late) == history_digest(base)
    mid = run([{"kind": "intermediary", "count": 4.0, "staff_per_org": 20.0, "start": "2021-10"}])
    start = 18
    assert np.array_equal(mid.history.by_target[: start + 1], base.history.by_target[: start + 1])
    assert np.array_equal(mid.history.flows[: start + 1], base.history.flows[: start + 1])
    assert not np.array_equal(mid.history.by_target[-1], base.history.by_target[-1])


def test_budget_cap_is_never_exceeded_and_payers_add_up():
    budget = 2e8
    m = run([{"kind": "relocation_grant", "budget_yen": budget},
             {"kind": "intermediary", "count": 2.0, "regions": [SHIMANE, 31]}])
    spent = m.spending()
    grant = spent[spent["kind"] == "relocation_grant"]
    assert 0 < grant["yen"].sum() <= budget + 1e-6
    assert grant["yen"].sum() == pytest.approx(budget), "this budget runs out within the horizon"
    by_payer = grant.groupby("payer", observed=True)["yen"].sum() / grant["yen"].sum()
    assert by_payer.to_dict() == pytest.approx({"national": 0.5, "prefecture": 0.25, "municipality": 0.25})
    # once spent, the grant stops paying before the horizon ends
    assert grant["step"].max() < m.n_steps
    totals = m.history.spending.sum(axis=(0, 2))
    assert np.allclose(spent.groupby("lever", observed=True)["yen"].sum().reindex(m.levers.labels()).to_numpy(),
                       totals)
    org = spent[spent["kind"] == "intermediary"]
    assert org["yen"].sum() == pytest.approx(2 * 2 * 7_500_000 * 3, rel=1e-9)
    assert set(org["region"]) == {SHIMANE, 31}


def test_exhausted_budget_stops_the_lever_acting():
    big = {"caseload_per_staff": 400.0, "settle_effect": 20.0}  # strong, as in CASES["coordinator"]
    small = run([{"kind": "coordinator", "staff": 10.0, "budget_yen": 1e7, **big}])
    free = run([{"kind": "coordinator", "staff": 10.0, **big}])
    assert small.spending()["yen"].sum() == pytest.approx(1e7)
    assert flow_total(Flow.SETTLE)(small) < flow_total(Flow.SETTLE)(free)


def test_a_lever_in_one_region_leaves_other_regions_alone():
    # no leaving and no general migration: with them, a person the lever settles in Shimane would, without
    # it, later relate to or move to other regions, a real (indirect) effect this test does not look at;
    # a higher settle rate gives enough settlers in 島根県 at this scale to see the effect
    extra = {"rates.leave": 0.0, "rates.settle": 0.05, **NO_MIGRATION}
    base = run([], extra)
    # Shimane is small (about 180 関係人口 agents at 1,000 per agent): a large caseload and a strong effect
    policy = run([{"kind": "coordinator", "staff": 20.0, "caseload_per_staff": 2000.0, "settle_effect": 20.0,
                   "regions": [SHIMANE]}], extra)
    s = base.table.index_of(SHIMANE)
    others = np.ones(base.table.n, dtype=bool)
    others[s] = False
    related = slice(Stage.VISITOR, Stage.DUAL + 1)
    assert np.array_equal(policy.history.by_target[:, others, related], base.history.by_target[:, others, related])
    moves = lambda m: m.history.flows[:, s, [Flow.SETTLE, Flow.DUAL]].sum()  # noqa: E731
    assert moves(policy) > moves(base)


def test_relocation_grant_pays_the_child_add_on_of_the_fiscal_year():
    from model.levers import RelocationGrant

    grant = RelocationGrant()
    assert [grant.child_addon(fy) for fy in (2020, 2021, 2022, 2023, 2030)] == [0, 0, 300_000, 1_000_000, 1_000_000]


def test_kpis_and_adoption_outputs(baselines):
    m = baselines("cko")
    k = m.kpis()
    assert set(k["kpi"].cat.categories) >= {"smes_hosting", "pride", "visitor_spending_yen", "sent_visit_days"}
    pride = k[k["kpi"] == "pride"]["value"]
    assert pride.between(0, 1).all() and pride.std() > 0
    muni = m.municipalities_by_fiscal_year()
    assert list(muni["fiscal_year"]) == [2020, 2021, 2022]
    assert muni["municipalities"].is_monotonic_increasing
    assert 1100 < muni["municipalities"].iloc[0] < 1741
    cont = m.continuously_engaged()
    assert set(cont["fiscal_year"]) == {2020, 2021, 2022} and cont["people"].sum() > 0
    # 例2 ≤ the engaged stock
    end = cont[cont["fiscal_year"] == 2022]["people"].sum()
    assert end <= m.national(Stage.ENGAGED) + m.national(Stage.DUAL)
