"""Rate limits with the `limits` library, in this process's memory or on Redis.

On Redis, moving windows shared by every API process (atomic Lua scripts in `limits`), so the
counts are exact however many processes serve. In memory, the sliding window counter: constant
work per hit (the moving window's per-hit list costs more as a window fills), exact within the
first window and a weighted estimate across window boundaries. If Redis stops answering, limits
fall back to this process's memory and say so in the log rather than failing requests.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from pricewise.core.errors import TooMany

log = logging.getLogger("pricewise.ratelimit")

TIER_ESTIMATES_PER_HOUR = {"trial": 10, "pro": 100, "enterprise": 1000}


REDIS_TIMEOUT = 1.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when a slot frees up

    def headers(self) -> dict[str, str]:
        h = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
             "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            h["Retry-After"] = str(max(1, self.reset - math.floor(time.time())))
        return h


class RateLimiter:
    def __init__(self, redis_url: str | None, per_minute: int, ai_per_minute: int,
                 estimates_per_hour: dict[str, int] | None = None) -> None:
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._redis: MovingWindowRateLimiter | None = None
        if redis_url:
            # Short timeouts: a Redis that hangs (rather than refusing) costs a request one
            # second before the memory fallback, not the client's default of waiting on.
            storage: Storage = RedisStorage("async+" + redis_url, implementation="redispy",
                                            socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
            self._redis = MovingWindowRateLimiter(storage)
        self.per_minute = RateLimitItemPerMinute(per_minute)
        self.ai_per_minute = RateLimitItemPerMinute(ai_per_minute)
        self.estimates_per_hour = {**TIER_ESTIMATES_PER_HOUR, **(estimates_per_hour or {})}

    @property
    def backend(self) -> str:
        return "redis" if self._redis else "memory"

    async def _hit(self, item: RateLimitItem, key: str) -> Decision:
        limiter = self._redis or self._memory
        try:
            allowed = await limiter.hit(item, key)
            stats = await limiter.get_window_stats(item, key)
        except Exception as exc:  # Redis down: keep serving, on this process's counters
            log.warning("rate-limit storage unavailable (%s); using memory", type(exc).__name__)
            allowed = await self._memory.hit(item, key)
            stats = await self._memory.get_window_stats(item, key)
        return Decision(allowed, item.amount, max(0, stats.remaining), math.ceil(stats.reset_time))

    async def enforce(self, item: RateLimitItem, key: str, what: str) -> Decision:
        decision = await self._hit(item, key)
        if not decision.allowed:
            raise TooMany(f"rate limit exceeded: {item.amount} {what}; retry after "
                          f"{decision.headers()['Retry-After']} s", headers=decision.headers())
        return decision

    async def tenant(self, tenant_id: str) -> Decision:
        return await self.enforce(self.per_minute, f"all:{tenant_id}", "requests per minute")

    async def mcp(self, tenant_id: str) -> Decision:
        """/mcp calls: a budget of their own (the API's estimates may call it for the same tenant)."""
        return await self.enforce(self.per_minute, f"mcp:{tenant_id}", "MCP requests per minute")

    async def ai(self, tenant_id: str) -> Decision:
        return await self.enforce(self.ai_per_minute, f"ai:{tenant_id}", "AI requests per minute")

    async def estimates(self, tenant_id: str, tier: str) -> Decision:
        item = RateLimitItemPerHour(self.estimates_per_hour.get(tier, self.estimates_per_hour["trial"]))
        return await self.enforce(item, f"estimates:{tenant_id}", f"estimates per hour on the {tier} tier")

    async def key(self, item: RateLimitItem, key: str, what: str) -> Decision:
        return await self.enforce(item, key, what)

    async def reset(self) -> None:
        await self._memory.storage.reset()
        if self._redis:
            await self._redis.storage.reset()
