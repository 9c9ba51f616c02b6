"""Experiment specs (実験仕様): the TOML schema, designs, seeds and the plan of runs they determine.

A spec names a scenario, the parameters to vary (any scenario key by its dotted name, e.g.
``rates.visit`` or ``levers.0.factor``), a design (full grid, Latin hypercube, Sobol/Saltelli,
Morris), replications, a root seed, the horizon and the outputs to keep, and optionally a
posterior file (`experiments.posterior`): replication r of every design point then runs parameter
draw r, the same draws at every point. `load_spec(path)` validates it; `build_plan(spec)` turns it
into the list of runs, each with its seed and its fully validated scenario. A spec, its root seed,
the `--set` overrides and the posterior's particles determine every run exactly.

Errors are `ScenarioError`s naming the spec file and the key, like scenario errors
(the `kankei` CLI turns them into exit status 2). docs/experiments.md documents every key.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from model.parameters import DEFAULT_SCENARIO, ScenarioError, load_toml, read_scenario, scenario_from_raw

DESIGNS = ("grid", "lhs", "sobol", "morris")
OUTPUT_KINDS = ("time_series", "yearly", "summary")
RANGE_KEYS = {"levels", "min", "max", "num", "log", "integer"}
# spawn keys reserved for the design's own sampling (SALib / LHS), apart from the run seeds
_DESIGN_SPAWN_KEY = (0x4B414E4B, 0x5E1)
RESERVED_NAMES = {"run", "point", "rep", "seed", "output", "step", "date", "year", "region", "variable", "value",
                  "status", "wall_seconds", "started", "worker", "code_version", "parameter_hash", "packages",
                  "numba_compiles", "error", "draw"}
FUNCTION_ALIASES = {"ishigami": "experiments.testfunctions:ishigami"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ParameterRange(_Strict):
    """How one parameter varies: explicit `levels`, or a range `min`..`max`.

    Grid designs use `levels`, or `num` evenly spaced levels from `min` to `max` (geometric with
    `log = true`). Latin hypercube, Sobol and Morris designs sample the range `min`..`max`
    uniformly (log-uniformly with `log = true`); `integer = true` rounds the values.
    """

    levels: list[Any] | None = Field(None, min_length=1, description="explicit values (grid designs)")
    min: float | None = Field(None, description="lower end of the range")
    max: float | None = Field(None, description="upper end of the range")
    num: int | None = Field(None, ge=1, description="grid: number of evenly spaced levels from min to max")
    log: bool = Field(False, description="space levels / sample geometrically (log-uniform); needs min > 0")
    integer: bool = Field(False, description="round values to whole numbers (for integer parameters)")

    @model_validator(mode="after")
    def _consistent(self) -> "ParameterRange":
        if self.levels is not None:
            if self.min is not None or self.max is not None or self.num is not None:
                raise ValueError("give either levels or min/max, not both")
            return self
        if self.min is None or self.max is None:
            raise ValueError("give levels = [...] or both min and max")
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.max <= self.min:
            raise ValueError(f"max must be greater than min (got min={self.min}, max={self.max})")
        if self.log and self.min <= 0:
            raise ValueError(f"log = true needs min > 0 (got min={self.min})")
        return self

    def grid_levels(self) -> list[Any]:
        """The values a grid design uses."""
        if self.levels is not None:
            return list(self.levels)
        if self.num is None:
            raise ValueError("a grid needs levels = [...] or min, max and num")
        if self.log:
            values = np.geomspace(self.min, self.max, self.num)
        else:
            values = np.linspace(self.min, self.max, self.num)
        return [int(round(v)) if self.integer else float(v) for v in values]

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of the unit interval onto the range (uniform or log-uniform)."""
        if self.log:
            lo, hi = math.log(self.min), math.log(self.max)
            values = np.exp(lo + u * (hi - lo))
        else:
            values = self.min + u * (self.max - self.min)
        return np.round(values) if self.integer else values


