"""What every policy lever (政策レバー) shares: where, when, budget, payers, and the inputs it may change.

A lever never edits the kernel. While in force it adds its `LeverEffects` (hazard multipliers,
the share of travel cost people pay, attractiveness, capacities, type weights, origin-specific
settling multipliers, adoption support), which the inputs layer (`model.inputs`) folds into the
kernel's inputs; and it claims spending in yen per region from what happened in the step
(`StepRecord`).

The rule the fold cache relies on: `Lever.apply` depends only on the lever's own fields, its
region masks and an `EffectContext` (regions, travel, step length, visit-days by class and the
municipal adoption reach), never on the month. The model therefore refolds only when the set of
levers in force or the adoption reach changes (`LeverSet.signature`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from model.codes import N_CLASSES
from model.schema import NonNegative, RegionSelector, Section, Share, check_month
from model.stages import N_TRANSITIONS, N_TYPES

if TYPE_CHECKING:
    from model.regions import RegionTable, Travel
    from model.units import Scale

PAYERS = ("national", "prefecture", "municipality")
Masks = dict[str, np.ndarray]  # selector field name → boolean mask over regions


@dataclass(frozen=True)
class LedgerItem:
    """Money a lever moves besides its programme spending (e.g. ふるさと納税), per region where it falls.

    `payer` names who bears the item as a public cost (one of `PAYERS`): such items count as spending
    of that payer in the region where they fall, which need not be a region the lever acts in (a
    住民税 deduction falls on the donor's home). Items without a payer are flows that no public
    budget pays (donations, the donor's self-burden, gifts and handling paid out of donations).
    """

    name: str
    ja: str
    payer: str | None
    description: str


#: the ledger's items, in the order of the ledger axis (`Lever.ledger`, `History.ledger`)
LEDGER: tuple[LedgerItem, ...] = (
    LedgerItem("donations", "寄附額", None, "donations received by the recipient regions"),
    LedgerItem("self_burden", "自己負担（2,000円）", None, "the part of donations not deducted (donors' self-burden)"),
    LedgerItem("deduction_national", "所得税の控除（国）", "national",
               "income-tax deduction, borne by the national treasury in the donors' home regions"),
    LedgerItem("deduction_prefecture", "住民税の控除（道府県民税）", "prefecture",
               "resident-tax deduction, prefectural part, borne in the donors' home regions"),
    LedgerItem("deduction_municipality", "住民税の控除（市町村民税）", "municipality",
               "resident-tax deduction, municipal part, borne in the donors' home regions"),
    LedgerItem("gifts", "返礼品", None, "return gifts, paid by the recipients out of donations"),
    LedgerItem("handling", "送料・事務費等", None, "shipping, portal and handling costs, paid out of donations"),
    LedgerItem("net_revenue", "受入額（経費控除後）", None, "donations less gifts and handling: what recipients keep"),
)
LEDGER_INDEX = {item.name: k for k, item in enumerate(LEDGER)}
NET_REVENUE = LEDGER_INDEX["net_revenue"]


@dataclass(frozen=True)
class CountItem:
    """What a lever's spending paid for, counted in real units (cases, persons, trips, days)."""

    name: str
    ja: str
    description: str


#: what spending paid for, in the order of the counts axis (`Lever.counts`, `History.counts`); a lever
#: fills the items it pays by, in the step and region where it pays (scaled down with a spent budget)
COUNTS: tuple[CountItem, ...] = (
    CountItem("cases", "件数（世帯）", "grant cases paid: one per household (移住支援金)"),
    CountItem("persons", "対象人数", "persons covered by the cases paid, adults and children"),
    CountItem("children", "子育て加算の対象児童", "children for whom a child add-on was paid"),
    CountItem("trips", "補助対象の往復", "round trips of participants a travel subsidy or perk paid for"),
    CountItem("days", "補助対象の訪問日数", "participants' visit-days a subsidy or perk paid for"),
)
COUNT_INDEX = {item.name: k for k, item in enumerate(COUNTS)}


@dataclass
class LeverEffects:
    """What the levers in force change (1 / 0 = no change), before `model.inputs` folds it into kernel inputs."""

    rate_mult: np.ndarray          # (R, transitions) hazard multipliers
    attractiveness: np.ndarray     # (R,) gravity attractiveness multipliers of target regions
    cost_share: np.ndarray         # (classes, R, R) share of the round-trip cost the traveller pays
    settle_pair: np.ndarray        # (R home, R target) multiplier of the SETTLE hazard (origin-specific grants)
    type_bias: np.ndarray          # (R, types) weights of engagement types on entry
    engage_capacity_add: np.ndarray  # (R,) extra 関わりしろ, people per month
    engage_capacity_mult: np.ndarray  # (R,) multiplier of 関わりしろ
    housing_add: np.ndarray        # (R,) extra housing units per year
    cko_quality: np.ndarray        # (R,) CKO quality 0–1 (widens the places of the region's programmes)
    adoption_rate_add: np.ndarray  # (R,) extra yearly adoption hazard for municipalities (横展開)
    programme_places: np.ndarray   # (programmes, R) places a year each programme offers in each host region
    programme_take_up: np.ndarray  # (programmes, R) yearly enrolment hazard of eligible people (take-up schemes)

    @classmethod
    def neutral(cls, n_regions: int, n_programmes: int = 0) -> "LeverEffects":
        """Inputs with no lever acting."""
        return cls(
            rate_mult=np.ones((n_regions, N_TRANSITIONS)),
            attractiveness=np.ones(n_regions),
            cost_share=np.ones((N_CLASSES, n_regions, n_regions)),
            settle_pair=np.ones((n_regions, n_regions)),
            type_bias=np.ones((n_regions, N_TYPES)),
            engage_capacity_add=np.zeros(n_regions),
            engage_capacity_mult=np.ones(n_regions),
            housing_add=np.zeros(n_regions),
            cko_quality=np.zeros(n_regions),
            adoption_rate_add=np.zeros(n_regions),
            programme_places=np.zeros((n_programmes, n_regions)),
            programme_take_up=np.zeros((n_programmes, n_regions)),
        )


@dataclass
class EffectContext:
    """What a lever's effects may depend on: the regions, travel, step length, visit-days and adoption."""

    table: "RegionTable"
    travel: "Travel"
    dt: float
    reach: np.ndarray              # (R,) share of municipalities running 関係人口 programmes
    visit_days_per_year: np.ndarray  # (classes,) expected visit-days a year of an ENGAGED person


@dataclass
class LeverContext(EffectContext):
    """What a lever may read when it claims spending: the effect context plus the step's month and 年度."""

    month: str = ""                # YYYY-MM of the step
    fiscal_year: int = 0

    def effects_only(self) -> EffectContext:
        """The same context without the month (what `Lever.apply` is given)."""
        return EffectContext(table=self.table, travel=self.travel, dt=self.dt, reach=self.reach,
                             visit_days_per_year=self.visit_days_per_year)


@dataclass
class StepRecord:
    """What happened in one step, for spending claims."""

    visit_pairs: np.ndarray        # (classes, R home, R target) visit-days made this step
    flows: np.ndarray              # (R, flows) counts of simulated persons
    scale: "Scale"                 # the units boundary: claims per real person use scale.people(...)
    settler_origin: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    settler_region: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    settler_children: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    participants: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (programmes, R) at the step's end
    entries: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))       # (programmes, R) enrolments
    participant_days: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # (programmes, R, R)


