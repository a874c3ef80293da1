"""What a CLI command needs to talk to the database and WeChat, opened and closed in one place.

    async with cli_services(config) as services:
        await services.wechat.create_qrcode(...)

Redis (the shared access-token cache) is `redis.url`, else the embedded server under
`redis.data_dir`: when `mashang serve` runs, its server is shared through the socket and left
running; otherwise one is started for the command and stopped after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import redis.asyncio as aioredis

from bot.config import Config
from bot.outbound.wechat_api import MiniProgramClient, WeChatClient
from bot.redis_store import EmbeddedRedis, connect
from models.db import close_db, init_db


@dataclass
class CliServices:
    config: Config
    redis: aioredis.Redis
    session: aiohttp.ClientSession
    wechat: WeChatClient
    miniprogram: MiniProgramClient


@contextlib.asynccontextmanager
async def cli_services(config: Config, *, init_database: bool = True) -> AsyncIterator[CliServices]:
    """Database, Redis, an HTTP session and the WeChat clients; everything closed on the way out.

    `init_database=False`: the caller has the database open already (a test, a running service);
    it is neither opened nor closed here."""
    async with contextlib.AsyncExitStack() as stack:
        if init_database:
            await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
            stack.push_async_callback(close_db)
        url = config.redis.url
        if not url:
            embedded = EmbeddedRedis(config.redis.data_dir)
            await embedded.start()
            stack.push_async_callback(embedded.stop)  # stops only a server this command started
            url = embedded.url
        redis = connect(url)
        stack.push_async_callback(redis.aclose)
        await redis.ping()
        session = await stack.enter_async_context(aiohttp.ClientSession())
        timeout_s, key_prefix = config.wechat.request_timeout_s, config.redis.key_prefix
        wechat = WeChatClient(
            session,
            redis,
            app_id=config.wechat.app_id,
            app_secret=config.wechat.app_secret,
            base_url=config.wechat.api_base_url,
            timeout_s=timeout_s,
            key_prefix=key_prefix,
        )
        miniprogram = MiniProgramClient(
            session,
            redis,
            app_id=config.miniprogram.app_id,
            app_secret=config.miniprogram.app_secret,
            base_url=config.miniprogram.api_base_url,
            timeout_s=timeout_s,
            key_prefix=key_prefix,
        )
        yield CliServices(config, redis, session, wechat, miniprogram)