class DesignSettings(_Strict):
    """The design: which points of the parameter space are run."""

    kind: Literal["grid", "lhs", "sobol", "morris"] = Field("grid", description="grid | lhs | sobol | morris")
    samples: int | None = Field(None, ge=1, description="lhs: points; sobol: base sample N (power of 2); "
                                                          "morris: trajectories r")
    second_order: bool = Field(False, description="sobol: also second-order indices (N·(2D+2) points)")
    levels: int = Field(4, ge=2, description="morris: levels p of the grid the trajectories move on")
    seeds: Literal["common", "independent"] = Field(
        "common", description="common: replication r uses the same seed at every point (common random "
                              "numbers); independent: every run its own seed")

    @model_validator(mode="after")
    def _samples(self) -> "DesignSettings":
        if self.kind != "grid" and self.samples is None:
            raise ValueError(f"design {self.kind!r} needs samples "
                             "(lhs: points, sobol: base sample N, morris: trajectories)")
        if self.kind == "grid" and self.samples is not None:
            raise ValueError("a grid design takes no samples: its size is the product of the levels")
        if self.kind == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"sobol samples (N) must be a power of 2, e.g. 64, 128, 256 (got {self.samples})")
        return self


class OutputSettings(_Strict):
    """Which outputs each run keeps."""

    keep: list[Literal["time_series", "yearly", "summary"]] = Field(
        ["yearly", "summary"], min_length=1,
        description="time_series (per step), yearly (per fiscal year), summary (run-level outcomes)")
    by_region: bool = Field(True, description="time series and yearly rows per region (false: national totals)")
    outcomes: list[str] | None = Field(None, description="run-level outcomes to keep (default: all)")


class ExperimentSpec(_Strict):
    """The validated content of an experiment spec file."""

    name: str = Field("", description="name of the sweep (default: the spec file's stem)")
    description: str = Field("", description="free text")
    model: str = Field("kankei", description="'kankei' (RelationModel), 'ishigami' or 'package.module:function'")
    scenario: str = Field("", description="scenario TOML, relative to the spec file (default: the baseline)")
    replications: int = Field(1, ge=1, description="runs per design point")
    seed: int | None = Field(None, ge=0, description="root seed (default: the scenario's run.seed)")
    horizon_years: float | None = Field(None, gt=0, le=100, description="shortcut for set.run.horizon_years")
    set: dict[str, Any] = Field(default_factory=dict, description="scenario overrides for every run (dotted)")
    design: DesignSettings = DesignSettings()
    parameters: dict[str, ParameterRange] = Field(..., min_length=1, description="parameters to vary")
    outputs: OutputSettings = OutputSettings()
    posterior: str = Field("", description="posterior file (Parquet), relative to the spec file: replication r "
                                           "of every design point runs draw r (default: none)")

    @property
    def is_kankei(self) -> bool:
        return self.model == "kankei"


# --- loading -------------------------------------------------------------------------------------
def _flatten(table: dict[str, Any], is_leaf: Callable[[Any], bool], prefix: str = "") -> dict[str, Any]:
    """Nested TOML tables to dotted keys: `[set] run.seed = 1` and `"run.seed" = 1` mean the same."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not is_leaf(value):
            out.update(_flatten(value, is_leaf, name + "."))
        else:
            out[name] = value
    return out


def _is_range(value: Any) -> bool:
    """A parameter's range table (it has range keys, or holds no further tables: a misspelt range)."""
    return isinstance(value, dict) and (bool(set(value) & RANGE_KEYS)
                                        or not any(isinstance(v, dict) for v in value.values()))


def _explain(source: str, exc: ValidationError) -> ScenarioError:
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"])
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        holder: Any = ExperimentSpec
        for part in error["loc"][:-1]:
            fld = getattr(holder, "model_fields", {}).get(part)
            ann = getattr(fld, "annotation", None) if fld is not None else None
            holder = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else ParameterRange
        msg = f"unknown key; allowed here: {', '.join(holder.model_fields)}"
    elif error["type"] == "missing":
        msg = "required key is missing"
    more = len(exc.errors()) - 1
    return ScenarioError(source, key, msg + (f" (and {more} more problem(s))" if more else ""))


