"""Person (個人): a Mesa agent that is a view onto one slot of the model's people arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from model.stages import EngagementType, Stage

if TYPE_CHECKING:
    from model.regions import Region
    from model.relation_model import RelationModel


class Person(mesa.Agent):
    """One simulated adult. Every attribute reads the model's arrays: there is no second copy of the state."""

    index: int

    def __init__(self, model: "RelationModel", index: int) -> None:
        super().__init__(model)
        self.index = index

    @classmethod
    def view(cls, model: "RelationModel", index: int) -> "Person":
        """A view that is not registered with the model (for looking at one person)."""
        if not 0 <= index < model.people.n:
            raise IndexError(f"person {index} does not exist (0..{model.people.n - 1})")
        obj = cls.__new__(cls)
        obj.model = model
        obj.index = index
        obj.unique_id = -1
        return obj

    def _get(self, name: str):
        return getattr(self.model.people, name)[self.index]

    def _region(self, name: str) -> "Region | None":
        r = int(self._get(name))
        return self.model.regions[r] if r >= 0 else None

    @property
    def stage(self) -> Stage:
        """Stage on the ladder toward the target region."""
        return Stage(int(self._get("stage")))

    @property
    def engagement_type(self) -> EngagementType:
        """MLIT type while ENGAGED or DUAL (関係人口の類型)."""
        return EngagementType(int(self._get("etype")))

    @property
    def home(self) -> "Region":
        """Region of residence (居住地)."""
        return self._region("home")

    @property
    def birth_region(self) -> "Region":
        """Region of birth (ゆかりの地)."""
        return self._region("birth")

    @property
    def target(self) -> "Region | None":
        """Region the person relates to (関係先), or None."""
        return self._region("target")

    @property
    def age(self) -> float:
        """Age in years."""
        return float(self._get("age"))

    @property
    def tie(self) -> float:
        """Tie strength: decayed visit-days (つながりの強さ)."""
        return float(self._get("tie"))

    @property
    def visit_days(self) -> int:
        """Visit-days so far this fiscal year."""
        return int(self._get("visit_days"))

    @property
    def income(self) -> int:
        """Personal income, 万円 per year."""
        return int(self._get("income"))

    @property
    def children(self) -> int:
        """Children under 18 in the household."""
        return int(self._get("children"))

    @property
    def sidejob_capable(self) -> bool:
        """Can take a side job (副業・兼業)."""
        return bool(int(self._get("flags")) & 1)

    @property
    def telework_capable(self) -> bool:
        """Can work remotely (テレワーク)."""
        return bool(int(self._get("flags")) & 2)

    @property
    def steps_in_stage(self) -> int:
        """Steps since the last change of stage."""
        return int(self._get("steps_in_stage"))

    def __repr__(self) -> str:
        target = self.target.name_en if self.target is not None else "-"
        return f"Person({self.index}: {self.stage.name} {self.home.name_en}→{target}, age {self.age:.1f})"
