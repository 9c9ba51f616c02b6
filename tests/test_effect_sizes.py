"""The levers' effect sizes (効果量) as free parameters: which fields they are, priors and posterior
columns ``levers.NAME.FIELD[.ENTRY]`` on them (and never on a policy size), and a posterior applied to
a policy and its baseline alike (real runs of the status quo at 2,000–10,000 people per agent)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from experiments.calibrate import Settings, calibrate, weighted_quantiles, write_calibration
from experiments.cli import main
from experiments.compare import compare, posterior_options
from experiments.posterior import load_posterior, parameter_value, write_posterior
from experiments.targets import load_targets
from model import RelationModel, ScenarioError, load_scenario
from model.levers import LEVER_SPECS
from model.levers.effects import effect_size_fields, effect_size_keys
from model.paths import scenarios_dir, status_quo_scenario

REPO = Path(__file__).resolve().parents[1]
STATUS_QUO = status_quo_scenario()
SETTLE = "levers.kyoryokutai.effects.settle"
# members enough to count settlers: the status quo's 協力隊 with more places (a policy size, set for the test)
MEMBERS = {"run.people_per_agent": 2000, "run.horizon_years": 3, "levers.kyoryokutai.places_per_region_year": 2000}


def prior(key: str, low: float = 1.0, high: float = 5.0) -> dict:
    return {"calibration.priors": {key: {"low": low, "high": high, "source": "assumption"}}}


def refusal(key: str) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(STATUS_QUO, overrides=prior(key))
    assert err.value.key == f"calibration.priors.{key}", str(err.value)
    return err.value.message


def settled_members(model: RelationModel) -> float:
    """協力隊 members settled in their host region at the run's last fiscal-year end (real people)."""
    c = model.cohorts()
    c = c[(c["programme"] == "kyoryokutai") & (c["fiscal_year"] == c["fiscal_year"].max())]
    return float(c.loc[c["stage"] == "SETTLED", "people"].sum())


def posterior_file(tmp_path: Path, columns: dict[str, list[float]], scenarios) -> object:
    n = len(next(iter(columns.values())))
    return write_posterior(tmp_path / "p.parquet", pd.DataFrame(
        {"draw": range(n), "weight": [1.0 / n] * n, **columns}), scenarios=scenarios)


