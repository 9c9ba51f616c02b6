"""Building blocks of the scenario schema (スキーマ): sections and value types (the error type is
`model.errors.ScenarioError`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
FiniteNonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # refuses NaN and infinity
Share = Annotated[float, Field(ge=0, le=1)]
# a capacity that may be unlimited: any number ≥ 0, or inf for "no limit" (never NaN)
Capacity = Annotated[float, Field(ge=0, allow_inf_nan=True)]
RegionSelector = Literal["all", "metro", "rural"] | list[int]
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Section(BaseModel):
    """A frozen part of a scenario that refuses unknown keys, NaN and infinity.

    Every number in a scenario is finite (fields typed `Capacity` may also be inf, "no limit");
    ranges are on the fields themselves.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_month(value: str) -> str:
    """A month written YYYY-MM."""
    if not _MONTH.match(value):
        raise ValueError(f"must be a month written YYYY-MM (e.g. 2020-04), got {value!r}")
    return value
