"""Travel subsidy for side jobs (副業・兼業 移動費支援), paid per participant and trip."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from model.codes import N_CLASSES
from model.levers.effects import effect_size
from model.levers.base import COUNT_INDEX, COUNTS, EffectContext, LeverContext, Masks
from model.levers.programmes import ProgrammeLever, ProgrammeRow, RowContext, multipliers, stage_mask
from model.schema import NonNegative, Positive, RegionSelector, Share
from model.stages import EngagementType, Stage

if TYPE_CHECKING:
    from model.units import Scale

TOKYO_AREA = [11, 12, 13, 14]


def eligible_classes(eligible: str) -> np.ndarray:
    """Cost classes (type + 5·side-job) a subsidy covers.

    'work': 就労型 関係人口 and side-job-capable visitors (untyped), since the subsidy is what lets a side
    job start; 'all_engaged': every ENGAGED or DUAL person whatever the type.
    """
    classes = np.zeros(N_CLASSES, dtype=bool)
    if eligible == "work":
        classes[[EngagementType.WORK, 5 + EngagementType.WORK, 5 + EngagementType.NONE]] = True
    else:
        for k in range(1, 5):
            classes[[k, 5 + k]] = True
    return classes


class TravelSubsidy(ProgrammeLever):
    """副業・兼業 移動費支援: half of each round trip over ¥10,000, up to ¥500,000 a year per person.

    Who it reaches (participants, `ProgrammeLever`): people living in `homes`, related to a host
    region in `regions` (its visitors, 関係人口 or dual residents) and of an eligible class
    (`eligible_classes`: by default 就労型 関係人口 and side-job-capable visitors) start using the
    scheme at the yearly hazard `take_up_per_year` (assumption; no take-up figure was found), each for
    `duration_months` (36: the scheme's three years, ¥1.5 million in all), once in a run. Places do not
    bound it; a `budget_yen` does.

    What it does to them alone: the round trip they pay falls by the subsidy, `share` × cost for trips
    costing more than `min_trip_yen` (0 otherwise), so their ENGAGE hazard rises and their lapse hazards
    fall through the kernel's travel-cost factors, exactly at their home–host pair. Nobody else's cost
    or hazards change (the first-visit choice of people with no relationship is untouched: they make no
    subsidised trip).

    What it pays: per participant round trip (visit-days ÷ `days_per_trip`, an assumption) the subsidy
    of that pair, up to `annual_cap_yen` per participant and fiscal year (the kernel counts a
    participant's visit-days only up to the cap ÷ subsidy per day, from their visit-days of the 年度 so
    far). Trips and days paid are reported (`COUNTS`). Defaults: Cabinet Office scheme from FY2020 (up
    to 50万円/yr, 150万円/3 yrs; Nikkei 2020-01-10); national and local government each pay half.
    """

    kind: Literal["travel_subsidy"] = "travel_subsidy"
    selectors: ClassVar[tuple[str, ...]] = ("regions", "homes")
    homes: RegionSelector = Field(TOKYO_AREA, description="Regions whose residents are eligible (default 東京圏)")
    eligible: Literal["work", "all_engaged"] = Field("work", description="Who is eligible (see eligible_classes)")
    share: Share = Field(0.5, description="Share of the round trip reimbursed")
    min_trip_yen: NonNegative = Field(10_000, description="Only round trips costing more than this")
    annual_cap_yen: NonNegative = Field(500_000, description="Per participant and fiscal year")
    days_per_trip: float = effect_size(2.0, gt=0, allow_inf_nan=False, description="Visit-days per round trip (assumption)")
    take_up_per_year: NonNegative = effect_size(
        0.1, description="Yearly hazard at which eligible people start using the scheme (assumption, 0.02–0.3)")
    duration_months: Positive = Field(36.0, le=600, description="Months a participant is subsidised (the scheme's 3 years)")
    payer_national: Share = 0.5
    payer_municipality: Share = 0.5

    def relief(self, masks: Masks, ctx: RowContext | EffectContext) -> np.ndarray:
        """(R home, R host) yen the scheme pays of each round trip, zero where not eligible."""
        cost = ctx.travel.cost_yen
        per_trip = np.where(cost > self.min_trip_yen, self.share * cost, 0.0)
        return per_trip * masks["homes"][:, None] * masks["regions"][None, :]

    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        stages = ["visitor", "engaged", "dual"] if self.eligible == "work" else ["engaged", "dual"]
        return ProgrammeRow(hosts=masks["regions"], homes=masks["homes"], stages=stage_mask(stages),
                            age_min=18.0, age_max=121.0, entry_stage=Stage.VISITOR,
                            entry_type=EngagementType.WORK, duration_months=self.duration_months,
                            mult=multipliers({}), visit_days_per_year=0.0, classes=eligible_classes(self.eligible),
                            relief_yen=self.relief(masks, ctx), days_per_trip=self.days_per_trip,
                            cap_yen_per_year=self.annual_cap_yen)

    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        return np.zeros(len(masks["regions"]))

    def take_up(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        """Nobody takes up a subsidy that pays nothing (share or cap zero)."""
        pays = self.share > 0 and self.annual_cap_yen > 0
        return self.take_up_per_year * self.strength(masks["regions"], ctx) * pays

    def _paid(self, masks: Masks, ctx: LeverContext, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(trips, yen) by host region of participants' counted visit-days (simulated persons)."""
        relief = self.relief(masks, ctx)
        counted = days * (relief > 0)
        return counted.sum(axis=0) / self.days_per_trip, (counted * relief).sum(axis=0) / self.days_per_trip

    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        return scale.people(self._paid(masks, ctx, days)[1])

    def programme_counts(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        out = np.zeros((len(COUNTS), len(masks["regions"])))
        trips, _ = self._paid(masks, ctx, days)
        out[COUNT_INDEX["trips"]] = scale.people(trips)
        out[COUNT_INDEX["days"]] = scale.people(trips * self.days_per_trip)
        return out
