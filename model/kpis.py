"""The seed's local KPIs (評価指標) per step and region, beyond the stage counts.

例1 SMEs hosting side-job workers; 例2 people continuously engaged for 12 months or more (yearly,
at each fiscal-year end, counted by `close_year`); 例3 residents' pride in the region; 例4 visitor spending in the region
and the paired sender-region indicator. The conversion sizes are assumptions (OutcomeSettings).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from model.codes import N_CLASSES, class_type
from model.parameters import OutcomeSettings
from model.stages import N_STAGES, EngagementType, Stage
from model.units import Scale


DEAD, ENGAGED, DUAL = int(Stage.DEAD), int(Stage.ENGAGED), int(Stage.DUAL)


class KPI(IntEnum):
    """The KPIs kept per step and region, by name (the column index of `History.kpis`)."""

    MUNICIPALITIES_ADOPTING = 0   # 関係人口に取り組む市町村 (national KPI)
    SMES_HOSTING = 1              # 例1: 副業人材を受け入れる中小企業
    ENGAGED_VISIT_DAYS = 2        # visit-days made in the region by ENGAGED/DUAL outsiders
    VISITOR_SPENDING_YEN = 3      # 例4: spending in the region by all visitors
    SENT_VISIT_DAYS = 4           # 例4 (paired): visit-days residents of the region make elsewhere
    PRIDE = 5                     # 例3: residents' pride index, 0–1


KPI_NAMES = tuple(k.name.lower() for k in KPI)
ENGAGED_CLASSES = np.array([class_type(c) != EngagementType.NONE for c in range(N_CLASSES)])


class KPITracker:
    """Computes the KPIs (in real people and yen); keeps the pride index, which has memory."""

    def __init__(self, settings: OutcomeSettings, adults: np.ndarray, scale: Scale,
                 initial_contact: np.ndarray) -> None:
        self.s = settings
        self.adults = np.maximum(adults, 1.0)
        self.scale = scale
        rate = settings.pride_gain * initial_contact
        total = rate + settings.pride_decay
        self.pride = np.divide(rate, total, out=np.zeros_like(rate), where=total > 0)

    def contact(self, visit_pairs: np.ndarray, dt: float) -> np.ndarray:
        """Engaged outsiders' visit-days per resident-year in each region."""
        if dt <= 0:
            return np.zeros_like(self.adults)
        days = self.scale.people(visit_pairs[ENGAGED_CLASSES].sum(axis=(0, 1)))
        return days / self.adults / dt

    def step(self, by_target: np.ndarray, visit_pairs: np.ndarray, adopting: np.ndarray, dt: float) -> np.ndarray:
        """(R, len(KPI)) KPI values after a step; advances pride by dt (exactly, for constant contact)."""
        s = self.s
        c = self.contact(visit_pairs, dt)
        rate = s.pride_gain * c + s.pride_decay
        eq = np.divide(s.pride_gain * c, rate, out=np.zeros_like(rate), where=rate > 0)
        self.pride = eq + (self.pride - eq) * np.exp(-rate * dt)
        work = by_target[:, Stage.ENGAGED, EngagementType.WORK] + by_target[:, Stage.DUAL, EngagementType.WORK]
        all_days = self.scale.people(visit_pairs.sum(axis=(0, 1)))
        out = np.empty((len(adopting), len(KPI)))
        out[:, KPI.MUNICIPALITIES_ADOPTING] = adopting
        out[:, KPI.SMES_HOSTING] = self.scale.people(work) / s.workers_per_hosting_sme
        out[:, KPI.ENGAGED_VISIT_DAYS] = self.scale.people(visit_pairs[ENGAGED_CLASSES].sum(axis=(0, 1)))
        out[:, KPI.VISITOR_SPENDING_YEN] = all_days * s.spend_per_visit_day_yen
        out[:, KPI.SENT_VISIT_DAYS] = self.scale.people(visit_pairs.sum(axis=(0, 2)))
        out[:, KPI.PRIDE] = self.pride
        return out


def initial_contact(by_target: np.ndarray, visit_rate: np.ndarray, adults: np.ndarray, scale: Scale) -> np.ndarray:
    """Expected engaged outsiders' visit-days per resident-year at the start (sets the initial pride)."""
    days = sum(by_target[:, s, :] @ visit_rate[s] for s in (Stage.ENGAGED, Stage.DUAL))
    return scale.people(days) / np.maximum(adults, 1.0)


@njit(cache=True)
def close_year(stage: np.ndarray, target: np.ndarray, steps_in_stage: np.ndarray, visit_days: np.ndarray,
               steps_per_year: int, n_regions: int) -> np.ndarray:
    """One pass at a fiscal-year end: 例2 by region, and the visit-day counters set back to zero.

    例2 counts people ENGAGED or DUAL toward a region for at least 12 months (a stage change resets it).
    Serial on purpose: a parallel pass would start Numba's threads outside the kernel, where the
    fork guard (`model.forksafety`) does not reach.
    """
    continuing = np.zeros(n_regions, dtype=np.int64)
    for j in range(stage.shape[0]):
        i = np.uint64(j)  # unsigned: no negative-index wraparound per access
        s = stage[i]
        if s == DEAD:
            continue
        if (s == ENGAGED or s == DUAL) and steps_in_stage[i] >= steps_per_year:
            continuing[np.uint64(target[i])] += 1
        visit_days[i] = 0
    return continuing
