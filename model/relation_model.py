"""RelationModel (関係人口モデル): the Mesa model that owns the people arrays and drives the kernel."""

from __future__ import annotations

from typing import Any

import mesa
import numba
import numpy as np
import pandas as pd

from model import kernel
from model.adoption import MunicipalAdoption
from model.demography import mortality_table, new_adults_expected
from model.kpis import Outcomes, continuously_engaged, initial_contact
from model.levers import KernelInputs, LeverContext, LeverSet, StepRecord
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
        R = self.table.n
        neutral = KernelInputs.neutral(R)
        self.gravity = Gravity.build(self.table, self.travel, cfg.regions, cfg.choice, neutral.cost_share)
        self.levers = LeverSet(cfg, self.table, scenario.source)
        self.adoption = MunicipalAdoption(self.table, self.travel, cfg.adoption)
        self.regions = [Region(self, r, self.table) for r in range(self.table.n)]
        self.dates = step_dates(cfg.run.start, self.n_steps, cfg.run.steps_per_year)

        self.people, self._engage_norm = synthesise(cfg, self.table, self.travel, self.gravity, self.draws)
        self._prepare_inputs()
        self._fold(neutral)
        self._inputs_key: tuple = ((), b"")
        self.counts_by_target = np.zeros((R, N_STAGES, N_TYPES), dtype=np.int64)
        self.counts_by_home = np.zeros((R, N_STAGES), dtype=np.int64)
        self.last_flows = np.zeros((R, N_FLOWS), dtype=np.int64)
        self._demand = np.zeros((R, 2), dtype=np.int64)
        self.visit_pairs = np.zeros((kernel.N_CLASSES, R, R), dtype=np.int32)
        p = self.people
        kernel.tally(p.stage, p.etype, p.home, p.target, p.n, self.counts_by_target, self.counts_by_home)
        self.outcomes = Outcomes(cfg.outcomes, self.table.adults, self.people_per_agent,
                                 initial_contact(self.counts_by_target, self._visit_rate, self.table.adults,
                                                 self.people_per_agent))
        self.history = History(self.n_steps, R, self.dates, self.table.codes, self.people_per_agent,
                               self.levers.labels(), self.levers.kinds(), self.levers.payer_matrix())
        self.history.record(0, self.counts_by_target, self.counts_by_home, self.last_flows,
                            self.outcomes.step(self.counts_by_target, self.visit_pairs, self.adoption.adopting, 0.0))
        self.datacollector = mesa.DataCollector(model_reporters={
            **{s.name.lower(): (lambda m, s=s: m.national(s)) for s in Stage if s != Stage.DEAD},
            "settlers": lambda m: float(m.last_flows[:, Flow.SETTLE].sum()) * m.people_per_agent,
            "settlers_to_date": lambda m: float(m.history.flows[: m.history.last + 1, :, Flow.SETTLE].sum())
            * m.people_per_agent,
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
        self._mortality = mortality_table(cfg.demography)
        self._visit_rate = visit_rate_table(cfg)
        self._type_weights = np.array((0.0, *cfg.types.weights))
        self._tie_keep = float(np.exp(-np.log(2.0) / cfg.ties.half_life_years * self.dt))
        self._leave_window = int(round(cfg.rates.leave_window_years * cfg.run.steps_per_year))
        adults = self.table.adults
        self._kakawarishiro_month = cfg.capacity.kakawarishiro_per_1000_adults_month * adults / 1000
        if self.table.vacant_houses is not None:
            self._housing_year = self.table.vacant_houses * cfg.capacity.housing_share_of_vacant_per_year
        else:
            self._housing_year = cfg.capacity.housing_per_1000_adults_year * adults / 1000
        self._is_rural = (~self.table.is_metro).astype(np.uint8)
        days = np.zeros(kernel.N_CLASSES)
        for k in range(N_TYPES):
            days[k] = days[k + 5] = self._visit_rate[Stage.ENGAGED if k else Stage.VISITOR, k]
        self._class_visit_days = days

    def _fold(self, inputs: KernelInputs) -> None:
        """Turn the levers' inputs into the arrays the kernel reads (only when they change)."""
        cfg = self.config
        self._inputs = inputs
        g = Gravity.build(self.table, self.travel, cfg.regions, cfg.choice, inputs.cost_share,
                          inputs.attractiveness, reach_ref=self.gravity.reach_ref)
        self._choice_cum, self._choice_p, self._access = g.choice_cum, g.choice_p, g.access
        cost = self.travel.cost_yen[None, :, :] * inputs.cost_share / 1e4
        self._cost_engage = np.exp(-cfg.choice.engage_cost_per_10k_yen * cost).astype(np.float32)
        self._cost_lapse = np.exp(cfg.choice.lapse_cost_per_10k_yen * cost).astype(np.float32)
        self._rate = self._base_rate[None, :] * inputs.rate_mult
        steps_per_month = 12 * self.dt / self.people_per_agent
        self._cap_engage = (self._kakawarishiro_month * inputs.engage_capacity_mult
                            + inputs.engage_capacity_add) * steps_per_month
        self._cap_housing = (self._housing_year + inputs.housing_add) * self.dt / self.people_per_agent

    def _ration(self) -> np.ndarray:
        """Acceptance probability per region for engaging and moving, from last step's demand."""
        cap = np.stack([self._cap_engage, self._cap_housing], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self._demand > 0, cap / self._demand, 1.0)
        return np.minimum(ratio, 1.0)

    # --- stepping ---------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one step (a month by default): levers, kernel, spending, adoption, new adults, KPIs."""
        k = self.steps - 1  # Mesa has already counted this step
        if k >= self.n_steps:
            self.running = False
            return
        date = self.dates[k]
        month = date.strftime("%Y-%m")
        ctx = self._context(month, fiscal_year(date))
        key = self.levers.signature(month, self.adoption.reach)
        if key != self._inputs_key:
            self._fold(self.levers.inputs(ctx))
            self._inputs_key = key
        kernel.advance(*self.kernel_arguments(k))
        cfg = self.config
        spending, revenue = self.levers.account(ctx, self._step_record(month))
        self.adoption.step(self.draws, k + 1, self.dt, self._inputs.adoption_rate_add)
        years = (self.dates[k + 1] - self.dates[0]).days / 365.2425
        expected = new_adults_expected(self.table, cfg.demography, years, self.dt, self.people_per_agent)
        born = add_new_adults(self.people, cfg, self.table, self.draws, k + 1, expected, self._engage_norm)
        self.counts_by_target[:, Stage.NONE, EngagementType.NONE] += born
        self.counts_by_home[:, Stage.NONE] += born
        self.last_flows[:, Flow.NEW_ADULT] = born
        kpis = self.outcomes.step(self.counts_by_target, self.visit_pairs, self.adoption.adopting, self.dt)
        self.history.record(k + 1, self.counts_by_target, self.counts_by_home, self.last_flows, kpis,
                            spending, revenue)
        if fiscal_year(self.dates[k + 1]) != fiscal_year(date):
            self._close_fiscal_year(fiscal_year(date))
        self.datacollector.collect(self)
        if k + 1 >= self.n_steps:
            self.running = False

    def kernel_arguments(self, k: int, people: Any = None, outputs: tuple | None = None,
                         ration: np.ndarray | None = None) -> tuple:
        """The arguments of `kernel.advance` for step index `k` (benchmarks may swap people or outputs)."""
        p = self.people if people is None else people
        cfg = self.config
        out = (self.counts_by_target, self.counts_by_home, self.last_flows, self._demand,
               self.visit_pairs) if outputs is None else outputs
        return (
            p.stage, p.etype, p.home, p.target, p.origin, p.birth, p.flags, p.age, p.tie, p.visit_days,
            p.steps_in_stage, p.engage_factor, p.mobility_factor, p.n,
            self.key, np.int64(k), self.dt,
            self._rate, self._type_mult, self._access, self._cost_engage, self._cost_lapse,
            self._choice_cum, self._choice_p, cfg.choice.yukari_bonus,
            self.gravity.outflow_cum, self._is_rural, self._ration() if ration is None else ration,
            self._mortality, self._visit_rate,
            self._tie_keep, cfg.ties.gain_per_visit_day, cfg.ties.kappa_engage, cfg.ties.kappa_lapse,
            self._type_weights, cfg.types.work_mult_capable, cfg.types.work_mult_other,
            self._inputs.type_bias, self._inputs.settle_pair, self._deepen_next,
            cfg.rates.dual_settle_factor, self._leave_window, cfg.rates.youth_outflow_max_age,
            *out, numba.get_num_threads(),
        )

    def _context(self, month: str, fy: int) -> LeverContext:
        return LeverContext(table=self.table, travel=self.travel, dt=self.dt, month=month, fiscal_year=fy,
                            reach=self.adoption.reach, visit_days_per_year=self._class_visit_days)

    def _step_record(self, month: str) -> StepRecord:
        """This step's visit-days, flows and (when a lever needs them) settlers."""
        record = StepRecord(visit_pairs=self.visit_pairs, flows=self.last_flows,
                            people_per_agent=self.people_per_agent)
        if self.levers.needs_settlers(month):
            p = self.people
            new = np.flatnonzero((p.stage[: p.n] == Stage.SETTLED) & (p.steps_in_stage[: p.n] == 0))
            record.settler_origin = p.origin[new].astype(np.int64)
            record.settler_region = p.home[new].astype(np.int64)
            record.settler_children = p.children[new].astype(np.int64)
        return record

    def _close_fiscal_year(self, year: int) -> None:
        """Record the year's visit-day distribution and 例2, reset the counters, refresh age-dependent factors."""
        p = self.people
        n = p.n
        living = p.stage[:n] != Stage.DEAD
        self.history.record_visit_days(year, p.stage[:n][living], p.visit_days[:n][living])
        self.history.record_continuity(year, continuously_engaged(
            p.stage[:n], p.target[:n], p.steps_in_stage[:n], self.config.run.steps_per_year, self.table.n))
        p.visit_days[:n] = 0
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
        else where they live; `by="home"` counts everyone where they live (type is always NONE).
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

    def kpis(self) -> pd.DataFrame:
        """The seed's KPIs per step and region (例1, 例3, 例4, adopting municipalities)."""
        return self.history.kpi_frame()

    def continuously_engaged(self) -> pd.DataFrame:
        """例2: people ENGAGED or DUAL for 12 months or more, per fiscal-year end and region."""
        return self.history.continuity_frame()

    def spending(self) -> pd.DataFrame:
        """Spending per lever, region and payer (国 / 都道府県 / 市町村) per step, in yen."""
        return self.history.spending_frame()

    def revenue(self) -> pd.DataFrame:
        """Revenue to regions caused by levers (ふるさと納税) per step, in yen."""
        return self.history.revenue_frame()

    def municipalities_by_fiscal_year(self) -> pd.DataFrame:
        """National count of municipalities running 関係人口 programmes at each fiscal-year end (the KPI)."""
        adopting = self.history.kpis[: self.history.last + 1, :, 0].sum(axis=1)
        dates = self.dates[: self.history.last + 1]
        frame = pd.DataFrame({"date": dates, "municipalities": adopting})
        frame["fiscal_year"] = [fiscal_year(d - pd.Timedelta(days=1)) for d in dates]
        return frame.iloc[1:].groupby("fiscal_year", as_index=False).last()[["fiscal_year", "municipalities"]]

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
