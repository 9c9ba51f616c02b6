"""Calibration by simulation-based inference (シミュレーションに基づく推定): pyABC's ABC-SMC fits a
scenario's free parameters (`[calibration.priors]`, `model.priors`) to a targets file.

Each simulation runs the scenario at `calibration.people_per_agent` (1,000 by default, a scale the
scale test shows to be unbiased in expectation) up to the last target's window, with the parameters
pyABC proposes and a model seed drawn from pyABC's random stream. The distance is the root of the sum
of squared standardised errors, (model − observed) / (rel_sd × |observed|), over the targets the run
can measure (`experiments.targets`); a target the run cannot read (NaN) adds `MISSING_PENALTY`.

Reproducible and resumable: the history database (`abc.db`) keeps every finished generation. The
random stream is seeded at the start of each generation from the root seed and the generation, so
a calibration stopped (Ctrl-C) and resumed with `--resume` ends where an uninterrupted one does on
the serial executor (on a cluster the order in which particles come back varies).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.targets import RunFrames, TargetTable, read
from model import KankeiScenario
from model.levers.effects import lever_name
from model.parameters import read_scenario, scenario_from_raw
from model.priors import Prior
from model.relation_model import step_dates

DB_NAME = "abc.db"
MISSING_PENALTY = 100.0        # standardised error of a target a run cannot read
SEED_STRIDE = 1_000_003


def import_pyabc():
    """pyABC, imported without its side effect on this process's environment: on import it sets
    OMP_NUM_THREADS=1 (and two KMP variables), which would cap the Numba kernel's OpenMP threads here
    and in every process started afterwards (a worker, a `kankei` subprocess)."""
    import os

    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK")}
    import pyabc

    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return pyabc


@dataclass(frozen=True)
class FreeParameter:
    """A prior in pyABC's space: uniform in the value, or in log10 of it."""

    key: str
    prior: Prior

    @property
    def bounds(self) -> tuple[float, float]:
        lo, hi = self.prior.low, self.prior.high
        return (math.log10(lo), math.log10(hi)) if self.prior.scale == "log" else (lo, hi)

    def value(self, x: float) -> float:
        """The scenario value of pyABC's coordinate `x`."""
        return float(10.0 ** x) if self.prior.scale == "log" else float(x)


def free_parameters(scenario: KankeiScenario) -> list[FreeParameter]:
    """The scenario's free parameters, in the order they are written."""
    return [FreeParameter(k, p) for k, p in scenario.config.calibration.priors.items()]


def run_horizon(scenario: KankeiScenario, targets: TargetTable) -> float:
    """Years from the scenario's start to the end of the last fitted target's window it can reach."""
    run = scenario.config.run
    dates = step_dates(run.start, run.n_steps, run.steps_per_year)
    inside = targets.measurable(dates)
    if not inside:
        raise ValueError(f"{targets.path}: no fitted target lies inside the run ({dates[0]:%Y-%m} → {dates[-1]:%Y-%m})")
    end = max(t.window.end() for t in inside)
    steps = int(np.searchsorted(dates, end))
    return min(run.horizon_years, math.ceil(steps / run.steps_per_year * 12) / 12)


@dataclass
class Simulator:
    """One calibration simulation: parameters in, the measurable targets' model values out.

    Picklable, so that a Dask worker can run it: it holds the scenario file as read, not a model.
    """

    raw: dict[str, Any]
    source: str
    parameters: list[FreeParameter]
    targets: TargetTable
    people_per_agent: float
    horizon_years: float
    on_done: Callable[[], None] | None = field(default=None, repr=False)

    def overrides(self, coords: dict[str, float]) -> dict[str, Any]:
        ov: dict[str, Any] = {p.key: p.value(coords[p.key]) for p in self.parameters}
        ov.update({"run.people_per_agent": self.people_per_agent, "run.horizon_years": self.horizon_years})
        return ov

    def __call__(self, coords: dict[str, float]) -> dict[str, float]:
        from model import RelationModel

        seed = int(np.random.randint(0, 2**31 - 1))
        scenario = scenario_from_raw(self.raw, self.source, self.overrides(coords))
        model = RelationModel(scenario=scenario, rng=seed).run()
        frames = RunFrames.of(model)
        stats = {t.target_id: read(frames, t).value for t in self.targets.measurable(frames.dates)}
        if self.on_done is not None:
            self.on_done()
        return stats


