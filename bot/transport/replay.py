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

import asyncio
import hashlib
import logging
import time

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


# KEYS: the pairs' keys; ARGV: digest and TTL of each. 1: admitted (new, or seen with the same digest, or
# expired in between), 0: seen with another digest. One command for all the checks of a turn.
_ADMIT = """
local verdicts = {}
for index, key in ipairs(KEYS) do
  local digest = ARGV[2 * index - 1]
  if redis.call('SET', key, digest, 'NX', 'EX', ARGV[2 * index]) then
    verdicts[index] = 1
  else
    local earlier = redis.call('GET', key)
    verdicts[index] = (not earlier or earlier == digest) and 1 or 0
  end
end
return verdicts
"""


class ReplayGuard:
    def __init__(self, redis: aioredis.Redis, key_prefix: str, tolerance_s: float) -> None:
        self.redis = redis
        self.prefix = f"{key_prefix}seen:"
        self.tolerance_s = tolerance_s
        self._last_warning = 0.0
        # Checks asked for in one turn of the event loop go to Redis together, as one script call: a command
        # per callback cost about 70 µs of this process's CPU, a quarter of a whole callback; in a batch of
        # 16 a check costs under 10.
        self._queue: list[tuple[str, bytes, int, asyncio.Future[bool]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._script = redis.register_script(_ADMIT)

    async def admits(self, endpoint: str, timestamp: str, nonce: str, message: str) -> bool:
        """False for a (timestamp, nonce) this endpoint took before with a different message. Call it once
        the signature and the timestamp's freshness are checked (`timestamp` is Unix seconds)."""
        key = f"{self.prefix}{endpoint}:{timestamp}:{nonce}"
        digest = hashlib.blake2b(message.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        # Fresh while |now - timestamp| <= tolerance: remembered until then, and a second longer.
        ttl = max(1, int(int(timestamp) + self.tolerance_s - time.time()) + 1)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        self._queue.append((key, digest, ttl, answer))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)  # after the other callbacks of this turn have queued theirs
        return await answer

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.create_task(self._check(batch), name="replay-guard")
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _check(self, batch: list[tuple[str, bytes, int, asyncio.Future[bool]]]) -> None:
        try:
            args: list[bytes | int] = []
            for _, digest, ttl, _ in batch:
                args += (digest, ttl)
            admitted = await self._script(keys=[key for key, _, _, _ in batch], args=args)
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._last_warning >= 60:
                self._last_warning = now
                log.warning("replay guard unavailable (Redis: %r): callbacks are checked by signature only", exc)
            admitted = [1] * len(batch)
        for (_, _, _, answer), verdict in zip(batch, admitted, strict=True):
            if not answer.done():
                answer.set_result(bool(verdict))


async def refuse_replays(guard: ReplayGuard | None, endpoint: str, timestamp: str, nonce: str, message: str) -> None:
    """403 for a signed request whose (timestamp, nonce) `endpoint` took before with another message."""
    if guard is not None and not await guard.admits(endpoint, timestamp, nonce, message):
        raise web.HTTPForbidden(text="replayed timestamp and nonce")
