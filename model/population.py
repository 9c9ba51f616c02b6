"""People (人々) as a structure of arrays: synthesis of the initial population, new adults, person factors.

All draws come from the kernel's counter-based streams (`model.kernel.uniforms`), keyed by the
run key, a step and a decision code, so the population is a pure function of scenario and seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from model import kernel
from model.codes import VISIT_LEVELS, Decision, PersonFlag
from model.parameters import ScenarioConfig
from model.regions import Gravity, RegionTable, Travel, cumulative
from model.stages import EngagementType, Stage
from model.units import Scale

FIELDS: dict[str, np.dtype] = {
    "stage": np.dtype(np.int8),
    "etype": np.dtype(np.int8),
    "home": np.dtype(np.int16),
    "target": np.dtype(np.int16),
    "origin": np.dtype(np.int16),
    "birth": np.dtype(np.int16),
    "flags": np.dtype(np.uint8),
    "children": np.dtype(np.int8),
    "income": np.dtype(np.uint16),
    "age": np.dtype(np.float32),
    "tie": np.dtype(np.float32),
    "visit_days": np.dtype(np.uint16),
    "steps_in_stage": np.dtype(np.int16),
    "engage_factor": np.dtype(np.float32),
    "mobility_factor": np.dtype(np.float32),
    "programme": np.dtype(np.int8),
    "enrolled_at": np.dtype(np.int16),
    "visit_level": np.dtype(np.uint8),
}


RESERVE_MARGIN = 1024  # slots beyond the initial population and the run's expected new adults


class People:
    """Every simulated adult, one slot per person for the whole run (slots are never reused).

    Attributes are NumPy arrays of length `capacity`; entries `0..n-1` are people (some DEAD).
    Home/birth/target/origin are region indices (-1 = none); income is in 万円.
    """

    def __init__(self, capacity: int) -> None:
        self.n = 0
        for name, dtype in FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))

    @property
    def capacity(self) -> int:
        """Slots allocated."""
        return len(self.stage)

    @property
    def nbytes_per_person(self) -> int:
        """Bytes of state per person."""
        return sum(dt.itemsize for dt in FIELDS.values())

    def append(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Add people (all FIELDS given as arrays of one length); return their ids."""
        m = len(values["stage"])
        if self.n + m > self.capacity:
            grow = max(self.n + m, int(self.capacity * 1.25) + 1024)
            for name in FIELDS:
                old = getattr(self, name)
                new = np.zeros(grow, dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        ids = np.arange(self.n, self.n + m, dtype=np.int64)
        for name in FIELDS:
            getattr(self, name)[self.n: self.n + m] = values[name]
        self.n += m
        return ids

    def view(self, name: str) -> np.ndarray:
        """The used part of one attribute array (a view, not a copy)."""
        return getattr(self, name)[: self.n]

    def arrays(self) -> kernel.PersonArrays:
        """The kernel's view of the people: the used part of every array it reads or writes."""
        n = self.n
        return kernel.PersonArrays(*(getattr(self, name)[:n] for name in kernel.PersonArrays._fields))


@dataclass(frozen=True)
class Draws:
    """Access to the run's counter-based streams for Python-side draws."""

    key: np.uint64

    def u(self, step: int, decision: int, ids: np.ndarray, column: int = 0) -> np.ndarray:
        """One uniform per id from stream (step, decision)."""
        return kernel.uniforms(self.key, np.int64(step), np.int64(decision), ids.astype(np.int64))[:, column]

    def normal(self, step: int, decision: int, ids: np.ndarray) -> np.ndarray:
        """One standard normal per id (Box–Muller on the stream's two uniforms)."""
        pair = kernel.uniforms(self.key, np.int64(step), np.int64(decision), ids.astype(np.int64))
        return np.sqrt(-2.0 * np.log1p(-pair[:, 0])) * np.cos(2.0 * np.pi * pair[:, 1])


def stochastic_round(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """floor(x + u): an integer with expectation x."""
    return np.floor(x + u).astype(np.int64)


def systematic_round(x: np.ndarray, u: float) -> np.ndarray:
    """Integers with expectation `x` (non-negative) and, together, within one of `x.sum()`: the
    differences of floor(cumulative sum + u), one uniform `u` for the whole array."""
    edges = np.floor(np.concatenate(([0.0], np.cumsum(x))) + u)
    return np.diff(edges).astype(np.int64)


def initial_tie(cfg: ScenarioConfig, stage: np.ndarray, etype: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Tie strength at the start: the steady state of a person's visit-days by stage, type and level
    (gain per visit-day ÷ the decay rate)."""
    decay = np.log(2.0) / cfg.ties.half_life_years
    return (visit_days_table(cfg)[stage, etype, level] * cfg.ties.gain_per_visit_day / decay).astype(np.float32)


def person_attributes(cfg: ScenarioConfig, table: RegionTable, draws: Draws, step: int,
                      ids: np.ndarray, home: np.ndarray, age: np.ndarray) -> dict[str, np.ndarray]:
    """Income, flags and children for people given their home region and age (初期属性)."""
    p = cfg.population
    metro = table.is_metro[home]
    median = np.where(metro, p.income_median_metro, p.income_median_rural)
    income = median * np.exp(p.income_sigma * draws.normal(step, Decision.INCOME, ids))
    working = age < 65
    fu = kernel.uniforms(draws.key, np.int64(step), np.int64(Decision.FLAGS), ids.astype(np.int64))
    sidejob = working & (fu[:, 0] < np.where(metro, p.sidejob_share_metro, p.sidejob_share_rural))
    telework = working & (fu[:, 1] < np.where(metro, p.telework_share_metro, p.telework_share_rural))
    flags = sidejob * int(PersonFlag.SIDEJOB) + telework * int(PersonFlag.TELEWORK)
    # children under 18 at home: Poisson with a mean that peaks at 30–49 (inverse-CDF draw)
    lam = p.children_mean_30_49 * np.select(
        [age < 25, age < 30, age < 50, age < 60], [0.05, 0.4, 1.0, 0.3], 0.0)
    cu = draws.u(step, Decision.CHILDREN, ids)
    children = np.zeros(len(ids), dtype=np.int64)
    term = np.exp(-lam)
    cdf = term.copy()
    for k in range(1, 7):
        children += cu >= cdf
        term = term * lam / k
        cdf = cdf + term
    return {
        "income": np.clip(np.round(income), 1, 65535).astype(np.uint16),
        "flags": flags.astype(np.uint8),
        "children": children.astype(np.int8),
    }


@lru_cache(maxsize=16)
def income_terms(elasticity: float, median_rural: float, median_metro: float) -> np.ndarray:
    """(2, 65536) income elasticity term (max(income, 1) / median) ** elasticity of every uint16 income
    (万円 a year), for a rural home (row 0) and a metro home (row 1): looked up per person, so that the
    yearly refresh computes 131,072 powers instead of one per person (the same values)."""
    income = np.maximum(np.arange(65536, dtype=float), 1.0)
    return np.stack([(income / median_rural) ** elasticity, (income / median_metro) ** elasticity])


@njit(cache=True)
def _engage_product(terms: np.ndarray, is_metro: np.ndarray, home: np.ndarray, income: np.ndarray,
                    bell: np.ndarray) -> np.ndarray:
    """terms[metro home?, income] × bell, person by person."""
    out = np.empty(home.shape[0])
    for i in range(home.shape[0]):
        out[i] = terms[np.int64(is_metro[home[i]]), income[i]] * np.float64(bell[i])
    return out


def engage_factor(cfg: ScenarioConfig, table: RegionTable, home: np.ndarray, age: np.ndarray,
                  income: np.ndarray) -> np.ndarray:
    """Unnormalised engagement factor: income elasticity × a bell-shaped age profile (incomes uint16)."""
    pr = cfg.propensity
    p = cfg.population
    if income.dtype != np.uint16:
        raise TypeError(f"engage_factor: incomes are uint16 (万円 a year), got {income.dtype}")
    terms = income_terms(pr.engage_income_elasticity, p.income_median_rural, p.income_median_metro)
    bell = np.exp(-((age - pr.engage_age_centre) / pr.engage_age_width) ** 2)
    return _engage_product(terms, table.is_metro, home, income, bell)


def rogers_castro(cfg: ScenarioConfig, age: np.ndarray) -> np.ndarray:
    """Labour-force and constant terms of the Rogers–Castro schedule, scaled to 1 at its peak over 18–100."""
    pr = cfg.propensity

    def schedule(x: np.ndarray) -> np.ndarray:
        """a·exp(−α(x − μ) − exp(−λ(x − μ))) + c, computed in place in x (two arrays, no temporaries)."""
        x -= pr.rc_labour_peak
        inner = np.multiply(x, -pr.rc_labour_rise)
        np.exp(inner, out=inner)
        x *= -pr.rc_labour_decay
        x -= inner
        np.exp(x, out=x)
        x *= pr.rc_labour_amplitude
        x += pr.rc_constant
        return x

    peak = schedule(np.linspace(18.0, 100.0, 821)).max()
    if peak <= 0:
        return np.ones_like(age, dtype=float)
    out = schedule(age.astype(float))
    out /= peak
    return out


def mobility_factor(cfg: ScenarioConfig, age: np.ndarray, children: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Mobility factor: Rogers–Castro age profile × children and telework terms."""
    pr = cfg.propensity
    # exp(coefficient · x) of the few values children and telework take, looked up per person
    by_children = np.exp(pr.children_coefficient * np.arange(128, dtype=float))
    by_telework = np.exp(pr.telework_coefficient * np.array([False, True]))
    return _mobility_product(rogers_castro(cfg, age), by_children, by_telework, children, flags)


@njit(cache=True)
def _mobility_product(schedule: np.ndarray, by_children: np.ndarray, by_telework: np.ndarray,
                      children: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """schedule × by_children[children] × by_telework[telework?], person by person."""
    out = np.empty(schedule.shape[0])
    for i in range(schedule.shape[0]):
        telework = np.int64((flags[i] & kernel.FLAG_TELEWORK) != 0)
        out[i] = schedule[i] * by_children[children[i]] * by_telework[telework]
    return out


def visit_rate_table(cfg: ScenarioConfig) -> np.ndarray:
    """Expected visit-days per year, indexed [stage, type] (the mean over people)."""
    v = cfg.visits
    table = np.zeros((len(Stage) - 1, len(EngagementType)))
    table[Stage.VISITOR, :] = v.visitor
    engaged = [0.0, v.hobby_consumption, v.participation, v.work, v.direct_contribution]
    table[Stage.ENGAGED, :] = engaged
    table[Stage.DUAL, :] = v.dual
    return table


def intensity_levels(cv: float) -> np.ndarray:
    """(VISIT_LEVELS,) visit intensity at each level: the gamma quantiles with mean 1 and coefficient
    of variation `cv` at the level midpoints, rescaled to mean exactly 1 (cv = 0: all ones)."""
    if cv == 0:
        return np.ones(VISIT_LEVELS)
    from scipy.stats import gamma

    shape = 1.0 / cv ** 2
    x = gamma.ppf((np.arange(VISIT_LEVELS) + 0.5) / VISIT_LEVELS, shape, scale=1.0 / shape)
    return x / x.mean()


def visit_days_table(cfg: ScenarioConfig) -> np.ndarray:
    """(stages, types, VISIT_LEVELS) visit-days per year of a person by stage, type and intensity level:
    the stage and type's mean × the level's gamma quantile (person-level heterogeneity, 訪問頻度の個人差)."""
    v = cfg.visits
    cv = np.zeros((len(Stage) - 1, len(EngagementType)))
    cv[Stage.VISITOR, :] = v.cv_visitor
    cv[Stage.ENGAGED, :] = [0.0, v.cv_hobby_consumption, v.cv_participation, v.cv_work, v.cv_direct_contribution]
    cv[Stage.DUAL, :] = v.cv_dual
    levels = {c: intensity_levels(c) for c in np.unique(cv)}
    spread = np.stack([np.stack([levels[c] for c in row]) for row in cv])
    return visit_rate_table(cfg)[:, :, None] * spread


def visit_levels(draws: Draws, step: int, ids: np.ndarray) -> np.ndarray:
    """Each person's visit-intensity level, uniform over 0..VISIT_LEVELS-1 (drawn once, kept for life)."""
    u = draws.u(step, Decision.VISIT_LEVEL, ids)
    return np.minimum(u * VISIT_LEVELS, VISIT_LEVELS - 1).astype(np.uint8)


def synthesise(cfg: ScenarioConfig, table: RegionTable, travel: Travel, gravity: Gravity,
               draws: Draws, reserve: float) -> tuple[People, float]:
    """Draw the initial population; return it and the engagement-factor normaliser.

    The arrays get `reserve` slots more (the run's expected new adults) and a margin: stochastic
    rounding of each step's regional counts leaves the total within a few tens of its expectation."""
    n_bands = len(table.bands)
    cell = np.arange(table.n * n_bands)
    expected = Scale(cfg.run.people_per_agent).agents(table.population.ravel())
    counts = stochastic_round(expected, draws.u(0, Decision.COUNT, cell)).reshape(table.n, n_bands)
    total = int(counts.sum())
    ids = np.arange(total, dtype=np.int64)
    home = np.repeat(np.repeat(np.arange(table.n), n_bands), counts.ravel()).astype(np.int16)
    lo = np.array([b[0] for b in table.bands], dtype=float)
    width = np.array([b[1] - b[0] + 1 for b in table.bands], dtype=float)
    band = np.tile(np.arange(n_bands), table.n).repeat(counts.ravel())
    age = (lo[band] + width[band] * draws.u(0, Decision.AGE, ids)).astype(np.float32)
    attrs = person_attributes(cfg, table, draws, 0, ids, home, age)

    # ゆかり: some metro residents were born in a rural region (nearer and larger ones likelier)
    p = cfg.population
    birth = home.copy()
    rural_mass = table.adults ** cfg.choice.outflow_population_exponent * ~table.is_metro
    born_cum = cumulative(rural_mass[None, :] * np.exp(-cfg.choice.outflow_time_decay_per_hour * travel.hours))
    bu = kernel.uniforms(draws.key, np.int64(0), np.int64(Decision.BIRTH), ids)
    moved = table.is_metro[home] & (bu[:, 0] < p.born_rural_share_metro)
    rows = born_cum[home[moved]]
    birth[moved] = (rows <= bu[moved, 1][:, None]).sum(axis=1).astype(np.int16)

    ef_raw = engage_factor(cfg, table, home, age, attrs["income"])
    norm = float(ef_raw.mean()) if total else 1.0
    ef = ef_raw / norm

    # initial relationships, MLIT shares by residence, weighted by the engagement factor
    engaged_share = np.where(table.is_metro[home], p.engaged_share_metro, p.engaged_share_rural)
    weight = np.zeros_like(ef)
    for metro in (True, False):
        sel = table.is_metro[home] == metro
        if sel.any():
            weight[sel] = ef[sel] / ef[sel].mean()
    su = draws.u(0, Decision.STAGE, ids)
    cut_dual = np.minimum(p.dual_share * weight, 1.0)
    cut_eng = np.minimum(cut_dual + np.maximum(engaged_share - p.dual_share, 0.0) * weight, 1.0)
    cut_vis = np.minimum(cut_eng + p.visitor_share * weight, 1.0)
    stage = np.select([su < cut_dual, su < cut_eng, su < cut_vis],
                      [Stage.DUAL, Stage.ENGAGED, Stage.VISITOR], Stage.NONE).astype(np.int8)
    related = stage != Stage.NONE
    target = np.full(total, -1, dtype=np.int16)
    ut = draws.u(0, Decision.INITIAL_TARGET, ids)
    target[related] = kernel.choose_targets(ut[related], home[related], birth[related],
                                            gravity.choice_cum[0], gravity.choice_p[0], cfg.choice.yukari_bonus)
    # a dual resident lives part-time in another prefecture: same draw, own prefecture left out
    dual_home = (stage == Stage.DUAL) & (target == home)
    if dual_home.any():
        away = gravity.choice_p[0].copy()
        np.fill_diagonal(away, 0.0)
        away /= np.maximum(away.sum(axis=1, keepdims=True), 1e-300)
        target[dual_home] = kernel.choose_targets(ut[dual_home], home[dual_home], birth[dual_home],
                                                  cumulative(away), away, cfg.choice.yukari_bonus)
    etype = np.zeros(total, dtype=np.int8)
    typed = (stage == Stage.ENGAGED) | (stage == Stage.DUAL)
    t = cfg.types
    etype[typed] = kernel.draw_types(draws.u(0, Decision.TYPE, ids[typed]), attrs["flags"][typed],
                                     np.array((0.0, *t.weights)), t.work_mult_capable, t.work_mult_other)
    level = visit_levels(draws, 0, ids)
    tie = initial_tie(cfg, stage, etype, level)
    tenure = np.floor(draws.u(0, Decision.TENURE, ids) * p.initial_tenure_years_max * cfg.run.steps_per_year)
    tenure = np.minimum(tenure, kernel.MAX_STEPS_IN_STAGE).astype(np.int16)

    people = People(capacity=total + int(np.ceil(reserve)) + RESERVE_MARGIN)
    people.append({
        "stage": stage, "etype": etype, "home": home, "target": target,
        "origin": np.full(total, -1, dtype=np.int16), "birth": birth, "age": age, "tie": tie,
        "visit_days": np.zeros(total, dtype=np.uint16),
        "steps_in_stage": np.where(related, tenure, 0).astype(np.int16),
        "engage_factor": ef.astype(np.float32),
        "mobility_factor": mobility_factor(cfg, age, attrs["children"], attrs["flags"]).astype(np.float32),
        "programme": np.full(total, -1, dtype=np.int8), "enrolled_at": np.zeros(total, dtype=np.int16),
        "visit_level": level, **attrs,
    })
    return people, norm


def place_members(people: People, cfg: ScenarioConfig, programmes: kernel.ProgrammeInputs, members: np.ndarray,
                  draws: Draws) -> np.ndarray:
    """Put the programme members in post when the run starts (着任中の参加者) into their programmes;
    return (programmes, R) the simulated persons placed, by host region.

    `members` (programmes, R) is the expected number in post per host region, in simulated persons.
    Each member enrolled a whole number of steps before the start, uniformly over the term (1 to its
    `duration` steps: enrolled_at = −1 … −duration), so the cohort's terms end on schedule during
    the first term of the run. A person is eligible by the programme's own rules
    (`kernel.programme_hosts`: homes, stages, cost classes, age at enrolment, the host of a first
    contact drawn by gravity among the host regions); in each host region the members are the
    eligible people with the smallest draws, as many as the region's count (all eligible people if
    fewer), the counts rounded systematically so that their total is within one of the expected.
    Members enter as the kernel's enrolment makes them (`kernel.enter_programmes`): the entry stage
    and type in the host region, their tie the steady state of the new stage and their time in it
    the steps already served. Programmes are placed in slot order; a person joins at most one.
    """
    placed = np.zeros(members.shape, dtype=np.int64)
    if not members.any():
        return placed
    n = people.n
    ids = np.arange(n, dtype=np.int64)
    pick = kernel.uniforms(draws.key, np.int64(0), np.int64(Decision.INITIAL_ENROL), ids)
    term = draws.u(0, Decision.INITIAL_TERM, ids)
    for q in np.flatnonzero(members.sum(axis=1) > 0):
        duration = int(programmes.duration[q])
        served = 1 + np.floor(term * duration).astype(np.int64)   # steps served before the start, 1..duration
        age = people.view("age") - served * cfg.run.dt
        host = kernel.programme_hosts(np.int64(q), people.arrays(), programmes, age, pick[:, 1])
        counts = systematic_round(members[q], float(draws.u(0, Decision.INITIAL_MEMBERS, np.array([q]))[0]))
        eligible = np.flatnonzero(host >= 0)
        order = eligible[np.lexsort((pick[eligible, 0], host[eligible]))]   # by host, then by draw
        first = np.searchsorted(host[order], np.arange(members.shape[1]))
        rank = np.arange(len(order)) - first[host[order]]
        chosen = np.sort(order[rank < counts[host[order]]])
        before = people.stage[chosen].copy()
        kernel.enter_programmes(np.int64(q), chosen, host[chosen], -served[chosen], people.arrays(), programmes)
        raised = people.stage[chosen] != before
        people.steps_in_stage[chosen[raised]] = served[chosen[raised]]
        people.tie[chosen] = initial_tie(cfg, people.stage[chosen], people.etype[chosen], people.visit_level[chosen])
        placed[q] = np.bincount(host[chosen], minlength=members.shape[1])
    return placed


def add_new_adults(people: People, cfg: ScenarioConfig, table: RegionTable, draws: Draws, step: int,
                   expected: np.ndarray, engage_norm: float) -> np.ndarray:
    """Append this step's new 18-year-olds (stage NONE, at home in their birth region); return counts."""
    counts = stochastic_round(expected, draws.u(step, Decision.NEW_COUNT, np.arange(table.n)))
    m = int(counts.sum())
    if m == 0:
        return counts
    ids = np.arange(people.n, people.n + m, dtype=np.int64)
    home = np.repeat(np.arange(table.n), counts).astype(np.int16)
    age = (18.0 + cfg.run.dt * draws.u(step, Decision.AGE, ids)).astype(np.float32)
    attrs = person_attributes(cfg, table, draws, step, ids, home, age)
    ef = engage_factor(cfg, table, home, age, attrs["income"]) / engage_norm
    people.append({
        "stage": np.zeros(m, dtype=np.int8), "etype": np.zeros(m, dtype=np.int8), "home": home,
        "target": np.full(m, -1, dtype=np.int16), "origin": np.full(m, -1, dtype=np.int16), "birth": home,
        "age": age, "tie": np.zeros(m, dtype=np.float32), "visit_days": np.zeros(m, dtype=np.uint16),
        "steps_in_stage": np.zeros(m, dtype=np.int16), "engage_factor": ef.astype(np.float32),
        "mobility_factor": mobility_factor(cfg, age, attrs["children"], attrs["flags"]).astype(np.float32),
        "programme": np.full(m, -1, dtype=np.int8), "enrolled_at": np.zeros(m, dtype=np.int16),
        "visit_level": visit_levels(draws, step, ids), **attrs,
    })
    return counts


def refresh_factors(people: People, cfg: ScenarioConfig, table: RegionTable, engage_norm: float) -> None:
    """Recompute the age-dependent person factors (once a year, after ageing)."""
    n = people.n
    home = people.home[:n]
    age = people.age[:n]
    people.engage_factor[:n] = engage_factor(cfg, table, home, age, people.income[:n]) / engage_norm
    people.mobility_factor[:n] = mobility_factor(cfg, age, people.children[:n], people.flags[:n])
