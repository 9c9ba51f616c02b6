"""Levers that reach people before they visit, or spread practice: 情報発信, ふるさと納税, ふるさと住民登録, 横展開."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from model.levers.base import EffectContext, LeverEffects, Lever, LeverContext, Masks, StepRecord, scaled
from model.schema import NonNegative, RegionSelector, Share
from model.stages import Transition


class InformationCampaign(Lever):
    """情報発信 / 移住・関係人口ワンストップ窓口: fairs, campaigns and one-stop windows in the cities.

    Model: the region's attractiveness in the gravity choice of a first visit × (1 + effect), so
    more first visits go to it (and, through accessibility, a little more visiting overall).
    Cost per region-year is an assumption; 地方創生推進交付金 pays half.
    """

    kind: Literal["information_campaign"] = "information_campaign"
    effect: NonNegative = Field(0.2, description="Attractiveness × (1 + this) (assumption)")
    cost_per_region_year: NonNegative = Field(20_000_000, description="Yen per region-year (assumption)")
    payer_national: Share = 0.5
    payer_prefecture: Share = 0.5

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.attractiveness *= 1.0 + self.effect * self.strength(masks["regions"], ctx)

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.cost_per_region_year * ctx.dt * self.strength(masks["regions"], ctx)


class FurusatoNozei(Lever):
    """ふるさと納税 (hometown tax donation): a first, non-visiting tie, and revenue to the region.

    Model: extra donors (a share of adults in `donor_homes`) give the recipient `regions` a pull:
    their attractiveness × (1 + attraction_per_donor_share · extra_donor_share), and the donors' first-visit hazard × (1 +
    extra_donor_share · visit_uplift) in their home regions. Revenue to recipients: donors ×
    donation × (1 − cost_share), spread over recipients by adults. FY2021: 8,302億円 from
    552万 users ≈ ¥150,000 per user [derived]; costs (返礼品 etc.) 45.1 % of donations in FY2020
    (sanin-chuo.co.jp 71353; limo.media 33375). It costs no programme budget.
    """

    kind: Literal["furusato_nozei"] = "furusato_nozei"
    selectors: ClassVar[tuple[str, ...]] = ("regions", "donor_homes")
    donor_homes: RegionSelector = Field("metro", description="Where the extra donors live")
    extra_donor_share: Share = Field(0.02, description="Extra donors as a share of adults there (assumption)")
    visit_uplift: NonNegative = Field(1.0, description="Donors' first-visit hazard × (1 + this) (assumption)")
    attraction_per_donor_share: NonNegative = Field(
        2.5, description="Recipients' attractiveness × (1 + this · extra_donor_share) (assumption)")
    donation_yen: NonNegative = Field(150_000, description="Yearly donation per donor (FY2021, derived)")
    cost_share: Share = Field(0.451, description="Share of donations spent on gifts and handling (FY2020)")

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        pull = self.attraction_per_donor_share * self.extra_donor_share
        effects.attractiveness *= 1.0 + pull * self.strength(masks["regions"], ctx)
        effects.rate_mult[:, Transition.VISIT] *= scaled(1.0 + self.extra_donor_share * self.visit_uplift,
                                                        masks["donor_homes"].astype(float))

    def revenue(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        donors = self.extra_donor_share * (ctx.table.adults * masks["donor_homes"]).sum()
        weight = ctx.table.adults * self.strength(masks["regions"], ctx)
        if weight.sum() == 0:
            return np.zeros_like(weight)
        net = donors * self.donation_yen * (1.0 - self.cost_share) * ctx.dt
        return net * weight / weight.sum()


class FurusatoResidentRegistration(Lever):
    """ふるさと住民登録 (from 2027-01): Basic and Premium registration with a municipality.

    Model: registering regions see ENGAGE × (1 + basic_engage_effect) (registration as a first,
    recorded tie). Premium registrants — ENGAGED or DUAL people whose type makes at least
    `min_activities` visit-days a year (≥ 3 designated 担い手 activities) — get travel and lodging
    perks: the share of the round trip they pay falls by travel_perk_share, and lodging is paid
    `lodging_yen_per_day`. One target region per person keeps the ≤ 3 municipalities rule.
    A share `premium_take_up` of the eligible register; the cost effect is their average.
    Spending: perks × visit-days of Premium registrants. Sizes are assumptions; schedule from
    総務省 briefings (minamiminowa.org 2026-01-08; travelvoice.jp 20260122).
    """

    kind: Literal["furusato_resident"] = "furusato_resident"
    start: str = Field("2027-01", description="Registration starts 2027-01")
    basic_engage_effect: NonNegative = Field(0.1, description="ENGAGE × (1 + this) (assumption)")
    min_activities: NonNegative = Field(3.0, description="Premium needs this many activities (visit-days) a year")
    travel_perk_share: Share = Field(0.2, description="Share of the round trip paid as a perk (assumption)")
    lodging_yen_per_day: NonNegative = Field(3_000, description="Lodging perk per visit-day (assumption)")
    days_per_trip: float = Field(2.0, gt=0, description="Visit-days per round trip (assumption)")
    premium_take_up: Share = Field(0.1, description="Share of eligible people who register Premium (assumption)")
    payer_national: Share = 0.5
    payer_municipality: Share = 0.5

    def premium_classes(self, ctx: EffectContext) -> np.ndarray:
        """Cost classes of engaged types whose expected visit-days reach min_activities."""
        classes = ctx.visit_days_per_year >= self.min_activities
        classes[[0, 5]] = False  # not engaged
        return classes

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        strength = self.strength(masks["regions"], ctx)
        effects.rate_mult[:, Transition.ENGAGE] *= 1.0 + self.basic_engage_effect * strength
        perk = (self.premium_classes(ctx)[:, None, None] * strength[None, None, :] * self.travel_perk_share
                * self.premium_take_up)
        effects.cost_share *= 1.0 - perk

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        strength = self.strength(masks["regions"], ctx)
        days = record.visit_pairs[self.premium_classes(ctx)]          # (classes, R, R)
        travel = (days * ctx.travel.cost_yen[None] * self.travel_perk_share / self.days_per_trip).sum(axis=(0, 1))
        lodging = days.sum(axis=(0, 1)) * self.lodging_yen_per_day
        return record.scale.people((travel + lodging) * strength * self.premium_take_up)


class AdoptionSupport(Lever):
    """National model projects and the public–private platform (モデル事業・プラットフォーム, 横展開).

    Model: municipalities in the regions covered take up 関係人口 programmes faster: their yearly
    adoption hazard rises by `adoption_rate`. Cost per year is spread over the regions covered by
    their number of municipalities (総務省 関係人口創出・拡大事業 FY2020: 2.4億円 for 25 bodies).
    """

    kind: Literal["adoption_support"] = "adoption_support"
    regions: RegionSelector = Field("all", description="Where it acts")
    adoption_rate: NonNegative = Field(0.1, description="Extra yearly adoption hazard (assumption)")
    cost_per_year: NonNegative = Field(240_000_000, description="Yen per year in total (FY2020 総務省 line)")

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.adoption_rate_add += self.adoption_rate * masks["regions"]

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        weight = ctx.table.municipalities * masks["regions"]
        if weight.sum() == 0:
            return np.zeros(len(weight))
        return self.cost_per_year * ctx.dt * weight / weight.sum()
