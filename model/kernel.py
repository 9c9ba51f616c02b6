"""The transition kernel (遷移カーネル): one Numba pass advances every person by one step.

Everything random in the model comes from the counter-based hash in this module: a draw is a
pure function of (run key, step, decision, person), so results are bit-identical for any thread
count or executor, and scenarios that differ only in a lever share every draw the lever does not
touch (common random numbers). The hash, the shared choice helpers and the kernel live in this one
file on purpose: Numba's on-disk cache does not notice edits to helpers in other modules.

The interface is six named structures (NamedTuples, which Numba compiles natively):

* `PersonArrays`  the people, structure of arrays (updated in place);
* `RegionInputs`  per-region tables the inputs layer (`model.inputs`) builds from the scenario and
                  the levers' effects, including this step's rationing;
* `ProgrammeInputs` programmes with places: eligibility, enrolment chances, participants' effects;
* `RunTables`     tables fixed for the run (by age, stage and type);
* `Scalars`       the run key and scalar parameters;
* `Tallies`       what the step counts (overwritten), with the kernel's scratch space.

Codes are the registries' values (`model.stages`, `model.codes`), read as compile-time constants;
`check_compiled_codes()` recompiles a cached kernel that was built with other values.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import get_thread_id, njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros  # LLVM cttz: index of the lowest set bit

from model.codes import N_CLASSES, N_GRAVITY_KINDS, Decision, MoveKind, PersonFlag
from model.stages import N_FLOWS, N_STAGES, N_TYPES, Flow, Stage

# --- codes, from the registries (frozen into the compiled kernel) ------------------------------
NONE, VISITOR, ENGAGED, DUAL, SETTLED, DEAD = (int(s) for s in Stage)
T_VISIT, T_ENGAGE, T_LAPSE_VISITOR, T_DEEPEN = int(Flow.VISIT), int(Flow.ENGAGE), int(Flow.LAPSE_VISITOR), int(Flow.DEEPEN)
T_DUAL, T_SETTLE, T_LAPSE_ENGAGED, T_LAPSE_DUAL = int(Flow.DUAL), int(Flow.SETTLE), int(Flow.LAPSE_ENGAGED), int(Flow.LAPSE_DUAL)
T_LEAVE, T_MIGRATE = int(Flow.LEAVE), int(Flow.MIGRATE)
F_MIGRATE_ARRIVAL, F_LEAVE_ARRIVAL, F_DEATH = int(Flow.MIGRATE_ARRIVAL), int(Flow.LEAVE_ARRIVAL), int(Flow.DEATH)
F_KIND_MOVE, F_KIND_ARRIVAL = int(Flow.JOB_MOVE), int(Flow.JOB_ARRIVAL)  # + MoveKind: the kind's flows
F_MIGRATE_INTO_TARGET = int(Flow.MIGRATE_INTO_TARGET)
MOVE_JOB, MOVE_RETURN = int(MoveKind.JOB), int(MoveKind.RETURN)
F_NEW_ADULT, F_ENGAGE_REJECTED, F_HOUSING_REJECTED = int(Flow.NEW_ADULT), int(Flow.ENGAGE_REJECTED), int(Flow.HOUSING_REJECTED)
FLAG_SIDEJOB, FLAG_TELEWORK, FLAG_ENROLLED = int(PersonFlag.SIDEJOB), int(PersonFlag.TELEWORK), int(PersonFlag.ENROLLED)
D_MAIN, D_TARGET, D_ENGAGE = int(Decision.MAIN), int(Decision.TARGET), int(Decision.ENGAGE)
D_HOUSING, D_MIGRATE, D_ENROL = int(Decision.HOUSING), int(Decision.MIGRATE), int(Decision.ENROL)
NO_EVENT = -1        # an event is the code of the flow it makes: a transition (T_*) or F_DEATH
WORK_TYPE = 3        # EngagementType.WORK: the type whose weight the side-job multipliers scale
MAX_AGE = 120
MAX_STEPS_IN_STAGE = 32767
NCHUNK = 32  # fixed work decomposition: results do not depend on the thread count
RATION_ENGAGE, RATION_HOUSING = 0, 1  # columns of RegionInputs.ration and Tallies.demand
N_ZONES = 6          # death, a general move and the four hazard slots of `choose_event`
ZONE = 1.0 / N_ZONES
BLOCK = 2048         # people a chunk screens before it steps those who are not quiet (`advance_chunk`)


@njit(cache=True)
def _compiled_codes():
    return (NONE, VISITOR, ENGAGED, DUAL, SETTLED, DEAD, T_VISIT, T_ENGAGE, T_LAPSE_VISITOR, T_DEEPEN, T_DUAL,
            T_SETTLE, T_LAPSE_ENGAGED, T_LAPSE_DUAL, T_LEAVE, T_MIGRATE, F_MIGRATE_ARRIVAL, F_LEAVE_ARRIVAL,
            F_DEATH, F_NEW_ADULT, F_ENGAGE_REJECTED, F_HOUSING_REJECTED, FLAG_SIDEJOB, FLAG_TELEWORK, D_MAIN,
            D_TARGET, D_ENGAGE, D_HOUSING, D_MIGRATE, N_CLASSES, N_STAGES, N_TYPES, N_FLOWS, WORK_TYPE,
            FLAG_ENROLLED, D_ENROL, F_KIND_MOVE, F_KIND_ARRIVAL, F_MIGRATE_INTO_TARGET, MOVE_RETURN,
            N_GRAVITY_KINDS)


def compiled_values() -> tuple[int, ...]:
    """The codes this module holds now (what a fresh compilation freezes into the kernel): the
    Python body of `_compiled_codes`, which reads the module's globals when called."""
    return tuple(_compiled_codes.py_func())


def check_compiled_codes() -> bool:
    """Recompile every kernel function if the on-disk cache was built with other codes; True if it did.

    Numba's cache is keyed on this file only: an edit to `model.stages` or `model.codes` alone
    would otherwise leave a kernel compiled with the old values.
    """
    if tuple(_compiled_codes()) == compiled_values():
        return False
    for obj in list(globals().values()):
        if isinstance(obj, numba.core.registry.CPUDispatcher):
            obj.recompile()
    return True


# --- the interface -------------------------------------------------------------------------------
class PersonArrays(NamedTuple):
    """The people the kernel advances: equal-length arrays, one entry per person slot."""

    stage: np.ndarray            # int8 Stage
    etype: np.ndarray            # int8 EngagementType
    home: np.ndarray             # int16 region of residence
    target: np.ndarray           # int16 region related to, -1 none
    origin: np.ndarray           # int16 region a settler came from, -1 none
    birth: np.ndarray            # int16 birth region (ゆかり)
    flags: np.ndarray            # uint8 PersonFlag bits
    age: np.ndarray              # float32 years
    tie: np.ndarray              # float32 tie strength (decayed visit-days)
    visit_days: np.ndarray       # uint16 visit-days this fiscal year
    steps_in_stage: np.ndarray   # int16 steps since the last change of stage
    engage_factor: np.ndarray    # float32 person factor of VISIT, ENGAGE, DEEPEN
    mobility_factor: np.ndarray  # float32 person factor of DUAL and SETTLE
    programme: np.ndarray        # int8 programme of the person's (only) enrolment, -1 never enrolled
    enrolled_at: np.ndarray      # int16 step index of that enrolment (the cohort)
    visit_level: np.ndarray      # uint8 quantile level of the person's visit intensity (0..VISIT_LEVELS-1)


