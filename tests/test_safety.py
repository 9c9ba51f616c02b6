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


def cli(*args: str) -> subprocess.CompletedProcess:
    """`kankei ARGS` in this process (for refusals, which happen before any work: no start-up cost)."""
    import contextlib
    import io

    from experiments.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["kankei", *args], code, out.getvalue(), err.getvalue())


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
    spec = tmp_path / "spec.toml"
    spec.write_text(ISHIGAMI)
    before = snapshot(tmp_path)
    policy = str(REPO / "tests" / "scenarios" / "policy_cko.toml")
    for target in (thesis, notes, sweep):
        assert_refused(cli("run", *FAST, "--out", str(target)), "--out")
        assert_refused(cli("compare", policy, "--baseline", str(BASELINE), "--reps", "1", *FAST, "--out", str(target)),
                       "--out")
    for target in (thesis, notes):
        assert_refused(cli("sweep", str(spec), "--executor", "serial", "--out", str(target)), str(target))
    for target in (notes, thesis / "thesis.txt", thesis):      # the one file `kankei report` writes
        assert_refused(cli("report", str(sweep), "--out", str(target)), "--out")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "spec.toml", "sweep", "thesis"]  # nothing hidden


def test_results_folder_itself_is_refused(tmp_path):
    # a copy of the repository's results/ layout: a README and earlier outputs
    results = tmp_path / "results"
    (results / "baseline").mkdir(parents=True)
    (results / "README.md").write_text("# results")
    (results / "baseline" / "manifest.json").write_text(json.dumps({"kind": "run", "files": ["manifest.json"]}))
    before = snapshot(tmp_path)
    done = cli("run", *FAST, "--out", str(results))
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
    assert_refused(cli("run", *FAST, "--out", str(out)), "my_notes.md")
    assert (out / "my_notes.md").read_text() == "mine"
    (out / "my_notes.md").unlink()
    policy = str(REPO / "tests" / "scenarios" / "policy_cko.toml")
    assert_refused(cli("compare", policy, "--baseline", str(BASELINE), "--reps", "1", *FAST, "--out", str(out)),
                   "'run' folder")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_out_dot_and_mount_points_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert_refused(cli("run", *FAST, "--out", "."), "current folder")
    assert list(work.iterdir()) == []
    assert_refused(cli("run", *FAST, "--out", "/proc"), "mount point")
    assert_refused(cli("run", *FAST, "--out", "/proc/kankei-results"), "cannot write")


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
    # pandas keeps the integer columns; a recursive glob finds the results and nothing else
    df = pd.read_parquet(out)
    assert (str(df["step"].dtype), str(df["year"].dtype), str(df["region"].dtype)) == ("Int32", "Int16", "Int16")
    import duckdb

    files = duckdb.sql(f"SELECT DISTINCT filename FROM read_parquet('{out}/**/*.parquet', filename = true)").fetchall()
    assert sorted(Path(f).name for (f,) in files) == [f"run-{i:06d}.parquet" for i in range(6)]


# --- 5. garbage is refused, with its key ---------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("propensity.engage_age_centre", float("nan"), "finite number"),
    ("rates.visit", float("nan"), "finite number"),
    ("rates.visit", float("inf"), "finite number"),
    ("ties.half_life_years", float("-inf"), "finite number"),
    ("types.weights", [0, 0, 0, 0], "positive weight"),
    ("types.weights", [0.5, float("nan"), 0.2, 0.1], "finite number"),
    ("run.people_per_agent", 1e9, "leaves regions without agents"),
    ("run.horizon_years", 0.01, "shorter than one step"),
    ("capacity.housing_share_of_vacant_per_year", float("nan"), "greater than or equal to 0"),
    ("propensity.engage_age_centre", 400, "less than or equal to 120"),
    ("levers.0.regions", [99], "unknown region code 99"),
    ("levers.0.budget_yen", float("inf"), "finite number"),
])
def test_garbage_values_are_refused_with_their_key(key, value, fragment):
    from model import load_scenario

    with pytest.raises(ScenarioError) as info:
        load_scenario(REPO / "scenarios" / "policy_cko.toml", overrides={key: value})
    assert info.value.key == key or info.value.key.startswith(key + "."), str(info.value)
    assert fragment in info.value.message


