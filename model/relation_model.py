"""RelationModel (関係人口モデル): the Mesa model that owns the people arrays and drives the kernel."""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
import pandas as pd

from model import kernel
from model.demography import mortality_table, new_adults_expected
from model.levers import LeverSet
from model.outputs import History
from model.parameters import KankeiScenario, ScenarioConfig, load_scenario, with_overrides
from model.person import Person
from model.population import Draws, People, add_new_adults, refresh_factors, synthesise, visit_rate_table
from model.regions import Gravity, Region, RegionTable, Travel, read_region_table
from model.stages import N_FLOWS, N_STAGES, N_TRANSITIONS, N_TYPES, EngagementType, Flow, Stage, Transition


def step_dates(start: str, n_steps: int, steps_per_year: int) -> pd.DatetimeIndex:
    """Date at the start of each step 0..n_steps (monthly steps fall on the 1st of the month)."""
    first = pd.Timestamp(f"{start}-01")
    if steps_per_year == 12:
        return pd.date_range(first, periods=n_steps + 1, freq="MS")
    days = np.arange(n_steps + 1) * (365.2425 / steps_per_year)
    return pd.DatetimeIndex(first + pd.to_timedelta(np.floor(days), unit="D"))


def fiscal_year(date: pd.Timestamp) -> int:
    """Japanese fiscal year (年度), April to March."""
    return date.year if date.month >= 4 else date.year - 1


