"""A Redis sliding-window rate limiter shared by every process (one Lua script per check, atomic).

WeCom drops messages over its limits without an error, so a sender asks for a slot before each send
and, when none is free, waits for the time `acquire` returns instead of sending.

Each bucket is a sorted set `<prefix>rl:<bucket>` of send times (milliseconds). A check removes the
entries older than the longest window, counts the entries inside every window, and either records
the send (returns 0) or returns how long until the oldest blocking entry leaves its window.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

# (limit, window_s): at most `limit` sends within any `window_s` seconds.
Limits = Sequence[tuple[int, float]]

# KEYS[1]: the bucket. ARGV[1]: now in ms ("" = Redis server time), ARGV[2]: a unique member,
# ARGV[3..]: limit, window_ms pairs. Returns 0 when the send was recorded, else the wait in ms.
_SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
if now == nil then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local longest = 0
for i = 3, #ARGV, 2 do
    local window = tonumber(ARGV[i + 1])
    if window > longest then longest = window end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - longest))
local wait = 0
for i = 3, #ARGV, 2 do
    local limit = tonumber(ARGV[i])
    local window = tonumber(ARGV[i + 1])
    local first = now - window
    local count = redis.call('ZCOUNT', KEYS[1], '(' .. first, '+inf')
    if count >= limit then
        local blocking = redis.call(
            'ZRANGEBYSCORE', KEYS[1], '(' .. first, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
        local free_at = tonumber(blocking[2]) + window
        if free_at - now > wait then wait = free_at - now end
    end
end
if wait > 0 then
    return math.max(1, math.ceil(wait))
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(longest))
return 0
"""


class RateLimiter:
    """Sliding windows in Redis. `clock` (seconds) replaces Redis server time, for tests and demos."""

    def __init__(
        self, redis: aioredis.Redis, key_prefix: str = "ms:", clock: Callable[[], float] | None = None
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self.clock = clock
        self._script = redis.register_script(_SLIDING_WINDOW)

    def key(self, bucket: str) -> str:
        return f"{self._prefix}rl:{bucket}"

    async def acquire(self, bucket: str, limits: Limits) -> float:
        """Take a slot: 0.0 when the send may go now (and is counted), else seconds until a slot frees."""
        if not limits:
            return 0.0
        args: list[str | int] = ["" if self.clock is None else int(self.clock() * 1000), secrets.token_hex(8)]
        for limit, window_s in limits:
            if limit < 1 or window_s <= 0:
                raise ValueError(f"bad rate limit {limit}/{window_s}s")
            args += [limit, int(window_s * 1000)]
        wait_ms = int(await self._script(keys=[self.key(bucket)], args=args))
        return wait_ms / 1000.0

    async def reset(self, bucket: str) -> None:
        """Forget every recorded send of `bucket` (tests; an operator after a limit change)."""
        await self._redis.delete(self.key(bucket))
