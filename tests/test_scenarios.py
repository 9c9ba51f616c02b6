"""Scenario files and overrides: what loads, and what is refused with a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model import RelationModel, ScenarioError, load_scenario
from experiments.arguments import parse_value

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.toml"


def write(tmp_path: Path, text: str, with_data: bool = True) -> Path:
    if with_data:
        (tmp_path / "data").mkdir(exist_ok=True)
        shutil.copy(REPO / "scenarios" / "data" / "prefectures.csv", tmp_path / "data" / "prefectures.csv")
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_baseline_loads_with_its_documented_settings():
    sc = load_scenario(BASELINE)
    run = sc.config.run
    assert (run.start, run.horizon_years, run.steps_per_year, run.people_per_agent) == ("2020-04", 15, 12, 100)
    assert run.n_steps == 180 and sc.name == "baseline"
    assert sc.rng == run.seed


def test_overrides_by_dotted_name_and_parsed_values():
    sc = load_scenario(BASELINE, overrides={"run.people_per_agent": 1000, "rates.visit": 0.1})
    assert sc.config.run.people_per_agent == 1000 and sc.config.rates.visit == 0.1
    assert parse_value("1000") == 1000 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value('"2021-04"') == "2021-04" and parse_value("2021-04x") == "2021-04x"
    assert parse_value("[13, 14]") == [13, 14]


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("[run\nseed = 1", "", "not valid TOML"),
    ("[run]\nseeds = 1\n", "run.seeds", "unknown key; allowed here: name, start"),
    ("[runn]\nseed = 1\n", "runn", "unknown key"),
    ("[run]\npeople_per_agent = 0\n", "run.people_per_agent", "greater than or equal to 1"),
    ("[run]\nstart = \"April 2020\"\n", "run.start", "YYYY-MM"),
    ("[rates]\nvisit = -0.1\n", "rates.visit", "greater than or equal to 0"),
    ("[run]\nsteps_per_year = \"monthly\"\n", "run.steps_per_year", "valid integer"),
    ("[run]\nhorizon_years = 100\nsteps_per_year = 365\n", "run", "at most 32,767 steps"),
    ("[population]\nvisitor_share = 0.5\nengaged_share_metro = 0.6\n", "", "exceeds 1"),
    ("[[levers]]\nkind = \"hazard_multiplier\"\ntransition = \"teleport\"\n", "levers.0.transition", "visit"),
    ("[[levers]]\nkind = \"cko\"\nstart = \"2025-04\"\nend = \"2021-03\"\n", "levers.0", "before start"),
    ("[[levers]]\nkind = \"hazard_multiplier\"\ntransition = \"engage\"\nfactor = -1\n", "levers.0.factor",
     "greater than or equal to 0"),
    ("[[levers]]\ntransition = \"engage\"\n", "levers.0", "each lever needs kind = one of travel_subsidy"),
    ("[[levers]]\nkind = \"teleporter\"\n", "levers.0", "each lever needs kind"),
    ("[[levers]]\nkind = \"cko\"\nquality = 1.5\n", "levers.0.quality", "less than or equal to 1"),
    ("[[levers]]\nkind = \"intermediary\"\ncount = -2\n", "levers.0.count", "greater than or equal to 0"),
    ("[[levers]]\nkind = \"cko\"\nqualty = 0.5\n", "levers.0.qualty", "unknown key; allowed here: kind, name"),
    ("[[levers]]\nkind = \"relocation_grant\"\npayer_national = 0.9\n", "levers.0", "sum to 1"),
])
def test_bad_scenarios_are_refused_naming_file_and_key(tmp_path, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(path) in str(err.value)
    assert err.value.key == key
    assert fragment in err.value.message


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.toml")
    path = write(tmp_path, '[regions]\ndata = "data/missing.csv"\n', with_data=False)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.key == "regions.data" and "missing.csv" in err.value.message


def test_bad_overrides_are_refused():
    with pytest.raises(ScenarioError, match="unknown key"):
        load_scenario(BASELINE, overrides={"run.peeple_per_agent": 10})
    with pytest.raises(ScenarioError, match="unknown section 'rn'"):
        load_scenario(BASELINE, overrides={"rn.seed": 1})
    with pytest.raises(ScenarioError, match="dotted"):
        load_scenario(BASELINE, overrides={"seed": 1})
    with pytest.raises(ScenarioError, match="no list item"):
        load_scenario(BASELINE, overrides={"levers.0.factor": 2})


def test_unknown_lever_region_is_refused():
    with pytest.raises(ScenarioError) as err:     # when the scenario is loaded, before any model is built
        load_scenario(BASELINE, overrides={"run.people_per_agent": 5000,
                                           "levers": [{"kind": "hazard_multiplier", "transition": "engage",
                                                       "regions": [13, 99]}]})
    assert err.value.key == "levers.0.regions" and "99" in err.value.message


@pytest.mark.parametrize(("edit", "key", "fragment"), [
    (lambda t: t.replace("lat,", "latitude,", 1), "lat", "required column missing"),
    (lambda t: t.replace(",rural,", ",village,", 1), "kind", "'metro' or 'rural'"),
    (lambda t: t.replace("pop_30_39", "pop_31_39", 1), "pop_31_39", "contiguous"),
])
def test_bad_region_tables_are_refused(tmp_path, edit, key, fragment):
    path = write(tmp_path, '[run]\npeople_per_agent = 5000\n')
    csv = tmp_path / "data" / "prefectures.csv"
    csv.write_text(edit(csv.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        RelationModel(scenario=load_scenario(path), rng=1)
    assert err.value.key == key and fragment in err.value.message and "prefectures.csv" in str(err.value)
