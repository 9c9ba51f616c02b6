"""Scenario schema (シナリオ定義): validated parameters, loading from TOML and dotted overrides.

Every rate is per year; the model turns it into a per-step probability p = 1 − exp(−rate·dt).
Each field's description says what it is and whether a source pins it down or it is an
assumption (docs/ODD.md lists them all with their sources).
"""

from __future__ import annotations

import copy
import math
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from mesa.experimental.scenarios import Scenario
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from model.errors import ScenarioError
from model.levers.effects import lever_key_problem, lever_name
from model.levers.registry import LEVER_SPECS, LeverSpec
from model.priors import CalibrationSettings
from model.paths import default_scenario
from model.schema import Capacity, NonNegative, Positive, Share, check_month
from model.schema import Section as _Section

DEFAULT_SCENARIO = default_scenario()
MAX_RUN_STEPS = 32767  # steps in a run: the largest step a person's int16 `enrolled_at` holds

class RunSettings(_Section):
    """When and how finely to simulate."""

    name: str = Field("", description="Scenario name used for output folders; defaults to the file stem")
    start: str = Field("2020-04", description="First month simulated, YYYY-MM (FY2020 starts 2020-04)")
    horizon_years: float = Field(15.0, gt=0, le=100, description="Years simulated (15 = FY2020–FY2034)")
    steps_per_year: int = Field(12, ge=1, le=365, description="Steps per year (12 = monthly, 52 = weekly)")
    people_per_agent: float = Field(100.0, ge=1, description="Real adults represented by one simulated person")
    seed: int = Field(0, ge=0, description="Default seed when no rng is given")

    @field_validator("start")
    @classmethod
    def _month(cls, value: str) -> str:
        return check_month(value)

    @model_validator(mode="after")
    def _steps_fit_a_person_counter(self) -> "RunSettings":
        if self.n_steps > MAX_RUN_STEPS:
            raise ValueError(f"horizon_years × steps_per_year = {self.horizon_years:g} × {self.steps_per_year} = "
                             f"{self.n_steps:,} steps; allowed: at most {MAX_RUN_STEPS:,} steps (a person's "
                             "enrolment step is stored in 16 bits): fewer years or coarser steps")
        return self

    @property
    def n_steps(self) -> int:
        """Number of steps in the horizon."""
        return int(round(self.horizon_years * self.steps_per_year))

    @property
    def dt(self) -> float:
        """Step length in years."""
        return 1.0 / self.steps_per_year


class RegionSettings(_Section):
    """Where the region table comes from and how attractive regions are (地域)."""

    data: str = Field("data/prefectures.csv", description="Region table, relative to the scenario file")
    attractiveness_metro: Positive = Field(1.0, description="Attractiveness multiplier of metro regions (assumption)")
    attractiveness_rural: Positive = Field(1.0, description="Attractiveness multiplier of rural regions (assumption)")


class TravelSettings(_Section):
    """Rule turning great-circle distance between capitals into travel time and round-trip cost."""

    route_factor: float = Field(1.3, ge=1, le=3, description="Route km per great-circle km (assumption)")
    access_hours: NonNegative = Field(1.0, description="Fixed door-to-station time, each way (assumption)")
    ground_speed_kmh: Positive = Field(80.0, description="Speed for the first ground_limit_km (car, local rail)")
    ground_limit_km: NonNegative = Field(200.0, description="Distance covered at ground speed")
    fast_speed_kmh: Positive = Field(250.0, description="Speed beyond ground_limit_km (shinkansen, air)")
    base_fare_yen: NonNegative = Field(1000.0, description="Fixed fare each way (assumption)")
    fare_per_km_yen: NonNegative = Field(22.0, description="Fare per route km, about JR fare plus express charge")
    own_distance_share: float = Field(
        0.5, gt=0, le=1, description="Great-circle km of a trip inside one's own prefecture = this × the distance "
                                     "from its capital to the nearest other capital (assumption, 0.3–0.7)")


class ChoiceSettings(_Section):
    """Gravity choice of the target region: W_ht = attr_t · adults_t^α · e^(−β_time·hours) · e^(−β_cost·cost)."""

    population_exponent: NonNegative = Field(0.5, description="α: mass exponent on adult population (assumption)")
    time_decay_per_hour: NonNegative = Field(0.25, description="β_time per hour one way (assumption)")
    cost_decay_per_10k_yen: NonNegative = Field(0.15, description="β_cost per ¥10,000 round trip (assumption)")
    yukari_bonus: NonNegative = Field(4.0, description="κ: extra weight (1+κ) of the birth region (ゆかり) (assumption)")
    own_region_weight: NonNegative = Field(
        1.0, description="ω_own: gravity weight × this for a tie inside one's own prefecture (another of its "
                         "municipalities; MLIT counts these); 0 = ties only to other prefectures (assumption, 0–1)")
    same_metro_area_weight: NonNegative = Field(
        1.0, description="ω_metro: gravity weight × this between two prefectures of one metro area (東京圏, 大阪圏, "
                         "名古屋圏); 1 = no extra pull (assumption, 0.5–3)")
    access_exponent: NonNegative = Field(0.5, description="Visit hazard ∝ (home accessibility / mean)^this (assumption)")
    engage_cost_per_10k_yen: NonNegative = Field(0.10, description="ENGAGE hazard × e^(−this·cost/¥10k) (assumption)")
    lapse_cost_per_10k_yen: NonNegative = Field(0.05, description="LAPSE hazards × e^(+this·cost/¥10k) (assumption)")
    outflow_population_exponent: NonNegative = Field(
        1.0, description="Mass exponent of the rural birth regions (ゆかり) of metro residents at the start "
                         "(assumption; prior 0.5–1.5)")
    outflow_time_decay_per_hour: NonNegative = Field(
        0.2, description="Decay per hour of those birth regions' weight (assumption; prior 0.05–0.5)")


