"""Run outcomes (成果指標): run-level summaries, yearly tables and time series from a finished run.

Everything here reads a finished `RelationModel` through its public state (`model.history`, the
tallies it recorded at every step boundary, `model.dt` and `model.regions_frame()`), so it works on
any run, from a sweep, a notebook or `kankei run`. People are real people (scaled by
`run.people_per_agent`); national totals sum the 47 regions.

The records are long ("tidy") rows in the sweep store's schema: output, step, date, year, region,
variable, value (see `experiments.store.SCHEMA` and docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.stages import Flow, Stage

STOCKS = (Stage.NONE, Stage.VISITOR, Stage.ENGAGED, Stage.DUAL, Stage.SETTLED)


@dataclass(frozen=True)
class Outcome:
    """A run-level outcome: a number computed from a finished run."""

    name: str
    ja: str
    description: str
    fn: Callable[["RunView"], float]


class RunView:
    """National and rural series of a finished run, computed once and shared by the outcomes."""

    def __init__(self, model) -> None:
        h = model.history
        last = h.last
        self.scale = float(h.scale)
        self.dt = float(model.dt)
        self.by_home = h.by_home[: last + 1]            # (T+1, R, S) people by home region and stage
        self.by_target = h.by_target[: last + 1]        # (T+1, R, S, K) by report region
        self.flows = h.flows[: last + 1]                # (T+1, R, F), index k = flows of step k-1 → k
        self.dates = h.dates[: last + 1]
        self.codes = np.asarray(h.codes)
        kinds = model.regions_frame().set_index("region").loc[self.codes, "kind"].to_numpy()
        self.rural = kinds == "rural"
        spending = getattr(h, "spending", None)             # (T+1, levers, R) yen, index k = step k-1 → k
        self.spending = None if spending is None else spending[: last + 1]
        kpis = getattr(h, "kpis", None)                     # (T+1, R, KPIs)
        self.kpis = None if kpis is None else kpis[: last + 1]

    def stock(self, stage: Stage) -> np.ndarray:
        """National people at `stage` at every step boundary."""
        return self.by_home[:, :, int(stage)].sum(axis=1) * self.scale

    def adults(self, rural_only: bool = False) -> np.ndarray:
        """Living adults at every step boundary (nationally, or in rural regions only)."""
        a = self.by_home.sum(axis=2)
        if rural_only:
            a = a[:, self.rural]
        return a.sum(axis=1) * self.scale

    def flow_total(self, flow: Flow) -> float:
        """People who made `flow` over the whole run, nationally."""
        return float(self.flows[1:, :, int(flow)].sum()) * self.scale

    def engaged(self) -> np.ndarray:
        """関係人口 (ENGAGED + DUAL) nationally at every step boundary."""
        return self.stock(Stage.ENGAGED) + self.stock(Stage.DUAL)


def _share(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _spending(v: "RunView") -> float:
    return float(v.spending[1:].sum()) if v.spending is not None else 0.0


OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("final_engaged", "関係人口（期末）",
            "関係人口 at the end: people ENGAGED or in DUAL residence (as in `kankei compare`'s engaged_end)",
            lambda v: float(v.engaged()[-1])),
    Outcome("final_engaged_share", "関係人口の割合（期末）", "final_engaged as a share of all adults at the end",
            lambda v: _share(float(v.engaged()[-1]), float(v.adults()[-1]))),
    Outcome("final_visitors", "交流人口（期末）", "people VISITOR (交流人口) at the end",
            lambda v: float(v.stock(Stage.VISITOR)[-1])),
    Outcome("final_dual", "二地域居住（期末）", "people in DUAL residence (二地域居住) at the end",
            lambda v: float(v.stock(Stage.DUAL)[-1])),
    Outcome("final_settled", "定住人口（期末）", "people SETTLED during the run and still there at the end",
            lambda v: float(v.stock(Stage.SETTLED)[-1])),
    Outcome("settlers_total", "移住者数（累計）", "moves to a region over the run (SETTLE flows)",
            lambda v: v.flow_total(Flow.SETTLE)),
    Outcome("leavers_total", "再転出者数（累計）", "settlers who left again over the run (LEAVE flows)",
            lambda v: v.flow_total(Flow.LEAVE)),
    Outcome("net_settlers", "純移住者数", "settlers_total − leavers_total",
            lambda v: v.flow_total(Flow.SETTLE) - v.flow_total(Flow.LEAVE)),
    Outcome("engaged_person_years", "関係人口・人年",
            "person-years of 関係人口 (ENGAGED or DUAL) over the run: Σ over steps of the stock at the "
            "step's end × step length (as in `kankei compare`)",
            lambda v: float(v.engaged()[1:].sum() * v.dt)),
    Outcome("rural_adults_final", "地方の成人人口（期末）", "adults living in rural (non-metro) regions at the end",
            lambda v: float(v.adults(rural_only=True)[-1])),
    Outcome("rural_adults_change", "地方の成人人口の増減", "rural adults at the end minus at the start",
            lambda v: float(v.adults(rural_only=True)[-1] - v.adults(rural_only=True)[0])),
    Outcome("youth_outflow_total", "若者の転出（累計）", "rural natives who left for a metro region over the run",
            lambda v: v.flow_total(Flow.YOUTH_OUTFLOW)),
    Outcome("spending_yen", "政策支出（累計・円）", "spending on every lever over the run, all payers, yen",
            _spending),
    Outcome("municipalities_adopting_final", "関係人口に取り組む市町村（期末）",
            "municipalities working on 関係人口 at the end (the national KPI)",
            lambda v: float(v.kpis[-1, :, 0].sum()) if v.kpis is not None else float("nan")),
)}


def summarise(model, names: list[str] | None = None) -> dict[str, float]:
    """Run-level outcomes of a finished model, `{name: value}` (default: every outcome)."""
    view = RunView(model)
    return {n: float(OUTCOMES[n].fn(view)) for n in (names or list(OUTCOMES))}


# --- tidy records in the store's schema -----------------------------------------------------------
OUTPUT_KINDS = ("time_series", "yearly", "summary")
KEY_COLUMNS = ("step", "date", "year", "region")


@dataclass
class Block:
    """Rows of one output kind, column-wise: key columns (None = null for every row), variables, values."""

    output: str
    variables: list[str]            # the variable of row i is variables[codes[i]]
    codes: np.ndarray
    value: np.ndarray
    keys: dict[str, np.ndarray | None]

    def __len__(self) -> int:
        return len(self.value)


class Records:
    """The tidy rows a sweep keeps for one run, held column-wise (cheap to build and to encode)."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = [b for b in blocks if len(b)]

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks)

    def variables(self) -> list[str]:
        return list(dict.fromkeys(v for b in self.blocks for v in b.variables))

    def columns(self) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """`{column: (values, null mask or None)}` for output (codes into OUTPUT_KINDS), step, date, year,
        region, variable (codes into `variables()`) and value."""
        names = self.variables()
        index = {v: i for i, v in enumerate(names)}
        out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        out["output"] = (np.concatenate([np.full(len(b), OUTPUT_KINDS.index(b.output), dtype=np.int32)
                                         for b in self.blocks]), None)
        for key, dtype in (("step", np.int32), ("date", "datetime64[ms]"), ("year", np.int16), ("region", np.int16)):
            vals, mask = [], []
            for b in self.blocks:
                col = b.keys.get(key)
                if col is None:
                    vals.append(np.zeros(len(b), dtype=dtype))
                    mask.append(np.ones(len(b), dtype=bool))
                else:
                    vals.append(np.asarray(col).astype(dtype))
                    mask.append(np.zeros(len(b), dtype=bool))
            m = np.concatenate(mask)
            out[key] = (np.concatenate(vals), m if m.any() else None)
        remap = [np.array([index[v] for v in b.variables], dtype=np.int32) for b in self.blocks]
        out["variable"] = (np.concatenate([r[b.codes] for r, b in zip(remap, self.blocks)]), None)
        out["value"] = (np.concatenate([b.value.astype(float) for b in self.blocks]), None)
        return out

    def to_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame: output, step, date, year, region, variable, value."""
        cols = self.columns()
        data = {"output": pd.Categorical.from_codes(cols["output"][0], categories=list(OUTPUT_KINDS))}
        for key, dtype in (("step", "Int32"), ("year", "Int16"), ("region", "Int16")):
            values, mask = cols[key]
            data[key] = pd.array(np.ma.masked_array(values, mask).filled(0), dtype=dtype)
            if mask is not None:
                data[key][mask] = pd.NA
        dates, mask = cols["date"]
        data["date"] = pd.Series(dates).where(~mask if mask is not None else True)
        data["variable"] = pd.Categorical.from_codes(cols["variable"][0], categories=self.variables())
        data["value"] = cols["value"][0]
        return pd.DataFrame(data)[["output", "step", "date", "year", "region", "variable", "value"]]


def _block(output: str, blocks: dict[str, np.ndarray], index: dict[str, np.ndarray], codes: np.ndarray,
           by_region: bool) -> Block:
    """Long rows from `{variable: (n, R) values}`; `index` holds the n-long key columns (step/date or year)."""
    names = list(blocks)
    cube = np.stack([blocks[v] for v in names])                        # (V, n, R)
    n_var, n, n_reg = cube.shape
    if by_region:
        keys = {k: np.tile(np.repeat(v, n_reg), n_var) for k, v in index.items()}
        keys["region"] = np.tile(codes, n_var * n)
        return Block(output, names, np.repeat(np.arange(n_var), n * n_reg), cube.ravel(), keys)
    keys = {k: np.tile(v, n_var) for k, v in index.items()}
    return Block(output, names, np.repeat(np.arange(n_var), n), cube.sum(axis=2).ravel(), keys)


def time_series(view: RunView, by_region: bool) -> Block:
    """People by stage (where they relate to: target basis) and adults (where they live), per step."""
    steps = np.arange(view.by_home.shape[0])
    blocks = {s.name.lower(): view.by_target[:, :, int(s), :].sum(axis=2) * view.scale for s in STOCKS}
    blocks["adults"] = view.by_home.sum(axis=2) * view.scale
    return _block("time_series", blocks, {"step": steps, "date": view.dates.values}, view.codes, by_region)


def yearly(view: RunView, by_region: bool) -> Block:
    """Per fiscal year (年度): every flow summed over the year (`flow_<name>`), spending, and the stocks
    at the year's end.

    The flows of step k → k+1 belong to the fiscal year of the step's first day; the stocks are
    those at the year's last step boundary (the horizon's end for a last, partial year).
    """
    n = view.by_home.shape[0]
    first = view.dates[: n - 1]
    fy = np.where(first.month >= 4, first.year, first.year - 1)         # 年度 of the step k → k+1
    years = np.unique(fy)
    flows = view.flows[1:]                                              # (T, R, F), row k = step k → k+1
    ends = np.array([np.flatnonzero(fy == y).max() + 1 for y in years])  # boundary index at year end
    blocks: dict[str, np.ndarray] = {}
    for f in Flow:
        blocks[f"flow_{f.name.lower()}"] = np.stack([flows[fy == y, :, int(f)].sum(axis=0) for y in years]) * view.scale
    if view.spending is not None:
        spend = view.spending[1:].sum(axis=1)                           # (T, R) yen
        blocks["spending_yen"] = np.stack([spend[fy == y].sum(axis=0) for y in years])
    for s in STOCKS:
        blocks[s.name.lower()] = view.by_target[ends, :, int(s), :].sum(axis=2) * view.scale
    blocks["adults"] = view.by_home[ends].sum(axis=2) * view.scale
    return _block("yearly", blocks, {"year": years}, view.codes, by_region)


def summary(values: dict[str, float]) -> Block:
    """Run-level outcomes as rows: output='summary', variable=<outcome>, value."""
    return Block("summary", list(values), np.arange(len(values)), np.array(list(values.values()), dtype=float),
                 {k: None for k in KEY_COLUMNS})


def records(model, keep: list[str], by_region: bool, outcomes: list[str] | None = None
            ) -> tuple[Records, dict[str, float]]:
    """The tidy rows a sweep keeps for one finished run, and its run-level outcomes."""
    view = RunView(model)
    values = {n: float(OUTCOMES[n].fn(view)) for n in (outcomes or list(OUTCOMES))}
    parts = []
    if "time_series" in keep:
        parts.append(time_series(view, by_region))
    if "yearly" in keep:
        parts.append(yearly(view, by_region))
    if "summary" in keep:
        parts.append(summary(values))
    return Records(parts), values
