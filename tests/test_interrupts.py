"""Ctrl-C and dying workers, for real: subprocesses get SIGINT (once and twice, as a terminal under
`uv run` delivers it) and pool workers get SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import experiments
from experiments.store import read_statuses

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "scenarios" / "baseline.toml"

# 16 runs of one simulated year at 20,000 adults per agent: each takes about a second
SPEC = f"""
name = "interrupt"
scenario = "{BASELINE}"
replications = 4
seed = 5
horizon_years = 1

[set]
"run.people_per_agent" = 20000

[design]
kind = "grid"

[parameters]
"rates.visit" = {{ levels = [0.03, 0.05, 0.07, 0.09] }}

[outputs]
keep = ["summary"]
"""


def start(args: list[str], **kw) -> subprocess.Popen:
    """`kankei ARGS` in its own process group, as a terminal would run it."""
    return subprocess.Popen([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def wait_for(condition, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited early ({proc.returncode}): {err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def finished_runs(out: Path) -> int:
    return len(list(out.glob("run-*.parquet")))


def assert_group_gone(proc: subprocess.Popen, timeout: float = 10) -> None:
    """No worker of the command is left behind in its process group."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    left = subprocess.run(["ps", "-o", "pid,stat,cmd", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    raise AssertionError(f"processes left in the group:\n{left}")


def ctrl_c(proc: subprocess.Popen, times: int) -> None:
    """What Ctrl-C does: SIGINT to the whole process group, `times` times in quick succession."""
    for _ in range(times):
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)


# the same as a Morris design for `kankei sensitivity`: 8 trajectories × 2 points = 16 runs
MORRIS_SPEC = SPEC.replace("replications = 4", "replications = 1").replace(
    'kind = "grid"', 'kind = "morris"\nsamples = 8').replace(
    '"rates.visit" = { levels = [0.03, 0.05, 0.07, 0.09] }', '"rates.visit" = { min = 0.03, max = 0.09 }')


@pytest.mark.slow
@pytest.mark.parametrize(("command", "executor", "times"), [
    ("sweep", "processes", 1), ("sweep", "processes", 2), ("sweep", "dask", 2), ("sensitivity", "processes", 2)])
