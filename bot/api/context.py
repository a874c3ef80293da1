"""What the API's handlers use, set on the application by bot.app once its resources exist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

from bot.config import MiniProgramConfig
from bot.outbound.rate_limit import RateLimiter
from bot.outbound.wechat_api import MiniProgramClient
from handlers.settings import Settings


@dataclass(frozen=True)
class ApiResources:
    redis: aioredis.Redis
    settings: Settings
    mini: MiniProgramClient
    config: MiniProgramConfig
    limiter: RateLimiter
    media_dir: Path
    committee_name: str  # replies are signed with it


API = web.AppKey("api_resources", ApiResources)


def resources(request: web.Request) -> ApiResources:
    return request.config_dict[API]
