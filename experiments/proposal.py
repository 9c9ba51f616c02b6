"""The ABC-SMC proposal (提案分布): pyABC's Gaussian kernel density estimate of the last generation,
mixed with the prior (defensive importance sampling, Hesterberg 1995, *Technometrics* 37:185–194).

Why not pyABC's kernel alone: a particle's importance weight is prior / proposal density. With about
ten parameters and a few hundred particles the kernel estimate is bumpy, so a proposal that lands
between particles gets a very large weight, and the effective sample size collapses (a pilot
calibration of Kankei's 12 parameters had 2–7 effective particles of 100 from the first generation
on, one particle holding half the weight). Mixing in the prior with share `prior_share` bounds every
weight by 1 / `prior_share` (relative to the prior) at the price of that share of proposals being
drawn from the prior, which the distance threshold mostly rejects once the posterior has narrowed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.calibrate import import_pyabc

pyabc = import_pyabc()      # imported by `calibrate` when a calibration starts, never by the CLI's start-up


class DefensiveTransition(pyabc.transition.Transition):
    """(1 − `prior_share`) × pyABC's `MultivariateNormalTransition` + `prior_share` × the uniform prior
    on the box `low`–`high` (pyABC's coordinates, one bound per parameter, in the order `names`)."""

    def __init__(self, names: list[str], low: list[float], high: list[float], prior_share: float = 0.2,
                 scaling: float = 1.0):
        if not 0.0 < prior_share < 1.0:
            raise ValueError(f"prior_share must be between 0 and 1 (exclusive), not {prior_share}")
        self.names, self.low, self.high = list(names), np.asarray(low, float), np.asarray(high, float)
        self.prior_share, self.scaling = prior_share, scaling
        self.kernel = pyabc.MultivariateNormalTransition(scaling=scaling)

    def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
        self.kernel.fit(X, w)

    def rvs_single(self) -> pyabc.Parameter:
        if np.random.uniform() < self.prior_share:
            return pyabc.Parameter(dict(zip(self.names, np.random.uniform(self.low, self.high))))
        return self.kernel.rvs_single()

    def pdf(self, x: pyabc.Parameter | pd.Series | pd.DataFrame) -> float | np.ndarray:
        if isinstance(x, pd.DataFrame):
            v = x[self.names].to_numpy(dtype=float)
        else:
            v = np.array([x[k] for k in self.names], dtype=float)
        inside = np.all((v >= self.low) & (v <= self.high), axis=-1)
        prior = inside / float(np.prod(self.high - self.low))
        return (1.0 - self.prior_share) * self.kernel.pdf(x) + self.prior_share * prior
