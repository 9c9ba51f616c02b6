"""Plain-Mesa reference of the transition kernel: one `mesa.Agent` per person, pure Python.

This is what `model.kernel.advance` does for one person, written the way a Mesa model usually is:
each person is an object with attributes, and `PlainPerson.step()` does, in Python,

* ageing, tie decay, visit days (stochastic rounding) and tie gain,
* the stage's competing hazards (λ_k from the same `rate`, person factors, ties, the cost class's
  access and travel costs, origin-specific settling),
  an event with probability p = 1 − exp(−Λ·dt) and the event k with probability λ_k/Λ (one
  uniform split contiguously: the same distribution as the kernel's fixed zones),
* the stage logic: target choice by the same gravity tables (with the ゆかり mixture), general
  migration (its hazard by home and age, the kind and destination draws, the relationship rule),
  関わりしろ and housing rationing, engagement types, deepening, settling and leaving, death (the
  agent is removed from the model),
* the same tallies: people by (report region, stage, type), by (home region, stage), flows,
  the expected rationing demand and visit-days by (cost class, home, target).

The model drives it with `self.agents.do("step")`. Draws use Python's `random` (the model's
`self.random`), so the run is not bit-identical to the kernel, but every person does the same work.
Look-up tables are turned into nested Python lists once (indexing NumPy arrays element by element
from Python is several times slower, so this is the faster, fairer way to write plain Python).

It is built from a `RelationModel` and a subset of its people, so the populations match. The
regional capacities (関わりしろ, housing) are scaled by the subset's share of all living people, so
the rationing probabilities stay comparable.

New adults, fiscal-year bookkeeping and the History/DataCollector are not here: this mirrors the
kernel only (`model.step()` adds those).
"""

from __future__ import annotations

import math
from bisect import bisect_right

import mesa
import numpy as np

# the kernel's codes, as plain module globals (cheaper to look up in Python than kernel.X)
from model.kernel import (
    DEAD,
    DUAL,
    ENGAGED,
    F_DEATH,
    F_ENGAGE_REJECTED,
    F_HOUSING_REJECTED,
    F_KIND_ARRIVAL,
    F_KIND_MOVE,
    F_LEAVE_ARRIVAL,
    F_MIGRATE_ARRIVAL,
    F_MIGRATE_INTO_TARGET,
    FLAG_SIDEJOB,
    FLAG_TELEWORK,
    MAX_AGE,
    MAX_STEPS_IN_STAGE,
    MOVE_JOB,
    MOVE_RETURN,
    N_GRAVITY_KINDS,
    N_CLASSES,
    N_FLOWS,
    N_STAGES,
    N_TYPES,
    NONE,
    SETTLED,
    T_DEEPEN,
    T_DUAL,
    T_ENGAGE,
    T_LAPSE_DUAL,
    T_LAPSE_ENGAGED,
    T_LAPSE_VISITOR,
    T_LEAVE,
    T_MIGRATE,
    T_SETTLE,
    T_VISIT,
    VISITOR,
)


def _report_region(s: int, home: int, target: int) -> int:
    return target if VISITOR <= s <= DUAL else home


