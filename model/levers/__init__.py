"""Policy levers (政策レバー): each changes kernel inputs only, and claims spending by region and payer."""

from model.levers.base import (
    COUNTS,
    EffectContext,
    Lever,
    LeverContext,
    LeverEffects,
    StepRecord,
)
from model.levers.generic import HazardMultiplier
from model.levers.leverset import LeverSet
from model.levers.migration import (
    DualResidenceSupport,
    HousingSupport,
    MigrationCoordinator,
    RelocationGrant,
)
from model.levers.organisations import (
    CKOLeadership,
    IntermediaryOrganisation,
    SideJobMatching,
)
from model.levers.outreach import (
    AdoptionSupport,
    FurusatoNozei,
    FurusatoResidentRegistration,
    InformationCampaign,
)
from model.levers.programmes import Programme, ProgrammeLever, ProgrammeRow, RowContext
from model.levers.registry import LEVER_CLASSES, LEVER_SPECS, LeverSpec
from model.levers.travel import TravelSubsidy

__all__ = [
    "COUNTS", "AdoptionSupport", "CKOLeadership", "DualResidenceSupport", "EffectContext", "FurusatoNozei", "FurusatoResidentRegistration",
    "HazardMultiplier", "HousingSupport", "InformationCampaign", "IntermediaryOrganisation",
    "LEVER_CLASSES", "LEVER_SPECS", "Lever", "LeverContext", "LeverEffects", "LeverSet", "LeverSpec", "MigrationCoordinator", "Programme", "ProgrammeLever", "ProgrammeRow",
    "RelocationGrant", "RowContext", "SideJobMatching", "StepRecord", "TravelSubsidy",
]
