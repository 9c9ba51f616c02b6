"""Small real inputs for every figure, shared by the figure, report and app tests."""

from __future__ import annotations

import math
from pathlib import Path

from experiments.compare import compare
from experiments.executors import open_executor
from experiments.runs import run_scenario
from experiments.sensitivity import analyze
from experiments.spec import build_plan, parse_spec
from experiments.sweep import run_sweep
from model import load_scenario

REPO = Path(__file__).resolve().parents[1]
TINY = {"run.people_per_agent": 5000, "run.horizon_years": 2}


def tiny_run(reps: int = 2):
    """The baseline at 5,000 adults per agent over two years, `reps` replications."""
    return run_scenario(load_scenario(overrides=TINY), reps=reps)


def tiny_comparison(reps: int = 2):
    """CKO and the relocation grant, each alone, against the no-policy baseline, tiny scale."""
    policies = [load_scenario(REPO / "tests" / "scenarios" / f"{p}.toml", overrides=TINY)
                for p in ("policy_cko", "policy_relocation_grant")]
    return compare(load_scenario(overrides=TINY), policies, reps=reps)


def function_sweep(directory: Path, kind: str):
    """A Sobol sweep of the Ishigami function or a Morris sweep of the linear test function."""
    if kind == "sobol":
        raw = {"name": "ishigami", "model": "ishigami", "seed": 1, "design": {"kind": "sobol", "samples": 64},
               "parameters": {f"x{i}": {"min": -math.pi, "max": math.pi} for i in (1, 2, 3)}}
    else:
        raw = {"name": "linear", "model": "experiments.testfunctions:linear", "seed": 5,
               "design": {"kind": "morris", "samples": 6, "levels": 4},
               "parameters": {k: {"min": 0.0, "max": 1.0} for k in "abcd"}}
    raw["outputs"] = {"keep": ["summary"]}
    with open_executor("serial") as handle:
        run_sweep(build_plan(parse_spec(raw)), directory, handle)
    return analyze(directory, num_resamples=100)
