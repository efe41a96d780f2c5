"""Credentials sealed per connection under the tenant's data key (envelope encryption).

The data key is made on a tenant's first connection, wrapped by the current master key; the
plaintext credentials exist only in memory while a call needs them. Rotating the master key
re-wraps each tenant's data key (the sealed credentials stay as they are), one tenant per
transaction, so the service keeps running throughout.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.integration.domain import secrets_box
from services.integration.domain.secrets_box import MasterKeys, WrappedKey
from services.integration.models import TenantKey
from services.integration.service.common import BACKGROUND_ROLE, IntegrationUnitOfWork, IntegrationWork
from shared.clock import utcnow


class Vault:
    def __init__(self, masters: MasterKeys) -> None:
        self.masters = masters

    async def data_key(self, work: IntegrationWork, tenant_id: uuid.UUID) -> bytes:
        stored = await work.repo.tenant_key(tenant_id)
        if stored is None:
            key, wrapped = secrets_box.new_data_key(self.masters, tenant_id)
            stored = await work.repo.add_tenant_key_once(TenantKey(tenant_id, wrapped.key_id, wrapped.blob))
            if stored.wrapped == wrapped.blob:
                return key
        return secrets_box.unwrap(self.masters, tenant_id, WrappedKey(stored.key_id, stored.wrapped))

    async def seal(
        self, work: IntegrationWork, tenant_id: uuid.UUID, connection_id: uuid.UUID, secrets: dict[str, Any]
    ) -> bytes:
        key = await self.data_key(work, tenant_id)
        return secrets_box.seal(key, tenant_id, connection_id, secrets)

    async def open(
        self, work: IntegrationWork, tenant_id: uuid.UUID, connection_id: uuid.UUID, sealed: bytes
    ) -> dict[str, Any]:
        key = await self.data_key(work, tenant_id)
        return secrets_box.open_sealed(key, tenant_id, connection_id, sealed)


async def rotate_master_key(uow: IntegrationUnitOfWork, masters: MasterKeys) -> int:
    """Re-wrap every data key not under the current master key; returns how many. Safe to run
    while services serve: each tenant's key changes in its own short transaction, and a replica
    still configured with the old key list opens both wrappings."""
    async with uow(None) as work:
        tenants = await work.read_as(
            BACKGROUND_ROLE, lambda: work.repo.tenants_wrapped_by_other_keys(masters.current_id)
        )
    for tenant_id in tenants:
        async with uow(tenant_id) as work:
            stored = await work.repo.tenant_key(tenant_id, for_update=True)
            if stored is None or stored.key_id == masters.current_id:
                continue
            fresh = secrets_box.rewrap(masters, tenant_id, WrappedKey(stored.key_id, stored.wrapped))
            await work.repo.update(stored, key_id=fresh.key_id, wrapped=fresh.blob, rotated_at=utcnow())
    return len(tenants)
