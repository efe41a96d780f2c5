"""Distributed rate limits: one atomic Lua token bucket per key in Redis (DESIGN §6).

The script reads Redis' own clock, so every gateway replica shares one time source and one
bucket: N requests are allowed across all replicas, not N per replica. With Redis unreachable the
gateway fails open by default (configurable), counting it and logging once per outage.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from redis.exceptions import RedisError

from services.api_gateway import keys
from shared.outage import Outage
from shared.redis_script import PipelinedScript

logger = logging.getLogger("api_gateway.ratelimit")

RATE_LIMITED = Counter("gateway_rate_limited_total", "Requests refused by a rate limit", ["scope"])
LIMITER_UNAVAILABLE = Counter(
    "gateway_rate_limit_unavailable_total", "Requests whose limit could not be checked (Redis down)"
)

_BUCKET = """
local function take(key, capacity, per_ms)
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / per_ms)
end
local full_ms = math.ceil((capacity - tokens) / per_ms)
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, full_ms + 1000)
return {allowed, tostring(tokens), retry_ms, full_ms}
end
"""

TOKEN_BUCKET = (
    _BUCKET
    + """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
"""
)

# One round trip per authenticated request: the deny list, the billing plan override, then the
# tenant's bucket sized by that plan. KEYS: bucket, deny, plan; ARGV: token plan, limits as JSON.
TENANT_REQUEST = (
    _BUCKET
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {-1, '0', 0, 0, 0}
end
local plan = redis.call('GET', KEYS[3]) or ARGV[1]
local limits = cjson.decode(ARGV[2])
local rate = limits[plan] or limits['basic']
local result = take(KEYS[1], rate[1], rate[1] / (rate[2] * 1000))
table.insert(result, rate[1])
table.insert(result, rate[2])
table.insert(result, plan)
return result
"""
)

DEACTIVATED = "deactivated"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int
    window_seconds: int = 0
    plan: str | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        values = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            values.append((b"retry-after", str(self.retry_after_seconds).encode()))
        return values


class RateLimiter:
    """Both scripts run on their own pipelined connection (shared.redis_script): one round trip
    per request, without redis-py's per-command overhead on the gateway's hot path."""

    def __init__(self, redis_url: str, *, fail_open: bool = True) -> None:
        self.fail_open = fail_open
        self._script = PipelinedScript(redis_url, TOKEN_BUCKET)
        self._tenant_script = PipelinedScript(redis_url, TENANT_REQUEST)
        self._outage = Outage(logger, "rate limiter: Redis")

    async def aclose(self) -> None:
        await self._script.aclose()
        await self._tenant_script.aclose()

    async def check_tenant(
        self, tenant_id: str, subject: str, plan: str, limits_json: str
    ) -> Decision | str | None:
        """The tenant's bucket by its current plan, or `DEACTIVATED` if the subject is on the deny
        list. None means Redis could not be asked (fail open: deny list and limit skipped)."""
        names = [keys.tenant_bucket(tenant_id), keys.deny(subject), keys.plan(tenant_id)]
        try:
            allowed, tokens, retry_ms, full_ms, *rest = await self._tenant_script(names, [plan, limits_json])
        except (RedisError, OSError) as error:
            return self._unavailable(error)
        self._outage.recovered()
        if int(allowed) == -1:
            return DEACTIVATED
        limit, window, effective_plan = int(rest[0]), int(rest[1]), rest[2]
        plan_name = effective_plan.decode() if isinstance(effective_plan, bytes) else str(effective_plan)
        return self._decision(allowed, limit, window, tokens, retry_ms, full_ms, "tenant", plan_name)

    def _unavailable(self, error: BaseException) -> Decision | None:
        self._outage.failed(error)
        LIMITER_UNAVAILABLE.inc()
        return None if self.fail_open else Decision(False, 0, 0, 1, 1)

    def _decision(
        self,
        allowed: Any,
        limit: int,
        window: int,
        tokens: Any,
        retry_ms: Any,
        full_ms: Any,
        scope: str,
        plan: str | None = None,
    ) -> Decision:
        """A decision from the script's answer (Redis returns numbers as ints or strings)."""
        decision = Decision(
            allowed=int(allowed) == 1,
            limit=limit,
            remaining=max(0, math.floor(float(tokens))),
            reset_seconds=math.ceil(int(full_ms) / 1000),
            retry_after_seconds=max(1, math.ceil(int(retry_ms) / 1000)),
            window_seconds=window,
            plan=plan,
        )
        if not decision.allowed:
            RATE_LIMITED.labels(scope).inc()
        return decision

    async def check(self, key: str, limit: int, window_seconds: int, scope: str) -> Decision | None:
        """Take one token from the bucket `key` (capacity `limit`, refilled over the window).
        None means Redis could not be asked and the request is let through (fail open)."""
        per_ms = limit / (window_seconds * 1000)
        try:
            allowed, tokens, retry_ms, full_ms = await self._script([key], [limit, per_ms])
        except (RedisError, OSError) as error:
            return self._unavailable(error)
        self._outage.recovered()
        return self._decision(allowed, limit, window_seconds, tokens, retry_ms, full_ms, scope)
