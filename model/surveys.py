"""What the surveys measure (調査で比べる量): visit-day bands and the destination mix of ties.

MLIT's 関係人口 surveys report, among visiting 関係人口, how many days a year they spend in the
region they relate to (2023: about 49 % at 2–7 days, about half of 就労型 at 8 or more), and where
those regions are relative to home (2020: 三大都市圏 residents related to regions outside them, and
the reverse). `survey_tables` counts both from the people arrays in one pass at each fiscal-year
end, before the visit-day counters are reset; `History` turns them into tidy frames.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from model.regions import METRO_AREAS
from model.stages import N_STAGES, N_TYPES, Stage

# visit-days a year: 0, 1, 2–7 (the survey's most common band), 8–30, 31–99, 100+
VISIT_DAY_BINS = (0, 1, 2, 8, 31, 100)
VISIT_DAY_LABELS = ("0", "1", "2-7", "8-30", "31-99", "100+")
VISIT_DAY_EDGES = np.array(VISIT_DAY_BINS, dtype=np.int64)
HOME_KINDS = ("metro", "rural")        # 三大都市圏 / the rest, by the region table's `kind`


class Destination(IntEnum):
    """Where the region a person relates to lies, seen from their home (関係先の位置)."""

    SAME_PREFECTURE = 0    # another municipality of one's own prefecture
    SAME_METRO_AREA = 1    # another prefecture of one's own metro area (東京圏, 大阪圏, 名古屋圏)
    OTHER_METRO = 2        # a metro prefecture outside one's own metro area
    RURAL = 3              # a prefecture outside the three metro areas


N_DESTINATIONS = len(Destination)
VISITOR, DUAL, DEAD = int(Stage.VISITOR), int(Stage.DUAL), int(Stage.DEAD)


def area_codes(metro_areas: tuple[str, ...]) -> np.ndarray:
    """(R,) int64 metro-area code per region: 0 for "none", else 1 + the area's place in `METRO_AREAS`."""
    return np.array([0 if a == "none" else 1 + METRO_AREAS.index(a) for a in metro_areas], dtype=np.int64)


@njit(cache=True)
def survey_tables(stage: np.ndarray, etype: np.ndarray, home: np.ndarray, target: np.ndarray,
                  steps_in_stage: np.ndarray, visit_days: np.ndarray, is_metro: np.ndarray,
                  area: np.ndarray, band_edges: np.ndarray, steps_per_year: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the people at a fiscal-year end (unsigned indexes: no negative-index wraparound
    per access; serial, like `model.kpis.close_year`, so that only the kernel starts Numba's threads).

    Returns
      bands  (stages, types, home kinds, 2, bands): living people by their stage and type at the
             year's end, home kind (0 metro, 1 rural), whether they held the stage all year (index 1)
             and the band of their visit-days over the year (the last edge ≤ their days);
      mix    (R home, stages, destinations): VISITOR, ENGAGED and DUAL people by home region, stage
             and where their target lies (`Destination`).
    """
    n_regions = is_metro.shape[0]
    bands = np.zeros((N_STAGES, N_TYPES, 2, 2, band_edges.shape[0]), dtype=np.int64)
    mix = np.zeros((n_regions, N_STAGES, 4), dtype=np.int64)
    for j in range(stage.shape[0]):
        i = np.uint64(j)
        s = stage[i]
        if s == DEAD:
            continue
        h = np.uint64(home[i])
        days = visit_days[i]
        b = 0
        while b + 1 < band_edges.shape[0] and days >= band_edges[b + 1]:
            b += 1
        full = 1 if steps_in_stage[i] >= steps_per_year else 0
        bands[np.uint64(s), np.uint64(etype[i]), 0 if is_metro[h] else 1, full, b] += 1
        if s >= VISITOR and s <= DUAL:
            t = np.uint64(target[i])
            if t == h:
                d = 0
            elif area[h] != 0 and area[t] == area[h]:
                d = 1
            elif is_metro[t]:
                d = 2
            else:
                d = 3
            mix[h, np.uint64(s), d] += 1
    return bands, mix
