"""Run outcomes (成果指標): the one registry of run-level outcomes, and the tidy records of a run.

Everything here reads a finished `RelationModel` through its history, which leaves the model in real
people through the units boundary (`History.people_*`, `model.units.Scale`), so it works on any run:
from a sweep, a comparison, the calibration targets, a notebook or `kankei run`. National totals sum
the regions; a `RunView` restricted to some regions (`kankei compare` uses the regions a policy
acts in) gives the same outcomes there.

Stocks are counted where people relate to (the target region of VISITOR, ENGAGED and DUAL people;
the home region of everyone else); adults where they live.

The records are long ("tidy") rows in the sweep store's schema: output, step, date, year, region,
variable, value (see `experiments.store.SCHEMA` and docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.kpis import KPI
from model.levers.base import COUNT_INDEX, LEDGER, LEDGER_INDEX, PAYERS
from model.migration import region_areas
from model.outputs import net_migration_frame
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
    """A finished run's series in real people, nationally or within `regions` (a boolean mask)."""

    def __init__(self, model, regions: np.ndarray | None = None) -> None:
        h = model.history
        self.dt = float(model.dt)
        mask = np.ones(len(h.codes), dtype=bool) if regions is None else np.asarray(regions, dtype=bool)
        self.mask = mask
        self.codes = np.asarray(h.codes)[mask]
        self.dates = h.dates[: h.last + 1]
        self.by_home = h.people_by_home()[:, mask]        # (T+1, R, S)
        self.by_target = h.people_by_target()[:, mask]    # (T+1, R, S, K)
        self.flows = h.people_flows()[:, mask]            # (T+1, R, F), index k = flows of step k-1 → k
        costs = h.costs()                                 # (T+1, levers, payers, R) yen, wherever they fall
        self.spending = costs.sum(axis=2)[:, :, mask]     # (T+1, levers, R) public cost in the view's regions
        self.kpis = h.kpis[: h.last + 1][:, mask]         # (T+1, R, KPIs)
        # money is counted for the levers acting in the view's regions, wherever it falls (a deduction
        # falls on the donors' home regions, which need not be in the view)
        acting = model.levers.acting_in(mask)
        self.cost_by_payer = costs[:, acting].sum(axis=(0, 1, 3))              # (payers,)
        self.ledger_totals = h.ledger[: h.last + 1][:, acting].sum(axis=(0, 1, 3))  # (LEDGER,)
        self.count_totals = h.counts[: h.last + 1][:, acting].sum(axis=(0, 1, 3))   # (COUNTS,)
        self.rural = ~model.table.is_metro[mask]
        self.areas = np.array(region_areas(model.table))[mask]

    def stock(self, stage: Stage) -> np.ndarray:
        """People at `stage` related to the view's regions at every step boundary."""
        return self.by_target[:, :, int(stage)].sum(axis=(1, 2))

    def engaged(self) -> np.ndarray:
        """関係人口 (ENGAGED + DUAL) related to the view's regions at every step boundary."""
        return self.stock(Stage.ENGAGED) + self.stock(Stage.DUAL)

    def adults(self, rural_only: bool = False) -> np.ndarray:
        """Living adults in the view's regions at every step boundary (or in its rural regions only)."""
        a = self.by_home.sum(axis=2)
        if rural_only:
            a = a[:, self.rural]
        return a.sum(axis=1)

    def flow_series(self, flow: Flow) -> np.ndarray:
        """People who made `flow` in the step ending at each boundary (0 at boundary 0)."""
        return self.flows[:, :, int(flow)].sum(axis=1)

    def flow_total(self, flow: Flow) -> float:
        """People who made `flow` over the whole run."""
        return float(self.flow_series(flow)[1:].sum())

    def area_net_per_year(self, area: str) -> float:
        """Mean calendar-year net in-migration of the view's regions in `area` (東京圏, 名古屋圏, 大阪圏,
        その他) over the run's complete calendar years; NaN if there is none."""
        frame = net_migration_frame(self.by_home, self.flows, self.dates, self.codes, list(self.areas))
        rows = frame[(frame["area"] == area) & frame["complete"]]
        return float(rows["net"].mean()) if len(rows) else float("nan")

    def spent(self, payer: str | None = None) -> float:
        """Public cost over the run of the levers acting in the view's regions, wherever it falls:
        programme spending and the ledger's costs such as tax deductions (all payers, or one payer)."""
        return float(self.cost_by_payer.sum() if payer is None else self.cost_by_payer[PAYERS.index(payer)])

    def booked(self, item: str) -> float:
        """Yen of one ledger item (`model.levers.base.LEDGER`) over the run, for the levers acting in
        the view's regions, wherever it falls."""
        return float(self.ledger_totals[LEDGER_INDEX[item]])

    def paid_for(self, item: str) -> float:
        """What the spending of the levers acting in the view's regions paid for over the run, in real
        units: one `model.levers.base.COUNTS` item (cases, persons, children, trips, days)."""
        return float(self.count_totals[COUNT_INDEX[item]])


