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
from model.kernel import RegionInputs, RunTables, Scalars
from model.levers.base import LeverEffects
from model.parameters import ScenarioConfig
from model.population import visit_rate_table
from model.regions import Gravity, RegionTable, Travel, youth_outflow_destinations
from model.stages import N_TRANSITIONS, N_TYPES, EngagementType, Stage, Transition
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
        visit_rate=visit_rate_table(cfg),
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
        leave_window_steps=int(round(cfg.rates.leave_window_years * cfg.run.steps_per_year)),
        youth_max_age=cfg.rates.youth_outflow_max_age,
    )


class KernelInputs:
    """Everything `kernel.advance` reads besides the people and the tallies.

    Args:
        config: the validated scenario.
        table, travel: the regions and the travel between them.
        key: the run's stream key.
        scale: the units boundary (capacities are rationed in simulated persons).
    """

    def __init__(self, config: ScenarioConfig, table: RegionTable, travel: Travel, key: np.uint64,
                 scale: Scale) -> None:
        self.config = config
        self.table = table
        self.travel = travel
        self.scale = scale
        self.tables = run_tables(config)
        self.scalars = run_scalars(config, key)
        r = config.rates
        self.base_rate = np.array([getattr(r, t.name.lower()) for t in Transition], dtype=float)
        neutral = LeverEffects.neutral(table.n)
        #: the gravity tables without levers (population synthesis draws initial targets from them)
        self.gravity = Gravity.build(table, travel, config.regions, config.choice, neutral.cost_share)
        self._outflow_cum = youth_outflow_destinations(table, travel, config.choice)
        self._is_rural = (~table.is_metro).astype(np.uint8)
        adults = table.adults
        cap = config.capacity
        self.kakawarishiro_month = cap.kakawarishiro_per_1000_adults_month * adults / 1000
        if table.vacant_houses is not None:
            self.housing_year = table.vacant_houses * cap.housing_share_of_vacant_per_year
        else:
            self.housing_year = cap.housing_per_1000_adults_year * adults / 1000
        self.effects = neutral
        self.capacity = np.zeros((table.n, 2))   # (R, engage / housing) simulated persons per step
        self.region = self._region_inputs(neutral, self.gravity)

    def visit_days_per_class(self) -> np.ndarray:
        """(classes,) expected visit-days a year of a person of each cost class (VISITOR if untyped)."""
        days = np.zeros(N_CLASSES)
        for k in EngagementType:
            stage = Stage.ENGAGED if k else Stage.VISITOR
            for sidejob in (False, True):
                days[cost_class(k, sidejob)] = self.tables.visit_rate[stage, k]
        return days

    def fold(self, effects: LeverEffects) -> None:
        """Rebuild the per-region inputs and capacities for the levers' `effects`."""
        neutral_gravity = (np.all(effects.cost_share == 1.0) and np.all(effects.attractiveness == 1.0))
        gravity = self.gravity if neutral_gravity else Gravity.build(
            self.table, self.travel, self.config.regions, self.config.choice, effects.cost_share,
            effects.attractiveness, reach_ref=self.gravity.reach_ref)
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
            outflow_cum=self._outflow_cum,
            is_rural=self._is_rural,
            ration=np.ones((self.table.n, 2)),
            type_bias=effects.type_bias,
            settle_pair=effects.settle_pair,
        )

    def ration(self, demand: np.ndarray) -> None:
        """Set this step's acceptance probabilities (engage, housing) from last step's `demand`."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(demand > 0, self.capacity / demand, 1.0)
        np.minimum(ratio, 1.0, out=self.region.ration)
