"""Travel subsidy for side jobs (副業・兼業 移動費支援)."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from model.codes import N_CLASSES
from model.levers.base import EffectContext, LeverEffects, Lever, LeverContext, Masks, StepRecord
from model.schema import NonNegative, RegionSelector, Share
from model.stages import EngagementType

TOKYO_AREA = [11, 12, 13, 14]


def eligible_classes(eligible: str) -> np.ndarray:
    """Cost classes (type + 5·side-job) a subsidy covers.

    'work': 就労型 engaged people and side-job-capable people before they engage (visitors and
    people without a tie), since the subsidy is what lets a side job start; 'all_engaged': every
    ENGAGED or DUAL person whatever the type.
    """
    classes = np.zeros(N_CLASSES, dtype=bool)
    if eligible == "work":
        classes[[EngagementType.WORK, 5 + EngagementType.WORK, 5 + EngagementType.NONE]] = True
    else:
        for k in range(1, 5):
            classes[[k, 5 + k]] = True
    return classes


class TravelSubsidy(Lever):
    """副業・兼業 移動費支援: half of each round trip over ¥10,000, up to ¥500,000 a year per person.

    Model: for eligible people living in `homes` and related to a host region in `regions`, the
    round-trip cost they pay falls, on average over eligible people of whom a share `take_up`
    uses the scheme, by take_up × the subsidy per trip, share × cost (trips costing more than
    `min_trip_yen`), but by no more than `annual_cap_yen` spread over the trips they make in a year
    at their type's visit-days (`visits` settings) and `days_per_trip`. Lower cost raises the
    first-visit choice and accessibility, the ENGAGE hazard and lowers the lapse hazards through
    the travel-cost terms. Spending: the subsidy per visit-day × visit-days made by eligible people.
    The scheme's ¥1.5 million over 3 years is the yearly cap held for three years.
    Defaults: Cabinet Office scheme from FY2020 (up to 50万円/yr, 150万円/3 yrs; Nikkei 2020-01-10);
    national and local government each pay half (国 + 自治体 reimburse half to the host firm).
    """

    kind: Literal["travel_subsidy"] = "travel_subsidy"
    selectors: ClassVar[tuple[str, ...]] = ("regions", "homes")
    homes: RegionSelector = Field(TOKYO_AREA, description="Regions whose residents are eligible (default 東京圏)")
    eligible: Literal["work", "all_engaged"] = Field("work", description="Who is eligible (see eligible_classes)")
    share: Share = Field(0.5, description="Share of the round trip reimbursed")
    min_trip_yen: NonNegative = Field(10_000, description="Only round trips costing more than this")
    annual_cap_yen: NonNegative = Field(500_000, description="Per person and year")
    days_per_trip: float = Field(2.0, gt=0, description="Visit-days per round trip (assumption)")
    take_up: Share = Field(0.1, description="Share of eligible people who use the scheme (assumption)")
    payer_national: Share = 0.5
    payer_municipality: Share = 0.5

    def subsidy_per_trip(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        """(classes, R, R) yen per round trip, zero where not eligible."""
        mask, home_mask = masks["regions"], masks["homes"]
        cost = ctx.travel.cost_yen
        per_trip = np.where(cost > self.min_trip_yen, self.share * cost, 0.0)
        trips_per_year = np.maximum(ctx.visit_days_per_year / self.days_per_trip, 1e-9)
        capped = np.minimum(per_trip[None, :, :], self.annual_cap_yen / trips_per_year[:, None, None])
        where = eligible_classes(self.eligible)[:, None, None] & home_mask[None, :, None] & (mask > 0)[None, None, :]
        return np.where(where, capped, 0.0) * self.strength(mask, ctx)[None, None, :] * self.take_up

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        cost = ctx.travel.cost_yen
        sub = self.subsidy_per_trip(masks, ctx)
        with np.errstate(divide="ignore", invalid="ignore"):
            paid = np.where(cost > 0, np.clip(1.0 - sub / cost, 0.0, 1.0), 1.0)
        effects.cost_share *= paid

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        sub = self.subsidy_per_trip(masks, ctx)
        per_day = sub / self.days_per_trip
        yen = (record.visit_pairs * per_day).sum(axis=(0, 1))
        return record.scale.people(yen)
