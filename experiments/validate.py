"""Validation against the targets (目標との照合): observed figures beside the model's median and 90 %
predictive interval over replications, and whether each figure lies inside.

    kankei validate scenarios/data/calibration_targets.csv --scenario scenarios/status_quo.toml --reps 10
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.runs import replication_seeds
from experiments.targets import RunFrames, TargetTable, observe
from model import KankeiScenario, RelationModel
from model.parameters import with_overrides

TABLE_COLUMNS = ["target_id", "quantity", "period", "use", "observed", "median", "low", "high", "inside", "z",
                 "unit", "how"]


def simulate(scenario: KankeiScenario, targets: TargetTable, reps: int, seed: int | None = None,
             parameter_sets: list[dict[str, float]] | None = None,
             progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Every target's model value in `reps` replications (long: rep, seed, target_id, observed, model, how).

    With `parameter_sets` (e.g. posterior draws), replication r runs with set r (as dotted overrides),
    recorded in one column per parameter.
    """
    if parameter_sets is not None and len(parameter_sets) != reps:
        raise ValueError(f"{len(parameter_sets)} parameter sets for {reps} replications")
    root = scenario.config.run.seed if seed is None else seed
    parts = []
    for rep, s in enumerate(replication_seeds(root, reps)):
        sc = with_overrides(scenario, parameter_sets[rep]) if parameter_sets is not None else scenario
        model = RelationModel(scenario=sc, rng=s)
        while model.running and model.steps < model.n_steps:
            model.step()
            if progress is not None:
                progress(1)
        frame = observe(RunFrames.of(model), targets)
        for key, value in (parameter_sets[rep] if parameter_sets is not None else {}).items():
            frame[key] = value
        frame.insert(0, "seed", s)
        frame.insert(0, "rep", rep)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def fit_table(targets: TargetTable, sims: pd.DataFrame) -> pd.DataFrame:
    """One row per target: observed, median and 5 %–95 % of the replications, inside (None if the model
    cannot say), z = (median − observed) / (rel_sd × |observed|), and how the model measured it (or why not)."""
    rows = []
    for t in targets.targets:
        values = sims.loc[sims["target_id"] == t.target_id, "model"].to_numpy(dtype=float)
        ok = values[np.isfinite(values)]
        how = sims.loc[sims["target_id"] == t.target_id, "how"].iloc[0]
        if ok.size:
            low, median, high = np.quantile(ok, [0.05, 0.5, 0.95])
            inside: bool | None = bool(low <= t.observed <= high)
        else:
            low = median = high = np.nan
            inside = None
        rows.append({"target_id": t.target_id, "quantity": t.row["quantity"], "period": t.row["period"],
                     "use": t.use, "observed": t.observed, "median": median, "low": low, "high": high, "inside": inside,
                     "z": (median - t.observed) / t.sd if t.mapped else np.nan,
                     "unit": t.row["unit"], "how": how})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def plot_fit(table: pd.DataFrame, path: Path, title: str) -> None:
    """Each comparable target's 90 % interval and median relative to its observed value (1 = observed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = table[table["inside"].notna()].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(shown) + 1.4))
    y = np.arange(len(shown))[::-1]
    obs = shown["observed"].to_numpy(dtype=float)
    colours = np.where(shown["inside"].astype(bool), "#2a7f3f", "#b03a2e")
    ax.hlines(y, shown["low"] / obs, shown["high"] / obs, color=colours, lw=3)
    ax.plot(shown["median"] / obs, y, "o", color="black", ms=4)
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.set_yticks(y, shown["target_id"], fontsize=7)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("model ÷ observed (median and 90 % interval; green: observed inside)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
