"""Alerts: rules per tenant (a KPI above or below a threshold over the trailing days, spend pacing,
or an anomaly of the latest day against the 14 before it), evaluated by a background task for the
campaigns whose numbers changed, and announced with `kpi.alert` once per breach.

Windows end at the latest day a campaign has figures for (platforms report late), so the same
numbers always give the same verdict, whenever they are evaluated.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date, timedelta
from typing import Any

from services.analytics.domain import alerts as rules
from services.analytics.domain.kpis import Budget, Counters, pacing, value_of
from services.analytics.events import KpiAlert
from services.analytics.metrics_repository import counters_of
from services.analytics.models import AlertEvent, AlertRule
from services.analytics.service.common import BACKGROUND_ROLE, AnalyticsUnitOfWork, AnalyticsWork, ensure
from shared.clock import time_zone, utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("analytics.alerts")
BATCH = 50


class Alerts:
    def __init__(self, uow: AnalyticsUnitOfWork) -> None:
        self.uow = uow
        self._outage = Outage(logger, "alert evaluation: database")

    # --- rules ---------------------------------------------------------------------------------

    async def create(self, tenant_id: uuid.UUID, fields: dict[str, Any]) -> AlertRule:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.add(AlertRule(id=uuid.uuid4(), tenant_id=tenant_id, **fields))

    async def list(self, tenant_id: uuid.UUID) -> list[AlertRule]:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.alert_rules()

    async def get(self, tenant_id: uuid.UUID, rule_id: uuid.UUID) -> AlertRule:
        async with self.uow(tenant_id) as work:
            found = await work.repo.records.alert_rule(rule_id)
        ensure(found, "alert rule")
        assert found is not None
        return found

    async def update(self, tenant_id: uuid.UUID, rule_id: uuid.UUID, changes: dict[str, Any]) -> AlertRule:
        async with self.uow(tenant_id) as work:
            found = await work.repo.records.alert_rule(rule_id)
            ensure(found, "alert rule")
            assert found is not None
            return await work.repo.records.update(found, **changes) if changes else found

    async def delete(self, tenant_id: uuid.UUID, rule_id: uuid.UUID) -> None:
        async with self.uow(tenant_id) as work:
            ensure(await work.repo.records.alert_rule(rule_id), "alert rule")
            await work.repo.records.delete_alert_rule(rule_id)

    async def fired(self, tenant_id: uuid.UUID, limit: int) -> list[AlertEvent]:
        async with self.uow(tenant_id) as work:
            return await work.repo.records.alert_events(limit)

    # --- evaluation ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.evaluate_queued, self._outage, is_infrastructure_error)

    async def evaluate_queued(self) -> int:
        """Every campaign whose numbers changed since the last look; returns how many alerts fired."""
        async with self.uow(None) as work:
            queued = await work.read_as(BACKGROUND_ROLE, lambda: work.repo.records.queued_campaigns(BATCH))
        fired = 0
        for campaign_id, tenant_id in queued:
            async with self.uow(tenant_id) as work:
                if await work.repo.records.take_queued(campaign_id):
                    fired += await self._evaluate(work, tenant_id, campaign_id)
        return fired

    async def _evaluate(self, work: AnalyticsWork, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
        fired = 0
        for rule in await work.repo.records.rules_for(campaign_id):
            daily = await _daily(work, campaign_id, rule.channel)
            if not daily:
                continue
            if rule.kind == "anomaly":
                fired += await self._anomaly(work, tenant_id, rule, campaign_id, daily)
            else:
                fired += await self._threshold(work, tenant_id, rule, campaign_id, daily)
        return fired

    async def _threshold(
        self,
        work: AnalyticsWork,
        tenant_id: uuid.UUID,
        rule: AlertRule,
        campaign_id: uuid.UUID,
        daily: dict[date, Counters],
    ) -> int:
        latest = max(daily)
        if rule.metric == "pacing":
            value = await _pacing(work, campaign_id, daily)
        else:
            window = [daily.get(latest - timedelta(days=n), Counters()) for n in range(rule.window_days)]
            value = value_of(rule.metric, sum(window, Counters()))
        now = rules.breaches(value, rule.operator or "above", float(rule.threshold or 0))
        was, _ = await work.repo.records.alert_state(rule.id, campaign_id)
        await work.repo.records.set_alert_state(tenant_id, rule.id, campaign_id, now, "", value)
        if not rules.should_fire(was, now):
            return 0
        await _fire(work, tenant_id, rule, campaign_id, value, latest, threshold=rule.threshold)
        return 1

    async def _anomaly(
        self,
        work: AnalyticsWork,
        tenant_id: uuid.UUID,
        rule: AlertRule,
        campaign_id: uuid.UUID,
        daily: dict[date, Counters],
    ) -> int:
        latest = max(daily)
        history = [
            value_of(rule.metric, daily.get(latest - timedelta(days=n), Counters()))
            for n in range(rules.ANOMALY_HISTORY_DAYS, 0, -1)
        ]
        found = rules.anomaly(value_of(rule.metric, daily[latest]), history, float(rule.sigmas or 3.0))
        was, key = await work.repo.records.alert_state(rule.id, campaign_id)
        day_key = latest.isoformat()
        already = was and key == day_key  # once per rule, campaign and day
        await work.repo.records.set_alert_state(
            tenant_id,
            rule.id,
            campaign_id,
            found is not None or already,
            day_key if found or already else "",
            found.value if found else None,
        )
        if found is None or already:
            return 0
        baseline = {
            "mean": round(found.mean, 6),
            "deviation": round(found.deviation, 6),
            "score": found.score,
        }
        await _fire(work, tenant_id, rule, campaign_id, found.value, latest, baseline=baseline)
        return 1


async def _daily(work: AnalyticsWork, campaign_id: uuid.UUID, channel: str | None) -> dict[date, Counters]:
    """The campaign's days (dominant currency only: money in two currencies does not add up)."""
    first = utcnow().date() - timedelta(days=400)
    rows = await work.repo.metrics.date_series(
        campaign_id, "day", first, utcnow().date() + timedelta(days=2), channel
    )
    if not rows:
        return {}
    spend: dict[str, int] = {}
    for row in rows:
        spend[row["currency"]] = spend.get(row["currency"], 0) + int(row["spend_minor"])
    currency = max(spend, key=lambda c: spend[c])
    return {row["bucket"]: counters_of(row) for row in rows if row["currency"] == currency}


