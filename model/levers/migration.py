"""Levers for moving (移住・定住): 移住支援金, coordinators, housing, dual-residence support."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from model.levers.effects import effect_size
from model.levers.base import (
    COUNT_INDEX,
    COUNTS,
    EffectContext,
    Lever,
    LeverContext,
    LeverEffects,
    Masks,
    StepRecord,
    scaled,
)
from model.levers.programmes import ProgrammeLever, ProgrammeRow, RowContext, caseload_row
from model.schema import NonNegative, Positive, RegionSelector, Share
from model.stages import Flow, Transition

if TYPE_CHECKING:
    from model.units import Scale


class RelocationGrant(Lever):
    """移住支援金: ¥1 million per household, ¥600,000 single, plus a child add-on, for leaving Tokyo.

    Effect: people whose region of origin is in `origins` (Tokyo as the proxy of the 23 wards at
    prefecture level) settling in a region of `regions` have their SETTLE hazard multiplied by
    1 + effect_per_million_yen · household_yen/¥1M (the grant lowers the cost of moving; the size of
    this response is an assumption — no Japanese elasticity was found).

    Cases (件数) are households, not adults. Every adult is an agent, so a couple who move together
    are two settling adults of one household: each settling adult carries 1/(adults in their
    household) of its case. The model has no partner link, so the household is the expected one
    (a documented rule, no draw): a settler with c > 0 children under 18 lives with a partner with
    probability `couple_share_with_children`, one without children with `couple_share_without_children`.
    For a settler with c children and couple probability p, exactly in expectation:

    * cases            p/2 + (1 − p)           (a couple's two adults make one case)
    * household cases  p/2 + (1 − p)·[c > 0]   (世帯: two or more persons) at `household_yen`
    * single cases     (1 − p)·[c = 0]         (単身) at `single_yen`
    * children covered c·(p/2 + (1 − p))       (a couple's children are held by both adults:
                                                the add-on is paid once per child)
    * persons covered  p/2·(2 + c) + (1 − p)·(1 + c)

    Spending = household cases × household_yen + single cases × single_yen + children covered × the
    add-on in force in that fiscal year (¥300,000 in FY2022, ¥1 million from FY2023), exactly; the
    counts (`COUNTS`: cases, persons, children) are reported per step and region. Sums of
    expectations over settlers are exact at any `people_per_agent` (no rounding per agent).
    Payers: 国 ½, 都道府県 ¼, 市町村 ¼. Sources: shimotsuke.co.jp 295086, 568089, 734101 (amounts);
    the couple shares are assumptions (see the fields).
    """

    kind: Literal["relocation_grant"] = "relocation_grant"
    selectors: ClassVar[tuple[str, ...]] = ("regions", "origins")
    origins: RegionSelector = Field([13], description="Regions people must leave (Tokyo ≈ the 23 wards)")
    household_yen: NonNegative = Field(1_000_000, description="Per household case (世帯: two or more persons)")
    single_yen: NonNegative = Field(600_000, description="Per single case (単身)")
    child_addon_by_fy: dict[str, NonNegative] = Field(
        {"2019": 0, "2022": 300_000, "2023": 1_000_000},
        description="Add-on per child from each fiscal year on (FY → yen)")
    couple_share_with_children: Share = effect_size(
        0.93, description="Settlers with children who move with a partner (assumption, 0.85–0.97: most "
                          "児童のいる世帯 are couples; ひとり親と未婚の子のみの世帯 are a small minority, 国民生活基礎調査)")
    couple_share_without_children: Share = effect_size(
        0.3, description="Settlers without children who move with a partner (assumption, 0.15–0.5)")
    effect_per_million_yen: NonNegative = effect_size(0.2, description="SETTLE × (1 + this · grant/¥1M) (assumption)")
    payer_national: Share = 0.5
    payer_prefecture: Share = 0.25
    payer_municipality: Share = 0.25
    needs_settlers: ClassVar[bool] = True

    @field_validator("child_addon_by_fy")
    @classmethod
    def _fiscal_years(cls, value: dict[str, float]) -> dict[str, float]:
        for fy in value:
            if not (fy.isdigit() and len(fy) == 4):
                raise ValueError(f"fiscal year keys are four-digit years (e.g. \"2023\"), got {fy!r}")
        return value

    def child_addon(self, fiscal_year: int) -> float:
        """The add-on per child in force in a fiscal year."""
        years = sorted((int(fy), yen) for fy, yen in self.child_addon_by_fy.items() if int(fy) <= fiscal_year)
        return years[-1][1] if years else 0.0

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        factor = 1.0 + self.effect_per_million_yen * self.household_yen / 1e6
        pair = masks["origins"][:, None] * self.strength(masks["regions"], ctx)[None, :]
        effects.settle_pair *= scaled(factor, pair)

    def households(self, masks: Masks, ctx: EffectContext, record: StepRecord) -> dict[str, np.ndarray]:
        """(R,) expected household cases, single cases, children and persons covered by this step's
        eligible settlers, by the region they settled in (simulated persons' shares; see the class)."""
        origin, region, children = record.settler_origin, record.settler_region, record.settler_children
        weight = (masks["origins"][origin] & masks["regions"][region]) * self.strength(masks["regions"], ctx)[region]
        has_children = children > 0
        couple = np.where(has_children, self.couple_share_with_children, self.couple_share_without_children)
        share = couple / 2 + (1 - couple)             # this adult's share of their household's case
        n = len(masks["regions"])

        def by_region(values: np.ndarray) -> np.ndarray:
            return np.bincount(region, weights=values * weight, minlength=n)
        return {
            "household": by_region(couple / 2 + (1 - couple) * has_children),
            "single": by_region((1 - couple) * ~has_children),
            "children": by_region(children * share),
            "persons": by_region(couple / 2 * (2 + children) + (1 - couple) * (1 + children)),
        }

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        h = self.households(masks, ctx, record)
        yen = (h["household"] * self.household_yen + h["single"] * self.single_yen
               + h["children"] * self.child_addon(ctx.fiscal_year))
        return record.scale.people(yen)

    def counts(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        h = self.households(masks, ctx, record)
        out = np.zeros((len(COUNTS), len(masks["regions"])))
        out[COUNT_INDEX["cases"]] = record.scale.people(h["household"] + h["single"])
        out[COUNT_INDEX["persons"]] = record.scale.people(h["persons"])
        out[COUNT_INDEX["children"]] = record.scale.people(h["children"])
        return out


class MigrationCoordinator(ProgrammeLever):
    """移住コーディネーター / 定住支援員: staff who help people settle and stay.

    Model (a caseload): `staff` per region each look after `caseload_per_staff` people at a time for
    `service_months`, chosen at random among the region's 関係人口, dual residents and settlers never
    served by a programme. While looked after, a person's DUAL and SETTLE hazards are × (1 +
    settle_effect) and a settler's LEAVE hazard ÷ (1 + leave_effect); nobody else's change. Where a
    CKO leads, places × (1 + cko_places · quality). Cost per staff-year: one secondary source reports
    up to ¥5 million a year under 特別交付税 (uncertain); paid by 国 through the tax, whether or not
    the caseload is full.
    """

    kind: Literal["coordinator"] = "coordinator"
    staff: NonNegative = Field(2.0, description="Staff per region covered")
    caseload_per_staff: NonNegative = effect_size(40.0, description="People looked after at a time per staff member (assumption, 10–80)")
    service_months: Positive = Field(12.0, le=120, description="Months a person is looked after (assumption, 6–24)")
    settle_effect: NonNegative = effect_size(0.5, description="DUAL and SETTLE × (1 + this) while looked after (assumption, 0–2)")
    leave_effect: NonNegative = effect_size(0.5, description="LEAVE ÷ (1 + this) while looked after (assumption, 0–2)")
    cko_places: NonNegative = effect_size(0.5, description="Places × (1 + this · CKO quality) (assumption, 0–1)")
    cost_per_staff_year: NonNegative = Field(5_000_000, description="Yen per staff-year (uncertain secondary source)")

    def row(self, masks: Masks, ctx: RowContext) -> ProgrammeRow:
        moves = 1.0 + self.settle_effect
        return caseload_row(masks, ["engaged", "dual", "settled"], self.service_months,
                            {Transition.DUAL: moves, Transition.SETTLE: moves,
                             Transition.LEAVE: 1.0 / (1.0 + self.leave_effect)})

    def base_places(self, masks: Masks, ctx: EffectContext) -> np.ndarray:
        per_year = self.staff * self.caseload_per_staff * 12.0 / self.service_months
        return per_year * self.strength(masks["regions"], ctx)

    def programme_claims(self, masks: Masks, ctx: LeverContext, participants: np.ndarray, entries: np.ndarray,
                         days: np.ndarray, scale: "Scale") -> np.ndarray:
        return self.staff * self.cost_per_staff_year * ctx.dt * self.strength(masks["regions"], ctx)


class HousingSupport(Lever):
    """空き家バンク and renovation aid: more homes open to movers.

    Model: `units_per_year` extra housing units in each region covered, added to the housing that
    DUAL and SETTLE moves are rationed by. Cost per unit made available (renovation aid) is an
    assumption; paid half by 国, half by the municipality.
    """

    kind: Literal["housing"] = "housing"
    units_per_year: NonNegative = Field(200.0, description="Extra units per region and year (assumption)")
    cost_per_unit: NonNegative = Field(1_000_000, description="Yen per unit (assumption)")
    payer_national: Share = 0.5
    payer_municipality: Share = 0.5

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.housing_add += self.units_per_year * self.strength(masks["regions"], ctx)

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        return self.units_per_year * self.cost_per_unit * ctx.dt * self.strength(masks["regions"], ctx)


class DualResidenceSupport(Lever):
    """二地域居住 support (広域的地域活性化基盤整備法 amendment, in force 2024-11-01).

    Model: ENGAGED → DUAL hazard × (1 + effect) in regions with a 特定居住促進計画; spending per
    new dual resident (support corporations' services) is an assumption.
    """

    kind: Literal["dual_residence"] = "dual_residence"
    start: str = Field("2024-11", description="The law is in force from 2024-11")
    effect: NonNegative = effect_size(0.5, description="DUAL hazard × (1 + this) (assumption)")
    cost_per_new_dual_resident: NonNegative = Field(100_000, description="Yen per new DUAL person (assumption)")
    payer_national: Share = 0.5
    payer_municipality: Share = 0.5

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        effects.rate_mult[:, Transition.DUAL] *= 1.0 + self.effect * self.strength(masks["regions"], ctx)

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        new = record.scale.people(record.flows[:, Flow.DUAL])
        return new * self.cost_per_new_dual_resident * self.strength(masks["regions"], ctx)
