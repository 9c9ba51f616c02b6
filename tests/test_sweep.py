"""Sweeps: specs and designs, executors (serial, a real process pool, a real Dask LocalCluster),
the resumable Parquet store (a real SIGKILL of a real subprocess), failed runs, and mesa.batch_run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import mesa
import numpy as np
import pandas as pd
import pytest

import experiments
from experiments.executors import open_executor
from experiments.spec import build_plan, design_size, load_spec, parse_spec, run_seed
from experiments.store import SweepStore, result_path, row_path
from experiments.sweep import run_sweep
from model import RelationModel, ScenarioError

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.toml"
FAST = {"run.people_per_agent": 10000}

# a small real-model sweep: 2 levels x 2 levels x 2 replications = 8 runs of one simulated year
SMALL_SPEC = f"""
name = "small"
scenario = "{BASELINE}"
replications = 2
seed = 99
horizon_years = 1

[set]
"run.people_per_agent" = 10000

[design]
kind = "grid"

[parameters]
"rates.visit" = {{ levels = [0.03, 0.08] }}
"rates.engage" = {{ levels = [0.1, 0.3] }}

[outputs]
keep = ["time_series", "yearly", "summary"]
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def kankei(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def sweep_serial(spec_path: Path, out: Path, **kw):
    plan = build_plan(load_spec(spec_path), str(spec_path))
    with open_executor("serial") as handle:
        return run_sweep(plan, out, handle, **kw), plan


# --- specs and designs ---------------------------------------------------------------------------
def function_spec(design: str) -> dict:
    raw = {"model": "ishigami", "seed": 3, "design": {"kind": design}, "outputs": {"keep": ["summary"]},
           "parameters": {f"x{i}": {"min": -3.0, "max": 3.0} for i in (1, 2, 3)}}
    return raw


@pytest.mark.parametrize(("design", "options", "reps", "expected"), [
    ("lhs", {"samples": 7}, 2, 7 * 2),
    ("sobol", {"samples": 8}, 1, 8 * (3 + 2)),                                # N·(D+2)
    ("sobol", {"samples": 16, "second_order": True}, 1, 16 * (2 * 3 + 2)),   # N·(2D+2)
    ("morris", {"samples": 4}, 3, 4 * (3 + 1) * 3),                          # r·(D+1)
])
def test_designs_produce_the_documented_number_of_runs(design, options, reps, expected):
    raw = function_spec(design)
    raw["design"].update(options)
    raw["replications"] = reps
    spec = parse_spec(raw)
    plan = build_plan(spec)
    assert len(plan.runs) == expected == design_size(spec) * reps
    assert [r.run for r in plan.runs] == list(range(expected))
    assert plan.unit.shape == (expected // reps, 3) and 0 <= plan.unit.min() and plan.unit.max() <= 1
    for r in plan.runs:
        assert all(-3.0 <= v <= 3.0 for v in r.params.values())


def test_grid_is_the_product_of_levels_and_scenarios_are_validated(tmp_path):
    spec = load_spec(write(tmp_path, SMALL_SPEC))
    plan = build_plan(spec, str(tmp_path / "spec.toml"))
    assert design_size(spec) == 4 and len(plan.runs) == 8 and plan.n_points == 4
    points = {(r.params["rates.visit"], r.params["rates.engage"]) for r in plan.runs}
    assert points == {(0.03, 0.1), (0.03, 0.3), (0.08, 0.1), (0.08, 0.3)}
    sc = plan.scenarios[3].config
    assert (sc.rates.visit, sc.rates.engage, sc.run.people_per_agent, sc.run.horizon_years) == (0.08, 0.3, 10000, 1)
    # min/max/num levels, geometric with log
    raw = {"model": "ishigami", "design": {"kind": "grid"}, "outputs": {"keep": ["summary"]},
           "parameters": {"x1": {"min": 1, "max": 100, "num": 3, "log": True}, "x2": {"levels": [0]},
                          "x3": {"min": 0, "max": 1, "num": 5}}}
    plan = build_plan(parse_spec(raw))
    assert sorted({r.params["x1"] for r in plan.runs}) == pytest.approx([1, 10, 100])
    assert len(plan.runs) == 15


def test_seeds_come_from_the_root_seed():
    raw = function_spec("lhs")
    raw["design"]["samples"] = 5
    raw["replications"] = 3
    a, b = build_plan(parse_spec(raw)), build_plan(parse_spec(raw))
    assert [(r.seed, r.params) for r in a.runs] == [(r.seed, r.params) for r in b.runs]
    # common random numbers: replication r has one seed at every point, the one `kankei run` uses
    from experiments.runs import replication_seeds

    assert {r.seed for r in a.runs if r.rep == 1} == {replication_seeds(3, 3)[1]}
    other = build_plan(parse_spec(raw), seed=4)
    assert other.runs[0].seed != a.runs[0].seed and other.runs[0].params != a.runs[0].params
    raw["design"]["seeds"] = "independent"
    ind = build_plan(parse_spec(raw))
    assert len({r.seed for r in ind.runs}) == len(ind.runs)
    assert ind.runs[4].seed == run_seed(3, 1, 1, "independent")
    # Latin hypercube: one point per stratum in every dimension
    strata = np.sort(np.floor(a.unit * 5), axis=0)
    assert (strata == np.arange(5)[:, None]).all()


@pytest.mark.parametrize(("edit", "key", "fragment"), [
    (lambda t: t.replace('kind = "grid"', 'kind = "factorial"'), "design.kind", "Input should be"),
    (lambda t: t.replace("replications = 2", "replications = 0"), "replications", "greater than or equal to 1"),
    (lambda t: "bogus = 1\n" + t, "bogus", "unknown key"),
    (lambda t: t.replace('"rates.visit" = {{ levels = [0.03, 0.08] }}'.format(), '"rates.visit" = { lvls = [1] }'),
     "parameters.rates.visit.lvls", "unknown key"),
    (lambda t: t.replace('"rates.visit"', '"rates.visitt"'), "parameters.rates.visitt", "unknown key"),
    (lambda t: t.replace("[0.03, 0.08]", "[0.03, -1.0]"), "parameters.rates.visit", "greater than or equal to 0"),
    (lambda t: t.replace('"rates.engage" = { levels = [0.1, 0.3] }', '"rates.engage" = { min = 0.1, max = 0.3 }'),
     "parameters.rates.engage", "a grid needs levels"),
    (lambda t: t.replace('kind = "grid"', 'kind = "sobol"\nsamples = 10'), "design", "power of 2"),
    (lambda t: t.replace('keep = ["time_series", "yearly", "summary"]', 'outcomes = ["nope"]'),
     "outputs.outcomes.0", "unknown outcome"),
    (lambda t: t.replace(f'scenario = "{BASELINE}"', 'scenario = "missing.toml"'), "scenario", "not found"),
    (lambda t: t.replace('"run.people_per_agent" = 10000', '"run.people_per_agent" = 0'),
     "set.run.people_per_agent", "greater than or equal to 1"),
    (lambda t: t.replace("[set]", '[set]\n"rates.visit" = 0.05'), "parameters.rates.visit", "both varied and fixed"),
    (lambda t: t.replace("seed = 99", "seed = 99\n[[oops"), "", "not valid TOML"),
])
def test_spec_errors_name_the_file_and_the_key(tmp_path, edit, key, fragment):
    path = write(tmp_path, edit(SMALL_SPEC))
    with pytest.raises(ScenarioError) as err:
        build_plan(load_spec(path), str(path))
    assert err.value.source == str(path)
    assert err.value.key == key, str(err.value)
    assert fragment in str(err.value)


def test_nested_tables_mean_dotted_names(tmp_path):
    text = SMALL_SPEC.replace('[set]\n"run.people_per_agent" = 10000', "[set.run]\npeople_per_agent = 10000")
    text = text.replace('"rates.visit" = {{ levels = [0.03, 0.08] }}'.format(), "rates.visit = { levels = [0.03, 0.08] }")
    spec = load_spec(write(tmp_path, text))
    assert set(spec.parameters) == {"rates.visit", "rates.engage"} and spec.set == {"run.people_per_agent": 10000}


def test_cli_bad_spec_or_set_exits_2_and_writes_nothing(tmp_path):
    bad = write(tmp_path, SMALL_SPEC.replace('"rates.visit"', '"rates.visitt"'), "bad.toml")
    out = tmp_path / "out"
    done = kankei("sweep", str(bad), "--out", str(out), "--executor", "serial")
    assert done.returncode == 2 and "bad.toml: parameters.rates.visitt: " in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    good = write(tmp_path, SMALL_SPEC)
    for args, fragment in ((["--set", "rates.visit=0.1"], "--set: rates.visit: rates.visit is varied"),
                           (["--set", "run.people_per_agent=-5"], "--set: run.people_per_agent"),
                           (["--scheduler", "tcp://127.0.0.1:1", "--executor", "processes"], "needs --executor dask"),
                           (["--resume"], "no sweep to resume")):
        done = kankei("sweep", str(good), "--out", str(out), *args)
        assert done.returncode == 2, (args, done.stderr)
        assert fragment in done.stderr and "Traceback" not in done.stderr
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "spec.toml"]


# --- executors give identical results -------------------------------------------------------------
@pytest.mark.slow
def test_dask_local_cluster_process_pool_and_serial_give_identical_results(tmp_path):
    from distributed import LocalCluster

    spec_path = write(tmp_path, SMALL_SPEC)
    plan = build_plan(load_spec(spec_path), str(spec_path))
    with open_executor("serial") as handle:
        run_sweep(plan, tmp_path / "serial", handle)
    with open_executor("processes", workers=2) as handle:
        report = run_sweep(plan, tmp_path / "processes", handle)
    assert report.ok == 8 and report.failed == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        with open_executor("dask", scheduler=cluster.scheduler_address) as handle:
            assert handle.workers == 2
            report = run_sweep(plan, tmp_path / "dask", handle)
    assert report.ok == 8 and report.failed == 0
    serial = experiments.load(tmp_path / "serial")
    for other in ("processes", "dask"):
        pd.testing.assert_frame_equal(experiments.load(tmp_path / other), serial)
    assert len(serial) and set(serial["output"]) == {"time_series", "yearly", "summary"}
    runs = {k: experiments.load_runs(tmp_path / k) for k in ("serial", "processes", "dask")}
    assert len(set(runs["dask"]["worker"])) == 2 and len(set(runs["processes"]["worker"])) == 2
    for k, r in runs.items():
        assert (r["status"] == "ok").all() and (r["numba_compiles"] == 0).all() | (k == "serial")


@pytest.mark.slow
def test_cli_sweep_on_a_dask_local_cluster(tmp_path):
    spec_path = write(tmp_path, SMALL_SPEC.replace("replications = 2", "replications = 1"))
    out = tmp_path / "out"
    done = kankei("sweep", str(spec_path), "--executor", "dask", "--workers", "2", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "Dask LocalCluster, 2 worker process(es)" in done.stderr
    assert "4 finished now, 0 failed" in done.stdout
    serial = tmp_path / "serial"
    sweep_serial(spec_path, serial)
    pd.testing.assert_frame_equal(experiments.load(out), experiments.load(serial))


# --- the store -----------------------------------------------------------------------------------
def test_store_layout_pandas_duckdb_and_run_table(tmp_path):
    spec_path = write(tmp_path, SMALL_SPEC)
    out = tmp_path / "out"
    report, plan = sweep_serial(spec_path, out)
    assert (report.ok, report.failed, report.already_done) == (8, 0, 0)
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert files == [f"run-{i:06d}.parquet" for i in range(8)]
    df = experiments.load(out)
    assert list(df.columns) == ["run", "point", "rep", "seed", "rates.visit", "rates.engage", "output", "step",
                                "date", "year", "region", "variable", "value"]
    assert sorted(df["run"].unique()) == list(range(8))
    # pandas and DuckDB read the folder directly
    raw = pd.read_parquet(out)
    assert len(raw) == len(df) and set(raw.columns) == set(df.columns)
    con = duckdb.connect()
    got = con.sql(f"""SELECT r.status, count(DISTINCT d.run) AS n, sum(d.value) AS v
                      FROM '{out}/*.parquet' d JOIN read_parquet('{out}/_runs/*.pq') r USING (run)
                      WHERE d.output = 'summary' AND d.variable = 'settlers_total' GROUP BY ALL""").df()
    summary = experiments.load_summary(out)
    assert got["n"].tolist() == [8] and got["status"].tolist() == ["ok"]
    assert got["v"].iloc[0] == pytest.approx(summary["settlers_total"].sum())
    # a time series holds every step and region; national summaries match the series
    ts = df[(df["output"] == "time_series") & (df["run"] == 0)]
    assert ts["step"].max() == 12 and ts["region"].nunique() == 47
    engaged_end = ts[(ts["step"] == 12) & ts["variable"].isin(["engaged", "dual"])]["value"].sum()
    assert engaged_end == pytest.approx(summary.loc[0, "final_engaged"])
    yearly = df[(df["output"] == "yearly") & (df["run"] == 0) & (df["variable"] == "flow_settle")]
    assert set(yearly["year"]) == {2020} and yearly["value"].sum() == pytest.approx(summary.loc[0, "settlers_total"])
    # the run table: parameters, seed, status, wall time, provenance
    runs = experiments.load_runs(out)
    assert len(runs) == 8 and (runs["status"] == "ok").all() and runs["error"].isna().all()
    assert (runs["wall_seconds"] > 0).all() and runs["parameter_hash"].str.len().eq(64).all()
    assert runs["seed"].tolist() == [r.seed for r in plan.runs]
    assert {"mesa", "numba", "numpy", "pyarrow"} <= set(json.loads(runs["packages"].iloc[0]))
    assert runs["code_version"].str.len().gt(0).all()
    info = json.loads((out / "_sweep" / "sweep.json").read_text())
    assert info["runs"] == 8 and info["root_seed"] == 99 and info["sessions"][-1]["ok"] == 8
    assert (out / "_sweep" / "spec.toml").read_text() == SMALL_SPEC


def test_rerun_skips_finished_runs_and_repairs(tmp_path):
    spec_path = write(tmp_path, SMALL_SPEC)
    out = tmp_path / "out"
    sweep_serial(spec_path, out)
    before = experiments.load(out)
    stamp = {i: result_path(out, i).stat().st_mtime_ns for i in range(8)}
    # a kill between the result's rename and the row's: the row comes back from the file's metadata
    row_path(out, 2).unlink()
    # a result deleted by hand runs again; a temporary file left by a kill is removed
    result_path(out, 5).unlink()
    (out / ".run-000006.parquet.123.tmp").write_bytes(b"half")
    report, _ = sweep_serial(spec_path, out)
    assert (report.already_done, report.ok, report.failed) == (7, 1, 0)
    assert {i for i in range(8) if result_path(out, i).stat().st_mtime_ns != stamp.get(i)} == {5}
    assert not list(out.glob(".*"))
    pd.testing.assert_frame_equal(experiments.load(out), before)
    assert (experiments.load_runs(out)["status"] == "ok").all()


def test_a_folder_holding_another_sweep_or_locked_is_refused(tmp_path):
    spec_path = write(tmp_path, SMALL_SPEC)
    out = tmp_path / "out"
    sweep_serial(spec_path, out)
    other = write(tmp_path, SMALL_SPEC.replace("seed = 99", "seed = 100"), "other.toml")
    with pytest.raises(ScenarioError, match="holds a different sweep"):
        sweep_serial(other, out)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(ScenarioError, match="not empty and holds no sweep"):
        sweep_serial(spec_path, tmp_path / "junk")
    plan = build_plan(load_spec(spec_path), str(spec_path))
    holder = SweepStore(out)
    holder.open(plan)
    try:
        with pytest.raises(ScenarioError, match="another sweep is writing"):
            SweepStore(out).open(plan)
    finally:
        holder.close()


KILL_SPEC = SMALL_SPEC.replace('"rates.engage" = {{ levels = [0.1, 0.3] }}'.format(),
                               '"rates.engage" = { levels = [0.1, 0.2, 0.3, 0.4] }').replace(
    "replications = 2", "replications = 3")


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_sweep(tmp_path):
    spec_path = write(tmp_path, KILL_SPEC)          # 2 x 4 points x 3 replications = 24 runs
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "experiments.cli", "sweep", str(spec_path), "--executor", "processes",
           "--workers", "2", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while len(list(out.glob("run-*.parquet"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)          # the sweep and its workers, mid-flight
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    finished = sorted(out.glob("run-*.parquet"))
    assert 3 <= len(finished) < 24
    for path in finished:                            # nothing visible is half-written
        assert pd.read_parquet(path)["run"].nunique() == 1
    resumed = kankei("sweep", str(spec_path), "--executor", "processes", "--workers", "2", "--out", str(out),
                     "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} finished before" in resumed.stdout
    reference = tmp_path / "reference"
    sweep_serial(spec_path, reference)
    pd.testing.assert_frame_equal(experiments.load(out), experiments.load(reference))
    runs = experiments.load_runs(out)
    assert runs["run"].tolist() == list(range(24)) and (runs["status"] == "ok").all()
    assert sorted(p.name for p in out.glob("run-*.parquet")) == [f"run-{i:06d}.parquet" for i in range(24)]
    assert not list(out.glob(".*")) and not list((out / "_runs").glob(".*"))
    info = json.loads((out / "_sweep" / "sweep.json").read_text())
    assert info["sessions"][-1]["already_done"] == len(finished)


# --- failures ------------------------------------------------------------------------------------
def test_a_broken_data_file_in_a_design_is_refused_before_anything_runs(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("code,name\n1,x\n")
    text = SMALL_SPEC.replace('"rates.engage" = {{ levels = [0.1, 0.3] }}'.format(),
                              f'"regions.data" = {{ levels = ["{REPO}/scenarios/data/prefectures.csv", "{broken}"] }}')
    spec_path = write(tmp_path, text)
    out = tmp_path / "out"
    done = kankei("sweep", str(spec_path), "--executor", "processes", "--workers", "2", "--out", str(out), "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "parameters" in done.stderr and "name_ja: required column missing" in done.stderr
    assert not out.exists()


FAILING_SPEC = """
model = "experiments.testfunctions:fails_when_negative"
replications = 2
[design]
kind = "grid"
[parameters]
x = { levels = [-1.0, 1.0, -2.0, 2.0] }
[outputs]
keep = ["summary"]
"""


def test_a_failing_run_is_recorded_with_its_traceback_and_the_sweep_goes_on(tmp_path):
    spec_path = write(tmp_path, FAILING_SPEC)
    out = tmp_path / "out"
    done = kankei("sweep", str(spec_path), "--executor", "processes", "--workers", "2", "--out", str(out), "--quiet")
    assert done.returncode == 1, done.stderr
    assert "8 runs planned: 0 finished before, 4 finished now, 4 failed" in done.stdout
    assert "FAILED: 4 run(s): " in done.stdout and "must not be negative" in done.stdout
    runs = experiments.load_runs(out)
    failed = runs[runs["status"] == "failed"]
    assert sorted(failed["x"].unique()) == [-2.0, -1.0] and len(failed) == 4
    for tb in failed["error"]:
        assert tb.startswith("Traceback (most recent call last)") and "fails_when_negative" in tb
        assert "ValueError: x must not be negative" in tb
    ok = runs[runs["status"] == "ok"]
    assert len(ok) == 4 and ok["error"].isna().all()
    assert sorted(experiments.load(out)["run"].unique()) == sorted(ok["run"])
    # running it again retries the failed runs (and only those); --skip-failed leaves them
    again = kankei("sweep", str(spec_path), "--executor", "serial", "--out", str(out), "--quiet")
    assert again.returncode == 1 and "4 finished before, 0 finished now, 4 failed" in again.stdout
    skip = kankei("sweep", str(spec_path), "--executor", "serial", "--out", str(out), "--quiet", "--skip-failed")
    assert skip.returncode == 1 and "4 finished before, 0 finished now, 0 failed, 4 failed before and skipped, " \
        "0 not run" in skip.stdout


def test_a_failing_function_model_run(tmp_path):
    raw = {"model": "experiments.testfunctions:fails_when_negative", "design": {"kind": "grid"},
           "outputs": {"keep": ["summary"]}, "parameters": {"x": {"levels": [-1.0, 1.0, 2.0]}}}
    plan = build_plan(parse_spec(raw))
    with open_executor("serial") as handle:
        report = run_sweep(plan, tmp_path / "out", handle)
    assert (report.ok, report.failed) == (2, 1) and report.failures[0][0] == 0
    assert "ValueError: x must not be negative" in report.failures[0][1]
    summary = experiments.load_summary(tmp_path / "out")
    assert summary["y"].tolist() == [1.0, 2.0]


# --- Mesa ----------------------------------------------------------------------------------------
def test_mesa_batch_run_with_dotted_names_matches_the_sweep(tmp_path):
    spec_path = write(tmp_path, SMALL_SPEC.replace("replications = 2", "replications = 1"))
    out = tmp_path / "out"
    _, plan = sweep_serial(spec_path, out)
    seed = plan.runs[0].seed
    rows = mesa.batch_run(RelationModel, parameters={"rates.visit": [0.03, 0.08], "rates.engage": [0.1, 0.3],
                                                      "run.people_per_agent": 10000, "run.horizon_years": 1},
                          rng=[seed], number_processes=1, data_collection_period=-1, display_progress=False)
    df = pd.DataFrame(rows)
    assert len(df) == 4
    assert {"RunId", "iteration", "Step", "rates.visit", "rates.engage", "engaged", "dual", "settled",
            "adults"} <= set(df.columns)
    assert (df["Step"] == 12).all()
    summary = experiments.load_summary(out).set_index(["rates.visit", "rates.engage"])
    for _, row in df.iterrows():
        expected = summary.loc[(row["rates.visit"], row["rates.engage"]), "final_engaged"]
        assert row["engaged"] + row["dual"] == pytest.approx(expected)
    # a time series per run with data_collection_period=1
    rows = mesa.batch_run(RelationModel, parameters={"rates.visit": 0.05, **FAST, "run.horizon_years": 0.5},
                          rng=[1, 2], number_processes=1, data_collection_period=1, display_progress=False)
    series = pd.DataFrame(rows)
    assert sorted(series["Step"].unique()) == list(range(7)) and sorted(series["iteration"].unique()) == [0, 1]


def test_help_explains_sweep_and_sensitivity():
    done = kankei("sweep", "--help")
    assert done.returncode == 0
    for word in ("--executor", "--workers", "--scheduler", "--set", "--out", "--resume", "run-000000.parquet",
                 "experiments.load(DIR)", "DuckDB"):
        assert word in done.stdout, word
    sens = kankei("sensitivity", "--help")
    assert sens.returncode == 0 and "--outcome" in sens.stdout and "indices.png" in sens.stdout