@dataclass(frozen=True)
class Distance:
    """Root sum of squared standardised errors; NaN (the run cannot say) costs `MISSING_PENALTY`²."""

    sd: dict[str, float]

    def __call__(self, x: dict[str, float], x0: dict[str, float]) -> float:
        total = 0.0
        for key, sd in self.sd.items():
            sim = x.get(key, math.nan)
            z = (sim - x0[key]) / sd if math.isfinite(sim) else MISSING_PENALTY
            total += z * z
        return math.sqrt(total)


@dataclass(frozen=True)
class Settings:
    """How a calibration runs (the CLI's options)."""

    budget: int = 2000                 # stop after the generation in which the simulations reach this
    population: int = 100              # particles per generation
    generations: int = 20              # at most
    min_acceptance: float = 0.02       # stop when a generation accepts fewer
    prior_share: float = 0.2           # share of proposals drawn from the prior (`experiments.proposal`)
    seed: int = 1
    executor: str = "processes"        # serial, processes (a local Dask cluster) or dask
    workers: int = 2
    scheduler: str | None = None


@dataclass
class Calibration:
    """What a calibration produced (also written to its folder)."""

    posterior: pd.DataFrame            # draw, weight, one column per parameter (scenario values)
    fit: pd.DataFrame                  # target_id, observed, median, low, high, inside, z
    generations: pd.DataFrame          # t, epsilon, samples, particles, acceptance, ess, wall_seconds
    parameters: list[FreeParameter]
    simulations: int


def _prior(parameters: list[FreeParameter]):
    pyabc = import_pyabc()

    return pyabc.Distribution(**{p.key: pyabc.RV("uniform", p.bounds[0], p.bounds[1] - p.bounds[0])
                                 for p in parameters})


def _proposal(parameters: list[FreeParameter], prior_share: float):
    from experiments.proposal import DefensiveTransition

    return DefensiveTransition([p.key for p in parameters], [p.bounds[0] for p in parameters],
                               [p.bounds[1] for p in parameters], prior_share)


@contextmanager
def sampler(settings: Settings) -> Iterator[Any]:
    """pyABC's sampler for the chosen executor (a local Dask cluster for "processes")."""
    pyabc = import_pyabc()

    if settings.executor == "serial":
        yield pyabc.sampler.SingleCoreSampler()
        return
    from experiments.executors import dask_client

    workers = None if settings.scheduler else settings.workers
    with dask_client(workers, settings.scheduler if settings.executor == "dask" else None) as (client, _):
        yield pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)


def measurable_targets(scenario: KankeiScenario, targets: TargetTable, horizon_years: float) -> tuple:
    """The fitted targets a run of `horizon_years` can measure."""
    run = scenario.config.run
    dates = step_dates(run.start, int(round(horizon_years * run.steps_per_year)), run.steps_per_year)
    return targets.measurable(dates)


def generation_seed(root: int, t: int) -> int:
    """The random stream's seed at the start of generation `t` (t = −1: the prior calibration sample)."""
    return (root * SEED_STRIDE + t + 2) % (2**32)


