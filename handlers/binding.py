"""Binding codes for members without WeCom: their shape, and the limit on guessing them.

A code is CODE_LENGTH characters from an alphabet without look-alikes (no 0/O, 1/I/L): 31**12 ≈ 8·10**17
codes, so that within a code's lifetime (three days) and under the limits below (at most
EVERYONE_LIMIT failed tries an hour from everybody together) guessing one is hopeless. People type it as
printed, in groups with spaces, in lower case, or with full-width characters: all read the same.

Failed tries are counted in Redis per openid and for everybody together (counters with a TTL). Past a
limit, binding is locked for LOCK_S (that openid, or everybody): the sender is told until when, and the
triage group hears of it once per lock-out.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis.asyncio as aioredis

from handlers.settings import Settings
from models.timeutil import get_clock, now

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
GROUP = 4  # printed as "K7QM 3XPA W9RT"

# What makes `绑定 X` a binding attempt: X is code-shaped (any letters and digits of the code's length, so
# that a code typed with a look-alike is still answered as a wrong code), or the 6 digits of the codes of
# earlier versions (refused: they were short enough to guess). Anything else is a citizen's message.
_CODE_SHAPED = re.compile(rf"[A-Z0-9]{{{CODE_LENGTH}}}|\d{{6}}")
_SEPARATORS = re.compile(r"[\s\-_.·]+")

SENDER_LIMIT = 5  # failed tries of one openid within WINDOW_S ...
EVERYONE_LIMIT = 30  # ... or of everybody together
WINDOW_S = 3600.0
LOCK_S = 3600.0
_EVERYONE = "*"  # the scope of the counters for everybody (never an openid)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def display(code: str) -> str:
    """The code as printed for the member: groups of four."""
    return " ".join(code[index : index + GROUP] for index in range(0, len(code), GROUP))


def read_code(text: str) -> str | None:
    """The code `text` was typed as (upper case, no separators), or None if it does not look like one."""
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()
    return compact if _CODE_SHAPED.fullmatch(compact) else None


def may_be_valid(code: str) -> bool:
    """Only codes of the current shape are looked up (an earlier version's 6 digits never are)."""
    return len(code) == CODE_LENGTH and all(char in ALPHABET for char in code)


@dataclass(frozen=True)
class Lockout:
    until: datetime
    everyone: bool  # binding is locked for everybody, not only for this sender
    failures: int = 0  # the failed tries that started it (0: an earlier lock-out still running)


def _lock_key(settings: Settings, scope: str) -> str:
    return settings.key("bind-lock", scope)


def _count_key(settings: Settings, scope: str) -> str:
    return settings.key("bind-fail", scope)


def _until(real_seconds: float) -> datetime:
    return now() + timedelta(seconds=get_clock().to_business_seconds(max(0.0, real_seconds)))


async def lockout(redis: aioredis.Redis, settings: Settings, openid: str) -> Lockout | None:
    """The lock-out that keeps `openid` from binding now, if any (the everybody one first)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.pttl(_lock_key(settings, _EVERYONE))
        pipe.pttl(_lock_key(settings, openid))
        everyone_ms, sender_ms = await pipe.execute()
    if int(everyone_ms) > 0:
        return Lockout(_until(int(everyone_ms) / 1000), everyone=True)
    if int(sender_ms) > 0:
        return Lockout(_until(int(sender_ms) / 1000), everyone=False)
    return None


async def record_failure(redis: aioredis.Redis, settings: Settings, openid: str) -> list[Lockout]:
    """Count a failed try of `openid`; the lock-outs it starts (each is started, and returned, once)."""
    started: list[Lockout] = []
    for scope, limit in ((openid, SENDER_LIMIT), (_EVERYONE, EVERYONE_LIMIT)):
        key = _count_key(settings, scope)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        if int(ttl) < 0:  # a new counter (or one a crash left without its TTL)
            await redis.expire(key, int(WINDOW_S))
        if int(count) >= limit and await redis.set(_lock_key(settings, scope), "1", ex=int(LOCK_S), nx=True):
            await redis.delete(key)  # after the lock-out, counting starts afresh
            started.append(Lockout(_until(LOCK_S), everyone=scope == _EVERYONE, failures=int(count)))
    return started


async def forget_failures(redis: aioredis.Redis, settings: Settings, openid: str) -> None:
    """A successful binding: the sender's earlier slips no longer count."""
    await redis.delete(_count_key(settings, openid))
