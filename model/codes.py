"""Codes shared by the kernel and the Python side (符号): random-stream decisions, person flags, kinds of
general move, cost classes.

This module imports nothing heavy (no Numba), so the scenario schema and the levers can use it.
The kernel reads these values as compile-time constants; `model.kernel.check_compiled_codes()`
recompiles a cached kernel that was built with other values.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, unique

from model.stages import N_TYPES, EngagementType


@unique
class Decision(IntEnum):
    """One independent random stream per decision: a draw is hash(run key, step, decision, person).

    Values must be unique (``@unique`` refuses an alias) and below 256 (the stream key packs
    step·256 + decision). Kernel decisions come first; the Python-side draws of population
    synthesis, new adults and municipal adoption follow.
    """

    MAIN = 0             # the step's event draw and the visit-day rounding
    TARGET = 1           # choice of target region on a first visit
    ENGAGE = 2           # 関わりしろ rationing and the engagement type
    HOUSING = 3          # housing rationing for DUAL and SETTLE
    ENROL = 5            # enrolment in a programme (u1) and the host region of a first contact (u2)
    MIGRATE = 6          # kind (u1) and destination (u2) of a general move (一般移動)
    COUNT = 32           # agents per (region, age band) at the start (stochastic rounding)
    AGE = 33             # age within the band; new adults' age within the step
    INCOME = 34          # income (log-normal)
    FLAGS = 35           # side-job and telework capability
    CHILDREN = 36        # children under 18
    BIRTH = 37           # birth region of metro residents (ゆかり)
    STAGE = 38           # initial stage
    INITIAL_TARGET = 39  # initial target region
    TYPE = 40            # initial engagement type
    TENURE = 41          # initial time in stage
    VISIT_LEVEL = 42     # the person's visit-intensity level (a quantile, drawn once)
    INITIAL_MEMBERS = 43  # programme members in post at the start per host region (systematic rounding; id = slot)
    INITIAL_ENROL = 44   # which eligible people are members in post at the start (u1), a first contact's host (u2)
    INITIAL_TERM = 45    # steps a member in post at the start has already served
    NEW_COUNT = 48       # new adults per region and step (stochastic rounding)
    ADOPTION = 56        # municipal adoption of 関係人口 programmes


class PersonFlag(IntFlag):
    """Bits of a person's `flags` byte."""

    SIDEJOB = 1    # 副業・兼業 capable
    TELEWORK = 2   # テレワーク capable
    ENROLLED = 4   # taking part in a programme now (its `programme`, since `enrolled_at`)


VISIT_LEVELS = 256  # quantile levels of the visit-intensity distribution (a person's uint8 `visit_level`)


class MoveKind(IntEnum):
    """Kinds of general move; the kernel's flows JOB_MOVE… and JOB_ARRIVAL… follow this order.

    JOB     転職・転勤など (job moves, gravity among all regions)
    METRO   大都市圏への移動 (young adults from rural regions to the metros)
    RETIRE  退職移動 (moves around retirement age)
    RETURN  Uターン (back to the birth region)
    """

    JOB = 0
    METRO = 1
    RETIRE = 2
    RETURN = 3

    @property
    def ja(self) -> str:
        """The Japanese name used in tables and charts."""
        return _KIND_JA[self]


_KIND_JA = {MoveKind.JOB: "転職・転勤等", MoveKind.METRO: "大都市圏への移動", MoveKind.RETIRE: "退職移動",
            MoveKind.RETURN: "Uターン"}


N_GRAVITY_KINDS = 3  # JOB, METRO, RETIRE draw a destination from a table; RETURN goes to the birth region

MAX_PROGRAMMES = 8  # programme slots a scenario may use (the kernel's eligibility masks are 8 bits)


# Cost and eligibility class: the engagement type, plus N_TYPES if side-job capable. Travel costs,
# subsidies and visit tallies are kept per class, so a lever can target e.g. side-job workers.
N_CLASSES = 2 * N_TYPES


def cost_class(etype: int, sidejob: bool) -> int:
    """Class of a person of type `etype`, side-job capable or not (the kernel's `cost_class`)."""
    return int(etype) + N_TYPES * int(bool(sidejob))


def class_type(cls: int) -> EngagementType:
    """Engagement type of a cost class."""
    return EngagementType(cls % N_TYPES)


def class_is_sidejob(cls: int) -> bool:
    """Is a cost class that of side-job-capable people?"""
    return cls >= N_TYPES