class RegionInputs(NamedTuple):
    """Per-region inputs of one step, levers folded in (built by `model.inputs`)."""

    rate: np.ndarray          # (R, transitions) yearly base hazard × lever multipliers
    access: np.ndarray        # (classes, R) first-visit factor of each home region
    cost_engage: np.ndarray   # (classes, R, R) float32 ENGAGE factor of the travel cost paid
    cost_lapse: np.ndarray    # (classes, R, R) float32 lapse factor of the travel cost paid
    choice_cum: np.ndarray    # (classes, R, R) cumulative gravity rows for the target choice
    choice_p: np.ndarray      # (classes, R, R) gravity choice probabilities (ゆかり mixture)
    migrate_hazard: np.ndarray  # (R, 2, ages) general migration per year by home and age: [·, 0] every
                                #   resident, [·, 1] added if living outside the birth region (return moves)
    migrate_kind: np.ndarray    # (R, gravity kinds, ages) the part of [·, 0] of each kind (the kind draw)
    migrate_cum: np.ndarray     # (gravity kinds, R, R) cumulative destination rows of JOB, METRO, RETIRE
    ration: np.ndarray        # (R, 2) acceptance probability for engaging and for housing
    type_bias: np.ndarray     # (R, types) engagement-type weight multipliers of the target region
    settle_pair: np.ndarray   # (R home, R target) SETTLE multiplier (origin-specific grants)


class ProgrammeInputs(NamedTuple):
    """Programmes (事業・プログラム) with places: who may enrol, with what chance, and what taking part does.

    Slot q is one programme lever (at most `model.codes.MAX_PROGRAMMES`). A person enrols at most
    once in a run. People related to a region (VISITOR…SETTLED) join a programme hosted by their
    target region (SETTLED: their home); people with no relationship (NONE) join a first-contact
    programme and get a host drawn by gravity among its host regions.
    """

    open_: np.ndarray         # (R home, stages) uint8: bit q set if programme q takes people of that home and stage
    age_min: np.ndarray       # (P,) youngest age eligible
    age_max: np.ndarray       # (P,) oldest age eligible (exclusive)
    host: np.ndarray          # (P, R) uint8 host regions
    host_cum: np.ndarray      # (P, R home, R) cumulative gravity over host regions (first contacts)
    enrol: np.ndarray         # (P, R) chance per step that an eligible person enrols, by host region
    entry_stage: np.ndarray   # (P,) int8 stage a participant is raised to on enrolment (at least VISITOR)
    entry_type: np.ndarray    # (P,) int8 engagement type given on entering ENGAGED or DUAL
    duration: np.ndarray      # (P,) int64 steps a participant takes part
    mult: np.ndarray          # (P, transitions) hazard multipliers of participants
    visit_rate: np.ndarray    # (P,) extra visit-days per year while taking part
    classes: np.ndarray       # (P, classes) uint8: 1 if people of that cost class may enrol
    cost_mult: np.ndarray     # (P, 2, R home, R target) float32 participants' ENGAGE / lapse cost-factor
                              # multipliers (travel cost a programme pays for them; 1 = none)
    cap_days: np.ndarray      # (P, R home, R target) visit-days a fiscal year counted in `participant_days`
    day_slot: np.ndarray      # (P,) int64 row of `Tallies.participant_days` of a programme paying per visit-day, else -1


class RunTables(NamedTuple):
    """Tables fixed for the run."""

    mortality: np.ndarray     # (MAX_AGE + 1,) yearly death hazard by whole year of age
    visit_days: np.ndarray    # (stages, types, VISIT_LEVELS) visit-days per year by stage, type and intensity level
    type_mult: np.ndarray     # (types, transitions) hazard multipliers by engagement type
    type_weights: np.ndarray  # (types,) entry mix of engagement types (index 0 unused)
    deepen_next: np.ndarray   # (types,) int8 type after deepening


class Scalars(NamedTuple):
    """The run key and the scalar parameters."""

    key: np.uint64             # the run's key of the counter-based streams
    dt: float                  # step length, years
    yukari_bonus: float        # κ: extra weight of the birth region in the target choice
    tie_keep: float            # share of tie strength kept over a step
    tie_gain: float            # tie added per visit-day
    kappa_engage: float        # ENGAGE × (1 + κ·tie)
    kappa_lapse: float         # lapses ÷ (1 + κ·tie)
    work_mult_capable: float   # 就労 weight × this for side-job or telework capable people
    work_mult_other: float     # 就労 weight × this for others
    dual_settle_factor: float  # DUAL → SETTLED relative to ENGAGED → SETTLED
    leave_floor_ratio: float   # φ: LEAVE × (φ + (1 − φ)·e^(−steps since settling / τ))
    leave_decay_steps: float   # τ in steps
    leave_return_share: float  # share of leavers who go back to their region of origin


