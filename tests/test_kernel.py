"""The transition kernel: random streams, closed-form Markov checks, step length, conservation."""

from __future__ import annotations

from enum import IntEnum, unique

import numpy as np
import pytest

from model import RelationModel, kernel, load_scenario
from model.codes import (
    N_CLASSES,
    Decision,
    PersonFlag,
    class_is_sidejob,
    class_type,
    cost_class,
)
from model.parameters import ScenarioConfig, with_overrides
from model.stages import N_FLOWS, EngagementType, Flow, Stage, Transition
from tests.conftest import CONSTANT_HAZARDS


def test_kernel_codes_come_from_the_registries():
    assert (kernel.NONE, kernel.VISITOR, kernel.ENGAGED, kernel.DUAL, kernel.SETTLED, kernel.DEAD) == tuple(Stage)
    assert [getattr(kernel, f"T_{t.name}") for t in Transition] == list(range(len(Transition)))
    assert kernel.F_DEATH == Flow.DEATH and kernel.F_NEW_ADULT == Flow.NEW_ADULT
    assert kernel.F_ENGAGE_REJECTED == Flow.ENGAGE_REJECTED and kernel.N_FLOWS == N_FLOWS
    assert kernel.WORK_TYPE == EngagementType.WORK
    assert kernel.D_MAIN == Decision.MAIN and kernel.D_MIGRATE == Decision.MIGRATE
    # the compiled (possibly cached) kernel holds the registries' current values
    assert not kernel.check_compiled_codes()
    assert tuple(kernel._compiled_codes()) == kernel.compiled_values()


def test_decision_codes_are_unique_and_fit_the_stream_key():
    values = [d.value for d in Decision]
    assert len(values) == len(set(values)) == len(Decision.__members__), "no two decisions share a stream"
    assert all(0 <= v < 256 for v in values), "stream_key packs step·256 + decision"
    with pytest.raises(ValueError, match="duplicate"):
        unique(IntEnum("Clash", {"A": 1, "B": 1}))


def test_cost_classes():
    assert N_CLASSES == 2 * len(EngagementType)
    seen = {cost_class(k, sj) for k in EngagementType for sj in (False, True)}
    assert seen == set(range(N_CLASSES))
    for c in range(N_CLASSES):
        assert cost_class(class_type(c), class_is_sidejob(c)) == c
    flags = np.array([0, int(PersonFlag.SIDEJOB), int(PersonFlag.TELEWORK), 3], dtype=np.uint8)
    compiled = [kernel.cost_class.py_func(np.int64(EngagementType.WORK), f) for f in flags]
    assert compiled == [cost_class(EngagementType.WORK, bool(f & PersonFlag.SIDEJOB)) for f in flags]


def test_counter_based_draws_are_pure_and_uniform():
    ids = np.arange(200_000, dtype=np.int64)
    a = kernel.uniforms(np.uint64(7), 3, 0, ids)
    b = kernel.uniforms(np.uint64(7), 3, 0, ids[::-1])[::-1]
    assert np.array_equal(a, b), "a draw depends only on (key, step, decision, person)"
    assert abs(a.mean() - 0.5) < 0.003 and abs(a.var() - 1 / 12) < 0.002
    other_step = kernel.uniforms(np.uint64(7), 4, 0, ids)[:, 0]
    other_decision = kernel.uniforms(np.uint64(7), 3, 1, ids)[:, 0]
    other_key = kernel.uniforms(np.uint64(8), 3, 0, ids)[:, 0]
    for other in (other_step, other_decision, other_key, a[:, 1]):
        assert abs(np.corrcoef(a[:, 0], other)[0, 1]) < 0.01
    counts = np.histogram(a[:, 0], bins=20, range=(0, 1))[0]
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 45, f"chi-square {chi2:.1f} on 19 degrees of freedom"


# --- the closed form: constant hazards make a Markov chain over (stage, type) -------------------
STATES = [(Stage.NONE, 0), (Stage.VISITOR, 0)] + [(Stage.ENGAGED, k) for k in range(1, 5)] \
    + [(Stage.DUAL, k) for k in range(1, 5)] + [(Stage.SETTLED, 0)]
INDEX = {s: i for i, s in enumerate(STATES)}
DEEPEN_NEXT = {1: 2, 2: 4, 3: 4}


def generator(cfg: ScenarioConfig) -> dict[int, dict[int, float]]:
    """Hazards per year between states, written from the documented model (docs/ODD.md)."""
    r, t = cfg.rates, cfg.types
    w = np.array(t.weights) / sum(t.weights)
    q: dict[int, dict[int, float]] = {i: {} for i in range(len(STATES))}
    q[0][1] = r.visit
    for k in range(1, 5):
        q[1][INDEX[(Stage.ENGAGED, k)]] = r.engage * w[k - 1]
    q[1][0] = r.lapse_visitor
    for k in range(1, 5):
        e = INDEX[(Stage.ENGAGED, k)]
        d = INDEX[(Stage.DUAL, k)]
        if k in DEEPEN_NEXT:
            q[e][INDEX[(Stage.ENGAGED, DEEPEN_NEXT[k])]] = r.deepen
        q[e][d] = r.dual * t.settle_mult[k - 1]
        q[e][10] = r.settle * t.settle_mult[k - 1]
        q[e][1] = r.lapse_engaged * t.lapse_mult[k - 1]
        q[d][10] = r.settle * t.settle_mult[k - 1] * r.dual_settle_factor
        q[d][e] = r.lapse_dual
    q[10][0] = r.leave
    return q


