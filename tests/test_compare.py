"""`compare` and `kankei compare`: paired runs, intervals, cost-effectiveness, outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.compare import COMPARED, compare
from model import load_scenario
from tests.conftest import NO_MIGRATION

REPO = Path(__file__).resolve().parents[1]
# general migration off: at 5,000 people per agent the CKO's effect on final_engaged is one or two agents,
# and with general migration on it is not distinguishable from zero in 3 paired replications (issue 11
# part 6, scale); this test is about the comparison machinery
FAST = {"run.people_per_agent": 5000, "run.horizon_years": 2, **NO_MIGRATION}


def test_compare_pairs_runs_and_reports_differences():
    # 1,000 per agent and a large, effective intermediary beside the CKO: an effect on 関係人口 that 3
    # paired replications tell from zero (at 5,000 per agent it is one or two agents)
    fast = {**FAST, "run.people_per_agent": 1000}
    base = load_scenario(REPO / "scenarios" / "baseline.toml", overrides=fast)
    cko = load_scenario(REPO / "tests" / "scenarios" / "policy_cko.toml",
                        overrides={**fast, "levers.1.staff_per_org": 20.0, "levers.1.count": 4.0,
                                   "levers.1.effectiveness": 3.0})
    same = load_scenario(REPO / "scenarios" / "baseline.toml", overrides={**fast, "run.name": "same"})
    result = compare(base, [cko, same], reps=3, seed=4)
    t = result.table.set_index(["policy", "outcome"])
    assert set(t.index.get_level_values("outcome")) == set(COMPARED)
    # a policy identical to the baseline differs by exactly zero in every replication (CRN)
    assert (t.loc["same", ["difference", "low", "high"]] == 0).all().all()
    assert t.loc[("policy_cko", "final_engaged"), "low"] > 0
    assert t.loc[("policy_cko", "spending_yen"), "difference"] > 0
    cost = result.cost.set_index("policy")
    by_payer = cost.loc["policy_cko", ["national_yen", "prefecture_yen", "municipality_yen"]]
    assert by_payer.sum() == pytest.approx(cost.loc["policy_cko", "spending_yen"])
    assert by_payer["municipality_yen"] > 0 and by_payer["national_yen"] > 0  # the CKO post; the intermediary
    assert cost.loc["policy_cko", "yen_per_additional_engaged_person_year"] > 0
    assert np.isnan(cost.loc["same", "yen_per_additional_settler"])
    s = result.series[result.series["policy"] == "policy_cko"]
    assert s[s["step"] == 0]["engaged_difference"].eq(0).all(), "identical at the start"
    assert len(result.runs) == 6 and result.runs["seed"].nunique() == 3


@pytest.mark.slow
def test_kankei_compare_end_to_end(tmp_path):
    out = tmp_path / "cmp"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "compare", "scenarios/policy_coordinator.toml", "--baseline",
         "scenarios/baseline.toml", "--reps", "2", "--quiet", "--out", str(out),
         "--set", "run.people_per_agent=5000", "--set", "run.horizon_years=3"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "policy_coordinator vs baseline" in done.stdout and "cost (spending ÷ mean effect)" in done.stdout
    assert "interval: none estimated with fewer than 3 replications" in done.stdout
    for name in ("table.csv", "table.parquet", "cost.csv", "cost.parquet", "series.parquet", "runs.parquet",
                 "transfers.parquet", "comparison.png"):
        assert (out / name).exists(), name
    table = pd.read_csv(out / "table.csv")
    assert set(table.columns) == {"policy", "outcome", "baseline", "policy_value", "difference", "low", "high",
                                  "sd", "reps", "status", "reps_for_precision", "reps_to_exclude_zero", "note"}
    assert table["low"].isna().all() and table["note"].str.contains("no interval estimated").all()


def test_kankei_compare_refuses_a_bad_policy_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "' + str(REPO / "scenarios" / "baseline.toml") + '"\n[[levers]]\nkind = "cko"\nquality = 2\n')
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "compare", str(bad), "--out", str(tmp_path / "cmp")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "levers.0.quality" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "cmp").exists()


def test_scenarios_extend_the_status_quo_and_cycles_are_refused(tmp_path):
    sc = load_scenario(REPO / "scenarios" / "policy_relocation_grant.toml")
    status_quo = load_scenario(REPO / "scenarios" / "status_quo.toml")
    assert sc.name == "policy_relocation_grant" and sc.config.run.people_per_agent == 100
    # the status quo's grant, changed by name in its place: doubled, the rest kept
    assert sc.config.levers[0].name == "relocation_grant" and sc.config.levers[0].household_yen == 2_000_000
    assert sc.config.levers[0].regions == status_quo.config.levers[0].regions
    assert sc.config.levers[1:] == status_quo.config.levers[1:]
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text('extends = "b.toml"\n')
    b.write_text('extends = "a.toml"\n')
    from model import ScenarioError
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(a)


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_loads(path):
    sc = load_scenario(path)
    assert sc.config.run.n_steps == 180
