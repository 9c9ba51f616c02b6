"""Sensitivity analysis (感度分析): Morris screening and Sobol indices of run-level outcomes, with SALib.

`analyze(directory)` reads a finished Sobol (Saltelli) or Morris sweep and returns a tidy table:
outcome, parameter, index, estimate, conf (the half-width of the bootstrap confidence interval at
`conf_level`). Sobol gives first-order ``S1`` and total ``ST`` indices (and ``S2`` with
``design.second_order``); Morris gives ``mu_star`` (mean absolute elementary effect, with its
interval), ``mu`` and ``sigma``. Replications of a design point are averaged first.

Parameters are sampled in unit coordinates and then mapped onto their ranges, so Morris effects are
"change of the outcome when the parameter moves across its whole range" and comparable across
parameters, and log-uniform ranges are handled as such.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from model.parameters import ScenarioError
from experiments.spec import salib_problem
from experiments.store import DESIGN_FILE, load_runs, load_summary, parameter_columns, sweep_info

SENSITIVITY_DIR = "_sensitivity"
SOBOL_INDICES = ("S1", "ST")
MORRIS_INDICES = ("mu_star", "sigma", "mu")


def point_means(directory: str | Path, outcomes: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Outcomes averaged over replications, one row per design point (all points must have a run)."""
    directory = Path(directory)
    info = sweep_info(directory)
    if info["design"] not in ("sobol", "morris"):
        raise ScenarioError(info.get("spec_file", directory), "design.kind",
                            f"sensitivity needs a sobol or morris design, this sweep is {info['design']!r}")
    wide = load_summary(directory)
    missing = sorted(set(range(info["points"])) - set(wide["point"]))
    if missing:
        runs = load_runs(directory)
        n_failed = int((runs["status"] == "failed").sum())
        raise ScenarioError(directory, "", f"{len(missing)} of {info['points']} design points have no finished run "
                            f"({n_failed} failed runs, {int((runs['status'] == 'pending').sum())} pending); "
                            "the indices need every point. Finish the sweep (run it again to resume) or fix "
                            "the failures (experiments.load_runs(DIR) has their tracebacks)")
    available = [c for c in wide.columns if c not in ("run", "point", "rep", "seed", *parameter_columns(info))]
    preferred = (info.get("spec", {}).get("outputs", {}) or {}).get("outcomes") or []
    chosen = outcomes or [o for o in preferred if o in available] or available
    for name in chosen:
        if name not in available:
            raise ScenarioError("--outcome", name, f"not an outcome of this sweep; available: {', '.join(available)}")
    means = wide.groupby("point")[chosen].mean().sort_index()
    return means, info


def analyze(directory: str | Path, outcomes: list[str] | None = None, num_resamples: int = 1000,
            conf_level: float = 0.95, seed: int | None = None) -> pd.DataFrame:
    """Sobol or Morris indices of the chosen outcomes of a finished sweep, as a tidy table."""
    directory = Path(directory)
    means, info = point_means(directory, outcomes)
    names = list(info["parameters"])
    problem = salib_problem(names)
    spec = info["spec"]
    seed = int(info["root_seed"] if seed is None else seed) % (2 ** 32)
    rows = []
    unit = None
    if info["design"] == "morris":
        design = pq.read_table(directory / DESIGN_FILE).to_pandas()
        unit = design.drop_duplicates("point").sort_values("point")[[f"unit.{n}" for n in names]].to_numpy()
    for outcome in means.columns:
        y = means[outcome].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            raise ScenarioError("--outcome", outcome, "has missing or infinite values in some runs")
        if info["design"] == "sobol":
            rows += _sobol(problem, y, outcome, bool(spec["design"]["second_order"]), num_resamples, conf_level, seed)
        else:
            rows += _morris(problem, unit, y, outcome, int(spec["design"]["levels"]), num_resamples, conf_level, seed)
    return pd.DataFrame(rows, columns=["outcome", "parameter", "index", "estimate", "conf"])


def sobol_indices(problem: dict, y: np.ndarray, second_order: bool = False, num_resamples: int = 1000,
                  conf_level: float = 0.95, seed: int | None = None) -> dict:
    """SALib's Sobol analysis of outputs `y` of a Saltelli sample (in sample order)."""
    from SALib.analyze import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return sobol.analyze(problem, np.asarray(y, dtype=float), calc_second_order=second_order,
                             num_resamples=num_resamples, conf_level=conf_level, seed=seed)