def step_matrix(q: dict[int, dict[int, float]], dt: float) -> np.ndarray:
    """One step of competing hazards: P(j) = λ_j/Λ · (1 − e^(−Λ·dt)), stay e^(−Λ·dt)."""
    n = len(STATES)
    m = np.zeros((n, n))
    for i, out in q.items():
        total = sum(out.values())
        stay = np.exp(-total * dt)
        m[i, i] = stay
        for j, lam in out.items():
            m[i, j] += lam / total * (1 - stay)
    return m


def national_shares(model: RelationModel, step: int) -> np.ndarray:
    cube = model.history.by_target[step].sum(axis=0)
    counts = np.array([cube[s, k] for s, k in STATES], dtype=float)
    return counts / counts.sum()


@pytest.mark.slow
def test_constant_hazards_follow_the_markov_chain_matrix_power():
    sc = load_scenario(overrides={**CONSTANT_HAZARDS, "run.horizon_years": 5})
    model = RelationModel(scenario=sc, rng=5)
    model.run()
    n_agents = model.n_alive
    m = step_matrix(generator(sc.config), model.dt)
    start = national_shares(model, 0)
    for step in (6, 24, 60):
        expected = start @ np.linalg.matrix_power(m, step)
        observed = national_shares(model, step)
        sd = np.sqrt(expected * (1 - expected) / n_agents)
        assert np.all(np.abs(observed - expected) <= 5 * sd + 1e-4), (step, observed - expected, sd)
    # the chain moved far from the start, so the check has teeth
    assert np.abs(national_shares(model, 60) - start).max() > 0.1


@pytest.mark.slow
def test_monthly_and_weekly_steps_give_the_same_expected_shares():
    years = 3
    shares = {}
    for spy in (12, 52):
        sc = load_scenario(overrides={**CONSTANT_HAZARDS, "run.horizon_years": years, "run.steps_per_year": spy})
        model = RelationModel(scenario=sc, rng=9)
        model.run()
        shares[spy] = national_shares(model, model.n_steps)
        start = national_shares(model, 0)
    # the continuous-time limit: a very fine step matrix
    fine = np.linalg.matrix_power(step_matrix(generator(sc.config), 1 / 8760), 8760 * years)
    limit = start @ fine
    assert np.abs(shares[12] - shares[52]).max() < 0.01
    assert np.abs(shares[12] - limit).max() < 0.012
    assert np.abs(shares[52] - limit).max() < 0.01


def test_stage_flows_balance_exactly_without_demography():
    sc = load_scenario(overrides={**CONSTANT_HAZARDS, "run.people_per_agent": 5000, "run.horizon_years": 2})
    model = RelationModel(scenario=sc, rng=2)
    model.run()
    stock = model.history.by_home.sum(axis=1)          # (steps, stage)
    flows = model.history.flows.sum(axis=1)            # (steps, flow)
    d = np.diff(stock, axis=0)
    f = flows[1:]
    assert np.all(stock.sum(axis=1) == stock[0].sum()), "nobody appears or disappears"
    assert np.array_equal(d[:, Stage.NONE], -f[:, Flow.VISIT] + f[:, Flow.LAPSE_VISITOR] + f[:, Flow.LEAVE])
    assert np.array_equal(d[:, Stage.VISITOR], f[:, Flow.VISIT] - f[:, Flow.LAPSE_VISITOR] - f[:, Flow.ENGAGE]
                          + f[:, Flow.LAPSE_ENGAGED])
    assert np.array_equal(d[:, Stage.ENGAGED] + d[:, Stage.DUAL],
                          f[:, Flow.ENGAGE] - f[:, Flow.LAPSE_ENGAGED] - f[:, Flow.SETTLE])
    assert np.array_equal(d[:, Stage.SETTLED], f[:, Flow.SETTLE] - f[:, Flow.LEAVE])
    assert f[:, Flow.SETTLE].sum() > 0 and f[:, Flow.LEAVE].sum() > 0


