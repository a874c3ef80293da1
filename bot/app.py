"""The aiohttp application: resources in cleanup_ctx, configuration loaded here and never at import."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from tortoise.transactions import in_transaction

from bot import api as mini_api
from bot.api.context import API, ApiResources
from bot.config import Config, load_config
from bot.ingest.inbox import Inbox
from bot.job_runner import JobHandler, JobRunner
from bot.outbound.alerts import Alerts
from bot.outbound.citizen import CitizenDelivery, MediaDownloader
from bot.outbound.content_check import MediaChecks
from bot.outbound.miniprogram import CitizenChannels, SubscribeDelivery, UnionidFetcher
from bot.outbound.rate_limit import RateLimiter
from bot.outbound.wechat_api import MiniProgramClient, WeChatClient, WeComClient
from bot.outbound.wecom import WeComDelivery
from bot.redis_store import EmbeddedRedis, connect
from bot.transport.miniprogram_push import MiniProgramPushTransport
from bot.transport.official_account import OfficialAccountTransport
from bot.transport.replay import ReplayGuard
from bot.transport.wecom import WeComAppTransport, WeComBotTransport
from bot.web import case_page, console
from bot.web import media as media_files
from handlers import jobs as handler_jobs
from handlers.cases import queue as triage_queue
from handlers.cases.media import DOWNLOAD_MEDIA
from handlers.cases.new_cases import BatchIntake
from handlers.cases.outbox import SEND_BOT_REPLY, SEND_CITIZEN, SEND_REPORT_FILE, SEND_TRIAGE, SEND_WECOM_USER
from handlers.miniprogram.identity import FETCH_UNIONID
from handlers.routers import citizen, member, staff
from handlers.routing import Router
from handlers.settings import Settings
from handlers.topics import opinions as topic_opinions
from handlers.topics.opinions import MEDIA_CHECK
from models import retention
from models.db import close_db, init_db, wal_checkpoints
from models.sla import SlaPolicy

log = logging.getLogger(__name__)
QUEUE_CHECK_S = 180.0  # how often the triage queue in Redis is compared with the database

CONFIG = web.AppKey("config", Config)
REDIS = web.AppKey("redis", aioredis.Redis)
HTTP = web.AppKey("http", aiohttp.ClientSession)
WECHAT = web.AppKey("wechat", WeChatClient)
MINI = web.AppKey("mini", MiniProgramClient)
SETTINGS = web.AppKey("settings", Settings)
INBOX = web.AppKey("inbox", Inbox)
JOBS = web.AppKey("jobs", JobRunner)
OA_TRANSPORT = web.AppKey("oa_transport", OfficialAccountTransport)
WECOM = web.AppKey("wecom", WeComClient)
WECOM_APP_TRANSPORT = web.AppKey("wecom_app_transport", WeComAppTransport)
WECOM_BOT_TRANSPORT = web.AppKey("wecom_bot_transport", WeComBotTransport)
WECOM_DELIVERY = web.AppKey("wecom_delivery", WeComDelivery)
WXA_TRANSPORT = web.AppKey("wxa_transport", MiniProgramPushTransport)


def handler_settings(config: Config) -> Settings:
    return Settings(
        tracking_prefix=config.tracking.prefix.upper(),
        group_window_s=config.intake.group_window_s,
        scan_binding_ttl_s=config.intake.scan_binding_ttl_s,
        redis_prefix=config.redis.key_prefix,
        sla=SlaPolicy.from_values(**asdict(config.sla)),
        public_base_url=config.server.public_base_url,
        case_link_ttl_s=config.case_page.link_ttl,
        media_link_ttl_s=config.intake.media_link_ttl,
        similar_threshold=config.similar.threshold,
        similar_max_cases=config.similar.max_cases,
        triage_group_files=bool(config.wecom.triage_chat_id),
    )


def build_router() -> Router:
    """Staff first, then members (and binding, and refusing strangers), then citizens."""
    root = Router("root")
    root.include_router(staff.router)
    root.include_router(member.router)
    root.include_router(citizen.router)
    return root


def mount_jobs(runner: JobRunner, delivery: dict[str, JobHandler], **resources: Any) -> None:
    """Every job kind handlers declare gets its runner: the handlers' own, with their parameters beyond
    `job` filled from `resources` by name (inspected once, here), and the bot's senders for the rest."""
    missing = set(handler_jobs.DELIVERED_BY_BOT) - set(delivery)
    if missing:
        raise RuntimeError(f"no sender for job kinds {sorted(missing)}")
    for kind, send in delivery.items():
        runner.register(kind, send)
    for declared in handler_jobs.HANDLED:
        names = [name for name in inspect.signature(declared.run).parameters if name != "job"]
        bound = functools.partial(declared.run, **{name: resources[name] for name in names})
        runner.register(declared.kind, bound, transactional=declared.transactional)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[CONFIG].database.url
    await init_db(url, background_checkpoints=True, auto_upgrade=app[CONFIG].database.auto_upgrade)
    try:
        async with wal_checkpoints(url):
            yield
    finally:
        await close_db()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG].redis
    embedded: EmbeddedRedis | None = None
    url = config.url
    if not url:
        embedded = EmbeddedRedis(config.data_dir)
        await embedded.start()
        url = embedded.url
        log.info("embedded Redis started at %s", url)
    client = connect(url)
    await client.ping()
    app[REDIS] = client
    yield
    await client.aclose()
    if embedded is not None:
        await embedded.stop()