class Tallies(NamedTuple):
    """What a step counts, in simulated persons, and its scratch space.

    `by_target` and `by_home` are stocks: `tally` counts them once, and `advance` applies each
    step's changes (only people whose stage, type, home or target change touch them). The others
    are overwritten by every step.
    """

    by_target: np.ndarray      # (R, stages, types) living people by report region (kept up to date)
    by_home: np.ndarray        # (R, stages) living people by home region (kept up to date)
    flows: np.ndarray          # (R, flows) flows of the step
    demand: np.ndarray         # (R, 2) float: expected would-be engagements and moves (next step's rationing)
    visit_pairs: np.ndarray    # (classes, R home, R target) int32 visit-days made in the step
    eligible: np.ndarray       # (P, R) people eligible for each programme by host region (next step's rationing)
    entries: np.ndarray        # (P, R) enrolments of the step by host region
    participants: np.ndarray   # (P, R) people taking part at the end of the step, by host region
    settler_exits: np.ndarray  # (2, cohorts) settlers who left (0) or died (1) in the step, by the step they settled
    participant_days: np.ndarray  # (D, R home, R target) participants' visit-days of the step within cap_days,
                                  # for the D programmes that pay per visit-day (`ProgrammeInputs.day_slot`)
    chunk_by_target: np.ndarray   # (NCHUNK, R, stages, types) scratch: changes of by_target
    chunk_by_home: np.ndarray     # (NCHUNK, R, stages) scratch: changes of by_home
    chunk_flows: np.ndarray       # (NCHUNK, R, flows) scratch
    chunk_demand: np.ndarray      # (NCHUNK, R, 2) scratch
    chunk_programmes: np.ndarray  # (NCHUNK, 3, P, R) scratch: eligible, entries, participants
    chunk_settler_exits: np.ndarray  # (NCHUNK, 2, cohorts) scratch
    chunk_participant_days: np.ndarray  # (NCHUNK, D, R, R) scratch: participants' visit-days
    thread_pairs: np.ndarray      # (threads, classes, R, R) int32 scratch
    chunk_busy: np.ndarray        # (NCHUNK, BLOCK) int64 scratch: a block's people who are not quiet

    @classmethod
    def zeros(cls, n_regions: int, n_programmes: int = 0, n_cohorts: int = 1,
              n_day_programmes: int | None = None) -> "Tallies":
        """Empty tallies for `n_regions` regions and `n_programmes` programmes, of which
        `n_day_programmes` (default all) pay per visit-day, with a visit-pair slot for every Numba
        thread; settlers' exits are kept by settling step 0..n_cohorts-1 (a run's steps; earlier or
        later steps are counted in the first or last)."""
        r, q = n_regions, n_programmes
        d = q if n_day_programmes is None else n_day_programmes
        return cls(
            by_target=np.zeros((r, N_STAGES, N_TYPES), dtype=np.int64),
            by_home=np.zeros((r, N_STAGES), dtype=np.int64),
            flows=np.zeros((r, N_FLOWS), dtype=np.int64),
            demand=np.zeros((r, 2)),
            visit_pairs=np.zeros((N_CLASSES, r, r), dtype=np.int32),
            eligible=np.zeros((q, r), dtype=np.int64),
            entries=np.zeros((q, r), dtype=np.int64),
            participants=np.zeros((q, r), dtype=np.int64),
            settler_exits=np.zeros((2, n_cohorts), dtype=np.int64),
            participant_days=np.zeros((d, r, r)),
            chunk_by_target=np.zeros((NCHUNK, r, N_STAGES, N_TYPES), dtype=np.int64),
            chunk_by_home=np.zeros((NCHUNK, r, N_STAGES), dtype=np.int64),
            chunk_flows=np.zeros((NCHUNK, r, N_FLOWS), dtype=np.int64),
            chunk_demand=np.zeros((NCHUNK, r, 2)),
            chunk_programmes=np.zeros((NCHUNK, 3, q, r), dtype=np.int64),
            chunk_settler_exits=np.zeros((NCHUNK, 2, n_cohorts), dtype=np.int64),
            chunk_participant_days=np.zeros((NCHUNK, d, r, r)),
            thread_pairs=np.zeros((numba.config.NUMBA_NUM_THREADS, N_CLASSES, r, r), dtype=np.int32),
            chunk_busy=np.zeros((NCHUNK, BLOCK), dtype=np.int64),
        )


# --- counter-based random streams ----------------------------------------------------------------
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
    x = mix64(skey + (np.uint64(person) + np.uint64(1)) * _GOLDEN)
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


# --- choices shared with population synthesis ------------------------------------------------------
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
        total += type_weights[k] * bias[k] * (wm if k == WORK_TYPE else 1.0)
    x = u * total
    acc = 0.0
    for k in range(1, N_TYPES):
        acc += type_weights[k] * bias[k] * (wm if k == WORK_TYPE else 1.0)
        if x < acc:
            return np.int8(k)
    return np.int8(N_TYPES - 1)


@njit(cache=True, inline="always")
def cost_class(etype: np.int64, flags: np.uint8) -> np.int64:
    """Class indexing the cost and eligibility tables (`model.codes.cost_class`)."""
    return etype + N_TYPES * np.int64(flags & FLAG_SIDEJOB)


@njit(cache=True, inline="always")
def report_region(s: np.int64, home: np.int64, target: np.int64) -> np.int64:
    """Region a person is counted in: the target for VISITOR/ENGAGED/DUAL, else the home region."""
    if s >= VISITOR and s <= DUAL:
        return target
    return home


@njit(cache=True)
def tally(people: PersonArrays, by_target: np.ndarray, by_home: np.ndarray) -> None:
    """Count living people by (report region, stage, type) and by (home region, stage)."""
    by_target[:] = 0
    by_home[:] = 0
    for i in range(people.stage.shape[0]):
        s = np.int64(people.stage[i])
        if s == DEAD:
            continue
        h = np.int64(people.home[i])
        by_target[report_region(s, h, np.int64(people.target[i])), s, people.etype[i]] += 1
        by_home[h, s] += 1


# --- one person's step ---------------------------------------------------------------------------
@njit(cache=True, inline="always")
def stage_hazards(s, i, h, t, k, cls, a, tie_i, q, people, inputs, programmes, tables, scalars):
    """The competing hazards (per year) of the current stage: four (event, hazard) slots.

    Returns (e0, λ0, e1, λ1, e2, λ2, e3, λ3); unused slots have hazard 0. `rate[r, ·]` already
    holds the base rate and every lever multiplier of the region the transition is attributed to;
    a participant of programme q (q ≥ 0) has each slot multiplied by the programme's multiplier.
    """
    rate = inputs.rate
    # unsigned indexes: Numba then emits no negative-index wraparound per table access (a third of the
    # busy step's time). t and q are only used where they are ≥ 0 (a target for VISITOR…DUAL; q ≥ 0).
    hu, tu, ku, cu, qu = np.uint64(h), np.uint64(t), np.uint64(k), np.uint64(cls), np.uint64(q)
    e0, e1, e2, e3 = NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT
    l0, l1, l2, l3 = 0.0, 0.0, 0.0, 0.0
    if s == NONE:
        e0 = T_VISIT
        l0 = rate[hu, T_VISIT] * people.engage_factor[i] * inputs.access[cu, hu]
    elif s == VISITOR:
        e0, e1 = T_ENGAGE, T_LAPSE_VISITOR
        l0 = (rate[tu, T_ENGAGE] * people.engage_factor[i] * (1.0 + scalars.kappa_engage * tie_i)
              * inputs.cost_engage[cu, hu, tu])
        l1 = rate[tu, T_LAPSE_VISITOR] * inputs.cost_lapse[cu, hu, tu] / (1.0 + scalars.kappa_lapse * tie_i)
    elif s == ENGAGED:
        tm = tables.type_mult
        mob = people.mobility_factor[i]
        e0, e1, e2, e3 = T_DEEPEN, T_DUAL, T_SETTLE, T_LAPSE_ENGAGED
        l0 = rate[tu, T_DEEPEN] * people.engage_factor[i] * tm[ku, T_DEEPEN]
        if t != h:  # a tie inside one's own prefecture leads to no move between prefectures
            l1 = rate[tu, T_DUAL] * mob * tm[ku, T_DUAL]
            l2 = rate[tu, T_SETTLE] * mob * inputs.settle_pair[hu, tu] * tm[ku, T_SETTLE]
        l3 = (rate[tu, T_LAPSE_ENGAGED] * tm[ku, T_LAPSE_ENGAGED]
              * inputs.cost_lapse[cu, hu, tu] / (1.0 + scalars.kappa_lapse * tie_i))
    elif s == DUAL:
        e0, e1 = T_SETTLE, T_LAPSE_DUAL
        if t != h:
            l0 = (rate[tu, T_SETTLE] * people.mobility_factor[i] * inputs.settle_pair[hu, tu]
                  * tables.type_mult[ku, T_SETTLE] * scalars.dual_settle_factor)
        l1 = rate[tu, T_LAPSE_DUAL] * inputs.cost_lapse[cu, hu, tu] / (1.0 + scalars.kappa_lapse * tie_i)
    else:  # SETTLED: the leave hazard declines with time since settling toward a floor, never to 0 at a cliff
        e0 = T_LEAVE
        phi = scalars.leave_floor_ratio
        l0 = rate[hu, T_LEAVE] * (phi + (1.0 - phi) * np.exp(-people.steps_in_stage[i] / scalars.leave_decay_steps))
    if q >= 0:
        mult = programmes.mult
        if e0 != NO_EVENT:
            l0 *= mult[qu, e0]
        if e1 != NO_EVENT:
            l1 *= mult[qu, e1]
        if e2 != NO_EVENT:
            l2 *= mult[qu, e2]
        if e3 != NO_EVENT:
            l3 *= mult[qu, e3]
        if s >= VISITOR and s <= DUAL:  # travel cost the programme pays for its participants
            if s == VISITOR:
                l0 *= programmes.cost_mult[qu, 0, hu, tu]
                l1 *= programmes.cost_mult[qu, 1, hu, tu]
            elif s == ENGAGED:
                l3 *= programmes.cost_mult[qu, 1, hu, tu]
            else:
                l1 *= programmes.cost_mult[qu, 1, hu, tu]
    return e0, l0, e1, l1, e2, l2, e3, l3


