"""The transition kernel (遷移カーネル): one Numba pass advances every person by one step.

Everything random in the model comes from the counter-based hash in this module: a draw is a
pure function of (run key, step, person, decision), so results are bit-identical for any thread
count or executor, and scenarios that differ only in a lever share every draw the lever does not
touch (common random numbers). The hash, the shared choice helpers and the kernel live in this one
file on purpose: Numba's on-disk cache does not notice edits to helpers in other modules.

Stage and flow codes are the integer values of `model.stages.Stage`, `Transition` and `Flow`;
they are repeated here as module constants because Numba freezes globals at compile time.
"""

from __future__ import annotations

import numpy as np
from numba import get_thread_id, njit, prange

# --- codes (values of model.stages enums; tests check they agree) -------------------------------
NONE, VISITOR, ENGAGED, DUAL, SETTLED, DEAD = 0, 1, 2, 3, 4, 5
T_VISIT, T_ENGAGE, T_LAPSE_VISITOR, T_DEEPEN, T_DUAL, T_SETTLE = 0, 1, 2, 3, 4, 5
T_LAPSE_ENGAGED, T_LAPSE_DUAL, T_LEAVE, T_YOUTH_OUTFLOW = 6, 7, 8, 9
F_YOUTH_INFLOW, F_LEAVE_ARRIVAL, F_DEATH, F_NEW_ADULT = 10, 11, 12, 13
F_ENGAGE_REJECTED, F_HOUSING_REJECTED = 14, 15
N_FLOWS = 16
N_STAGES = 5
N_TYPES = 5
N_CLASSES = 10  # cost/eligibility class: engagement type (0–4) + 5 if side-job capable
MAX_AGE = 120
MAX_STEPS_IN_STAGE = 32767
NCHUNK = 32  # fixed work decomposition: results do not depend on the thread count

# person flag bits
FLAG_SIDEJOB = 1   # 副業・兼業 capable
FLAG_TELEWORK = 2  # テレワーク capable

# decision codes: one independent stream per decision
D_MAIN = 0         # the step's event draw and the visit-day rounding
D_TARGET = 1       # choice of target region on a first visit
D_ENGAGE = 2       # 関わりしろ rationing and the engagement type
D_HOUSING = 3      # housing rationing for DUAL and SETTLE
D_OUTFLOW = 4      # destination of youth outflow

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_M32 = 1.0 / 4294967296.0


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser (Stafford Mix13): a bijective 64-bit hash."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def stream_key(key: np.uint64, step: np.int64, decision: np.int64) -> np.uint64:
    """Key of the stream used for one decision at one step (computed once per step)."""
    return mix64(key ^ mix64(np.uint64(step) * np.uint64(256) + np.uint64(decision) + _GOLDEN))


@njit(cache=True, inline="always")
def draw_pair(skey: np.uint64, person: np.int64) -> tuple[float, float]:
    """Two independent uniforms in [0, 1) for one person from one stream."""
    x = mix64(skey + np.uint64(person + 1) * _GOLDEN)
    return float(x >> _S32) * _TWO_M32, float(x & _LOW32) * _TWO_M32


@njit(cache=True)
def uniforms(key: np.uint64, step: np.int64, decision: np.int64, ids: np.ndarray) -> np.ndarray:
    """`(len(ids), 2)` uniforms for the given ids: the Python side's access to the same streams."""
    skey = stream_key(key, step, decision)
    out = np.empty((ids.shape[0], 2))
    for j in range(ids.shape[0]):
        a, b = draw_pair(skey, ids[j])
        out[j, 0] = a
        out[j, 1] = b
    return out


@njit(cache=True, inline="always")
def choose_target(u: float, home: np.int64, birth: np.int64, choice_cum: np.ndarray,
                  choice_p: np.ndarray, yukari_bonus: float) -> np.int64:
    """Target region by gravity from `home`, with the birth region's weight raised by ゆかり.

    The draw is a mixture: with probability q = κ·p_hb / (1 + κ·p_hb) the birth region, else a
    draw from the gravity row; this gives weight (1 + κ)·W_hb to the birth region exactly.
    """
    if birth != home and birth >= 0 and yukari_bonus > 0.0:
        kp = yukari_bonus * choice_p[home, birth]
        q = kp / (1.0 + kp)
        if u < q:
            return birth
        u = (u - q) / (1.0 - q)
    return np.int64(np.searchsorted(choice_cum[home], u, side="right"))