class CapacitySettings(_Section):
    """Regional capacities rationed per step (関わりしろ and housing for movers)."""

    kakawarishiro_per_1000_adults_month: Capacity = Field(
        3.0, description="関わりしろ: newly engaged people a region takes in per month per 1,000 adults (assumption; "
                         "inf: no limit)")
    housing_share_of_vacant_per_year: Capacity = Field(
        0.03, description="Share of the region's vacant houses (空き家) open to movers each year (assumption; inf: no limit)")
    housing_per_1000_adults_year: Capacity = Field(
        8.0, description="Housing units per year per 1,000 adults when the table has no vacant_houses column")


class Rates(_Section):
    """Base hazards per year (before person factors, ties, costs and levers)."""

    visit: NonNegative = Field(0.055, description="NONE → VISITOR (assumption; hand-tuned, see docs/calibration.md)")
    engage: NonNegative = Field(0.20, description="VISITOR → ENGAGED (assumption)")
    lapse_visitor: NonNegative = Field(0.35, description="VISITOR → NONE (assumption)")
    deepen: NonNegative = Field(0.01, description="deepening of the engagement type (assumption)")
    dual: NonNegative = Field(0.006, description="ENGAGED → DUAL (assumption)")
    settle: NonNegative = Field(0.008, description="ENGAGED → SETTLED; DUAL uses it × dual_settle_factor (assumption)")
    lapse_engaged: NonNegative = Field(0.20, description="ENGAGED → VISITOR (assumption)")
    lapse_dual: NonNegative = Field(0.15, description="DUAL → ENGAGED (assumption)")
    leave: NonNegative = Field(0.10, description="SETTLED → leaves the region, hazard just after settling (assumption, 0.05–0.2)")
    leave_floor: NonNegative = Field(
        0.01, description="Long-run LEAVE hazard, years after settling; the hazard declines from `leave` toward this "
                          "and never stops at a cliff (assumption, 0.005–0.03)")
    leave_decay_years: Positive = Field(
        3.0, description="τ: LEAVE = floor + (leave − floor)·e^(−years since settling / τ) (assumption, 1–6)")
    leave_return_share: Share = Field(
        0.7, description="Share of leavers who go back to their region of origin; the rest move on by the "
                         "job-move gravity of general migration (assumption, 0.5–0.9)")
    dual_settle_factor: NonNegative = Field(6.0, description="DUAL → SETTLED hazard relative to ENGAGED → SETTLED (assumption)")


class TypeSettings(_Section):
    """The four MLIT engagement types: mix on entry and how each type behaves."""

    weights: tuple[Share, Share, Share, Share] = Field(
        (0.45, 0.25, 0.17, 0.13),
        description="Entry mix 趣味・消費 / 参加・交流 / 就労 / 直接寄与 (MLIT 2019: 10.5/5.8/3.9/3.0 of 23.2%); "
                    "relative weights, their sum must be positive")
    work_mult_capable: NonNegative = Field(3.5, description="就労 weight × this for side-job or telework capable (assumption)")
    work_mult_other: NonNegative = Field(0.3, description="就労 weight × this for others (assumption)")
    settle_mult: tuple[NonNegative, NonNegative, NonNegative, NonNegative] = Field(
        (0.5, 1.0, 1.5, 2.0), description="SETTLE and DUAL hazard × this by type (deeper ties, more moves; assumption)")
    lapse_mult: tuple[NonNegative, NonNegative, NonNegative, NonNegative] = Field(
        (1.1, 1.0, 0.95, 0.9), description="LAPSE_ENGAGED hazard × this by type (assumption)")

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if sum(value) <= 0:
            raise ValueError("at least one engagement type needs a positive weight (they are relative shares; "
                             f"got {list(value)})")
        return value


class TieSettings(_Section):
    """Tie strength: visit-days accumulated with exponential decay; raises engaging, lowers lapsing."""

    half_life_years: Positive = Field(2.0, description="Half-life of a tie without visits (assumption)")
    gain_per_visit_day: NonNegative = Field(1.0, description="Tie added per visit-day")
    kappa_engage: NonNegative = Field(0.05, description="ENGAGE hazard × (1 + κ·tie) (assumption)")
    kappa_lapse: NonNegative = Field(0.05, description="LAPSE hazards ÷ (1 + κ·tie) (assumption)")


