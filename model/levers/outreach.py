"""Levers that reach people before they visit, or spread practice: 情報発信, ふるさと納税, ふるさと住民登録, 横展開."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from model.levers.effects import effect_size
from model.levers.base import (COUNT_INDEX, COUNTS, LEDGER, LEDGER_INDEX, EffectContext, Lever, LeverContext,
                               LeverEffects, Masks, StepRecord, scaled)
from model.levers.programmes import ProgrammeLever, ProgrammeRow, RowContext, multipliers, stage_mask
from model.schema import FiniteNonNegative, NonNegative, Positive, RegionSelector, Share
from model.stages import EngagementType, Stage, Transition

if TYPE_CHECKING:
    from model.units import Scale


class InformationCampaign(Lever):
    """情報発信 / 移住・関係人口ワンストップ窓口: fairs, campaigns and one-stop windows in the cities.

    Model: the region's attractiveness in the gravity choice of a first visit × (1 + effect), so
    more first visits go to it (and, through accessibility, a little more visiting overall).
    Cost per region-year is an assumption; 地方創生推進交付金 pays half.
    """

    kind: Literal["information_campaign"] = "information_campaign"
    effect: NonNegative = effect_size(0.2, description="Attractiveness × (1 + this) (assumption)")
    cost_per_region_year: NonNegative = Field(20_000_000, description="Yen per region-year (assumption)")
    payer_national: Share = 0.5
    payer_prefecture: Share = 0.5

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.attractiveness *= 1.0 + self.effect * self.strength(masks["regions"], ctx)

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.cost_per_region_year * ctx.dt * self.strength(masks["regions"], ctx)


class FurusatoNozei(Lever):
    """ふるさと納税 (hometown tax donation): a first, non-visiting tie, revenue to the recipients, and
    the tax deductions and costs that pay for it.

    Model: extra donors (a share of adults in `donor_homes`) give the recipient `regions` a pull:
    their attractiveness × (1 + attraction_per_donor_share · extra_donor_share), and the donors'
    first-visit hazard × (1 + extra_donor_share · visit_uplift) in their home regions.

    Money (the ledger, `model.levers.base.LEDGER`), per step: donations = donors × donation_yen × dt,
    received by the recipients in proportion to their adults. In the donors' home regions the donors
    keep a self-burden of `self_burden_yen` a year each; the rest is deducted from their taxes: the
    income-tax part (donation − 2,000) × `income_tax_rate` × (1 − `one_stop_share`) by the national
    treasury, the rest from 住民税 (基本分 + 特例分, and the 申告特例控除 of ワンストップ特例 donors), split
    `municipal_share_of_resident_tax` to the municipality (市町村民税) and the rest to the prefecture
    (道府県民税). Deductions are public costs (spending of those payers where they fall, outside any
    budget). The recipients pay gifts (`gift_share`) and handling (`cost_share` − `gift_share`) out of
    donations and keep the net revenue. Assumed: every donor gives within the deduction ceiling, so
    deductions are exactly donations − self-burden; 地方交付税 compensation of 住民税 losses is not modelled.
    Sources: FY2021 8,302億円 from 552万 users ≈ ¥150,000 a user [derived]; costs 45.1 % of
    donations in FY2020, 返礼品 26.5 % (総務省 ふるさと納税に関する現況調査, via sanin-chuo.co.jp 71353,
    limo.media 33375); the deduction rule from 地方税法 第37条の2・第314条の7 and 所得税法 第78条.
    """

    kind: Literal["furusato_nozei"] = "furusato_nozei"
    selectors: ClassVar[tuple[str, ...]] = ("regions", "donor_homes")
    donor_homes: RegionSelector = Field("metro", description="Where the extra donors live")
    extra_donor_share: Share = Field(0.02, description="Extra donors as a share of adults there (assumption)")
    visit_uplift: FiniteNonNegative = effect_size(1.0, description="Donors' first-visit hazard × (1 + this) (assumption)")
    attraction_per_donor_share: FiniteNonNegative = effect_size(
        2.5, description="Recipients' attractiveness × (1 + this · extra_donor_share) (assumption)")
    donation_yen: FiniteNonNegative = Field(150_000, description="Yearly donation per donor (FY2021, derived)")
    cost_share: Share = Field(0.451, description="Share of donations spent on gifts and handling (FY2020)")
    gift_share: Share = Field(0.265, description="Share of donations spent on 返礼品, part of cost_share (FY2020)")
    self_burden_yen: FiniteNonNegative = Field(2_000, description="Yearly donation a donor bears (the 2,000-yen rule)")
    income_tax_rate: float = Field(
        0.2042, ge=0, le=0.45 * 1.021, allow_inf_nan=False,
        description="Donors' marginal income-tax rate incl. 復興特別所得税 (assumption, 0.05105–0.4595)")
    one_stop_share: Share = Field(
        0.35, description="Share of donations under the ワンストップ特例 (derived, FY2023 cases; 0.2–0.5)")
    municipal_share_of_resident_tax: Share = Field(
        0.6, description="市町村民税 part of the 住民税 deduction (6 % of the 10 % 所得割 rate)")

    @model_validator(mode="after")
    def _gifts_within_costs(self) -> "FurusatoNozei":
        if self.gift_share > self.cost_share:
            raise ValueError(f"gift_share ({self.gift_share:g}) must not exceed cost_share ({self.cost_share:g}), "
                             "of which it is a part")
        return self

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        pull = self.attraction_per_donor_share * self.extra_donor_share
        effects.attractiveness *= 1.0 + pull * self.strength(masks["regions"], ctx)
        effects.rate_mult[:, Transition.VISIT] *= scaled(1.0 + self.extra_donor_share * self.visit_uplift,
                                                        masks["donor_homes"].astype(float))

    def deduction_shares(self) -> dict[str, float]:
        """How the deductible part of a donation (donation − self-burden) splits over the payers."""
        national = self.income_tax_rate * (1.0 - self.one_stop_share)
        resident = 1.0 - national
        return {"national": national, "prefecture": resident * (1.0 - self.municipal_share_of_resident_tax),
                "municipality": resident * self.municipal_share_of_resident_tax}

    def ledger(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        book = np.zeros((len(LEDGER), len(masks["regions"])))
        weight = ctx.table.adults * self.strength(masks["regions"], ctx)
        if weight.sum() == 0:
            return book                                   # no recipient: nobody donates
        donors = self.extra_donor_share * ctx.table.adults * masks["donor_homes"] * ctx.dt  # donor-years, by home
        total = self.extra_donor_share * (ctx.table.adults * masks["donor_homes"]).sum()
        donations = donors.sum() * self.donation_yen * weight / weight.sum()
        burden = donors * min(self.donation_yen, self.self_burden_yen)
        deductible = donors * self.donation_yen - burden
        book[LEDGER_INDEX["donations"]] = donations
        book[LEDGER_INDEX["self_burden"]] = burden
        for payer, share in self.deduction_shares().items():
            book[LEDGER_INDEX[f"deduction_{payer}"]] = deductible * share
        # net revenue in the same floating-point order as before the ledger existed (same results)
        net = total * self.donation_yen * (1.0 - self.cost_share) * ctx.dt * weight / weight.sum()
        book[LEDGER_INDEX["gifts"]] = donations * self.gift_share
        book[LEDGER_INDEX["handling"]] = donations - book[LEDGER_INDEX["gifts"]] - net
        book[LEDGER_INDEX["net_revenue"]] = net
        return book


class FurusatoResidentRegistration(ProgrammeLever):
    """ふるさと住民登録 (from 2027-01): registration with a municipality, Basic or Premium.

    Registrants are participants (`ProgrammeLever`): people related to a host region in `regions`
    (never its residents) register at the yearly hazard `take_up_per_year` (assumption), for
    `duration_months`, once in a run; nobody else is touched. The scheme's two tiers are two levers
    (`tier`), so a scenario can size and cost them apart:

    * Basic (ベーシック): anyone related to the region (visitors, 関係人口, dual residents). Registration
      is a first, recorded tie: a registered visitor's ENGAGE hazard × (1 + basic_engage_effect).
      Cost: `cost_per_registrant_year` (running the register and its notices).
    * Premium (プレミアム): perks tied to qualifying activities. Only 関係人口 and dual residents whose
      type makes at least `min_activities` visit-days a year (≥ 3 designated 担い手 activities) may
      register. A registrant's round trip falls by `travel_perk_share` of its cost (their ENGAGE and
      lapse hazards through the travel-cost factors, at their own home–host pair) and their lodging is
      paid `lodging_yen_per_day` per visit-day. Cost: the registrant cost plus the perks, per
      registrant visit-day (trip = `days_per_trip` days), up to `annual_cap_yen` per registrant and
      fiscal year.

    A person enrols in one programme in a run, so a Basic registrant does not later become Premium
    (the first lever in file order that enrols them wins). One host per person keeps the ≤ 3
    municipalities rule. Sizes are assumptions; schedule from 総務省 briefings (minamiminowa.org
    2026-01-08; travelvoice.jp 20260122).
    """

    kind: Literal["furusato_resident"] = "furusato_resident"
    start: str = Field("2027-01", description="Registration starts 2027-01")
    tier: Literal["basic", "premium"] = Field("basic", description="Basic registration or Premium (perks)")
    take_up_per_year: NonNegative = effect_size(
        0.05, description="Yearly hazard at which eligible people register (assumption, 0.01–0.2)")
    duration_months: Positive = Field(36.0, le=600, description="Months a registration lasts before it lapses unless renewed (assumption)")
    basic_engage_effect: NonNegative = effect_size(0.1, description="Registered visitors' ENGAGE × (1 + this) (assumption)")
    cost_per_registrant_year: NonNegative = Field(
        2_000, description="Yen per registrant-year to run the register (assumption, 500–5,000)")
    min_activities: NonNegative = Field(3.0, description="Premium needs this many activities (visit-days) a year")
    travel_perk_share: Share = Field(0.2, description="Premium: share of the round trip paid as a perk (assumption)")
    lodging_yen_per_day: NonNegative = Field(3_000, description="Premium: lodging perk per visit-day (assumption)")
    days_per_trip: float = effect_size(2.0, gt=0, allow_inf_nan=False, description="Visit-days per round trip (assumption)")
    annual_cap_yen: NonNegative = Field(
        100_000, description="Premium: perks per registrant and fiscal year at most (assumption)")
    payer_national: Share = 0.5
    payer_municipality: Share = 0.5

    def premium_classes(self, ctx: RowContext) -> np.ndarray:
        """Cost classes of engaged types whose expected visit-days reach min_activities."""
        classes = ctx.visit_days_per_year >= self.min_activities
        classes[[0, 5]] = False  # not engaged
        return classes

    def perk_per_trip(self, masks: Masks, ctx: RowContext | EffectContext) -> np.ndarray:
        """(R home, R host) yen of the travel perk per round trip of a Premium registrant (0 for Basic)."""
        if self.tier == "basic":
            return np.zeros_like(ctx.travel.cost_yen)
        return self.travel_perk_share * ctx.travel.cost_yen * masks["regions"][None, :]

    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        n = len(masks["regions"])
        homes = np.ones(n, dtype=bool)
        if self.tier == "basic":
            return ProgrammeRow(hosts=masks["regions"], homes=homes, stages=stage_mask(["visitor", "engaged", "dual"]),
                                age_min=18.0, age_max=121.0, entry_stage=Stage.VISITOR,
                                entry_type=EngagementType.PARTICIPATION, duration_months=self.duration_months,
                                mult=multipliers({Transition.ENGAGE: 1.0 + self.basic_engage_effect}),
                                visit_days_per_year=0.0)
        # Premium: perks per trip and day; the kernel counts a registrant's days up to the yearly cap
        # at the pair's value of a day (travel perk ÷ days per trip + lodging)
        per_trip = self.perk_per_trip(masks, ctx) + self.lodging_yen_per_day * self.days_per_trip * masks["regions"][None, :]
        return ProgrammeRow(hosts=masks["regions"], homes=homes, stages=stage_mask(["engaged", "dual"]),
                            age_min=18.0, age_max=121.0, entry_stage=Stage.ENGAGED,
                            entry_type=EngagementType.PARTICIPATION, duration_months=self.duration_months,
                            mult=multipliers({}), visit_days_per_year=0.0, classes=self.premium_classes(ctx),
                            relief_yen=self.perk_per_trip(masks, ctx), days_per_trip=self.days_per_trip,
                            cap_yen_per_year=self.annual_cap_yen, cap_value_yen=per_trip)

    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        return np.zeros(len(masks["regions"]))

    def take_up(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        return self.take_up_per_year * self.strength(masks["regions"], ctx)

    def _perks(self, masks: Masks, ctx: LeverContext, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(days, yen) of Premium perks by host region from registrants' counted visit-days."""
        if self.tier == "basic":
            zero = np.zeros(len(masks["regions"]))
            return zero, zero
        per_day = self.perk_per_trip(masks, ctx) / self.days_per_trip + self.lodging_yen_per_day
        counted = days * masks["regions"][None, :]
        return counted.sum(axis=0), (counted * per_day).sum(axis=0)

    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        register = participants * self.cost_per_registrant_year * ctx.dt
        return scale.people(register + self._perks(masks, ctx, days)[1])

    def programme_counts(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        out = np.zeros((len(COUNTS), len(masks["regions"])))
        perk_days, _ = self._perks(masks, ctx, days)
        out[COUNT_INDEX["days"]] = scale.people(perk_days)
        out[COUNT_INDEX["trips"]] = scale.people(perk_days / self.days_per_trip)
        return out


class AdoptionSupport(Lever):
    """National model projects and the public–private platform (モデル事業・プラットフォーム, 横展開).

    Model: municipalities in the regions covered take up 関係人口 programmes faster: their yearly
    adoption hazard rises by `adoption_rate`. Cost per year is spread over the regions covered by
    their number of municipalities (総務省 関係人口創出・拡大事業 FY2020: 2.4億円 for 25 bodies).
    """

    kind: Literal["adoption_support"] = "adoption_support"
    regions: RegionSelector = Field("all", description="Where it acts")
    adoption_rate: NonNegative = effect_size(0.1, description="Extra yearly adoption hazard (assumption)")
    cost_per_year: NonNegative = Field(240_000_000, description="Yen per year in total (FY2020 総務省 line)")

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.adoption_rate_add += self.adoption_rate * masks["regions"]

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        weight = ctx.table.municipalities * masks["regions"]
        if weight.sum() == 0:
            return np.zeros(len(weight))
        return self.cost_per_year * ctx.dt * weight / weight.sum()