def parse_spec(raw: dict[str, Any], source: str = "<spec>") -> ExperimentSpec:
    """Validate a raw spec dict (as read from TOML); the first problem becomes a ScenarioError."""
    raw = dict(raw)
    if isinstance(raw.get("parameters"), dict):
        flat = _flatten(raw["parameters"], _is_range)
        # shorthand, as in mesa.batch_run: "rates.visit" = [0.03, 0.05] means levels = [0.03, 0.05]
        raw["parameters"] = {k: {"levels": v} if isinstance(v, list) else v for k, v in flat.items()}
    if isinstance(raw.get("set"), dict):
        raw["set"] = _flatten(raw["set"], lambda v: False)
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        raise _explain(source, exc) from None
    _check(spec, source)
    return spec


def _check(spec: ExperimentSpec, source: str) -> None:
    kind = spec.design.kind
    for name, rng in spec.parameters.items():
        key = f"parameters.{name}"
        if name in RESERVED_NAMES or name.startswith("unit."):
            raise ScenarioError(source, key, f"{name!r} is a column of the results; rename the parameter")
        if kind == "grid":
            if rng.levels is None and rng.num is None:
                raise ScenarioError(source, key, "a grid needs levels = [...] or min, max and num")
        elif rng.levels is not None:
            raise ScenarioError(source, key, f"a {kind} design samples ranges: give min and max, not levels")
        elif rng.num is not None:
            raise ScenarioError(source, key, f"num is for grid designs; a {kind} design samples min..max")
        if name in spec.set:
            raise ScenarioError(source, key, f"{name} is both varied and fixed in [set]; keep one")
        if name == "run.horizon_years" and spec.horizon_years is not None:
            raise ScenarioError(source, key, "run.horizon_years is varied; remove horizon_years")
    if spec.horizon_years is not None and "run.horizon_years" in spec.set:
        raise ScenarioError(source, "horizon_years", "given twice: as horizon_years and set.run.horizon_years")
    if spec.is_kankei:
        from experiments.outcomes import OUTCOMES

        for i, name in enumerate(spec.outputs.outcomes or []):
            if name not in OUTCOMES:
                raise ScenarioError(source, f"outputs.outcomes.{i}",
                                    f"unknown outcome {name!r}; allowed: {', '.join(OUTCOMES)}")
    else:
        if spec.scenario:
            raise ScenarioError(source, "scenario", f"model {spec.model!r} is a function: it takes no scenario")
        if spec.posterior:
            raise ScenarioError(source, "posterior", f"model {spec.model!r} is a function: a posterior holds "
                                "scenario parameters, which it does not take")
        if spec.set or spec.horizon_years is not None:
            raise ScenarioError(source, "set", f"model {spec.model!r} is a function: it takes no scenario overrides")
        if set(spec.outputs.keep) - {"summary"}:
            raise ScenarioError(source, "outputs.keep", f"model {spec.model!r} is a function: only "
                                "'summary' (its returned outcomes) can be kept")
        resolve_function(spec.model, source)


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment spec file."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(path, "", "experiment spec file not found")
    return parse_spec(load_toml(path), str(path))


