"""The caller's tenant: reading and renaming it, and the plan, which only billing changes."""

from __future__ import annotations

import json
from typing import Any

from services.user_management import domain
from services.user_management.events import TenantPlanChanged
from services.user_management.models import Tenant
from services.user_management.repository import IdentityRepository
from services.user_management.service.common import current_user
from shared import errors
from shared.auth.tokens import Principal
from shared.clock import utcnow
from shared.events.envelope import Event
from shared.unit_of_work import UnitOfWork, Work

MAX_SETTINGS_BYTES = 16_384


class Tenants:
    def __init__(self, uow: UnitOfWork[IdentityRepository]) -> None:
        self.uow = uow

    async def current(self, principal: Principal) -> Tenant:
        async with self.uow(principal.tenant_id) as work:
            await current_user(work.repo, principal)
            return await _tenant(work.repo, principal)

    async def update(self, principal: Principal, name: str | None, settings: dict[str, Any] | None) -> Tenant:
        if settings is not None and len(json.dumps(settings)) > MAX_SETTINGS_BYTES:
            message = f"must be at most {MAX_SETTINGS_BYTES} bytes as JSON"
            raise errors.InvalidInput(
                f"settings {message}",
                errors=[{"loc": ["body", "settings"], "msg": message, "type": "too_large"}],
            )
        async with self.uow(principal.tenant_id) as work:
            await current_user(work.repo, principal, "tenant:manage")
            tenant = await _tenant(work.repo, principal, for_update=True)
            changes: dict[str, Any] = {"updated_at": utcnow()}
            if name is not None:
                changes["name"] = name
            if settings is not None:
                changes["settings"] = settings
            return await work.repo.update(tenant, **changes)

    async def on_payment(self, work: Work[IdentityRepository], event: Event) -> None:
        """`payment.succeeded` / `payment.failed` from integration: the only way a plan changes."""
        if event.tenant_id is None:
            return
        tenant = await work.repo.tenant(event.tenant_id, for_update=True)
        if tenant is None:
            return
        new_plan = domain.plan_after_payment(event.type, event.data.get("plan"), tenant.plan)
        if new_plan == tenant.plan:
            return
        old_plan = tenant.plan
        await work.repo.update(tenant, plan=new_plan, updated_at=utcnow())
        reason = "payment_succeeded" if event.type == "payment.succeeded" else "payment_failed"
        invoice = event.data.get("invoice_id")
        await work.emit(
            TenantPlanChanged(
                old_plan=old_plan,
                new_plan=new_plan,
                reason=reason,
                invoice_id=str(invoice) if invoice else None,
            )
        )


async def _tenant(repo: IdentityRepository, principal: Principal, for_update: bool = False) -> Tenant:
    assert principal.tenant_id is not None
    tenant = await repo.tenant(principal.tenant_id, for_update=for_update)
    if tenant is None:
        raise errors.NotFound("no such tenant")
    return tenant
