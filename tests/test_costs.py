"""ふるさと納税's cost side (the ledger) and the honest comparison table: intervals, wording, alignment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import intervals
from experiments.compare import compare
from experiments.compare_text import format_comparison
from experiments.outcomes import summarise
from experiments.terminal import display_width, render_table
from model import RelationModel, ScenarioError, load_scenario
from model.levers.base import LEDGER, LEDGER_INDEX, PAYERS

REPO = Path(__file__).resolve().parents[1]
FAST = {"run.people_per_agent": 5000, "run.horizon_years": 2}
WORDING = "not distinguishable from zero with {n} replications"


@pytest.fixture(scope="module")
def furusato():
    sc = load_scenario(REPO / "tests" / "scenarios" / "policy_furusato_nozei.toml",
                       overrides={**FAST, "levers.0.donor_homes": [13, 14], "levers.0.regions": [32, 31, 1]})
    model = RelationModel(scenario=sc, rng=3)
    model.run()
    return model


def test_furusato_ledger_adds_up_and_falls_on_the_donors_home_regions(furusato):
    m = furusato
    lever = m.config.levers[0]
    book = m.history.ledger[:, 0]                                   # (steps, items, R)
    item = {i.name: book[:, LEDGER_INDEX[i.name]] for i in LEDGER}
    deductions = item["deduction_national"] + item["deduction_prefecture"] + item["deduction_municipality"]
    donations = item["donations"].sum(axis=1)                       # received, per step
    # donations = deductions + self-burden (given in the donors' homes, received by the recipients)
    assert np.allclose(donations, (deductions + item["self_burden"]).sum(axis=1), rtol=1e-12)
    assert np.allclose(item["gifts"] + item["handling"], lever.cost_share * item["donations"], rtol=1e-12)
    assert np.allclose(item["net_revenue"], item["donations"] - item["gifts"] - item["handling"], rtol=1e-12)
    assert np.allclose(item["gifts"], lever.gift_share * item["donations"], rtol=1e-12)
    # the deduction rule: 2,000 yen a donor-year kept, the income-tax part national, 住民税 split 6 : 4
    homes = np.isin(m.table.codes, [13, 14])
    donors = lever.extra_donor_share * m.table.adults[homes].sum()
    fy = m.history.ledger_frame().groupby(["fiscal_year", "item"], observed=True)["yen"].sum()
    assert fy[(2020, "donations")] == pytest.approx(donors * lever.donation_yen, rel=1e-9)
    assert fy[(2020, "self_burden")] == pytest.approx(donors * 2_000, rel=1e-9)
    deductible = donors * (lever.donation_yen - 2_000)
    national = deductible * lever.income_tax_rate * (1 - lever.one_stop_share)
    assert fy[(2020, "deduction_national")] == pytest.approx(national, rel=1e-9)
    assert fy[(2020, "deduction_municipality")] == pytest.approx((deductible - national) * 0.6, rel=1e-9)
    # where it falls: deductions and self-burden in the donors' homes only, donations at the recipients only
    recipients = np.isin(m.table.codes, [32, 31, 1])
    for name in ("deduction_national", "deduction_prefecture", "deduction_municipality", "self_burden"):
        assert item[name][:, ~homes].sum() == 0 and (item[name][1:, homes] > 0).all(), name
    for name in ("donations", "gifts", "handling", "net_revenue"):
        assert item[name][:, ~recipients].sum() == 0 and (item[name][1:, recipients] > 0).all(), name
    # revenue is the ledger's net revenue; spending by payer is the deductions, and payers sum to the total
    assert m.revenue()["yen"].sum() == pytest.approx(item["net_revenue"].sum(), rel=1e-12)
    spent = m.spending()
    assert set(spent["item"]) == {"deduction_national", "deduction_prefecture", "deduction_municipality"}
    assert set(spent["region"]) == {13, 14}
    by_payer = spent.groupby("payer", observed=True)["yen"].sum()
    for payer in PAYERS:
        assert by_payer[payer] == pytest.approx(item[f"deduction_{payer}"].sum(), rel=1e-12)
    # the comparison's outcomes, measured in the recipients' regions, still count the deductions elsewhere
    out = summarise(m, regions=recipients)
    assert out["spending_yen"] == pytest.approx(deductions.sum(), rel=1e-12)
    assert sum(out[f"spending_{p}_yen"] for p in PAYERS) == pytest.approx(out["spending_yen"], rel=1e-12)
    assert out["net_public_cost_yen"] == pytest.approx(deductions.sum() - item["net_revenue"].sum(), rel=1e-12)


@pytest.mark.parametrize("key, value, message", [
    ("gift_share", 0.5, "must not exceed cost_share"),
    ("income_tax_rate", float("inf"), "levers.0.income_tax_rate"),
    ("income_tax_rate", 0.6, "levers.0.income_tax_rate"),
    ("self_burden_yen", float("nan"), "levers.0.self_burden_yen"),
    ("one_stop_share", -0.1, "levers.0.one_stop_share"),
    ("deduction_rate", 0.1, "levers.0.deduction_rate"),
])
def test_furusato_cost_fields_are_validated(key, value, message):
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(REPO / "tests" / "scenarios" / "policy_furusato_nozei.toml", overrides={f"levers.0.{key}": value})
    assert "policy_furusato_nozei.toml" in str(err.value)


def test_cli_refuses_a_bad_furusato_field_with_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{REPO / "scenarios" / "baseline.toml"}"\n[[levers]]\nkind = "furusato_nozei"\n'
                   "one_stop_share = nan\n")
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "compare", str(bad), "--baseline",
                           "scenarios/baseline.toml", "--out", str(tmp_path / "cmp")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "bad.toml" in done.stderr and "levers.0.one_stop_share" in done.stderr
    assert not (tmp_path / "cmp").exists()


def test_replications_for_width_on_a_synthetic_case():
    # 2 · t_{n−1}(0.95) · sd / √n ≤ width: with sd = 1 and width = 1 that is n = 13 (t_12 = 1.782), not 12
    assert intervals.replications_for_width(1.0, 1.0) == 13
    assert intervals.replications_for_width(2.0, 2.0) == 13
    assert intervals.replications_for_width(0.0, 1.0) == intervals.MIN_REPS
    assert np.isnan(intervals.replications_for_width(1.0, 0.0))
    # the estimate matches the interval actually computed from a sample with that sd
    for n in (12, 13):
        z = np.random.default_rng(n).standard_normal(n)
        z = (z - z.mean()) / z.std(ddof=1)                            # sample sd exactly 1
        low, high = intervals.mean_interval(z)
        expected = 2 * 1.782 / np.sqrt(13) if n == 13 else 2 * 1.796 / np.sqrt(12)
        assert high - low == pytest.approx(expected, rel=0.05)
    assert np.isnan(intervals.mean_interval(np.array([1.0, 2.0]))).all()


def test_bootstrap_interval_of_the_mean_covers_at_its_level():
    rng = np.random.default_rng(0)
    hits = sum(lo <= 0 <= hi for lo, hi in (intervals.mean_interval(rng.standard_normal(5), resamples=2000, seed=k)
                                            for k in range(400)))
    assert 0.85 <= hits / 400 <= 0.95, hits    # the plain percentile bootstrap covers about 0.77 at n = 5


def test_double_width_text_is_aligned():
    assert display_width("関係人口") == 8 and display_width("（累計）") == 8 and display_width("ｶﾝｹｲ") == 4
    assert display_width("e\u0301") == 1
    text = render_table(["outcome", "value", "note"],
                        [["移住者数（累計）", "1,234", "x"], ["settlers", "5", "関係"], ["関係人口・人年 epy", "12", "y"]],
                        align="<><")
    lines = text.splitlines()
    # the value column ends, and the note column starts, at the same display column on every line
    ends = {display_width(line[: line.index(v) + len(v)]) for line, v in zip(lines[2:], ("1,234", " 5", "12"))}
    starts = {display_width(line[: len(line) - len(n)]) for line, n in zip(lines[2:], ("x", "関係", "y"))}
    assert len(ends) == 1 and len(starts) == 1
    assert display_width(lines[0][: lines[0].index("value") + 5]) == ends.pop()


@pytest.fixture(scope="module")
def three_reps():
    base = load_scenario(REPO / "scenarios" / "baseline.toml", overrides=FAST)
    same = load_scenario(REPO / "scenarios" / "baseline.toml", overrides={**FAST, "run.name": "same"})
    # a pull ten times the default, so that 3 replications at this coarse scale tell its engaged
    # person-years from zero (the formatter's "¥ per" path) while settlers stay indistinguishable
    furusato = load_scenario(REPO / "tests" / "scenarios" / "policy_furusato_nozei.toml",
                             overrides={**FAST, "levers.0.visit_uplift": 10.0})
    return compare(base, [same, furusato], reps=3, seed=4)


def test_compare_says_not_distinguishable_instead_of_a_cost(three_reps):
    result = three_reps
    t = result.table.set_index(["policy", "outcome"])
    text = format_comparison(result, "baseline")
    same_block, furusato_block = text.split("\n\n\n")[:2]
    # identical policy: every interval is [0, 0], every outcome is not distinguishable and no cost is printed
    assert (t.loc["same", "status"] == "not_distinguishable").all()
    assert same_block.count(WORDING.format(n=3)) >= len(t.loc["same"]) and "¥ per" not in same_block
    cost = result.cost.set_index("policy")
    assert cost.loc["same", "settler_cost_status"] == "no_spending"
    # a real lever: each status follows its interval, and the wording replaces the cost where it includes zero
    f = t.loc["policy_furusato_nozei"]
    for outcome, row in f.iterrows():
        assert (row["status"] == "not_distinguishable") == (row["low"] <= 0 <= row["high"]), outcome
    assert (f["status"] == "not_distinguishable").any() and (f["status"] == "ok").any()
    for _, column, status in (("s", "yen_per_additional_settler", "settler_cost_status"),
                              ("e", "yen_per_additional_engaged_person_year", "engaged_person_year_cost_status")):
        c = cost.loc["policy_furusato_nozei"]
        assert np.isnan(c[column]) == (c[status] != "ok")
    assert f.loc["settlers_total", "status"] == "not_distinguishable", "two years at 5,000 per agent: no settlers"
    assert re.search(r"per additional 移住者数（累計） settlers_total +" + WORDING.format(n=3), furusato_block)
    assert re.search(r"per additional 関係人口・人年 engaged_person_years +¥", furusato_block)
    # the interval is labelled, and the ledger block has a totals row
    assert "90% bootstrap interval of the mean paired difference" in furusato_block
    assert "\ntotal " in furusato_block and "返礼品" in furusato_block
    ledger = result.transfers[result.transfers["policy"] == "policy_furusato_nozei"]
    assert set(ledger.loc[ledger["payer"] != "", "where"]) == {"elsewhere"}   # donors live in the metros


def test_compare_with_two_replications_estimates_no_interval():
    base = load_scenario(REPO / "scenarios" / "baseline.toml", overrides={**FAST, "run.horizon_years": 1})
    cko = load_scenario(REPO / "tests" / "scenarios" / "policy_cko.toml", overrides={**FAST, "run.horizon_years": 1})
    result = compare(base, [cko], reps=2, seed=4)
    t = result.table
    assert t["low"].isna().all() and t["high"].isna().all() and (t["status"] == "no_interval").all()
    assert t["note"].str.contains("no interval estimated: fewer than 3 replications").all()
    assert t["sd"].notna().all(), "the paired sd is estimated from two replications"
    text = format_comparison(result, "baseline")
    assert "interval: none estimated with fewer than 3 replications" in text
    assert "¥ per" not in text.split("Summary")[0] and "nan" not in text.lower()
    # every NaN in the table is explained in its note
    for _, row in t.iterrows():
        if row[["low", "high", "reps_for_precision", "reps_to_exclude_zero"]].isna().any():
            assert row["note"], row
