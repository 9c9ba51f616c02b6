"""The status quo (現状政策, scenarios/status_quo.toml), levers merged by name across `extends`, and
`kankei compare POLICY` against the status quo by default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.compare import changed_levers, compare, policy_regions
from model import RelationModel, ScenarioError, load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
STATUS_QUO = SCENARIOS / "status_quo.toml"
BASELINE = SCENARIOS / "baseline.toml"
# five fiscal years (FY2020–FY2024), fine enough that the smallest programme (ふるさとワーキングホリデー,
# 1,800 places a year) enrols agents every year
FIVE_YEARS = {"run.people_per_agent": 1000, "run.horizon_years": 5}
SMALL = {"run.people_per_agent": 5000, "run.horizon_years": 3}
#: the lever kinds the status quo holds (issue 8): name → kind
HELD = {"relocation_grant": "relocation_grant", "kyoryokutai": "programme", "travel_subsidy": "travel_subsidy",
        "side_job_matching": "side_job_matching", "model_projects": "adoption_support",
        "taiwa_sokushin": "intermediary", "working_holiday": "programme",
        **{f"furusato_nozei_fy{fy}": "furusato_nozei" for fy in (2020, 2021, 2022, 2023, 2024)},
        "furusato_nozei_fy2025_on": "furusato_nozei"}


@pytest.fixture(scope="module")
def runs():
    """The status quo and the baseline over FY2020–FY2024 on one seed."""
    out = {}
    for name, path in (("status_quo", STATUS_QUO), ("baseline", BASELINE)):
        m = RelationModel(scenario=load_scenario(path, overrides=FIVE_YEARS), rng=7)
        m.run()
        out[name] = m
    return out


def test_the_status_quo_is_the_baseline_plus_named_levers():
    sq, base = load_scenario(STATUS_QUO), load_scenario(BASELINE)
    assert {lever.name: lever.kind for lever in sq.config.levers} == HELD
    assert not base.config.levers, "baseline.toml stays the no-policy counterfactual"
    assert settings(sq) == settings(base), "the status quo changes levers only"
    assert sq.config.calibration.priors and not base.config.calibration.priors


def test_every_status_quo_lever_acts(runs):
    m = runs["status_quo"]
    spent = m.spending().groupby("lever", observed=True)["yen"].sum()
    assert set(HELD) - {"furusato_nozei_fy2025_on"} <= set(spent[spent > 0].index), spent
    counts = m.lever_counts().groupby(["lever", "item", "fiscal_year"], observed=True)["value"].sum()
    for fy in range(2020, 2025):
        assert counts[("relocation_grant", "cases", fy)] > 0 and counts[("relocation_grant", "persons", fy)] > 0
    assert counts.loc[("travel_subsidy", "trips")].sum() > 0
    entries = m.programmes().groupby("programme", observed=True)["entries"].sum()
    for name in ("kyoryokutai", "working_holiday", "travel_subsidy", "side_job_matching", "taiwa_sokushin"):
        assert entries[name] > 0, name
    # ふるさと納税: each fiscal year's donors give in that year only, more donors later
    donations = m.history.ledger_frame().query("item == 'donations'")
    by_lever = donations.groupby(["lever", "fiscal_year"], observed=True)["yen"].sum()
    for fy in range(2020, 2025):
        assert set(by_lever.loc[f"furusato_nozei_fy{fy}"].index) == {fy}
    per_year = donations.groupby("fiscal_year")["yen"].sum()
    assert per_year.is_monotonic_increasing and 5e11 < per_year[2020] < per_year[2024] < 2e12
    # the model projects speed municipal adoption (the KPI) against the baseline on the same seed
    adopting = {k: r.municipalities_by_fiscal_year().set_index("fiscal_year")["municipalities"]
                for k, r in runs.items()}
    assert adopting["status_quo"][2024] > adopting["baseline"][2024]


def test_status_quo_counts_are_plausible(runs):
    """Orders of magnitude only (the calibration fits behaviour later): the sizes are inputs."""
    m = runs["status_quo"]
    programmes = m.programmes()
    last = programmes[programmes["step"] == programmes["step"].max()]
    in_post = last.groupby("programme", observed=True)["participants"].sum()
    assert 2_000 < in_post["kyoryokutai"] < 8_000          # 40 places × 47 a year, a three-year term
    counts = m.lever_counts().groupby(["lever", "item"], observed=True)["value"].sum() / 5
    assert 500 < counts[("relocation_grant", "cases")] < 20_000     # cases a year
    spent = m.spending().groupby("lever", observed=True)["yen"].sum() / 5
    assert spent["travel_subsidy"] < 5e9, "a few thousand users a year, not every eligible person"


def settings(scenario) -> dict:
    """Everything in a scenario but its levers, its name and its calibration priors (read only by
    kankei calibrate)."""
    out = scenario.config.model_dump(mode="python")
    out.pop("levers")
    out.pop("calibration")
    out["run"].pop("name")
    return out


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_child_lever_with_a_parents_name_changes_it_in_place(tmp_path):
    write(tmp_path / "parent.toml", f'extends = "{BASELINE}"\n'
          '[[levers]]\nname = "grant"\nkind = "relocation_grant"\nregions = [32]\n'
          '[[levers]]\nname = "stay"\nkind = "programme"\nregions = [32]\nplaces_per_region_year = 10\n'
          'duration_months = 12\neffects = { settle = 2.0, lapse_dual = 0.5 }\n')
    child = write(tmp_path / "child.toml", 'extends = "parent.toml"\n'
                  '[[levers]]\nname = "stay"\neffects = { settle = 4.0 }\n'       # kind may be left out
                  '[[levers]]\nname = "grant"\nkind = "relocation_grant"\nhousehold_yen = 2_000_000\n'
                  '[[levers]]\nkind = "cko"\n'                                    # unnamed: added
                  '[[levers]]\nname = "new"\nkind = "housing"\n')                 # a new name: added
    levers = load_scenario(child).config.levers
    assert [(lever.name, lever.kind) for lever in levers] == [
        ("grant", "relocation_grant"), ("stay", "programme"), ("", "cko"), ("new", "housing")]
    assert levers[0].household_yen == 2_000_000 and levers[0].regions == [32]     # the rest is kept
    assert levers[1].places_per_region_year == 10
    assert levers[1].effects == {"settle": 4.0, "lapse_dual": 0.5}                 # tables merge key by key
    # a grandchild changes a grandparent's lever and removes another
    grandchild = write(tmp_path / "grandchild.toml", 'extends = "child.toml"\n'
                       '[[levers]]\nname = "grant"\nsingle_yen = 0\n[[levers]]\nname = "stay"\nremove = true\n')
    levers = load_scenario(grandchild).config.levers
    assert [lever.name for lever in levers] == ["grant", "", "new"]
    assert levers[0].household_yen == 2_000_000 and levers[0].single_yen == 0


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ('[[levers]]\nname = "grant"\nkind = "cko"\n', "levers.0.kind",
     "would change the kind of the lever 'grant' of parent.toml, a 'relocation_grant' lever"),
    ('[[levers]]\nname = "nope"\nremove = true\n', "levers.0.remove",
     "parent.toml has no lever named 'nope' (its named levers: 'grant')"),
    ('[[levers]]\nremove = true\n', "levers.0.remove", "removes a lever of the parent by its name"),
    ('[[levers]]\nname = "grant"\nremove = true\nhousehold_yen = 1\n', "levers.0.household_yen",
     "takes only name"),
    ('[[levers]]\nname = "grant"\nremove = "yes"\n', "levers.0.remove", "must be true or false"),
    ('[[levers]]\nname = "x"\nkind = "cko"\n[[levers]]\nname = "x"\nkind = "cko"\n', "levers.1.name",
     "'x' is also the name of levers.0 in this file"),
    ('levers = 5\n', "levers", "must be an array of tables"),
])
def test_misused_lever_merging_is_refused_with_file_and_key(tmp_path, text, key, fragment):
    write(tmp_path / "parent.toml", f'extends = "{BASELINE}"\n[[levers]]\nname = "grant"\nkind = "relocation_grant"\n')
    child = write(tmp_path / "child.toml", 'extends = "parent.toml"\n' + text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(child)
    assert err.value.source.endswith("child.toml") and err.value.key == key, str(err.value)
    assert fragment in err.value.message


def test_remove_needs_a_parent(tmp_path):
    alone = write(tmp_path / "alone.toml", '[[levers]]\nname = "a"\nremove = true\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(alone)
    assert err.value.key == "levers.0.remove" and "extends none" in err.value.message


def test_lever_names_are_unique_in_any_scenario(tmp_path):
    one = write(tmp_path / "one.toml", f'extends = "{BASELINE}"\n'
                '[[levers]]\nname = "a"\nkind = "cko"\n[[levers]]\nname = "a"\nkind = "housing"\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(one)
    assert err.value.key == "levers.1.name" and "also the name of levers.0" in err.value.message


def test_overrides_address_a_lever_by_its_name():
    sc = load_scenario(STATUS_QUO, overrides={"levers.relocation_grant.household_yen": 1_500_000})
    assert sc.config.levers[0].household_yen == 1_500_000
    with pytest.raises(ScenarioError) as err:
        load_scenario(STATUS_QUO, overrides={"levers.grant.household_yen": 1})
    assert err.value.key == "levers.grant" and "'relocation_grant'" in err.value.message


@pytest.mark.parametrize("path", sorted([*SCENARIOS.glob("policy_*.toml"), *SCENARIOS.glob("programme_*.toml")]),
                         ids=lambda p: p.stem)
def test_every_shipped_policy_is_the_status_quo_plus_a_change(path):
    assert settings(load_scenario(path)) == settings(load_scenario(STATUS_QUO))
    sq, policy = load_scenario(STATUS_QUO).config, load_scenario(path).config
    ours = {lever.name: lever for lever in policy.levers}
    assert set(ours) >= {lever.name for lever in sq.levers}, "no status quo lever is lost"
    changed = [lever.name for lever in sq.levers if ours[lever.name] != lever]
    added = [name for name in ours if name not in {lever.name for lever in sq.levers}]
    assert len(changed) + len(added) >= 1 and (not changed or not added), (changed, added)
    assert len(changed) <= 1, "a policy file changes one status quo lever at most"


def test_compare_with_the_status_quo_counts_what_a_policy_adds():
    # 協力隊 places large enough for this coarse scale: 2,000 a prefecture in the status quo, 4,000 in the policy
    sq = load_scenario(STATUS_QUO, overrides={**SMALL, "levers.kyoryokutai.places_per_region_year": 2000})
    grant = load_scenario(SCENARIOS / "policy_relocation_grant.toml",
                          overrides={**SMALL, "levers.kyoryokutai.places_per_region_year": 2000})
    same = load_scenario(STATUS_QUO, overrides={**SMALL, "run.name": "same",
                                                "levers.kyoryokutai.places_per_region_year": 2000})
    more = load_scenario(SCENARIOS / "programme_kyoryokutai.toml",
                         overrides={**SMALL, "levers.kyoryokutai.places_per_region_year": 4000})
    result = compare(sq, [grant, same, more], reps=1, seed=3)
    cost = result.cost.set_index("policy")
    runs = result.runs.set_index("policy")
    # the money a policy adds, not its total: the status quo's own spending cancels
    assert cost.loc["same", "spending_yen"] == 0 and cost.loc["same", "settler_cost_status"] == "no_spending"
    assert 0 < cost.loc["policy_relocation_grant", "spending_yen"] < runs.loc["policy_relocation_grant", "spending_yen"]
    assert not (result.transfers["policy"] == "policy_relocation_grant").any(), "no ledger change"
    assert "participants" not in runs.columns or np.isnan(runs.loc["policy_relocation_grant", "participants"])
    # participants: the people the larger 協力隊 enrolled whom the status quo did not (about half of its members)
    pol = RelationModel(scenario=more, rng=int(runs.loc["programme_kyoryokutai", "seed"]))
    pol.run()
    members = more.config.run.people_per_agent * (pol.people.programme[: pol.people.n] == 0).sum()
    assert pol.levers.programme_labels()[0] == "kyoryokutai"
    extra = cost.loc["programme_kyoryokutai", "participants"]
    assert 0.3 * members < extra < 0.8 * members, (extra, members)
    # regions: those of the changed lever (the grant's 42 destinations), not every region of the status quo
    a, b = RelationModel(scenario=grant, rng=1), RelationModel(scenario=sq, rng=1)
    assert changed_levers(a, b) == ([0], [0])
    assert policy_regions(a, b).sum() == 42 and policy_regions(a).sum() == 47


def test_kankei_compare_uses_the_status_quo_unless_told_otherwise(tmp_path, capsys):
    args = ["--reps", "1", "--quiet", "--set", "run.people_per_agent=5000", "--set", "run.horizon_years=3"]
    out = tmp_path / "default"
    assert main(["compare", str(SCENARIOS / "policy_relocation_grant.toml"), *args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "policy_relocation_grant vs status_quo" in printed
    assert Path(json.loads((out / "manifest.json").read_text())["baseline"]) == STATUS_QUO.resolve()
    other = tmp_path / "other"
    assert main(["compare", str(STATUS_QUO), "--baseline", str(BASELINE), *args, "--out", str(other)]) == 0
    assert "status_quo vs baseline" in capsys.readouterr().out
    info = json.loads((other / "manifest.json").read_text())
    assert Path(info["baseline"]) == BASELINE.resolve() and info["policies"] == [str(STATUS_QUO.resolve())]
    cost = pd.read_csv(other / "cost.csv").set_index("policy")
    assert cost.loc["status_quo", "spending_yen"] > 1e11, "ふるさと納税's deductions alone are above ¥100 billion"


def test_kankei_compare_without_a_policy_says_what_to_give(tmp_path, capsys):
    assert main(["compare", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "POLICY: give one or more policy scenario files" in err and "--baseline FILE" in err
    assert not (tmp_path / "c").exists()