async def clients_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    session = aiohttp.ClientSession()
    app[HTTP] = session
    app[WECHAT] = WeChatClient(
        session,
        app[REDIS],
        app_id=config.wechat.app_id,
        app_secret=config.wechat.app_secret,
        base_url=config.wechat.api_base_url,
        timeout_s=config.wechat.request_timeout_s,
        key_prefix=config.redis.key_prefix,
    )
    app[MINI] = MiniProgramClient(
        session,
        app[REDIS],
        app_id=config.miniprogram.app_id,
        app_secret=config.miniprogram.app_secret,
        base_url=config.miniprogram.api_base_url,
        timeout_s=config.wechat.request_timeout_s,
        key_prefix=config.redis.key_prefix,
    )
    app[WECOM] = WeComClient(
        session,
        app[REDIS],
        corp_id=config.wecom.corp_id,
        secret=config.wecom.secret,
        agent_id=config.wecom.agent_id,
        base_url=config.wecom.api_base_url,
        timeout_s=config.wechat.request_timeout_s,
        key_prefix=config.redis.key_prefix,
    )
    yield
    await session.close()


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = handler_settings(config)
    app[SETTINGS] = settings
    router = build_router()
    starts_a_case = citizen.new_case_test(router, settings, app[REDIS])
    inbox = Inbox(
        router,
        {"redis": app[REDIS], "settings": settings},
        batch_handler=BatchIntake(app[REDIS], settings, starts_a_case),
    )
    app[INBOX] = inbox
    queued = await triage_queue.rebuild(app[REDIS], settings)
    log.info("triage queue rebuilt from the database: cases waiting: %d", queued)
    replay_guard = ReplayGuard(app[REDIS], config.redis.key_prefix, config.wechat.timestamp_tolerance_s)
    app[OA_TRANSPORT] = OfficialAccountTransport(
        inbox,
        token=config.wechat.token,
        app_id=config.wechat.app_id,
        encoding_aes_key=config.wechat.encoding_aes_key,
        accepted_modes=config.wechat.modes(),
        timestamp_tolerance_s=config.wechat.timestamp_tolerance_s,
        passive_reply_budget_s=config.intake.passive_reply_budget_s,
        replay_guard=replay_guard,
        read_timeout_s=config.server.read_timeout_s,
    )
    app[WECOM_APP_TRANSPORT] = WeComAppTransport(
        inbox,
        token=config.wecom.token,
        encoding_aes_key=config.wecom.encoding_aes_key,
        corp_id=config.wecom.corp_id,
        agent_id=config.wecom.agent_id,
        timestamp_tolerance_s=config.wechat.timestamp_tolerance_s,
        passive_reply_budget_s=config.intake.passive_reply_budget_s,
        replay_guard=replay_guard,
        read_timeout_s=config.server.read_timeout_s,
    )
    app[WECOM_BOT_TRANSPORT] = WeComBotTransport(
        inbox,
        token=config.wecom.bot_token,
        encoding_aes_key=config.wecom.bot_encoding_aes_key,
        timestamp_tolerance_s=config.wechat.timestamp_tolerance_s,
        replay_guard=replay_guard,
        read_timeout_s=config.server.read_timeout_s,
        bot_names=config.wecom.bot_names,
    )
    app[WXA_TRANSPORT] = MiniProgramPushTransport(
        token=config.miniprogram.push_token,
        app_id=config.miniprogram.app_id,
        encoding_aes_key=config.miniprogram.push_encoding_aes_key,
        timestamp_tolerance_s=config.wechat.timestamp_tolerance_s,
        on_media_verdict=media_verdict,
        media_file=topic_opinions.image_to_fetch,
        replay_guard=replay_guard,
        read_timeout_s=config.server.read_timeout_s,
    )
    wecom_delivery = WeComDelivery(
        app[WECOM],
        RateLimiter(app[REDIS], config.redis.key_prefix),
        api_base_url=config.wecom.api_base_url,
        triage_webhook_key=config.wecom.triage_webhook_key,
        triage_chat_id=config.wecom.triage_chat_id,
    )
    app[WECOM_DELIVERY] = wecom_delivery
    runner = JobRunner(
        concurrency=config.server.workers,
        yield_to=inbox.busy,
        misconfigured_retry_s=config.jobs.misconfigured_retry,
        misconfigured_ceiling_s=config.jobs.misconfigured_ceiling,
        on_alert=Alerts(
            app[REDIS],
            config.redis.key_prefix,
            triage_chat_id=config.wecom.triage_chat_id,
            retry_s=config.jobs.misconfigured_retry,
            ceiling_s=config.jobs.misconfigured_ceiling,
        ),
    )
    mount_jobs(
        runner,
        delivery={
            SEND_CITIZEN: CitizenChannels(
                CitizenDelivery(app[WECHAT], config.wechat, settings, config.miniprogram.app_id),
                SubscribeDelivery(app[MINI], config.miniprogram),
            ).send,
            SEND_WECOM_USER: wecom_delivery.send_user,
            SEND_TRIAGE: wecom_delivery.send_triage,
            SEND_BOT_REPLY: wecom_delivery.send_bot_reply,
            SEND_REPORT_FILE: wecom_delivery.send_report_file,
            DOWNLOAD_MEDIA: MediaDownloader(app[WECHAT], Path(config.intake.media_dir)).download,
            FETCH_UNIONID: UnionidFetcher(app[WECHAT]).fetch,
            MEDIA_CHECK: MediaChecks(app[MINI], config.server.public_base_url).check,
        },
        redis=app[REDIS],
        settings=settings,
    )
    app[JOBS] = runner
    app[API] = ApiResources(
        redis=app[REDIS],
        settings=settings,
        mini=app[MINI],
        config=config.miniprogram,
        limiter=RateLimiter(app[REDIS], config.redis.key_prefix),
        media_dir=Path(config.intake.media_dir),
        committee_name=config.poster.committee_name,
    )
    yield
    await inbox.close()


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Background work of `mashang serve`: the job runner, the inbox recovery sweep, every few minutes a
    check of the triage queue against the database and, hourly, pruning of handled inbox rows and
    finished jobs past `[retention]`."""
    runner = app[JOBS]
    inbox = app[INBOX]
    config = app[CONFIG]
    runner.start()

    async def recover_forever() -> None:
        older_than = 0.0  # at start every pending row is a leftover of an earlier process
        while True:
            try:
                count = await inbox.recover_pending(older_than_s=older_than)
                if count:
                    log.info("recovered %d pending inbox messages", count)
            except Exception:
                log.exception("inbox recovery failed; will try again")
            older_than = 10.0
            await asyncio.sleep(15)

    async def prune_forever() -> None:
        await asyncio.sleep(60)  # not in the way of the start
        while True:
            if inbox.busy():  # a burst of callbacks goes first
                await asyncio.sleep(60)
                continue
            try:
                kept = config.retention
                pruned = await retention.prune(kept.inbox, kept.jobs, kept.uploads, kept.requests)
                if pruned:
                    log.info(
                        "pruned %d handled inbox rows, %d finished jobs, %d unused uploads, %d request answers, "
                        "%d expired voice links",
                        pruned.inbox_rows,
                        pruned.jobs,
                        pruned.uploads,
                        pruned.requests,
                        pruned.media_links,
                    )
            except Exception:
                log.exception("pruning old inbox rows and jobs failed; will try again")
            await asyncio.sleep(3600)

    async def check_queue_forever() -> None:
        """The triage queue lives in Redis: after a flush or restart of Redis, or drift, rebuild it."""
        while True:
            await asyncio.sleep(QUEUE_CHECK_S)
            if inbox.busy():  # a burst of callbacks goes first
                continue
            try:
                rebuilt = await triage_queue.check(app[REDIS], app[SETTINGS])
                if rebuilt is not None:
                    log.warning("triage queue was out of step with the database: rebuilt, %d cases waiting", rebuilt)
            except Exception:
                log.exception("checking the triage queue failed; will try again")

    sweepers = [
        asyncio.create_task(recover_forever(), name="inbox-recovery"),
        asyncio.create_task(prune_forever(), name="retention"),
        asyncio.create_task(check_queue_forever(), name="triage-queue-check"),
    ]
    yield
    for sweeper in sweepers:
        sweeper.cancel()
    for sweeper in sweepers:
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    await runner.stop()


async def health(request: web.Request) -> web.Response:
    await request.app[REDIS].ping()
    return web.json_response({"status": "ok"})


async def oa_verify(request: web.Request) -> web.Response:
    return await request.app[OA_TRANSPORT].verify(request)


async def oa_receive(request: web.Request) -> web.Response:
    return await request.app[OA_TRANSPORT].receive(request)


async def media_verdict(trace_id: str, suggest: str) -> bool:
    async with in_transaction():
        return await topic_opinions.media_verdict(trace_id, suggest)


async def wxa_verify(request: web.Request) -> web.Response:
    return await request.app[WXA_TRANSPORT].verify(request)


async def wxa_receive(request: web.Request) -> web.Response:
    return await request.app[WXA_TRANSPORT].receive(request)


async def wxa_media(request: web.Request) -> web.StreamResponse:
    return await request.app[WXA_TRANSPORT].media(request)


async def wecom_app_verify(request: web.Request) -> web.Response:
    return await request.app[WECOM_APP_TRANSPORT].verify(request)


async def wecom_app_receive(request: web.Request) -> web.Response:
    return await request.app[WECOM_APP_TRANSPORT].receive(request)


async def wecom_bot_verify(request: web.Request) -> web.Response:
    return await request.app[WECOM_BOT_TRANSPORT].verify(request)


async def wecom_bot_receive(request: web.Request) -> web.Response:
    return await request.app[WECOM_BOT_TRANSPORT].receive(request)


# What a request may be, before any handler runs: WeChat's and WeCom's callbacks have a request line of a
# few hundred bytes (path and signed query) and a handful of short headers.
MAX_LINE_BYTES = 4096
MAX_HEADER_BYTES = 4096
MAX_HEADERS = 64


def server_options(config: Config) -> dict[str, Any]:
    """How `mashang serve` (and the test harness) serve the app: keyword arguments of `web.AppRunner`.

    aiohttp has no separate header timeout: the keep-alive timer runs from the moment a connection opens
    and closes it when no whole request has arrived by then, which is what stops slow-header clients
    (the default, an hour, let 1,500 of them hold their sockets). A body is bounded by `read_timeout_s`
    (`signing.read_body`, in each transport) and by `max_body_bytes` (413).

    Behind a reverse proxy (nginx), keep its limits at or below these: `client_header_timeout` and
    `client_body_timeout` 10s, `client_max_body_size 64k` (`max_body_bytes`), `large_client_header_buffers
    4 4k`, and for upstream keep-alive `keepalive_timeout` shorter than `idle_timeout_s` (nginx's default
    is 60 s: a request sent on a connection this side has just closed fails with 502). The proxy's
    `proxy_read_timeout` can stay at its default: answers go out within WeChat's 5 s."""
    server = config.server
    return {
        "keepalive_timeout": server.idle_timeout_s,
        "max_line_size": MAX_LINE_BYTES,
        "max_field_size": MAX_HEADER_BYTES,
        "max_headers": MAX_HEADERS,
        "lingering_time": 2.0,  # after an early answer (413, 408), how long an unread body is drained
        # A request whose client has gone (WeChat gives up after 5 s and retries) stops waiting: a passive
        # reply not yet claimed goes to its retry or through the outbox, not into the closed connection.
        "handler_cancellation": True,
    }


