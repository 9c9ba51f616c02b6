"""Kankei as a user installs it: a wheel in a fresh environment, and a command line that starts light."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after running `code`."""
    probe = f"import sys\n{code}\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return eval(out.stdout.strip())  # a printed list of names


def test_help_and_the_schema_load_neither_numba_nor_pyarrow():
    # not even pydantic: what the command line imports before `main` runs is outside its Ctrl-C handler
    heavy = ("numba", "pyarrow", "pandas", "mesa", "model.kernel", "matplotlib", "pydantic", "numpy")
    assert loaded("import experiments.cli; experiments.cli.build_parser().format_help()", heavy) == []
    assert loaded("import model.parameters; model.parameters.load_scenario()", ("numba", "model.kernel")) == []
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "kankei" in done.stdout and "sweep" in done.stdout


@pytest.mark.slow
def test_an_installed_wheel_runs_the_built_in_scenario(tmp_path):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build the wheel")  # .ci/run installs it
    wheels = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "-o", str(wheels)], cwd=REPO, check=True, capture_output=True,
                   timeout=300)
    wheel = next(wheels.glob("kankei-*.whl"))
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True, env=env,
                   timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "--python", str(python), str(wheel)], check=True, capture_output=True,
                   env=env, timeout=900)
    kankei = venv / "bin" / "kankei"
    work = tmp_path / "elsewhere"
    work.mkdir()
    helped = subprocess.run([str(kankei), "--help"], cwd=work, capture_output=True, text=True, env=env, timeout=120)
    assert helped.returncode == 0 and "COMMAND" in helped.stdout
    done = subprocess.run([str(kankei), "run", "--quiet", "--set", "run.people_per_agent=20000",
                           "--set", "run.horizon_years=1"], cwd=work, capture_output=True, text=True, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = work / "results" / "baseline"
    assert (out / "manifest.json").is_file() and (out / "stages.parquet").is_file()
    located = subprocess.run([str(python), "-c", "import model.paths as p; print(p.default_scenario())"],
                             cwd=work, capture_output=True, text=True, env=env, check=True)
    assert "site-packages" in located.stdout and located.stdout.strip().endswith("_scenarios/baseline.toml")
    # the default baseline of kankei compare ships too, and loads with what it extends
    status_quo = subprocess.run([str(python), "-c", "import model.paths as p; from model import load_scenario; "
                                 "s = load_scenario(p.status_quo_scenario()); print(s.source, len(s.config.levers))"],
                                cwd=work, capture_output=True, text=True, env=env, check=True)
    assert "_scenarios/status_quo.toml" in status_quo.stdout and int(status_quo.stdout.split()[-1]) > 5
