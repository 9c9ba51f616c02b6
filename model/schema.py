"""Building blocks of the scenario schema (スキーマ): the error type, sections, value types."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
FiniteNonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # refuses NaN and infinity
Share = Annotated[float, Field(ge=0, le=1)]
# a capacity that may be unlimited: any number ≥ 0, or inf for "no limit" (never NaN)
Capacity = Annotated[float, Field(ge=0, allow_inf_nan=True)]
RegionSelector = Literal["all", "metro", "rural"] | list[int]
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ScenarioError(ValueError):
    """A scenario that cannot be used: names the file, the key and what is allowed."""

    def __init__(self, source: str | Path | None, key: str, message: str) -> None:
        self.source = str(source) if source is not None else "<scenario>"
        self.key = key
        self.message = message
        where = f"{self.source}: {key}" if key else self.source
        super().__init__(f"{where}: {message}")


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


def parse_value(text: str) -> Any:
    """Read a command-line value as TOML (numbers, booleans, lists, strings), else keep the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
