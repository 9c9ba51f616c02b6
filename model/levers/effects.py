"""Effect sizes (効果量) of the levers, and the dotted keys that name them as free parameters.

Every numeric field of a lever is one of two things:

* a **policy size** (政策の規模): what a policymaker chooses — places, staff, budgets, money per case,
  rates of subsidy, durations, dates, regions, eligibility, and the accounting of who pays;
* an **effect size** (効果量): how the people (or municipalities) a lever reaches respond per unit
  reached — hazard multipliers of participants, matches per staff-year, the SETTLE response per
  million yen, take-up hazards, and the household and travel habits of those reached.

A field is an effect size when it is declared with `effect_size(...)` instead of pydantic's `Field`
(the mark is `json_schema_extra={"effect_size": True}`); every other field is a policy size. Only
effect sizes may be free parameters of a calibration (`[calibration.priors."levers.NAME.FIELD"]`) or
columns of a posterior file, named by the lever's `name` and, for a table of effects such as a
programme's `effects`, by its entry: ``levers.kyoryokutai.effects.settle``. A posterior never
changes a policy size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from model.levers.base import Lever

EFFECT_SIZE = "effect_size"
SECTION = "levers"


def effect_size(*args: Any, **kwargs: Any) -> Any:
    """A pydantic `Field` marked as an effect size (same arguments as `Field`)."""
    return Field(*args, json_schema_extra={EFFECT_SIZE: True}, **kwargs)


def effect_size_fields(kind: type[BaseModel]) -> tuple[str, ...]:
    """The effect-size fields of a lever class, in declaration order."""
    return tuple(name for name, info in kind.model_fields.items()
                 if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(EFFECT_SIZE))


def effect_size_keys(lever: "Lever") -> list[str]:
    """The free-parameter keys of a named lever: ``levers.NAME.FIELD`` for a number, and
    ``levers.NAME.FIELD.ENTRY`` for each entry a table of effects holds."""
    keys = []
    for name in effect_size_fields(type(lever)):
        value = getattr(lever, name)
        if isinstance(value, dict):
            keys += [f"{SECTION}.{lever.name}.{name}.{entry}" for entry in value]
        else:
            keys.append(f"{SECTION}.{lever.name}.{name}")
    return keys


def lever_name(key: str) -> str | None:
    """The lever a dotted key addresses (``levers.NAME.…`` → NAME), or None for any other key."""
    parts = key.split(".")
    return parts[1] if parts[0] == SECTION and len(parts) > 1 else None


def applies_to(levers: Sequence["Lever"], key: str) -> bool:
    """Does `key` apply to a scenario with these levers: any key but a lever's, or a lever key whose
    lever the scenario has (a scenario without the lever, e.g. a policy that removed it, has nothing
    for it to set)."""
    name = lever_name(key)
    return name is None or _find(levers, name) is not None


def _find(levers: Sequence["Lever"], name: str) -> "Lever | None":
    return next((lever for lever in levers if lever.name == name), None)


def _named(levers: Sequence["Lever"]) -> str:
    return ", ".join(repr(lever.name) for lever in levers if lever.name) or "none"


def lever_key_problem(levers: Sequence["Lever"], key: str) -> str | None:
    """Why `key` (``levers.…``) cannot be a free parameter of a scenario with these levers, or None
    if it names an effect size of one of them."""
    parts = key.split(".")
    name = lever_name(key)
    if not name or name.isdigit():
        return ("names a lever by its position or not at all; write levers.NAME.FIELD with the lever's name "
                f"(named levers: {_named(levers)})")
    lever = _find(levers, name)
    if lever is None:
        return f"no lever named {name!r} in the scenario (named levers: {_named(levers)})"
    allowed = effect_size_keys(lever)
    listing = f"allowed effect-size keys of {name!r} ({lever.kind}): {', '.join(allowed) or 'none'}"
    field = parts[2] if len(parts) > 2 else ""
    if field not in type(lever).model_fields:
        return f"{field!r} is not a field of the lever {name!r}; {listing}"
    if field not in effect_size_fields(type(lever)):
        return (f"{field!r} of the lever {name!r} is a policy size (what a policymaker chooses), never a free "
                f"parameter; {listing}")
    if key not in allowed:
        return (f"{'.'.join(parts[2:])!r} is not one number the lever {name!r} holds (a table of effects is "
                f"addressed by an entry it has); {listing}")
    return None


def lever_value(levers: Sequence["Lever"], key: str) -> float | None:
    """The value a lever key (``levers.NAME.FIELD[.ENTRY]``) names, or None if no lever has that name."""
    parts = key.split(".")
    lever = _find(levers, parts[1])
    if lever is None:
        return None
    value = getattr(lever, parts[2])
    return value[parts[3]] if len(parts) > 3 else value