def test_unlimited_capacity_is_still_allowed():
    from model import load_scenario

    sc = load_scenario(overrides={"capacity.kakawarishiro_per_1000_adults_month": float("inf")})
    assert sc.config.capacity.kakawarishiro_per_1000_adults_month == float("inf")


def test_nan_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "res"
    assert_refused(kankei("run", "--set", "propensity.engage_age_centre=nan", "--out", str(out)),
                   "propensity.engage_age_centre: Input should be a finite number")
    assert list(tmp_path.iterdir()) == []


# --- clear messages instead of tracebacks ---------------------------------------------------------
def test_bad_files_and_keys_give_one_line_and_exit_2(tmp_path):
    sjis = tmp_path / "sjis.toml"
    sjis.write_bytes('extends = "{}"\n# 関係人口のシナリオ\n'.format(BASELINE).encode("shift_jis"))
    assert_refused(cli("run", str(sjis), "--out", str(tmp_path / "a")), "sjis.toml", "line 2: not UTF-8")
    spec = tmp_path / "spec.toml"
    spec.write_bytes(ISHIGAMI.encode() + "# 感度分析\n".encode("shift_jis"))
    assert_refused(cli("sweep", str(spec), "--out", str(tmp_path / "b")), "spec.toml", "not UTF-8")
    assert_refused(cli("run", "--set", "run.seed.x=1", "--out", str(tmp_path / "c")), "run.seed.x",
                   "run.seed is a single value")
    for name, text, fragment in (("empty.csv", "", "is empty"),
                                 ("header.csv", "code,name_ja,name_en,kind,lat,lon,pop_18_19\n", "no rows"),
                                 ("nocol.csv", "code,name_ja\n1,北海道\n", "name_en: required column missing")):
        (tmp_path / name).write_text(text, encoding="utf-8")
        scenario = tmp_path / f"{name}.toml"
        scenario.write_text(f'extends = "{BASELINE}"\n[regions]\ndata = "{tmp_path / name}"\n')
        assert_refused(cli("run", str(scenario), "--out", str(tmp_path / "d")), name, fragment)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == []


def test_compare_checks_names_and_regions_before_any_run(tmp_path):
    policy = REPO / "scenarios" / "policy_cko.toml"
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "policy_cko.toml").write_text(f'extends = "{policy}"\n')
    done = cli("compare", str(policy), str(twin / "policy_cko.toml"), "--set", "run.people_per_agent=20000",
               "--out", str(tmp_path / "c"))
    assert_refused(done, "distinct names")
    ohnan = REPO / "scenarios" / "cases" / "ohnan.toml"
    done = cli("compare", str(ohnan), "--set", "run.people_per_agent=5000", "--out", str(tmp_path / "c"))
    assert_refused(done, "regions.data", "differs from the baseline")
    assert not (tmp_path / "c").exists()


def test_sensitivity_checks_the_outcome_before_running(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(ISHIGAMI.replace('kind = "lhs"\nsamples = 6', 'kind = "sobol"\nsamples = 1024'))
    done = cli("sensitivity", str(spec), "--outcome", "nope", "--out", str(tmp_path / "s"))
    assert_refused(done, "--outcome: nope", "allowed: y")
    assert not (tmp_path / "s").exists()


def test_a_bad_region_code_in_a_design_is_refused_up_front(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(f'scenario = "{REPO / "scenarios" / "policy_cko.toml"}"\n[parameters]\n'
                    '"levers.0.regions" = {{ levels = [[32], [99]] }}\n'.replace("{{", "{").replace("}}", "}"))
    assert_refused(cli("sweep", str(spec), "--out", str(tmp_path / "s")), "parameters.levers.0.regions",
                   "unknown region code 99")
    assert not (tmp_path / "s").exists()


def test_a_closed_pipe_ends_quietly_after_writing(tmp_path):
    out = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "run", *FAST, "--out", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                                   # `| head -0`: nobody reads
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert (out / "manifest.json").is_file()


def _file_size_limit(limit: int):
    import resource
    import signal

    def apply() -> None:   # runs in the child: writes beyond `limit` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_write_failure_is_one_line_exit_2_and_leaves_no_partial_file(tmp_path, command):
    out = tmp_path / "out"
    if command == "run":
        args = ["run", *FAST, "--out", str(out)]
    else:
        spec = tmp_path / "spec.toml"
        spec.write_text(ISHIGAMI)
        args = ["sweep", str(spec), "--executor", "serial", "--quiet", "--out", str(out)]
    done = subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, preexec_fn=_file_size_limit(3000))
    assert_refused(done, "cannot write", "File too large")
    if command == "run":
        assert list(tmp_path.iterdir()) == []             # no folder, no hidden temporary
    else:
        assert not list(out.rglob(".*.tmp"))


# --- also: the fingerprint covers data content; a folder in use is refused at once ---------------
def test_an_edited_data_file_is_a_different_sweep(tmp_path):
    table = tmp_path / "prefectures.csv"
    table.write_bytes((REPO / "scenarios" / "data" / "prefectures.csv").read_bytes())
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'extends = "{BASELINE}"\n[regions]\ndata = "prefectures.csv"\n')
    spec = tmp_path / "spec.toml"
    spec.write_text(f'scenario = "{scenario}"\nhorizon_years = 0.25\n[set]\n"run.people_per_agent" = 20000\n'
                    '[parameters]\n"rates.visit" = [0.04, 0.06]\n[outputs]\nkeep = ["summary"]\n')
    out = tmp_path / "sweep"
    args = ["sweep", str(spec), "--executor", "serial", "--quiet", "--out", str(out)]
    assert kankei(*args).returncode == 0
    table.write_text(table.read_text(encoding="utf-8").replace("\n", "\n# edited\n", 1), encoding="utf-8")
    assert_refused(kankei(*args), "holds a different sweep")


