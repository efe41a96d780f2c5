"""`python -m services.integration.rotate_keys`: re-wrap every tenant's data key with the current
master key, while the service keeps serving.

Rotation, step by step: put the new key first in INTEGRATION_MASTER_KEYS and keep the old one
after it (`k2:<new>,k1:<old>`); restart the replicas (they open both wrappings); run this command
with the same settings; when it reports nothing left to rewrap, remove the old key.
"""

from __future__ import annotations

import asyncio

from services.integration.domain.secrets_box import MasterKeys
from services.integration.repository import IntegrationRepository
from services.integration.service.vault import rotate_master_key
from services.integration.settings import Settings
from shared.config import load_settings
from shared.database import Database
from shared.events.outbox import Outbox
from shared.unit_of_work import UnitOfWork


async def rotate(settings: Settings, masters: MasterKeys) -> int:
    database = await Database(
        str(settings.database_url), pool_size=2, application_name="integration-rotate"
    ).open()
    try:
        uow = UnitOfWork(database, Outbox("integrations", "integration"), IntegrationRepository)
        return await rotate_master_key(uow, masters)
    finally:
        await database.close()


def main() -> None:
    settings = load_settings(Settings)
    masters = MasterKeys.parse(settings.master_keys.get_secret_value())
    count = asyncio.run(rotate(settings, masters))
    print(f"rewrapped the data keys of {count} tenant(s) under master key {masters.current_id}")


if __name__ == "__main__":
    main()