class PlainPerson(mesa.Agent):
    """One adult; the state the kernel keeps in the People arrays, as attributes."""

    def __init__(self, model: PlainRelationModel, index: int, stage: int, etype: int, home: int,
                 target: int, origin: int, birth: int, flags: int, age: float, tie: float,
                 visit_days: int, steps_in_stage: int, engage_factor: float,
                 mobility_factor: float, visit_level: int) -> None:
        super().__init__(model)
        self.index = index
        self.stage = stage
        self.etype = etype
        self.home = home
        self.target = target
        self.origin = origin
        self.birth = birth
        self.flags = flags
        self.age = age
        self.tie = tie
        self.visit_days = visit_days
        self.steps_in_stage = steps_in_stage
        self.engage_factor = engage_factor
        self.mobility_factor = mobility_factor
        self.visit_level = visit_level

    # --- helpers (the kernel's inline functions) ----------------------------------------------
    def choose_target(self, u: float, cls: int) -> int:
        """Gravity choice from home (class `cls`'s table), the birth region's weight raised by ゆかり."""
        m = self.model
        h, b = self.home, self.birth
        if b != h and b >= 0 and m.yukari_bonus > 0.0:
            kp = m.yukari_bonus * m.choice_p[cls][h][b]
            q = kp / (1.0 + kp)
            if u < q:
                return b
            u = (u - q) / (1.0 - q)
        return bisect_right(m.choice_cum[cls][h], u)

    def draw_type(self, u: float, bias: list[float]) -> int:
        """Engagement type 1–4; 就労型 likelier for side-job/telework-capable people; `bias`: the region's."""
        m = self.model
        wm = m.work_mult_capable if (self.flags & (FLAG_SIDEJOB | FLAG_TELEWORK)) else m.work_mult_other
        w = m.type_weights
        total = 0.0
        for k in range(1, N_TYPES):
            total += w[k] * bias[k] * (wm if k == 3 else 1.0)
        x = u * total
        acc = 0.0
        for k in range(1, N_TYPES):
            acc += w[k] * bias[k] * (wm if k == 3 else 1.0)
            if x < acc:
                return k
        return N_TYPES - 1

    def migrate(self, u: float, ud: float) -> int:
        """Kind (u) and destination (ud) of a general move from home; counts its flows; the destination."""
        m = self.model
        h, b = self.home, self.birth
        x = min(int(self.age), MAX_AGE)
        back = b >= 0 and b != h
        total = m.migrate_hazard[h][0][x] + (m.migrate_hazard[h][1][x] if back else 0.0)
        y = u * total
        kind = MOVE_RETURN
        acc = 0.0
        last = -1
        for j in range(N_GRAVITY_KINDS):
            w = m.migrate_kind[h][j][x]
            if w > 0.0:
                last = j
                acc += w
                if y < acc:
                    kind = j
                    break
        if kind == MOVE_RETURN and not back:
            kind = last
        dest = b if kind == MOVE_RETURN else bisect_right(m.migrate_cum[kind][h], ud)
        flows = m.flows
        flows[h][T_MIGRATE] += 1
        flows[dest][F_MIGRATE_ARRIVAL] += 1
        flows[h][F_KIND_MOVE + kind] += 1
        flows[dest][F_KIND_ARRIVAL + kind] += 1
        return dest

    # --- one step -----------------------------------------------------------------------------
    def step(self) -> None:
        m = self.model
        rnd = m.random.random
        s = self.stage
        h = self.home
        t = self.target
        k = self.etype
        a = self.age
        u = rnd()
        v = rnd()
        dt = m.dt
        rate = m.rate
        cls = k + N_TYPES * (self.flags & FLAG_SIDEJOB)  # cost class (model.codes.cost_class)

        # visits this step, their (class, home, target) tally, and tie strength
        tie = self.tie * m.tie_keep
        if VISITOR <= s <= DUAL:
            days = int(m.visit_days[s][k][self.visit_level] * dt + v)
            if days > 0:
                tie += m.tie_gain * days
                self.visit_days = min(self.visit_days + days, 65535)
                m.visit_pairs[cls][h][t] += days

        # competing hazards of the current stage
        mu = m.mortality[min(int(a), MAX_AGE)]
        lm = 0.0  # general migration: residents in NONE, VISITOR, ENGAGED
        if s <= ENGAGED:
            x = min(int(a), MAX_AGE)
            lm = m.migrate_hazard[h][0][x]
            if 0 <= self.birth != h:
                lm += m.migrate_hazard[h][1][x]
        l0 = l1 = l2 = l3 = 0.0
        if s == NONE:
            l0 = rate[h][T_VISIT] * self.engage_factor * m.access[cls][h]
        elif s == VISITOR:
            l0 = (rate[t][T_ENGAGE] * self.engage_factor * (1.0 + m.kappa_engage * tie)
                  * m.cost_engage[cls][h][t])
            l1 = rate[t][T_LAPSE_VISITOR] * m.cost_lapse[cls][h][t] / (1.0 + m.kappa_lapse * tie)
        elif s == ENGAGED:
            tm = m.type_mult[k]
            l0 = rate[t][T_DEEPEN] * self.engage_factor * tm[T_DEEPEN]
            if t != h:  # a tie inside one's own prefecture leads to no move between prefectures
                l1 = rate[t][T_DUAL] * self.mobility_factor * tm[T_DUAL]
                l2 = rate[t][T_SETTLE] * self.mobility_factor * m.settle_pair[h][t] * tm[T_SETTLE]
            l3 = (rate[t][T_LAPSE_ENGAGED] * tm[T_LAPSE_ENGAGED]
                  * m.cost_lapse[cls][h][t] / (1.0 + m.kappa_lapse * tie))
        elif s == DUAL:
            if t != h:
                l0 = (rate[t][T_SETTLE] * self.mobility_factor * m.settle_pair[h][t] * m.type_mult[k][T_SETTLE]
                      * m.dual_settle_factor)
            l1 = rate[t][T_LAPSE_DUAL] * m.cost_lapse[cls][h][t] / (1.0 + m.kappa_lapse * tie)
        else:  # SETTLED: the leave hazard declines with time since settling toward a floor
            phi = m.leave_floor_ratio
            l0 = rate[h][T_LEAVE] * (phi + (1.0 - phi) * math.exp(-self.steps_in_stage / m.leave_decay_steps))

        total = mu + lm + l0 + l1 + l2 + l3
        event = -1  # -1 nothing, 0..3 the stage's events, 8 a general move, 9 death
        if total > 0.0:
            p_any = 1.0 - math.exp(-total * dt)
            if s == VISITOR:  # expected candidates for 関わりしろ and housing (next step's rationing)
                m.demand[t][0] += l0 * p_any / total
            elif s == ENGAGED:
                m.demand[t][1] += (l1 + l2) * p_any / total
            if u < p_any:
                x = u / p_any * total
                if x < mu:
                    event = 9
                elif x < mu + lm:
                    event = 8
                elif x < mu + lm + l0:
                    event = 0
                elif x < mu + lm + l0 + l1:
                    event = 1
                elif x < mu + lm + l0 + l1 + l2:
                    event = 2
                elif l3 > 0.0:
                    event = 3
                else:  # x rounded up to Λ: the last event with a hazard
                    event = 2 if l2 > 0.0 else 1 if l1 > 0.0 else 0 if l0 > 0.0 else 8 if lm > 0.0 else 9

        flows = m.flows
        ns = s
        if event == 9:
            flows[h][F_DEATH] += 1
            self.stage = DEAD
            self.remove()
            return
        if event == 8:  # a general move; moving into the region related to ends the tie (lives there now)
            h = self.migrate(rnd(), rnd())
            if s != NONE and h == t:
                flows[h][F_MIGRATE_INTO_TARGET] += 1
                ns = NONE
                t = -1
                k = 0
                tie = 0.0
        elif event >= 0:
            if s == NONE:
                t = self.choose_target(rnd(), cls)
                ns = VISITOR
                tie = 0.0
                flows[t][T_VISIT] += 1
            elif s == VISITOR:
                if event == 0:
                    if rnd() < m.ration[t][0]:
                        ns = ENGAGED
                        k = self.draw_type(rnd(), m.type_bias[t])
                        flows[t][T_ENGAGE] += 1
                    else:
                        flows[t][F_ENGAGE_REJECTED] += 1
                else:
                    ns = NONE
                    flows[t][T_LAPSE_VISITOR] += 1
                    t = -1
                    tie = 0.0
            elif s == ENGAGED:
                if event == 0:
                    k = m.deepen_next[k]
                    flows[t][T_DEEPEN] += 1
                elif event == 3:
                    ns = VISITOR
                    k = 0
                    flows[t][T_LAPSE_ENGAGED] += 1
                else:
                    if rnd() < m.ration[t][1]:
                        if event == 1:
                            ns = DUAL
                            flows[t][T_DUAL] += 1
                        else:
                            ns = SETTLED
                            flows[t][T_SETTLE] += 1
                    else:
                        flows[t][F_HOUSING_REJECTED] += 1
            elif s == DUAL:
                if event == 0:  # a dual resident already has a home there: not rationed
                    ns = SETTLED
                    flows[t][T_SETTLE] += 1
                else:
                    ns = ENGAGED
                    flows[t][T_LAPSE_DUAL] += 1
            else:  # SETTLED leaves: back to the region of origin, or on to a metro region
                o = self.origin
                if rnd() >= m.leave_return_share and m.migrate_cum[MOVE_JOB][h][-1] > 0.0:
                    o = bisect_right(m.migrate_cum[MOVE_JOB][h], rnd())
                flows[h][T_LEAVE] += 1
                flows[o][F_LEAVE_ARRIVAL] += 1
                ns = NONE
                h = o
                t = -1
                tie = 0.0
                self.origin = -1

        if ns == SETTLED and s != SETTLED:
            self.origin = h
            h = t
            k = 0
        if ns != s:
            self.steps_in_stage = 0
            self.stage = ns
        elif self.steps_in_stage < MAX_STEPS_IN_STAGE:
            self.steps_in_stage += 1
        self.home = h
        self.target = t
        self.etype = k
        self.tie = tie
        self.age = a + dt
        m.by_target[_report_region(ns, h, t)][ns][k] += 1
        m.by_home[h][ns] += 1


