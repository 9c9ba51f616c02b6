"""Policy levers (政策レバー): each changes kernel inputs only, and claims spending by region and payer."""

from model.levers.base import KernelInputs, Lever, LeverContext, StepRecord
from model.levers.generic import HazardMultiplier
from model.levers.leverset import LeverSet
from model.levers.migration import DualResidenceSupport, HousingSupport, MigrationCoordinator, RelocationGrant
from model.levers.organisations import CKOLeadership, IntermediaryOrganisation, SideJobMatching
from model.levers.outreach import AdoptionSupport, FurusatoNozei, FurusatoResidentRegistration, InformationCampaign
from model.levers.registry import LEVER_CLASSES, LEVER_SPECS, LeverSpec
from model.levers.travel import TravelSubsidy

__all__ = [
    "AdoptionSupport", "CKOLeadership", "DualResidenceSupport", "FurusatoNozei", "FurusatoResidentRegistration",
    "HazardMultiplier", "HousingSupport", "InformationCampaign", "IntermediaryOrganisation", "KernelInputs",
    "LEVER_CLASSES", "LEVER_SPECS", "Lever", "LeverContext", "LeverSet", "LeverSpec", "MigrationCoordinator",
    "RelocationGrant", "SideJobMatching", "StepRecord", "TravelSubsidy",
]