def calibrate(scenario: KankeiScenario, targets: TargetTable, folder: Path, settings: Settings,
              resume: bool = False, progress: Callable[[int, int], None] | None = None) -> Calibration:
    """Run (or resume) ABC-SMC; the history database lives in `folder` / abc.db.

    `progress(simulations, budget)` is called after each generation (and after each simulation on the
    serial executor).
    """
    pyabc = import_pyabc()

    parameters = free_parameters(scenario)
    if not parameters:
        raise ValueError(f"{scenario.source}: no free parameters; add [calibration.priors.\"KEY\"] tables")
    horizon = run_horizon(scenario, targets)
    inside = measurable_targets(scenario, targets, horizon)
    raw = read_scenario(Path(scenario.source))
    done = [0]
    sim = Simulator(raw, scenario.source, parameters, targets, scenario.config.calibration.people_per_agent, horizon)
    if settings.executor == "serial" and progress is not None:
        def tick() -> None:
            done[0] += 1
            progress(done[0], settings.budget)
        sim.on_done = tick
    distance = Distance({t.target_id: t.sd for t in inside})
    x0 = {t.target_id: t.observed for t in inside}
    db = f"sqlite:///{(folder / DB_NAME).resolve()}"
    with sampler(settings) as smp:
        abc = pyabc.ABCSMC(sim, _prior(parameters), distance, population_size=settings.population, sampler=smp,
                           transitions=_proposal(parameters, settings.prior_share))
        if resume and (folder / DB_NAME).exists():
            abc.load(db, 1)
        else:
            abc.new(db, x0)
        done[0] = abc.history.total_nr_simulations
        t0 = abc.history.max_t + 1
        np.random.seed(generation_seed(settings.seed, t0 - 1))
        t = abc.initialize_components_before_run(
            minimum_epsilon=0.0, max_nr_populations=max(settings.generations - t0, 1),
            min_acceptance_rate=settings.min_acceptance, max_total_nr_simulations=settings.budget,
            max_walltime=None, min_eps_diff=0.0)
        while t < settings.generations and abc.history.total_nr_simulations < settings.budget:
            np.random.seed(generation_seed(settings.seed, t))
            ret = abc.run_generation(t=t)
            done[0] = abc.history.total_nr_simulations
            if progress is not None:
                progress(done[0], settings.budget)
            if not ret["successful"] or abc.check_terminate(t=t, acceptance_rate=ret["acceptance_rate"]):
                break
            t += 1
        history = abc.history
    return summarise(history, parameters, inside)


def summarise(history, parameters: list[FreeParameter], inside) -> Calibration:
    """Posterior draws, fit table and generation log from a pyABC history."""
    coords, weights = history.get_distribution()
    posterior = pd.DataFrame({"draw": np.arange(len(coords)), "weight": np.asarray(weights, dtype=float)})
    for p in parameters:
        posterior[p.key] = [p.value(x) for x in coords[p.key].to_numpy()]
    posterior["weight"] /= posterior["weight"].sum()
    w, stats = history.get_weighted_sum_stats()
    w = np.asarray(w, dtype=float) / np.sum(w)
    rows = []
    for t in inside:
        values = np.array([s.get(t.target_id, np.nan) for s in stats], dtype=float)
        ok = np.isfinite(values)
        lo, med, hi = weighted_quantiles(values[ok], w[ok], (0.05, 0.5, 0.95)) if ok.any() else (np.nan,) * 3
        rows.append({"target_id": t.target_id, "observed": t.observed, "median": med, "low": lo, "high": hi,
                     "inside": bool(lo <= t.observed <= hi) if ok.any() else False,
                     "z": (med - t.observed) / t.sd})
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0]
    gens = pd.DataFrame({"t": pops["t"].astype(int).to_numpy(), "epsilon": pops["epsilon"].to_numpy(),
                         "samples": pops["samples"].astype(int).to_numpy(),
                         "particles": pops["particles"].astype(int).to_numpy()})
    gens["acceptance"] = gens["particles"] / gens["samples"]
    gens["ess"] = [effective_sample_size(history.get_distribution(t=int(t))[1]) for t in gens["t"]]
    return Calibration(posterior, pd.DataFrame(rows), gens, parameters, int(history.total_nr_simulations))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles of a weighted sample (the inverse of its weighted empirical distribution)."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w) / w.sum()
    return tuple(float(v[min(np.searchsorted(cum, q), len(v) - 1)]) for q in qs)


def effective_sample_size(weights: np.ndarray) -> float:
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w ** 2).sum())


# --- the calibration folder ----------------------------------------------------------------------
OUTPUT_FILES = ("posterior.parquet", "fit.csv", "generations.csv", "calibrated.toml", "marginals.png",
                "pairs.png", "calibrate.log")


