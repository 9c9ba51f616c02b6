"""Organisations and people who match outsiders to a region: 中間支援組織, CKO, プロ人材拠点."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from model.levers.base import EffectContext, LeverEffects, Lever, LeverContext, Masks, StepRecord, scaled
from model.schema import NonNegative, Share
from model.stages import EngagementType, Transition


class IntermediaryOrganisation(Lever):
    """中間支援組織 / 関係案内所 / 関係案内人: organisations that match city people to regional needs.

    Model: in each region it covers, `count` organisations raise the VISITOR → ENGAGED and the
    deepening hazards by `effectiveness` (more where a CKO leads: × (1 + cko_boost · quality)), and
    add `matches_per_month` each to the region's 関わりしろ, so their effect stays within their
    capacity. Cost: `cost_per_org_year` per organisation (内閣府 対流促進事業 model projects were
    ¥5–10 million each). Sizes other than the cost are assumptions.
    """

    kind: Literal["intermediary"] = "intermediary"
    count: NonNegative = Field(1.0, description="Organisations per region covered")
    matches_per_month: NonNegative = Field(10.0, description="Extra 関わりしろ per organisation, people/month (assumption)")
    effectiveness: NonNegative = Field(0.3, description="ENGAGE and DEEPEN hazards × (1 + this) (assumption)")
    cko_boost: NonNegative = Field(0.5, description="Effectiveness × (1 + this · CKO quality) (assumption)")
    cost_per_org_year: NonNegative = Field(7_500_000, description="Yen per organisation-year (model projects ¥5–10M)")
    priority = 60

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        strength = self.strength(masks["regions"], ctx) * min(self.count, 1.0)
        boost = self.effectiveness * (1.0 + self.cko_boost * effects.cko_quality)
        for t in (Transition.ENGAGE, Transition.DEEPEN):
            effects.rate_mult[:, t] *= 1.0 + boost * strength
        effects.engage_capacity_add += self.count * self.matches_per_month * self.strength(masks["regions"], ctx)

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.count * self.cost_per_org_year * ctx.dt * self.strength(masks["regions"], ctx)


class CKOLeadership(Lever):
    """CKO (チーフ関係人口オフィサー): a leader (e.g. a deputy mayor) who makes relationships last.

    Model: with quality q (0–1) in a region, the lapse hazards toward it fall to (1 − lapse_reduction·q),
    its 関わりしろ widens by (1 + widening·q), and intermediaries there work better (their cko_boost).
    "一過性のものにならず": relationships that are not one-offs. Cost per region-year (a senior post)
    is an assumption; paid by the municipality.
    """

    kind: Literal["cko"] = "cko"
    quality: Share = Field(0.7, description="CKO quality 0–1 (assumption)")
    lapse_reduction: Share = Field(0.15, description="Lapse hazards × (1 − this · quality) (assumption)")
    widening: NonNegative = Field(0.3, description="関わりしろ × (1 + this · quality) (assumption)")
    cost_per_region_year: NonNegative = Field(10_000_000, description="Yen per region-year (assumption)")
    payer_national: Share = 0.0
    payer_municipality: Share = 1.0
    priority = 40

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        q = self.quality * self.strength(masks["regions"], ctx)
        for t in (Transition.LAPSE_VISITOR, Transition.LAPSE_ENGAGED, Transition.LAPSE_DUAL):
            effects.rate_mult[:, t] *= 1.0 - self.lapse_reduction * q
        effects.engage_capacity_mult *= 1.0 + self.widening * q
        effects.cko_quality = np.maximum(effects.cko_quality, q)

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.cost_per_region_year * ctx.dt * self.strength(masks["regions"], ctx)


class SideJobMatching(Lever):
    """Side-job matching by the プロフェッショナル人材戦略拠点 (doubled to 500 staff nationally in FY2020).

    Model: `staff` per region add `matches_per_staff_year` / 12 a month to the region's 関わりしろ
    and make entries into 関係人口 likelier to be 就労型 (type weight × work_bias). Default staff:
    500 over 45 道府県 ≈ 11 per prefecture. Matches per staff-year ≈ 9 is derived from 10,831
    hires from 2016-01 to 2020-11 (rosei.jp) over about 250 staff before the doubling
    (derived, uncertain). Cost per staff-year is an assumption.
    """

    kind: Literal["side_job_matching"] = "side_job_matching"
    staff: NonNegative = Field(11.0, description="Staff per region covered (500 / 45 道府県)")
    matches_per_staff_year: NonNegative = Field(9.0, description="Matches per staff-year (derived, see docstring)")
    work_bias: NonNegative = Field(1.5, description="就労 type weight multiplier on entry (assumption)")
    cost_per_staff_year: NonNegative = Field(8_000_000, description="Yen per staff-year (assumption)")
    payer_national: Share = 0.5
    payer_prefecture: Share = 0.5

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        strength = self.strength(masks["regions"], ctx)
        effects.type_bias[:, EngagementType.WORK] *= scaled(self.work_bias, strength * (self.staff > 0))
        effects.engage_capacity_add += self.staff * self.matches_per_staff_year / 12.0 * strength

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.staff * self.cost_per_staff_year * ctx.dt * self.strength(masks["regions"], ctx)