@pytest.mark.parametrize("visit_rate", [None, 4.0])  # the default, and first visits so likely that Λ·dt > a zone
def test_the_screen_finds_exactly_the_people_whose_step_is_only_ageing(small_scenario, visit_rate):
    """`screen` decides most first contacts with a bound (`quiet_bound`); its answer must be the
    exact test of `choose_event` for everyone, or results would depend on the shortcut."""
    overrides = {} if visit_rate is None else {"rates.visit": visit_rate}
    model = RelationModel(scenario=with_overrides(small_scenario, overrides), rng=5)
    for _ in range(3):
        model.step()
    k = model.steps
    model.prepare_step(k)
    people, region, programmes, tables, scalars, step, _ = model.kernel_arguments(k)
    n = people.stage.shape[0]
    bound, visit_bound = kernel.quiet_bound(region, tables)
    bits = np.zeros(n, dtype=bool)
    living = np.zeros(n, dtype=bool)
    k_main = np.uint64(kernel.stream_key(scalars.key, step, kernel.D_MAIN))  # boxed as a Python int
    for w0 in range(0, n, 64):
        w1 = min(w0 + 64, n)
        q, alive = kernel.screen(w0, w1, k_main, people, region, programmes, tables, scalars, False, bound,
                                 visit_bound)
        lanes = np.arange(w1 - w0, dtype=np.uint64)
        bits[w0:w1] = (np.uint64(q) >> lanes) & np.uint64(1) == 1
        living[w0:w1] = (np.uint64(alive) >> lanes) & np.uint64(1) == 1

    # the exact test, in the kernel's order of operations
    h, b = people.home.astype(np.int64), people.birth.astype(np.int64)
    x = np.minimum(people.age.astype(np.int64), kernel.MAX_AGE)
    cls = people.etype.astype(np.int64) + kernel.N_TYPES * (people.flags & PersonFlag.SIDEJOB).astype(np.int64)
    mh = region.migrate_hazard
    lm = mh[h, 0, x] + np.where((b >= 0) & (b != h), mh[h, 1, x], 0.0)
    total = tables.mortality[x] + lm + region.rate[h, kernel.T_VISIT] * people.engage_factor.astype(float) \
        * region.access[cls, h]
    u = kernel.uniforms(scalars.key, step, kernel.D_MAIN, np.arange(n, dtype=np.int64))[:, 0]
    z = u * kernel.N_ZONES
    free = (people.stage == Stage.NONE) & ((people.flags & PersonFlag.ENROLLED) == 0) & (people.tie == 0)
    exact = free & (total * scalars.dt <= kernel.ZONE) \
        & (z - np.floor(z) >= kernel.N_ZONES * (total * scalars.dt + 1e-12))
    assert np.all(bound[x[free]] + visit_bound * people.engage_factor[free] >= total[free]), "the bound holds"
    assert np.array_equal(living, people.stage != Stage.DEAD)
    assert 0 < exact.sum() < free.sum(), "both answers occur"
    if visit_rate is not None:
        assert np.any(total[free] * scalars.dt > kernel.ZONE), "some totals exceed a zone: the bound cannot decide"
    assert np.array_equal(bits, exact)


def test_people_are_conserved_with_demography(small_run):
    m = small_run
    living = m.history.by_home.sum(axis=(1, 2))
    f = m.history.flows.sum(axis=1)
    assert np.array_equal(np.diff(living), f[1:, Flow.NEW_ADULT] - f[1:, Flow.DEATH])
    assert np.array_equal(m.history.by_target.sum(axis=(1, 2, 3)), living), "both tallies count everyone once"
    stage = m.people.stage[: m.people.n]
    assert (stage == Stage.DEAD).sum() == f[:, Flow.DEATH].sum()
    assert m.people.n == living[0] + f[:, Flow.NEW_ADULT].sum(), "one slot per person ever alive"
    # every move between regions is matched by an arrival
    assert f[:, Flow.MIGRATE].sum() == f[:, Flow.MIGRATE_ARRIVAL].sum() > 0
    assert f[:, Flow.LEAVE].sum() == f[:, Flow.LEAVE_ARRIVAL].sum()


def test_state_invariants_hold(small_run):
    p = small_run.people
    n = p.n
    stage, target, home, etype = p.stage[:n], p.target[:n], p.home[:n], p.etype[:n]
    related = (stage >= Stage.VISITOR) & (stage <= Stage.DUAL)
    assert np.all(target[related] >= 0)
    # a tie inside one's own prefecture is allowed, but never as a dual resident
    dual = stage == Stage.DUAL
    assert np.all(target[dual] != home[dual])
    assert 0 < np.count_nonzero(target[related] == home[related]) < np.count_nonzero(related)
    assert np.all(target[stage == Stage.NONE] == -1)
    typed = (stage == Stage.ENGAGED) | (stage == Stage.DUAL)
    assert np.all((etype[typed] >= EngagementType.HOBBY_CONSUMPTION) & (etype[typed] <= EngagementType.DIRECT_CONTRIBUTION))
    alive = stage != Stage.DEAD
    assert np.all(etype[~typed & alive] == 0)
    settled = stage == Stage.SETTLED
    assert np.all(p.origin[:n][settled] >= 0) and np.all(p.origin[:n][settled] != home[settled])
    assert np.all(p.age[:n][stage != Stage.DEAD] >= 18)
