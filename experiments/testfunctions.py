"""Test functions with known sensitivity indices (検証用関数): check the analysis wiring end to end.

A spec with ``model = "ishigami"`` (or ``"experiments.testfunctions:linear"``) runs one of these
instead of the Kankei model, through the same designs, runner, store and analysis, so that the
indices that come out can be compared with the exact ones.

A function model is called as ``f(params, seed) -> {outcome: value}``.
"""

from __future__ import annotations

import math
from typing import Any

ISHIGAMI_A = 7.0
ISHIGAMI_B = 0.1
LINEAR_COEFFICIENTS = {"a": 4.0, "b": 2.0, "c": 1.0, "d": 0.0}


def ishigami(params: dict[str, Any], seed: int = 0) -> dict[str, float]:
    """Ishigami & Homma (1990): y = sin x1 + a sin² x2 + b x3⁴ sin x1, with x1, x2, x3 in [−π, π]."""
    x1, x2, x3 = (float(params[k]) for k in ("x1", "x2", "x3"))
    return {"y": math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3 ** 4 * math.sin(x1)}


def ishigami_indices(a: float = ISHIGAMI_A, b: float = ISHIGAMI_B) -> dict[str, dict[str, float]]:
    """Exact first-order (S1) and total (ST) Sobol indices of the Ishigami function, for uniform
    inputs on [−π, π] (e.g. Saltelli et al. 2008, Global Sensitivity Analysis: The Primer)."""
    pi = math.pi
    v1 = 0.5 * (1 + b * pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * pi ** 8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    return {"S1": {"x1": v1 / var, "x2": v2 / var, "x3": 0.0},
            "ST": {"x1": (v1 + v13) / var, "x2": v2 / var, "x3": v13 / var}}


def linear(params: dict[str, Any], seed: int = 0) -> dict[str, float]:
    """y = 4a + 2b + c + 0·d: Morris elementary effects are exactly the coefficient × the range."""
    return {"y": sum(LINEAR_COEFFICIENTS[k] * float(v) for k, v in params.items() if k in LINEAR_COEFFICIENTS)}


def fails_when_negative(params: dict[str, Any], seed: int = 0) -> dict[str, float]:
    """y = x, but raises for x < 0: a model that fails on part of its design (for failure handling)."""
    x = float(params["x"])
    if x < 0:
        raise ValueError(f"x must not be negative, got {x}")
    return {"y": x}
