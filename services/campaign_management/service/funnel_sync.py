"""Writing a funnel to Mautic, call by call, remembering every id Mautic answers.

The ids are what make a second sync edit in place instead of duplicating; they are kept even when
a sync fails midway (a 429 storm that outlasts the retries, Mautic down), so the next try picks up
the stages, segment, campaign and point actions that already exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.campaign_management.clients.mautic import MauticClient
from services.campaign_management.domain import funnels as mapping
from services.campaign_management.models import Funnel, FunnelStage


@dataclass
class SyncProgress:
    segment_id: int | None = None
    campaign_id: int | None = None
    point_ids: list[int] = field(default_factory=list)
    stage_ids: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, funnel: Funnel, stages: list[FunnelStage]) -> SyncProgress:
        known = funnel.mautic
        return cls(
            segment_id=known.get("segment_id"),
            campaign_id=known.get("campaign_id"),
            point_ids=list(known.get("point_ids", [])),
            stage_ids={s.name: (s.mautic_stage_id, s.mautic_trigger_id) for s in stages},
        )

    def ids(self) -> dict[str, Any]:
        return {"segment_id": self.segment_id, "campaign_id": self.campaign_id, "point_ids": self.point_ids}


async def write_to_mautic(
    client: MauticClient, funnel: Funnel, stages: list[FunnelStage], progress: SyncProgress
) -> None:
    """Stages in weight order (each with its point trigger), the audience segment, the nurture
    campaign on that segment, then the scoring point actions (new ones in batches)."""
    name = funnel.name
    for stage in mapping.ordered([mapping.Stage(s.name, s.weight, s.entry_rule) for s in stages]):
        stage_id, trigger_id = progress.stage_ids.get(stage.name, (None, None))
        stage_id = await client.upsert("stages", mapping.stage_payload(name, stage), stage_id)
        progress.stage_ids[stage.name] = (stage_id, trigger_id)
        trigger = mapping.trigger_payload(name, stage, stage_id)
        if trigger is not None:
            trigger_id = await client.upsert("triggers", trigger, trigger_id)
            progress.stage_ids[stage.name] = (stage_id, trigger_id)
    audience = mapping.segment_payload(str(funnel.id), name, funnel.audience)
    progress.segment_id = await client.upsert("segments", audience, progress.segment_id)
    nurture = mapping.campaign_payload(name, funnel.nurture, progress.segment_id)
    progress.campaign_id = await client.upsert("campaigns", nurture, progress.campaign_id)
    points = mapping.point_action_payloads(name, funnel.scoring)
    progress.point_ids = progress.point_ids[: len(points)]  # rules removed since: no longer ours to edit
    for index, point_id in enumerate(progress.point_ids):
        progress.point_ids[index] = await client.upsert("points", points[index], point_id)
    new = points[len(progress.point_ids) :]
    if new:
        await client.create_many("points", new, progress.point_ids)