def create_app(
    config: Config | None = None, *, config_path: str | None = None, run_workers: bool = True
) -> web.Application:
    """Build the service. `run_workers=False` leaves the job runner to the caller (tests step it)."""
    config = config or load_config(config_path)
    for warning in config.wechat.warnings():
        log.warning("%s", warning)
    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(clients_ctx)
    app.cleanup_ctx.append(services_ctx)
    if run_workers:
        app.cleanup_ctx.append(workers_ctx)
    app.router.add_get("/healthz", health)
    app.router.add_get("/wechat/callback", oa_verify)
    app.router.add_post("/wechat/callback", oa_receive)
    app.router.add_get("/wxa/callback", wxa_verify)
    app.router.add_post("/wxa/callback", wxa_receive)
    app.router.add_get("/wxa/media/{token}", wxa_media)
    app.router.add_get("/wecom/callback", wecom_app_verify)
    app.router.add_post("/wecom/callback", wecom_app_receive)
    app.router.add_get("/wecom/bot", wecom_bot_verify)
    app.router.add_post("/wecom/bot", wecom_bot_receive)
    case_page.add_routes(app, redis=REDIS, settings=SETTINGS)
    media_files.add_routes(app, media_dir=Path(config.intake.media_dir))
    console.add_routes(app, redis=REDIS, settings=SETTINGS, config=CONFIG)
    app.add_subapp(mini_api.PREFIX, mini_api.create_api())
    return app