class VisitSettings(_Section):
    """Expected visit-days per year by stage and type, and how much people differ (visit intensity).

    A person's visit-days a year are the mean of their stage and type × their own intensity: a gamma
    variable with mean 1 and coefficient of variation `cv_*` (shape 1/cv²), drawn once per person as a
    quantile, so a frequent visitor stays frequent when their type changes. cv = 0: everyone visits at
    the mean. Means and spreads are assumptions; MLIT 2023 reports about 49 % of visiting 関係人口 at
    2–7 days a year and about half of 就労型 at 8 days or more (calibration targets).
    """

    visitor: NonNegative = Field(2.0, description="VISITOR (交流人口)")
    hobby_consumption: NonNegative = Field(4.0, description="ENGAGED 趣味・消費型")
    participation: NonNegative = Field(6.0, description="ENGAGED 参加・交流型")
    work: NonNegative = Field(15.0, description="ENGAGED 就労型")
    direct_contribution: NonNegative = Field(8.0, description="ENGAGED 直接寄与型")
    dual: NonNegative = Field(60.0, description="DUAL (二地域居住)")
    cv_visitor: float = Field(1.0, ge=0, le=5, description="Spread of VISITOR intensity (assumption, 0.5–2)")
    cv_hobby_consumption: float = Field(0.8, ge=0, le=5, description="Spread, 趣味・消費型 (assumption, 0.5–2)")
    cv_participation: float = Field(0.8, ge=0, le=5, description="Spread, 参加・交流型 (assumption, 0.5–2)")
    cv_work: float = Field(1.5, ge=0, le=5, description="Spread, 就労型 (assumption, 0.8–2.5)")
    cv_direct_contribution: float = Field(1.0, ge=0, le=5, description="Spread, 直接寄与型 (assumption, 0.5–2)")
    cv_dual: float = Field(0.5, ge=0, le=5, description="Spread, DUAL (assumption, 0.2–1)")


class PopulationSettings(_Section):
    """Synthesis of the initial population (初期人口) from the region table and survey shares."""

    visitor_share: Share = Field(0.10, description="Initial VISITOR share of adults (assumption)")
    engaged_share_metro: Share = Field(
        0.184, description="Initial ENGAGED + DUAL share, metro residents (MLIT 2020 訪問系: 18.4%)")
    engaged_share_rural: Share = Field(
        0.163, description="Initial ENGAGED + DUAL share, other residents (MLIT 2020 訪問系: 16.3%)")
    dual_share: Share = Field(0.005, description="Initial DUAL share of adults, part of the shares above (assumption)")
    born_rural_share_metro: Share = Field(0.25, description="Metro residents born in a rural region (ゆかり) (assumption)")
    sidejob_share_metro: Share = Field(0.27, description="Side-job capable, working-age metro (MLIT 2019 速報: 副業 ~27%)")
    sidejob_share_rural: Share = Field(0.20, description="Side-job capable, working-age rural (assumption)")
    telework_share_metro: Share = Field(0.17, description="Telework capable, working-age metro (MLIT 2019 速報: ~17%)")
    telework_share_rural: Share = Field(0.07, description="Telework capable, working-age rural (assumption)")
    income_median_metro: Positive = Field(450.0, description="Median personal income, 万円, metro (assumption)")
    income_median_rural: Positive = Field(380.0, description="Median personal income, 万円, rural (assumption)")
    income_sigma: NonNegative = Field(0.5, description="Log-normal σ of income (assumption)")
    children_mean_30_49: NonNegative = Field(1.1, description="Mean children under 18 at ages 30–49 (assumption)")
    initial_tenure_years_max: NonNegative = Field(
        5.0, description="Initial time in stage of related people, uniform 0..this (assumption)")


class PropensitySettings(_Section):
    """Person factors: engagement (visit, engage, deepen) and mobility (dual, settle, outflow)."""

    engage_income_elasticity: float = Field(0.3, ge=-10, le=10,
                                            description="engage factor ∝ (income/median)^this (assumption)")
    engage_age_centre: float = Field(45.0, ge=0, le=120, description="Age of peak engagement (assumption)")
    engage_age_width: Positive = Field(30.0, description="engage factor × exp(−((age−centre)/width)²) (assumption)")
    rc_labour_amplitude: NonNegative = Field(0.06, description="Rogers–Castro a2 (migest fundamental schedule)")
    rc_labour_decay: NonNegative = Field(0.1, description="Rogers–Castro α2")
    rc_labour_peak: float = Field(20.0, ge=0, le=120, description="Rogers–Castro μ2")
    rc_labour_rise: NonNegative = Field(0.4, description="Rogers–Castro λ2")
    rc_constant: NonNegative = Field(0.003, description="Rogers–Castro c")
    children_coefficient: float = Field(-0.2, ge=-10, le=10, description="mobility × exp(this · children) (assumption)")
    telework_coefficient: float = Field(0.7, ge=-10, le=10, description="mobility × exp(this) if telework capable (assumption)")


