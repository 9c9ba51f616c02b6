"""Policy levers (政策レバー): objects that change the kernel's inputs, never the kernel itself.

A lever is active in a month range and a set of regions. While active it changes per-region
inputs that the kernel reads each step; today these are the hazard multipliers `rate[r, k]`.
"""

from __future__ import annotations

import numpy as np

from model.parameters import HazardMultiplier, ScenarioConfig, ScenarioError
from model.regions import RegionTable
from model.stages import N_TRANSITIONS, Transition


def region_mask(selector: str | list[int], table: RegionTable, source: str, key: str) -> np.ndarray:
    """Boolean mask of the regions a lever names ('all', 'metro', 'rural' or JIS codes)."""
    if selector == "all":
        return np.ones(table.n, dtype=bool)
    if selector == "metro":
        return table.is_metro.copy()
    if selector == "rural":
        return ~table.is_metro
    mask = np.zeros(table.n, dtype=bool)
    for code in selector:
        try:
            mask[table.index_of(code)] = True
        except KeyError:
            raise ScenarioError(source, key, f"unknown region code {code}; the region table has codes "
                                f"{int(table.codes.min())}–{int(table.codes.max())}") from None
    return mask


class LeverSet:
    """The scenario's levers, resolved against the region table."""

    def __init__(self, config: ScenarioConfig, table: RegionTable, source: str) -> None:
        self.levers: list[tuple[HazardMultiplier, np.ndarray]] = [
            (lever, region_mask(lever.regions, table, source, f"levers.{i}.regions"))
            for i, lever in enumerate(config.levers)
        ]
        self.n_regions = table.n

    def hazard_multipliers(self, month: str) -> np.ndarray:
        """`(regions, transitions)` multipliers in force in `month` (YYYY-MM); 1 where no lever acts."""
        mult = np.ones((self.n_regions, N_TRANSITIONS))
        for lever, mask in self.levers:
            if lever.start <= month <= lever.end:
                mult[mask, Transition[lever.transition.upper()]] *= lever.factor
        return mult
