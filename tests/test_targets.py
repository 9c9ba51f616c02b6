"""Targets as data (experiments.targets): the vocabulary, refused rows, and the mappings on hand-built frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.targets import (OUTPUTS, TARGETS_PATH, RunFrames, TargetsError, load_targets, observe, read)
from model import RelationModel, load_scenario
from model.stages import Stage

HEADER = ("target_id,quantity,population,period,value,unit,source,note,output,filters,statistic,window,rel_sd,"
          "mapping_note\n")


def targets_file(tmp_path, *rows: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def row(tid="a", value="0.2", output="stock", filters="stage=ENGAGED|DUAL;home_kind=metro",
        statistic="share:stage", window="2020-09", rel_sd="0.05", note=""):
    return f"{tid},q,p,per,{value},share,src,,{output},{filters},{statistic},{window},{rel_sd},{note}"


# --- the shipped file ---------------------------------------------------------------------------
def test_shipped_targets_load_and_every_unmapped_row_says_why():
    table = load_targets()
    assert table.path == TARGETS_PATH
    ids = [t.target_id for t in table.targets]
    assert len(ids) == len(set(ids)) == len(table.frame)
    assert "mlit2023_visit_days_2to7_share" in ids and "furusato_nozei_donations_fy2024" in ids
    for t in table.targets:
        if not t.mapped:
            assert t.row["mapping_note"].strip(), t.target_id
        else:
            assert t.output in OUTPUTS and t.rel_sd > 0
    assert len(table.fitted) >= 20
    # checks: figures the status quo's inputs fix; each says why it is not fitted
    checks = {t.target_id for t in table.targets if t.mapped and not t.fitted}
    assert checks == {f"furusato_nozei_donations_fy{y}" for y in range(2020, 2025)}
    assert all("not fitted" in t.row["mapping_note"] for t in table.targets if t.target_id in checks)


def test_use_column_is_optional_and_a_check_row_is_read_but_not_fitted(tmp_path):
    path = tmp_path / "use.csv"
    path.write_text(HEADER.rstrip("\n") + ",use\n" + row(tid="f") + ",fit\n" + row(tid="c") + ",check\n"
                    + row(tid="d") + ",\n", encoding="utf-8")
    table = load_targets(path)
    assert [t.target_id for t in table.fitted] == ["f", "d"]
    assert [t.use for t in table.targets] == ["fit", "check", "fit"]
    assert all(t.mapped for t in table.targets)
    path.write_text(HEADER.rstrip("\n") + ",use\n" + row(tid="f") + ",maybe\n", encoding="utf-8")
    with pytest.raises(TargetsError, match="row 2.*column use.*'maybe' is not a use; allowed: fit, check"):
        load_targets(path)


# --- refused rows ------------------------------------------------------------------------------
@pytest.mark.parametrize(("bad", "column", "says"), [
    (row(output="stocks"), "output", "allowed: stock, destination"),
    (row(filters="colour=red"), "filters", "allowed: stage, home_kind, area"),
    (row(filters="stage=ENGAGD"), "filters", "stage takes NONE, VISITOR, ENGAGED, DUAL, SETTLED"),
    (row(statistic="mean"), "statistic", "allowed: count, share:KEYS"),
    (row(statistic="share:type"), "statistic", "type not among stage, home_kind"),
    (row(window="FY2021"), "window", "measured over YYYY-MM"),
    (row(window="2020-13"), "window", "measured over YYYY-MM"),
    (row(output="lever", filters="kind=relocation_grant;item=cases", statistic="sum", window="FY2024-FY2022"),
     "window", "FYyyyy or FYyyyy-FYyyyy"),
    (row(output="lever", filters="kind=relocation_grnt;item=cases", statistic="sum", window="FY2023"),
     "filters", "kind takes"),
    (row(value="nan"), "value", "finite"),
    (row(value="lots"), "value", "not a number"),
    (row(rel_sd="0"), "rel_sd", "relative standard deviation > 0"),
    (row(output="none", filters="", statistic="", window="", rel_sd=""), "mapping_note", "needs a reason"),
])
def test_a_bad_row_is_refused_naming_file_row_column_and_what_is_allowed(tmp_path, bad, column, says):
    path = targets_file(tmp_path, row(tid="fine"), bad.replace(",q,", ",q,", 1).replace("a,", "bad,", 1))
    with pytest.raises(TargetsError) as err:
        load_targets(path)
    message = str(err.value)
    assert str(path) in message and "row 3" in message and f"column {column}" in message and says in message


def test_missing_columns_duplicates_and_all_unmapped_are_refused(tmp_path):
    p = tmp_path / "cols.csv"
    p.write_text("target_id,value\na,1\n", encoding="utf-8")
    with pytest.raises(TargetsError, match="missing column"):
        load_targets(p)
    with pytest.raises(TargetsError, match="row 3.*a appears twice"):
        load_targets(targets_file(tmp_path, row(), row(), name="dup.csv"))
    with pytest.raises(TargetsError, match="no row names a model output"):
        load_targets(targets_file(tmp_path, row(output="none", note="reason"), name="none.csv"))


def test_validate_cli_refuses_a_bad_row_with_exit_2_and_writes_nothing(tmp_path, capsys):
    path = targets_file(tmp_path, row(output="stocks"))
    out = tmp_path / "out"
    assert main(["validate", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "row 2, column output" in err and "Traceback" not in err
    assert not out.exists()


# --- mappings on hand-built frames --------------------------------------------------------------
def _frames(**overrides) -> RunFrames:
    dates = pd.date_range("2020-04-01", periods=61, freq="MS")   # 2020-04 → 2025-04
    empty = pd.DataFrame()
    stocks = pd.DataFrame({
        "step": [5] * 6, "home_kind": ["metro", "metro", "metro", "rural", "rural", "rural"],
        "area": ["東京圏"] * 3 + ["その他"] * 3, "stage": ["NONE", "ENGAGED", "DUAL"] * 2,
        "people": [70.0, 25.0, 5.0, 80.0, 18.0, 2.0]})
    base = dict(dates=dates, municipalities=200, stocks=stocks, destinations=empty, visit_days=empty,
                net_migration=empty, flows=empty, retention=empty, cohorts=empty, lever_counts=empty,
                ledger=empty, spending=empty, adoption=empty)
    base.update(overrides)
    return RunFrames(**base)


def _one(tmp_path, text: str):
    return load_targets(targets_file(tmp_path, text)).targets[0]


def test_stock_share_and_count_at_the_survey_month(tmp_path):
    f = _frames()
    share = read(f, _one(tmp_path, row()))
    assert share.value == pytest.approx(30 / 100) and "step 5 (2020-09-01)" in share.how
    count = read(f, _one(tmp_path, row(filters="stage=ENGAGED|DUAL", statistic="count")))
    assert count.value == 50.0
    rural = read(f, _one(tmp_path, row(filters="stage=DUAL;home_kind=rural")))
    assert rural.value == pytest.approx(2 / 100)


def test_a_window_outside_the_run_is_nan_with_the_reason(tmp_path):
    r = read(_frames(), _one(tmp_path, row(window="2019-09")))
    assert math.isnan(r.value) and "outside the run" in r.how
    r = read(_frames(), _one(tmp_path, row(output="adoption", filters="", statistic="count", window="FY2025")))
    assert math.isnan(r.value) and "not inside the run" in r.how


def test_visit_day_share_over_bands(tmp_path):
    vd = pd.DataFrame({"fiscal_year": [2022] * 4 + [2023], "stage": ["ENGAGED"] * 4 + ["ENGAGED"],
                       "type": ["WORK", "WORK", "HOBBY_CONSUMPTION", "WORK", "WORK"],
                       "home_kind": ["metro"] * 5, "full_year": [True] * 5,
                       "days": ["2-7", "8-30", "2-7", "100+", "2-7"], "people": [10.0, 30.0, 50.0, 10.0, 99.0]})
    f = _frames(visit_days=vd)
    t = _one(tmp_path, row(output="visit_days", filters="stage=ENGAGED|DUAL;type=WORK;days=8-30|31-99|100+",
                           statistic="share:days", window="FY2022"))
    assert read(f, t).value == pytest.approx(40 / 50)
    t = _one(tmp_path, row(output="visit_days", filters="stage=ENGAGED;days=2-7", statistic="share:days",
                           window="FY2022"))
    assert read(f, t).value == pytest.approx(60 / 100)


def test_net_migration_is_annualised_from_a_partial_year(tmp_path):
    nm = pd.DataFrame({"year": [2020, 2021], "area": ["東京圏", "東京圏"], "months": [9, 12],
                       "complete": [False, True], "net": [90.0, 80.0], "general": [85.0, 70.0],
                       "relationship": [5.0, 10.0]})
    f = _frames(net_migration=nm)
    t2020 = _one(tmp_path, row(output="net_migration", filters="area=東京圏", statistic="net", window="2020"))
    r = read(f, t2020)
    assert r.value == pytest.approx(120.0) and "annualised from 9 months" in r.how
    t2021 = _one(tmp_path, row(output="net_migration", filters="area=東京圏", statistic="general", window="2021"))
    assert read(f, t2021).value == 70.0


def test_flows_levers_ledger_and_adoption_over_fiscal_years(tmp_path):
    flows = pd.DataFrame({"year": [2021, 2021, 2022], "fiscal_year": [2020, 2021, 2021],
                          "home_kind": ["rural"] * 3, "area": ["その他"] * 3, "flow": ["SETTLE"] * 3,
                          "people": [1.0, 2.0, 4.0]})
    levers = pd.DataFrame({"fiscal_year": [2023, 2023, 2024], "kind": ["relocation_grant"] * 3,
                           "item": ["cases", "persons", "cases"], "value": [3.0, 7.0, 5.0]})
    ledger = pd.DataFrame({"fiscal_year": [2020, 2020], "kind": ["furusato_nozei"] * 2,
                           "item": ["donations", "gifts"], "yen": [1e9, 3e8]})
    adoption = pd.DataFrame({"fiscal_year": [2020, 2021], "municipalities": [100.0, 150.0]})
    f = _frames(flows=flows, lever_counts=levers, ledger=ledger, adoption=adoption)
    per_year = _one(tmp_path, row(output="flow", filters="flow=SETTLE", statistic="per_year", window="FY2020-FY2021"))
    assert read(f, per_year).value == pytest.approx(7 / 2)
    calendar = _one(tmp_path, row(output="flow", filters="flow=SETTLE", statistic="sum", window="2021"))
    assert read(f, calendar).value == 3.0
    cases = _one(tmp_path, row(output="lever", filters="kind=relocation_grant;item=cases", statistic="sum",
                               window="FY2023-FY2024"))
    assert read(f, cases).value == 8.0
    gifts = _one(tmp_path, row(output="ledger", filters="kind=furusato_nozei;item=donations", statistic="sum",
                               window="FY2020"))
    assert read(f, gifts).value == 1e9
    share = _one(tmp_path, row(output="adoption", filters="", statistic="share", window="FY2021"))
    assert read(f, share).value == pytest.approx(150 / 200)


def test_retention_and_cohorts(tmp_path):
    ret = pd.DataFrame({"cohort_fiscal_year": [2020, 2021, 2020], "years_after": [1, 1, 3],
                        "settlers": [100.0, 50.0, 100.0], "left": [10.0, 5.0, 30.0], "died": [0.0, 10.0, 2.0],
                        "retention": [0.9, 0.875, 0.69]})
    cohorts = pd.DataFrame({"fiscal_year": [2023, 2023, 2023, 2024], "programme": ["kyoryokutai"] * 4,
                            "years_since_entry": ["3", "3", "1", "3"], "stage": ["SETTLED", "ENGAGED", "DUAL", "SETTLED"],
                            "people": [6.0, 4.0, 50.0, 10.0]})
    f = _frames(retention=ret, cohorts=cohorts)
    t = _one(tmp_path, row(output="retention", filters="years_after=1", statistic="retention",
                           window="FY2020-FY2021"))
    assert read(f, t).value == pytest.approx((140 - 15) / 140)
    t = _one(tmp_path, row(output="cohort", filters="programme=kyoryokutai;years_since_entry=3;stage=SETTLED",
                           statistic="share:stage", window="FY2023"))
    assert read(f, t).value == pytest.approx(6 / 10)


# --- on a real run ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frames():
    model = RelationModel(scenario=load_scenario(overrides={"run.people_per_agent": 5000,
                                                            "run.horizon_years": 2}), rng=3)
    model.run()
    return model, RunFrames.of(model)


def test_frames_of_a_run_agree_with_its_history(frames):
    model, f = frames
    by_home = model.history.people_by_home()
    stock = f.stocks[f.stocks["step"] == 12].groupby("stage")["people"].sum()
    assert stock["ENGAGED"] == pytest.approx(by_home[12, :, int(Stage.ENGAGED)].sum())
    # the destination mix at the FY2020 end counts the same ENGAGED people, split by where their target lies
    d = f.destinations[(f.destinations["fiscal_year"] == 2020) & (f.destinations["stage"] == "ENGAGED")]
    assert d["people"].sum() == pytest.approx(stock["ENGAGED"])
    assert set(d["target_kind"]) <= {"metro", "rural"}
    same = d[d["destination"] == "SAME_PREFECTURE"]
    assert (same["target_kind"] == same["home_kind"]).all()
    rural = (d["destination"] == "RURAL") | ((d["destination"] == "SAME_PREFECTURE") & (d["home_kind"] == "rural"))
    assert (rural == (d["target_kind"] == "rural")).all()


def test_observe_reads_every_shipped_target_that_the_run_covers(frames):
    _, f = frames
    table = observe(f, load_targets())
    covered = table[table["model"].notna()]
    assert {"mlit2020_visiting_share_metro", "mlit2020_flow_metro_to_other",
            "tokyo_area_net_inmigration_2021", "municipalities_working_on_kankei_fy2021"} <= set(covered["target_id"])
    assert np.isfinite(covered["model"]).all()
    later = table.set_index("target_id").loc["mlit2023_visit_days_2to7_share"]
    assert math.isnan(later["model"]) and "not inside the run" in later["how"]


# --- kankei validate ----------------------------------------------------------------------------
def test_validate_writes_the_fit_table_and_takes_posterior_draws(tmp_path, capsys):
    from experiments.posterior import write_posterior

    path = targets_file(tmp_path, row(tid="visiting_metro", value="0.184"),
                        row(tid="adopting", value="1261", output="adoption", filters="", statistic="count",
                            window="FY2020"),
                        row(tid="later", value="0.49", output="visit_days", filters="days=2-7",
                            statistic="share:days", window="FY2040"))
    posterior = tmp_path / "posterior.parquet"
    write_posterior(posterior, pd.DataFrame({"draw": [0, 1], "weight": [0.5, 0.5],
                                             "adoption.base_rate": [0.01, 0.3]}))
    out = tmp_path / "v"
    assert main(["validate", str(path), "--reps", "4", "--set", "run.people_per_agent=20000", "--posterior",
                 str(posterior), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "of 2 comparable fitted targets inside" in printed and "later: FY2040 is not inside the run" in printed
    table = pd.read_csv(out / "table.csv")
    assert list(table["target_id"]) == ["visiting_metro", "adopting", "later"]
    fitted = table.set_index("target_id")
    assert fitted.loc["adopting", "low"] <= fitted.loc["adopting", "median"] <= fitted.loc["adopting", "high"]
    assert math.isnan(fitted.loc["later", "median"])
    reps = pd.read_csv(out / "replications.csv")
    assert set(reps["adoption.base_rate"]) <= {0.01, 0.3} and reps["rep"].nunique() == 4
    # the runs end with the last target they can measure (FY2020), not the scenario's 15-year horizon
    assert "FY2020" in set(reps.loc[reps["target_id"] == "adopting", "how"])
    assert (out / "fit.png").stat().st_size > 0 and (out / "manifest.json").is_file()
    # more adoption with the larger rate: the two draws give different adopting counts
    adopting = reps[reps["target_id"] == "adopting"].groupby("adoption.base_rate")["model"].mean()
    assert adopting[0.3] > adopting[0.01]


def test_a_check_without_spread_is_judged_by_its_stated_precision(tmp_path):
    """Checks are often fixed by inputs (no spread between replications): the summary says whether the
    model is within the figure's stated precision, besides whether it is inside the (empty) interval."""
    from experiments.calibrate_cli import format_fit
    from experiments.validate import fit_table

    path = tmp_path / "use.csv"
    path.write_text(HEADER.rstrip("\n") + ",use\n" + row(tid="f") + ",fit\n"
                    + row(tid="c", value="100") + ",check\n", encoding="utf-8")
    targets = load_targets(path)
    sims = pd.DataFrame({"rep": [0, 1, 0, 1], "seed": [1, 2, 1, 2], "target_id": ["f", "f", "c", "c"],
                         "observed": [0.2, 0.2, 100.0, 100.0], "model": [0.19, 0.21, 100.5, 100.5],
                         "how": ["read"] * 4})
    table = fit_table(targets, sims).set_index("target_id")
    assert table.loc["c", "z"] == pytest.approx(0.5 / 5.0) and table.loc["c", "use"] == "check"
    assert not table.loc["c", "inside"] and table.loc["f", "inside"]
    text = format_fit(table.reset_index())
    assert "1 of 1 comparable fitted targets inside" in text
    assert "0 of 1 checks (not fitted) inside it; 1 within their stated precision" in text
