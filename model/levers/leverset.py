"""The scenario's levers together (レバー一式): which act when, their inputs, budgets and spending."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from model.codes import MAX_PROGRAMMES
from model.errors import ScenarioError
from model.levers.base import COUNTS, LEDGER, NET_REVENUE, PAYERS, Lever, LeverContext, LeverEffects, Masks, StepRecord

if TYPE_CHECKING:
    from model.parameters import ScenarioConfig
    from model.regions import RegionTable


def region_mask(selector: str | list[int], table: "RegionTable", source: str, key: str) -> np.ndarray:
    """Boolean mask of the regions a lever names ('all', 'metro', 'rural' or JIS codes)."""
    if selector == "all":
        return np.ones(table.n, dtype=bool)
    if selector == "metro":
        return table.is_metro.copy()
    if selector == "rural":
        return ~table.is_metro
    mask = np.zeros(table.n, dtype=bool)
    for code in selector:
        try:
            mask[table.index_of(code)] = True
        except KeyError:
            raise ScenarioError(source, key, f"unknown region code {code}; the region table has codes "
                                f"{int(table.codes.min())}–{int(table.codes.max())}") from None
    return mask


class LeverSet:
    """The levers of a scenario, resolved against the region table, with their budgets.

    Levers act in order of `priority` (a CKO before the intermediaries it strengthens), then in
    file order. A lever with a budget pays at most what is left; once its budget is spent it
    stops paying and acting from the next step on.
    """

    def __init__(self, config: "ScenarioConfig", table: "RegionTable", source: str) -> None:
        entries = []
        for i, lever in enumerate(config.levers):
            masks = {sel: region_mask(getattr(lever, sel), table, source, f"levers.{i}.{sel}")
                     for sel in lever.selectors}
            entries.append((lever.priority, i, lever, masks))
        entries.sort(key=lambda e: (e[0], e[1]))
        self.levers: list[tuple[int, Lever, Masks]] = [(i, lever, masks) for _, i, lever, masks in entries]
        self.names = {i: lever.name or f"{lever.kind}_{i}" for i, lever, _ in self.levers}
        # programme slots, in file order: slot q is the q-th lever that enrols people
        self.slots = {i: q for q, i in enumerate(sorted(i for i, lever, _ in self.levers if lever.is_programme))}
        if len(self.slots) > MAX_PROGRAMMES:
            raise ScenarioError(source, "levers", f"{len(self.slots)} levers enrol people (programmes, intermediaries, "
                                f"coordinators, side-job matching); at most {MAX_PROGRAMMES} are allowed")
        self.budget_left = {i: (math.inf if lever.budget_yen is None else lever.budget_yen)
                            for i, lever, _ in self.levers}
        self.n_regions = table.n
        self.source = source

    def active(self, month: str) -> list[tuple[int, Lever, Masks]]:
        """Levers in force in `month` whose budget is not spent."""
        return [(i, lever, m) for i, lever, m in self.levers if lever.active(month) and self.budget_left[i] > 0]

    def signature(self, month: str, reach: np.ndarray) -> tuple:
        """A key that changes whenever the levers' effects may change: the levers in force and,
        when one of them scales by adoption, the adoption reach (the fold rule of `model.levers.base`)."""
        act = self.active(month)
        scaled = any(lever.scale_by_adoption for _, lever, _ in act)
        return tuple(i for i, _, _ in act), reach.tobytes() if scaled else b""

    def effects(self, ctx: LeverContext) -> LeverEffects:
        """The effects of every lever in force in `ctx.month` (levers see no month: `EffectContext`),
        with the places of the programmes in force (after every other effect, e.g. a CKO's)."""
        effects = LeverEffects.neutral(self.n_regions, len(self.slots))
        active = self.active(ctx.month)
        seen = ctx.effects_only()
        for _, lever, masks in active:
            lever.apply(effects, masks, seen)
        for i, lever, masks in active:
            if lever.is_programme:
                effects.programme_places[self.slots[i]] = lever.places(masks, seen, effects)
                effects.programme_take_up[self.slots[i]] = lever.take_up(masks, seen)
        return effects

    def programme_rows(self, ctx) -> list:
        """The fixed row of every programme slot, in slot order (`ProgrammeLever.row`), given the
        `model.levers.programmes.RowContext` (travel, visit-days by class)."""
        by_index = {i: (lever, masks) for i, lever, masks in self.levers}
        return [by_index[i][0].row(by_index[i][1], ctx) for i in sorted(self.slots, key=self.slots.get)]

    def members_at_start(self, ctx: LeverContext) -> np.ndarray:
        """(programmes, R) real persons in post when the run starts (着任中の参加者), by host region: each
        programme's `initial_participants` spread over its host regions in proportion to its places
        in the run's first step (`ctx`), as its intake is."""
        out = np.zeros((len(self.slots), self.n_regions))
        wanted = [(i, lever.initial_participants) for i, lever, _ in self.levers
                  if getattr(lever, "initial_participants", 0.0) > 0]
        if not wanted:
            return out
        places = self.effects(ctx).programme_places
        for i, members in wanted:
            q = self.slots[i]
            total = float(places[q].sum())
            if total <= 0:
                raise ScenarioError(self.source, f"levers.{i}.initial_participants",
                                    f"{members:g} members in post, but the lever {self.names[i]!r} offers no places "
                                    f"in {ctx.month}, the run's first month, to place them in; allowed: 0 here")
            out[q] = members * places[q] / total
        return out

    def programme_labels(self) -> list[str]:
        """Name of the lever in each programme slot."""
        return [self.names[i] for i in sorted(self.slots, key=self.slots.get)]

    def needs_settlers(self, month: str) -> bool:
        """Does an active lever need the list of this step's settlers?"""
        return any(lever.needs_settlers for _, lever, _ in self.active(month))

    def account(self, ctx: LeverContext, record: StepRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pay this step's claims within budgets; return (spending, ledger, counts) in file order:
        spending (levers, R), the ledger (levers, len(LEDGER), R) of money moved besides spending,
        whose `net_revenue` item is the revenue (`Lever.revenue` is added there), and the counts
        (levers, len(COUNTS), R) of what the spending paid for (cases, persons, trips), scaled by the
        share of the claim a budget could still pay."""
        spending = np.zeros((len(self.levers), self.n_regions))
        ledger = np.zeros((len(self.levers), len(LEDGER), self.n_regions))
        counts = np.zeros((len(self.levers), len(COUNTS), self.n_regions))
        for i, lever, masks in self.active(ctx.month):
            if lever.is_programme:
                q = self.slots[i]
                args = (masks, ctx, record.participants[q], record.entries[q], record.participant_days[q], record.scale)
                claim = np.maximum(lever.programme_claims(*args), 0.0)
                count = lever.programme_counts(*args)
            else:
                claim = np.maximum(lever.claims(masks, ctx, record), 0.0)
                count = lever.counts(masks, ctx, record)
            total = float(claim.sum())
            if total > 0:
                paid = min(total, self.budget_left[i])
                spending[i] = claim * (paid / total)
                counts[i] = count * (paid / total)
                self.budget_left[i] -= paid
            ledger[i] = lever.ledger(masks, ctx, record)
            ledger[i, NET_REVENUE] += lever.revenue(masks, ctx, record)
        return spending, ledger, counts

    def payer_matrix(self) -> np.ndarray:
        """(levers, payers) payer shares in file order."""
        out = np.zeros((len(self.levers), len(PAYERS)))
        for i, lever, _ in self.levers:
            out[i] = [lever.payer_shares()[p] for p in PAYERS]
        return out

    def acting_in(self, mask: np.ndarray) -> np.ndarray:
        """(levers,) in file order: does the lever's `regions` include any region of `mask`?"""
        out = np.zeros(len(self.levers), dtype=bool)
        for i, _, masks in self.levers:
            out[i] = bool((masks["regions"] & mask).any())
        return out

    def kinds(self) -> list[str]:
        """Kind of each lever in file order."""
        return [lever.kind for _, lever, _ in sorted(self.levers, key=lambda e: e[0])]

    def labels(self) -> list[str]:
        """Name of each lever in file order."""
        return [self.names[i] for i in range(len(self.levers))]
