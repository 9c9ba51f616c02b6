"""Kernel inputs (カーネル入力): the scenario and the levers' effects turned into what the kernel reads.

`KernelInputs` is the public layer between the model and `model.kernel`: `RelationModel.step`,
the benchmarks and the plain-Mesa reference all get the kernel's structures from here.

* `tables` and `scalars` are fixed for the run (mortality, visit-days, type multipliers, ties...);
* `region` holds the per-region inputs of the current step: `fold(effects)` rebuilds it when the
  levers' effects change (the model caches the fold on `LeverSet.signature`), and `ration(demand)`
  sets this step's acceptance probabilities from last step's demand.

Capacities are kept in simulated persons per step through the units boundary (`model.units`).
"""

from __future__ import annotations

import numpy as np

from model.codes import N_CLASSES, cost_class
from model.demography import mortality_table
from model.kernel import ProgrammeInputs, RegionInputs, RunTables, Scalars
from model.levers.base import LeverEffects
from model.levers.programmes import ProgrammeRow
from model.parameters import ScenarioConfig
from model.population import visit_days_table, visit_rate_table
from model.migration import MigrationTables, destinations
from model.regions import Gravity, RegionTable, Travel, cumulative
from model.stages import N_STAGES, N_TRANSITIONS, N_TYPES, EngagementType, Stage, Transition
from model.units import Scale

# the type a deepening ENGAGED person moves to (直接寄与 is the deepest)
DEEPEN_NEXT = {
    EngagementType.NONE: EngagementType.NONE,
    EngagementType.HOBBY_CONSUMPTION: EngagementType.PARTICIPATION,
    EngagementType.PARTICIPATION: EngagementType.DIRECT_CONTRIBUTION,
    EngagementType.WORK: EngagementType.DIRECT_CONTRIBUTION,
    EngagementType.DIRECT_CONTRIBUTION: EngagementType.DIRECT_CONTRIBUTION,
}


def run_tables(cfg: ScenarioConfig) -> RunTables:
    """The kernel's tables that are fixed for a run."""
    tm = np.ones((N_TYPES, N_TRANSITIONS))
    for k in range(1, N_TYPES):
        tm[k, Transition.SETTLE] = tm[k, Transition.DUAL] = cfg.types.settle_mult[k - 1]
        tm[k, Transition.LAPSE_ENGAGED] = cfg.types.lapse_mult[k - 1]
    tm[EngagementType.DIRECT_CONTRIBUTION, Transition.DEEPEN] = 0.0  # the deepest type
    return RunTables(
        mortality=mortality_table(cfg.demography),
        visit_days=visit_days_table(cfg),
        type_mult=tm,
        type_weights=np.array((0.0, *cfg.types.weights)),
        deepen_next=np.array([DEEPEN_NEXT[k] for k in EngagementType], dtype=np.int8),
    )


def run_scalars(cfg: ScenarioConfig, key: np.uint64) -> Scalars:
    """The kernel's scalar parameters for a run with stream key `key`."""
    dt = cfg.run.dt
    return Scalars(
        key=key, dt=dt, yukari_bonus=cfg.choice.yukari_bonus,
        tie_keep=float(np.exp(-np.log(2.0) / cfg.ties.half_life_years * dt)),
        tie_gain=cfg.ties.gain_per_visit_day, kappa_engage=cfg.ties.kappa_engage,
        kappa_lapse=cfg.ties.kappa_lapse, work_mult_capable=cfg.types.work_mult_capable,
        work_mult_other=cfg.types.work_mult_other, dual_settle_factor=cfg.rates.dual_settle_factor,
        leave_floor_ratio=cfg.rates.leave_floor / cfg.rates.leave if cfg.rates.leave > 0 else 1.0,
        leave_decay_steps=cfg.rates.leave_decay_years * cfg.run.steps_per_year,
        leave_return_share=cfg.rates.leave_return_share,
    )


