"""The `kankei` command end to end, as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
FAST = ["--set", "run.people_per_agent=5000", "--set", "run.horizon_years=2", "--quiet"]


def kankei(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def test_help_explains_itself():
    top = kankei("--help")
    assert top.returncode == 0 and "関係人口" in top.stdout and "run" in top.stdout
    run = kankei("run", "--help")
    assert run.returncode == 0
    for word in ("--reps", "--seed", "--set", "--out", "stages.parquet", "manifest.json"):
        assert word in run.stdout


@pytest.mark.slow
def test_run_writes_tables_chart_and_manifest(tmp_path):
    out = tmp_path / "res"
    done = kankei("run", *FAST, "--reps", "2", "--seed", "5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "関係人口 (engaged)" in done.stdout and "settle" in done.stdout
    files = {p.name for p in out.iterdir()}
    assert {"stages.parquet", "population.parquet", "flows.parquet", "visit_days.parquet", "summary.csv",
            "settlers_per_year.csv", "stages.png", "manifest.json"} <= files
    stages = pd.read_parquet(out / "stages.parquet")
    assert list(stages.columns) == ["rep", "seed", "step", "date", "region", "stage", "type", "people"]
    assert sorted(stages["rep"].unique()) == [0, 1] and stages["step"].max() == 24
    info = json.loads((out / "manifest.json").read_text())
    assert info["reps"] == 2 and len(info["seeds"]) == 2 and len(info["parameter_hash"]) == 64
    assert info["parameters"]["run"]["people_per_agent"] == 5000
    assert {"mesa", "numba", "numpy"} <= set(info["packages"]) and info["wall_seconds"] > 0
    assert (out / "stages.png").stat().st_size > 10_000
    # the same command again gives the same numbers (and replaces the folder cleanly)
    again = kankei("run", *FAST, "--reps", "2", "--seed", "5", "--out", str(out))
    assert again.returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "stages.parquet"), stages)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


@pytest.mark.parametrize(("args", "fragment"), [
    (["--set", "run.bogus=1"], "run.bogus: unknown key"),
    (["--set", "run.people_per_agent=0"], "run.people_per_agent"),
    (["--set", "noequals"], "expected KEY=VALUE"),
    (["missing.toml"], "scenario file not found"),
    (["--reps", "0"], "must be at least 1"),
    (["--seed", "-3"], "must be ≥ 0"),
])
def test_bad_input_exits_2_writes_nothing_no_traceback(tmp_path, args, fragment):
    out = tmp_path / "res"
    done = kankei("run", *args, "--out", str(out))
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_scenario_file_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nhorizon_years = -1\n")
    done = kankei("run", str(bad), "--out", str(tmp_path / "res"))
    assert done.returncode == 2 and "bad.toml: run.horizon_years" in done.stderr
    assert not (tmp_path / "res").exists()