MOVE_KINDS = ("job", "metro", "retire", "return")  # the order of `model.migration.MoveKind`


class MigrationSettings(_Section):
    """General migration (一般的な人口移動): moves of home that are not the relationship ladder.

    Four kinds, each a yearly hazard at the peak of its Rogers–Castro age profile (docs/ODD.md 7.20):
    job moves (転職・転勤など) among all regions, moves from rural regions to the metros (大都市圏への移動,
    what used to be youth outflow), retirement moves (退職移動) and return moves (Uターン) to the birth
    region. None of the rates is pinned by a source: they are assumptions with prior ranges for the
    calibration issue; with the defaults about 1.3 % of adults move between prefectures a year (1.36 M;
    measured on the baseline at 1,000 people per agent, 2020–23).
    """

    job_rate: NonNegative = Field(
        0.035, description="Job moves per year at the labour-force peak, any region (assumption; prior 0.01–0.08)")
    metro_rate: NonNegative = Field(
        0.015, description="Moves per year to a larger region (up the urban hierarchy, 大都市圏への移動) at the "
                          "labour-force peak (assumption; prior 0.01–0.08)")
    return_rate: NonNegative = Field(
        0.02, description="Return (U-turn) moves per year to the birth region of people living elsewhere, at the "
                          "peak of their profile (assumption; prior 0.005–0.06)")
    retire_rate: NonNegative = Field(
        0.006, description="Retirement moves per year at the retirement peak (assumption; prior 0.001–0.02)")
    return_age_shift_years: float = Field(
        4.0, ge=0, le=30, description="Return moves follow the labour-force profile this many years later "
                                      "(after study and first jobs; assumption; prior 0–10)")
    retire_peak: float = Field(67.0, ge=40, le=100, description="Rogers–Castro μ3 of the retirement component "
                                                               "(rcbayes mig_calculate_rc example: 67)")
    retire_rise: Positive = Field(0.6, description="Rogers–Castro λ3 (rcbayes example: 0.6)")
    retire_decay: Positive = Field(1.0, description="Rogers–Castro α3 (rcbayes example: 1)")
    job_population_exponent: NonNegative = Field(
        1.3, description="Mass exponent of job-move destinations, adults^this; above 1, larger labour markets pull "
                         "more than in proportion (assumption; prior 0.8–1.6)")
    job_time_decay_per_hour: NonNegative = Field(
        0.3, description="Job-move destination weight × e^(−this·hours one way) (assumption; prior 0.1–0.8)")
    metro_population_exponent: NonNegative = Field(
        1.5, description="Mass exponent of the larger regions a METRO move goes to, adults^this; the large "
                         "metropolitan cores dominate (assumption; prior 1–3)")
    metro_time_decay_per_hour: NonNegative = Field(
        0.5, description="METRO destination weight × e^(−this·hours one way) (assumption; prior 0.1–0.8)")
    retire_population_exponent: NonNegative = Field(
        0.5, description="Mass exponent of retirement destinations (assumption; prior 0–1)")
    retire_rural_weight: Positive = Field(
        2.0, description="Weight × this of rural retirement destinations (assumption; prior 1–4)")
    retire_time_decay_per_hour: NonNegative = Field(
        0.3, description="Retirement destination weight × e^(−this·hours) (assumption; prior 0.1–0.8)")
    period: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Period effect (時代効果): calendar year → a multiplier of every kind's rate, or a table of "
                    "multipliers by kind (job, metro, retire, return); years not listed use 1")

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, value: Any) -> dict[str, dict[str, float]]:
        if not isinstance(value, dict):
            raise ValueError("must be a table of calendar years, e.g. {\"2020\" = 0.8, \"2021\" = {metro = 0.7}}")
        out: dict[str, dict[str, float]] = {}
        for year, entry in value.items():
            y = str(year)
            if not (y.isdigit() and len(y) == 4 and 1900 <= int(y) <= 2200):
                raise ValueError(f"key {y!r} is not a calendar year; allowed: four-digit years 1900–2200")
            if isinstance(entry, dict):
                unknown = [k for k in entry if k not in MOVE_KINDS]
                if unknown:
                    raise ValueError(f"{y}.{unknown[0]}: unknown kind of move; allowed: {', '.join(MOVE_KINDS)}")
                items = {k: entry.get(k, 1.0) for k in MOVE_KINDS}
            else:
                items = {k: entry for k in MOVE_KINDS}
            for kind, x in items.items():
                where = y if not isinstance(entry, dict) else f"{y}.{kind}"
                if isinstance(x, bool) or not isinstance(x, int | float):
                    raise ValueError(f"{where}: must be a number ≥ 0 (a multiplier), got {x!r}")
                if not math.isfinite(x) or x < 0:
                    raise ValueError(f"{where}: must be a finite number ≥ 0 (a multiplier), got {x!r}")
            out[y] = {k: float(x) for k, x in items.items()}
        return out

    def period_multipliers(self, year: int) -> tuple[float, float, float, float]:
        """Multipliers of the four kinds (MOVE_KINDS order) in calendar `year`."""
        entry = self.period.get(str(year))
        if entry is None:
            return (1.0, 1.0, 1.0, 1.0)
        return tuple(entry[k] for k in MOVE_KINDS)  # type: ignore[return-value]


