"""Test harness: the fake WeChat platform and the service, both on real local HTTP servers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import INBOX, JOBS, create_app, server_options
from bot.config import Config, build_config
from bot.demo.fake_callbacks import MiniProgramPushSender, OfficialAccountSender, WeComAppSender, WeComBotSender
from bot.demo.fake_platform import FakePlatform, create_fake_platform
from handlers.admin.roster import import_roster
from models.timeutil import Clock, ManualClock, get_clock, set_clock

ROSTER = Path(__file__).resolve().parent.parent / "roster.example.toml"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TRIAGE_HOOK = "test-triage-hook"
WECOM_AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
BOT_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
BOT_TOKEN = "testbottoken"


class Stack:
    """`clock`: a `ManualClock` makes the service's business time stand still until `advance` moves it."""

    def __init__(self, database_url: str, redis_url: str, tmp_path: Path, clock: ManualClock | None = None) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self._previous_clock: Clock | None = None
        self.platform = FakePlatform.for_config(self.base_config(database_url, redis_url))
        self.database_url = database_url
        self.redis_url = redis_url
        self.fake_server: TestServer | None = None
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.config: Config | None = None
        self.port: int | None = None

    def base_config(self, database_url: str, redis_url: str, fake_url: str = "http://127.0.0.1:1") -> Config:
        return build_config(
            {
                "database": {"url": database_url},
                "redis": {"url": redis_url},
                "wechat": {
                    "app_id": "wxtestapp0000001",
                    "app_secret": "test-secret",
                    "token": "testtoken",
                    "encoding_aes_key": AES_KEY,
                    "api_base_url": f"{fake_url}/wechat",
                    "request_timeout_s": "2s",
                },
                "wecom": {
                    "api_base_url": f"{fake_url}/wecom",
                    "triage_webhook_key": TRIAGE_HOOK,
                    "token": "testwecomtoken",
                    "encoding_aes_key": WECOM_AES_KEY,
                    "bot_token": BOT_TOKEN,
                    "bot_encoding_aes_key": BOT_AES_KEY,
                },
                "miniprogram": {"api_base_url": f"{fake_url}/wechat"},
                "intake": {"media_dir": str(self.tmp_path / "media"), "passive_reply_budget_s": "3s"},
            },
            environ={},
        )

    async def start(self, **config_overrides: Any) -> None:
        if self.clock is not None:
            self._previous_clock = get_clock()
            set_clock(self.clock)
        self.fake_server = TestServer(create_fake_platform(self.platform))
        await self.fake_server.start_server()
        fake_url = str(self.fake_server.make_url("")).rstrip("/")
        self.config = self.base_config(self.database_url, self.redis_url, fake_url)
        for section, values in config_overrides.items():
            self.config = replace(self.config, **{section: replace(getattr(self.config, section), **values)})
        self.session = aiohttp.ClientSession()
        await self.start_service()
        await import_roster(ROSTER)

    async def start_service(self) -> None:
        assert self.config is not None
        self.app = create_app(self.config, run_workers=False)
        # Served as `mashang serve` serves it (the same runner options); a restart comes back on the same port.
        self.runner = web.AppRunner(self.app, access_log=None, **server_options(self.config))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port or 0, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop_service(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def restart_service(self) -> None:
        await self.stop_service()
        await self.start_service()

    async def restart_with(self, **sections: dict[str, Any]) -> None:
        """Serve again with some settings changed, e.g. `server={"idle_timeout_s": 1.0}` (same database,
        Redis and port)."""
        assert self.config is not None
        for section, values in sections.items():
            self.config = replace(self.config, **{section: replace(getattr(self.config, section), **values)})
        await self.restart_service()

    async def stop(self) -> None:
        await self.stop_service()
        if self.fake_server is not None:
            await self.fake_server.close()
        if self.session is not None:
            await self.session.close()
        if self._previous_clock is not None:
            set_clock(self._previous_clock)
            self._previous_clock = None

    @property
    def callback_url(self) -> str:
        return self.url("/wechat/callback")

    def citizen(self, mode: str = "safe", **kwargs: Any) -> OfficialAccountSender:
        assert self.session is not None
        assert self.config is not None
        return OfficialAccountSender(
            self.session,
            self.callback_url,
            token=self.config.wechat.token,
            app_id=self.config.wechat.app_id,
            encoding_aes_key=self.config.wechat.encoding_aes_key,
            mode=mode,
            platform=self.platform,
            **kwargs,
        )

    def url(self, path: str) -> str:
        assert self.runner is not None
        return f"http://127.0.0.1:{self.port}{path}"

    def wecom_user(self, **kwargs: Any) -> WeComAppSender:
        """WeCom posting a staff member's or member's single-chat message to our /wecom/callback."""
        assert self.session is not None
        assert self.config is not None
        wecom = self.config.wecom
        options: dict[str, Any] = {
            "token": wecom.token,
            "encoding_aes_key": wecom.encoding_aes_key,
            "corp_id": wecom.corp_id,
            "agent_id": wecom.agent_id,
        }
        return WeComAppSender(self.session, self.url("/wecom/callback"), **{**options, **kwargs})

    def bot(self, **kwargs: Any) -> WeComBotSender:
        """WeCom posting an @-mention of the smart bot (in the triage group by default) to our /wecom/bot."""
        assert self.session is not None
        assert self.config is not None
        wecom = self.config.wecom
        options: dict[str, Any] = {
            "token": wecom.bot_token,
            "encoding_aes_key": wecom.bot_encoding_aes_key,
            "api_base_url": wecom.api_base_url,
            "platform": self.platform,
        }
        return WeComBotSender(self.session, self.url("/wecom/bot"), **{**options, **kwargs})

    def triage_messages(self) -> list[str]:
        """What reached the triage group: the robot webhook key, or the appchat when one is configured."""
        assert self.config is not None
        wecom = self.config.wecom
        return [
            m.text
            for m in self.platform.messages
            if (m.channel == "webhook" and m.recipient == wecom.triage_webhook_key)
            or (m.channel == "appchat" and m.recipient == wecom.triage_chat_id)
        ]

    def bot_answers(self) -> list[str]:
        """What the smart bot said through response URLs (any group or single chat)."""
        return [m.text for m in self.platform.messages if m.channel == "smartbot"]

    async def make_jobs_due(self) -> int:
        """Every pending job becomes due now (tests skip the wait of a backoff or a rate limit)."""
        from models.jobs import Job, JobStatus
        from models.timeutil import now

        return await Job.filter(status=JobStatus.PENDING).update(run_at=now())

    async def run_jobs(self, timeout_s: float = 10.0) -> None:
        """Finish handling what has arrived (a bot callback is answered before it is handled), then
        run every due job, and the jobs those create, until nothing is due."""
        while True:
            await self.app[INBOX].drain()
            await self.app[JOBS].run_until_idle(timeout_s)
            if not await self.post_template_outcomes():
                return

    async def post_template_outcomes(self) -> int:
        """WeChat's TEMPLATESENDJOBFINISH event for each template message sent since the last call."""
        events = self.platform.take_template_finish_events()
        for openid, msgid, status in events:
            await self.citizen().event(openid, "TEMPLATESENDJOBFINISH", extra={"MsgID": msgid, "Status": status})
        return len(events)

    def wxa_push(self, data_format: str = "json", encoding_aes_key: str | None = None) -> MiniProgramPushSender:
        """WeChat posting to the mini-program's message-push URL."""
        assert self.session is not None
        assert self.config is not None
        return MiniProgramPushSender(
            self.session,
            self.url("/wxa/callback"),
            token=self.config.miniprogram.push_token,
            app_id=self.config.miniprogram.app_id,
            encoding_aes_key=encoding_aes_key,
            data_format=data_format,
        )

    async def deliver_media_checks(self, data_format: str = "json") -> list[tuple[str, str]]:
        """WeChat's side of media_check_async: fetch each image asked about (at the URL we gave, on this
        server), judge it, and push the wxa_media_check event. (trace_id, suggest) of each."""
        assert self.session is not None
        done = []
        for trace_id, media_url, openid in self.platform.take_media_checks():
            path = "/" + media_url.split("/", 3)[3]
            async with self.session.get(self.url(path)) as response:
                assert response.status == 200, (media_url, response.status)
                suggest = self.platform.media_suggest(await response.read())
            sender = self.wxa_push(data_format, self.config.miniprogram.push_encoding_aes_key or None)
            result = await sender.push(sender.media_check_event(trace_id, suggest, openid))
            assert result.status == 200, result.body
            done.append((trace_id, suggest))
        return done

    async def advance(self, seconds: float) -> None:
        """The jobs due now run; then `seconds` of business time pass at once (needs a `ManualClock`), and
        the jobs that fell due in them run, and the jobs those create, until nothing is due."""
        assert self.clock is not None, "advance needs Stack(clock=ManualClock())"
        await self.run_jobs()  # what is due now happens now, as the service's workers would do it
        self.clock.advance(seconds)
        await self.run_jobs()

    async def recover_inbox(self) -> int:
        return await self.app[INBOX].recover_pending(older_than_s=0)

    def texts_to(self, openid: str) -> list[str]:
        return [m.text for m in self.platform.sent_to(openid)]