class Lever(Section):
    """Common fields: name, where (regions), when (start–end month), budget cap, payer split.

    Every field is a policy size unless declared with `model.levers.effects.effect_size` (an effect
    size, which a calibration may fit); the common fields are all policy sizes."""

    kind: str
    name: str = Field("", description="Label in outputs; defaults to the kind and its position")
    regions: RegionSelector = Field("rural", description="Where it acts: 'all', 'metro', 'rural' or JIS codes")
    start: str = Field("2020-04", description="First month in force, YYYY-MM")
    end: str = Field("2099-12", description="Last month in force, YYYY-MM")
    budget_yen: NonNegative | None = Field(None, description="Total budget; it stops paying (and acting) once spent")
    payer_national: Share = Field(1.0, description="Share of spending paid by the national government (国)")
    payer_prefecture: Share = Field(0.0, description="Share paid by prefectures (都道府県)")
    payer_municipality: Share = Field(0.0, description="Share paid by municipalities (市町村)")
    scale_by_adoption: bool = Field(
        False, description="Scale the effect by the share of the region's municipalities running 関係人口 programmes")

    selectors: ClassVar[tuple[str, ...]] = ("regions",)  # fields naming regions, resolved to masks
    needs_settlers: ClassVar[bool] = False
    is_programme: ClassVar[bool] = False  # enrols people (`model.levers.programmes.ProgrammeLever`)
    priority: ClassVar[int] = 50   # lower acts first (CKO before intermediaries)

    @field_validator("start", "end")
    @classmethod
    def _month(cls, value: str) -> str:
        return check_month(value)

    @model_validator(mode="after")
    def _consistent(self) -> "Lever":
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        total = self.payer_national + self.payer_prefecture + self.payer_municipality
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"payer shares must sum to 1 (national + prefecture + municipality = {total:g})")
        return self

    def payer_shares(self) -> dict[str, float]:
        """Share of each payer (国 / 都道府県 / 市町村)."""
        return {"national": self.payer_national, "prefecture": self.payer_prefecture,
                "municipality": self.payer_municipality}

    def active(self, month: str) -> bool:
        """In force in `month` (YYYY-MM)?"""
        return self.start <= month <= self.end

    def strength(self, mask: np.ndarray, ctx: EffectContext) -> np.ndarray:
        """(R,) how fully the lever reaches each region: 0 outside, the adoption share or 1 inside."""
        return mask * (ctx.reach if self.scale_by_adoption else 1.0)

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        """Add the lever's effects while in force (default: nothing); see the fold rule above."""

    def claims(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        """(R,) yen the lever would pay for this step, by region (default: nothing)."""
        return np.zeros(len(masks["regions"]))

    def counts(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        """(len(COUNTS), R) what this step's claims pay for, in real units (default: nothing)."""
        return np.zeros((len(COUNTS), len(masks["regions"])))

    def revenue(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        """(R,) yen the regions receive because of the lever this step (default: nothing).

        Booked as the ledger's `net_revenue`, added to what `ledger` returns there."""
        return np.zeros(len(masks["regions"]))

    def ledger(self, masks: Masks, ctx: LeverContext, record: StepRecord) -> np.ndarray:
        """(len(LEDGER), R) yen the lever moves this step besides programme spending, by item and by
        the region where each falls (default: nothing). Items with a payer are public costs, not
        limited by `budget_yen`."""
        return np.zeros((len(LEDGER), len(masks["regions"])))


def scaled(factor: float, strength: np.ndarray) -> np.ndarray:
    """Per-region multiplier 1 + (factor − 1)·strength."""
    return 1.0 + (factor - 1.0) * strength