@njit(cache=True, inline="always")
def migration_hazard(s, i, h, a, q, people, inputs, programmes):
    """General migration (一般移動) per year of person i (stage s, home h, age a, programme q).

    Residents without a second home move: NONE, VISITOR and ENGAGED (a dual resident's moves are the
    ladder's; a settler's are LEAVE). λ_mig = H[h, 0, ⌊a⌋] + [birth ≠ h]·H[h, 1, ⌊a⌋], the period effect
    and levers already in H (`model.migration.MigrationTables`), × a participant's programme multiplier.
    """
    if s > ENGAGED:
        return 0.0
    x = np.uint64(min(np.int64(a), MAX_AGE))  # unsigned indexes, as in `stage_hazards`
    hu = np.uint64(h)
    lm = inputs.migrate_hazard[hu, 0, x]
    b = np.int64(people.birth[i])
    if b >= 0 and b != h:
        lm += inputs.migrate_hazard[hu, 1, x]
    if q >= 0:
        lm *= programmes.mult[np.uint64(q), T_MIGRATE]
    return lm


@njit(cache=True, inline="always")
def choose_event(u, dt, mu, lm, e0, l0, e1, l1, e2, l2, e3, l3):
    """Competing risks over one step: with total hazard Λ an event happens with probability
    1 − exp(−Λ·dt), and it is death (hazard μ), a general move (hazard λ_mig) or slot j with
    probability λ_j/Λ. Returns NO_EVENT, F_DEATH, T_MIGRATE or the slot's event.

    Death, the general move and the four slots each own a fixed sixth of [0, 1) (`ZONE`): the
    outcome is z if u falls in [z·ZONE, z·ZONE + p_z), p_z = (1 − e^(−Λ·dt))·λ_z/Λ. A change in one
    hazard then moves only the edge of its own zone (and shrinks the others a little), so paired runs
    that differ in one hazard keep the same people in every other outcome (common random numbers).
    If Λ·dt exceeds a zone (Λ > 2 a year with monthly steps), the outcomes are stacked contiguously
    instead (u < p_any, then by λ/Λ). The exponential is only evaluated when u lies within λ_z·dt
    of its zone's start (p_z ≤ λ_z·dt ≤ Λ·dt).
    """
    total = mu + lm + l0 + l1 + l2 + l3
    if total <= 0.0:
        return NO_EVENT
    if total * dt <= ZONE:  # then every p_z ≤ λ_z·dt ≤ Λ·dt fits in its zone
        x = u * N_ZONES
        if x - np.floor(x) >= N_ZONES * (total * dt + 1e-12):  # the common case: no event (p_z ≤ Λ·dt)
            return NO_EVENT
        z = min(np.int64(x), N_ZONES - 1)
        w = u - z * ZONE
        lz = mu if z == 0 else (lm if z == 1 else (l0 if z == 2 else (l1 if z == 3 else (l2 if z == 4 else l3))))
        if w >= lz * dt + 1e-12 or lz <= 0.0 or w >= -np.expm1(-total * dt) * lz / total:
            return NO_EVENT
        if z == 0:
            return F_DEATH
        return T_MIGRATE if z == 1 else (e0 if z == 2 else (e1 if z == 3 else (e2 if z == 4 else e3)))
    if u >= total * dt + 1e-12:
        return NO_EVENT
    p_any = 1.0 - np.exp(-total * dt)
    if u >= p_any:
        return NO_EVENT
    x = u / p_any * total
    if x < mu:
        return F_DEATH
    if x < mu + lm:
        return T_MIGRATE
    x -= lm
    if x < mu + l0:
        return e0
    if x < mu + l0 + l1:
        return e1
    if x < mu + l0 + l1 + l2:
        return e2
    if l3 > 0.0:
        return e3
    # x rounded up to Λ: the last slot with a hazard
    if l2 > 0.0:
        return e2
    if l1 > 0.0:
        return e1
    if l0 > 0.0:
        return e0
    if lm > 0.0:
        return T_MIGRATE
    return F_DEATH


@njit(cache=True, inline="always")
def event_share(dt, total):
    """(1 − e^(−Λ·dt)) / Λ: a step's probability of an event per unit of its hazard, with total hazard
    Λ (a series below Λ·dt = 0.05, relative error < 1e-7, so that no exponential is needed)."""
    x = total * dt
    if x < 0.05:
        return dt * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x / 24.0)))
    return -np.expm1(-x) / total


