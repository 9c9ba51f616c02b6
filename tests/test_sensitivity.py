"""Sensitivity analysis: Sobol on the Ishigami function (known indices) and Morris on a linear
function (exact elementary effects), through the same designs, runner, store and analysis as the
model; then Morris on the model itself, from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.executors import open_executor
from experiments.sensitivity import analyze, sobol_indices
from experiments.spec import build_plan, design_points, parse_spec, salib_problem
from experiments.sweep import run_sweep
from experiments.testfunctions import LINEAR_COEFFICIENTS, ishigami, ishigami_indices
from model import ScenarioError

REPO = Path(__file__).resolve().parents[1]
PI = float(np.pi)


def ishigami_spec(n: int) -> dict:
    return {"name": "ishigami", "model": "ishigami", "seed": 1,
            "design": {"kind": "sobol", "samples": n},
            "parameters": {f"x{i}": {"min": -PI, "max": PI} for i in (1, 2, 3)},
            "outputs": {"keep": ["summary"]}}


def kankei(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


def test_exact_ishigami_indices():
    exact = ishigami_indices()
    assert exact["S1"]["x1"] == pytest.approx(0.3139, abs=1e-4)
    assert exact["S1"]["x2"] == pytest.approx(0.4424, abs=1e-4)
    assert exact["ST"]["x1"] == pytest.approx(0.5576, abs=1e-4)
    assert exact["ST"]["x3"] == pytest.approx(0.2437, abs=1e-4)


def test_sobol_design_and_analysis_recover_the_ishigami_indices():
    """The spec's Saltelli design, mapped onto the ranges, and the analysis: tight at N = 4096."""
    spec = parse_spec(ishigami_spec(4096))
    points, unit = design_points(spec, 1)
    assert len(points) == 4096 * 5
    y = np.array([ishigami(p)["y"] for p in points])
    res = sobol_indices(salib_problem(list(spec.parameters)), y, num_resamples=200, seed=1)
    exact = ishigami_indices()
    for j, name in enumerate(spec.parameters):
        assert res["S1"][j] == pytest.approx(exact["S1"][name], abs=0.03), name
        assert res["ST"][j] == pytest.approx(exact["ST"][name], abs=0.03), name


@pytest.mark.slow
def test_kankei_sensitivity_on_ishigami_end_to_end(tmp_path):
    """Spec file → `kankei sensitivity` → runs in the store → indices, table, CSV and chart."""
    spec = tmp_path / "ishigami.toml"
    text = (REPO / "experiments" / "specs" / "ishigami.toml").read_text().replace("samples = 1024", "samples = 512")
    spec.write_text(text)
    out = tmp_path / "out"
    done = kankei("sensitivity", str(spec), "--executor", "serial", "--out", str(out), "--quiet", "--resamples", "300")
    assert done.returncode == 0, done.stderr
    assert "2560 runs planned" in done.stdout and "S1" in done.stdout and "ST" in done.stdout
    indices = pd.read_csv(out / "_sensitivity" / "indices.csv")
    exact = ishigami_indices()
    for _, row in indices.iterrows():
        assert row["estimate"] == pytest.approx(exact[row["index"]][row["parameter"]], abs=0.07), row.to_dict()
        assert 0 < row["conf"] < 0.15
    assert (out / "_sensitivity" / "indices.png").stat().st_size > 5_000
    assert len(json.loads((out / "_sensitivity" / "indices.json").read_text())) == 6
    # again: every run is already there, the same indices come out
    again = kankei("sensitivity", str(spec), "--executor", "serial", "--out", str(out), "--quiet", "--resamples", "300")
    assert again.returncode == 0 and "2560 finished before, 0 finished now" in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / "_sensitivity" / "indices.csv"), indices)


