"""Sessions of the mini-program API: our own random token, never WeChat's session_key.

`POST /api/v1/session` exchanges a wx.login code (jscode2session) for a token kept in Redis under the
SHA-256 of the token (`<prefix>api:session:<hash>`, TTL `[miniprogram] session_ttl`), holding the
citizen's id and openid only: the session_key WeChat sends is dropped unread and never logged.

Routes that need the caller take them from `authenticated`:

    @authenticated
    async def handler(request: web.Request, citizen: Citizen) -> web.Response: ...

which answers 401 for a missing, malformed, expired or forged token, and 429 (with Retry-After) past
`[miniprogram] rate_limit_per_openid` requests a minute.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.api.context import ApiResources, resources
from bot.api.errors import ApiError
from handlers.texts import miniprogram as texts
from models.entities import Citizen

TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
WINDOW_S = 60.0


def _key(api: ApiResources, token: str) -> str:
    return api.settings.key("api", "session", hashlib.sha256(token.encode("ascii")).hexdigest())


async def open_session(api: ApiResources, citizen: Citizen) -> tuple[str, int]:
    """A new token for `citizen` and its lifetime in seconds."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    ttl = int(api.config.session_ttl)
    await api.redis.set(_key(api, token), json.dumps({"citizen_id": citizen.id, "openid": citizen.openid}), ex=ttl)
    return token, ttl


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", texts.UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="mashang"'})


async def current_citizen(request: web.Request) -> Citizen:
    """The citizen whose token the request carries, else 401; then their rate limit, else 429."""
    api = resources(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN.fullmatch(token):
        raise _unauthorized()
    raw = await api.redis.get(_key(api, token))
    if raw is None:
        raise _unauthorized()
    session = json.loads(raw)
    citizen = await Citizen.get_or_none(id=session["citizen_id"], openid=session["openid"])
    if citizen is None:
        raise _unauthorized()
    await check_rate(api, f"openid:{citizen.openid}", api.config.rate_limit_per_openid)
    return citizen


async def check_rate(api: ApiResources, bucket: str, per_minute: int) -> None:
    wait = await api.limiter.acquire(f"api:{bucket}", [(per_minute, WINDOW_S)])
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        raise ApiError(429, "rate_limited", texts.RATE_LIMITED, headers={"Retry-After": retry})


AuthenticatedHandler = Callable[[web.Request, Citizen], Awaitable[web.StreamResponse]]


def authenticated(handler: AuthenticatedHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler gets the authenticated citizen as its second argument (see the module)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        return await handler(request, await current_citizen(request))

    return wrapper
