"""Stages of the relationship ladder (関わりの階段), engagement types and the flows between them."""

from __future__ import annotations

from enum import IntEnum


class Stage(IntEnum):
    """A person's stage toward their target region.

    NONE     無関係       no relationship with any other region
    VISITOR  交流人口     visits a region (tourism, events) without a continuing tie
    ENGAGED  関係人口     a continuing, diverse relationship with the region without living there
    DUAL     二地域居住   lives part of the time in the region (dual residence)
    SETTLED  定住人口     moved to the region during the simulation (UIJ-turn settler)
    DEAD     死亡         left the adult population by death (kept as a slot; never reported as a stage)
    """

    NONE = 0
    VISITOR = 1
    ENGAGED = 2
    DUAL = 3
    SETTLED = 4
    DEAD = 5

    @property
    def ja(self) -> str:
        """The Japanese name used in tables and charts."""
        return _STAGE_JA[self]


_STAGE_JA = {
    Stage.NONE: "無関係",
    Stage.VISITOR: "交流人口",
    Stage.ENGAGED: "関係人口",
    Stage.DUAL: "二地域居住",
    Stage.SETTLED: "定住人口",
    Stage.DEAD: "死亡",
}

LIVING_STAGES: tuple[Stage, ...] = (Stage.NONE, Stage.VISITOR, Stage.ENGAGED, Stage.DUAL, Stage.SETTLED)


class EngagementType(IntEnum):
    """MLIT's four types of visiting 関係人口 (関係人口の類型), held while ENGAGED or DUAL.

    NONE                 no type (stages NONE, VISITOR, SETTLED)
    HOBBY_CONSUMPTION    趣味・消費型   eating, hobbies and shopping in the region
    PARTICIPATION        参加・交流型   events, experience programmes, exchange with residents
    WORK                 就労型         on-site work or telework for the region (副業・兼業 included)
    DIRECT_CONTRIBUTION  直接寄与型     volunteering, planning or running regional projects
    """

    NONE = 0
    HOBBY_CONSUMPTION = 1
    PARTICIPATION = 2
    WORK = 3
    DIRECT_CONTRIBUTION = 4

    @property
    def ja(self) -> str:
        """The Japanese name used in tables and charts."""
        return _TYPE_JA[self]


_TYPE_JA = {
    EngagementType.NONE: "-",
    EngagementType.HOBBY_CONSUMPTION: "趣味・消費",
    EngagementType.PARTICIPATION: "参加・交流",
    EngagementType.WORK: "就労",
    EngagementType.DIRECT_CONTRIBUTION: "直接寄与",
}


class Transition(IntEnum):
    """Hazard-driven transitions; each has a yearly base rate and a per-region lever multiplier.

    The region a transition is attributed to is the target region for relationship transitions
    and the home region for VISIT, MIGRATE and (for LEAVE) the region being left.
    """

    VISIT = 0            # NONE → VISITOR: first visits, target chosen by gravity (交流の開始)
    ENGAGE = 1           # VISITOR → ENGAGED, limited by the region's 関わりしろ
    LAPSE_VISITOR = 2    # VISITOR → NONE
    DEEPEN = 3           # ENGAGED type deepens (趣味・消費 → 参加・交流 → 直接寄与; 就労 → 直接寄与)
    DUAL = 4             # ENGAGED → DUAL, limited by housing
    SETTLE = 5           # ENGAGED or DUAL → SETTLED, limited by housing (移住・定住)
    LAPSE_ENGAGED = 6    # ENGAGED → VISITOR
    LAPSE_DUAL = 7       # DUAL → ENGAGED
    LEAVE = 8            # SETTLED → NONE, back to the region of origin (再転出)
    MIGRATE = 9          # general migration (一般的な人口移動): a move of home that is not the ladder


class Flow(IntEnum):
    """Counted per step and region: every transition, plus the demographic terms."""

    VISIT = 0
    ENGAGE = 1
    LAPSE_VISITOR = 2
    DEEPEN = 3
    DUAL = 4
    SETTLE = 5
    LAPSE_ENGAGED = 6
    LAPSE_DUAL = 7
    LEAVE = 8
    MIGRATE = 9            # general moves (一般移動), all kinds, counted in the region left
    MIGRATE_ARRIVAL = 10   # arrivals of general moves, counted in the region moved to
    LEAVE_ARRIVAL = 11     # people who left a region after settling, counted in their region of origin
    DEATH = 12             # deaths, counted in the home region
    NEW_ADULT = 13         # people turning 18, counted in their home region
    ENGAGE_REJECTED = 14   # would-be engagements turned away because 関わりしろ was full
    HOUSING_REJECTED = 15  # would-be moves (DUAL or SETTLE) turned away for lack of housing
    # general moves by kind (`model.migration.MoveKind`, same order): departures in the region left,
    # arrivals in the region moved to
    JOB_MOVE = 16          # 転職・転勤など: gravity among all regions
    METRO_MOVE = 17        # 大都市圏への移動: from a rural region to a metro region
    RETIRE_MOVE = 18       # 退職移動: around retirement age
    RETURN_MOVE = 19       # Uターン: back to the birth region
    JOB_ARRIVAL = 20
    METRO_ARRIVAL = 21
    RETIRE_ARRIVAL = 22
    RETURN_ARRIVAL = 23
    MIGRATE_INTO_TARGET = 24  # general movers whose destination was the region they related to (counted there)


N_TRANSITIONS = len(Transition)
N_FLOWS = len(Flow)
N_STAGES = len(LIVING_STAGES)
N_TYPES = len(EngagementType)
