"""Event handlers of the gateway. It has no database: each handler is an idempotent Redis write.

- `user.deactivated`: the user's remaining access tokens are refused at the edge until they expire.
- `tenant.plan_changed`: the new rate-limit tier applies at once, before tokens carry the new plan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.api_gateway import keys
from services.api_gateway.bootstrap import Container
from shared.events.consumer import RedisHandler
from shared.events.envelope import Event

PLAN_OVERRIDE_TTL = timedelta(hours=2)  # longer than any access token lives
DENY_LEEWAY = timedelta(seconds=60)


def build_handlers(container: Container) -> dict[str, RedisHandler]:
    redis = container.infra.redis

    async def on_deactivated(_: None, event: Event) -> None:
        until = datetime.fromisoformat(event.data["tokens_valid_until"]) + DENY_LEEWAY
        remaining_ms = int((until - datetime.now(UTC)).total_seconds() * 1000)
        if remaining_ms > 0:
            await redis.set(keys.deny(event.data["user_id"]), "1", px=remaining_ms)

    async def on_plan_changed(_: None, event: Event) -> None:
        await redis.set(keys.plan(str(event.tenant_id)), event.data["new_plan"], ex=PLAN_OVERRIDE_TTL)

    return {"user.deactivated": on_deactivated, "tenant.plan_changed": on_plan_changed}
