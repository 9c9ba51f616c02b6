"""Levers that take people in (参加型の施策): programmes with places, and staff who serve a caseload.

A programme lever acts only on the people it enrols. Each host region offers a number of places a
year (for staff: staff × caseload ÷ the months a person is served); eligible people (by home region,
stage, age; never enrolled before) are enrolled at random on their own stream until the places are
used (the chance per step is places ÷ last step's eligible people, exact in expectation at any
`people_per_agent`). While taking part, a participant's hazards are multiplied by the programme's
effects and they may visit more; nobody else's hazards change. Spending is per place-year taken, per
entry, or per staff-year, so cost per outcome counts exactly whom the lever paid for.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from model.codes import N_CLASSES
from model.levers.effects import effect_size
from model.levers.base import COUNTS, EffectContext, Lever, LeverContext, LeverEffects, Masks
from model.levers.generic import TransitionName
from model.schema import FiniteNonNegative, NonNegative, Positive, RegionSelector
from model.stages import N_STAGES, N_TRANSITIONS, EngagementType, Stage, Transition

if TYPE_CHECKING:
    from model.regions import Travel
    from model.units import Scale

StageName = Literal["none", "visitor", "engaged", "dual", "settled"]
EntryStage = Literal["visitor", "engaged", "dual"]
TypeName = Literal["hobby_consumption", "participation", "work", "direct_contribution"]


@dataclass(frozen=True)
class ProgrammeRow:
    """What a programme is, fixed for the run: the kernel's row of `ProgrammeInputs`."""

    hosts: np.ndarray          # (R,) bool: host regions (the lever's `regions`)
    homes: np.ndarray          # (R,) bool: where participants may live
    stages: np.ndarray         # (stages,) bool: stages that may enrol
    age_min: float
    age_max: float
    entry_stage: Stage
    entry_type: EngagementType
    duration_months: float
    mult: np.ndarray           # (transitions,) hazard multipliers while taking part
    visit_days_per_year: float  # extra visit-days per year while taking part
    classes: np.ndarray = field(default_factory=lambda: np.ones(N_CLASSES, dtype=bool))  # cost classes that may enrol
    relief_yen: np.ndarray | None = None  # (R home, R target) yen of each round trip the programme pays, None = 0
    days_per_trip: float = 1.0  # visit-days per round trip (turns relief per trip into relief per day)
    cap_yen_per_year: float = float("inf")  # yearly cap per participant of what is paid per day (`participant_days`)
    cap_value_yen: np.ndarray | None = None  # (R, R) yen per round trip counted against the cap, None = relief_yen


@dataclass(frozen=True)
class RowContext:
    """What a programme's fixed row may depend on: travel between regions and visit-days by cost class."""

    travel: "Travel"
    visit_days_per_year: np.ndarray  # (classes,) expected visit-days a year of an ENGAGED person (VISITOR if untyped)


