"""Parameter uncertainty (パラメータの不確実性): posterior files, resampled draws and the variance split.

A **posterior file** is a Parquet file with one row per posterior particle (what `kankei calibrate`
writes; `write_posterior` writes one from a DataFrame):

- ``draw``: integer, the particle's id; the ids are exactly 0..n−1 (in any row order);
- ``weight``: float, ≥ 0 and finite, normalised to sum to 1 (within 1e-6);
- one float column per free parameter, named by its dotted scenario key as
  `model.parameters.with_overrides` accepts it (``rates.engage``, ``rates.leave``,
  ``migration.job_rate``, ...): a number of the scenario outside the ``run`` and ``calibration``
  sections (those say how a run is made and how it is calibrated, not how people behave), or an
  **effect size** of a named lever, ``levers.NAME.FIELD[.ENTRY]`` (`model.levers.effects`; never a
  policy size); finite values that the scenario accepts;
- optional key-value metadata ``kankei``: a JSON object (e.g. ``{"scenario": ..., "targets": ...,
  "generation": t}``), kept as `Posterior.metadata` and never needed.

`load_posterior(path, scenarios)` checks all of that (every particle is applied to every scenario
given, so a value a scenario refuses is found before anything runs) and raises a `ScenarioError`
naming the file, the column and what is allowed (the `kankei` CLI prints it and exits with status 2).
A lever column must name a lever of at least one of those scenarios, and sets it in each scenario
that has a lever of that name; a scenario without it (a policy that removed the lever) is left as it
is, since it has no such effect to set.
`Posterior.draws(n, seed)` resamples n parameter sets by weight (multinomial, with replacement)
with a NumPy Generator seeded from `seed`: the same seed, the same draws. `draw_seed(root)` is the
seed `kankei compare` and `kankei sweep` use for it, spawned from their root seed.

`variance_parts(values)` is the one-way random-effects analysis of variance (method of moments) that
splits the spread of a paired difference over draws × seeds into a parameter part (between draws)
and a stochastic part (within draws); see its docstring and docs/experiments.md "Parameter
uncertainty".
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.errors import ScenarioError
from model.levers.effects import applies_to, lever_key_problem, lever_name, lever_value
from model.parameters import KankeiScenario, ScenarioConfig, with_overrides

DRAW, WEIGHT = "draw", "weight"
META_KEY = b"kankei"
# how a run is made and how it is calibrated: not posterior parameters (of the levers, only effect sizes are)
REFUSED_SECTIONS = ("run", "calibration")
WEIGHT_TOLERANCE = 1e-6
# spawn key of the posterior draws, apart from the replication seeds (rep,) and the design's sampling
_DRAW_SPAWN_KEY = (0x4B414E4B, 0xD4A)
FORMAT = ("a posterior file has columns draw (integers 0..n−1), weight (floats ≥ 0 summing to 1) and one float "
          "column per parameter named by its dotted scenario key (e.g. rates.engage, levers.kyoryokutai.effects.settle)")


def draw_seed(root: int) -> int:
    """Seed of the posterior draws of a comparison or sweep with root seed `root`."""
    from experiments.spec import spawn_seed

    return spawn_seed(root, *_DRAW_SPAWN_KEY)


@dataclass(frozen=True)
class Posterior:
    """A validated posterior: particles sorted by `draw`, their weights and parameter values."""

    path: str
    frame: pd.DataFrame                     # draw (int64), weight (float64), one float64 column per parameter
    parameters: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""                        # of the particles (draw, weight, values), not of the file's bytes

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def is_point(self) -> bool:
        """Do all particles of positive weight hold the same parameter values (no parameter uncertainty)?"""
        values = self.frame.loc[self.frame[WEIGHT] > 0, list(self.parameters)].to_numpy()
        return bool((values == values[0]).all())

    def indices(self, n: int, seed: int) -> np.ndarray:
        """The `draw` ids of n particles resampled by weight (multinomial, with replacement), by a
        NumPy Generator seeded from `seed`."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        w = self.frame[WEIGHT].to_numpy(dtype=float)
        rng = np.random.default_rng(seed)
        picked = rng.choice(len(w), size=n, replace=True, p=w / w.sum())
        return self.frame[DRAW].to_numpy()[picked].astype(np.int64)

    def values(self, draw: int) -> dict[str, float]:
        """Parameter values of the particle with id `draw` (rows are sorted by draw: row = id)."""
        row = self.frame.iloc[int(draw)]
        return {k: float(row[k]) for k in self.parameters}

    def draws(self, n: int, seed: int) -> list[dict[str, float]]:
        """n parameter sets resampled by weight (see `indices`): `{dotted key: value}` each."""
        return [self.values(i) for i in self.indices(n, seed)]

    def apply(self, scenario: KankeiScenario, draw: int) -> KankeiScenario:
        """`scenario` with particle `draw`'s values (`with_overrides`), a lever's effect size only if the
        scenario has a lever of that name; a refused value is a ScenarioError naming this file and the column."""
        values = {k: v for k, v in self.values(draw).items() if applies_to(scenario.config.levers, k)}
        try:
            return with_overrides(scenario, values)
        except ScenarioError as exc:
            column = exc.key if exc.key in values else ", ".join(self.parameters)
            raise ScenarioError(self.path, column, f"draw {int(draw)}: {values.get(exc.key, values)!r} is rejected by "
                                f"the scenario ({exc.source}: {exc.key}: {exc.message})") from None

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for manifests: file, content hash, particles, parameters, metadata."""
        return {"file": self.path, "sha256": self.sha256, "particles": len(self),
                "parameters": list(self.parameters), "metadata": self.metadata}


# --- validation ----------------------------------------------------------------------------------
def parameter_value(config: ScenarioConfig, key: str) -> Any:
    """The value a posterior parameter `key` names in a scenario; None for a lever key whose lever the
    scenario does not have."""
    if lever_name(key) is not None:
        return lever_value(config.levers, key)
    node: Any = config.model_dump(mode="python")
    for part in key.split("."):
        node = node[part]
    return node


def _numeric_leaf(scenario: ScenarioConfig, config: dict[str, Any], key: str) -> str | None:
    """Why `key` cannot be a posterior parameter of a scenario (`config` is its `model_dump`), or None if it can."""
    parts = key.split(".")
    if len(parts) < 2 or not all(parts):
        return "is not a dotted scenario key (section.key, e.g. rates.engage)"
    if parts[0] in REFUSED_SECTIONS:
        return (f"is in the {parts[0]!r} section, which says how a run is made or how it is calibrated; allowed: "
                f"numbers of the other sections ({', '.join(k for k in config if k not in REFUSED_SECTIONS)}; "
                "of the levers, their effect sizes only)")
    if lever_name(key) is not None:
        return lever_key_problem(scenario.levers, key)
    node: Any = config
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the scenario"
            allowed = ", ".join(k for k in node if k not in REFUSED_SECTIONS) if isinstance(node, dict) else ""
            return f"is not a key of the scenario ({part!r} unknown in {where}" + (f"; allowed: {allowed})" if allowed
                                                                                    else ")")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return (f"names a {type(node).__name__} of the scenario, not a number; allowed: a numeric value "
                "such as rates.engage")
    return None


def _scenario_list(scenarios: KankeiScenario | Sequence[KankeiScenario] | None) -> list[KankeiScenario]:
    if scenarios is None:
        from model.parameters import load_scenario

        return [load_scenario()]
    return [scenarios] if isinstance(scenarios, KankeiScenario) else list(scenarios)


def content_hash(frame: pd.DataFrame, parameters: Sequence[str]) -> str:
    """SHA-256 of a validated posterior's particles: the parameter names and the draw, weight and
    value columns in draw order (the file's bytes, compression and metadata do not enter it)."""
    h = hashlib.sha256(json.dumps(list(parameters)).encode())
    h.update(np.ascontiguousarray(frame[DRAW].to_numpy(dtype=np.int64)).tobytes())
    for column in (WEIGHT, *parameters):
        h.update(column.encode())
        h.update(np.ascontiguousarray(frame[column].to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def validate(frame: pd.DataFrame, source: str,
             scenarios: KankeiScenario | Sequence[KankeiScenario] | None = None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A posterior frame checked and normalised (sorted by draw; draw int64, the rest float64) and its
    parameter columns; the first problem is a ScenarioError naming `source` and the column."""
    for column in (DRAW, WEIGHT):
        if column not in frame.columns:
            raise ScenarioError(source, column, f"required column is missing; {FORMAT}")
    if len(frame) == 0:
        raise ScenarioError(source, "", f"has no rows: a posterior needs at least one particle; {FORMAT}")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ScenarioError(source, twice[0], "column appears more than once")
    parameters = tuple(c for c in names if c not in (DRAW, WEIGHT))
    if not parameters:
        raise ScenarioError(source, "", f"has no parameter columns; {FORMAT}")

    draw = frame[DRAW]
    if not pd.api.types.is_integer_dtype(draw) or pd.api.types.is_bool_dtype(draw):
        raise ScenarioError(source, DRAW, f"has type {draw.dtype}; allowed: integers 0..n−1")
    ids = draw.to_numpy(dtype=np.int64)
    expected = np.arange(len(frame))
    if not np.array_equal(np.sort(ids), expected):
        bad = sorted(set(ids.tolist()) ^ set(expected.tolist()))[:5]
        dup = sorted({i for i in ids.tolist() if (ids == i).sum() > 1})[:5]
        what = f"repeated ids {dup}" if dup else f"ids {bad} out of place"
        raise ScenarioError(source, DRAW, f"{what}; allowed: each of 0..{len(frame) - 1} exactly once "
                            f"({len(frame)} rows)")
    out = frame.assign(**{DRAW: ids}).sort_values(DRAW, kind="stable").reset_index(drop=True)

    for column in (WEIGHT, *parameters):
        series = out[column]
        if not (pd.api.types.is_float_dtype(series) or pd.api.types.is_integer_dtype(series)) \
                or pd.api.types.is_bool_dtype(series):
            raise ScenarioError(source, column, f"has type {series.dtype}; allowed: float64 numbers")
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values) | ((values < 0) if column == WEIGHT else False)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            allowed = "finite numbers ≥ 0" if column == WEIGHT else "finite numbers (no NaN, no infinity)"
            raise ScenarioError(source, column, f"draw {int(out[DRAW].iloc[i])} has {float(values[i])!r} "
                                f"({int(bad.sum())} bad row(s) in all); allowed: {allowed}")
        out[column] = values
    total = float(out[WEIGHT].sum())
    if not abs(total - 1.0) <= WEIGHT_TOLERANCE:
        raise ScenarioError(source, WEIGHT, f"weights sum to {total!r}; allowed: weights ≥ 0 normalised to sum 1 "
                            f"(within {WEIGHT_TOLERANCE:g})")

    checked = _scenario_list(scenarios)
    for column in parameters:
        if not any(applies_to(sc.config.levers, column) for sc in checked):
            names = sorted({lever.name for sc in checked for lever in sc.config.levers if lever.name})
            raise ScenarioError(source, column, f"names no lever of the scenarios it is applied to "
                                f"({', '.join(sc.source for sc in checked)}); write levers.NAME.FIELD with the name "
                                f"of one of their levers ({', '.join(names) or 'none'})")
    for sc in checked:
        config = sc.config.model_dump(mode="python")
        for column in parameters:
            why = _numeric_leaf(sc.config, config, column) if applies_to(sc.config.levers, column) else None
            if why is not None:
                raise ScenarioError(source, column, f"{why} (scenario {sc.source})")
        post = Posterior(source, out, parameters)
        for i in range(len(out)):
            post.apply(sc, i)
    return out, parameters


def load_posterior(path: str | Path,
                   scenarios: KankeiScenario | Sequence[KankeiScenario] | None = None) -> Posterior:
    """Read and validate a posterior file against `scenarios` (default: the built-in default scenario):
    every parameter must be a numeric scenario key outside ``run`` and ``calibration`` or a lever's effect
    size (a lever of at least one of the scenarios), and every particle's
    values must be accepted by every scenario. Problems are ScenarioErrors naming the file and column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise ScenarioError(source, "", "posterior file not found" if not p.exists() else
                            "is not a file; give a posterior Parquet file")
    try:
        table = pq.read_table(p)
    except (OSError, pa.ArrowException) as exc:
        raise ScenarioError(source, "", f"not a readable Parquet file ({str(exc).splitlines()[0]}); {FORMAT}") from None
    metadata: dict[str, Any] = {}
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is not None:
        try:
            metadata = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            metadata = None  # type: ignore[assignment]
        if not isinstance(metadata, dict):
            raise ScenarioError(source, "metadata kankei", "is not a JSON object; allowed: a JSON object such as "
                                '{"scenario": "...", "generation": 3}, or no such metadata')
    try:
        frame = table.to_pandas()
    except (pa.ArrowException, ValueError) as exc:
        raise ScenarioError(source, "", f"cannot be read as a table ({exc}); {FORMAT}") from None
    out, parameters = validate(frame, source, scenarios)
    return Posterior(source, out, parameters, metadata, content_hash(out, parameters))


def _is_posterior_file(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # noqa: BLE001  (not Parquet, unreadable: not ours)
        return False
    return DRAW in names and WEIGHT in names


def write_posterior(path: str | Path, frame: pd.DataFrame, metadata: dict[str, Any] | None = None,
                    scenarios: KankeiScenario | Sequence[KankeiScenario] | None = None) -> Posterior:
    """Write `frame` (draw, weight, one column per parameter) as a posterior file, all at once.

    The frame is validated as `load_posterior` validates a file (against `scenarios`, default the
    built-in scenario); `metadata` (JSON-able) goes into the Parquet key-value metadata ``kankei``.
    The file is written to a hidden temporary name, flushed and renamed over `path`; an existing file
    is replaced only if it is a posterior file itself (Kankei never overwrites what it did not write).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from experiments.store import atomic_write

    p = Path(path)
    source = str(path)
    if p.is_symlink() or p.is_dir():
        raise ScenarioError(source, "", "is a folder or a symbolic link; give a file name, e.g. posterior.parquet")
    if p.exists() and not _is_posterior_file(p):
        raise ScenarioError(source, "", "exists and is not a posterior file; Kankei never overwrites a file it did "
                            "not write. Give a new file name")
    out, parameters = validate(pd.DataFrame(frame), source, scenarios)
    try:
        text = json.dumps(metadata or {}, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError as exc:
        raise ScenarioError(source, "metadata kankei", f"cannot be written as JSON: {exc}") from None
    table = pa.Table.from_pandas(out[[DRAW, WEIGHT, *parameters]], preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: text.encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, buf.getvalue())
    return Posterior(source, out, parameters, dict(metadata or {}), content_hash(out, parameters))


# --- the variance split --------------------------------------------------------------------------
@dataclass(frozen=True)
class VarianceParts:
    """One-way random-effects split of values in a (draws × seeds) array (method of moments)."""

    draws: int
    seeds: int
    between: float          # σ²_parameter: variance of the draws' true means (clamped at 0)
    within: float           # σ²_stochastic: variance between seeds of one draw
    clamped: bool           # the moment estimate of `between` was negative and is reported as 0

    @property
    def mean_variance(self) -> tuple[float, float]:
        """The two parts of the variance of the grand mean: σ²_p / D and σ²_s / (D·K)."""
        return self.between / self.draws, self.within / (self.draws * self.seeds)

    @property
    def shares(self) -> tuple[float, float]:
        """(parameter, stochastic) shares of the variance of the grand mean (they sum to 1); NaN when
        that variance is 0 or a part cannot be estimated."""
        p, s = self.mean_variance
        total = p + s
        if not (math.isfinite(total) and total > 0):
            return math.nan, math.nan
        return p / total, s / total


def variance_parts(values: np.ndarray) -> VarianceParts:
    """Split the spread of `values` (shape draws × seeds, balanced) into a parameter and a stochastic part.

    The model is the one-way random-effects model y_dk = μ + a_d + e_dk with Var(a_d) = σ²_p (how the
    outcome moves with the parameters of draw d) and Var(e_dk) = σ²_s (seed noise within a draw).
    Method-of-moments (ANOVA) estimates for the balanced design (Searle, Casella & McCulloch,
    *Variance Components*, Wiley 1992, ch. 3): with MSW = Σ(y_dk − ȳ_d)² / (D(K−1)) and
    MSB = K·Σ(ȳ_d − ȳ)² / (D−1), E[MSW] = σ²_s and E[MSB] = σ²_s + K·σ²_p, so σ̂²_s = MSW and
    σ̂²_p = (MSB − MSW) / K, **clamped at 0** when negative (which happens by chance when the
    parameters matter little; `clamped` says so). σ²_s needs K ≥ 2 and σ²_p needs D ≥ 2; a part
    that cannot be estimated is NaN.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"values must be a non-empty draws × seeds array, got shape {y.shape}")
    y = y - y.flat[0]        # the same spread; equal values give exactly 0, not rounding noise of their mean
    d, k = y.shape
    means = y.mean(axis=1)
    within = float(((y - means[:, None]) ** 2).sum() / (d * (k - 1))) if k >= 2 else math.nan
    if d >= 2 and k >= 2:
        msb = float(k * ((means - means.mean()) ** 2).sum() / (d - 1))
        raw = (msb - within) / k
        between, clamped = max(raw, 0.0), raw < 0
    else:
        between, clamped = math.nan, False
    return VarianceParts(d, k, between, within, clamped)