@njit(cache=True, inline="always")
def migrate(i, c, h, people, inputs, k_migrate, flows):
    """Kind and destination of a general move of person i from home h; counts its flows; returns the
    destination. The kind is drawn with probability λ_kind/λ_mig (u1), the destination from the kind's
    gravity row (u2), or the birth region for a return move (Uターン). Flows go to chunk c."""
    uk, ud = draw_pair(k_migrate, i)
    x = min(np.int64(people.age[i]), MAX_AGE)
    b = np.int64(people.birth[i])
    back = b >= 0 and b != h
    total = inputs.migrate_hazard[h, 0, x]
    if back:
        total += inputs.migrate_hazard[h, 1, x]
    y = uk * total
    kind = np.int64(MOVE_RETURN)
    acc = 0.0
    last = np.int64(-1)
    for j in range(N_GRAVITY_KINDS):
        w = inputs.migrate_kind[h, j, x]
        if w > 0.0:
            last = j
            acc += w
            if y < acc:
                kind = j
                break
    if kind == MOVE_RETURN and not back:  # y rounded up to the total: the last kind with a hazard
        kind = last
    if kind == MOVE_RETURN:
        m = b
    else:
        m = np.int64(np.searchsorted(inputs.migrate_cum[kind, h], ud, side="right"))
    flows[c, h, T_MIGRATE] += 1
    flows[c, m, F_MIGRATE_ARRIVAL] += 1
    flows[c, h, F_KIND_MOVE + kind] += 1
    flows[c, m, F_KIND_ARRIVAL + kind] += 1
    return m


@njit(cache=True, inline="always")
def apply_event(event, i, c, s, h, t, k, cls, tie_i, people, inputs, tables, scalars, keys, tallies):
    """Carry out `event` for person i in chunk c; returns the new (stage, home, target, type, tie).

    Draws for the event's own choices come from their decision streams (`keys`: target, engage,
    housing, migrate). ENGAGE and moves from ENGAGED are rationed by the region's acceptance
    probability (the demand they ration is counted in expectation, in `advance_chunk`); a dual
    resident already has a home in the region, so DUAL → SETTLED is not.
    """
    k_target, k_engage, k_housing, k_migrate = keys
    flows = tallies.chunk_flows
    ns = s
    if event == F_DEATH:
        ns = DEAD
        flows[c, h, F_DEATH] += 1
    elif event == T_VISIT:
        ut, _ = draw_pair(k_target, i)
        t = choose_target(ut, h, np.int64(people.birth[i]), inputs.choice_cum[cls], inputs.choice_p[cls],
                          scalars.yukari_bonus)
        ns = VISITOR
        tie_i = np.float32(0.0)
        flows[c, t, T_VISIT] += 1
    elif event == T_MIGRATE:
        m = migrate(i, c, h, people, inputs, k_migrate, flows)
        if s != NONE and m == t:  # moved into the region related to: lives there now, no tie to it
            flows[c, m, F_MIGRATE_INTO_TARGET] += 1
            ns = NONE
            t = -1
            k = 0
            tie_i = np.float32(0.0)
        h = m
    elif event == T_ENGAGE:
        ur, uk = draw_pair(k_engage, i)
        if ur < inputs.ration[t, RATION_ENGAGE]:
            ns = ENGAGED
            k = np.int64(draw_type(uk, people.flags[i], tables.type_weights, scalars.work_mult_capable,
                                   scalars.work_mult_other, inputs.type_bias[t]))
            flows[c, t, T_ENGAGE] += 1
        else:
            flows[c, t, F_ENGAGE_REJECTED] += 1
    elif event == T_LAPSE_VISITOR:
        ns = NONE
        flows[c, t, T_LAPSE_VISITOR] += 1
        t = -1
        tie_i = np.float32(0.0)
    elif event == T_DEEPEN:
        k = np.int64(tables.deepen_next[k])
        flows[c, t, T_DEEPEN] += 1
    elif event == T_LAPSE_ENGAGED:
        ns = VISITOR
        k = 0
        flows[c, t, T_LAPSE_ENGAGED] += 1
    elif event == T_LAPSE_DUAL:
        ns = ENGAGED
        flows[c, t, T_LAPSE_DUAL] += 1
    elif event == T_SETTLE and s == DUAL:
        ns = SETTLED
        flows[c, t, T_SETTLE] += 1
    elif event == T_DUAL or event == T_SETTLE:  # moves from ENGAGED need housing
        ur, _ = draw_pair(k_housing, i)
        if ur < inputs.ration[t, RATION_HOUSING]:
            ns = DUAL if event == T_DUAL else SETTLED
            flows[c, t, event] += 1
        else:
            flows[c, t, F_HOUSING_REJECTED] += 1
    elif event == T_LEAVE:  # a settler leaves: back to the region of origin, or on by job-move gravity
        o = np.int64(people.origin[i])
        ur, ud = draw_pair(k_migrate, i)  # a settler makes no general move: its stream is free
        row = inputs.migrate_cum[MOVE_JOB, h]
        if ur >= scalars.leave_return_share and row[row.shape[0] - 1] > 0.0:
            o = np.int64(np.searchsorted(row, ud, side="right"))
        flows[c, h, T_LEAVE] += 1
        flows[c, o, F_LEAVE_ARRIVAL] += 1
        ns = NONE
        h = o
        t = -1
        tie_i = np.float32(0.0)
        people.origin[i] = -1
    if ns == SETTLED and s != SETTLED:  # the settler now lives in the target region
        people.origin[i] = h
        h = t
        k = 0
    return ns, h, t, k, tie_i


@njit(cache=True, inline="always")
def programme_host(q, bits, s, h, t, a, cls, uh, programmes):
    """Host region in which programme q counts a person (stage s, home h, target t, age a, cost class
    cls; `bits` the programmes open to their home and stage) as eligible, or -1 if it does not take
    them: the target, or the home of a settler, if it hosts there; for a first contact (NONE), a host
    drawn by gravity among the programme's hosts with the uniform `uh`."""
    if (bits >> q) & 1 == 0 or a < programmes.age_min[q] or a >= programmes.age_max[q]:
        return np.int64(-1)
    if programmes.classes[q, cls] == 0:
        return np.int64(-1)
    if s == NONE:
        return np.int64(np.searchsorted(programmes.host_cum[q, h], uh, side="right"))
    host = h if s == SETTLED else t
    if programmes.host[q, host] == 0:
        return np.int64(-1)
    return host


@njit(cache=True, inline="always")
def enrolment(bits, i, s, h, t, a, cls, k_enrol, programmes, counts):
    """Does person i (stage s, home h, target t, age a, cost class cls) enrol in a programme open to them?

    Each programme whose bit is set in `bits` and whose age range and cost classes fit counts the
    person as eligible in a host region (the target, or the home of a settler; for a first contact, a
    host drawn by gravity among the programme's hosts). One uniform decides among them: programme q
    takes the next interval of length its chance there, so a person eligible for several enrols in
    each with its own chance (while the chances sum to at most 1), whatever the other programmes'
    chances. Returns (q, host) or (-1, t).
    """
    ue, uh = draw_pair(k_enrol, i)
    acc = 0.0
    chosen = np.int64(-1)
    chosen_host = t
    for q in range(programmes.age_min.shape[0]):
        host = programme_host(q, bits, s, h, t, a, cls, uh, programmes)
        if host < 0:
            continue
        counts[0, q, host] += 1
        chance = programmes.enrol[q, host]
        if chosen < 0 and ue < acc + chance:
            chosen = np.int64(q)
            chosen_host = host
        acc += chance
    if chosen >= 0:
        counts[1, chosen, chosen_host] += 1
    return chosen, chosen_host


