"""RelationModel (関係人口モデル): the Mesa model that owns the people arrays and drives the kernel."""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
import pandas as pd

from model import kernel
from model.adoption import MunicipalAdoption
from model.demography import new_adults_expected, new_adults_over_run, years_elapsed
from model.inputs import KernelInputs, class_visit_days
from model.kpis import KPI, KPITracker, close_year, initial_contact
from model.levers import LeverContext, LeverSet, RowContext, StepRecord
from model.migration import region_areas
from model.outputs import History
from model.surveys import VISIT_DAY_EDGES, area_codes, survey_tables
from model.parameters import KankeiScenario, ScenarioConfig, load_scenario, with_overrides
from model.person import Person
from model.population import Draws, add_new_adults, place_members, refresh_factors, synthesise, visit_rate_table
from model.regions import Region, RegionTable, Travel, read_region_table
from model.stages import EngagementType, Flow, Stage
from model.units import Scale




def step_dates(start: str, n_steps: int, steps_per_year: int) -> pd.DatetimeIndex:
    """Date at the start of each step 0..n_steps (monthly steps fall on the 1st of the month)."""
    return dates_of_steps(start, np.arange(n_steps + 1), steps_per_year)


def dates_of_steps(start: str, steps: np.ndarray, steps_per_year: int) -> pd.DatetimeIndex:
    """Date at the start of each of `steps`, any integers: a step before 0 is before the run (the
    enrolment of a programme member in post at the start); monthly steps fall on the 1st."""
    first = pd.Timestamp(f"{start}-01")
    steps = np.asarray(steps, dtype=np.int64)
    if steps_per_year == 12:
        months = pd.Period(first, "M").ordinal + steps
        return pd.PeriodIndex.from_ordinals(months, freq="M").to_timestamp()
    days = steps * (365.2425 / steps_per_year)
    return pd.DatetimeIndex(first + pd.to_timedelta(np.floor(days), unit="D"))


def fiscal_year(date: pd.Timestamp) -> int:
    """Japanese fiscal year (年度), April to March."""
    return date.year if date.month >= 4 else date.year - 1