class DemographySettings(_Section):
    """Ageing, mortality and new adults (人口動態)."""

    enabled: bool = Field(True, description="Mortality and new 18-year-olds on or off (ageing always runs)")
    gompertz_a: NonNegative = Field(1.5e-5, description="Mortality μ(x) = a·e^(b·x) per year (assumption, ≈ Japan 2020)")
    gompertz_b: NonNegative = Field(0.095, description="Gompertz slope per year of age")
    new_adult_trend_per_year: float = Field(
        -0.013, ge=-0.5, le=0.5,
        description="Yearly change of the 18-year-old cohort (births 2002 ≈ 1.15M → 2017 ≈ 0.95M)")


class AdoptionSettings(_Section):
    """Municipalities running 関係人口 programmes (the national KPI) and how the practice spreads (横展開)."""

    initial_share: Share = Field(0.66, description="Share at the start (FY2020: 66 %, 内閣官房 survey via agrinews)")
    base_rate: NonNegative = Field(0.05, description="Yearly adoption hazard without neighbours (assumption)")
    neighbour_rate: NonNegative = Field(0.2, description="× the travel-time-weighted share adopting elsewhere (assumption)")
    neighbour_hours: Positive = Field(3.0, description="Neighbour weight e^(−hours/this) (assumption)")


class OutcomeSettings(_Section):
    """Sizes used to turn the model's state into the seed's KPIs (例1–例4); all assumptions."""

    workers_per_hosting_sme: Positive = Field(2.0, description="就労型 people per SME hosting side-job workers (例1)")
    spend_per_visit_day_yen: NonNegative = Field(10_000, description="Spending in the region per visit-day (例4)")
    pride_gain: NonNegative = Field(0.15, description="Pride rises with outsiders' visit-days per resident-year (例3)")
    pride_decay: NonNegative = Field(0.2, description="Pride relaxes toward 0 at this yearly rate (例3)")


class ScenarioConfig(_Section):
    """A whole scenario: the validated content of a scenario TOML file."""

    run: RunSettings = RunSettings()
    regions: RegionSettings = RegionSettings()
    travel: TravelSettings = TravelSettings()
    choice: ChoiceSettings = ChoiceSettings()
    capacity: CapacitySettings = CapacitySettings()
    rates: Rates = Rates()
    types: TypeSettings = TypeSettings()
    ties: TieSettings = TieSettings()
    visits: VisitSettings = VisitSettings()
    population: PopulationSettings = PopulationSettings()
    propensity: PropensitySettings = PropensitySettings()
    migration: MigrationSettings = MigrationSettings()
    demography: DemographySettings = DemographySettings()
    adoption: AdoptionSettings = AdoptionSettings()
    outcomes: OutcomeSettings = OutcomeSettings()
    levers: list[LeverSpec] = Field(default_factory=list)
    calibration: CalibrationSettings = CalibrationSettings()

    @model_validator(mode="after")
    def _programmes_fit_the_horizon(self) -> "ScenarioConfig":
        months = self.run.horizon_years * 12
        if self.run.n_steps < 1:
            return self                  # no step at all: `check_against_table` says so about the horizon
        for i, lever in enumerate(self.levers):
            duration = getattr(lever, "duration_months", None)
            if duration is not None and duration > months:
                label = f" of the lever {lever.name!r}" if lever.name else ""
                raise ValueError(f"levers.{i}.duration_months: {duration:g} months{label} is longer than the "
                                 f"horizon ({months:g} months); allowed: at most the horizon (run.horizon_years × 12)")
        return self

    @model_validator(mode="after")
    def _members_in_post_at_the_start(self) -> "ScenarioConfig":
        start = self.run.start
        for i, lever in enumerate(self.levers):
            members = getattr(lever, "initial_participants", 0.0)
            if members > 0 and not lever.start <= start <= lever.end:
                label = f" of the lever {lever.name!r}" if lever.name else ""
                raise ValueError(f"levers.{i}.initial_participants: {members:g} members in post at the start{label}, "
                                 f"but the lever is in force {lever.start} to {lever.end} and the run starts {start}; "
                                 "allowed: 0, or a lever in force in the run's first month (start at or before "
                                 "run.start, end at or after it)")
        return self

    @model_validator(mode="after")
    def _unique_lever_names(self) -> "ScenarioConfig":
        first: dict[str, int] = {}
        for i, lever in enumerate(self.levers):
            if lever.name and lever.name in first:
                raise ValueError(f"levers.{i}.name: {lever.name!r} is also the name of levers.{first[lever.name]}; "
                                 "lever names must be unique in a scenario (they label its outputs, and a file that "
                                 "extends it changes a lever by its name)")
            first.setdefault(lever.name, i)
        return self

    @model_validator(mode="after")
    def _priors_name_numbers(self) -> "ScenarioConfig":
        values = self.model_dump(mode="python")
        for key in self.calibration.priors:
            if key.split(".")[0] in ("run", "calibration"):
                raise ValueError(f"calibration.priors.{key}: run and calibration settings are not free "
                                 "parameters (they say how a run is made and how it is calibrated, not how people "
                                 "behave)")
            if lever_name(key) is not None or key == "levers":
                problem = lever_key_problem(self.levers, key)
                if problem is not None:
                    raise ValueError(f"calibration.priors.{key}: {problem}")
                continue
            node: Any = values
            for part in key.split("."):
                if not (isinstance(node, dict) and part in node):
                    raise ValueError(f"calibration.priors.{key}: no such scenario value (write a dotted key "
                                     "such as rates.settle)")
                node = node[part]
            if isinstance(node, bool) or not isinstance(node, (int, float)):
                raise ValueError(f"calibration.priors.{key}: a prior needs a single number, the key holds {node!r}")
        return self

    @model_validator(mode="after")
    def _initial_shares(self) -> "ScenarioConfig":
        p = self.population
        for kind, engaged in (("metro", p.engaged_share_metro), ("rural", p.engaged_share_rural)):
            if p.visitor_share + engaged > 1:
                raise ValueError(f"population: visitor_share + engaged_share_{kind} exceeds 1")
        return self