@njit(cache=True, inline="always")
def enter_programme(q, i, s, h, t, k, step, people, programmes, flows):
    """Enrol person i in programme q hosted by region t at `step`: raise their stage to the programme's
    entry stage (at least VISITOR; at most ENGAGED when t is their own prefecture), give an engagement
    type on entering 関係人口, count the flows of the stages passed in `flows` (R, flows); returns the
    new (stage, target, type)."""
    people.flags[i] = people.flags[i] | FLAG_ENROLLED
    people.programme[i] = q
    people.enrolled_at[i] = step
    ns = s
    if s < VISITOR:
        ns = VISITOR
        flows[t, T_VISIT] += 1
    entry = np.int64(programmes.entry_stage[q])
    if t == h and entry > ENGAGED:  # hosted in one's own prefecture: no dual residence there
        entry = ENGAGED
    if s != SETTLED and entry > ns:
        if ns < ENGAGED <= entry:
            flows[t, T_ENGAGE] += 1
            k = np.int64(programmes.entry_type[q])
        if ns < DUAL <= entry:
            flows[t, T_DUAL] += 1
        ns = entry
    return ns, t, k


@njit(cache=True)
def quiet_bound(inputs: RegionInputs, tables: RunTables) -> tuple[np.ndarray, float]:
    """Upper bounds of a first contact's total hazard for `screen`: (B, V) such that a person with no
    relationship aged x (whole years) with visit factor f has μ + λ_mig + λ_visit ≤ B[x] + V·f.

    B[x] = μ[x] + the largest general-migration hazard at age x of any home region (with the return
    part), V = the largest first-visit rate × access of any home region and cost class; both raised
    by 1e-9 (relative), far above the rounding of the exact sum, so the bound holds in floating point.
    """
    mh = inputs.migrate_hazard
    bound = np.empty(MAX_AGE + 1)
    for x in range(MAX_AGE + 1):
        m = 0.0
        for h in range(mh.shape[0]):
            m = max(m, mh[h, 0, x] + max(mh[h, 1, x], 0.0))
        bound[x] = (tables.mortality[x] + m) * (1.0 + 1e-9)
    visit = 0.0
    for cl in range(inputs.access.shape[0]):
        for h in range(inputs.access.shape[1]):
            visit = max(visit, inputs.rate[h, T_VISIT] * inputs.access[cl, h])
    return bound, visit * (1.0 + 1e-9)


@njit(cache=True, inline="always")
def screen(i0, i1, k_main, people, inputs, programmes, tables, scalars, any_programme, bound, visit_bound):
    """(quiet, living): bit j set if person i0 + j (of at most 64) is quiet this step, and if they are
    alive. Quiet: with no relationship (NONE), not taking part in a programme nor eligible for one, no
    tie, and no event, the main draw outside the zones of their hazards (the first test of
    `choose_event`, with the same total hazard). A quiet person's step is only ageing (`age_quiet`).

    Two passes, bit-identical to testing everyone with the exact total hazard: the first (a loop that
    stores nothing, so that it vectorises) tests the draw against the bound of `quiet_bound`, which
    decides about 95 % of first contacts with one table lookup instead of five; the second computes the
    exact total for the few whose draw falls between the bound's zone and the smallest possible one.
    """
    dt = scalars.dt
    open_ = programmes.open_
    stage, home, etype, flags_, age, tie, factor, prog = (
        people.stage, people.home, people.etype, people.flags, people.age, people.tie, people.engage_factor,
        people.programme)
    bits = np.uint64(0)
    living = np.uint64(0)
    undecided = np.uint64(0)
    for j in range(i1 - i0):
        i = np.uint64(i0) + np.uint64(j)  # unsigned: no negative-index wraparound, so that the loop vectorises
        x = min(np.int64(age[i]), MAX_AGE)
        u, _ = draw_pair(k_main, i0 + j)
        z = u * N_ZONES
        frac = z - np.floor(z)
        free = (np.int64(stage[i]) == NONE) & ((flags_[i] & FLAG_ENROLLED) == 0) & (tie[i] == 0.0)
        ub = (bound[x] + visit_bound * factor[i]) * dt
        sure = (ub <= ZONE) & (frac >= N_ZONES * (ub + 1e-12))
        bits |= np.uint64(free & sure) << np.uint64(j)
        living |= np.uint64(np.int64(stage[i]) != DEAD) << np.uint64(j)
        undecided |= np.uint64(free & (not sure)) << np.uint64(j)
    while undecided != 0:  # the exact test: the step's own hazards, summed as `choose_event` sums them
        j = np.int64(trailing_zeros(undecided))
        undecided &= undecided - np.uint64(1)
        i = np.int64(i0) + j
        h = np.int64(home[i])
        a = age[i]
        mu = tables.mortality[np.uint64(min(np.int64(a), MAX_AGE))]
        lm = migration_hazard(NONE, i, h, a, -1, people, inputs, programmes)
        _, l0, _, _, _, _, _, _ = stage_hazards(NONE, i, h, -1, 0, cost_class(np.int64(etype[i]), flags_[i]), a, 0.0,
                                                -1, people, inputs, programmes, tables, scalars)
        total = mu + lm + l0
        u, _ = draw_pair(k_main, i)
        z = u * N_ZONES
        if (total * dt <= ZONE) & (z - np.floor(z) >= N_ZONES * (total * dt + 1e-12)):
            bits |= np.uint64(1) << np.uint64(j)
    if any_programme:  # a first contact who may enrol is not quiet (a loop of its own: it vectorises)
        eligible = np.uint64(0)
        for j in range(i1 - i0):
            i = np.uint64(i0) + np.uint64(j)
            eligible |= np.uint64((prog[i] < 0) & (open_[np.int64(home[i]), NONE] != 0)) << np.uint64(j)
        bits &= ~eligible
    return bits, living


@njit(cache=True, inline="always")
def age_quiet(i0, i1, bits, people, fdt):
    """The step of the quiet people among i0..i1 (bits of `screen`): a step older, a step longer in NONE."""
    for j in range(i1 - i0):
        i = np.uint64(i0) + np.uint64(j)
        q = (bits >> np.uint64(j)) & np.uint64(1)
        people.age[i] += fdt * np.float32(q)
        st = people.steps_in_stage[i]
        people.steps_in_stage[i] = st + np.int16((q != 0) & (st < MAX_STEPS_IN_STAGE))


