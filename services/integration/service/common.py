"""What the integration use cases share: the unit of work, lookups that 404, the clock."""

from __future__ import annotations

import uuid

from services.integration.models import Connection
from services.integration.repository import IntegrationRepository
from shared import errors
from shared.fleet import spec
from shared.unit_of_work import UnitOfWork, Work

IntegrationWork = Work[IntegrationRepository]
IntegrationUnitOfWork = UnitOfWork[IntegrationRepository]
BACKGROUND_ROLE = str(spec("integration").background_role)


async def connection_or_404(
    work: IntegrationWork, connection_id: uuid.UUID, *, for_update: bool = False
) -> Connection:
    """Another tenant's connection is invisible (row level security), hence the same 404."""
    connection = await work.repo.connection(connection_id, for_update=for_update)
    if connection is None:
        raise errors.NotFound("no such connection")
    return connection