def programme_inputs(rows: list[ProgrammeRow], gravity: Gravity, n_regions: int, steps_per_year: int,
                     engage_cost_per_10k_yen: float = 0.0, lapse_cost_per_10k_yen: float = 0.0) -> ProgrammeInputs:
    """The kernel's programme table from the programmes' fixed rows (enrolment chances start at 0).

    A first contact's host is drawn from the no-lever gravity row of their home (class 0) restricted
    to the programme's hosts; a home with no host to reach gets no first contacts. A row's travel
    relief (yen of each round trip the programme pays) becomes its participants' cost-factor
    multipliers, exp(+engage coefficient · relief) on ENGAGE and exp(−lapse coefficient · relief) on
    the lapses (the kernel's cost factors, `RegionInputs.cost_engage`/`cost_lapse`, of the cost they
    no longer pay), and its yearly cap per participant becomes visit-days: cap ÷ (relief ÷ days per trip).
    """
    p, r = len(rows), n_regions
    cost_mult = np.ones((p, 2, r, r), dtype=np.float32)
    cap_days = np.full((p, r, r), np.inf, dtype=np.float32)
    day_slot = np.full(p, -1, dtype=np.int64)
    for q, row in enumerate(rows):
        if row.relief_yen is not None or row.cap_value_yen is not None:  # pays per visit-day
            day_slot[q] = day_slot.max() + 1
    for q, row in enumerate(rows):
        if row.relief_yen is not None:
            relief = row.relief_yen / 1e4
            cost_mult[q, 0] = np.exp(engage_cost_per_10k_yen * relief)
            cost_mult[q, 1] = np.exp(-lapse_cost_per_10k_yen * relief)
        value = row.cap_value_yen if row.cap_value_yen is not None else row.relief_yen
        if value is not None:
            per_day = value / row.days_per_trip
            with np.errstate(divide="ignore"):
                cap_days[q] = np.where(per_day > 0, row.cap_yen_per_year / per_day, np.inf)
    open_ = np.zeros((r, N_STAGES), dtype=np.uint8)
    host = np.zeros((p, r), dtype=np.uint8)
    host_cum = np.zeros((p, r, r))
    for q, row in enumerate(rows):
        host[q] = row.hosts
        weights = gravity.choice_p[0] * row.hosts[None, :]
        host_cum[q] = cumulative(weights)
        reachable = weights.sum(axis=1) > 0
        for s in range(N_STAGES):
            if row.stages[s]:
                homes = row.homes & (reachable if s == Stage.NONE else True)
                open_[homes, s] |= np.uint8(1 << q)
    return ProgrammeInputs(
        open_=open_,
        age_min=np.array([row.age_min for row in rows], dtype=float),
        age_max=np.array([row.age_max for row in rows], dtype=float),
        host=host, host_cum=host_cum,
        enrol=np.zeros((p, r)),
        entry_stage=np.array([int(row.entry_stage) for row in rows], dtype=np.int8),
        entry_type=np.array([int(row.entry_type) for row in rows], dtype=np.int8),
        duration=np.array([max(1, round(row.duration_months / 12 * steps_per_year)) for row in rows],
                          dtype=np.int64),
        mult=np.array([row.mult for row in rows], dtype=float).reshape(p, N_TRANSITIONS),
        visit_rate=np.array([row.visit_days_per_year for row in rows], dtype=float),
        classes=np.array([row.classes for row in rows], dtype=np.uint8).reshape(p, N_CLASSES),
        cost_mult=cost_mult, cap_days=cap_days, day_slot=day_slot,
    )


def class_visit_days(visit_rate: np.ndarray) -> np.ndarray:
    """(classes,) expected visit-days a year of a person of each cost class (VISITOR if untyped), from
    the (stages, types) visit-rate table."""
    days = np.zeros(N_CLASSES)
    for k in EngagementType:
        stage = Stage.ENGAGED if k else Stage.VISITOR
        for sidejob in (False, True):
            days[cost_class(k, sidejob)] = visit_rate[stage, k]
    return days