def _share(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _payer_outcome(payer: str, ja: str) -> Outcome:
    return Outcome(f"spending_{payer}_yen", f"政策支出・{ja}（累計・円）", f"spending borne by the {payer} level, yen",
                   lambda v: v.spent(payer))


def _ledger_outcome(name: str, ja: str, description: str) -> Outcome:
    return Outcome(f"{name}_yen", f"{ja}（累計・円）", f"{description}, over the run, yen", lambda v: v.booked(name))


LEDGER_OUTCOMES = tuple(f"{item.name}_yen" for item in LEDGER)


OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("final_engaged", "関係人口（期末）",
            "関係人口 at the end: people ENGAGED or in DUAL residence (related to the regions)",
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
            "step's end × step length",
            lambda v: float(v.engaged()[1:].sum() * v.dt)),
    Outcome("adults_final", "成人人口（期末）", "adults living in the regions at the end",
            lambda v: float(v.adults()[-1])),
    Outcome("rural_adults_final", "地方の成人人口（期末）", "adults living in rural (non-metro) regions at the end",
            lambda v: float(v.adults(rural_only=True)[-1])),
    Outcome("rural_adults_change", "地方の成人人口の増減", "rural adults at the end minus at the start",
            lambda v: float(v.adults(rural_only=True)[-1] - v.adults(rural_only=True)[0])),
    Outcome("general_moves_total", "一般移動（累計）",
            "general moves between regions over the run (job, metro, retirement and return moves; not the "
            "relationship ladder)", lambda v: v.flow_total(Flow.MIGRATE)),
    Outcome("metro_moves_total", "大都市圏への移動（累計）",
            "general moves up the urban hierarchy over the run (migration kind metro)",
            lambda v: v.flow_total(Flow.METRO_MOVE)),
    Outcome("return_moves_total", "Uターン（累計）", "general moves back to the birth region over the run",
            lambda v: v.flow_total(Flow.RETURN_MOVE)),
    Outcome("tokyo_area_net_inmigration_per_year", "東京圏の転入超過数（年平均）",
            "net in-migration of adults to 東京圏 (codes 11–14) per complete calendar year, averaged over the "
            "complete calendar years of the run (NaN if none); general moves and the ladder's",
            lambda v: v.area_net_per_year("東京圏")),
    Outcome("spending_yen", "政策支出（累計・円）",
            "public cost of the levers over the run, all payers, yen: programme spending and tax deductions, "
            "wherever they fall", lambda v: v.spent()),
    _payer_outcome("national", "国"),
    _payer_outcome("prefecture", "都道府県"),
    _payer_outcome("municipality", "市町村"),
    *(_ledger_outcome(item.name, item.ja, item.description) for item in LEDGER),
    Outcome("net_public_cost_yen", "純公費負担（累計・円）",
            "spending_yen − net_revenue_yen: the public cost less what recipient regions keep, yen",
            lambda v: v.spent() - v.booked("net_revenue")),
    Outcome("relocation_grant_cases", "移住支援金の件数（累計・世帯）",
            "移住支援金 cases paid over the run: one per household (a couple's two adults make one case)",
            lambda v: v.paid_for("cases")),
    Outcome("relocation_grant_persons", "移住支援金の対象人数（累計）",
            "persons covered by the 移住支援金 cases paid over the run, adults and children",
            lambda v: v.paid_for("persons")),
    Outcome("subsidised_trips", "補助対象の往復（累計）",
            "round trips of participants paid by a travel subsidy or ふるさと住民登録 Premium perks over the run",
            lambda v: v.paid_for("trips")),
    Outcome("municipalities_adopting_final", "関係人口に取り組む市町村（期末）",
            "municipalities working on 関係人口 at the end (the national KPI)",
            lambda v: float(v.kpis[-1, :, KPI.MUNICIPALITIES_ADOPTING].sum())),
)}


def check_outcomes(names: list[str]) -> None:
    """Raise KeyError naming the allowed outcomes if any of `names` is not registered."""
    unknown = [n for n in names if n not in OUTCOMES]
    if unknown:
        raise KeyError(f"unknown outcome(s) {unknown}; allowed: {', '.join(OUTCOMES)}")


def summarise(model, names: list[str] | None = None, regions: np.ndarray | None = None) -> dict[str, float]:
    """Run-level outcomes of a finished model, `{name: value}` (default: every outcome), nationally
    or within the boolean mask `regions`."""
    names = list(names or OUTCOMES)
    check_outcomes(names)
    view = RunView(model, regions)
    return {n: float(OUTCOMES[n].fn(view)) for n in names}


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
    blocks = {s.name.lower(): view.by_target[:, :, int(s), :].sum(axis=2) for s in STOCKS}
    blocks["adults"] = view.by_home.sum(axis=2)
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
        blocks[f"flow_{f.name.lower()}"] = np.stack([flows[fy == y, :, int(f)].sum(axis=0) for y in years])
    spend = view.spending[1:].sum(axis=1)                               # (T, R) yen
    blocks["spending_yen"] = np.stack([spend[fy == y].sum(axis=0) for y in years])
    for s in STOCKS:
        blocks[s.name.lower()] = view.by_target[ends, :, int(s), :].sum(axis=2)
    blocks["adults"] = view.by_home[ends].sum(axis=2)
    return _block("yearly", blocks, {"year": years}, view.codes, by_region)


def summary(values: dict[str, float]) -> Block:
    """Run-level outcomes as rows: output='summary', variable=<outcome>, value."""
    return Block("summary", list(values), np.arange(len(values)), np.array(list(values.values()), dtype=float),
                 {k: None for k in KEY_COLUMNS})


def records(model, keep: list[str], by_region: bool, outcomes: list[str] | None = None
            ) -> tuple[Records, dict[str, float]]:
    """The tidy rows a sweep keeps for one finished run, and its run-level outcomes."""
    view = RunView(model)
    names = list(outcomes or OUTCOMES)
    check_outcomes(names)
    values = {n: float(OUTCOMES[n].fn(view)) for n in names}
    parts = []
    if "time_series" in keep:
        parts.append(time_series(view, by_region))
    if "yearly" in keep:
        parts.append(yearly(view, by_region))
    if "summary" in keep:
        parts.append(summary(values))
    return Records(parts), values