class KankeiScenario(Scenario):
    """Mesa Scenario carrying a validated `ScenarioConfig` (`.config`), its source file and name."""

    config: ScenarioConfig
    source: str
    name: str

    def with_rng(self, rng: Any) -> "KankeiScenario":
        """The same scenario with another rng/seed (Mesa requires model and scenario rng to match)."""
        return KankeiScenario(rng=rng, config=self.config, source=self.source, name=self.name)

    def data_path(self) -> Path:
        """Absolute path of the region table."""
        return resolve_data_path(self.source, self.config.regions.data)


def resolve_data_path(source: str, data: str) -> Path:
    """The region table path, relative to the scenario file (or the scenarios folder)."""
    path = Path(data)
    if path.is_absolute():
        return path
    base = Path(source).parent if source and Path(source).suffix == ".toml" else DEFAULT_SCENARIO.parent
    return (base / path).resolve()


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """Set dotted keys (`run.people_per_agent`, `levers.0.factor`) in a copy of the raw scenario."""
    data = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if len(parts) < 2:
            if dotted not in ScenarioConfig.model_fields:
                raise ScenarioError(source, dotted, "override keys are dotted, section.key (e.g. "
                                    f"run.people_per_agent), or a whole section: {_allowed(ScenarioConfig)}")
            data[dotted] = copy.deepcopy(value)
            continue
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, ".".join(parts[: depth + 1]), source)
                continue
            if part not in ScenarioConfig.model_fields and depth == 0:
                raise ScenarioError(source, dotted, f"unknown section {part!r}; allowed: {_allowed(ScenarioConfig)}")
            node = node.setdefault(part, [] if part == "levers" else {})
            if not isinstance(node, dict | list):
                raise ScenarioError(source, dotted, f"{'.'.join(parts[: depth + 1])} is a single value, not a "
                                    "section: nothing can be set inside it")
        last = parts[-1]
        if isinstance(node, list):
            node[_list_index(node, last, dotted, source)] = value
        else:
            node[last] = value
    return data


def _list_item(node: list, part: str, key: str, source: str) -> Any:
    """Item `part` of a list: by position (`levers.0`) or, for tables with a `name`, by name
    (`levers.relocation_grant`)."""
    return node[_list_index(node, part, key, source)]


def _list_index(node: list, part: str, key: str, source: str) -> int:
    if part.isdigit():
        if int(part) < len(node):
            return int(part)
        raise ScenarioError(source, key, f"no list item {part!r}; the list has {len(node)} items")
    names = [item.get("name") if isinstance(item, dict) else None for item in node]
    if part in names:
        return names.index(part)
    if not node:
        raise ScenarioError(source, key, f"no list item {part!r}; the list is empty")
    known = ", ".join(repr(n) for n in names if isinstance(n, str) and n) or "none"
    raise ScenarioError(source, key, f"no list item {part!r}: give its position (0 to {len(node) - 1}) or the name "
                        f"of a lever (named here: {known})")


