"""Calibration (experiments.calibrate, `kankei calibrate`): priors, resume, recovery, the folder it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.calibrate import Settings, calibrate, weighted_quantiles
from experiments.cli import main
from experiments.targets import RunFrames, load_targets, read
from model import RelationModel, load_scenario
from model.errors import ScenarioError
from model.paths import scenarios_dir

PRIORS = {
    "adoption.base_rate": {"low": 0.01, "high": 0.2, "source": "assumption"},
    "migration.metro_rate": {"low": 0.004, "high": 0.06, "scale": "log", "source": "assumption"},
}
HEADER = ("target_id,quantity,population,period,value,unit,source,note,output,filters,statistic,window,rel_sd,"
          "mapping_note\n")
ROWS = {  # targets a one-year run measures
    "adopting_fy2020": "adoption,,count,FY2020,0.05",
    "tokyo_net_2020": "net_migration,area=東京圏,net,2020,0.15",
    "visiting_metro": "stock,stage=ENGAGED|DUAL;home_kind=metro,share:stage,2020-09,0.05",
}


def scenario_file(tmp_path, ppa: float = 20000, horizon: int = 1):
    text = f'extends = "{(scenarios_dir() / "baseline.toml").as_posix()}"\n[run]\nhorizon_years = {horizon}\n'
    text += f"[calibration]\npeople_per_agent = {ppa}\n"
    for key, p in PRIORS.items():
        text += f'[calibration.priors."{key}"]\n' + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in p.items())
    path = tmp_path / "cal.toml"
    path.write_text(text, encoding="utf-8")
    return path


RECOVERY_ROWS = {  # what a two-year run measures of the two parameters, at a synthetic target's precision
    "adopting_fy2020": "adoption,,count,FY2020,0.01",
    "adopting_fy2021": "adoption,,count,FY2021,0.01",
    "tokyo_net_2021": "net_migration,area=東京圏,net,2021,0.05",
}


def targets_file(tmp_path, values: dict[str, float], rows: dict[str, str] = ROWS):
    lines = [f"{tid},q,p,per,{values[tid]!r},u,src,,{spec}," for tid, spec in rows.items()]
    path = tmp_path / "targets.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


OBSERVED = {"adopting_fy2020": 1300.0, "tokyo_net_2020": 98000.0, "visiting_metro": 0.184}


# --- priors in the scenario ---------------------------------------------------------------------
@pytest.mark.parametrize(("prior", "says"), [
    ({"rates.nope": {"low": 0, "high": 1, "source": "x"}}, "no such scenario value"),
    ({"rates.settle": {"low": 0.02, "high": 0.01, "source": "x"}}, "must be below high"),
    ({"rates.settle": {"low": 0, "high": 0.01, "scale": "log", "source": "x"}}, "log-scale prior needs low > 0"),
    ({"types.weights": {"low": 0, "high": 1, "source": "x"}}, "needs a single number"),
    ({"run.seed": {"low": 0, "high": 1, "source": "x"}}, "not free parameters"),
    ({"rates.settle": {"low": 0, "high": 1}}, "source"),
    ({"rates.settle": {"low": 0, "high": float("nan"), "source": "x"}}, "finite"),
])
def test_a_bad_prior_is_refused_naming_the_key(prior, says):
    with pytest.raises(ScenarioError) as err:
        load_scenario(overrides={"calibration.priors": prior})
    assert "calibration.priors" in str(err.value) and says in str(err.value)


def test_calibrate_refuses_a_scenario_without_priors(tmp_path, capsys):
    path = targets_file(tmp_path, OBSERVED)
    assert main(["calibrate", str(scenarios_dir() / "baseline.toml"), "--targets", str(path),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "names no free parameter" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- resume ---------------------------------------------------------------------------------------
def test_a_resumed_calibration_ends_where_an_uninterrupted_one_does(tmp_path):
    scenario = load_scenario(scenario_file(tmp_path))
    targets = load_targets(targets_file(tmp_path, OBSERVED))
    settings = Settings(budget=10_000, population=6, generations=3, executor="serial", seed=5)
    whole = tmp_path / "whole"
    whole.mkdir()
    a = calibrate(scenario, targets, whole, settings)
    split = tmp_path / "split"
    split.mkdir()
    first = calibrate(scenario, targets, split, Settings(**{**settings.__dict__, "generations": 1}))
    assert len(first.generations) == 1
    b = calibrate(scenario, targets, split, settings, resume=True)
    assert len(a.generations) == len(b.generations) == 3
    pd.testing.assert_frame_equal(a.posterior, b.posterior)
    pd.testing.assert_frame_equal(a.generations[["t", "epsilon", "samples"]], b.generations[["t", "epsilon", "samples"]])
    assert a.simulations == b.simulations


def test_the_budget_stops_after_the_generation_that_reaches_it(tmp_path):
    scenario = load_scenario(scenario_file(tmp_path))
    targets = load_targets(targets_file(tmp_path, OBSERVED))
    (tmp_path / "b").mkdir()
    cal = calibrate(scenario, targets, tmp_path / "b", Settings(budget=8, population=5, generations=10,
                                                                executor="serial"))
    assert cal.simulations >= 8
    assert len(cal.generations) < 10
    assert cal.simulations - int(cal.generations["samples"].iloc[-1]) < 8


# --- the command and its folder -------------------------------------------------------------------
def test_calibrate_cli_writes_its_folder_refuses_to_overwrite_and_resumes(tmp_path, capsys):
    scen, targ, out = scenario_file(tmp_path), targets_file(tmp_path, OBSERVED), tmp_path / "out"
    common = ["calibrate", str(scen), "--targets", str(targ), "--out", str(out), "--population", "5",
              "--executor", "serial", "--quiet"]
    assert main([*common, "--generations", "1"]) == 0
    for name in ("abc.db", "posterior.parquet", "fit.csv", "generations.csv", "calibrated.toml", "marginals.png",
                 "pairs.png", "calibrate.log", "manifest.json"):
        assert (out / name).is_file(), name
    post = pd.read_parquet(out / "posterior.parquet")
    assert list(post.columns) == ["draw", "weight", *PRIORS]
    assert post["weight"].sum() == pytest.approx(1.0) and (post["weight"] >= 0).all()
    for key, p in PRIORS.items():
        assert post[key].between(p["low"], p["high"]).all()
    calibrated = load_scenario(out / "calibrated.toml")
    (median,) = weighted_quantiles(post["adoption.base_rate"].to_numpy(), post["weight"].to_numpy(), (0.5,))
    assert calibrated.config.adoption.base_rate == pytest.approx(median, rel=1e-5)
    assert calibrated.config.run.horizon_years == 1          # everything else comes from the calibrated scenario
    capsys.readouterr()
    assert main([*common, "--generations", "1"]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main([*common, "--generations", "2", "--resume"]) == 0
    assert len(pd.read_csv(out / "generations.csv")) == 2
    assert "ABC INFO" in (out / "calibrate.log").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_local_dask_cluster_runs_the_simulations(tmp_path):
    scenario = load_scenario(scenario_file(tmp_path))
    targets = load_targets(targets_file(tmp_path, OBSERVED))
    (tmp_path / "d").mkdir()
    cal = calibrate(scenario, targets, tmp_path / "d", Settings(budget=12, population=6, generations=2,
                                                                executor="processes", workers=2))
    assert cal.simulations >= 12 and len(cal.posterior) == 6


# --- recovery ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_parameters_that_made_synthetic_targets_are_inside_the_90_percent_posterior(tmp_path):
    truth = {"adoption.base_rate": 0.08, "migration.metro_rate": 0.02}
    scen = scenario_file(tmp_path, ppa=5000, horizon=2)
    placeholder = load_targets(targets_file(tmp_path, dict.fromkeys(RECOVERY_ROWS, 1.0), RECOVERY_ROWS))
    values = {tid: [] for tid in RECOVERY_ROWS}
    for seed in (101, 102, 103):
        model = RelationModel(scenario=load_scenario(scen, overrides={**truth, "run.people_per_agent": 5000}),
                              rng=seed).run()
        frames = RunFrames.of(model)
        for t in placeholder.targets:
            values[t.target_id].append(read(frames, t).value)
    synthetic = load_targets(targets_file(tmp_path, {k: float(np.mean(v)) for k, v in values.items()},
                                          RECOVERY_ROWS))
    (tmp_path / "r").mkdir()
    cal = calibrate(load_scenario(scen), synthetic, tmp_path / "r",
                    Settings(budget=400, population=40, generations=8, executor="serial", seed=2))
    w = cal.posterior["weight"].to_numpy()
    for key, value in truth.items():
        low, high = weighted_quantiles(cal.posterior[key].to_numpy(), w, (0.05, 0.95))
        assert low <= value <= high, (key, value, low, high)
        prior = PRIORS[key]
        assert high - low < 0.8 * (prior["high"] - prior["low"]), f"{key}: the posterior did not narrow"


def test_the_shipped_calibration_is_the_status_quo_at_its_posterior_medians():
    """scenarios/calibrated.toml changes only the status quo's free parameters, each to the shipped
    posterior's weighted median, inside its prior: behavioural keys, and of the levers only their
    effect sizes (the levers' policy sizes are the status quo's)."""
    from experiments.posterior import load_posterior, parameter_value
    from model.levers.effects import effect_size_fields, effect_size_keys
    from model.paths import status_quo_scenario

    calibrated = load_scenario(scenarios_dir() / "calibrated.toml")
    status = load_scenario(status_quo_scenario())
    posterior = load_posterior(scenarios_dir() / "data" / "status_quo_posterior.parquet", calibrated)
    priors = status.config.calibration.priors
    assert set(posterior.parameters) == set(priors)
    assert Path(posterior.metadata["scenario"]).name == "status_quo.toml"
    fitted_levers = {key.split(".")[1] for key in priors if key.startswith("levers.")}
    ours, theirs = calibrated.config.levers, status.config.levers
    assert [lever.name for lever in ours] == [lever.name for lever in theirs]
    for mine, base in zip(ours, theirs):   # policy sizes, and effect sizes without a prior, are the status quo's
        effects = set(effect_size_fields(type(mine))) if mine.name in fitted_levers else set()
        assert mine.model_dump(exclude=effects) == base.model_dump(exclude=effects), mine.name
        for name in effects:
            for key in (k for k in effect_size_keys(base) if k.split(".")[2] == name and k not in priors):
                assert parameter_value(calibrated.config, key) == parameter_value(status.config, key), key
    weights = posterior.frame["weight"].to_numpy()
    for key, prior in priors.items():
        value = parameter_value(calibrated.config, key)
        assert prior.low <= value <= prior.high, key
        (median,) = weighted_quantiles(posterior.frame[key].to_numpy(), weights, (0.5,))
        assert value == pytest.approx(median, rel=1e-5), key
        assert ((posterior.frame[key] >= prior.low * (1 - 1e-9)) & (posterior.frame[key] <= prior.high * (1 + 1e-9))).all()
