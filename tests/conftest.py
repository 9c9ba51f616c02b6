"""Shared fixtures: small scenarios that run in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from model import RelationModel, load_scenario

SMALL = {"run.people_per_agent": 2000, "run.horizon_years": 2}

# General migration off (一般移動: every kind's rate 0)
NO_MIGRATION = {"migration.job_rate": 0.0, "migration.metro_rate": 0.0, "migration.retire_rate": 0.0,
                "migration.return_rate": 0.0}

# Constant hazards, no feedback: every person factor is 1, no demography, no capacity limits.
CONSTANT_HAZARDS = {
    "run.people_per_agent": 500,
    "demography.enabled": False,
    **NO_MIGRATION,
    "rates.visit": 0.3,
    "rates.engage": 0.8,
    "rates.lapse_visitor": 0.5,
    "rates.deepen": 0.2,
    "rates.dual": 0.15,
    "rates.settle": 0.1,
    "rates.lapse_engaged": 0.3,
    "rates.lapse_dual": 0.4,
    "rates.leave": 0.2,
    "rates.dual_settle_factor": 2.0,
    "rates.leave_floor": 0.2,          # = rates.leave: a constant leave hazard
    "rates.leave_return_share": 1.0,
    "choice.own_region_weight": 0.0,   # every tie to another prefecture, so every engaged person may move
    "propensity.engage_income_elasticity": 0.0,
    "propensity.engage_age_width": 1e9,
    "propensity.rc_labour_amplitude": 0.0,
    "propensity.children_coefficient": 0.0,
    "propensity.telework_coefficient": 0.0,
    "ties.kappa_engage": 0.0,
    "ties.kappa_lapse": 0.0,
    "choice.access_exponent": 0.0,
    "choice.engage_cost_per_10k_yen": 0.0,
    "choice.lapse_cost_per_10k_yen": 0.0,
    "capacity.kakawarishiro_per_1000_adults_month": float("inf"),
    "capacity.housing_share_of_vacant_per_year": float("inf"),
    "types.work_mult_capable": 1.0,
    "types.work_mult_other": 1.0,
}


@pytest.fixture(scope="session")
def small_scenario():
    """The baseline at 2,000 adults per agent over two years (~52,000 agents)."""
    return load_scenario(overrides=SMALL)


@pytest.fixture(scope="session")
def small_run(small_scenario):
    """A finished small run (shared, read-only)."""
    model = RelationModel(scenario=small_scenario, rng=11)
    model.run()
    return model


def history_digest(model: RelationModel) -> str:
    """A hash of every tally the model recorded."""
    import hashlib

    h = hashlib.sha256()
    for arr in (model.history.by_target, model.history.by_home, model.history.flows):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()
