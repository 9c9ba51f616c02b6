"""Municipal adoption (関係人口に取り組む自治体): how many municipalities run 関係人口 programmes.

The national KPI of the 2nd-phase 総合戦略 counts them (1,000 by FY2024; 1,261 in FY2021). Each
region holds its number of municipalities and how many have adopted; the rest adopt with a yearly
hazard base_rate + neighbour_rate · (travel-time-weighted adopting share elsewhere) + lever support
(national model projects and the platform: 横展開). Draws are counter-based: each step one uniform per waiting municipality, keyed by its
region and its rank among the region's waiting municipalities.
"""

from __future__ import annotations

import numpy as np

from model.parameters import AdoptionSettings
from model.codes import Decision
from model.population import Draws
from model.regions import RegionTable, Travel

class MunicipalAdoption:
    """Adopting municipalities per region, advanced each step."""

    def __init__(self, table: RegionTable, travel: Travel, settings: AdoptionSettings) -> None:
        self.settings = settings
        self.total = table.municipalities.astype(np.int64)
        self.adopting = np.rint(settings.initial_share * self.total).astype(np.int64)
        w = np.exp(-travel.hours / settings.neighbour_hours)
        np.fill_diagonal(w, 0.0)
        self.neighbour_weights = w / w.sum(axis=1, keepdims=True)

    @property
    def reach(self) -> np.ndarray:
        """(R,) share of each region's municipalities running programmes."""
        return self.adopting / self.total

    def step(self, draws: Draws, step: int, dt: float, extra_rate: np.ndarray) -> None:
        """Let non-adopting municipalities adopt during one step."""
        s = self.settings
        rate = s.base_rate + s.neighbour_rate * (self.neighbour_weights @ self.reach) + extra_rate
        p = 1.0 - np.exp(-rate * dt)
        waiting = self.total - self.adopting
        if waiting.sum() == 0:
            return
        region = np.repeat(np.arange(len(self.total)), waiting)
        rank = np.arange(waiting.sum()) - np.repeat(np.cumsum(waiting) - waiting, waiting)
        ids = region * 100_000 + rank  # municipality slot within its region
        adopt = draws.u(step, Decision.ADOPTION, ids) < p[region]
        self.adopting += np.bincount(region[adopt], minlength=len(self.total))
