"""The replay guard: a signed request's (timestamp, nonce) pair is taken once within the tolerance window.

The timestamp check alone leaves the whole tolerance (300 s) to replay a captured request; in plain mode,
whose signature covers only the query string, the replay may even carry a made-up body. So each endpoint
remembers the pairs it has seen (Redis SET NX, expiring when the timestamp stops being fresh) with a
digest of the message: the body in plain mode, the decrypted message in the encrypted ones (so a retry
encrypted afresh is still the same message).

WeChat's own retries: WeChat documents only that it tries three times and that retries are recognised
by MsgId (events by FromUserName + CreateTime); whether a retry carries a new timestamp and nonce is not
documented. So a pair seen before *with the same message* is let through:
it is a retry, or a replay that can do nothing a retry cannot, and the inbox's dedupe key answers it as
a retry (the stored passive reply or an empty 200). A pair seen before with *another* message is a
replay with a forged body: 403.

Redis unavailable: the guard lets the request through (logged, at most once a minute). Messages must
not be lost to a Redis outage (the inbox stores them in the database); signature and timestamp still hold.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class ReplayGuard:
    def __init__(self, redis: aioredis.Redis, key_prefix: str, tolerance_s: float) -> None:
        self.redis = redis
        self.prefix = f"{key_prefix}seen:"
        self.tolerance_s = tolerance_s
        self._last_warning = 0.0

    async def admits(self, endpoint: str, timestamp: str, nonce: str, message: str) -> bool:
        """False for a (timestamp, nonce) this endpoint took before with a different message. Call it once
        the signature and the timestamp's freshness are checked (`timestamp` is Unix seconds)."""
        key = f"{self.prefix}{endpoint}:{timestamp}:{nonce}"
        digest = hashlib.blake2b(message.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        # Fresh while |now - timestamp| <= tolerance: remembered until then, and a second longer.
        ttl = max(1, int(int(timestamp) + self.tolerance_s - time.time()) + 1)
        try:
            if await self.redis.set(key, digest, nx=True, ex=ttl):
                return True
            earlier = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._last_warning >= 60:
                self._last_warning = now
                log.warning("replay guard unavailable (Redis: %r): callbacks are checked by signature only", exc)
            return True
        return earlier is None or earlier == digest  # None: it expired in between


async def refuse_replays(guard: ReplayGuard | None, endpoint: str, timestamp: str, nonce: str, message: str) -> None:
    """403 for a signed request whose (timestamp, nonce) `endpoint` took before with another message."""
    if guard is not None and not await guard.admits(endpoint, timestamp, nonce, message):
        raise web.HTTPForbidden(text="replayed timestamp and nonce")
