"""The caller's tenant."""

from __future__ import annotations

from fastapi import APIRouter

from services.user_management.api.deps import TenantManager, TenantReader, TenantsDep
from services.user_management.schemas import TenantOut, TenantUpdate
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"], responses=problem_responses(400, 401, 403))


@router.get("/current", response_model=TenantOut)
async def current_tenant(tenants: TenantsDep, principal: TenantReader) -> TenantOut:
    return TenantOut.model_validate(await tenants.current(principal))


@router.patch("/current", response_model=TenantOut)
async def update_tenant(body: TenantUpdate, tenants: TenantsDep, principal: TenantManager) -> TenantOut:
    return TenantOut.model_validate(await tenants.update(principal, body.name, body.settings))
