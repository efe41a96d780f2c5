"""A funnel in Mautic's terms: the mapping our sync writes, and the figures read back.

Stages become Mautic stages ordered by weight; the audience a segment; the nurture steps a Mautic
campaign of timed actions on that segment; scoring point actions; a "points above N" entry rule a
point trigger that moves the contact into the stage. Pure data in, Mautic payloads out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENTRY_RULES = ("form_submitted", "email_opened", "page_visited", "points_above")
SCORING_ACTIONS = {"form_submitted": "form.submit", "email_opened": "email.open", "page_visited": "url.hit"}


@dataclass(frozen=True)
class Stage:
    name: str
    weight: int
    entry_rule: Mapping[str, Any]


def stage_payload(funnel_name: str, stage: Stage) -> dict[str, Any]:
    return {
        "name": f"{funnel_name}: {stage.name}",
        "weight": stage.weight,
        "description": f"Entry rule: {stage.entry_rule.get('type')}",
        "isPublished": True,
    }


def ordered(stages: Sequence[Stage]) -> list[Stage]:
    """Mautic orders a contact's path by stage weight, so we send them that way."""
    return sorted(stages, key=lambda stage: (stage.weight, stage.name))


def segment_payload(funnel_id: str, funnel_name: str, audience: Mapping[str, Any]) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    for tag in audience.get("tags", []):
        filters.append(
            {
                "glue": "and",
                "field": "tags",
                "object": "lead",
                "type": "tags",
                "operator": "in",
                "properties": {"filter": [tag]},
            }
        )
    if audience.get("min_points") is not None:
        filters.append(
            {
                "glue": "and",
                "field": "points",
                "object": "lead",
                "type": "number",
                "operator": "gte",
                "properties": {"filter": audience["min_points"]},
            }
        )
    for country in audience.get("countries", []):
        filters.append(
            {
                "glue": "and",
                "field": "country",
                "object": "lead",
                "type": "country",
                "operator": "=",
                "properties": {"filter": country},
            }
        )
    return {
        "name": f"BizOSaaS funnel: {funnel_name}",
        "alias": f"bizosaas-funnel-{funnel_id[:8]}",
        "description": "Audience of a BizOSaaS funnel; kept in sync by BizOSaaS.",
        "isPublished": True,
        "filters": filters,
    }


def campaign_payload(
    funnel_name: str, nurture: Sequence[Mapping[str, Any]], segment_id: int | None
) -> dict[str, Any]:
    """The nurture steps as one Mautic campaign: each step an action after the previous one."""
    events = []
    for order, step in enumerate(nurture, start=1):
        event: dict[str, Any] = {
            "id": f"new_{order}",
            "name": step.get("name") or f"Step {order}",
            "type": "email.send" if step.get("type", "email") == "email" else "lead.changepoints",
            "eventType": "action",
            "order": order,
            "properties": {"email": step.get("email_id")} if step.get("email_id") else {},
            "triggerMode": "interval",
            "triggerInterval": int(step.get("delay_days", 0)),
            "triggerIntervalUnit": "d",
        }
        if order > 1:
            event["parent"] = f"new_{order - 1}"
            event["decisionPath"] = None
        events.append(event)
    return {
        "name": f"BizOSaaS nurture: {funnel_name}",
        "description": "Nurture steps of a BizOSaaS funnel; kept in sync by BizOSaaS.",
        "isPublished": True,
        "events": events,
        "lists": [{"id": segment_id}] if segment_id else [],
    }


def point_action_payloads(funnel_name: str, scoring: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{funnel_name}: {rule['action']} {int(rule['delta']):+d}",
            "type": SCORING_ACTIONS.get(str(rule["action"]), str(rule["action"])),
            "delta": int(rule["delta"]),
            "isPublished": True,
        }
        for rule in scoring
    ]


def trigger_payload(funnel_name: str, stage: Stage, mautic_stage_id: int) -> dict[str, Any] | None:
    """A point trigger for a "points above N" entry rule, moving the contact into the stage."""
    if stage.entry_rule.get("type") != "points_above":
        return None
    return {
        "name": f"{funnel_name}: enter {stage.name}",
        "points": int(stage.entry_rule.get("value", 0)),
        "isPublished": True,
        "triggerExistingLeads": False,
        "events": [
            {
                "name": f"Move to {stage.name}",
                "type": "lead.changestage",
                "properties": {"stage": mautic_stage_id},
            }
        ],
    }


def cost_per_stage_entry(spend_minor: int, entries: Mapping[str, int]) -> dict[str, int | None]:
    """Ad spend divided by the contacts who entered each stage (None where nobody did)."""
    return {stage: (spend_minor // count if count else None) for stage, count in entries.items()}
