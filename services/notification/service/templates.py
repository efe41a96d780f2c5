"""A tenant's own templates: versioned, checked on save (every part compiles and renders with the
sample data: an undefined variable is an error, not an empty string), previewed with sample data.
Platform defaults (domain/defaults.py) are listed beside them; a tenant never sees another's."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from services.notification.domain import templates
from services.notification.domain.defaults import PLATFORM_TEMPLATES
from services.notification.models import Template
from services.notification.service.common import NotificationUnitOfWork
from services.notification.service.rendering import parts_of, template_parts
from shared import errors
from shared.clock import utcnow


def _checked(parts: Mapping[str, Any], sample: Mapping[str, Any]) -> None:
    if not any(parts.get(name) for name in templates.PART_NAMES):
        raise errors.InvalidInput("a template needs at least one part", code="template-error")
    try:
        templates.validate(parts_of(parts), sample)
    except templates.TemplateError as error:
        raise errors.InvalidInput(str(error), code="template-error", part=error.part) from None


class Templates:
    def __init__(self, uow: NotificationUnitOfWork) -> None:
        self.uow = uow

    async def save(
        self,
        tenant_id: uuid.UUID,
        actor: str,
        key: str,
        locale: str,
        parts: dict[str, Any],
        sample: dict[str, Any],
    ) -> tuple[Template, bool]:
        """Create, or add a version; (template, created)."""
        _checked(parts, sample)
        async with self.uow(tenant_id) as work:
            current = await work.repo.template(key, locale, for_update=True)
            if current is None:
                saved = await work.repo.add(
                    Template(uuid.uuid4(), tenant_id, key, locale, parts, actor, sample)
                )
            else:
                saved = await work.repo.update(
                    current,
                    parts=parts,
                    sample=sample,
                    version=current.version + 1,
                    updated_by=actor,
                    updated_at=utcnow(),
                )
            await work.repo.add_template_version(saved)
            return saved, current is None

    async def list(
        self, tenant_id: uuid.UUID, key: str | None
    ) -> tuple[list[Template], list[dict[str, Any]]]:
        async with self.uow(tenant_id) as work:
            own = await work.repo.templates(key)
        defaults = [
            {"key": k, "locale": locale, "parts": parts}
            for k, locales in sorted(PLATFORM_TEMPLATES.items())
            if key is None or k == key
            for locale, parts in sorted(locales.items())
        ]
        return own, defaults

    async def get(
        self, tenant_id: uuid.UUID, template_id: uuid.UUID
    ) -> tuple[Template, list[dict[str, Any]]]:
        async with self.uow(tenant_id) as work:
            found = await work.repo.template_by_id(template_id)
            if found is None:
                raise errors.NotFound("no such template")
            return found, await work.repo.template_versions(template_id)

    async def delete(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> None:
        async with self.uow(tenant_id) as work:
            if not await work.repo.delete_template(template_id):
                raise errors.NotFound("no such template")

    async def preview(
        self,
        tenant_id: uuid.UUID,
        key: str | None,
        locale: str | None,
        parts: dict[str, Any] | None,
        data: dict[str, Any],
    ) -> templates.TemplateParts:
        """Unsaved parts, or what `key` resolves to for `locale`, rendered with the sample data."""
        if parts is None:
            async with self.uow(tenant_id) as work:
                found = await template_parts(work, str(key), locale)
            if found is None:
                raise errors.NotFound(f"no template {key!r}")
            source = found
        else:
            source = parts_of(parts)
        try:
            return templates.render(source, data)
        except templates.TemplateError as error:
            raise errors.InvalidInput(str(error), code="template-error", part=error.part) from None