class KernelInputs:
    """Everything `kernel.advance` reads besides the people and the tallies.

    Args:
        config: the validated scenario.
        table, travel: the regions and the travel between them.
        key: the run's stream key.
        scale: the units boundary (capacities are rationed in simulated persons).
        programmes: the fixed rows of the scenario's programme levers, in slot order.
    """

    def __init__(self, config: ScenarioConfig, table: RegionTable, travel: Travel, key: np.uint64,
                 scale: Scale, programmes: list[ProgrammeRow] | None = None) -> None:
        self.config = config
        self.table = table
        self.travel = travel
        self.scale = scale
        self.tables = run_tables(config)
        #: (stages, types) mean visit-days a year over people (the levels' mean is exactly 1)
        self.mean_visit_days = visit_rate_table(config)
        self.scalars = run_scalars(config, key)
        r = config.rates
        # general migration's rates are by kind in [migration]; its column holds the levers' multiplier only
        self.base_rate = np.array([1.0 if t == Transition.MIGRATE else getattr(r, t.name.lower())
                                   for t in Transition], dtype=float)
        rows = programmes or []
        neutral = LeverEffects.neutral(table.n, len(rows))
        #: the gravity tables without levers (population synthesis draws initial targets from them)
        self.gravity = Gravity.build(table, travel, config.regions, config.choice, neutral.cost_share)
        self.migration = MigrationTables(table, config, destinations(table, travel, config))
        self.year = int(config.run.start[:4])   # calendar year of the period effect in force
        adults = table.adults
        cap = config.capacity
        self.kakawarishiro_month = cap.kakawarishiro_per_1000_adults_month * adults / 1000
        if table.vacant_houses is not None:
            self.housing_year = table.vacant_houses * cap.housing_share_of_vacant_per_year
        else:
            self.housing_year = cap.housing_per_1000_adults_year * adults / 1000
        self.programmes = programme_inputs(rows, self.gravity, table.n, config.run.steps_per_year,
                                           config.choice.engage_cost_per_10k_yen, config.choice.lapse_cost_per_10k_yen)
        self.effects = neutral
        self._folded_gravity = self.gravity
        self.capacity = np.zeros((table.n, 2))   # (R, engage / housing) simulated persons per step
        self.region = self._region_inputs(neutral, self.gravity)

    def visit_days_per_class(self) -> np.ndarray:
        """(classes,) expected visit-days a year of a person of each cost class (VISITOR if untyped)."""
        return class_visit_days(self.mean_visit_days)

    def fold(self, effects: LeverEffects) -> None:
        """Rebuild the per-region inputs and capacities for the levers' `effects` (the gravity tables
        only when the travel cost shares or attractiveness differ from the last fold's)."""
        if np.all(effects.cost_share == 1.0) and np.all(effects.attractiveness == 1.0):
            gravity = self.gravity
        elif (np.array_equal(effects.cost_share, self.effects.cost_share)
              and np.array_equal(effects.attractiveness, self.effects.attractiveness)):
            gravity = self._folded_gravity
        else:
            gravity = Gravity.build(self.table, self.travel, self.config.regions, self.config.choice,
                                    effects.cost_share, effects.attractiveness, reach_ref=self.gravity.reach_ref)
        self._folded_gravity = gravity
        self.effects = effects
        self.region = self._region_inputs(effects, gravity)

    def _region_inputs(self, effects: LeverEffects, gravity: Gravity) -> RegionInputs:
        choice = self.config.choice
        cost = self.travel.cost_yen[None, :, :] * effects.cost_share / 1e4
        dt = self.scalars.dt
        self.capacity[:, 0] = ((self.kakawarishiro_month * effects.engage_capacity_mult + effects.engage_capacity_add)
                               * self.scale.agents(12 * dt))
        self.capacity[:, 1] = self.scale.agents((self.housing_year + effects.housing_add) * dt)
        return RegionInputs(
            rate=self.base_rate[None, :] * effects.rate_mult,
            access=gravity.access,
            cost_engage=np.exp(-choice.engage_cost_per_10k_yen * cost).astype(np.float32),
            cost_lapse=np.exp(choice.lapse_cost_per_10k_yen * cost).astype(np.float32),
            choice_cum=gravity.choice_cum,
            choice_p=gravity.choice_p,
            **self._migration_inputs(effects),
            ration=np.ones((self.table.n, 2)),
            type_bias=effects.type_bias,
            settle_pair=effects.settle_pair,
        )

    def _migration_inputs(self, effects: LeverEffects) -> dict[str, np.ndarray]:
        kind, hazard = self.migration.build(self.year, effects.rate_mult[:, Transition.MIGRATE])
        return {"migrate_hazard": hazard, "migrate_kind": kind, "migrate_cum": self.migration.cum}

    def set_calendar_year(self, year: int) -> None:
        """Put the period effect of calendar `year` (時代効果, `migration.period`) in force; the tables are
        rebuilt only when the year changes."""
        if year == self.year:
            return
        self.year = year
        self.region = self.region._replace(**self._migration_inputs(self.effects))

    def ration(self, demand: np.ndarray, eligible: np.ndarray) -> None:
        """Set this step's acceptance probabilities (engage, housing) from last step's `demand`, and
        each programme's enrolment chance: this step's places (simulated persons) ÷ the people
        eligible last step, by host region (first contacts counted in the host they would get)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(demand > 0, self.capacity / demand, 1.0)
        np.minimum(ratio, 1.0, out=self.region.ration)
        if eligible.shape[0] == 0:
            return
        places = self.scale.agents(self.effects.programme_places * self.scalars.dt)    # (P, R) this step
        chance = np.minimum(np.divide(places, eligible, out=np.zeros_like(places), where=eligible > 0), 1.0)
        take_up = self.effects.programme_take_up    # (P, R) yearly hazard: schemes without places
        if take_up.any():
            chance = 1.0 - (1.0 - chance) * np.exp(-take_up * self.scalars.dt)
        np.minimum(chance, 1.0, out=self.programmes.enrol)
