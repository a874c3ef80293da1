"""Who is on the web console: sessions in Redis, the CSRF token, and the lock after failed logins.

- A session is a random token in an HttpOnly, SameSite=Lax cookie (Secure when `server.public_base_url`
  is https), kept in Redis under its SHA-256 (`<prefix>console:session:<hash>`) with the staff key, its
  CSRF token, a fingerprint of the password hash it was opened with and the moment of its last request.
  It ends after `[console] idle_minutes` without a request (business time, so tests move the clock),
  when the account is disabled or its password changes (both checked against the database on every
  request), and at logout. Redis expires it too, as a backstop.
- Every form carries the session's CSRF token and every POST is refused (403) without it; the login form,
  before any session, carries a token that must match a cookie of its own (double submit).
- Five failed logins for one staff key, or from one address, lock that key or that address for 15
  minutes (`<prefix>console:lock:…`): the login page says so, and even the right password waits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from handlers.admin import accounts
from handlers.settings import Settings
from models.entities import Staff
from models.timeutil import now

COOKIE = "ms_console"
LOGIN_COOKIE = "ms_console_login"
FAILURES_TO_LOCK = 5
LOCK_MINUTES = 15
LOCK_S = LOCK_MINUTES * 60


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass
class Session:
    token: str
    staff: Staff
    csrf: str

    def csrf_ok(self, sent: str) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, redis: aioredis.Redis, settings: Settings, idle_minutes: int) -> None:
        self.redis = redis
        self.settings = settings
        self.idle_s = idle_minutes * 60

    def _key(self, token: str) -> str:
        return self.settings.key("console", "session", _digest(token))

    async def open(self, staff: Staff) -> Session:
        assert staff.password_hash is not None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        record = {
            "staff": staff.key,
            "csrf": csrf,
            "fp": accounts.fingerprint(staff.password_hash),
            "seen": now().timestamp(),
        }
        await self.redis.set(self._key(token), json.dumps(record), ex=self.idle_s + 60)
        return Session(token, staff, csrf)

    async def find(self, token: str | None, *, touch: bool = True) -> Session | None:
        """The live session of this cookie, or None (and the session gone) when it has ended."""
        if not token or len(token) > 100:
            return None
        key = self._key(token)
        raw = await self.redis.get(key)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            staff_key, csrf, fp, seen = str(record["staff"]), str(record["csrf"]), str(record["fp"]), record["seen"]
        except (ValueError, KeyError, TypeError):
            await self.redis.delete(key)
            return None
        moment = now().timestamp()
        staff = await Staff.get_or_none(key=staff_key)
        alive = (
            moment - float(seen) <= self.idle_s
            and staff is not None
            and accounts.may_log_in(staff)
            and staff.password_hash is not None
            and hmac.compare_digest(accounts.fingerprint(staff.password_hash), fp)
        )
        if not alive or staff is None:
            await self.redis.delete(key)
            return None
        if touch:
            record["seen"] = moment
            await self.redis.set(key, json.dumps(record), ex=self.idle_s + 60, xx=True)
        return Session(token, staff, csrf)

    async def close(self, token: str) -> None:
        await self.redis.delete(self._key(token))

    # ---- failed logins -------------------------------------------------------------------------------

    def _subjects(self, staff_key: str, address: str) -> list[str]:
        key = "".join(ch for ch in staff_key.lower() if ch.isalnum() or ch == "-")[:40]
        return [f"staff:{key}", f"ip:{address[:64]}"]

    async def locked(self, staff_key: str, address: str) -> bool:
        moment = now().timestamp()
        for subject in self._subjects(staff_key, address):
            until = await self.redis.get(self.settings.key("console", "lock", subject))
            if until is not None and float(until) > moment:
                return True
        return False

    async def failed(self, staff_key: str, address: str) -> tuple[bool, int]:
        """Count a failed login; (now locked, attempts left for the key before it locks)."""
        left = FAILURES_TO_LOCK
        locked = False
        for subject in self._subjects(staff_key, address):
            counter = self.settings.key("console", "failures", subject)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(counter, 0, nx=True, ex=LOCK_S)  # the window starts at the first failure
                pipe.incr(counter)
                _, count = await pipe.execute()
            if int(count) >= FAILURES_TO_LOCK:
                until = now().timestamp() + LOCK_S
                await self.redis.set(self.settings.key("console", "lock", subject), str(until), ex=LOCK_S)
                await self.redis.delete(counter)
                locked = True
            left = min(left, FAILURES_TO_LOCK - int(count))
        return locked, max(left, 0)

    async def succeeded(self, staff_key: str) -> None:
        await self.redis.delete(self.settings.key("console", "failures", self._subjects(staff_key, "")[0]))


def login_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(cookie: str | None, sent: str) -> bool:
    return bool(cookie) and bool(sent) and hmac.compare_digest(str(cookie).encode(), sent.encode())