def _sobol(problem, y, outcome, second_order, num_resamples, conf_level, seed) -> list[tuple]:
    names = problem["names"]
    if np.ptp(y) == 0:
        return [(outcome, n, i, np.nan, np.nan) for n in names for i in SOBOL_INDICES]
    res = sobol_indices(problem, y, second_order, num_resamples, conf_level, seed)
    rows = [(outcome, n, i, float(res[i][j]), float(res[f"{i}_conf"][j]))
            for i in SOBOL_INDICES for j, n in enumerate(names)]
    if second_order:
        for j, a in enumerate(names):
            for k in range(j + 1, len(names)):
                rows.append((outcome, f"{a} × {names[k]}", "S2", float(res["S2"][j, k]), float(res["S2_conf"][j, k])))
    return rows


def _morris(problem, unit, y, outcome, levels, num_resamples, conf_level, seed) -> list[tuple]:
    from SALib.analyze import morris

    names = problem["names"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = morris.analyze(problem, unit, y, num_resamples=num_resamples, conf_level=conf_level,
                             num_levels=levels, seed=seed)
    rows = []
    for j, n in enumerate(names):
        rows.append((outcome, n, "mu_star", float(res["mu_star"][j]), float(res["mu_star_conf"][j])))
        rows.append((outcome, n, "sigma", float(res["sigma"][j]), np.nan))
        rows.append((outcome, n, "mu", float(res["mu"][j]), np.nan))
    return rows


def format_table(indices: pd.DataFrame) -> str:
    """The indices as text: one block per outcome, one row per parameter, `estimate ± conf`."""
    blocks = []
    for outcome, sub in indices.groupby("outcome", sort=False):
        cell = sub.apply(lambda r: f"{r.estimate:.3g}" + ("" if np.isnan(r.conf) else f" ± {r.conf:.2g}"), axis=1)
        table = sub.assign(cell=cell).pivot(index="parameter", columns="index", values="cell")
        order = [i for i in (*SOBOL_INDICES, "S2", *MORRIS_INDICES) if i in table.columns]
        params = list(dict.fromkeys(sub["parameter"]))
        table = table.loc[params, order].fillna("")
        blocks.append(f"{outcome}\n{table.to_string()}")
    return "\n\n".join(blocks)


def plot_indices(indices: pd.DataFrame, path: str | Path | None = None, title: str = ""):
    """Bar chart per outcome: S1 and ST (Sobol) or μ* and σ (Morris), with confidence intervals."""
    import matplotlib.pyplot as plt

    from experiments.outcomes import OUTCOMES
    from experiments.plots import finish  # also registers the Japanese fonts

    outcomes = list(dict.fromkeys(indices["outcome"]))
    fig, axes = plt.subplots(len(outcomes), 1, figsize=(8, 2.2 + 0.45 * indices["parameter"].nunique()
                                                        * len(outcomes)), squeeze=False)
    for ax, outcome in zip(axes[:, 0], outcomes):
        sub = indices[(indices["outcome"] == outcome) & (indices["index"] != "S2")]
        shown = [i for i in ("S1", "ST", "mu_star", "sigma") if i in set(sub["index"])]
        params = list(dict.fromkeys(sub["parameter"]))
        y = np.arange(len(params))
        height = 0.8 / len(shown)
        for k, idx in enumerate(shown):
            part = sub[sub["index"] == idx].set_index("parameter").loc[params]
            err = part["conf"].to_numpy(dtype=float)
            ax.barh(y + k * height, part["estimate"], height=height,
                    xerr=None if np.isnan(err).all() else np.where(np.isnan(err), 0, err),
                    label={"mu_star": "μ*", "sigma": "σ"}.get(idx, idx), capsize=3)
        ax.set_yticks(y + height * (len(shown) - 1) / 2, params)
        ax.invert_yaxis()
        label = OUTCOMES[outcome].ja if outcome in OUTCOMES else ""
        ax.set_title(f"{outcome}（{label}）" if label else outcome, fontsize=10)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    return finish(fig, path, title)


def write_report(directory: str | Path, indices: pd.DataFrame) -> Path:
    """Write `_sensitivity/indices.csv`, `indices.json` and `indices.png` into the sweep folder."""
    from experiments.store import atomic_write

    out = Path(directory) / SENSITIVITY_DIR
    out.mkdir(exist_ok=True)
    atomic_write(out / "indices.csv", indices.to_csv(index=False).encode())
    atomic_write(out / "indices.json", json.dumps(indices.to_dict(orient="records"), indent=1).encode())
    info = sweep_info(directory)
    tmp = out / ".indices.png.tmp.png"
    plot_indices(indices, tmp, title=f"{info['name']}: {info['design']} ({info['runs']} runs)")
    tmp.replace(out / "indices.png")
    return out
