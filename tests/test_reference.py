"""The kernel against its references: the call `RelationModel.step` makes, and the plain-Mesa model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from model import RelationModel, kernel, load_scenario
from model.stages import Flow, Stage

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from plain_mesa import PlainRelationModel  # noqa: E402


def test_kernel_arguments_reproduce_the_model_step():
    """What benchmarks call (`prepare_step` + `kernel.advance(*kernel_arguments)`) is what `step` does."""
    scenario = load_scenario(REPO / "scenarios" / "package_all.toml",
                             overrides={"run.people_per_agent": 20000, "demography.enabled": False})
    a = RelationModel(scenario=scenario, rng=7)
    b = RelationModel(scenario=scenario, rng=7)
    n = b.people.n
    a.step()  # step 0 with every lever of the package folded in; no demography, so no new adults
    b.prepare_step(0)
    kernel.advance(*b.kernel_arguments(0))
    pa, pb = a.people.arrays(), b.people.arrays()
    assert a.people.n == n
    for field in kernel.PersonArrays._fields:
        assert np.array_equal(getattr(pa, field), getattr(pb, field)), field
    assert a.last_flows.sum() > 0 and np.array_equal(a.last_flows, b.last_flows)
    assert np.array_equal(a.visit_pairs, b.visit_pairs)

@pytest.mark.slow
def test_plain_mesa_reference_agrees_with_the_kernel():
    """The plain-Mesa model (one mesa.Agent per person, Python's random) and the kernel, from the same
    people for 12 steps: flows and end stocks agree within sampling error (different random streams)."""
    model = RelationModel(rng=3, **{"run.people_per_agent": 1000})
    ids = np.flatnonzero(model.people.stage[: model.people.n] != Stage.DEAD)
    plain = PlainRelationModel(model, ids, first_step=0, seed=5)
    reference = RelationModel(rng=3, **{"run.people_per_agent": 1000})
    steps = 12
    plain_flows = np.zeros(len(Flow), dtype=np.int64)
    kernel_flows = np.zeros(len(Flow), dtype=np.int64)
    for k in range(steps):
        plain.step()
        plain_flows += np.asarray(plain.flows).sum(axis=0)
        reference.prepare_step(k)
        kernel.advance(*reference.kernel_arguments(k))   # no new adults: the same people as the plain model
        kernel_flows += reference.last_flows.sum(axis=0)
    checked = 0
    for f in Flow:
        if f == Flow.NEW_ADULT:
            continue
        a, b = int(plain_flows[f]), int(kernel_flows[f])
        # two independent counts of the same expectation: |a − b| within 4.5 standard deviations
        assert abs(a - b) <= 4.5 * np.sqrt(a + b) + 3, f"{f.name}: plain Mesa {a}, kernel {b}"
        checked += a > 100
    assert checked >= 6, "enough flows are large enough for the comparison to mean something"
    plain_stock = np.asarray(plain.by_home).sum(axis=0)
    kernel_stock = reference.counts_by_home.sum(axis=0)
    assert plain_stock.sum() == pytest.approx(kernel_stock.sum(), rel=0.01)
    for s in range(len(plain_stock)):
        a, b = int(plain_stock[s]), int(kernel_stock[s])
        assert abs(a - b) <= 4.5 * np.sqrt(a + b) + 3, f"stage {Stage(s).name}: plain Mesa {a}, kernel {b}"