@njit(cache=True, inline="always")
def draw_type(u: float, flags: np.uint8, type_weights: np.ndarray, work_mult_capable: float,
              work_mult_other: float, bias: np.ndarray) -> np.int8:
    """Engagement type (1–4) on entering 関係人口; 就労型 is likelier for side-job/telework-capable people.

    `bias` is the target region's per-type weight multiplier (levers such as side-job matching).
    """
    wm = work_mult_capable if (flags & (FLAG_SIDEJOB | FLAG_TELEWORK)) != 0 else work_mult_other
    total = 0.0
    for k in range(1, N_TYPES):
        total += type_weights[k] * bias[k] * (wm if k == 3 else 1.0)
    x = u * total
    acc = 0.0
    for k in range(1, N_TYPES):
        acc += type_weights[k] * bias[k] * (wm if k == 3 else 1.0)
        if x < acc:
            return np.int8(k)
    return np.int8(N_TYPES - 1)


@njit(cache=True, inline="always")
def cost_class(etype: np.int64, flags: np.uint8) -> np.int64:
    """Class indexing the cost and eligibility tables: type + 5 if side-job capable."""
    return etype + 5 * np.int64(flags & FLAG_SIDEJOB)


@njit(cache=True, inline="always")
def report_region(s: np.int64, home: np.int64, target: np.int64) -> np.int64:
    """Region a person is counted in: the target for VISITOR/ENGAGED/DUAL, else the home region."""
    if s >= VISITOR and s <= DUAL:
        return target
    return home


@njit(cache=True)
def tally(stage, etype, home, target, n, by_target, by_home):
    """Count living people by (report region, stage, type) and by (home region, stage)."""
    by_target[:] = 0
    by_home[:] = 0
    for i in range(n):
        s = np.int64(stage[i])
        if s == DEAD:
            continue
        h = np.int64(home[i])
        by_target[report_region(s, h, np.int64(target[i])), s, etype[i]] += 1
        by_home[h, s] += 1


@njit(cache=True)
def advance(
    # person state (structure of arrays, updated in place)
    stage, etype, home, target, origin, birth, flags, age, tie, visit_days, steps_in_stage,
    engage_factor, mobility_factor, n,
    # randomness and time
    key, step, dt,
    # per-region inputs prepared by the model and the levers
    rate, type_mult, access, cost_engage, cost_lapse, choice_cum, choice_p, yukari_bonus,
    outflow_cum, is_rural, ration, mortality, visit_rate, tie_keep, tie_gain, kappa_engage,
    kappa_lapse, type_weights, work_mult_capable, work_mult_other, type_bias, settle_pair, deepen_next,
    dual_settle_factor, leave_window_steps, youth_max_age,
    # outputs (overwritten)
    by_target, by_home, flows, demand, visit_pairs,
    # numba.get_num_threads() of the caller: sizes the per-thread visit-pair tallies
    n_threads,
):
    """Advance people `0..n-1` by one step of length `dt` years; return nothing, fill the outputs.

    Youth outflow applies to rural natives younger than `youth_max_age`.
    `visit_pairs[c, h, t]` receives the visit-days made this step by people of cost class c
    (`cost_class`) living in h and related to t: the basis of visit spending and travel subsidies.

    Hazards (per year) compete within a step: with total hazard Λ the probability of an event is
    1 − exp(−Λ·dt) and event k is chosen with probability λ_k/Λ. `rate[r, k]` already includes
    the base rate and every lever multiplier for transition k attributed to region r.
    The people loop runs in parallel over NCHUNK fixed chunks, each with its own histograms,
    which are then summed in chunk order (integers: exact, whatever the thread count). The large
    visit-pair tallies are kept per thread instead (integer sums: the order does not matter).
    The exponential is only evaluated when the draw could be an event (u < Λ·dt, as 1 − e^(−x) ≤ x).
    """
    n_regions = by_target.shape[0]
    loc_target = np.zeros((NCHUNK, n_regions, N_STAGES, N_TYPES), dtype=np.int64)
    loc_home = np.zeros((NCHUNK, n_regions, N_STAGES), dtype=np.int64)
    loc_flows = np.zeros((NCHUNK, n_regions, N_FLOWS), dtype=np.int64)
    loc_demand = np.zeros((NCHUNK, n_regions, 2), dtype=np.int64)
    loc_pairs = np.zeros((max(n_threads, 1), N_CLASSES, n_regions, n_regions), dtype=np.int32)
    _advance_chunks(
        stage, etype, home, target, origin, birth, flags, age, tie, visit_days, steps_in_stage,
        engage_factor, mobility_factor, n, key, step, dt,
        rate, type_mult, access, cost_engage, cost_lapse, choice_cum, choice_p, yukari_bonus,
        outflow_cum, is_rural, ration, mortality, visit_rate, tie_keep, tie_gain, kappa_engage,
        kappa_lapse, type_weights, work_mult_capable, work_mult_other, type_bias, settle_pair, deepen_next,
        dual_settle_factor, leave_window_steps, youth_max_age,
        loc_target, loc_home, loc_flows, loc_demand, loc_pairs,
    )
    by_target[:] = 0
    by_home[:] = 0
    flows[:] = 0
    demand[:] = 0
    visit_pairs[:] = 0
    for c in range(NCHUNK):
        by_target += loc_target[c]
        by_home += loc_home[c]
        flows += loc_flows[c]
        demand += loc_demand[c]
    for th in range(loc_pairs.shape[0]):
        visit_pairs += loc_pairs[th]


