"""Parameter uncertainty: posterior files, resampled draws, the variance split, `kankei compare
--posterior` and sweeps with a posterior (real runs at 5,000 and 10,000 people per agent)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import experiments
from experiments.compare import POSTERIOR_COLUMNS, compare, policy_regions
from experiments.executors import open_executor
from experiments.outcomes import summarise
from experiments.posterior import (Posterior, draw_seed, load_posterior, variance_parts, write_posterior)
from experiments.spec import build_plan, parse_spec
from experiments.store import SweepStore
from experiments.sweep import run_sweep
from model import RelationModel, ScenarioError, load_scenario
from model.parameters import with_overrides

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.toml"
FAST = {"run.people_per_agent": 5000, "run.horizon_years": 2}
OWN = {"rates.settle": 0.008, "rates.engage": 0.20}      # the baseline's own values (scenarios/baseline.toml)


def kankei(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def settle_policy(tmp_path: Path) -> Path:
    """A policy whose effect scales with rates.settle: the SETTLE hazard × 3 in rural regions."""
    path = tmp_path / "settle_x3.toml"
    path.write_text(f'extends = "{BASELINE}"\n[run]\nname = "settle_x3"\n[[levers]]\nkind = "hazard_multiplier"\n'
                    'transition = "settle"\nfactor = 3.0\nregions = "rural"\n')
    return path


def raw_parquet(path: Path, frame: pd.DataFrame, metadata: bytes | None = None) -> Path:
    """Write a frame as Parquet without any validation (for files the reader must refuse)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata is not None:
        table = table.replace_schema_metadata({b"kankei": metadata})
    pq.write_table(table, path)
    return path


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame({"draw": [0, 1, 2], "weight": [0.2, 0.3, 0.5], "rates.settle": [0.004, 0.01, 0.03],
                         **columns})


# --- the variance split --------------------------------------------------------------------------
def test_variance_parts_by_hand_and_on_a_known_model():
    parts = variance_parts(np.array([[1.0, 3.0], [5.0, 7.0]]))
    # means 2 and 6: MSW = (1+1+1+1)/(2·1) = 2, MSB = 2·((2−4)² + (6−4)²)/1 = 16, σ²_p = (16 − 2)/2 = 7
    assert parts.within == pytest.approx(2.0) and parts.between == pytest.approx(7.0) and not parts.clamped
    assert parts.mean_variance == pytest.approx((7.0 / 2, 2.0 / 4))
    assert sum(parts.shares) == pytest.approx(1.0) and parts.shares[0] == pytest.approx(3.5 / 4.0)

    rng = np.random.default_rng(1)
    y = 10 + rng.normal(0, 2.0, size=(4000, 1)) + rng.normal(0, 1.0, size=(4000, 3))   # σ_p = 2, σ_s = 1
    parts = variance_parts(y)
    assert parts.between == pytest.approx(4.0, rel=0.05) and parts.within == pytest.approx(1.0, rel=0.05)


def test_variance_parts_clamp_and_what_cannot_be_estimated():
    parts = variance_parts(np.array([[0.0, 2.0], [2.0, 0.0], [1.0, 1.0]]))   # equal draw means, seed noise
    assert parts.between == 0.0 and parts.clamped and parts.shares == (0.0, 1.0)
    assert math.isnan(variance_parts(np.ones((3, 1))).within)                # one seed per draw
    assert math.isnan(variance_parts(np.ones((1, 3))).between)               # one draw
    assert all(math.isnan(s) for s in variance_parts(np.zeros((3, 2))).shares)   # no spread at all
    same = variance_parts(np.full((10, 2), 3.6e9))     # equal values: no rounding noise of their mean
    assert same.between == same.within == 0 and all(math.isnan(s) for s in same.shares)


# --- the file, its reader and writer -------------------------------------------------------------
def test_write_load_round_trip_metadata_and_content_hash(tmp_path):
    meta = {"scenario": "baseline", "targets": ["x"], "generation": 4}
    written = write_posterior(tmp_path / "p.parquet", frame(), meta)
    post = load_posterior(tmp_path / "p.parquet")
    assert post.parameters == ("rates.settle",) and len(post) == 3 and post.metadata == meta
    assert post.sha256 == written.sha256
    assert post.frame["draw"].tolist() == [0, 1, 2] and post.frame["weight"].dtype == np.float64
    # the hash is of the particles: row order and metadata do not enter it, a value does
    raw_parquet(tmp_path / "shuffled.parquet", frame().iloc[[2, 0, 1]], b'{"generation": 5}')
    assert load_posterior(tmp_path / "shuffled.parquet").sha256 == post.sha256
    other = frame()
    other.loc[1, "rates.settle"] = 0.011
    assert write_posterior(tmp_path / "q.parquet", other).sha256 != post.sha256
    assert not list(tmp_path.glob(".*.tmp"))          # written through a temporary file, renamed


