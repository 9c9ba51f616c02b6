"""Priors of the free parameters (事前分布): what `kankei calibrate` may change, and within what.

A scenario names its free parameters in `[calibration.priors]`, one table per dotted scenario key,
each with a range and where the range comes from (a source, or "assumption"):

    [calibration.priors."rates.settle"]
    low = 0.002
    high = 0.03
    scale = "log"          # uniform in log(value); "linear" is uniform in the value
    source = "assumption"

The schema only: it imports without Numba, like the rest of the scenario schema.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from model.schema import Section


class Prior(Section):
    """A uniform (or log-uniform) prior on one scenario value."""

    low: float = Field(description="Lowest value the calibration may try")
    high: float = Field(description="Highest value the calibration may try")
    scale: Literal["linear", "log"] = Field("linear", description="uniform in the value, or in its logarithm")
    source: str = Field(min_length=1, description='Where the range comes from, or "assumption"')

    @model_validator(mode="after")
    def _range(self) -> "Prior":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log-scale prior needs low > 0, got {self.low:g}")
        return self

    def quantile(self, u: float) -> float:
        """The value at cumulative probability `u` (0–1)."""
        if self.scale == "log":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


class CalibrationSettings(Section):
    """How the scenario is calibrated: its free parameters and the scale of the simulations."""

    priors: dict[str, Prior] = Field(default_factory=dict, description="Free parameters by dotted scenario key")
    people_per_agent: float = Field(1000.0, gt=0, description="Scale of each calibration simulation "
                                    "(1,000 is unbiased in expectation: docs/experiments.md, Scale)")
