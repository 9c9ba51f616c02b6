"""General migration (一般的な人口移動): moves of home that are not the relationship ladder.

Four kinds of move (`MoveKind`), each with a Rogers–Castro age profile and its own destination rule:

* JOB     転職・転勤など     any resident; destinations by gravity among all regions, adults^α_job·e^(−β·hours)
* METRO   大都市圏への移動   young adults, up the urban hierarchy: destinations the larger regions by
                             adults^α_metro·e^(−β·hours) (generalises the former youth outflow)
* RETIRE  退職移動           any resident; destinations by gravity with a rural weight
* RETURN  Uターン            people living outside their birth region; the destination is the birth region

The kernel reads three tables per step (`RegionInputs`): the hazards of a person by home region and
whole year of age (`migrate_hazard`), the same by kind for the kind draw (`migrate_kind`), and the
cumulative destination rows of the three gravity kinds (`migrate_cum`). This module builds them; the
period effect (時代効果, e.g. COVID-19 in 2020–21) multiplies each kind's rate by calendar year.
"""

from __future__ import annotations

import numpy as np

from model.codes import N_GRAVITY_KINDS, MoveKind
from model.kernel import MAX_AGE
from model.parameters import MOVE_KINDS, ScenarioConfig
from model.regions import RegionTable, Travel, cumulative


N_KINDS = len(MoveKind)
assert tuple(k.name.lower() for k in MoveKind) == MOVE_KINDS

# areas of 住民基本台帳人口移動報告 (三大都市圏): the region table's metro_area column
AREAS = {"tokyo": "東京圏", "nagoya": "名古屋圏", "osaka": "大阪圏", "none": "その他"}


def _peak_normalised(f, lo: float = 18.0, hi: float = 100.0) -> np.ndarray:
    """f at whole ages 0..MAX_AGE (evaluated mid-year, age + 0.5), divided by its peak over [lo, hi]."""
    peak = f(np.linspace(lo, hi, 821)).max()
    ages = np.arange(MAX_AGE + 1) + 0.5
    return f(ages) / peak if peak > 0 else np.zeros(MAX_AGE + 1)


def age_profiles(cfg: ScenarioConfig) -> np.ndarray:
    """(kinds, MAX_AGE + 1) age profile of each kind, 1 at its peak over ages 18–100.

    JOB:    labour-force component + constant, m(x) = a2·exp(−α2(x−μ2) − e^(−λ2(x−μ2))) + c
    METRO:  the labour-force component alone (young adults; no constant)
    RETURN: JOB's profile shifted `return_age_shift_years` later
    RETIRE: the retirement component, exp(−α3(x−μ3) − e^(−λ3(x−μ3)))
    """
    pr, mg = cfg.propensity, cfg.migration

    def labour(x: np.ndarray) -> np.ndarray:
        z = x - pr.rc_labour_peak
        return pr.rc_labour_amplitude * np.exp(-pr.rc_labour_decay * z - np.exp(-pr.rc_labour_rise * z))

    def retire(x: np.ndarray) -> np.ndarray:
        z = x - mg.retire_peak
        return np.exp(-mg.retire_decay * z - np.exp(-mg.retire_rise * z))

    out = np.zeros((N_KINDS, MAX_AGE + 1))
    out[MoveKind.JOB] = _peak_normalised(lambda x: labour(x) + pr.rc_constant)
    out[MoveKind.METRO] = _peak_normalised(labour)
    out[MoveKind.RETURN] = _peak_normalised(lambda x: labour(x - mg.return_age_shift_years) + pr.rc_constant)
    out[MoveKind.RETIRE] = _peak_normalised(retire)
    return out


