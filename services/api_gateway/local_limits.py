"""Rate limits kept in the process and synced to Redis every few milliseconds (Kong's approach).

`RATE_LIMIT_MODE=local` trades exactness for one Redis round trip less per request: the first
request of a bucket (or of a subject) asks Redis exactly, as the default mode does for every
request; after that the gateway decides from its own copy of the bucket, and a background task
spends what it admitted from the shared bucket and reads back what is left, for every bucket
used, in one round trip every `RATE_LIMIT_SYNC_MS`. The deny list and the billing plan override
are re-read on the same tick. So, measured against the exact mode (README "Speed"):
- a bucket shared by R replicas may admit up to R x (its refill in one tick) more than its limit,
  plus, at the very start, up to R x its capacity when all replicas start from a full copy at once;
- a deactivated user's token, or a new plan, takes effect within one tick (default 100 ms).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from services.api_gateway import keys
from services.api_gateway.ratelimit import DEACTIVATED, RATE_LIMITED, Decision, RateLimiter
from shared.outage import Outage, sleep_unless_stopped
from shared.redis_script import PipelinedScript

logger = logging.getLogger("api_gateway.local_limits")

IDLE_SECONDS = 60.0

# KEYS: buckets; ARGV: capacity, refill per ms and tokens spent, three per key. Spends on Redis'
# clock (never below zero) and answers what is left in each bucket.
SPEND = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local left = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[3 * i - 2])
  local per_ms = tonumber(ARGV[3 * i - 1])
  local spent = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  tokens = math.max(0, math.min(capacity, tokens + math.max(0, now - ts) * per_ms) - spent)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', key, math.ceil((capacity - tokens) / per_ms) + 1000)
  left[i] = tostring(tokens)
end
return left
"""

# KEYS: deny key and plan key, two per subject; answers 1/0 and the plan override ('' if none).
STANDING = """
local out = {}
for i = 1, #KEYS, 2 do
  table.insert(out, redis.call('EXISTS', KEYS[i]))
  table.insert(out, redis.call('GET', KEYS[i + 1]) or '')
end
return out
"""


@dataclass
class _Bucket:
    capacity: int
    per_second: float
    tokens: float
    synced_at: float
    used_at: float
    plan: str | None = None
    spent: int = 0

    def available(self, now: float) -> float:
        return min(self.capacity, self.tokens + (now - self.synced_at) * self.per_second) - self.spent


@dataclass
class _Standing:
    tenant_id: str
    denied: bool
    checked_at: float
    used_at: float


class LocalLimiter:
    def __init__(self, exact: RateLimiter, redis_url: str, sync_seconds: float) -> None:
        self.exact = exact
        self.sync_seconds = sync_seconds
        self.stale_after = sync_seconds * 5
        self._spend = PipelinedScript(redis_url, SPEND)
        self._standing_script = PipelinedScript(redis_url, STANDING)
        self._buckets: dict[str, _Bucket] = {}
        self._subjects: dict[str, _Standing] = {}
        self._outage = Outage(logger, "local rate limits: Redis sync")

    async def check_tenant(
        self, tenant_id: str, subject: str, plan: str, limits_json: str
    ) -> Decision | str | None:
        now = time.monotonic()
        standing = self._subjects.get(subject)
        bucket = self._buckets.get(keys.tenant_bucket(tenant_id))
        if standing is None or bucket is None or now - standing.checked_at > self.stale_after:
            return await self._first_tenant_request(tenant_id, subject, plan, limits_json, now)
        standing.used_at = now
        if standing.denied:
            return DEACTIVATED
        return self._take(bucket, now, "tenant")

    async def check(self, key: str, limit: int, window_seconds: int, scope: str) -> Decision | None:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            decision = await self.exact.check(key, limit, window_seconds, scope)
            if decision is not None:
                self._buckets[key] = _Bucket(limit, limit / window_seconds, decision.remaining, now, now)
            return decision
        return self._take(bucket, now, scope)

    async def _first_tenant_request(
        self, tenant_id: str, subject: str, plan: str, limits_json: str, now: float
    ) -> Decision | str | None:
        result = await self.exact.check_tenant(tenant_id, subject, plan, limits_json)
        if result is None:
            return None
        self._subjects[subject] = _Standing(tenant_id, result == DEACTIVATED, now, now)
        if isinstance(result, Decision):
            self._buckets[keys.tenant_bucket(tenant_id)] = _Bucket(
                result.limit, result.limit / result.window_seconds, result.remaining, now, now, result.plan
            )
        return result

    def _take(self, bucket: _Bucket, now: float, scope: str) -> Decision:
        bucket.used_at = now
        available = bucket.available(now)
        allowed = available >= 1
        if allowed:
            bucket.spent += 1
            available -= 1
        else:
            RATE_LIMITED.labels(scope).inc()
        return Decision(
            allowed=allowed,
            limit=bucket.capacity,
            remaining=max(0, math.floor(available)),
            reset_seconds=math.ceil(max(0.0, bucket.capacity - available) / bucket.per_second),
            retry_after_seconds=max(1, math.ceil((1 - available) / bucket.per_second)),
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await sleep_unless_stopped(stop, self.sync_seconds)
            try:
                await self.sync()
            except (RedisError, OSError) as error:
                self._outage.failed(error)
                continue
            self._outage.recovered()

    async def sync(self) -> None:
        """Spend what was admitted locally, read back what is left; refresh deny and plan."""
        now = time.monotonic()
        await self._sync_buckets(now)
        await self._sync_standing(now)
        for name, bucket in list(self._buckets.items()):
            if now - bucket.used_at > IDLE_SECONDS and not bucket.spent:
                del self._buckets[name]
        for subject, standing in list(self._subjects.items()):
            if now - standing.used_at > IDLE_SECONDS:
                del self._subjects[subject]

    async def _sync_buckets(self, now: float) -> None:
        dirty = [(name, bucket, bucket.spent) for name, bucket in self._buckets.items() if bucket.spent]
        if not dirty:
            return
        args: list[str | int] = []
        for _, bucket, spent in dirty:
            args += [bucket.capacity, repr(bucket.per_second / 1000), spent]
        left = await self._spend([name for name, _, _ in dirty], args)
        for (_, bucket, spent), tokens in zip(dirty, left, strict=True):
            bucket.tokens, bucket.synced_at, bucket.spent = float(tokens), now, bucket.spent - spent

    async def _sync_standing(self, now: float) -> None:
        active = [(s, st) for s, st in self._subjects.items() if now - st.used_at <= self.stale_after]
        if not active:
            return
        names = [name for subject, st in active for name in (keys.deny(subject), keys.plan(st.tenant_id))]
        answers = await self._standing_script(names, [])
        for (_, standing), denied, plan in zip(active, answers[::2], answers[1::2], strict=True):
            standing.denied, standing.checked_at = bool(denied), now
            bucket = self._buckets.get(keys.tenant_bucket(standing.tenant_id))
            override = plan.decode() if isinstance(plan, bytes) else plan
            if bucket is not None and override and override != bucket.plan:
                del self._buckets[keys.tenant_bucket(standing.tenant_id)]  # next request: the new tier

    async def aclose(self) -> None:
        await self._spend.aclose()
        await self._standing_script.aclose()
        await self.exact.aclose()
