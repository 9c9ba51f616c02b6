"""Running a scenario (シナリオの実行): replications, tidy outputs, atomic writing of a results folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.atomic import atomic_folder
from experiments.plots import plot_stages
from experiments.provenance import manifest
from experiments.spec import run_seed
from model import KankeiScenario, RelationModel
from model.relation_model import fiscal_years
from model.stages import Flow, Stage


def replication_seeds(root: int, reps: int) -> list[int]:
    """Seeds of replications 0..reps-1, spawned from one root seed (the sweeps' common-random-number
    seeds, `experiments.spec.run_seed`)."""
    return [run_seed(root, 0, r, "common") for r in range(reps)]


@dataclass
class RunOutputs:
    """Tidy frames of one or more replications, each with `rep` and `seed` columns."""

    stages: pd.DataFrame
    population: pd.DataFrame
    flows: pd.DataFrame
    visit_days: pd.DataFrame
    kpis: pd.DataFrame
    spending: pd.DataFrame
    seeds: list[int]
    wall_seconds: float

    def summary(self) -> pd.DataFrame:
        """People by stage at the start and the end (mean over reps), national."""
        national = self.stages.groupby(["rep", "step", "stage"], observed=True)["people"].sum()
        national = national.groupby(["step", "stage"], observed=True).mean().unstack("stage")
        first, last = national.index.min(), national.index.max()
        out = national.loc[[first, last]].T
        out.columns = ["start", "end"]
        out["change"] = out["end"] - out["start"]
        out.index = [f"{Stage[s].ja} ({s.lower()})" for s in out.index]
        return out

    def settlers_per_year(self) -> pd.DataFrame:
        """Settlers (定住: moves up the ladder) and leavers per fiscal year, national, mean over reps."""
        f = self.flows[self.flows["flow"].isin([Flow.SETTLE.name, Flow.LEAVE.name])].copy()
        # a step's flows happen during the step that starts one step earlier
        f["fiscal_year"] = fiscal_years(f["date"] - pd.DateOffset(days=1))
        table = f.groupby(["rep", "fiscal_year", "flow"], observed=True)["people"].sum()
        table = table.groupby(["fiscal_year", "flow"], observed=True).mean().unstack("flow")
        return table.rename(columns=str.lower)


def run_scenario(scenario: KankeiScenario, reps: int = 1, seed: int | None = None,
                 progress: Callable[[int], None] | None = None) -> RunOutputs:
    """Run `reps` replications of a scenario to its horizon and collect their tidy outputs."""
    root = scenario.config.run.seed if seed is None else seed
    seeds = replication_seeds(root, reps)
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in
                                            ("stages", "population", "flows", "visit_days", "kpis", "spending")}
    start = time.perf_counter()
    for rep, s in enumerate(seeds):
        model = RelationModel(scenario=scenario, rng=s)
        while model.running and model.steps < model.n_steps:
            model.step()
            if progress is not None:
                progress(1)
        for name, frame in (("stages", model.results()), ("population", model.population()),
                            ("flows", model.flows()), ("visit_days", model.visit_days()), ("kpis", model.kpis()),
                            ("spending", model.spending())):
            frame.insert(0, "seed", s)
            frame.insert(0, "rep", rep)
            parts[name].append(frame)
    wall = time.perf_counter() - start
    return RunOutputs(**{k: pd.concat(v, ignore_index=True) for k, v in parts.items()}, seeds=seeds, wall_seconds=wall)


def write_outputs(out: RunOutputs, scenario: KankeiScenario, directory: Path) -> Path:
    """Write Parquet tables, the manifest and the chart into `directory`, all or nothing."""
    with atomic_folder(directory, kind="run") as tmp:
        for name in ("stages", "population", "flows", "visit_days", "kpis", "spending"):
            getattr(out, name).to_parquet(tmp / f"{name}.parquet", index=False)
        out.summary().to_csv(tmp / "summary.csv")
        out.settlers_per_year().to_csv(tmp / "settlers_per_year.csv")
        plot_stages(out.stages, tmp / "stages.png", title=f"{scenario.name}: people by stage")
        info = manifest(scenario.config, scenario.source, out.seeds, out.wall_seconds,
                        {"reps": len(out.seeds), "files": sorted(p.name for p in tmp.iterdir()) + ["manifest.json"]})
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    return Path(directory)