# --- the schema ---------------------------------------------------------------------------------
def doc_table() -> dict[str, tuple[list[str], list[str]]]:
    """docs/levers.md's table of effect sizes: kind → (effect-size fields, policy-size fields)."""
    text = (REPO / "docs" / "levers.md").read_text(encoding="utf-8")
    section = text.split("## Effect sizes and policy sizes", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = (re.findall(r"`(\w+)`", cells[1]), re.findall(r"`(\w+)`", cells[2]))
    return rows


def test_every_lever_kind_declares_its_effect_sizes_as_docs_levers_md_lists_them():
    table = doc_table()
    assert set(table) == set(LEVER_SPECS)
    for kind, cls in LEVER_SPECS.items():
        effects, policy = table[kind]
        assert tuple(effects) == effect_size_fields(cls), kind
        assert set(policy) <= set(cls.model_fields) - set(effect_size_fields(cls)), kind
    # what a policymaker chooses is never an effect size
    for kind, field in [("programme", "places_per_region_year"), ("side_job_matching", "staff"),
                        ("relocation_grant", "household_yen"), ("travel_subsidy", "share"),
                        ("intermediary", "cost_per_org_year"), ("programme", "duration_months")]:
        assert field not in effect_size_fields(LEVER_SPECS[kind]), (kind, field)


def test_a_table_of_effects_is_addressed_per_entry():
    sq = load_scenario(STATUS_QUO)
    kyoryokutai = next(lever for lever in sq.config.levers if lever.name == "kyoryokutai")
    assert effect_size_keys(kyoryokutai) == ["levers.kyoryokutai.cko_places", "levers.kyoryokutai.effects.lapse_dual",
                                            SETTLE]


# --- priors ---------------------------------------------------------------------------------------
def test_a_prior_on_an_effect_size_is_accepted():
    sq = load_scenario(STATUS_QUO, overrides=prior("levers.side_job_matching.matches_per_staff_year", 3.0, 20.0))
    assert list(sq.config.calibration.priors) == ["levers.side_job_matching.matches_per_staff_year"]
    assert {SETTLE, "levers.kyoryokutai.effects.lapse_dual", "adoption.initial_share",
            "levers.relocation_grant.effect_per_million_yen"} <= set(load_scenario(STATUS_QUO).config.calibration.priors)


def test_a_prior_on_a_policy_size_is_refused_naming_the_allowed_keys():
    message = refusal("levers.kyoryokutai.places_per_region_year")
    assert "policy size" in message
    assert "levers.kyoryokutai.effects.settle" in message and "levers.kyoryokutai.effects.lapse_dual" in message


@pytest.mark.parametrize(("key", "says"), [
    ("levers.nope.effect", "no lever named 'nope'"),
    ("levers.kyoryokutai.wings", "'wings' is not a field of the lever 'kyoryokutai'"),
    ("levers.kyoryokutai.effects.engage", "'effects.engage' is not one number the lever 'kyoryokutai' holds"),
    ("levers.kyoryokutai.effects", "'effects' is not one number"),
    ("levers.7.effects.settle", "names a lever by its position"),
])
def test_a_prior_on_an_unknown_lever_or_field_is_refused(key, says):
    message = refusal(key)
    assert says in message, message
    if "kyoryokutai" in key:
        assert SETTLE in message


def test_kankei_calibrate_refuses_a_policy_size_prior_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "{STATUS_QUO.as_posix()}"\n[calibration.priors."levers.relocation_grant.household_yen"]\n'
                    'low = 1e5\nhigh = 2e6\nsource = "assumption"\n', encoding="utf-8")
    targets = scenarios_dir() / "data" / "calibration_targets.csv"
    assert main(["calibrate", str(path), "--targets", str(targets), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: calibration.priors.levers.relocation_grant.household_yen:" in err and "policy size" in err
    assert "levers.relocation_grant.effect_per_million_yen" in err and not (tmp_path / "out").exists()


def test_a_scenario_that_removes_a_lever_drops_the_priors_it_inherits_on_it(tmp_path):
    removed = tmp_path / "no_kyoryokutai.toml"
    removed.write_text(f'extends = "{STATUS_QUO.as_posix()}"\n[[levers]]\nname = "kyoryokutai"\nremove = true\n',
                       encoding="utf-8")
    priors = load_scenario(removed).config.calibration.priors
    assert not [k for k in priors if k.startswith("levers.kyoryokutai.")]
    assert "levers.relocation_grant.effect_per_million_yen" in priors
    own = tmp_path / "own_prior.toml"
    own.write_text(removed.read_text() + f'[calibration.priors."{SETTLE}"]\nlow = 1\nhigh = 5\nsource = "x"\n',
                   encoding="utf-8")
    with pytest.raises(ScenarioError, match="no lever named 'kyoryokutai'"):
        load_scenario(own)


# --- a calibration and a posterior change the lever's behaviour -----------------------------------
def test_posterior_particles_with_a_larger_settle_effect_settle_more_members(tmp_path):
    base = load_scenario(STATUS_QUO, overrides=MEMBERS)
    post = posterior_file(tmp_path, {SETTLE: [1.0, 5.0]}, base)
    assert post.parameters == (SETTLE,)
    settled = []
    for draw in (0, 1):
        drawn = post.apply(base, draw)
        assert parameter_value(drawn.config, SETTLE) == [1.0, 5.0][draw]
        assert parameter_value(drawn.config, "levers.kyoryokutai.effects.lapse_dual") == 0.1   # the rest kept
        settled.append(settled_members(RelationModel(scenario=drawn, rng=3).run()))
    assert settled[1] > 3 * settled[0] > 0, settled


def test_a_calibration_fits_an_effect_size_and_writes_it_as_a_change_of_the_lever(tmp_path):
    sc = load_scenario(STATUS_QUO, overrides={"run.horizon_years": 3, "calibration.people_per_agent": 10000,
                                              "calibration.priors": {SETTLE: {"low": 1.0, "high": 5.0, "scale": "log",
                                                                              "source": "assumption"}}})
    targets = tmp_path / "targets.csv"
    targets.write_text("target_id,quantity,population,period,value,unit,source,note,output,filters,statistic,window,"
                       "rel_sd,mapping_note\nadopting,q,p,FY2022,1350.0,u,src,,adoption,,count,FY2022,0.05,\n",
                       encoding="utf-8")
    assert list(sc.config.calibration.priors) == [SETTLE]
    out = tmp_path / "out"
    out.mkdir()
    cal = calibrate(sc, load_targets(targets), out, Settings(population=4, generations=1, executor="serial"))
    assert list(cal.posterior.columns) == ["draw", "weight", SETTLE] and cal.posterior[SETTLE].between(1, 5).all()
    write_calibration(cal, sc, out, [])
    text = (out / "calibrated.toml").read_text(encoding="utf-8")
    assert 'name = "kyoryokutai"' in text and "levers" in text
    calibrated = load_scenario(out / "calibrated.toml")
    (median,) = weighted_quantiles(cal.posterior[SETTLE].to_numpy(), cal.posterior["weight"].to_numpy(), (0.5,))
    assert parameter_value(calibrated.config, SETTLE) == pytest.approx(median, rel=1e-5)
    ours = {lever.name: lever.model_dump() for lever in calibrated.config.levers}
    theirs = {lever.name: lever.model_dump() for lever in sc.config.levers}
    ours["kyoryokutai"]["effects"]["settle"] = theirs["kyoryokutai"]["effects"]["settle"]
    assert ours == theirs                 # nothing else of any lever changed, the lever kept its place and kind
    assert load_posterior(out / "posterior.parquet", calibrated).parameters == (SETTLE,)


# --- posteriors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "says"), [
    ("levers.kyoryokutai.places_per_region_year", "policy size"),
    ("levers.relocation_grant.household_yen", "policy size"),
    ("levers.kyoryokutai.wings", "not a field"),
    ("levers.nope.effect", "names no lever of the scenarios"),
])
def test_a_posterior_column_on_a_policy_size_or_an_unknown_lever_is_refused(tmp_path, column, says):
    path = tmp_path / "bad.parquet"
    pd.DataFrame({"draw": [0, 1], "weight": [0.5, 0.5], column: [1.0, 2.0]}).to_parquet(path)
    with pytest.raises(ScenarioError) as err:
        load_posterior(path, load_scenario(STATUS_QUO))
    assert err.value.key == column and says in err.value.message, str(err.value)


