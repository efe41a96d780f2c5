"""What a message says: the tenant's template of that key (in the recipient's locale, falling back
fr-CA -> fr -> default), else the platform's default, rendered in the sandbox with the data; or an
ad-hoc subject and body sent as they are (never rendered: a caller's text is not a template)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.notification.domain import templates
from services.notification.domain.defaults import PLATFORM_TEMPLATES
from services.notification.domain.templates import TemplateParts
from services.notification.service.common import NotificationWork
from shared import errors


def parts_of(source: Mapping[str, Any]) -> TemplateParts:
    return TemplateParts(**{name: source.get(name) for name in templates.PART_NAMES})


async def template_parts(work: NotificationWork, key: str, locale: str | None) -> TemplateParts | None:
    chain = templates.locale_chain(locale)
    own = await work.repo.templates_for(key, chain)
    for candidate in chain:
        if candidate in own:
            return parts_of(own[candidate].parts)
    platform = templates.pick(PLATFORM_TEMPLATES.get(key, {}), locale)
    return parts_of(platform) if platform is not None else None


def ad_hoc(subject: str, body: str) -> TemplateParts:
    return TemplateParts(
        subject=subject,
        text=body,
        html=templates.escape_plain(body),
        sms=f"{subject}: {body}" if subject else body,
        push_title=subject,
        push_body=body,
    )


async def render_content(
    work: NotificationWork, content: Mapping[str, Any], extra: Mapping[str, Any] = {}
) -> TemplateParts:
    """The delivery's content (template key, locale and data; or subject and body) as text."""
    if content.get("template") is None:
        return ad_hoc(str(content.get("subject") or ""), str(content.get("body") or ""))
    parts = await template_parts(work, str(content["template"]), content.get("locale"))
    if parts is None:
        raise errors.InvalidInput(f"no template {content['template']!r}", code="unknown-template")
    try:
        return templates.render(parts, {**content.get("data", {}), **extra})
    except templates.TemplateError as error:
        raise errors.InvalidInput(f"the template does not render: {error}", code="template-error") from None