def destination_weights(table: RegionTable, travel: Travel, cfg: ScenarioConfig) -> np.ndarray:
    """(gravity kinds, R, R) destination weights, home excluded:

    JOB:    W_hd = adults_d^α_job · e^(−β_job·hours_hd)
    METRO:  W_hd = adults_d^α_metro · e^(−β_metro·hours_hd) if adults_d > adults_h, else 0
    RETIRE: W_hd = adults_d^α_ret · e^(−β_ret·hours_hd) · (w_rural if d is rural)
    """
    mg = cfg.migration
    adults = table.adults
    w = np.zeros((N_GRAVITY_KINDS, table.n, table.n))
    w[MoveKind.JOB] = adults[None, :] ** mg.job_population_exponent * np.exp(
        -mg.job_time_decay_per_hour * travel.hours)
    larger = adults[None, :] > adults[:, None]
    w[MoveKind.METRO] = larger * adults[None, :] ** mg.metro_population_exponent * np.exp(
        -mg.metro_time_decay_per_hour * travel.hours)
    rural = np.where(table.is_metro, 1.0, mg.retire_rural_weight)
    w[MoveKind.RETIRE] = (rural * table.adults ** mg.retire_population_exponent)[None, :] * np.exp(
        -mg.retire_time_decay_per_hour * travel.hours)
    idx = np.arange(table.n)
    w[:, idx, idx] = 0.0
    return w


def destinations(table: RegionTable, travel: Travel, cfg: ScenarioConfig) -> np.ndarray:
    """(gravity kinds, R, R) cumulative destination rows (the kernel's `migrate_cum`); the largest
    region's METRO row is empty (it has no larger region: its people make no METRO moves)."""
    return np.stack([cumulative(w) for w in destination_weights(table, travel, cfg)])


class MigrationTables:
    """The per-region hazard tables of general migration, rebuilt when the calendar year or the levers'
    multiplier of MIGRATE change.

    base[k, h, x] = rate_k · open_k(h) · profile_k(x); open_k(h) = 0 where the kind's destination row
    `cum[k, h]` has nowhere to go (METRO from the largest region), else 1. With period multipliers P_k(year) and the lever multiplier L(h) of MIGRATE:

        migrate_kind[h, k, x]  = P_k · L(h) · base[k, h, x]        (JOB, METRO, RETIRE)
        migrate_hazard[h, 0, x] = Σ_{k ≠ RETURN} migrate_kind[h, k, x]
        migrate_hazard[h, 1, x] = P_RETURN · L(h) · base[RETURN, h, x]  (added if birth ≠ home)
    """

    def __init__(self, table: RegionTable, cfg: ScenarioConfig, cum: np.ndarray) -> None:
        mg = cfg.migration
        self.settings = mg
        self.cum = cum
        profile = age_profiles(cfg)
        rates = np.array([mg.job_rate, mg.metro_rate, mg.retire_rate, mg.return_rate])
        open_ = np.ones((N_KINDS, table.n))
        open_[:N_GRAVITY_KINDS] *= cum[:, :, -1] == 1.0   # no move of a kind from a home with nowhere to go
        self.base = rates[:, None, None] * open_[:, :, None] * profile[:, None, :]   # (kinds, R, ages)

    def build(self, year: int, lever_mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(migrate_kind (R, 3, ages), migrate_hazard (R, 2, ages)) for calendar `year` and the levers'
        MIGRATE multiplier by home region `lever_mult` (R,)."""
        period = np.array(self.settings.period_multipliers(year))
        h = self.base * period[:, None, None] * lever_mult[None, :, None]          # (kinds, R, ages)
        kind = np.ascontiguousarray(h[:N_GRAVITY_KINDS].transpose(1, 0, 2))
        hazard = np.ascontiguousarray(np.stack([kind.sum(axis=1), h[MoveKind.RETURN]], axis=1))
        return kind, hazard


def region_areas(table: RegionTable) -> list[str]:
    """The 三大都市圏 area of each region (東京圏, 名古屋圏, 大阪圏 or その他), from its metro_area column."""
    return [AREAS[a] for a in table.metro_areas]