def test_kankei_compare_refuses_a_posterior_on_a_policy_size_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.parquet"
    column = "levers.kyoryokutai.places_per_region_year"
    pd.DataFrame({"draw": [0], "weight": [1.0], column: [60.0]}).to_parquet(path)
    assert main(["compare", str(scenarios_dir() / "programme_kyoryokutai.toml"), "--posterior", str(path),
                 "--out", str(tmp_path / "cmp"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {column}:" in err and "policy size" in err and SETTLE in err
    assert not (tmp_path / "cmp").exists()


def test_compare_applies_an_effect_size_draw_to_the_policy_and_its_baseline_alike(tmp_path):
    """The status quo against 協力隊 with more places (a policy size): each replication's draw sets the
    members' settle multiplier in both, so the policy's added settlers grow with it."""
    fast = {"run.people_per_agent": 2000, "run.horizon_years": 3}
    base = load_scenario(STATUS_QUO, overrides=fast)
    more = tmp_path / "more.toml"
    more.write_text(f'extends = "{STATUS_QUO.as_posix()}"\n[run]\nname = "more"\n[[levers]]\nname = "kyoryokutai"\n'
                    "places_per_region_year = 2000\n", encoding="utf-8")
    pol = load_scenario(more, overrides=fast)
    post_path = posterior_file(tmp_path, {SETTLE: [1.0, 5.0]}, [base, pol]).path
    post, draws, reps = posterior_options(post_path, 4, 1, {}, base, [pol])
    result = compare(base, [pol], reps=reps, seed=11, posterior=post, draws=draws)
    runs = result.runs
    assert set(runs["draw"]) == {0, 1} and (runs[SETTLE] == runs["draw"].map({0: 1.0, 1: 5.0})).all()
    # rerun one replication from its record: both runs used the draw's value
    row = runs.iloc[0]
    value = float(row[SETTLE])
    for scenario, column in ((base, "baseline_settlers_total"), (pol, "settlers_total")):
        drawn = post.apply(scenario, int(row["draw"]))
        assert parameter_value(drawn.config, SETTLE) == value
        assert parameter_value(drawn.config, "levers.kyoryokutai.places_per_region_year") == \
            parameter_value(scenario.config, "levers.kyoryokutai.places_per_region_year")   # never a policy size
    added = (runs["settlers_total"] - runs["baseline_settlers_total"]).groupby(runs["draw"]).mean()
    assert added[1] > added[0], added.to_dict()


def test_a_policy_without_the_lever_is_left_without_it_and_one_that_changes_the_effect_is_refused(tmp_path):
    base = load_scenario(STATUS_QUO)
    removed = tmp_path / "removed.toml"
    removed.write_text(f'extends = "{STATUS_QUO.as_posix()}"\n[[levers]]\nname = "kyoryokutai"\nremove = true\n',
                       encoding="utf-8")
    pol = load_scenario(removed)
    post_path = posterior_file(tmp_path, {SETTLE: [1.5, 4.0], "rates.settle": [0.008, 0.01]}, [base, pol]).path
    post, _, _ = posterior_options(post_path, 2, 1, {}, base, [pol])
    drawn = post.apply(pol, 1)
    assert "kyoryokutai" not in {lever.name for lever in drawn.config.levers}
    assert drawn.config.levers == pol.config.levers and drawn.config.rates.settle == 0.01   # the rest is drawn
    assert parameter_value(post.apply(base, 1).config, SETTLE) == 4.0
    changed = tmp_path / "changed.toml"
    changed.write_text(f'extends = "{STATUS_QUO.as_posix()}"\n[[levers]]\nname = "kyoryokutai"\n'
                       "effects = { settle = 4.5 }\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        posterior_options(post_path, 2, 1, {}, base, [load_scenario(changed)])
    assert err.value.key == SETTLE and "policy's own value would be lost" in err.value.message
    assert json.loads(json.dumps(post.describe()))["parameters"] == [SETTLE, "rates.settle"]
