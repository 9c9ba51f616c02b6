"""Kankei's simulation: the Mesa `RelationModel` and its Numba transition kernel (関係人口モデル).

Names are imported on first use (PEP 562), so `import model.parameters` (the scenario schema) or
`import model.paths` does not load Numba or Mesa's model machinery.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from model import forksafety

forksafety.register()   # a child forked after the kernel's threads started fails clearly instead of hanging

_EXPORTS = {
    "EngagementType": "model.stages", "Flow": "model.stages", "Stage": "model.stages", "Transition": "model.stages",
    "KankeiScenario": "model.parameters", "ScenarioConfig": "model.parameters", "load_scenario": "model.parameters",
    "ScenarioError": "model.errors", "Person": "model.person", "Region": "model.regions",
    "RelationModel": "model.relation_model",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