@njit(cache=True, parallel=True)
def _advance_chunks(
    stage, etype, home, target, origin, birth, flags, age, tie, visit_days, steps_in_stage,
    engage_factor, mobility_factor, n, key, step, dt,
    rate, type_mult, access, cost_engage, cost_lapse, choice_cum, choice_p, yukari_bonus,
    outflow_cum, is_rural, ration, mortality, visit_rate, tie_keep, tie_gain, kappa_engage,
    kappa_lapse, type_weights, work_mult_capable, work_mult_other, type_bias, settle_pair, deepen_next,
    dual_settle_factor, leave_window_steps, youth_max_age,
    loc_target, loc_home, loc_flows, loc_demand, loc_pairs,
):
    """The parallel people loop of `advance`: one prange over NCHUNK chunks, nothing else."""
    k_main = stream_key(key, step, D_MAIN)
    k_target = stream_key(key, step, D_TARGET)
    k_engage = stream_key(key, step, D_ENGAGE)
    k_housing = stream_key(key, step, D_HOUSING)
    k_outflow = stream_key(key, step, D_OUTFLOW)
    fdt = np.float32(dt)
    ftie_keep = np.float32(tie_keep)
    ftie_gain = np.float32(tie_gain)

    for c in prange(NCHUNK):
        th = get_thread_id()
        lo = c * n // NCHUNK
        hi = (c + 1) * n // NCHUNK
        for i in range(lo, hi):
            s = np.int64(stage[i])
            if s == DEAD:
                continue
            h = np.int64(home[i])
            t = np.int64(target[i])
            k = np.int64(etype[i])
            a = age[i]
            u, v = draw_pair(k_main, i)
            cls = cost_class(k, flags[i])

            # visits this step (stochastic rounding of the expected days) and tie strength
            tie_i = tie[i] * ftie_keep
            if s >= VISITOR and s <= DUAL:
                days = np.int64(visit_rate[s, k] * dt + v)
                if days > 0:
                    tie_i += ftie_gain * np.float32(days)
                    vd = np.int64(visit_days[i]) + days
                    visit_days[i] = min(vd, 65535)
                    loc_pairs[th, cls, h, t] += days

            # competing hazards of the current stage
            mu = mortality[min(np.int64(a), MAX_AGE)]
            l0 = 0.0
            l1 = 0.0
            l2 = 0.0
            l3 = 0.0
            if s == NONE:
                l0 = rate[h, T_VISIT] * engage_factor[i] * access[cls, h]
                if is_rural[h] != 0 and birth[i] == h and a < youth_max_age:
                    l1 = rate[h, T_YOUTH_OUTFLOW] * mobility_factor[i]
            elif s == VISITOR:
                l0 = (rate[t, T_ENGAGE] * engage_factor[i] * (1.0 + kappa_engage * tie_i)
                      * cost_engage[cls, h, t])
                l1 = rate[t, T_LAPSE_VISITOR] * cost_lapse[cls, h, t] / (1.0 + kappa_lapse * tie_i)
            elif s == ENGAGED:
                l0 = rate[t, T_DEEPEN] * engage_factor[i] * type_mult[k, T_DEEPEN]
                l1 = rate[t, T_DUAL] * mobility_factor[i] * type_mult[k, T_DUAL]
                l2 = rate[t, T_SETTLE] * mobility_factor[i] * settle_pair[h, t] * type_mult[k, T_SETTLE]
                l3 = (rate[t, T_LAPSE_ENGAGED] * type_mult[k, T_LAPSE_ENGAGED]
                      * cost_lapse[cls, h, t] / (1.0 + kappa_lapse * tie_i))
            elif s == DUAL:
                l0 = (rate[t, T_SETTLE] * mobility_factor[i] * settle_pair[h, t] * type_mult[k, T_SETTLE]
                      * dual_settle_factor)
                l1 = rate[t, T_LAPSE_DUAL] * cost_lapse[cls, h, t] / (1.0 + kappa_lapse * tie_i)
            elif steps_in_stage[i] < leave_window_steps:  # SETTLED, still within the window
                l0 = rate[h, T_LEAVE]

            total = mu + l0 + l1 + l2 + l3
            event = -1  # -1 nothing, 0..3 the stage's events, 9 death
            if total > 0.0 and u < total * dt + 1e-12:
                p_any = 1.0 - np.exp(-total * dt)
                if u < p_any:
                    x = u / p_any * total
                    if x < mu:
                        event = 9
                    elif x < mu + l0:
                        event = 0
                    elif x < mu + l0 + l1:
                        event = 1
                    elif x < mu + l0 + l1 + l2:
                        event = 2
                    elif l3 > 0.0:
                        event = 3
                    else:  # x rounded up to Λ: the last event with a hazard
                        event = 2 if l2 > 0.0 else 1 if l1 > 0.0 else 0 if l0 > 0.0 else 9

            ns = s
            if event == 9:
                ns = DEAD
                loc_flows[c, h, F_DEATH] += 1
            elif event >= 0:
                if s == NONE:
                    if event == 0:
                        ut, _ = draw_pair(k_target, i)
                        t = choose_target(ut, h, np.int64(birth[i]), choice_cum[cls], choice_p[cls],
                                          yukari_bonus)
                        ns = VISITOR
                        tie_i = np.float32(0.0)
                        loc_flows[c, t, T_VISIT] += 1
                    else:
                        uo, _ = draw_pair(k_outflow, i)
                        m = np.int64(np.searchsorted(outflow_cum[h], uo, side="right"))
                        loc_flows[c, h, T_YOUTH_OUTFLOW] += 1
                        loc_flows[c, m, F_YOUTH_INFLOW] += 1
                        h = m
                elif s == VISITOR:
                    if event == 0:
                        loc_demand[c, t, 0] += 1
                        ur, uk = draw_pair(k_engage, i)
                        if ur < ration[t, 0]:
                            ns = ENGAGED
                            k = np.int64(draw_type(uk, flags[i], type_weights, work_mult_capable,
                                                   work_mult_other, type_bias[t]))
                            loc_flows[c, t, T_ENGAGE] += 1
                        else:
                            loc_flows[c, t, F_ENGAGE_REJECTED] += 1
                    else:
                        ns = NONE
                        loc_flows[c, t, T_LAPSE_VISITOR] += 1
                        t = -1
                        tie_i = np.float32(0.0)
                elif s == ENGAGED:
                    if event == 0:
                        k = np.int64(deepen_next[k])
                        loc_flows[c, t, T_DEEPEN] += 1
                    elif event == 3:
                        ns = VISITOR
                        k = 0
                        loc_flows[c, t, T_LAPSE_ENGAGED] += 1
                    else:
                        loc_demand[c, t, 1] += 1
                        ur, _ = draw_pair(k_housing, i)
                        if ur < ration[t, 1]:
                            if event == 1:
                                ns = DUAL
                                loc_flows[c, t, T_DUAL] += 1
                            else:
                                ns = SETTLED
                                loc_flows[c, t, T_SETTLE] += 1
                        else:
                            loc_flows[c, t, F_HOUSING_REJECTED] += 1
                elif s == DUAL:
                    if event == 0:  # a dual resident already has a home there: not rationed
                        ns = SETTLED
                        loc_flows[c, t, T_SETTLE] += 1
                    else:
                        ns = ENGAGED
                        loc_flows[c, t, T_LAPSE_DUAL] += 1
                else:  # SETTLED leaves, back to the region of origin
                    o = np.int64(origin[i])
                    loc_flows[c, h, T_LEAVE] += 1
                    loc_flows[c, o, F_LEAVE_ARRIVAL] += 1
                    ns = NONE
                    h = o
                    t = -1
                    tie_i = np.float32(0.0)
                    origin[i] = -1

            if ns == SETTLED and s != SETTLED:
                origin[i] = h
                h = t
                k = 0
            if ns != s:
                steps_in_stage[i] = 0
                stage[i] = ns
            elif steps_in_stage[i] < MAX_STEPS_IN_STAGE:
                steps_in_stage[i] += 1
            if ns == DEAD:
                continue
            home[i] = h
            target[i] = t
            etype[i] = k
            tie[i] = tie_i
            age[i] = a + fdt
            loc_target[c, report_region(ns, h, t), ns, k] += 1
            loc_home[c, h, ns] += 1


@njit(cache=True)
def choose_targets(u, home, birth, choice_cum, choice_p, yukari_bonus):
    """Vector form of `choose_target`, used when the initial population is drawn."""
    out = np.empty(u.shape[0], dtype=np.int16)
    for j in range(u.shape[0]):
        out[j] = choose_target(u[j], np.int64(home[j]), np.int64(birth[j]), choice_cum, choice_p,
                               yukari_bonus)
    return out


@njit(cache=True)
def draw_types(u, flags, type_weights, work_mult_capable, work_mult_other):
    """Vector form of `draw_type` (no regional bias), used when the initial population is drawn."""
    out = np.empty(u.shape[0], dtype=np.int8)
    bias = np.ones(N_TYPES)
    for j in range(u.shape[0]):
        out[j] = draw_type(u[j], flags[j], type_weights, work_mult_capable, work_mult_other, bias)
    return out
