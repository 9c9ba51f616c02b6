"""Run outputs (出力): per-step tallies kept as arrays and turned into tidy pandas frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.stages import N_FLOWS, N_STAGES, N_TYPES, EngagementType, Flow, Stage

VISIT_DAY_BINS = (0, 1, 3, 6, 12, 24, 60)
VISIT_DAY_LABELS = ("0", "1-2", "3-5", "6-11", "12-23", "24-59", "60+")
_TYPED = (Stage.ENGAGED, Stage.DUAL)


class History:
    """Tallies for steps 0..n_steps: by report region, by home region, flows, visit-day distributions."""

    def __init__(self, n_steps: int, n_regions: int, dates: pd.DatetimeIndex, codes: np.ndarray,
                 people_per_agent: float) -> None:
        self.by_target = np.zeros((n_steps + 1, n_regions, N_STAGES, N_TYPES), dtype=np.int64)
        self.by_home = np.zeros((n_steps + 1, n_regions, N_STAGES), dtype=np.int64)
        self.flows = np.zeros((n_steps + 1, n_regions, N_FLOWS), dtype=np.int64)
        self.visit_day_rows: list[tuple[int, str, str, int]] = []
        self.dates = dates
        self.codes = codes
        self.scale = people_per_agent
        self.last = 0

    def record(self, step: int, by_target: np.ndarray, by_home: np.ndarray, flows: np.ndarray) -> None:
        """Store the tallies after `step` steps."""
        self.by_target[step] = by_target
        self.by_home[step] = by_home
        self.flows[step] = flows
        self.last = step

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
                "people": values.ravel() * self.scale,
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
            "people": cube.ravel() * self.scale,
        })
        return self._finish(df, ["step", "region", "flow"], {"flow": [f.name for f in Flow]})

    def population_frame(self) -> pd.DataFrame:
        """Adults living in each region: step, date, region, adults."""
        steps = self._steps()
        adults = self.by_home[: self.last + 1].sum(axis=2)
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes)),
            "region": np.tile(self.codes, len(steps)),
            "adults": adults.ravel() * self.scale,
        })
        return self._finish(df, ["step", "region"], {})

    def visit_days_frame(self) -> pd.DataFrame:
        """Visit-days per person-year: fiscal_year, stage, days, people (people in each bin)."""
        df = pd.DataFrame(self.visit_day_rows, columns=["fiscal_year", "stage", "days", "people"])
        df["people"] = df["people"] * self.scale
        df["days"] = pd.Categorical(df["days"], categories=list(VISIT_DAY_LABELS), ordered=True)
        df["stage"] = pd.Categorical(df["stage"], categories=[s.name for s in Stage if s != Stage.DEAD])
        return df

    def _finish(self, df: pd.DataFrame, order: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
        df.insert(1, "date", self.dates[df["step"].to_numpy()])
        for col, cats in categories.items():
            df[col] = pd.Categorical(df[col], categories=cats)
        return df.sort_values(order, kind="stable").reset_index(drop=True)