@njit(cache=True, inline="always")
def step_person(i, s, c, th, step, k_main, k_enrol, keys, people, inputs, programmes, tables, scalars, tallies):
    """One step of person i (living, stage s) in chunk c on thread th, into the chunk's tallies."""
    any_programme = programmes.age_min.shape[0] > 0
    counts = tallies.chunk_programmes[c]
    dt = scalars.dt
    fdt = np.float32(dt)
    ftie_keep = np.float32(scalars.tie_keep)
    ftie_gain = np.float32(scalars.tie_gain)
    stage, home, target, etype = people.stage, people.home, people.target, people.etype
    by_target, by_home = tallies.chunk_by_target[c], tallies.chunk_by_home[c]
    demand = tallies.chunk_demand[c]
    pairs = tallies.thread_pairs[th]
    exits = tallies.chunk_settler_exits[c]
    if True:
        h0 = np.int64(home[i])
        t0 = np.int64(target[i])
        k0 = np.int64(etype[i])
        a = people.age[i]
        u, v = draw_pair(k_main, i)
        flags = people.flags[i]
        cls = cost_class(k0, flags)

        # taking part in a programme: the term may end; or a person never enrolled may enrol
        q = np.int64(-1)
        host = t0
        entered = False
        if flags & FLAG_ENROLLED:
            q = np.int64(people.programme[i])
            if step - people.enrolled_at[i] >= programmes.duration[q]:
                q = np.int64(-1)
                people.flags[i] = flags & ~FLAG_ENROLLED
        elif any_programme and people.programme[i] < 0:
            bits = programmes.open_[h0, s]
            if bits != 0:
                q, host = enrolment(bits, i, s, h0, t0, a, cls, k_enrol, programmes, counts)
                entered = q >= 0

        # visits this step (stochastic rounding of the expected days) and tie strength
        tie0 = people.tie[i]
        tie_i = tie0 * ftie_keep
        if s >= VISITOR and s <= DUAL:
            rate_days = tables.visit_days[np.uint64(s), np.uint64(k0), people.visit_level[i]]
            if q >= 0 and not entered:
                rate_days = rate_days + programmes.visit_rate[q]
            days = np.int64(rate_days * dt + v)
            tie_i += ftie_gain * np.float32(days)  # without a branch on days > 0: adding 0 changes nothing
            people.visit_days[i] = min(np.int64(people.visit_days[i]) + days, 65535)
            pairs[np.uint64(cls), np.uint64(h0), np.uint64(t0)] += days
            if days > 0:
                if q >= 0 and not entered and programmes.day_slot[q] >= 0:  # days within the yearly cap
                    after = np.float64(people.visit_days[i])
                    cap = np.float64(programmes.cap_days[q, h0, t0])
                    counted = min(after, cap) - min(after - days, cap)
                    if counted > 0.0:
                        tallies.chunk_participant_days[c, programmes.day_slot[q], h0, t0] += counted

        ns, h, t, k = s, h0, t0, k0
        if entered:  # enrolling is the person's event of the step
            ns, t, k = enter_programme(q, i, s, h0, host, k0, step, people, programmes, tallies.chunk_flows[c])
        else:
            mu = tables.mortality[np.uint64(min(np.int64(a), MAX_AGE))]
            lm = migration_hazard(s, i, h0, a, q, people, inputs, programmes)
            e0, l0, e1, l1, e2, l2, e3, l3 = stage_hazards(s, i, h0, t0, k0, cls, a, tie_i, q, people, inputs,
                                                           programmes, tables, scalars)
            if s == VISITOR or s == ENGAGED:  # expected candidates for 関わりしろ (ENGAGE) or housing (DUAL, SETTLE)
                share = event_share(dt, mu + lm + l0 + l1 + l2 + l3)
                visitor = s == VISITOR
                demand[np.uint64(t0), RATION_ENGAGE if visitor else RATION_HOUSING] += (l0 if visitor else l1 + l2) * share
            event = choose_event(u, dt, mu, lm, e0, l0, e1, l1, e2, l2, e3, l3)
            if event != NO_EVENT:
                ns, h, t, k, tie_i = apply_event(event, i, c, s, h0, t0, k0, cls, tie_i, people, inputs,
                                                 tables, scalars, keys, tallies)
        if q >= 0:  # taking part ends with the relationship (or life); else count the participant
            if ns == NONE or ns == DEAD:
                people.flags[i] = people.flags[i] & ~FLAG_ENROLLED
            else:
                counts[2, q, h if ns == SETTLED else t] += 1

        if s == SETTLED and ns != SETTLED:  # a settler left or died: count it by the step they settled
            cohort = min(max(step - 1 - np.int64(people.steps_in_stage[i]), 0), exits.shape[1] - 1)
            exits[0 if ns == NONE else 1, cohort] += 1
        if ns != s:
            people.steps_in_stage[i] = 0
            stage[i] = ns
        elif people.steps_in_stage[i] < MAX_STEPS_IN_STAGE:
            people.steps_in_stage[i] += 1
        if ns == DEAD:
            by_target[report_region(s, h0, t0), s, k0] -= 1
            by_home[h0, s] -= 1
            return
        if h != h0:
            home[i] = h
        if t != t0:
            target[i] = t
        if k != k0:
            etype[i] = k
        people.tie[i] = tie_i
        people.age[i] = a + fdt
        if ns != s or k != k0 or h != h0 or t != t0:
            by_target[report_region(ns, h, t), ns, k] += 1
            by_home[h, ns] += 1
            by_target[report_region(s, h0, t0), s, k0] -= 1
            by_home[h0, s] -= 1




