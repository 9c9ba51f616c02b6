"""The ABC-SMC proposal (experiments.proposal): a kernel estimate mixed with the prior bounds the weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.calibrate import import_pyabc
from experiments.proposal import DefensiveTransition

NAMES = ["a", "b", "c"]
LOW, HIGH = [0.0, -2.0, 1.0], [1.0, 0.0, 5.0]


def fitted(prior_share: float = 0.2, n: int = 40, seed: int = 0) -> DefensiveTransition:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform([0.1, -1.9, 2.2], [0.3, -1.5, 2.6], (n, 3)), columns=NAMES)   # a small box
    t = DefensiveTransition(NAMES, LOW, HIGH, prior_share)
    t.fit(X, np.full(n, 1.0 / n))
    return t


def test_density_is_the_mixture_of_the_kernel_and_the_uniform_prior():
    pyabc = import_pyabc()
    t = fitted(0.25)
    kernel = pyabc.MultivariateNormalTransition()
    kernel.fit(t.X, t.w)
    volume = 1.0 * 2.0 * 4.0
    inside = pd.Series({"a": 0.12, "b": -1.6, "c": 2.3})
    assert t.pdf(inside) == pytest.approx(0.75 * kernel.pdf(inside) + 0.25 / volume)
    outside = pd.Series({"a": 1.5, "b": -1.6, "c": 2.3})
    assert t.pdf(outside) == pytest.approx(0.75 * kernel.pdf(outside))
    frame = pd.DataFrame([inside, outside])
    assert np.allclose(t.pdf(frame), [t.pdf(inside), t.pdf(outside)])


def test_every_importance_weight_is_bounded_by_one_over_the_prior_share():
    t = fitted(0.2)
    volume = 8.0
    rng = np.random.default_rng(1)
    points = pd.DataFrame(rng.uniform(LOW, HIGH, (500, 3)), columns=NAMES)
    weights = (1.0 / volume) / t.pdf(points)        # prior / proposal, the ABC-SMC weight
    assert weights.max() <= 1.0 / 0.2 + 1e-9
    # far from the particles the bound is reached: the kernel there is negligible
    corner = pd.Series({"a": 0.99, "b": -0.01, "c": 4.99})
    assert (1.0 / volume) / t.pdf(corner) == pytest.approx(5.0, rel=1e-3)


def test_draws_come_from_the_prior_at_the_stated_share():
    t = fitted(0.3)
    np.random.seed(3)
    draws = pd.DataFrame([dict(t.rvs_single()) for _ in range(3000)])
    # the particles sit in a small box, so a draw far from it came from the prior; the prior puts
    # 1 − 0.6 × 0.5 × 0.55 = 0.835 of its mass that far, so 0.3 × 0.835 of the draws are expected there
    far = (draws["a"] > 0.6) | (draws["b"] > -1.0) | (draws["c"] > 3.2)
    assert far.mean() == pytest.approx(0.3 * 0.835, abs=0.03)   # 3.8 standard errors
    within = draws[far]
    assert ((within[NAMES] >= LOW) & (within[NAMES] <= HIGH)).all().all()


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1])
def test_a_prior_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="prior_share must be between 0 and 1"):
        DefensiveTransition(NAMES, LOW, HIGH, share)