def _allowed(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at `loc` (for 'allowed keys' messages)."""
    model: Any = ScenarioConfig
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def _explain(error: dict[str, Any]) -> tuple[str, str]:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p in LEVER_SPECS))
    key = ".".join(str(p) for p in loc)
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        msg = f"each lever needs kind = one of {', '.join(LEVER_SPECS)}"
    elif error["type"] == "extra_forbidden":
        raw = error["loc"]
        lever_kind = raw[2] if len(raw) > 3 and raw[0] == "levers" else None
        holder = LEVER_SPECS.get(lever_kind) if lever_kind else _model_at(loc)
        msg = "unknown key" + (f"; allowed here: {_allowed(holder)}" if holder else "")
    elif error["type"] == "missing":
        msg = "required key is missing"
    elif not key and (named := re.match(r"^(levers\.\d+\.\w+|calibration\.priors\.\S+): (.*)$", msg, re.S)):
        key, msg = named.groups()     # a whole-scenario check that names the key it is about
    return key, msg


def build_config(raw: dict[str, Any], source: str) -> ScenarioConfig:
    """Validate a raw scenario dict; the first problem becomes a ScenarioError."""
    try:
        config = ScenarioConfig.model_validate(raw)
    except ValidationError as exc:
        key, msg = _explain(exc.errors()[0])
        more = len(exc.errors()) - 1
        raise ScenarioError(source, key, msg + (f" (and {more} more problem(s))" if more else "")) from None
    data = resolve_data_path(source, config.regions.data)
    if not data.is_file():
        raise ScenarioError(source, "regions.data", f"data file not found: {data}")
    check_against_table(config, source, data)
    return config


def check_against_table(config: ScenarioConfig, source: str, data: Path) -> None:
    """Checks that need the whole scenario or the region table: at least one step, every region
    gets agents at this scale, every region code a lever names is in the table, and a programme's
    members in post at the start fit the places of a full term in its host regions."""
    from model.levers.leverset import region_mask

    run = config.run
    if run.n_steps < 1:
        raise ScenarioError(source, "run.horizon_years", f"{run.horizon_years:g} years is shorter than one step "
                            f"(1/{run.steps_per_year} year); allowed: at least {1 / run.steps_per_year:.4g}")
    stat = data.stat()
    table = _region_table(str(data), stat.st_mtime_ns, stat.st_size)
    adults = table.adults
    smallest = int(adults.argmin())
    ppa = config.run.people_per_agent
    if adults[smallest] < ppa:
        raise ScenarioError(source, "run.people_per_agent",
                            f"{ppa:g} leaves regions without agents ({table.names_en[smallest]} has "
                            f"{adults[smallest]:,.0f} adults in {data.name}); allowed: 1 to {adults[smallest]:,.0f}")
    for i, lever in enumerate(config.levers):
        for sel in lever.selectors:
            region_mask(getattr(lever, sel), table, source, f"levers.{i}.{sel}")
        members = getattr(lever, "initial_participants", 0.0)
        if members > 0:
            hosts = int(region_mask(lever.regions, table, source, f"levers.{i}.regions").sum())
            most = lever.full_term_places(hosts)
            if members > most:
                raise ScenarioError(source, f"levers.{i}.initial_participants",
                                    f"{members:g} members in post exceed the places of a full term ({most:,.6g} = "
                                    f"places_per_region_year {lever.places_per_region_year:g} × {hosts} host regions × "
                                    f"duration_months {lever.duration_months:g} ÷ 12); allowed: 0 to {most:,.6g}")


@lru_cache(maxsize=16)
def _region_table(path: str, mtime_ns: int, size: int):
    """The region table for validation, read once per file version (a sweep validates many points)."""
    from model.regions import read_region_table

    return read_region_table(Path(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a scenario file; a missing or malformed file becomes a ScenarioError."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(path, "", "scenario file not found")
    return load_toml(path)


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; unreadable, non-UTF-8 or malformed files become a ScenarioError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(path, "", f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); TOML files "
                            "must be saved as UTF-8 (e.g. not Shift-JIS)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"not valid TOML: {exc}") from None


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Child values over base values, section by section (a list value replaces the base's; a
    scenario's `[[levers]]` are merged by name instead, `merge_levers`, in `read_scenario`)."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


REMOVE = "remove"   # `remove = true` in a child's [[levers]] entry drops the parent's lever of that name


def merge_levers(base: list[Any], child: Any, source: Path, parent: Path) -> list[Any]:
    """The levers of a scenario that `extends` another: the parent's levers, changed by the child's.

    A child lever whose `name` is the name of a parent lever **changes** that lever in its place: the
    keys it gives replace the parent's (tables inside a lever, such as `effects`, key by key), the
    rest are kept, and its `kind` may be left out but not changed. A child entry with only `name` and
    `remove = true` drops the parent's lever of that name. Every other child lever (a new name, or
    none) is **added** after the parent's. Names are compared exactly; unnamed levers are never matched.
    """
    for levers, file in ((base, parent), (child, source)):
        if not isinstance(levers, list) or not all(isinstance(entry, dict) for entry in levers):
            raise ScenarioError(file, "levers", "must be an array of tables, each written [[levers]] with its keys")
    out = copy.deepcopy(base)
    where = {entry.get("name"): k for k, entry in enumerate(out)
             if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry.get("name")}
    seen: dict[str, int] = {}
    dropped: list[int] = []
    added: list[dict[str, Any]] = []
    for i, entry in enumerate(child):
        name = entry.get("name")
        named = isinstance(name, str) and name != ""
        if named and name in seen:
            raise ScenarioError(source, f"levers.{i}.name", f"{name!r} is also the name of levers.{seen[name]} in "
                                "this file; a name identifies one lever (a lever named like one of the parent's "
                                "changes it), so names must be unique")
        if named:
            seen[name] = i
        remove = entry.get(REMOVE, False)
        if not isinstance(remove, bool):
            raise ScenarioError(source, f"levers.{i}.{REMOVE}", f"must be true or false, got {remove!r}")
        if remove:
            if not named or name not in where:
                known = ", ".join(repr(n) for n in where) or "none"
                raise ScenarioError(source, f"levers.{i}.{REMOVE}", "removes a lever of the parent by its name; "
                                    f"{parent.name} has no lever named {name!r} (its named levers: {known})")
            extra = sorted(set(entry) - {"name", REMOVE})
            if extra:
                raise ScenarioError(source, f"levers.{i}.{extra[0]}", "a lever entry with remove = true takes only "
                                    "name (to change the lever instead, leave remove out)")
            dropped.append(where[name])
            continue
        change = {k: v for k, v in entry.items() if k != REMOVE}
        if named and name in where:
            k = where[name]
            kind = out[k].get("kind")
            if "kind" in change and change["kind"] != kind:
                raise ScenarioError(source, f"levers.{i}.kind", f"{change['kind']!r} would change the kind of the "
                                    f"lever {name!r} of {parent.name}, a {kind!r} lever; a lever changed by name "
                                    "keeps its kind (leave kind out, or give the new lever another name to add it)")
            out[k] = merge(out[k], change)
        else:
            added.append(change)
    return [entry for k, entry in enumerate(out) if k not in dropped] + added


def read_scenario(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A scenario file with what it `extends` (a path relative to it) merged underneath.

    The run name is never inherited: a scenario without its own `run.name` is named after its file.
    """
    path = path.resolve()
    if path in chain:
        raise ScenarioError(path, "extends", "scenarios extend each other in a cycle: "
                            + " → ".join(p.name for p in (*chain, path)))
    raw = read_toml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        levers = raw.get("levers")
        for i, entry in enumerate(levers if isinstance(levers, list) else []):
            if isinstance(entry, dict) and REMOVE in entry:
                raise ScenarioError(path, f"levers.{i}.{REMOVE}", "removes a lever of the scenario this file "
                                    "extends, and this file extends none (add extends = \"...\" or drop the key)")
        return raw
    if not isinstance(parent, str):
        raise ScenarioError(path, "extends", "must be the path of another scenario file, e.g. \"baseline.toml\"")
    base = read_scenario(path.parent / parent, (*chain, path))
    base.get("run", {}).pop("name", None)
    data = base.get("regions", {}).get("data")
    if isinstance(data, str) and not Path(data).is_absolute():
        # a parent's table path is relative to the parent's file: re-express it relative to this one
        own = (path.parent / parent).resolve().parent / data
        base["regions"]["data"] = os.path.relpath(own, path.parent)
    levers = merge_levers(base.pop("levers", []), raw.pop("levers"), path, path.parent / parent) \
        if "levers" in raw else base.pop("levers", None)
    merged = merge(base, raw)
    if levers is not None:
        merged["levers"] = levers
        _drop_priors_of_removed_levers(merged, raw)
    return merged