@njit(cache=True, _nrt=False)
def advance_chunk(people: PersonArrays, inputs: RegionInputs, programmes: ProgrammeInputs, tables: RunTables,
                  scalars: Scalars, step: np.int64, tallies: Tallies, c: np.int64, th: np.int64,
                  bound: np.ndarray, visit_bound: float) -> None:
    """Advance the people of chunk `c` (of NCHUNK) on thread `th`, into the chunk's tallies.

    Block by block (BLOCK people): `screen` finds the quiet people, 64 at a time, with the step's
    bounds of `quiet_bound`, and `age_quiet` ages them; the others (the living whose bit is clear)
    are listed in index order from the bits and stepped one by one (`step_person`, with an unsigned
    index). Every result is bit-identical to stepping everyone: a quiet person's full step would only
    have aged them, and the others are stepped in the same order.

    A function of its own, called once per chunk from the parallel loop: Numba (0.68) loses writes
    made through a NamedTuple's arrays directly inside a `prange` body, but not inside a call.
    It allocates nothing, so it is compiled without reference counting (`_nrt=False`): with it,
    the inline helpers that take the named structures cost an atomic incref/decref per array per
    person that Numba's pruning cannot remove across branches (numba/numba#2350), 3× the time.
    """
    n = people.stage.shape[0]
    k_main = stream_key(scalars.key, step, D_MAIN)
    keys = (stream_key(scalars.key, step, D_TARGET), stream_key(scalars.key, step, D_ENGAGE),
            stream_key(scalars.key, step, D_HOUSING), stream_key(scalars.key, step, D_MIGRATE))
    k_enrol = stream_key(scalars.key, step, D_ENROL)
    any_programme = programmes.age_min.shape[0] > 0
    fdt = np.float32(scalars.dt)
    busy = tallies.chunk_busy[c]
    stage = people.stage
    hi = (c + 1) * n // NCHUNK
    for b0 in range(c * n // NCHUNK, hi, BLOCK):
        b1 = min(b0 + BLOCK, hi)
        m = 0
        for w0 in range(b0, b1, 64):
            w1 = min(w0 + 64, b1)
            bits, living = screen(w0, w1, k_main, people, inputs, programmes, tables, scalars, any_programme,
                                  bound, visit_bound)
            age_quiet(w0, w1, bits, people, fdt)
            others = living & ~bits
            while others != 0:  # the others, in index order
                busy[m] = w0 + np.int64(trailing_zeros(others))
                others &= others - np.uint64(1)
                m += 1
        for j in range(m):
            i = np.uint64(busy[j])
            step_person(i, np.int64(stage[i]), c, th, step, k_main, k_enrol, keys, people, inputs, programmes,
                        tables, scalars, tallies)


@njit(cache=True, parallel=True)
def _advance_chunks(people: PersonArrays, inputs: RegionInputs, programmes: ProgrammeInputs, tables: RunTables,
                    scalars: Scalars, step: np.int64, tallies: Tallies, bound: np.ndarray, visit_bound: float) -> None:
    """The parallel people loop of `advance`: one prange over NCHUNK fixed chunks."""
    for c in prange(NCHUNK):
        advance_chunk(people, inputs, programmes, tables, scalars, step, tallies, c, get_thread_id(), bound,
                      visit_bound)


@njit(cache=True)
def advance(people: PersonArrays, inputs: RegionInputs, programmes: ProgrammeInputs, tables: RunTables,
            scalars: Scalars, step: np.int64, tallies: Tallies) -> None:
    """Advance every person by one step of length `scalars.dt` years; update `tallies`.

    The people loop runs in parallel over NCHUNK fixed chunks, each with its own histograms of
    flows, demand and changes to the stocks, which are then summed in chunk order (integers, and the
    float expected demand summed in a fixed order: the same whatever the thread count). The large
    visit-pair tallies are kept per thread instead (integer sums: the order does not matter).
    `tallies.visit_pairs[c, h, t]` receives the visit-days made this step by people of cost class c
    living in h and related to t: the basis of visit spending and travel subsidies.
    """
    tallies.chunk_by_target[:] = 0
    tallies.chunk_by_home[:] = 0
    tallies.chunk_flows[:] = 0
    tallies.chunk_demand[:] = 0
    tallies.chunk_programmes[:] = 0
    tallies.chunk_settler_exits[:] = 0
    tallies.chunk_participant_days[:] = 0
    tallies.thread_pairs[:] = 0
    bound, visit_bound = quiet_bound(inputs, tables)
    _advance_chunks(people, inputs, programmes, tables, scalars, step, tallies, bound, visit_bound)
    by_target, by_home, flows, demand, pairs = (tallies.by_target, tallies.by_home, tallies.flows,
                                                tallies.demand, tallies.visit_pairs)
    flows[:] = 0
    demand[:] = 0
    pairs[:] = 0
    for c in range(NCHUNK):
        by_target += tallies.chunk_by_target[c]
        by_home += tallies.chunk_by_home[c]
        flows += tallies.chunk_flows[c]
        demand += tallies.chunk_demand[c]
    for th in range(tallies.thread_pairs.shape[0]):
        pairs += tallies.thread_pairs[th]
    eligible, entries, participants = tallies.eligible, tallies.entries, tallies.participants
    eligible[:] = 0
    entries[:] = 0
    participants[:] = 0
    days = tallies.participant_days
    days[:] = 0
    for c in range(NCHUNK):
        eligible += tallies.chunk_programmes[c, 0]
        entries += tallies.chunk_programmes[c, 1]
        participants += tallies.chunk_programmes[c, 2]
        days += tallies.chunk_participant_days[c]
    settler_exits = tallies.settler_exits
    settler_exits[:] = 0
    for c in range(NCHUNK):
        settler_exits += tallies.chunk_settler_exits[c]


@njit(cache=True)
def count_eligible(people: PersonArrays, closed: ProgrammeInputs, key: np.uint64, step: np.int64,
                   eligible: np.ndarray) -> None:
    """Fill `eligible` (P, R) with the people eligible for each programme now (the count a step's
    rationing needs before the kernel has counted it once). `closed` has every enrolment chance 0."""
    counts = np.zeros((3, eligible.shape[0], eligible.shape[1]), dtype=np.int64)
    k_enrol = stream_key(key, step, D_ENROL)
    for i in range(people.stage.shape[0]):
        s = np.int64(people.stage[i])
        if s == DEAD or people.programme[i] >= 0:
            continue
        h = np.int64(people.home[i])
        bits = closed.open_[h, s]
        if bits != 0:
            enrolment(bits, i, s, h, np.int64(people.target[i]), people.age[i],
                      cost_class(np.int64(people.etype[i]), people.flags[i]), k_enrol, closed, counts)
    eligible[:] = counts[0]


# --- vector forms for population synthesis ---------------------------------------------------------
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


@njit(cache=True)
def programme_hosts(q, people, programmes, age, uh):
    """Vector form of `programme_host` for programme q over every person, with their age at enrolment
    `age` and host uniforms `uh`: the host region in which each is eligible, -1 if not (the dead and
    people already enrolled are not); used when the members in post at the start are placed."""
    n = people.stage.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        s = np.int64(people.stage[i])
        if s == DEAD or people.programme[i] >= 0:
            continue
        h = np.int64(people.home[i])
        out[i] = programme_host(q, programmes.open_[h, s], s, h, np.int64(people.target[i]), age[i],
                                cost_class(np.int64(people.etype[i]), people.flags[i]), uh[i], programmes)
    return out


@njit(cache=True)
def enter_programmes(q, ids, hosts, steps, people, programmes):
    """Vector form of `enter_programme`: enrol people `ids` in programme q, hosted by `hosts`, at
    `steps` (before 0 for members in post at the start), and write their new stage, target and type;
    the flows of the stages passed are not counted (population synthesis)."""
    flows = np.zeros((programmes.host.shape[1], N_FLOWS), dtype=np.int64)
    for j in range(ids.shape[0]):
        i = ids[j]
        ns, t, k = enter_programme(q, i, np.int64(people.stage[i]), np.int64(people.home[i]), np.int64(hosts[j]),
                                   np.int64(people.etype[i]), steps[j], people, programmes, flows)
        people.stage[i] = ns
        people.target[i] = t
        people.etype[i] = k
