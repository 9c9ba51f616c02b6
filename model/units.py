"""The units boundary (単位): simulated persons inside the model, real people outside.

Everything the kernel and the tallies count is in simulated persons (agents); everything a user
reads (frames, outcomes, KPIs, spending claimed per person) is in real people. `Scale` is the one
place that converts between the two, so results are comparable across `run.people_per_agent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ArrayLike = float | np.ndarray


@dataclass(frozen=True)
class Scale:
    """`people_per_agent` real adults per simulated person (`run.people_per_agent`)."""

    people_per_agent: float

    def people(self, agents: ArrayLike) -> ArrayLike:
        """Real people represented by a count (or array of counts) of simulated persons."""
        return agents * self.people_per_agent

    def agents(self, people: ArrayLike) -> ArrayLike:
        """Simulated persons (expected, fractional) standing for a number of real people."""
        return people / self.people_per_agent
