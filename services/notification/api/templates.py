"""`/api/v1/notifications/templates`: the tenant's own templates beside the platform's, previews."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.notification.api.deps import Manager, Reader, TemplatesDep
from services.notification.models import Template
from services.notification.schemas import (
    PlatformTemplateOut,
    PreviewIn,
    PreviewOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
)
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/notifications/templates", tags=["templates"], responses=problem_responses(400, 401, 403)
)


def _out(template: Template, versions: list[dict[str, object]] | None = None) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        key=template.template_key,
        locale=template.locale,
        version=template.version,
        parts=template.parts,
        sample=template.sample,
        updated_by=template.updated_by,
        created_at=template.created_at,
        updated_at=template.updated_at,
        versions=versions,
    )


@router.put(
    "",
    response_model=TemplateOut,
    responses={
        201: {"description": "Created (a new key and locale)", "model": TemplateOut},
        **problem_responses(422),
    },
)
async def save_template(
    body: TemplateIn, templates: TemplatesDep, principal: Manager, response: Response
) -> TemplateOut:
    """Create the template of (key, locale), or save its next version (201 when new). Every part must
    render with `sample`: an undefined variable or a sandbox escape is a 422 naming the part."""
    parts = body.parts.model_dump(exclude_none=True)
    saved, created = await templates.save(
        principal.tenant, principal.actor, body.key, body.locale, parts, body.sample
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    response.headers["Location"] = f"/api/v1/notifications/templates/{saved.id}"
    return _out(saved)


@router.get("", response_model=TemplateList)
async def list_templates(
    templates: TemplatesDep,
    principal: Reader,
    key: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_.-]{0,59}$")] = None,
) -> TemplateList:
    own, platform = await templates.list(principal.tenant, key)
    return TemplateList(items=[_out(t) for t in own], platform=[PlatformTemplateOut(**p) for p in platform])


@router.post("/preview", response_model=PreviewOut, responses=problem_responses(404, 422))
async def preview(body: PreviewIn, templates: TemplatesDep, principal: Reader) -> PreviewOut:
    """Render unsaved parts, or what a key resolves to for a locale, with sample data."""
    parts = body.parts.model_dump(exclude_none=True) if body.parts else None
    rendered = await templates.preview(principal.tenant, body.key, body.locale, parts, body.data)
    return PreviewOut(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        sms=rendered.sms,
        push_title=rendered.push_title,
        push_body=rendered.push_body,
    )


@router.get("/{template_id}", response_model=TemplateOut, responses=problem_responses(404))
async def get_template(template_id: uuid.UUID, templates: TemplatesDep, principal: Reader) -> TemplateOut:
    found, versions = await templates.get(principal.tenant, template_id)
    return _out(found, versions)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
async def delete_template(template_id: uuid.UUID, templates: TemplatesDep, principal: Manager) -> Response:
    """The platform's default of that key applies again."""
    await templates.delete(principal.tenant, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
