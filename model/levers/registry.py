"""Every lever kind, by the `kind` key used in scenario files."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from model.levers.generic import HazardMultiplier
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
from model.levers.programmes import Programme
from model.levers.travel import TravelSubsidy

LEVER_CLASSES = (
    TravelSubsidy, IntermediaryOrganisation, CKOLeadership, RelocationGrant, MigrationCoordinator,
    InformationCampaign, HousingSupport, SideJobMatching, DualResidenceSupport, FurusatoNozei,
    FurusatoResidentRegistration, AdoptionSupport, HazardMultiplier, Programme,
)
LEVER_SPECS = {cls.model_fields["kind"].default: cls for cls in LEVER_CLASSES}
LeverSpec = Annotated[Union[LEVER_CLASSES], Field(discriminator="kind")]  # noqa: UP007