def fiscal_years(dates: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """`fiscal_year` of every date at once (年度, April to March)."""
    dates = pd.DatetimeIndex(dates)
    return (dates.year - (dates.month < 4)).to_numpy(dtype=np.int64)


def _same_rng(a: Any, b: Any) -> bool:
    """Do two rng arguments (seeds or Generators) name the same stream? Seeds compare by value."""
    if isinstance(a, int | np.integer) and isinstance(b, int | np.integer):
        return int(a) == int(b)
    return a is b


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
        if rng is not None and not _same_rng(scenario.rng, rng):
            scenario = scenario.with_rng(rng)
        super().__init__(rng=scenario.rng, scenario=scenario)
        kernel.check_compiled_codes()
        cfg: ScenarioConfig = scenario.config
        self.config = cfg
        self.dt = cfg.run.dt
        self.n_steps = cfg.run.n_steps
        self.people_per_agent = cfg.run.people_per_agent
        self.scale = Scale(cfg.run.people_per_agent)
        self.key = np.uint64(np.random.SeedSequence(self._seed).generate_state(1, dtype=np.uint64)[0])
        self.draws = Draws(self.key)

        self.table: RegionTable = read_region_table(scenario.data_path())
        self.travel = Travel.from_rule(self.table, cfg.travel)
        R = self.table.n
        self.levers = LeverSet(cfg, self.table, scenario.source)
        rows = self.levers.programme_rows(RowContext(self.travel, class_visit_days(visit_rate_table(cfg))))
        self.inputs = KernelInputs(cfg, self.table, self.travel, self.key, self.scale, rows)
        self.adoption = MunicipalAdoption(self.table, self.travel, cfg.adoption)
        self.regions = [Region(self, r, self.table) for r in range(self.table.n)]
        self.dates = step_dates(cfg.run.start, self.n_steps, cfg.run.steps_per_year)

        self._class_visit_days = self.inputs.visit_days_per_class()
        reserve = new_adults_over_run(self.table, cfg.demography, self.dates, self.dt, self.scale)
        self.people, self._engage_norm = synthesise(cfg, self.table, self.travel, self.inputs.gravity, self.draws,
                                                    reserve)
        in_post = self.levers.members_at_start(self.lever_context(0))      # (programmes, R) real persons
        placed = place_members(self.people, cfg, self.inputs.programmes, self.scale.agents(in_post), self.draws)
        self._effects_key: tuple = ((), b"")
        day_slot = self.inputs.programmes.day_slot
        self.tallies = kernel.Tallies.zeros(R, len(self.levers.slots), self.n_steps + 1,
                                            int(np.count_nonzero(day_slot >= 0)))
        #: participants' visit-days by programme slot (zero for programmes that pay nothing per day)
        self._participant_days = np.zeros((len(day_slot), R, R))
        self._area = area_codes(self.table.metro_areas)
        kernel.tally(self.people.arrays(), self.counts_by_target, self.counts_by_home)
        if self.levers.slots:
            kernel.count_eligible(self.people.arrays(), self.inputs.programmes, self.key, np.int64(-1),
                                  self.tallies.eligible)
        self.kpi_tracker = KPITracker(cfg.outcomes, self.table.adults, self.scale,
                                      initial_contact(self.counts_by_target, self.inputs.mean_visit_days,
                                                      self.table.adults, self.scale))
        self.history = History(self.n_steps, R, self.dates, self.table.codes, self.scale,
                               self.levers.labels(), self.levers.kinds(), self.levers.payer_matrix(),
                               self.levers.programme_labels(), cfg.run.steps_per_year)
        self.history.record(0, self.counts_by_target, self.counts_by_home, self.last_flows,
                            self.kpi_tracker.step(self.counts_by_target, self.visit_pairs, self.adoption.adopting, 0.0),
                            entries=np.zeros_like(placed), participants=placed)
        self.datacollector = mesa.DataCollector(model_reporters={
            **{s.name.lower(): (lambda m, s=s: m.national(s)) for s in Stage if s != Stage.DEAD},
            "settlers": lambda m: float(m.scale.people(m.last_flows[:, Flow.SETTLE].sum())),
            "settlers_to_date": lambda m: float(m.scale.people(m.history.settlers_to_date)),
            "adults": lambda m: float(m.scale.people(m.counts_by_home.sum())),
        })
        self.datacollector.collect(self)

    # --- this step's tallies (views onto `self.tallies`, in simulated persons) ---------------------
    @property
    def counts_by_target(self) -> np.ndarray:
        """(R, stages, types) living simulated persons by report region, now."""
        return self.tallies.by_target

    @property
    def counts_by_home(self) -> np.ndarray:
        """(R, stages) living simulated persons by home region, now."""
        return self.tallies.by_home

    @property
    def last_flows(self) -> np.ndarray:
        """(R, flows) flows of the last step, simulated persons."""
        return self.tallies.flows

    @property
    def visit_pairs(self) -> np.ndarray:
        """(classes, R home, R target) visit-days made in the last step by simulated persons."""
        return self.tallies.visit_pairs

    # --- stepping ---------------------------------------------------------------------------------
    def lever_context(self, k: int) -> LeverContext:
        """What the levers see at step index `k`: regions, travel, step length, adoption reach, month, 年度."""
        date = self.dates[k]
        return LeverContext(table=self.table, travel=self.travel, dt=self.dt, reach=self.adoption.reach,
                            visit_days_per_year=self._class_visit_days, month=date.strftime("%Y-%m"),
                            fiscal_year=fiscal_year(date))

    def prepare_step(self, k: int) -> LeverContext:
        """Fold the levers in force at step index `k` into the kernel inputs (only when their effects
        may have changed), put the calendar year's migration period effect in force and ration this
        step's capacities; returns the step's lever context."""
        self.inputs.set_calendar_year(self.dates[k].year)
        ctx = self.lever_context(k)
        month = ctx.month
        key = self.levers.signature(month, self.adoption.reach)
        if key != self._effects_key:
            self.inputs.fold(self.levers.effects(ctx))
            self._effects_key = key
        self.inputs.ration(self.tallies.demand, self.tallies.eligible)
        return ctx

    def kernel_arguments(self, k: int) -> tuple:
        """What `step` passes to `kernel.advance` at step index `k` (after `prepare_step(k)`):
        people, region inputs, programmes, run tables, scalars, step, tallies."""
        inp = self.inputs
        return (self.people.arrays(), inp.region, inp.programmes, inp.tables, inp.scalars, np.int64(k),
                self.tallies)

    def step(self) -> None:
        """Advance one step (a month by default): levers, kernel, spending, adoption, new adults, KPIs."""
        k = self.steps - 1  # Mesa has already counted this step
        if k >= self.n_steps:
            self.running = False
            return
        ctx = self.prepare_step(k)
        kernel.advance(*self.kernel_arguments(k))
        inp = self.inputs
        cfg = self.config
        spending, revenue, counts = self.levers.account(ctx, self._step_record(ctx.month))
        self.adoption.step(self.draws, k + 1, self.dt, inp.effects.adoption_rate_add)
        expected = new_adults_expected(self.table, cfg.demography, years_elapsed(self.dates, k + 1), self.dt,
                                       self.scale)
        born = add_new_adults(self.people, cfg, self.table, self.draws, k + 1, expected, self._engage_norm)
        self.counts_by_target[:, Stage.NONE, EngagementType.NONE] += born
        self.counts_by_home[:, Stage.NONE] += born
        self.last_flows[:, Flow.NEW_ADULT] = born
        kpis = self.kpi_tracker.step(self.counts_by_target, self.visit_pairs, self.adoption.adopting, self.dt)
        self.history.record(k + 1, self.counts_by_target, self.counts_by_home, self.last_flows, kpis,
                            spending, revenue, self.tallies.entries, self.tallies.participants,
                            self.tallies.settler_exits, counts)
        if fiscal_year(self.dates[k + 1]) != fiscal_year(self.dates[k]):
            self._close_fiscal_year(fiscal_year(self.dates[k]))
        self.datacollector.collect(self)
        if k + 1 >= self.n_steps:
            self.running = False

    def _participant_days_by_slot(self) -> np.ndarray:
        """(programmes, R, R) this step's counted visit-days of each programme's participants."""
        day_slot = self.inputs.programmes.day_slot
        tracked = day_slot >= 0
        self._participant_days[tracked] = self.tallies.participant_days[day_slot[tracked]]
        return self._participant_days

    def _step_record(self, month: str) -> StepRecord:
        """This step's visit-days, flows and (when a lever needs them) settlers."""
        record = StepRecord(visit_pairs=self.visit_pairs, flows=self.last_flows, scale=self.scale,
                            participants=self.tallies.participants, entries=self.tallies.entries,
                            participant_days=self._participant_days_by_slot())
        if self.levers.needs_settlers(month):
            p = self.people
            new = np.flatnonzero((p.stage[: p.n] == Stage.SETTLED) & (p.steps_in_stage[: p.n] == 0))
            record.settler_origin = p.origin[new].astype(np.int64)
            record.settler_region = p.home[new].astype(np.int64)
            record.settler_children = p.children[new].astype(np.int64)
        return record

    def _close_fiscal_year(self, year: int) -> None:
        """Record the year's visit-day bands, destination mix and 例2, reset the counters, refresh
        age-dependent factors."""
        p = self.people
        n = p.n
        spy = self.config.run.steps_per_year
        bands, mix = survey_tables(p.stage[:n], p.etype[:n], p.home[:n], p.target[:n], p.steps_in_stage[:n],
                                   p.visit_days[:n], self.table.is_metro, self._area, VISIT_DAY_EDGES, spy)
        self.history.record_visit_days(year, bands)
        self.history.record_destinations(year, mix)
        continuing = close_year(p.stage[:n], p.target[:n], p.steps_in_stage[:n], p.visit_days[:n], spy, self.table.n)
        self.history.record_continuity(year, continuing)
        if self.levers.slots:
            members = np.flatnonzero(p.programme[:n] >= 0)
            entry_fy = fiscal_years(dates_of_steps(self.config.run.start, p.enrolled_at[members],
                                                   self.config.run.steps_per_year))
            self.history.record_cohorts(year, p.programme[members], entry_fy, p.stage[members])
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
        """Real people at `stage` nationally now."""
        return float(self.scale.people(self.counts_by_home[:, int(stage)].sum()))

    def results(self, by: str = "target") -> pd.DataFrame:
        """Tidy people by stage and type per step: step, date, region, stage, type, people.

        `by="target"` counts VISITOR/ENGAGED/DUAL people in the region they relate to and everyone
        else where they live; `by="home"` counts everyone where they live (type is always NONE).
        """
        return self.history.stages_frame(by)

    def flows(self) -> pd.DataFrame:
        """Tidy flows per step and region (transitions, deaths, new adults, rationed-out moves)."""
        return self.history.flows_frame()

    def net_migration(self, by: str = "area") -> pd.DataFrame:
        """Calendar-year net in-migration (転入超過数, as in 住民基本台帳人口移動報告) of adults, real people.

        Rows per calendar year and 三大都市圏 area (東京圏, 名古屋圏, 大阪圏, その他; `by="region"`: per
        region): months covered and whether the year is complete (a run from 2020-04 has 2020 from
        April), net (every change of home), general (一般移動) and relationship (the ladder: settling and
        leaving) parts, and general moves in and out. Adults only: see docs/ODD.md 7.20 for the mapping
        to the all-ages figures.
        """
        return self.history.net_migration_frame(region_areas(self.table), by)

    def population(self) -> pd.DataFrame:
        """Adults living in each region per step."""
        return self.history.population_frame()

    def visit_days(self) -> pd.DataFrame:
        """Visit-days a year (訪問日数): people per band, by fiscal year, stage, type and home kind, and
        whether they held the stage all year (compare with MLIT's bands among visiting 関係人口)."""
        return self.history.visit_days_frame()

    def destinations(self) -> pd.DataFrame:
        """Where related people's targets lie (関係先の位置) at each fiscal-year end, by home region and
        stage: the same prefecture, the same metro area, another metro prefecture or a rural one."""
        return self.history.destination_frame()

    def retention(self) -> pd.DataFrame:
        """Retention of each fiscal year's settlers (定着率) 1, 3, 5 and 10 years after settling: the
        share of the cohort's survivors still living in the region they settled in."""
        return self.history.retention_frame(fiscal_years(self.dates[:-1]))

    def kpis(self) -> pd.DataFrame:
        """The seed's KPIs per step and region (例1, 例3, 例4, adopting municipalities)."""
        return self.history.kpi_frame()

    def continuously_engaged(self) -> pd.DataFrame:
        """例2: people ENGAGED or DUAL for 12 months or more, per fiscal-year end and region."""
        return self.history.continuity_frame()

    def spending(self) -> pd.DataFrame:
        """Spending per lever, region and payer (国 / 都道府県 / 市町村) per step, in yen."""
        return self.history.spending_frame()

    def lever_counts(self) -> pd.DataFrame:
        """What the levers' spending paid for (cases, persons, children, trips, days; `model.levers.COUNTS`)
        per step, fiscal year, lever and region, in real units."""
        return self.history.counts_frame()

    def revenue(self) -> pd.DataFrame:
        """Revenue to regions caused by levers (ふるさと納税) per step, in yen."""
        return self.history.revenue_frame()

    def cohorts(self) -> pd.DataFrame:
        """Programme cohorts (参加者コホート): per programme and fiscal year of entry, the members' stage
        at each fiscal-year end (members who died count as DEAD), and years since entry."""
        return self.history.cohort_frame()

    def programmes(self) -> pd.DataFrame:
        """Enrolments and people taking part per step, programme and host region."""
        return self.history.programme_frame()

    def municipalities_by_fiscal_year(self) -> pd.DataFrame:
        """National count of municipalities running 関係人口 programmes at each fiscal-year end (the KPI)."""
        adopting = self.history.kpi(KPI.MUNICIPALITIES_ADOPTING).sum(axis=1)
        dates = self.dates[: self.history.last + 1]
        frame = pd.DataFrame({"date": dates, "municipalities": adopting})
        frame["fiscal_year"] = fiscal_years(dates - pd.Timedelta(days=1))
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