async def _pacing(work: AnalyticsWork, campaign_id: uuid.UUID, daily: dict[date, Counters]) -> float | None:
    known = await work.repo.records.campaign(campaign_id)
    if known is None or known.total_budget_minor is None or not known.budget_type:
        return None
    today = utcnow().astimezone(time_zone(await work.repo.records.timezone())).date()
    spent = sum(
        c.spend_minor for day, c in daily.items() if known.start_at is None or day >= known.start_at.date()
    )
    budget = Budget(known.total_budget_minor, known.budget_type, known.start_at, known.end_at)
    return pacing(spent, budget, today)


async def _fire(
    work: AnalyticsWork,
    tenant_id: uuid.UUID,
    rule: AlertRule,
    campaign_id: uuid.UUID,
    value: float | None,
    day: date,
    *,
    threshold: float | None = None,
    baseline: dict[str, Any] | None = None,
) -> None:
    event = await work.repo.records.add(
        AlertEvent(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            rule_id=rule.id,
            campaign_id=campaign_id,
            metric=rule.metric,
            value=value,
            threshold=threshold,
            detail={"day": day.isoformat(), **({"baseline": baseline} if baseline else {})},
        )
    )
    await work.emit(
        KpiAlert(
            alert_id=event.id,
            rule_id=rule.id,
            rule_name=rule.name,
            rule=rule.kind,
            campaign_id=campaign_id,
            channel=rule.channel,
            kpi=rule.metric,
            value=value,
            threshold=threshold,
            baseline=baseline,
            day=day,
        )
    )