def test_write_posterior_never_replaces_a_file_it_did_not_write(tmp_path):
    mine = tmp_path / "notes.parquet"
    mine.write_text("my notes")
    with pytest.raises(ScenarioError, match="not a posterior file"):
        write_posterior(mine, frame())
    assert mine.read_text() == "my notes"
    write_posterior(tmp_path / "p.parquet", frame())
    write_posterior(tmp_path / "p.parquet", frame(), {"generation": 2})     # a posterior file: replaced
    assert load_posterior(tmp_path / "p.parquet").metadata == {"generation": 2}


def test_draws_are_deterministic_and_follow_the_weights(tmp_path):
    post = write_posterior(tmp_path / "p.parquet", pd.DataFrame(
        {"draw": [0, 1, 2, 3], "weight": [0.2, 0.3, 0.5, 0.0], "rates.settle": [0.004, 0.01, 0.03, 0.05]}))
    assert post.draws(50, seed=7) == post.draws(50, seed=7)
    assert post.draws(50, seed=7) != post.draws(50, seed=8)
    ids = post.indices(20_000, seed=1)
    counts = np.bincount(ids, minlength=4) / len(ids)
    assert counts[:3] == pytest.approx([0.2, 0.3, 0.5], abs=0.015) and counts[3] == 0   # weight 0: never drawn
    assert post.draws(1, seed=1)[0] == {"rates.settle": post.frame.loc[ids[0], "rates.settle"]}
    assert draw_seed(3) == draw_seed(3) != draw_seed(4)


BAD_FILES = [
    ("no_draw", lambda: frame().drop(columns="draw"), None, "draw", "required column is missing"),
    ("no_weight", lambda: frame().drop(columns="weight"), None, "weight", "required column is missing"),
    ("no_parameter", lambda: frame().drop(columns="rates.settle"), None, "", "no parameter columns"),
    ("zero_rows", lambda: frame().iloc[:0], None, "", "no rows"),
    ("negative_weight", lambda: frame().assign(weight=[-0.2, 0.7, 0.5]), None, "weight", "draw 0 has -0.2"),
    ("nan_weight", lambda: frame().assign(weight=[np.nan, 0.5, 0.5]), None, "weight", "nan"),
    ("unnormalised", lambda: frame().assign(weight=[1.0, 1.0, 1.0]), None, "weight", "sum to 3.0"),
    ("inf_value", lambda: frame(**{"rates.engage": [0.2, np.inf, 0.2]}), None, "rates.engage", "draw 1 has inf"),
    ("nan_value", lambda: frame(**{"rates.engage": [0.2, 0.2, np.nan]}), None, "rates.engage", "draw 2 has nan"),
    ("text_value", lambda: frame(**{"rates.engage": ["a", "b", "c"]}), None, "rates.engage", "allowed: float64"),
    ("repeated_ids", lambda: frame().assign(draw=[0, 0, 2]), None, "draw", "repeated ids [0]"),
    ("float_ids", lambda: frame().assign(draw=[0.0, 1.0, 2.0]), None, "draw", "allowed: integers"),
    ("unknown_key", lambda: frame(**{"rates.teleport": [1.0, 1.0, 1.0]}), None, "rates.teleport", "unknown"),
    ("unknown_section", lambda: frame(**{"magic.engage": [1.0, 1.0, 1.0]}), None, "magic.engage", "unknown"),
    ("run_section", lambda: frame(**{"run.people_per_agent": [9e3] * 3}), None, "run.people_per_agent", "'run'"),
    ("lever_position", lambda: frame(**{"levers.0.factor": [2.0] * 3}), None, "levers.0.factor",
     "names no lever of the scenarios"),
    ("calibration_key", lambda: frame(**{"calibration.people_per_agent": [2e3] * 3}), None,
     "calibration.people_per_agent", "'calibration'"),
    ("not_dotted", lambda: frame(**{"engage": [0.2] * 3}), None, "engage", "not a dotted scenario key"),
    ("a_tuple", lambda: frame(**{"types.weights": [0.2] * 3}), None, "types.weights", "not a number"),
    ("refused_value", lambda: frame(**{"rates.engage": [0.2, -1.0, 0.2]}), None, "rates.engage",
     "draw 1: -1.0 is rejected"),
    ("bad_metadata", lambda: frame(), b"{not json", "metadata kankei", "not a JSON object"),
]


