"""Nothing lost, nothing silent: output folders Kankei did not write survive every command, damaged
sweep files are found and re-run, garbage values are refused with their key, and every user
mistake gets one line and exit status 2 instead of a traceback. Real files, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import experiments
from model import ScenarioError
from experiments.store import result_path, row_path

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.toml"
FAST = ["--set", "run.people_per_agent=20000", "--set", "run.horizon_years=1", "--quiet"]


def kankei(*args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_refused(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("kankei: error: "), done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. --out never deletes, moves or overwrites what Kankei did not write ---------------------------
def test_run_and_compare_refuse_folders_and_files_they_did_not_write(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("四年間の成果")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    sweep = tmp_path / "sweep"
    (sweep / "_sweep").mkdir(parents=True)
    (sweep / "_sweep" / "sweep.json").write_text("{}")
    before = snapshot(tmp_path)
    policy = str(REPO / "scenarios" / "policy_cko.toml")
    for target in (thesis, notes, sweep):
        assert_refused(kankei("run", *FAST, "--out", str(target)), "--out")
        assert_refused(kankei("compare", str(BASELINE), policy, "--reps", "1", *FAST, "--out", str(target)), "--out")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sweep", "thesis"]   # nothing hidden added


def test_results_folder_itself_is_refused(tmp_path):
    # a copy of the repository's results/ layout: a README and earlier outputs
    results = tmp_path / "results"
    (results / "baseline").mkdir(parents=True)
    (results / "README.md").write_text("# results")
    (results / "baseline" / "manifest.json").write_text(json.dumps({"kind": "run", "files": ["manifest.json"]}))
    before = snapshot(tmp_path)
    done = kankei("run", *FAST, "--out", str(results))
    assert_refused(done, "did not write")
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_a_kankei_folder_is_replaced_but_not_one_with_foreign_files_or_of_another_kind(tmp_path):
    out = tmp_path / "res"
    first = kankei("run", *FAST, "--out", str(out))
    assert first.returncode == 0, first.stderr
    info = json.loads((out / "manifest.json").read_text())
    assert info["kind"] == "run" and set(info["files"]) == {p.name for p in out.iterdir()}
    again = kankei("run", *FAST, "--seed", "3", "--out", str(out))          # its own folder: replaced
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "manifest.json").read_text())["seeds"] != info["seeds"]
    (out / "my_notes.md").write_text("mine")
    assert_refused(kankei("run", *FAST, "--out", str(out)), "my_notes.md")
    assert (out / "my_notes.md").read_text() == "mine"
    (out / "my_notes.md").unlink()
    policy = str(REPO / "scenarios" / "policy_cko.toml")
    assert_refused(kankei("compare", str(BASELINE), policy, "--reps", "1", *FAST, "--out", str(out)), "'run' folder")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_out_dot_and_mount_points_are_refused(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert_refused(kankei("run", *FAST, "--out", ".", cwd=work), "current folder")
    assert list(work.iterdir()) == []
    assert_refused(kankei("run", *FAST, "--out", "/proc"), "mount point")
    assert_refused(kankei("run", *FAST, "--out", "/proc/kankei-results"), "cannot write")


# --- 4. a damaged result file is found, set aside and run again; readers name it ------------------
ISHIGAMI = """
name = "ishigami-small"
model = "ishigami"
seed = 3
[design]
kind = "lhs"
samples = 6
[parameters]
x1 = { min = -3.14, max = 3.14 }
x2 = { min = -3.14, max = 3.14 }
x3 = { min = -3.14, max = 3.14 }
[outputs]
keep = ["summary"]
"""


def test_truncated_run_files_are_rerun_on_resume_and_readers_name_them(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(ISHIGAMI)
    out = tmp_path / "sweep"
    args = ["sweep", str(spec), "--out", str(out), "--executor", "serial", "--quiet"]
    assert kankei(*args).returncode == 0
    reference = experiments.load_summary(out)
    for run in (1, 4):                                   # truncate two finished files
        path = result_path(out, run)
        path.write_bytes(path.read_bytes()[:200])
    row_path(out, 4).unlink()                            # and lose one's run-table row too
    with pytest.raises(ScenarioError, match="run-00000[14].parquet: damaged"):
        experiments.load(out)
    done = kankei(*args)
    assert done.returncode == 0, done.stderr
    assert "2 finished run file(s) were damaged" in done.stdout and "run(s) 1, 4" in done.stdout
    assert "4 finished before, 2 finished now" in done.stdout
    pd.testing.assert_frame_equal(experiments.load_summary(out), reference)
    assert len(list((out / "_sweep" / "damaged").iterdir())) == 2          # kept aside, not deleted
    assert len(pd.read_parquet(out)) == len(experiments.load(out))
    runs = experiments.load_runs(out)
    assert (runs["file_bytes"] > 0).all() and runs["file_sha256"].str.len().eq(64).all()
    # a flipped byte that keeps the size is caught by the checksum
    path = result_path(out, 2)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    again = kankei(*args)
    assert again.returncode == 0 and "run(s) 2;" in again.stdout, again.stdout
    pd.testing.assert_frame_equal(experiments.load_summary(out), reference)