def test_a_folder_in_use_is_refused_before_any_worker_starts(tmp_path):
    from filelock import FileLock

    spec = tmp_path / "spec.toml"
    spec.write_text(ISHIGAMI)
    out = tmp_path / "sweep"
    assert kankei("sweep", str(spec), "--executor", "serial", "--quiet", "--out", str(out)).returncode == 0
    (out / "_sweep" / "lock.owner").write_text("pid 1 on elsewhere since then")
    with FileLock(out / "_sweep" / "lock", timeout=0):       # another sweep is writing here
        done = kankei("sweep", str(spec), "--workers", "2", "--quiet", "--out", str(out))
    assert_refused(done, "another sweep is writing to this folder (pid 1 on elsewhere")
    assert "worker process" not in done.stderr               # refused before the pool started


@pytest.mark.slow
def test_a_cold_kernel_cache_is_announced_before_the_progress_bar(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(f'scenario = "{BASELINE}"\nhorizon_years = 0.25\n[set]\n"run.people_per_agent" = 20000\n'
                    '[parameters]\n"rates.visit" = [0.04, 0.06]\n[outputs]\nkeep = ["summary"]\n')
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}    # nothing cached yet
    done = kankei("sweep", str(spec), "--executor", "serial", "--out", str(tmp_path / "s"), env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if "compiling the kernel (once" in line)
    assert lines[first + 1].startswith("kankei: kernel compiled in ")
    assert first < next(i for i, line in enumerate(lines) if "grid design" in line)     # before the runs start
    again = kankei("sweep", str(spec), "--executor", "serial", "--out", str(tmp_path / "t"), env=env)
    assert again.returncode == 0 and "compiling" not in again.stderr                  # cached now


@pytest.fixture
def full_disk(tmp_path):
    """A 40 kB tmpfs: a real full disk (needs root; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_line_exit_2_and_nothing_half_written(full_disk, tmp_path):
    done = kankei("run", *FAST, "--out", str(full_disk / "res"))
    assert_refused(done, "No space left on device", "nothing was written")
    assert list(full_disk.iterdir()) == []
    spec = tmp_path / "spec.toml"
    spec.write_text(f'scenario = "{BASELINE}"\nhorizon_years = 1\n[set]\n"run.people_per_agent" = 20000\n'
                    '[parameters]\n"rates.visit" = [0.04, 0.06, 0.08]\n[outputs]\nkeep = ["summary"]\n')
    done = kankei("sweep", str(spec), "--executor", "serial", "--quiet", "--out", str(full_disk / "sweep"))
    assert_refused(done, "No space left on device", "finished runs are kept")
    assert not [p for p in full_disk.rglob(".*")]                       # no temporary left behind
    for path in (full_disk / "sweep").glob("run-*.parquet"):             # what is there is whole
        pd.read_parquet(path)