def test_ctrl_c_stops_a_sweep_within_seconds_and_it_resumes(tmp_path, command, executor, times):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC if command == "sweep" else MORRIS_SPEC)
    out = tmp_path / "sweep"
    args = [command, str(spec), "--out", str(out), "--executor", executor, "--workers", "2", "--quiet"]
    proc = start(args)
    wait_for(lambda: finished_runs(out) >= 2, 240, proc)
    ctrl_c(proc, times)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the sweep did not stop within 10 s of Ctrl-C")
    stopped = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert not any(word in err.lower() for word in ("traceback", "error", "warning")), err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len([line for line in lines if "interrupted" in line]) == 1, err
    assert lines[-1].startswith("kankei: interrupted") and "resume" in lines[-1], err
    assert stopped < 10
    assert_group_gone(proc)
    kept = finished_runs(out)
    assert kept >= 2
    # the same command again finishes the rest, without redoing the kept runs
    again = subprocess.run([sys.executable, "-m", "experiments.cli", command, str(spec), "--out", str(out),
                            "--executor", "serial", "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{kept} finished before" in again.stdout
    assert finished_runs(out) == 16 and set(read_statuses(out).values()) == {"ok"}
    assert len(experiments.load_summary(out)) == 16


@pytest.mark.slow
@pytest.mark.parametrize(("command", "times", "after"), [
    ("run", 1, 6.0), ("run", 2, 6.0), ("compare", 2, 6.0),   # inside the simulation (100 reps take far longer)
    ("run", 2, 1.0)])                                         # in start-up: importing numba, loading the kernel
def test_ctrl_c_stops_kankei_run_and_writes_nothing(tmp_path, command, times, after):
    out = tmp_path / "res"
    scenarios = [] if command == "run" else [str(REPO / "scenarios" / "policy_cko.toml")]  # vs the status quo
    proc = start([command, *scenarios, "--set", "run.people_per_agent=2000", "--reps", "100", "--out", str(out)])
    time.sleep(after)
    assert proc.poll() is None
    ctrl_c(proc, times)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "kankei: interrupted; nothing was written"
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


INTERRUPTED_IN_STRING_CODE = """
import sys
from experiments.interrupts import EXIT_INTERRUPTED, quiet_second_interrupt
try:
    exec("raise KeyboardInterrupt", {})   # as when Ctrl-C lands while a namedtuple or dataclass is built
except KeyboardInterrupt:
    quiet_second_interrupt()
sys.exit(EXIT_INTERRUPTED)
"""


def test_an_interrupt_caught_after_string_code_still_exits_130_under_python_m(tmp_path):
    """CPython 3.12 marks a KeyboardInterrupt that left `exec`'d source text as unhandled, and `python -m`
    then ends by SIGINT (-2) although the command caught it; `quiet_second_interrupt` clears the mark.
    (Found in CI: a Ctrl-C that landed in numba's import made `kankei run` die by SIGINT.)"""
    (tmp_path / "interrupted.py").write_text(INTERRUPTED_IN_STRING_CODE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "interrupted"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 130, done.stderr


# --- dying workers -------------------------------------------------------------------------------
KILLER = """
import os, signal, time

def model(params, seed):
    if params["x"] == 3:                      # this run kills its worker, every time
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.4)
    return {"y": 2.0 * params["x"]}
"""

KILLER_SPEC = """
name = "killer"
model = "killer_model:model"
[design]
kind = "grid"
[parameters]
x = { levels = [0, 1, 2, 3, 4, 5, 6, 7] }
[outputs]
keep = ["summary"]
"""


@pytest.mark.slow
def test_a_run_that_kills_its_worker_is_recorded_and_the_others_finish(tmp_path):
    (tmp_path / "killer_model.py").write_text(KILLER)
    spec = tmp_path / "spec.toml"
    spec.write_text(KILLER_SPEC)
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    args = [sys.executable, "-m", "experiments.cli", "sweep", str(spec), "--out", str(out), "--quiet"]
    done = subprocess.run([*args, "--workers", "2"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "BrokenProcessPool" not in done.stderr
    runs = experiments.load_runs(out).set_index("run")
    assert runs.loc[3, "status"] == "failed"
    assert "SIGKILL" in runs.loc[3, "error"] and "died 2 time(s)" in runs.loc[3, "error"]
    assert (runs.drop(index=3)["status"] == "ok").all()          # the innocent runs in flight were retried
    wide = experiments.load_summary(out).set_index("run")
    assert sorted(wide.index) == [0, 1, 2, 4, 5, 6, 7]
    assert (wide["y"] == 2.0 * wide["x"]).all()
    assert "1 failed" in done.stdout and "7 finished now" in done.stdout
    # resuming with --skip-failed runs nothing and says so (the innocent runs are not among the failed)
    skip = subprocess.run([*args, "--skip-failed", "--executor", "serial"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)
    assert skip.returncode == 1 and "7 finished before, 0 finished now, 0 failed, 1 failed before" in skip.stdout


@pytest.mark.slow
def test_a_worker_killed_from_outside_loses_no_run(tmp_path):
    import psutil

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "sweep"
    proc = start(["sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet"])
    wait_for(lambda: finished_runs(out) >= 2, 240, proc)
    workers = [p for p in psutil.Process(proc.pid).children() if "resource_tracker" not in " ".join(p.cmdline())]
    assert len(workers) == 2
    workers[0].kill()                      # an out-of-memory kill, say
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert finished_runs(out) == 16 and set(read_statuses(out).values()) == {"ok"}
    info = experiments.store.sweep_info(out)
    assert info["sessions"][-1]["worker_deaths"] == 1


# --- fork after the kernel ran (EMA Workbench's MultiprocessingEvaluator) --------------------------
FORK_SCRIPT = """
import multiprocessing as mp
from model import RelationModel
SMALL = {"run.people_per_agent": 20000, "run.horizon_years": 0.25}

def run(seed):
    m = RelationModel(rng=seed, **SMALL)
    m.run()
    return int(m.steps)

if __name__ == "__main__":
    run(1)                                        # the parallel kernel's threads start here
    with mp.get_context("fork").Pool(1) as pool:
        try:
            pool.apply(run, (2,))
            print("RAN")
        except Exception as exc:
            print(type(exc).__name__, exc)
"""


@pytest.mark.slow
def test_a_fork_after_the_kernel_ran_fails_clearly_instead_of_hanging(tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "ForkedAfterThreadsError" in done.stdout and "spawn" in done.stdout, done.stdout


def finished_generations(out: Path) -> int:
    """Generations pyABC has stored in a calibration folder's history (0 while none or no file)."""
    import sqlite3

    db = out / "abc.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM populations WHERE t >= 0").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize(("executor", "times"), [("serial", 1), ("processes", 2)])
def test_ctrl_c_stops_a_calibration_keeping_its_generations_and_it_resumes(tmp_path, executor, times):
    scenario = tmp_path / "cal.toml"
    scenario.write_text(f'extends = "{BASELINE}"\n[run]\nhorizon_years = 1\n[calibration]\npeople_per_agent = 20000\n'
                        '[calibration.priors."adoption.base_rate"]\nlow = 0.01\nhigh = 0.2\nsource = "assumption"\n')
    targets = tmp_path / "targets.csv"
    targets.write_text("target_id,quantity,population,period,value,unit,source,note,output,filters,statistic,window,"
                       "rel_sd,mapping_note\nadopting,q,p,FY2020,1300,municipalities,src,,adoption,,count,FY2020,0.05,\n")
    out = tmp_path / "cal"
    args = ["calibrate", str(scenario), "--targets", str(targets), "--out", str(out), "--population", "8",
            "--generations", "50", "--budget", "100000", "--executor", executor, "--quiet"]
    proc = start(args)
    wait_for(lambda: finished_generations(out) >= 1, 240, proc)
    ctrl_c(proc, times)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the calibration did not stop within 15 s of Ctrl-C")
    assert proc.returncode == 130, err
    assert "traceback" not in err.lower() and "error" not in err.lower(), err
    assert err.strip().splitlines()[-1].startswith("kankei: interrupted; every finished generation is kept"), err
    assert_group_gone(proc)
    kept = finished_generations(out)
    assert kept >= 1
    again = subprocess.run([sys.executable, "-m", "experiments.cli", *args[:-5], "--generations", str(kept + 1),
                            "--executor", "serial", "--resume", "--quiet"],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert finished_generations(out) == kept + 1 and (out / "posterior.parquet").is_file()