class ProgrammeLever(Lever):
    """What every lever that enrols people shares: a row of the programme table and places per region."""

    is_programme: ClassVar[bool] = True
    priority = 60  # after a CKO, whose quality widens the places of its regions' programmes
    cko_places: NonNegative = effect_size(
        0.0, description="Places × (1 + this · CKO quality) where a CKO leads (assumption; 0 = no CKO effect)")

    @abstractmethod
    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        """The programme's fixed row."""

    @abstractmethod
    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        """(R,) places a year in each host region, before a CKO's widening."""

    def places(self, masks: Masks, ctx: EffectContext, effects: LeverEffects) -> np.ndarray:
        """(R,) places a year in each host region this step."""
        return self.base_places(masks, ctx) * (1.0 + self.cko_places * effects.cko_quality)

    def take_up(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        """(R,) yearly hazard at which eligible people enrol by host region, whatever the places
        (schemes that anyone eligible may use: subsidies, registration); default none."""
        return np.zeros(len(masks["regions"]))

    @abstractmethod
    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        """(R,) yen for this step, from its participants and entries (simulated persons) by host region
        and its participants' visit-days `days` (R home, R host; within the row's yearly cap)."""

    def programme_counts(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        """(len(COUNTS), R) what the step's claims paid for, in real units (default: nothing)."""
        return np.zeros((len(COUNTS), len(masks["regions"])))


def caseload_row(masks: Masks, stages: list[str], duration_months: float, mult: dict[Transition, float],
                 entry_stage: Stage = Stage.VISITOR, entry_type: EngagementType = EngagementType.PARTICIPATION,
                 age_max: float = 121.0) -> ProgrammeRow:
    """The row of a staff lever: people of any home, at `stages`, served for `duration_months`."""
    return ProgrammeRow(hosts=masks["regions"], homes=np.ones(len(masks["regions"]), dtype=bool),
                        stages=stage_mask(stages), age_min=18.0, age_max=age_max, entry_stage=entry_stage,
                        entry_type=entry_type, duration_months=duration_months, mult=multipliers(mult),
                        visit_days_per_year=0.0)


def multipliers(factors: dict[Transition, float]) -> np.ndarray:
    """(transitions,) hazard multipliers: 1 except for the transitions given."""
    mult = np.ones(N_TRANSITIONS)
    for transition, factor in factors.items():
        mult[transition] = factor
    return mult


def stage_mask(stages: list[str]) -> np.ndarray:
    """(stages,) bool mask of stage names."""
    mask = np.zeros(N_STAGES, dtype=bool)
    for name in stages:
        mask[Stage[name.upper()]] = True
    return mask


class Programme(ProgrammeLever):
    """A programme with places (事業): a work stay, an academy, 地域おこし協力隊, ...

    Each host region in `regions` offers `places_per_region_year`. People living in `homes`, at a
    stage in `stages`, aged `age_min` ≤ age < `age_max`, who have never enrolled, may enrol: people
    with no relationship (stage none) as a first contact, with a host drawn by gravity among the
    host regions; people related to a host region (its visitors, 関係人口, dual residents, or settlers
    living there) in that region. On enrolment a participant is raised to `entry_stage` (at least a
    visitor of the host), with `entry_type` on entering 関係人口. For `duration_months` their hazards
    are multiplied by `effects` and they make `visit_days_per_year` more visit-days; afterwards their
    own ties carry on. Cost: `cost_per_place_year` per participant-year taken plus `cost_per_entry`.
    `initial_participants` real persons are in post when the run starts (着任中の参加者), enrolled
    uniformly over the term before it (`model.population.place_members`).
    """

    kind: Literal["programme"] = "programme"
    selectors: ClassVar[tuple[str, ...]] = ("regions", "homes")
    homes: RegionSelector = Field("all", description="Where participants may live")
    stages: list[StageName] = Field(["none", "visitor"], min_length=1, description="Stages that may enrol")
    age_min: float = Field(18.0, ge=18, le=120, description="Youngest age that may enrol")
    age_max: float = Field(120.0, gt=18, le=121, description="Enrolment below this age")
    places_per_region_year: NonNegative = Field(..., description="Places each host region offers per year")
    duration_months: Positive = Field(..., le=600, description="Months a participant takes part")
    entry_stage: EntryStage = Field("visitor", description="Stage a participant is raised to on enrolment")
    entry_type: TypeName = Field("participation", description="Engagement type on entering 関係人口 or DUAL")
    visit_days_per_year: NonNegative = Field(0.0, description="Extra visit-days per year while taking part")
    effects: dict[TransitionName, NonNegative] = effect_size(  # type: ignore[valid-type]
        default_factory=dict, description="Hazard multipliers while taking part, by transition (assumption)")
    cost_per_place_year: NonNegative = Field(0.0, description="Yen per participant-year")
    cost_per_entry: NonNegative = Field(0.0, description="Yen per enrolment")
    initial_participants: FiniteNonNegative = Field(
        0.0, description="Real persons in post when the run starts (enrolled over the term before it); "
                         "at most a full term's places")

    @model_validator(mode="after")
    def _ages(self) -> "Programme":
        if self.age_max <= self.age_min:
            raise ValueError(f"age_max ({self.age_max:g}) must be above age_min ({self.age_min:g})")
        return self

    def full_term_places(self, n_regions: int) -> float:
        """Places a full term offers in `n_regions` host regions (places a year × regions × term in
        years): the most people the programme can have in post at once, before a CKO's widening."""
        return self.places_per_region_year * n_regions * self.duration_months / 12

    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        return ProgrammeRow(hosts=masks["regions"], homes=masks["homes"], stages=stage_mask(self.stages), age_min=self.age_min,
                            age_max=self.age_max, entry_stage=Stage[self.entry_stage.upper()],
                            entry_type=EngagementType[self.entry_type.upper()],
                            duration_months=self.duration_months, mult=multipliers({Transition[n.upper()]: f for n, f in self.effects.items()}),
                            visit_days_per_year=self.visit_days_per_year)

    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        return self.places_per_region_year * self.strength(masks["regions"], ctx)

    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        return scale.people(participants * self.cost_per_place_year * ctx.dt + entries * self.cost_per_entry)
