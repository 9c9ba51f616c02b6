"""Run outputs (出力): per-step tallies kept as arrays and turned into tidy pandas frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.kpis import KPI, KPI_NAMES
from model.levers.base import PAYERS
from model.stages import N_FLOWS, N_STAGES, N_TYPES, EngagementType, Flow, Stage
from model.units import Scale

VISIT_DAY_BINS = (0, 1, 3, 6, 12, 24, 60)
VISIT_DAY_LABELS = ("0", "1-2", "3-5", "6-11", "12-23", "24-59", "60+")
_TYPED = (Stage.ENGAGED, Stage.DUAL)


class History:
    """Tallies for steps 0..n_steps: by report region, by home region, flows, visit-day distributions.

    Counts are stored in simulated persons and leave through the units boundary (`scale`): every
    frame and the `people_*` accessors are in real people. Spending and revenue are in yen.
    """

    def __init__(self, n_steps: int, n_regions: int, dates: pd.DatetimeIndex, codes: np.ndarray,
                 scale: Scale, lever_labels: list[str], lever_kinds: list[str],
                 payer_shares: np.ndarray) -> None:
        self.by_target = np.zeros((n_steps + 1, n_regions, N_STAGES, N_TYPES), dtype=np.int64)
        self.by_home = np.zeros((n_steps + 1, n_regions, N_STAGES), dtype=np.int64)
        self.flows = np.zeros((n_steps + 1, n_regions, N_FLOWS), dtype=np.int64)
        self.kpis = np.zeros((n_steps + 1, n_regions, len(KPI)))
        self.spending = np.zeros((n_steps + 1, len(lever_labels), n_regions))
        self.revenue = np.zeros((n_steps + 1, len(lever_labels), n_regions))
        self.lever_labels = lever_labels
        self.lever_kinds = lever_kinds
        self.payer_shares = payer_shares
        self.visit_day_rows: list[tuple[int, str, str, int]] = []
        self.continuity_rows: list[tuple[int, int, float]] = []
        self.dates = dates
        self.codes = codes
        self.scale = scale
        self.settlers_to_date = 0     # SETTLE flows so far, simulated persons
        self.last = 0

    def record(self, step: int, by_target: np.ndarray, by_home: np.ndarray, flows: np.ndarray,
               kpis: np.ndarray, spending: np.ndarray | None = None, revenue: np.ndarray | None = None) -> None:
        """Store the tallies after `step` steps (spending and revenue in yen, per lever and region)."""
        self.by_target[step] = by_target
        self.by_home[step] = by_home
        self.flows[step] = flows
        self.kpis[step] = kpis
        if step > 0:
            self.settlers_to_date += int(flows[:, Flow.SETTLE].sum())
        if spending is not None:
            self.spending[step] = spending
            self.revenue[step] = revenue
        self.last = step

    def record_continuity(self, fiscal_year: int, counts: np.ndarray) -> None:
        """例2: people continuously engaged for 12 months or more at a fiscal-year end, by region."""
        for code, c in zip(self.codes, counts):
            self.continuity_rows.append((fiscal_year, int(code), float(self.scale.people(c))))

    def record_visit_days(self, fiscal_year: int, stage: np.ndarray, days: np.ndarray) -> None:
        """Distribution of visit-days over the fiscal year that just ended, by stage at its end."""
        bins = np.digitize(days, VISIT_DAY_BINS) - 1
        for s in Stage:
            if s in (Stage.DEAD, Stage.NONE):
                continue
            counts = np.bincount(bins[stage == s], minlength=len(VISIT_DAY_BINS))
            for b, c in enumerate(counts):
                self.visit_day_rows.append((fiscal_year, s.name, VISIT_DAY_LABELS[b], int(c)))

    def _steps(self) -> np.ndarray:
        return np.arange(self.last + 1)

    # --- real people, steps 0..last (index k: the state at boundary k, or the flows of step k-1 → k) --
    def people_by_home(self) -> np.ndarray:
        """(steps, R, stages) living people by home region."""
        return self.scale.people(self.by_home[: self.last + 1])

    def people_by_target(self) -> np.ndarray:
        """(steps, R, stages, types) living people by report region (the target for VISITOR/ENGAGED/DUAL)."""
        return self.scale.people(self.by_target[: self.last + 1])

    def people_flows(self) -> np.ndarray:
        """(steps, R, flows) people who made each flow in the step ending at the boundary (row 0 is zero)."""
        return self.scale.people(self.flows[: self.last + 1])

    def kpi(self, kpi: KPI) -> np.ndarray:
        """(steps, R) values of one KPI (already in real people or yen)."""
        return self.kpis[: self.last + 1, :, kpi]

    def spending_by_lever(self) -> np.ndarray:
        """(steps, levers, R) spending in yen (row 0 is zero)."""
        return self.spending[: self.last + 1]

    def stages_frame(self, by: str = "target") -> pd.DataFrame:
        """Tidy people by stage and type: step, date, region, stage, type, people."""
        steps = self._steps()
        frames = []
        if by == "target":
            combos = [(s, EngagementType.NONE) for s in (Stage.NONE, Stage.VISITOR, Stage.SETTLED)]
            combos += [(s, k) for s in _TYPED for k in list(EngagementType)[1:]]
            cube = self.by_target
        elif by == "home":
            combos = [(s, EngagementType.NONE) for s in Stage if s != Stage.DEAD]
            cube = self.by_home[..., None]
        else:
            raise ValueError(f"by must be 'target' or 'home', got {by!r}")
        for s, k in combos:
            values = cube[: self.last + 1, :, s, k if by == "target" else 0]
            frames.append(pd.DataFrame({
                "step": np.repeat(steps, len(self.codes)),
                "region": np.tile(self.codes, len(steps)),
                "stage": s.name,
                "type": k.name,
                "people": self.scale.people(values.ravel()),
            }))
        df = pd.concat(frames, ignore_index=True)
        return self._finish(df, ["step", "region", "stage", "type"], {"stage": [s.name for s in Stage if s != Stage.DEAD],
                                                                  "type": [k.name for k in EngagementType]})

    def flows_frame(self) -> pd.DataFrame:
        """Tidy flows per step and region: step, date, region, flow, people (step 0 has none)."""
        steps = self._steps()[1:]
        cube = self.flows[1: self.last + 1]
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes) * N_FLOWS),
            "region": np.tile(np.repeat(self.codes, N_FLOWS), len(steps)),
            "flow": np.tile([f.name for f in Flow], len(steps) * len(self.codes)),
            "people": self.scale.people(cube.ravel()),
        })
        return self._finish(df, ["step", "region", "flow"], {"flow": [f.name for f in Flow]})

    def population_frame(self) -> pd.DataFrame:
        """Adults living in each region: step, date, region, adults."""
        steps = self._steps()
        adults = self.by_home[: self.last + 1].sum(axis=2)
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes)),
            "region": np.tile(self.codes, len(steps)),
            "adults": self.scale.people(adults.ravel()),
        })
        return self._finish(df, ["step", "region"], {})

    def kpi_frame(self) -> pd.DataFrame:
        """Tidy KPIs per step and region: step, date, region, kpi, value."""
        steps = self._steps()
        n_k = len(KPI_NAMES)
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes) * n_k),
            "region": np.tile(np.repeat(self.codes, n_k), len(steps)),
            "kpi": np.tile(list(KPI_NAMES), len(steps) * len(self.codes)),
            "value": self.kpis[: self.last + 1].ravel(),
        })
        return self._finish(df, ["step", "region", "kpi"], {"kpi": list(KPI_NAMES)})

    def continuity_frame(self) -> pd.DataFrame:
        """例2 per fiscal year and region: fiscal_year, region, people."""
        return pd.DataFrame(self.continuity_rows, columns=["fiscal_year", "region", "people"])

    def spending_frame(self) -> pd.DataFrame:
        """Spending by lever, region and payer per step (yen; rows with spending only)."""
        rows = []
        cube = self.spending[: self.last + 1]
        for step, lever, region in zip(*np.nonzero(cube)):
            yen = cube[step, lever, region]
            for p, payer in enumerate(PAYERS):
                share = self.payer_shares[lever, p]
                if share > 0:
                    rows.append((step, self.lever_labels[lever], self.lever_kinds[lever], self.codes[region],
                                 payer, yen * share))
        df = pd.DataFrame(rows, columns=["step", "lever", "kind", "region", "payer", "yen"])
        df["step"] = df["step"].astype(np.int64)
        return self._finish(df, ["step", "lever", "region", "payer"], {"payer": list(PAYERS)})

    def revenue_frame(self) -> pd.DataFrame:
        """Revenue to regions because of a lever (e.g. ふるさと納税) per step: step, date, lever, region, yen."""
        cube = self.revenue[: self.last + 1]
        idx = np.nonzero(cube)
        df = pd.DataFrame({"step": idx[0].astype(np.int64), "lever": [self.lever_labels[i] for i in idx[1]],
                           "region": self.codes[idx[2]], "yen": cube[idx]})
        return self._finish(df, ["step", "lever", "region"], {})

    def visit_days_frame(self) -> pd.DataFrame:
        """Visit-days per person-year: fiscal_year, stage, days, people (people in each bin)."""
        df = pd.DataFrame(self.visit_day_rows, columns=["fiscal_year", "stage", "days", "people"])
        df["people"] = self.scale.people(df["people"])
        df["days"] = pd.Categorical(df["days"], categories=list(VISIT_DAY_LABELS), ordered=True)
        df["stage"] = pd.Categorical(df["stage"], categories=[s.name for s in Stage if s != Stage.DEAD])
        return df

    def _finish(self, df: pd.DataFrame, order: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
        df.insert(1, "date", self.dates[df["step"].to_numpy()])
        for col, cats in categories.items():
            df[col] = pd.Categorical(df[col], categories=cats)
        return df.sort_values(order, kind="stable").reset_index(drop=True)
