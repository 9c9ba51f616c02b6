"""The general lever: multiply one transition's hazard (ハザード乗数)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from model.levers.effects import effect_size
from model.levers.base import EffectContext, Lever, LeverEffects, Masks, scaled
from model.schema import NonNegative, RegionSelector
from model.stages import Transition

TransitionName = Literal[tuple(t.name.lower() for t in Transition)]  # type: ignore[valid-type]


class HazardMultiplier(Lever):
    """Multiplies one transition's hazard in some regions for a period; costs nothing.

    For experiments with a mechanism in isolation (e.g. "what if lapses were 20 % rarer?").
    The transition's region is the target region, or the home region for visit, migrate
    and leave (see `model.stages.Transition`).
    """

    kind: Literal["hazard_multiplier"] = "hazard_multiplier"
    regions: RegionSelector = Field("all", description="Where it acts")
    transition: TransitionName  # type: ignore[valid-type]
    factor: NonNegative = effect_size(1.0, description="Hazard multiplier while in force")

    def apply(self, effects: LeverEffects, masks: Masks, ctx: EffectContext) -> None:
        strength = self.strength(masks["regions"], ctx)
        effects.rate_mult[:, Transition[self.transition.upper()]] *= scaled(self.factor, strength)