def calibrated_scenario(scenario: KankeiScenario, cal: Calibration, folder: Path) -> str:
    """A scenario file extending `scenario` with each free parameter at its posterior median (a lever's
    effect size in a `[[levers]]` entry of the lever's name, which changes that lever of `scenario`)."""
    import tomli_w

    w = cal.posterior["weight"].to_numpy()
    raw: dict[str, Any] = {"extends": str(Path(scenario.source).resolve().relative_to(folder.resolve(), walk_up=True))}
    lines = []
    levers: dict[str, dict[str, Any]] = {}     # lever name → its changed effect sizes (merged by name)
    for p in cal.parameters:
        (median,) = weighted_quantiles(cal.posterior[p.key].to_numpy(), w, (0.5,))
        name = lever_name(p.key)
        parts = p.key.split(".")
        node = raw if name is None else levers.setdefault(name, {"name": name})
        for part in parts[2 if name is not None else 0:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = float(f"{median:.6g}")
        lines.append(f"# {p.key}: posterior median {median:.6g} (prior {p.prior.low:g}–{p.prior.high:g}, "
                     f"{p.prior.scale}; {p.prior.source})")
    if levers:
        raw["levers"] = list(levers.values())
    head = [f"# Calibrated by kankei calibrate: {cal.simulations} simulations, {len(cal.generations)} generations.",
            *lines, ""]
    return "\n".join(head) + tomli_w.dumps(raw)


def plot_posterior(cal: Calibration, marginals: Path, pairs: Path) -> None:
    """Weighted histograms of each parameter over its prior range, and pairwise scatter plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    keys = [p.key for p in cal.parameters]
    w = cal.posterior["weight"].to_numpy()
    n = len(keys)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, p in zip(axes.ravel(), cal.parameters):
        values = cal.posterior[p.key].to_numpy()
        bins = (np.geomspace(p.prior.low, p.prior.high, 25) if p.prior.scale == "log"
                else np.linspace(p.prior.low, p.prior.high, 25))
        ax.hist(values, bins=bins, weights=w, color="#3b6ea8")
        if p.prior.scale == "log":
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())   # the minor labels of a short log range overlap
        ax.set_xlim(p.prior.low, p.prior.high)
        ax.set_title(p.key, fontsize=9)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle("Posterior marginals (x axis: the prior range)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))   # room for the title
    fig.savefig(marginals, dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(n, n, figsize=(2.4 * n, 2.4 * n), squeeze=False)
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            ax = axes[i, j]
            if i == j:
                ax.hist(cal.posterior[a], bins=20, weights=w, color="#3b6ea8")
            else:
                ax.scatter(cal.posterior[b], cal.posterior[a], s=6 + 300 * w, alpha=0.5, color="#3b6ea8")
            if i == n - 1:
                ax.set_xlabel(b, fontsize=7)
            if j == 0:
                ax.set_ylabel(a, fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(pairs, dpi=110)
    plt.close(fig)


def write_calibration(cal: Calibration, scenario: KankeiScenario, folder: Path, log_lines: list[str]) -> None:
    """Write the posterior, fit table, generation log, calibrated scenario and figures, each file at once."""
    from experiments.posterior import write_posterior
    from experiments.store import atomic_write

    meta = {"scenario": scenario.source, "simulations": cal.simulations, "generation": int(cal.generations["t"].max())}
    write_posterior(folder / "posterior.parquet", cal.posterior, meta, scenario)
    atomic_write(folder / "fit.csv", cal.fit.to_csv(index=False).encode())
    atomic_write(folder / "generations.csv", cal.generations.to_csv(index=False).encode())
    atomic_write(folder / "calibrated.toml", calibrated_scenario(scenario, cal, folder).encode())
    tmp_m, tmp_p = folder / ".marginals.tmp.png", folder / ".pairs.tmp.png"
    plot_posterior(cal, tmp_m, tmp_p)
    tmp_m.replace(folder / "marginals.png")
    tmp_p.replace(folder / "pairs.png")
    atomic_write(folder / "calibrate.log", "\n".join(log_lines).encode())