@pytest.mark.parametrize(("name", "make", "meta", "column", "fragment"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_posterior_files_are_refused_naming_file_and_column(tmp_path, name, make, meta, column, fragment):
    path = raw_parquet(tmp_path / f"{name}.parquet", make(), meta)
    with pytest.raises(ScenarioError) as err:
        load_posterior(path)
    assert err.value.source == str(path) and err.value.key == column, str(err.value)
    assert fragment in str(err.value)


def test_a_file_that_is_missing_or_not_parquet_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="posterior file not found"):
        load_posterior(tmp_path / "missing.parquet")
    (tmp_path / "text.parquet").write_text("draw,weight\n0,1\n")
    with pytest.raises(ScenarioError, match="not a readable Parquet file"):
        load_posterior(tmp_path / "text.parquet")


# --- kankei compare --posterior ------------------------------------------------------------------
@pytest.mark.parametrize(("make", "column"), [
    (lambda: frame().drop(columns="weight"), "weight"),
    (lambda: frame().assign(weight=[-0.2, 0.7, 0.5]), "weight"),
    (lambda: frame(**{"rates.teleport": [1.0, 1.0, 1.0]}), "rates.teleport"),
])
def test_cli_refuses_a_bad_posterior_with_exit_2_and_writes_nothing(tmp_path, make, column):
    path = raw_parquet(tmp_path / "bad.parquet", make())
    done = kankei("compare", "scenarios/policy_cko.toml", "--baseline", str(BASELINE), "--posterior", str(path),
                  "--out", str(tmp_path / "cmp"), timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"{path}: {column}:" in done.stderr
    assert not (tmp_path / "cmp").exists()


def test_cli_refuses_draws_without_a_posterior_and_a_drawn_parameter_in_set(tmp_path):
    done = kankei("compare", "scenarios/policy_cko.toml", "--baseline", str(BASELINE), "--draws", "3", "--out",
                  str(tmp_path / "cmp"), timeout=300)
    assert done.returncode == 2 and "--draws: 3: needs --posterior FILE" in done.stderr
    post = write_posterior(tmp_path / "p.parquet", frame())
    done = kankei("compare", "scenarios/policy_cko.toml", "--baseline", str(BASELINE), "--posterior", post.path,
                  "--set", "rates.settle=0.01", "--out", str(tmp_path / "cmp"), timeout=300)
    assert done.returncode == 2 and "--set: rates.settle: is a parameter of the posterior" in done.stderr
    assert not (tmp_path / "cmp").exists() and "Traceback" not in done.stderr


def test_a_point_posterior_of_the_scenarios_own_values_gives_the_numbers_of_no_posterior(tmp_path):
    base = load_scenario(BASELINE, overrides=FAST)
    pol = load_scenario(settle_policy(tmp_path), overrides=FAST)
    assert {k: getattr(base.config.rates, k.split(".")[1]) for k in OWN} == OWN
    point = write_posterior(tmp_path / "point.parquet", pd.DataFrame({"draw": [0], "weight": [1.0],
                                                                      **{k: [v] for k, v in OWN.items()}}))
    plain = compare(base, [pol], reps=4, seed=7)
    drawn = compare(base, [pol], reps=2, seed=7, posterior=point, draws=2)    # 2 draws × 2 seeds = 4 replications
    keep = list(plain.runs.columns)
    pd.testing.assert_frame_equal(drawn.runs[keep], plain.runs)
    assert (drawn.runs["draw"] == 0).all() and (drawn.runs["rates.settle"] == OWN["rates.settle"]).all()
    pd.testing.assert_frame_equal(drawn.table[list(plain.table.columns)].drop(columns="note"),
                                  plain.table.drop(columns="note"))
    pd.testing.assert_frame_equal(drawn.cost, plain.cost)
    t = drawn.table.set_index("outcome")
    assert (t["share_parameter"].dropna() == 0).all() and (t["share_stochastic"].dropna() == 1).all()
    assert t["note"].str.contains("same parameter values").all()


def test_draws_that_matter_give_a_parameter_share_and_policy_and_baseline_share_each_draw(tmp_path):
    base = load_scenario(BASELINE, overrides=FAST)
    pol = load_scenario(settle_policy(tmp_path), overrides=FAST)
    post = write_posterior(tmp_path / "p.parquet", pd.DataFrame(
        {"draw": [0, 1], "weight": [0.5, 0.5], "rates.settle": [0.004, 0.03]}))
    result = compare(base, [pol], reps=2, seed=3, posterior=post, draws=4)
    drawn = result.posterior["drawn"]
    assert drawn == post.indices(4, draw_seed(3)).tolist() and len(set(drawn)) == 2
    runs = result.runs
    assert len(runs) == 8 and runs["seed"].nunique() == 8 and list(runs["draw_slot"]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert (runs["rates.settle"] == runs["draw"].map({0: 0.004, 1: 0.03})).all()
    # the runs table's draw is the one both runs of the replication used: rerun one pair from it
    row = runs.iloc[5]
    values = {"rates.settle": float(row["rates.settle"])}
    b = RelationModel(scenario=with_overrides(base, values), rng=int(row["seed"]))
    p = RelationModel(scenario=with_overrides(pol, values), rng=int(row["seed"]))
    b.run()
    p.run()
    mask = policy_regions(p)
    assert summarise(b, ["settlers_total"], mask)["settlers_total"] == row["baseline_settlers_total"]
    assert summarise(p, ["settlers_total"], mask)["settlers_total"] == row["settlers_total"]

    t = result.table.set_index("outcome")
    assert set(POSTERIOR_COLUMNS) <= set(t.columns)
    settlers = t.loc["settlers_total"]
    assert settlers["share_parameter"] > 0.5 and settlers["sd_parameter"] > settlers["sd_stochastic"]
    assert settlers["draws"] == 4 and settlers["seeds_per_draw"] == 2 and settlers["reps"] == 8
    shares = t[["share_parameter", "share_stochastic"]].dropna()
    assert len(shares) >= 3 and np.allclose(shares.sum(axis=1), 1.0)
    # the interval is the bootstrap of the four draws' mean differences
    from experiments.intervals import mean_interval

    g = runs.sort_values("rep")
    d = (g["settlers_total"] - g["baseline_settlers_total"]).to_numpy().reshape(4, 2).mean(axis=1)
    assert (settlers["low"], settlers["high"]) == pytest.approx(mean_interval(d))
    assert result.table.attrs["interval"].startswith("90% bootstrap interval of the mean paired difference over "
                                                    "posterior draws")


def test_kankei_compare_with_a_posterior_end_to_end(tmp_path):
    post = write_posterior(tmp_path / "p.parquet", pd.DataFrame(
        {"draw": [0, 1, 2], "weight": [0.3, 0.3, 0.4], "rates.settle": [0.004, 0.01, 0.03]}),
        {"note": "hand-made for a test"})
    out = tmp_path / "cmp"
    done = kankei("compare", str(settle_policy(tmp_path)), "--baseline", str(BASELINE), "--posterior", post.path, "--draws", "3",
                  "--seed", "5", "--quiet", "--out", str(out), "--set", "run.people_per_agent=5000",
                  "--set", "run.horizon_years=2", timeout=900)
    assert done.returncode == 0, done.stderr
    assert "3 posterior draws × 2 seeds = 6 paired replications" in done.stdout
    assert "parameter share" in done.stdout and "stochastic share" in done.stdout
    table = pd.read_csv(out / "table.csv")
    assert set(POSTERIOR_COLUMNS) <= set(table.columns) and (table["reps"] == 6).all()
    runs = pd.read_parquet(out / "runs.parquet")
    assert {"draw_slot", "draw", "rates.settle"} <= set(runs.columns) and len(runs) == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["posterior"]["sha256"] == post.sha256 and manifest["reps"] == 2
    assert manifest["posterior"]["draws"] == 3 and manifest["posterior"]["metadata"] == {"note": "hand-made for a test"}


# --- sweeps with a posterior ---------------------------------------------------------------------
def sweep_spec(tmp_path: Path, posterior: str = "") -> dict:
    return {"name": "post", "scenario": str(BASELINE), "replications": 3, "seed": 5, "horizon_years": 1,
            "set": {"run.people_per_agent": 10000}, "parameters": {"rates.visit": {"levels": [0.03, 0.08]}},
            "outputs": {"keep": ["summary"]}, **({"posterior": posterior} if posterior else {})}


def test_a_sweep_with_a_posterior_records_the_draws_and_refuses_another_posterior(tmp_path):
    post = write_posterior(tmp_path / "p.parquet", pd.DataFrame(
        {"draw": [0, 1, 2], "weight": [0.2, 0.3, 0.5], "rates.settle": [0.004, 0.01, 0.03],
         "rates.engage": [0.1, 0.2, 0.3]}))
    spec = parse_spec(sweep_spec(tmp_path, "p.parquet"), str(tmp_path / "spec.toml"))   # relative to the spec
    plan = build_plan(spec, str(tmp_path / "spec.toml"))
    out = tmp_path / "sweep"
    with open_executor("serial") as handle:
        report = run_sweep(plan, out, handle)
    assert report.complete and report.ok == 6
    summary = experiments.load_summary(out)
    drawn = post.indices(3, draw_seed(5)).tolist()
    for point, g in summary.groupby("point"):
        assert g.sort_values("rep")["draw"].tolist() == drawn          # the same draws at every point
    expected = summary["draw"].map(lambda i: post.values(i)["rates.engage"])
    assert (summary["rates.engage"] == expected).all() and {"settlers_total", "rates.settle"} <= set(summary.columns)
    runs = experiments.load_runs(out)
    assert runs["draw"].tolist() == drawn * 2 and (runs["status"] == "ok").all()
    info = experiments.store.sweep_info(out)
    assert info["posterior"]["sha256"] == post.sha256 and info["posterior"]["drawn"] == drawn
    # a run's scenario holds its draw's values
    assert plan.scenario_of(plan.runs[4]).config.rates.engage == post.values(drawn[1])["rates.engage"]

    # the same particles (rewritten with other metadata): resumes with nothing to do
    write_posterior(tmp_path / "p.parquet", post.frame, {"generation": 9})
    again = build_plan(spec, str(tmp_path / "spec.toml"))
    with open_executor("serial") as handle:
        assert run_sweep(again, out, handle, resume=True).already_done == 6
    # other particles, or none: refused before anything is written
    other = post.frame.assign(**{"rates.settle": [0.005, 0.01, 0.03]})
    write_posterior(tmp_path / "q.parquet", other)
    for plan_b in (build_plan(spec, str(tmp_path / "spec.toml"), posterior=tmp_path / "q.parquet"),
                   build_plan(parse_spec(sweep_spec(tmp_path), str(tmp_path / "spec.toml")), str(tmp_path / "spec.toml"))):
        with pytest.raises(ScenarioError, match="a resumed sweep must use the same draws"):
            SweepStore(out).check(plan_b, resume=True)


def test_sweep_cli_with_another_posterior_exits_2(tmp_path):
    write_posterior(tmp_path / "p.parquet", frame())
    write_posterior(tmp_path / "q.parquet", frame().assign(**{"rates.settle": [0.005, 0.01, 0.03]}))
    spec = tmp_path / "spec.toml"
    spec.write_text(f'name = "post"\nscenario = "{BASELINE}"\nreplications = 2\nseed = 5\nhorizon_years = 0.25\n'
                    'posterior = "p.parquet"\n[set]\n"run.people_per_agent" = 10000\n'
                    '[parameters]\n"rates.visit" = [0.03, 0.08]\n[outputs]\nkeep = ["summary"]\n')
    out = tmp_path / "sweep"
    done = kankei("sweep", str(spec), "--executor", "serial", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "replication r runs draw r at every point" in done.stderr
    before = sorted(p.name for p in out.iterdir())
    done = kankei("sweep", str(spec), "--executor", "serial", "--quiet", "--out", str(out),
                  "--posterior", str(tmp_path / "q.parquet"))
    assert done.returncode == 2 and "a resumed sweep must use the same draws" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and sorted(p.name for p in out.iterdir()) == before


def test_a_spec_posterior_that_clashes_with_the_design_is_refused(tmp_path):
    write_posterior(tmp_path / "p.parquet", frame(**{"rates.visit": [0.03, 0.05, 0.07]}))
    spec = parse_spec(sweep_spec(tmp_path, "p.parquet"), str(tmp_path / "spec.toml"))
    with pytest.raises(ScenarioError, match="parameters.rates.visit: is also a parameter of the posterior"):
        build_plan(spec, str(tmp_path / "spec.toml"))
    write_posterior(tmp_path / "p.parquet", frame())
    with pytest.raises(ScenarioError, match="--set: rates.settle: is fixed here"):
        build_plan(spec, str(tmp_path / "spec.toml"), overrides={"rates.settle": 0.01})
    with pytest.raises(ScenarioError, match="a function"):
        parse_spec({"model": "ishigami", "posterior": "p.parquet", "outputs": {"keep": ["summary"]},
                    "parameters": {"x1": {"min": 0.0, "max": 1.0}}, "design": {"kind": "lhs", "samples": 4}})