def test_morris_on_a_linear_function_gives_exact_effects(tmp_path):
    ranges = {"a": (0.0, 1.0), "b": (-1.0, 3.0), "c": (10.0, 12.0), "d": (0.0, 5.0)}
    raw = {"model": "experiments.testfunctions:linear", "seed": 5, "replications": 2,
           "design": {"kind": "morris", "samples": 6, "levels": 4},
           "parameters": {k: {"min": lo, "max": hi} for k, (lo, hi) in ranges.items()},
           "outputs": {"keep": ["summary"]}}
    plan = build_plan(parse_spec(raw))
    assert len(plan.runs) == 6 * (4 + 1) * 2
    with open_executor("serial") as handle:
        report = run_sweep(plan, tmp_path / "out", handle)
    assert report.ok == len(plan.runs)
    table = analyze(tmp_path / "out", num_resamples=100).set_index(["parameter", "index"])["estimate"]
    for name, (lo, hi) in ranges.items():
        effect = LINEAR_COEFFICIENTS[name] * (hi - lo)      # the outcome's change across the whole range
        assert table[(name, "mu_star")] == pytest.approx(effect)
        assert table[(name, "mu")] == pytest.approx(effect)
        assert table[(name, "sigma")] == pytest.approx(0.0, abs=1e-9)


def test_sensitivity_needs_every_point_and_a_sobol_or_morris_design(tmp_path):
    raw = ishigami_spec(8)
    raw["model"] = "experiments.testfunctions:fails_when_negative"
    raw["parameters"] = {"x": {"min": -1.0, "max": 1.0}, "z": {"min": 0.0, "max": 1.0}}
    with open_executor("serial") as handle:
        report = run_sweep(build_plan(parse_spec(raw)), tmp_path / "out", handle)
    assert report.failed > 0
    with pytest.raises(ScenarioError, match="design points have no finished run"):
        analyze(tmp_path / "out")
    grid = tmp_path / "grid.toml"
    grid.write_text('model = "ishigami"\n[design]\nkind = "grid"\n[parameters]\nx1 = [0.0]\nx2 = [0.0]\nx3 = [1.0, 2.0]\n'
                    '[outputs]\nkeep = ["summary"]\n')
    done = kankei("sensitivity", str(grid), "--executor", "serial", "--out", str(tmp_path / "g"))
    assert done.returncode == 2 and "grid.toml: design.kind: sensitivity needs a sobol or morris design" in done.stderr
    assert not (tmp_path / "g").exists()


def test_kankei_sensitivity_morris_on_the_model(tmp_path):
    spec = tmp_path / "morris.toml"
    text = (REPO / "experiments" / "specs" / "morris.toml").read_text()
    text = text.replace("samples = 10", "samples = 2").replace("horizon_years = 10", "horizon_years = 1")
    spec.write_text(text)
    out = tmp_path / "out"
    done = kankei("sensitivity", str(spec), "--executor", "serial", "--out", str(out), "--quiet",
                  "--outcome", "final_engaged", "--outcome", "settlers_total")
    assert done.returncode == 0, done.stderr
    assert "14 runs planned" in done.stdout and "mu_star" in done.stdout
    indices = pd.read_csv(out / "_sensitivity" / "indices.csv")
    assert set(indices["outcome"]) == {"final_engaged", "settlers_total"}
    assert set(indices["index"]) == {"mu_star", "mu", "sigma"} and indices["parameter"].nunique() == 6
    assert indices["estimate"].notna().all()
    # the first-visit and engagement rates move the 関係人口 stock; a choice that does nothing does not
    fe = indices[(indices["outcome"] == "final_engaged") & (indices["index"] == "mu_star")].set_index("parameter")
    assert fe.loc["rates.engage", "estimate"] > 0 and fe.loc["rates.visit", "estimate"] > 0
    bad = kankei("sensitivity", str(spec), "--executor", "serial", "--out", str(out), "--outcome", "nope")
    assert bad.returncode == 2 and "--outcome: nope: not an outcome the spec keeps" in bad.stderr
