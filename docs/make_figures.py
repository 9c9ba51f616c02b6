"""Regenerate the README's figures in docs/img/ (`uv run python docs/make_figures.py`, about a minute).

The default scenario at 1,000 adults per agent (about 105,000 agents), three replications, and a
comparison of three changes to today's policies (a doubled relocation grant, dual-residence support,
more 地域おこし協力隊 places) with the status quo on shared seeds, five paired replications.
"""

from __future__ import annotations

from pathlib import Path

from experiments import figures
from experiments.compare import compare
from experiments.runs import run_scenario
from model import load_scenario
from model.paths import status_quo_scenario

OUT = Path(__file__).resolve().parent / "img"
SCALE = {"run.people_per_agent": 1000}


def main() -> None:
    baseline = load_scenario(overrides=SCALE)
    run = run_scenario(baseline, reps=3)
    figures.finish(figures.stages_over_time(run.stages, lang="ja"), OUT / "stages_ja.png")
    per_1000 = figures.engaged_per_1000_adults(run.stages, run.population)
    figures.finish(figures.prefecture_map(per_1000, lang="en", label="関係人口 per 1,000 adults, FY2034",
                                          title="relationship population by prefecture (baseline, 2035-04)"),
                   OUT / "map_en.png")
    status_quo = load_scenario(status_quo_scenario(), overrides=SCALE)
    policies = [load_scenario(OUT.parents[1] / "scenarios" / f"{name}.toml", overrides=SCALE)
                for name in ("policy_relocation_grant", "policy_dual_residence", "programme_kyoryokutai")]
    figures.finish(figures.lever_comparison(compare(status_quo, policies, reps=5), lang="en"), OUT / "levers_en.png")


if __name__ == "__main__":
    main()
