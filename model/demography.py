"""Demography (人口動態): mortality by age and the yearly cohort of new 18-year-olds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.kernel import MAX_AGE
from model.parameters import DemographySettings
from model.regions import RegionTable
from model.units import Scale

ADULT_AGE = 18


def mortality_table(settings: DemographySettings) -> np.ndarray:
    """Yearly mortality hazard μ(x) = a·e^(b·x) for integer ages 0..MAX_AGE (zero when disabled)."""
    ages = np.arange(MAX_AGE + 1, dtype=float)
    if not settings.enabled:
        return np.zeros_like(ages)
    return settings.gompertz_a * np.exp(settings.gompertz_b * ages)


def cohort_per_year(table: RegionTable) -> np.ndarray:
    """18-year-olds per year by region at the start: the first age band divided by its width."""
    lo, hi = table.bands[0]
    return table.population[:, 0] / (hi - lo + 1)


def new_adults_expected(table: RegionTable, settings: DemographySettings, years_elapsed: float,
                        dt: float, scale: Scale) -> np.ndarray:
    """Expected new simulated persons per region in one step (the cohort trend compounds continuously)."""
    if not settings.enabled:
        return np.zeros(table.n)
    trend = (1.0 + settings.new_adult_trend_per_year) ** years_elapsed
    return scale.agents(cohort_per_year(table) * trend * dt)


def years_elapsed(dates: pd.DatetimeIndex, k: int) -> float:
    """Years from the run's start to the start of step k (calendar days ÷ 365.2425)."""
    return (dates[k] - dates[0]).days / 365.2425


def new_adults_over_run(table: RegionTable, settings: DemographySettings, dates: pd.DatetimeIndex,
                        dt: float, scale: Scale) -> float:
    """Expected new simulated persons over the whole run (steps 1..len(dates) − 1): the slots the
    people arrays reserve beside the initial population, so that they need not grow during a run."""
    return float(sum(new_adults_expected(table, settings, years_elapsed(dates, k), dt, scale).sum()
                     for k in range(1, len(dates))))