class RelationModel(mesa.Model):
    """Relationship-population dynamics across regions: 交流人口 → 関係人口 → 二地域居住 → 定住人口.

    Regions are Mesa agents (`Region`); people live in structure-of-arrays (`self.people`), advanced
    each step by one Numba kernel. `Person` agents are optional views (`person_agents()`).

    Args:
        scenario: a scenario from `load_scenario`; default `scenarios/baseline.toml`.
        rng: seed or numpy Generator; default the scenario's `run.seed`.
        **overrides: dotted scenario keys, e.g. ``**{"run.people_per_agent": 1000}``.
    """

    def __init__(self, scenario: KankeiScenario | None = None, rng: Any = None, **overrides: Any) -> None:
        scenario = load_scenario(overrides=overrides) if scenario is None else with_overrides(scenario, overrides)
        if rng is not None and scenario.rng is not rng:
            scenario = scenario.with_rng(rng)
        super().__init__(rng=scenario.rng, scenario=scenario)
        cfg: ScenarioConfig = scenario.config
        self.config = cfg
        self.dt = cfg.run.dt
        self.n_steps = cfg.run.n_steps
        self.people_per_agent = cfg.run.people_per_agent
        self.key = np.uint64(np.random.SeedSequence(self._seed).generate_state(1, dtype=np.uint64)[0])
        self.draws = Draws(self.key)

        self.table: RegionTable = read_region_table(scenario.data_path())
        self.travel = Travel.from_rule(self.table, cfg.travel)
        self.gravity = Gravity.build(self.table, self.travel, cfg.regions, cfg.choice)
        self.levers = LeverSet(cfg, self.table, scenario.source)
        self.regions = [Region(self, r, self.table) for r in range(self.table.n)]
        self.dates = step_dates(cfg.run.start, self.n_steps, cfg.run.steps_per_year)

        self.people, self._engage_norm = synthesise(cfg, self.table, self.travel, self.gravity, self.draws)
        self._prepare_inputs()
        R = self.table.n
        self.counts_by_target = np.zeros((R, N_STAGES, N_TYPES), dtype=np.int64)
        self.counts_by_home = np.zeros((R, N_STAGES), dtype=np.int64)
        self.last_flows = np.zeros((R, N_FLOWS), dtype=np.int64)
        self._demand = np.zeros((R, 2), dtype=np.int64)
        p = self.people
        kernel.tally(p.stage, p.etype, p.home, p.target, p.n, self.counts_by_target, self.counts_by_home)
        self.history = History(self.n_steps, R, self.dates, self.table.codes, self.people_per_agent)
        self.history.record(0, self.counts_by_target, self.counts_by_home, self.last_flows)
        self.datacollector = mesa.DataCollector(model_reporters={
            **{s.name.lower(): (lambda m, s=s: m.national(s)) for s in Stage if s != Stage.DEAD},
            "settlers": lambda m: float(m.last_flows[:, Flow.SETTLE].sum()) * m.people_per_agent,
            "adults": lambda m: float(m.counts_by_home.sum()) * m.people_per_agent,
        })
        self.datacollector.collect(self)

    # --- inputs the kernel reads ----------------------------------------------------------------
    def _prepare_inputs(self) -> None:
        cfg = self.config
        r = cfg.rates
        self._base_rate = np.zeros(N_TRANSITIONS)
        for t in Transition:
            self._base_rate[t] = getattr(r, t.name.lower())
        tm = np.ones((N_TYPES, N_TRANSITIONS))
        for k in range(1, N_TYPES):
            tm[k, Transition.SETTLE] = tm[k, Transition.DUAL] = cfg.types.settle_mult[k - 1]
            tm[k, Transition.LAPSE_ENGAGED] = cfg.types.lapse_mult[k - 1]
        tm[EngagementType.DIRECT_CONTRIBUTION, Transition.DEEPEN] = 0.0  # the deepest type
        self._type_mult = tm
        self._deepen_next = np.array([0, EngagementType.PARTICIPATION, EngagementType.DIRECT_CONTRIBUTION,
                                      EngagementType.DIRECT_CONTRIBUTION, EngagementType.DIRECT_CONTRIBUTION],
                                     dtype=np.int8)
        cost = self.travel.cost_yen / 1e4
        ce = np.exp(-cfg.choice.engage_cost_per_10k_yen * cost).astype(np.float32)
        cl = np.exp(cfg.choice.lapse_cost_per_10k_yen * cost).astype(np.float32)
        self._cost_engage = np.ascontiguousarray(np.stack([ce, ce]))
        self._cost_lapse = np.ascontiguousarray(np.stack([cl, cl]))
        self._mortality = mortality_table(cfg.demography)
        self._visit_rate = visit_rate_table(cfg)
        self._type_weights = np.array((0.0, *cfg.types.weights))
        self._tie_keep = float(np.exp(-np.log(2.0) / cfg.ties.half_life_years * self.dt))
        self._leave_window = int(round(cfg.rates.leave_window_years * cfg.run.steps_per_year))
        ppa = self.people_per_agent
        adults = self.table.adults
        self._cap_engage = cfg.capacity.kakawarishiro_per_1000_adults_month * adults / 1000 * 12 * self.dt / ppa
        if self.table.vacant_houses is not None:
            housing = self.table.vacant_houses * cfg.capacity.housing_share_of_vacant_per_year
        else:
            housing = cfg.capacity.housing_per_1000_adults_year * adults / 1000
        self._cap_housing = housing * self.dt / ppa
        self._is_rural = (~self.table.is_metro).astype(np.uint8)

    def _ration(self) -> np.ndarray:
        """Acceptance probability per region for engaging and moving, from last step's demand."""
        cap = np.stack([self._cap_engage, self._cap_housing], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self._demand > 0, cap / self._demand, 1.0)
        return np.minimum(ratio, 1.0)

    # --- stepping ---------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one step (a month by default): fiscal-year bookkeeping, kernel, new adults, tallies."""
        k = self.steps - 1  # Mesa has already counted this step
        if k >= self.n_steps:
            self.running = False
            return
        date = self.dates[k]
        if k > 0 and fiscal_year(date) != fiscal_year(self.dates[k - 1]):
            self._close_fiscal_year(fiscal_year(self.dates[k - 1]))
        rate = self._base_rate[None, :] * self.levers.hazard_multipliers(date.strftime("%Y-%m"))
        p = self.people
        cfg = self.config
        kernel.advance(
            p.stage, p.etype, p.home, p.target, p.origin, p.birth, p.flags, p.age, p.tie, p.visit_days,
            p.steps_in_stage, p.engage_factor, p.mobility_factor, p.n,
            self.key, np.int64(k), self.dt,
            rate, self._type_mult, self.gravity.access, self._cost_engage, self._cost_lapse,
            self.gravity.choice_cum, self.gravity.choice_p, cfg.choice.yukari_bonus,
            self.gravity.outflow_cum, self._is_rural, self._ration(), self._mortality, self._visit_rate,
            self._tie_keep, cfg.ties.gain_per_visit_day, cfg.ties.kappa_engage, cfg.ties.kappa_lapse,
            self._type_weights, cfg.types.work_mult_capable, cfg.types.work_mult_other, self._deepen_next,
            cfg.rates.dual_settle_factor, self._leave_window,
            self.counts_by_target, self.counts_by_home, self.last_flows, self._demand,
        )
        years = (self.dates[k + 1] - self.dates[0]).days / 365.2425
        expected = new_adults_expected(self.table, cfg.demography, years, self.dt, self.people_per_agent)
        born = add_new_adults(self.people, cfg, self.table, self.draws, k + 1, expected, self._engage_norm)
        self.counts_by_target[:, Stage.NONE, EngagementType.NONE] += born
        self.counts_by_home[:, Stage.NONE] += born
        self.last_flows[:, Flow.NEW_ADULT] = born
        self.history.record(k + 1, self.counts_by_target, self.counts_by_home, self.last_flows)
        self.datacollector.collect(self)
        if k + 1 >= self.n_steps:
            self.running = False

    def _close_fiscal_year(self, year: int) -> None:
        """Record the year's visit-day distribution, reset the counters, refresh age-dependent factors."""
        p = self.people
        living = p.stage[: p.n] != Stage.DEAD
        self.history.record_visit_days(year, p.stage[: p.n][living], p.visit_days[: p.n][living])
        p.visit_days[: p.n] = 0
        refresh_factors(p, self.config, self.table, self._engage_norm)

    def run(self) -> "RelationModel":
        """Run to the end of the horizon."""
        self.run_for(self.n_steps - self.steps)
        return self

    # --- reading the state ------------------------------------------------------------------------
    @property
    def n_people(self) -> int:
        """Person slots in the arrays (living and dead; slots are never reused)."""
        return self.people.n

    @property
    def n_alive(self) -> int:
        """Living simulated persons."""
        return int(self.counts_by_home.sum())

    def national(self, stage: Stage) -> float:
        """Real people (scaled) at `stage` nationally now."""
        return float(self.counts_by_home[:, int(stage)].sum()) * self.people_per_agent

    def results(self, by: str = "target") -> pd.DataFrame:
        """Tidy people by stage and type per step: step, date, region, stage, type, people.

        `by="target"` counts VISITOR/ENGAGED/DUAL people in the region they relate to and everyone
        else where they live; `by="home"` counts everyone where they live (type omitted).
        """
        return self.history.stages_frame(by)

    def flows(self) -> pd.DataFrame:
        """Tidy flows per step and region (transitions, deaths, new adults, rationed-out moves)."""
        return self.history.flows_frame()

    def population(self) -> pd.DataFrame:
        """Adults living in each region per step."""
        return self.history.population_frame()

    def visit_days(self) -> pd.DataFrame:
        """Distribution of visit-days per person-year, per fiscal year completed, by stage."""
        return self.history.visit_days_frame()

    def regions_frame(self) -> pd.DataFrame:
        """The regions: code, names, kind, coordinates and adults at the start."""
        t = self.table
        return pd.DataFrame({"region": t.codes, "name_ja": t.names_ja, "name_en": t.names_en,
                             "kind": np.where(t.is_metro, "metro", "rural"), "lat": t.lat, "lon": t.lon,
                             "adults": t.adults})

    def person(self, index: int) -> Person:
        """A view of one person (not registered as a Mesa agent)."""
        return Person.view(self, index)

    def person_agents(self, limit: int = 200_000) -> mesa.agent.AgentSet:
        """Register a `Person` view agent for every living person; for small models only."""
        alive = np.flatnonzero(self.people.stage[: self.people.n] != Stage.DEAD)
        if alive.size > limit:
            raise ValueError(f"{alive.size} people exceed limit={limit}; raise run.people_per_agent "
                             "or pass a larger limit (views cost about 1 kB each)")
        existing = {a.index for a in self.agents_by_type.get(Person, [])}
        for i in alive:
            if int(i) not in existing:
                Person(self, int(i))
        return self.agents_by_type[Person]
