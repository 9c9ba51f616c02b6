"""Case study 邑南町 (scenarios/cases/): the town carved out of 島根県, its data and its levers.

Runs use a 2-year horizon at 10 adults per agent (about 1.2 million agents, a few seconds).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import RelationModel, load_scenario
from model.levers.base import LeverContext, LeverEffects
from model.regions import read_region_table

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "scenarios" / "cases"
CASE = CASES / "ohnan.toml"
BASELINE = CASES / "ohnan_baseline.toml"
TOWN, REST, TOKYO, SHIMANE = 32449, 32, 13, 32
TOWN_ADULTS = 8907  # derived 2020 adults (18+) of 邑南町, data/ohnan.md
FAST = {"run.horizon_years": 2, "run.people_per_agent": 10}


def derivation():
    """scenarios/cases/data/ohnan_derive.py as a module."""
    spec = importlib.util.spec_from_file_location("ohnan_derive", CASES / "data" / "ohnan_derive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def case_run():
    model = RelationModel(scenario=load_scenario(CASE, overrides=FAST), rng=3)
    model.run()
    return model


def test_case_scenarios_load_with_a_town_scale_setup():
    case, base = load_scenario(CASE), load_scenario(BASELINE)
    assert case.data_path() == base.data_path() == CASES / "data" / "ohnan.csv"
    for sc in (case, base):
        assert 1 <= sc.config.run.people_per_agent <= 10
        assert sc.config.run.horizon_years == 15 and sc.config.run.start == "2020-04"
    assert base.config.levers == [] and len(case.config.levers) >= 3
    # the policy differs from its baseline by its levers only (paired comparison on shared seeds)
    assert case.config.model_dump(exclude={"levers", "run"}) == base.config.model_dump(exclude={"levers", "run"})
    assert case.config.run.model_dump(exclude={"name"}) == base.config.run.model_dump(exclude={"name"})


def test_case_runs_two_years(case_run):
    m = case_run
    assert m.steps == m.n_steps == 24
    adults = m.history.by_home[-1].sum(axis=1) * m.people_per_agent
    assert (adults > 0).all()
    assert m.history.flows[1:].sum() > 0


def test_town_is_a_region_with_the_sourced_adult_total():
    table = read_region_table(CASES / "data" / "ohnan.csv")
    assert sorted(table.codes.tolist()) == sorted([TOWN, REST, TOKYO])
    i = table.index_of(TOWN)
    assert table.names_ja[i] == "邑南町" and not table.is_metro[i]
    assert table.adults[i] == TOWN_ADULTS
    assert table.municipalities[i] == 1
    assert table.is_metro[table.index_of(TOKYO)] and not table.is_metro[table.index_of(REST)]


def test_table_is_its_documented_derivation():
    d = derivation()
    assert (CASES / "data" / "ohnan.csv").read_text(encoding="utf-8") == d.build()
    assert sum(d.ohnan_bands().values()) == TOWN_ADULTS


def test_carved_pieces_sum_to_the_prefecture():
    case = pd.read_csv(CASES / "data" / "ohnan.csv").set_index("code")
    prefs = pd.read_csv(REPO / "scenarios" / "data" / "prefectures.csv").set_index("code")
    bands = [c for c in prefs.columns if c.startswith("pop_") and c not in ("pop_total", "pop_age_unknown")]
    assert bands == [c for c in case.columns if c.startswith("pop_")]
    pieces = case.loc[[TOWN, REST], bands].sum()
    assert (pieces == prefs.loc[SHIMANE, bands]).all()
    assert pieces.sum() == prefs.loc[SHIMANE, bands].sum() == 562649
    assert (case.loc[[TOWN, REST], bands] > 0).all().all()
    assert case.loc[[TOWN, REST], "municipalities"].sum() == prefs.loc[SHIMANE, "municipalities"]
    assert (case.loc[TOKYO, bands] == prefs.loc[TOKYO, bands]).all()


def test_levers_act_and_spend_only_in_the_town(case_run):
    m = case_run
    town = m.table.index_of(TOWN)
    others = np.arange(m.table.n) != town
    for _, lever, masks in m.levers.levers:
        assert np.flatnonzero(masks["regions"]).tolist() == [town]
    spending = m.history.spending  # (steps, levers, regions)
    paid = spending[:, :, town].sum(axis=0)
    kinds = {j: lever.kind for j, lever, _ in m.levers.levers}   # spending's lever axis is the position j
    # the staff levers pay for their posts from the start; the grant pays per settler from Tokyo, of whom
    # two years at this scale may give none (its exact payment is tested in test_money_levers.py)
    assert all(paid[j] > 0 for j, kind in kinds.items() if kind != "relocation_grant")
    assert (paid >= 0).all()
    assert spending[:, :, others].sum() == 0
    ctx = LeverContext(table=m.table, travel=m.travel, dt=m.dt, month="2021-04", fiscal_year=2021,
                       reach=m.adoption.reach, visit_days_per_year=np.ones(10))
    inputs = m.levers.effects(ctx)
    neutral = LeverEffects.neutral(m.table.n)
    assert np.array_equal(inputs.rate_mult, neutral.rate_mult), "staff levers act on the people they serve only"
    places = inputs.programme_places  # the intermediary's and the coordinator's caseloads, in the town only
    assert (places[:, town] > 0).all() and not places[:, others].any()
    assert np.array_equal(inputs.settle_pair[:, others], neutral.settle_pair[:, others])
    assert inputs.settle_pair[m.table.index_of(TOKYO), town] > 1
    assert np.array_equal(inputs.cost_share, neutral.cost_share)
    assert np.array_equal(inputs.attractiveness, neutral.attractiveness)
