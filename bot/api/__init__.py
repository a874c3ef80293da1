"""The mini-program's JSON API under `/api/v1` (a sub-application with its own error middleware).

- `auth`: sessions (our token in Redis) and `authenticated`, which hands a handler the citizen
- `errors`: the one error shape and the middleware that makes every failure take it
- `body`: JSON bodies (415 / 413 / 400 / 422 on an unknown field)
- `uploads`: multipart files, checked by their bytes
- `routes`: the mini-program's routes; `stats`: the console's figures, for staff tokens
- `openapi`: their description, served at /api/v1/openapi.json
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.api.auth import check_rate
from bot.api.context import resources
from bot.api.errors import errors_middleware
from bot.api.routes import add_routes
from bot.api.stats import add_stats_routes

PREFIX = "/api/v1"


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.remote or "unknown"


@web.middleware
async def ip_rate_limit(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    api = resources(request)
    await check_rate(api, f"ip:{client_address(request, api.config.trust_forwarded_for)}", api.config.rate_limit_per_ip)
    return await handler(request)


def create_api() -> web.Application:
    """The sub-application; the caller mounts it at PREFIX and sets `bot.api.context.API` at start."""
    api = web.Application(middlewares=[errors_middleware, ip_rate_limit])
    add_routes(api)
    add_stats_routes(api)
    return api