class PlainRelationModel(mesa.Model):
    """A plain Mesa model holding `PlainPerson` agents copied from a RelationModel's people.

    Args:
        source: the RelationModel whose inputs (rates, gravity, costs, ...) and people are copied.
        ids: person slots to copy (living people).
        first_step: the kernel step index of this model's first step (selects the month's levers).
        seed: seed of the model's `random`.
    """

    def __init__(self, source, ids: np.ndarray, first_step: int = 0, seed: int = 0) -> None:
        super().__init__(rng=seed)
        src = source
        self.source = src
        self.first_step = first_step
        self.dt = float(src.dt)
        R = src.table.n
        self.n_regions = R
        # inputs that do not change during a run (the model's public inputs layer), as Python lists
        tables, sc = src.inputs.tables, src.inputs.scalars
        self.type_mult = tables.type_mult.tolist()
        self.mortality = tables.mortality.tolist()
        self.visit_days = tables.visit_days.tolist()
        self.type_weights = tables.type_weights.tolist()
        self.deepen_next = tables.deepen_next.tolist()
        self.yukari_bonus = float(sc.yukari_bonus)
        self.tie_keep = float(sc.tie_keep)
        self.tie_gain = float(sc.tie_gain)
        self.kappa_engage = float(sc.kappa_engage)
        self.kappa_lapse = float(sc.kappa_lapse)
        self.work_mult_capable = float(sc.work_mult_capable)
        self.work_mult_other = float(sc.work_mult_other)
        self.dual_settle_factor = float(sc.dual_settle_factor)
        self.leave_floor_ratio = float(sc.leave_floor_ratio)
        self.leave_decay_steps = float(sc.leave_decay_steps)
        self.leave_return_share = float(sc.leave_return_share)
        self._inputs = None  # the region inputs the levers set: converted when they change
        # capacities scaled to the subset; last step's demand likewise
        alive = int(np.count_nonzero(src.people.stage[: src.people.n] != DEAD))
        self.share = len(ids) / alive
        self.demand = (src.tallies.demand * self.share).tolist()
        self.ration: list[list[float]] = []
        self._reset_tallies()

        p = src.people
        cols = [getattr(p, f)[ids].tolist() for f in (
            "stage", "etype", "home", "target", "origin", "birth", "flags", "age", "tie", "visit_days",
            "steps_in_stage", "engage_factor", "mobility_factor", "visit_level")]
        for i, row in zip(ids.tolist(), zip(*cols)):
            PlainPerson(self, i, *row)

    def _reset_tallies(self) -> None:
        R = self.n_regions
        self.by_target = [[[0] * N_TYPES for _ in range(N_STAGES)] for _ in range(R)]
        self.by_home = [[0] * N_STAGES for _ in range(R)]
        self.flows = [[0] * N_FLOWS for _ in range(R)]
        self.visit_pairs = [[[0] * R for _ in range(R)] for _ in range(N_CLASSES)]

    def _lever_inputs(self, k: int) -> None:
        """Inputs the levers set (rates, access, costs, choice tables, type bias, settling), as lists."""
        src = self.source
        src.prepare_step(k)
        region = src.inputs.region
        if region is self._inputs:
            return
        self._inputs = region
        self.rate = region.rate.tolist()
        self.access = region.access.tolist()
        self.cost_engage = region.cost_engage.astype(float).tolist()
        self.cost_lapse = region.cost_lapse.astype(float).tolist()
        self.choice_cum = region.choice_cum.tolist()
        self.choice_p = region.choice_p.tolist()
        self.migrate_hazard = region.migrate_hazard.tolist()
        self.migrate_kind = region.migrate_kind.tolist()
        self.migrate_cum = region.migrate_cum.tolist()
        self.type_bias = region.type_bias.tolist()
        self.settle_pair = region.settle_pair.tolist()
        self.cap = src.inputs.capacity * self.share

    def step(self) -> None:
        """The model-level part of RelationModel.step that the kernel needs, then every agent's step."""
        self._lever_inputs(self.first_step + self.steps - 1)
        demand = np.asarray(self.demand, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.ration = np.minimum(np.where(demand > 0, self.cap / demand, 1.0), 1.0).tolist()
        self.demand = [[0.0, 0.0] for _ in range(self.n_regions)]
        self._reset_tallies()
        self.agents.do("step")
