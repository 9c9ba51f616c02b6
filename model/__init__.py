"""Kankei's simulation: the Mesa `RelationModel` and its Numba transition kernel (関係人口モデル)."""

from model import forksafety
from model.parameters import KankeiScenario, ScenarioConfig, ScenarioError, load_scenario
from model.person import Person
from model.regions import Region
from model.relation_model import RelationModel
from model.stages import EngagementType, Flow, Stage, Transition

forksafety.register()   # a child forked after the kernel's threads started fails clearly instead of hanging

__all__ = [
    "EngagementType", "Flow", "KankeiScenario", "Person", "Region", "RelationModel", "ScenarioConfig",
    "ScenarioError", "Stage", "Transition", "load_scenario",
]