def resolve_function(model: str, source: str = "<spec>") -> Callable[..., dict[str, float]]:
    """The callable of a function model: 'ishigami' or 'package.module:function'."""
    target = FUNCTION_ALIASES.get(model, model)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ScenarioError(source, "model", f"expected 'kankei', 'ishigami' or 'package.module:function', got {model!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ScenarioError(source, "model", f"cannot import {target!r}: {exc}") from None
    if not callable(fn):
        raise ScenarioError(source, "model", f"{target!r} is not callable")
    return fn


# --- designs -------------------------------------------------------------------------------------
def design_seed(root: int) -> int:
    """Seed of the design's own sampling (LHS, Sobol scrambling, Morris), from the root seed."""
    return int(np.random.SeedSequence(root, spawn_key=_DESIGN_SPAWN_KEY).generate_state(1, dtype=np.uint32)[0])


def salib_problem(names: list[str]) -> dict[str, Any]:
    """The SALib problem of the parameters `names` in unit coordinates (parameters are mapped onto
    their ranges afterwards): the same for sampling a design and for analysing it."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def design_size(spec: ExperimentSpec) -> int:
    """Number of design points (runs = points × replications).

    grid: Π levels; lhs: samples; sobol: N·(D+2), or N·(2D+2) with second_order; morris: r·(D+1).
    """
    d = spec.design
    dim = len(spec.parameters)
    if d.kind == "grid":
        return math.prod(len(r.grid_levels()) for r in spec.parameters.values())
    if d.kind == "lhs":
        return d.samples
    if d.kind == "sobol":
        return d.samples * (2 * dim + 2 if d.second_order else dim + 2)
    return d.samples * (dim + 1)


def unit_sample(spec: ExperimentSpec, root: int) -> np.ndarray | None:
    """The design in unit coordinates, `(points, D)`; None for a grid (which has levels, not ranges)."""
    import warnings

    d = spec.design
    problem = salib_problem(list(spec.parameters))
    seed = design_seed(root)
    if d.kind == "grid":
        return None
    if d.kind == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=problem["num_vars"], rng=np.random.default_rng(seed)).random(d.samples)
    if d.kind == "sobol":
        from SALib.sample import sobol

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return sobol.sample(problem, d.samples, calc_second_order=d.second_order, scramble=True,
                                seed=seed)
    from SALib.sample import morris

    return morris.sample(problem, d.samples, num_levels=d.levels, seed=seed)


def design_points(spec: ExperimentSpec, root: int) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Parameter values of every design point, in order, and the unit-coordinate sample behind them."""
    names = list(spec.parameters)
    unit = unit_sample(spec, root)
    if unit is None:
        levels = [spec.parameters[n].grid_levels() for n in names]
        return [dict(zip(names, combo)) for combo in product(*levels)], None
    columns = [spec.parameters[n].from_unit(unit[:, j]) for j, n in enumerate(names)]
    points = []
    for i in range(unit.shape[0]):
        points.append({n: (int(columns[j][i]) if spec.parameters[n].integer else float(columns[j][i]))
                       for j, n in enumerate(names)})
    return points, unit


def spawn_seed(root: int, *key: int) -> int:
    """A non-negative 63-bit seed spawned from `root` by NumPy's SeedSequence with spawn key `key`."""
    return int(np.random.SeedSequence(root, spawn_key=key).generate_state(1, dtype=np.uint64)[0] >> 1)


def run_seed(root: int, point: int, rep: int, scheme: str) -> int:
    """Seed of one run: spawn key (rep,) for common random numbers (the seeds `kankei run --seed root
    --reps R` and `kankei compare` use), (point, rep) otherwise."""
    return spawn_seed(root, rep) if scheme == "common" else spawn_seed(root, point, rep)


# --- the plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """One run of the plan: its id, design point, replication, seed and parameter values."""

    run: int
    point: int
    rep: int
    seed: int
    params: dict[str, Any]
    param_hash: str


@dataclass
class Plan:
    """Everything a sweep needs: the spec, the root seed, the runs and what each one simulates."""

    spec: ExperimentSpec
    spec_path: str
    root_seed: int
    overrides: dict[str, Any]
    runs: list[PlannedRun]
    unit: np.ndarray | None
    scenarios: dict[int, Any] = field(default_factory=dict)  # point -> KankeiScenario (kankei models)
    scenario_path: str = ""
    fingerprint: str = ""
    posterior: Any = None                                    # experiments.posterior.Posterior, or None
    run_scenarios: dict[int, Any] = field(default_factory=dict)  # run -> its point's scenario with its draw

    def scenario_of(self, run: PlannedRun) -> Any:
        """The scenario a run simulates: its design point's, with its posterior draw if there is one."""
        return self.run_scenarios.get(run.run, self.scenarios.get(run.point))

    @property
    def name(self) -> str:
        return self.spec.name or Path(self.spec_path).stem

    @property
    def n_points(self) -> int:
        return len(self.runs) // self.spec.replications if self.runs else 0

    def describe(self) -> dict[str, Any]:
        """JSON-able description stored with the results (`_sweep/sweep.json`)."""
        return {
            "name": self.name,
            "spec_file": self.spec_path,
            "spec": self.spec.model_dump(mode="json"),
            "model": self.spec.model,
            "scenario_file": self.scenario_path,
            "overrides": _jsonable(self.overrides),
            "root_seed": self.root_seed,
            "design": self.spec.design.kind,
            "parameters": list(self.spec.parameters),
            "points": self.n_points,
            "replications": self.spec.replications,
            "runs": len(self.runs),
            "fingerprint": self.fingerprint,
            "posterior": None if self.posterior is None else {
                **self.posterior.describe(), "draw_seed": self.draw_seed,
                "drawn": [r.params["draw"] for r in self.runs[: self.spec.replications]]},
        }

    @property
    def draw_seed(self) -> int | None:
        """Seed of the posterior draws (None without a posterior)."""
        from experiments.posterior import draw_seed

        return None if self.posterior is None else draw_seed(self.root_seed)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def scenario_file(spec: ExperimentSpec, spec_path: str) -> Path:
    """The scenario file a spec names, relative to the spec file."""
    if not spec.scenario:
        return DEFAULT_SCENARIO
    path = Path(spec.scenario)
    if not path.is_absolute():
        base = Path(spec_path).parent if spec_path and spec_path != "<spec>" else Path.cwd()
        path = (base / path).resolve()
    return path


def posterior_file(spec: ExperimentSpec, spec_path: str, given: str | Path | None = None) -> str | None:
    """The posterior file of a sweep: `given` (the command line's --posterior, relative to the current
    folder) or the spec's `posterior` (relative to the spec file); None if neither."""
    if given is not None:
        return str(given)
    if not spec.posterior:
        return None
    path = Path(spec.posterior)
    if not path.is_absolute():
        base = Path(spec_path).parent if spec_path and spec_path != "<spec>" else Path.cwd()
        path = base / path
    return str(path)


def _function_hash(model: str, params: dict[str, Any]) -> str:
    text = json.dumps({"model": model, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def build_plan(spec: ExperimentSpec, spec_path: str = "<spec>", overrides: dict[str, Any] | None = None,
               seed: int | None = None, posterior: str | Path | None = None) -> Plan:
    """Every run of a spec: ids, points, replications, seeds, and (for Kankei) validated scenarios.

    `overrides` are the command line's `--set` values: they apply to every run, on top of the
    spec's `[set]`. `posterior` (the command line's --posterior) replaces the spec's `posterior`:
    `replications` particles are resampled from it by weight (seeded by `draw_seed(root)`) and
    replication r of every design point runs draw r; its `draw` id and parameter values are then
    parameter columns of the run. Every run's scenario is validated here, before anything runs, so a
    bad value is reported (file and key) and nothing is written.
    """
    from experiments.provenance import parameter_hash

    overrides = dict(overrides or {})
    varied = set(spec.parameters)
    for key in overrides:
        if key in varied:
            raise ScenarioError("--set", key, f"{key} is varied by the spec ({spec_path}); "
                                "remove it from --set or from [parameters]")
    if overrides and not spec.is_kankei:
        raise ScenarioError("--set", next(iter(overrides)), f"model {spec.model!r} takes no scenario overrides")
    fixed = dict(spec.set)
    if spec.horizon_years is not None:
        fixed["run.horizon_years"] = spec.horizon_years
    fixed.update(overrides)

    scenarios: dict[int, Any] = {}
    scenario_path = ""
    root = seed
    if spec.is_kankei:
        scenario_path = str(scenario_file(spec, spec_path))
        try:
            raw = read_scenario(Path(scenario_path))
            base = scenario_from_raw(raw, scenario_path, overrides=fixed)
        except ScenarioError as exc:
            raise _attribute(exc, spec, spec_path, overrides) from None
        if root is None:
            root = spec.seed if spec.seed is not None else base.config.run.seed
    elif root is None:
        root = spec.seed if spec.seed is not None else 0

    post_path = posterior_file(spec, spec_path, posterior)
    post, drawn = None, []
    reps = spec.replications
    if post_path is not None:
        if not spec.is_kankei:
            raise ScenarioError("--posterior", post_path, f"model {spec.model!r} is a function: a posterior holds "
                                "scenario parameters, which it does not take")
        from experiments.posterior import draw_seed, load_posterior

        post = load_posterior(post_path, base)
        for key in post.parameters:
            if key in varied:
                raise ScenarioError(spec_path, f"parameters.{key}", f"is also a parameter of the posterior "
                                    f"{post_path}: vary it or draw it, not both")
            if key in fixed:   # (run.* keys, such as horizon_years, are never posterior parameters)
                source, where = ("--set", key) if key in overrides else (spec_path, f"set.{key}")
                raise ScenarioError(source, where, f"is fixed here and is a parameter of the posterior "
                                    f"{post_path}: each draw sets it; remove one")
        drawn = [int(i) for i in post.indices(reps, draw_seed(root))]

    points, unit = design_points(spec, root)
    runs: list[PlannedRun] = []
    run_scenarios: dict[int, Any] = {}
    for p, params in enumerate(points):
        if spec.is_kankei:
            try:
                scenario = scenario_from_raw(raw, scenario_path, overrides={**fixed, **params})
            except ScenarioError as exc:
                raise _attribute(exc, spec, spec_path, overrides, params) from None
            scenarios[p] = scenario
            phash = parameter_hash(scenario.config)
        else:
            phash = _function_hash(spec.model, params)
        for r in range(reps):
            run, run_params, run_hash = p * reps + r, params, phash
            if post is not None:
                try:
                    run_scenarios[run] = post.apply(scenario, drawn[r])
                except ScenarioError as exc:
                    raise ScenarioError(exc.source, exc.key, f"{exc.message}, at design point {p} {params}") from None
                run_params = {**params, "draw": drawn[r], **post.values(drawn[r])}
                run_hash = parameter_hash(run_scenarios[run].config)
            runs.append(PlannedRun(run=run, point=p, rep=r, seed=run_seed(root, p, r, spec.design.seeds),
                                   params=run_params, param_hash=run_hash))
    plan = Plan(spec=spec, spec_path=spec_path, root_seed=root, overrides=overrides, runs=runs, unit=unit,
                scenarios=scenarios, scenario_path=scenario_path, posterior=post, run_scenarios=run_scenarios)
    plan.fingerprint = fingerprint(plan)
    return plan


def _attribute(exc: ScenarioError, spec: ExperimentSpec, spec_path: str, overrides: dict[str, Any],
               params: dict[str, Any] | None = None) -> ScenarioError:
    """Re-address a scenario error to the spec key (or --set) that caused it."""
    key = exc.key or ""
    where = f"{exc.source}: {key}" if key else exc.source
    for name in (params or {}):
        if key == name or key.startswith(name + ".") or name.startswith(key + "."):
            value = params[name]
            return ScenarioError(spec_path, f"parameters.{name}",
                                 f"value {value!r} is rejected by the scenario ({where}: {exc.message})")
    for name in overrides:
        if key == name or key.startswith(name + ".") or name.startswith(key + "."):
            return ScenarioError("--set", name, f"{exc.message} (scenario {exc.source})")
    for name in spec.set:
        if key == name or key.startswith(name + ".") or name.startswith(key + "."):
            return ScenarioError(spec_path, f"set.{name}", f"{exc.message} (scenario {exc.source})")
    if key == "run.horizon_years" and spec.horizon_years is not None:
        return ScenarioError(spec_path, "horizon_years", exc.message)
    if not key and "not found" in exc.message:
        return ScenarioError(spec_path, "scenario", f"{exc.message}: {exc.source}")
    if params:
        return ScenarioError(spec_path, "parameters", f"the point {params} is rejected by the scenario "
                             f"({where}: {exc.message})")
    return ScenarioError(spec_path, "scenario", f"{where}: {exc.message}")


def fingerprint(plan: Plan) -> str:
    """Identity of a sweep: what every run simulates and keeps, and the content of its data files.
    Equal fingerprints, equal results."""
    h = hashlib.sha256()
    spec = plan.spec
    h.update(json.dumps({"model": spec.model, "outputs": spec.outputs.model_dump(mode="json"),
                         "params": list(spec.parameters)}, sort_keys=True).encode())
    if plan.posterior is not None:     # the particles, not the file's name: other particles, other draws
        h.update(f"posterior:{plan.posterior.sha256};".encode())
    for r in plan.runs:
        h.update(f"{r.run}:{r.point}:{r.rep}:{r.seed}:{r.param_hash};".encode())
    # the content of every data file, not only its path: an edited table is a different sweep
    for path in sorted({str(sc.data_path()) for sc in plan.scenarios.values()}):
        h.update(f"{path}:{hashlib.sha256(Path(path).read_bytes()).hexdigest()};".encode())
    return h.hexdigest()