def _drop_priors_of_removed_levers(merged: dict[str, Any], own: dict[str, Any]) -> None:
    """Drop the priors a scenario inherits on effect sizes of levers it removed (`remove = true`): a
    lever that is gone has no effect size to fit. Priors the file writes itself are kept (and checked)."""
    def priors_of(data: dict[str, Any]) -> dict[str, Any]:
        calibration = data.get("calibration")
        priors = calibration.get("priors") if isinstance(calibration, dict) else None
        return priors if isinstance(priors, dict) else {}

    priors, written = priors_of(merged), priors_of(own)
    names = {entry.get("name") for entry in merged["levers"] if isinstance(entry, dict)}
    for key in [k for k in priors if k not in written and lever_name(k) is not None]:
        if lever_name(key) not in names:
            del priors[key]


def load_scenario(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                  rng: Any = None) -> KankeiScenario:
    """Load, override and validate a scenario file (default: scenarios/baseline.toml)."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    return scenario_from_raw(read_scenario(path), path, overrides, rng)


def scenario_from_raw(raw: dict[str, Any], path: str | Path, overrides: dict[str, Any] | None = None,
                      rng: Any = None) -> KankeiScenario:
    """Override and validate a scenario already read by `read_scenario(path)` (it is not changed):
    a sweep reads its scenario file once and builds every design point from it."""
    path = Path(path)
    raw = apply_overrides(raw, overrides or {}, str(path))
    config = build_config(raw, str(path))
    name = config.run.name or path.stem
    return KankeiScenario(rng=config.run.seed if rng is None else rng, config=config,
                          source=str(path.resolve()), name=name)


def with_overrides(scenario: KankeiScenario, overrides: dict[str, Any]) -> KankeiScenario:
    """A scenario with dotted overrides applied on top of an already loaded one."""
    if not overrides:
        return scenario
    raw = apply_overrides(scenario.config.model_dump(mode="python"), overrides, scenario.source)
    config = build_config(raw, scenario.source)
    rng = config.run.seed if "run.seed" in overrides else scenario.rng
    return KankeiScenario(rng=rng, config=config, source=scenario.source, name=scenario.name)
