"""Calibration targets: the targets file, the model ↔ target wiring, and the flows bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.targets import (
    SURVEY_2020, TARGET_COLUMNS, TARGETS_PATH, Snapshot, compare, flow_matrix, load_targets, not_comparable,
    run_for_targets, step_nearest, tokyo_area_net_inmigration,
)
from model import RelationModel
from model.paths import scenarios_dir
from model.stages import Stage
from tests.conftest import NO_MIGRATION

FAST = {"people_per_agent": 2000, "horizon_years": 3, "seed": 11}  # 2020-04 → 2023-04

EXPECTED_IDS = {
    "mlit2019_visiting_share_metro", "mlit2019_type_hobby_consumption", "mlit2019_type_participation",
    "mlit2019_type_work", "mlit2019_type_direct_contribution", "mlit2020_visiting_share_metro",
    "mlit2020_visiting_share_nonmetro", "mlit2020_visiting_count_national", "mlit2020_flow_metro_to_other",
    "mlit2020_flow_other_to_metro", "tokyo_area_net_inmigration_2015", "tokyo_area_net_inmigration_2018",
    "tokyo_area_net_inmigration_2019", "tokyo_area_net_inmigration_2021", "tokyo_area_net_inmigration_2024",
    "relocation_grant_cases_fy2023", "relocation_grant_persons_fy2023", "municipalities_working_on_kankei_fy2021",
    "urban_to_rural_migrants_per_year",
}
# comparable within a three-year run from 2020-04 (2024 needs a longer horizon)
COMPARABLE_3Y = {
    "mlit2019_type_hobby_consumption", "mlit2019_type_participation", "mlit2019_type_work",
    "mlit2019_type_direct_contribution", "mlit2020_visiting_share_metro", "mlit2020_visiting_share_nonmetro",
    "mlit2020_visiting_count_national", "mlit2020_flow_metro_to_other", "mlit2020_flow_other_to_metro",
    "tokyo_area_net_inmigration_2021", "urban_to_rural_migrants_per_year",
}
HAS_ADOPTION = hasattr(RelationModel, "municipalities_by_fiscal_year")  # municipal adoption (関係人口に取り組む自治体)
if HAS_ADOPTION:
    COMPARABLE_3Y.add("municipalities_working_on_kankei_fy2021")


@pytest.fixture(scope="module")
def target_run():
    return run_for_targets(**FAST)


@pytest.fixture(scope="module")
def table(target_run):
    return target_run.compare()


def test_targets_file_loads_with_expected_ids():
    assert TARGETS_PATH == scenarios_dir() / "data" / "calibration_targets.csv"
    df = load_targets()
    assert tuple(df.columns) == TARGET_COLUMNS
    assert set(df["target_id"]) == EXPECTED_IDS
    assert df["value"].notna().all() and (df["value"] > 0).all()
    row = df.set_index("target_id").loc["mlit2020_visiting_count_national"]
    assert row["value"] == 18_270_000 and row["period"] == "2020-09"


def test_load_targets_rejects_a_file_without_the_columns(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("target_id,value\na,1\n")
    with pytest.raises(ValueError, match="missing column"):
        load_targets(bad)


def test_compare_gives_finite_values_for_every_comparable_target(table):
    assert list(table.columns) == ["target_id", "quantity", "period", "observed", "model", "unit", "error",
                                   "relative_error", "how"]
    assert set(table["target_id"]) == COMPARABLE_3Y
    assert np.isfinite(table[["observed", "model", "error", "relative_error"]].to_numpy(float)).all()
    np.testing.assert_allclose(table["error"], table["model"] - table["observed"])
    assert table["how"].str.len().min() > 20
    assert "訪問系" in table.set_index("target_id").loc["mlit2020_visiting_share_metro", "how"]


def test_every_target_is_either_compared_or_listed_with_a_reason(target_run, table):
    nc = not_comparable(target_run)
    assert set(nc["target_id"]) | set(table["target_id"]) == EXPECTED_IDS
    assert not set(nc["target_id"]) & set(table["target_id"])
    assert {"relocation_grant_cases_fy2023", "relocation_grant_persons_fy2023"} <= set(nc["target_id"])
    assert nc.set_index("target_id").loc["tokyo_area_net_inmigration_2024", "reason"].startswith("period 2024")
    assert (nc["reason"].str.len() > 10).all()
    structural = {"mlit2019_visiting_share_metro", "relocation_grant_cases_fy2023", "relocation_grant_persons_fy2023"}
    if not HAS_ADOPTION:
        structural.add("municipalities_working_on_kankei_fy2021")
    assert set(not_comparable()["target_id"]) == structural


def test_initial_shares_match_mlit_2020_wiring(target_run):
    """The model is initialised from MLIT 2020 shares: ENGAGED+DUAL by home kind at step 0."""
    snap = target_run.snapshots["start"]
    visiting = np.isin(snap.stage, [Stage.ENGAGED, Stage.DUAL])
    alive = snap.stage != Stage.DEAD
    metro_home = snap.is_metro[snap.home]
    obs = load_targets().set_index("target_id")["value"]
    metro = visiting[metro_home & alive].mean()
    rural = visiting[~metro_home & alive].mean()
    assert abs(metro - obs["mlit2020_visiting_share_metro"]) < 0.02
    assert abs(rural - obs["mlit2020_visiting_share_nonmetro"]) < 0.02


def test_survey_step_shares_are_close_too(table):
    t = table.set_index("target_id")
    for tid in ("mlit2020_visiting_share_metro", "mlit2020_visiting_share_nonmetro"):
        assert abs(t.loc[tid, "error"]) < 0.02, tid
    assert "2020-09-01" in t.loc["mlit2020_visiting_share_metro", "how"]


def test_flow_matrix_adds_up_to_the_national_visiting_total(target_run, table):
    m = target_run.model
    snap = target_run.snapshots[SURVEY_2020]
    s = step_nearest(m, SURVEY_2020)
    assert snap.step == s and str(snap.date.date()) == "2020-09-01"
    fm = flow_matrix(snap)
    national = float(m.history.by_home[s][:, [Stage.ENGAGED, Stage.DUAL]].sum()) * m.people_per_agent
    total = fm.loc["metro", "metro"] + fm.loc["metro", "rural"] + fm.loc["rural", "metro"] + fm.loc["rural", "rural"]
    assert total == pytest.approx(national)
    by_home = m.history.by_home[s][:, [Stage.ENGAGED, Stage.DUAL]].sum(axis=1) * m.people_per_agent
    assert fm.loc["metro"].sum() == pytest.approx(by_home[m.table.is_metro].sum())
    t = table.set_index("target_id")
    assert t.loc["mlit2020_visiting_count_national", "model"] == pytest.approx(national)
    assert t.loc["mlit2020_flow_metro_to_other", "model"] == fm.loc["metro", "rural"]
    assert t.loc["mlit2020_flow_other_to_metro", "model"] == fm.loc["rural", "metro"]


def test_compare_on_a_bare_model_says_which_date_it_used(target_run):
    """Without snapshots the flows come from the live arrays, and `how` says they are not from 2020-09."""
    table = compare(target_run.model).set_index("target_id")
    assert "NOT the survey step" in table.loc["mlit2020_flow_metro_to_other", "how"]
    assert "ALL residents" in table.loc["mlit2019_type_work", "how"]
    exact = target_run.compare().set_index("target_id")
    for tid in ("mlit2020_visiting_share_metro", "mlit2020_visiting_count_national", "tokyo_area_net_inmigration_2021"):
        assert table.loc[tid, "model"] == exact.loc[tid, "model"]


def test_model_at_step_zero_snapshot_equals_live_arrays():
    m = RelationModel(**{"run.people_per_agent": 5000, "run.horizon_years": 1})
    snap = Snapshot.of(m)
    pd.testing.assert_frame_equal(flow_matrix(snap), flow_matrix(m))


def test_tokyo_net_inmigration_is_zero_without_migration():
    """With no settling, leaving or general migration nobody changes home: Δadults = new adults − deaths."""
    run = run_for_targets(people_per_agent=5000, horizon_years=2, seed=3,
                          **{"rates.settle": 0.0, "rates.leave": 0.0, **NO_MIGRATION})
    net = tokyo_area_net_inmigration(run.model, 2021)
    assert net is not None and net["general"] == 0 and net["relationship"] == 0
    assert net["value"] == pytest.approx(0.0, abs=1e-6)
    assert run.settlers["people"].sum() == 0


def test_tokyo_net_inmigration_uses_calendar_years(target_run):
    net = tokyo_area_net_inmigration(target_run.model, 2021)
    assert str(net["from"].date()) == "2021-01-01" and str(net["to"].date()) == "2022-01-01"
    assert tokyo_area_net_inmigration(target_run.model, 2020) is None  # the run starts 2020-04
    assert tokyo_area_net_inmigration(target_run.model, 2023) is None  # the 3-year run ends 2023-04


def test_a_run_that_starts_later_does_not_pretend_to_be_2020():
    run = run_for_targets(people_per_agent=5000, horizon_years=1, seed=1, **{"run.start": "2025-04"})
    ids = set(run.compare()["target_id"])
    assert not any(tid.startswith("mlit2020_") for tid in ids)
    assert SURVEY_2020 not in run.snapshots
