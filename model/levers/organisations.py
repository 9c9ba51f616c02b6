"""Organisations and people who match outsiders to a region: 中間支援組織, CKO, プロ人材拠点."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from model.levers.effects import effect_size
from model.levers.base import (
    EffectContext,
    Lever,
    LeverContext,
    LeverEffects,
    Masks,
    StepRecord,
)
from model.levers.programmes import ProgrammeLever, ProgrammeRow, RowContext, caseload_row
from model.schema import NonNegative, Positive, Share
from model.stages import EngagementType, Stage, Transition

if TYPE_CHECKING:
    from model.units import Scale


class IntermediaryOrganisation(ProgrammeLever):
    """中間支援組織 / 関係案内所 / 関係案内人: organisations that match city people to regional needs.

    Model (a caseload, not a region-wide dial): in each region covered, `count` organisations with
    `staff_per_org` staff each serve `caseload_per_staff` people at a time, each for `service_months`,
    so they take in count × staff × caseload × 12 / service_months people a year, chosen at random
    among the region's visitors and 関係人口 who were never served by a programme. While served, a
    person's ENGAGE and DEEPEN hazards are × (1 + effectiveness) and their lapse hazards ×
    (1 − lapse_reduction); nobody else's change. Where a CKO leads, places × (1 + cko_places ·
    quality). Cost: `cost_per_org_year` per organisation (内閣府 対流促進事業 model projects were
    ¥5–10 million each), paid whether or not the places fill. Sizes other than the cost are assumptions.
    """

    kind: Literal["intermediary"] = "intermediary"
    count: NonNegative = Field(1.0, description="Organisations per region covered")
    staff_per_org: NonNegative = Field(2.0, description="Staff per organisation (assumption, 1–5)")
    caseload_per_staff: NonNegative = effect_size(30.0, description="People served at a time per staff member (assumption, 10–60)")
    service_months: Positive = Field(6.0, le=120, description="Months a person is served (assumption, 3–12)")
    effectiveness: NonNegative = effect_size(1.0, description="Served people's ENGAGE and DEEPEN × (1 + this) (assumption, 0.3–2)")
    lapse_reduction: Share = effect_size(0.3, description="Served people's lapses × (1 − this) (assumption, 0–0.5)")
    cko_places: NonNegative = effect_size(0.5, description="Places × (1 + this · CKO quality) (assumption, 0–1)")
    cost_per_org_year: NonNegative = Field(7_500_000, description="Yen per organisation-year (model projects ¥5–10M)")

    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        served, kept = 1.0 + self.effectiveness, 1.0 - self.lapse_reduction
        return caseload_row(masks, ["visitor", "engaged"], self.service_months,
                            {Transition.ENGAGE: served, Transition.DEEPEN: served,
                             Transition.LAPSE_VISITOR: kept, Transition.LAPSE_ENGAGED: kept})

    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        per_year = self.count * self.staff_per_org * self.caseload_per_staff * 12.0 / self.service_months
        return per_year * self.strength(masks["regions"], ctx)

    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        return self.count * self.cost_per_org_year * ctx.dt * self.strength(masks["regions"], ctx)


class CKOLeadership(Lever):
    """CKO (チーフ関係人口オフィサー): a leader (e.g. a deputy mayor) who makes relationships last.

    Model: a costed post whose effect runs through the region's programmes: with quality q (0–1) in
    a region, every programme lever hosted there (intermediaries, coordinators, programmes) widens
    its places by × (1 + that lever's `cko_places` · q), so more people are served; "一過性のものにな
    らず": the relationships come from people served, not from a dial on everyone. A CKO without
    programmes in its region changes nothing. Cost per region-year (a senior post) is an assumption;
    paid by the municipality.
    """

    kind: Literal["cko"] = "cko"
    quality: Share = Field(0.7, description="CKO quality 0–1 (assumption)")
    cost_per_region_year: NonNegative = Field(10_000_000, description="Yen per region-year (assumption)")
    payer_national: Share = 0.0
    payer_municipality: Share = 1.0
    priority = 40

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.cko_quality = np.maximum(effects.cko_quality, self.quality * self.strength(masks["regions"], ctx))

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.cost_per_region_year * ctx.dt * self.strength(masks["regions"], ctx)


class SideJobMatching(ProgrammeLever):
    """Side-job matching by the プロフェッショナル人材戦略拠点 (doubled to 500 staff nationally in FY2020).

    Model (a caseload): `staff` per region make `matches_per_staff_year` matches a year each; a match
    takes a visitor or 関係人口 of the region (never served by a programme before) and makes them
    就労型 関係人口 of it; for `service_months` after the match their lapse hazard is ×
    (1 − retention_effect). Default staff: 500 over 45 道府県 ≈ 11 per prefecture. Matches per
    staff-year ≈ 9 is derived from 10,831 hires from 2016-01 to 2020-11 (rosei.jp) over about 250
    staff before the doubling (derived, uncertain). Cost per staff-year is an assumption.
    """

    kind: Literal["side_job_matching"] = "side_job_matching"
    staff: NonNegative = Field(11.0, description="Staff per region covered (500 / 45 道府県)")
    matches_per_staff_year: NonNegative = effect_size(9.0, description="Matches per staff-year (derived, see docstring)")
    service_months: Positive = Field(12.0, le=120, description="Months of follow-up after a match (assumption, 6–24)")
    retention_effect: Share = effect_size(0.3, description="Matched people's LAPSE_ENGAGED × (1 − this) (assumption, 0–0.5)")
    cost_per_staff_year: NonNegative = Field(8_000_000, description="Yen per staff-year (assumption)")
    payer_national: Share = 0.5
    payer_prefecture: Share = 0.5

    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        return caseload_row(masks, ["visitor", "engaged"], self.service_months,
                            {Transition.LAPSE_ENGAGED: 1.0 - self.retention_effect}, entry_stage=Stage.ENGAGED,
                            entry_type=EngagementType.WORK, age_max=65.0)

    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        return self.staff * self.matches_per_staff_year * self.strength(masks["regions"], ctx)

    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        return self.staff * self.cost_per_staff_year * ctx.dt * self.strength(masks["regions"], ctx)
