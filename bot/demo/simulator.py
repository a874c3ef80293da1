"""`mashang simulate`: be a citizen in a terminal against a running `mashang serve --demo`.

You type what a citizen types in WeChat; the simulator signs and encrypts it exactly as WeChat does,
posts it to the service's callback, and shows what WeChat would show: the passive reply, and the
customer-service or template messages the service sends later (read from the fake platform).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp

from bot.config import Config
from bot.demo.fake_callbacks import CallbackMode, CallbackResult, OfficialAccountSender, WeComAppSender
from bot.demo.fake_platform import MISCONFIGURATIONS, FakePlatformControl
from handlers.texts.markdown import plain

HELP = """命令（直接输入文字即以当前身份发送文字消息）：
  /points              列出可以扫码的联系点
  /scan <key>          以已关注用户身份扫联系点的码（SCAN 事件）
  /follow <key>        以新用户身份扫码关注（subscribe 事件）
  /image [media_id]    发送一张图片        /voice <识别文字>   发送一段语音
  /location <地址>     发送位置            /link <标题> <网址> 发送链接
  /me <openid>         换一个群众身份       /wait [秒]          等待推送消息
  /as <企业微信userid>  以工作人员或委员身份在企业微信里发消息（示例花名册：lisi 工作人员，zhangsan、wangwu 委员）
  /citizen             回到群众身份         /help 显示本帮助    /quit 退出
  /outage [接口]       模拟微信/企业微信故障（默认全部接口，如 /outage message/custom/send），直到 /recover
  /recover             故障恢复            /expire             让全部 access_token 立即失效
  /misconfigure <错误码> 模拟配置错误（40164 IP白名单、40125、48001、40037、47003、45009、60020、93000、86003、60011），
                       直到 /fix；期间的消息在队列里等待，分拣群收到一条「配置错误」提醒
  /fix [错误码]         配置已修复（默认全部）；等待的消息在下一次重试时发出（mashang jobs list 查看）
命令里的 {code} 会换成最近一次回复或推送给模拟器（任一身份）的查询编号，分拣群卡片里的不算，例如：派 {code} 张三
分拣群（群机器人）里的新消息会自动显示为 [分拣群]。"""

_CODE = re.compile(r"[A-Za-z]{1,8}\d{11,}")
_CHANNEL_ZH = {
    "custom": "客服消息",
    "template": "模板消息",
    "subscribe": "订阅消息",
    "notice": "订阅通知",
    "wecom_text": "企业微信应用消息",
    "wecom_markdown": "企业微信应用消息",
    "smartbot": "智能机器人",
}


def as_shown(message: dict[str, Any]) -> str:
    """A pushed message as its client shows it: WeCom renders a markdown message (its markers are
    not seen); every other kind of message is shown exactly as sent, markers and all."""
    text = str(message["text"])
    return plain(text) if message.get("msgtype") == "markdown" else text


def accepted_mode(wanted: str, accepted: frozenset[str]) -> CallbackMode:
    """`wanted` if the service takes it, else the mode it does take (safe first)."""
    for mode in (wanted, "safe", "compat", "plain"):
        if mode in accepted:
            return cast(CallbackMode, mode)
    return "plain"  # pragma: no cover - the configuration always accepts at least one mode


class Simulator:
    def __init__(self, config: Config, session: aiohttp.ClientSession, openid: str, mode: str, platform_url: str):
        self.config = config
        self.openid = openid
        self.control = FakePlatformControl(session, platform_url)
        self.sender = OfficialAccountSender(
            session,
            f"{config.server.public_base_url}/wechat/callback",
            token=config.wechat.token,
            app_id=config.wechat.app_id,
            encoding_aes_key=config.wechat.encoding_aes_key or None,
            mode=accepted_mode(mode, config.wechat.modes()),
            platform=self.control,  # opens the fake's customer-service window like WeChat does
        )
        self.wecom = WeComAppSender(
            session,
            f"{config.server.public_base_url}/wecom/callback",
            token=config.wecom.token,
            encoding_aes_key=config.wecom.encoding_aes_key,
            corp_id=config.wecom.corp_id,
            agent_id=config.wecom.agent_id,
        )
        self.wecom_user: str | None = None  # set: we speak as this WeCom user (staff or member)
        self.group_key = config.wecom.triage_chat_id or config.wecom.triage_webhook_key
        self.seen_index = -1
        self.seen_group_index = -1
        self.session_start_index: int | None = None
        self.seen_by: dict[str, int] = {}
        self.generation: str | None = None  # the fake platform's record we are reading (see notice_restart)
        self._media_ids = itertools.count(1)
        self.last_code = ""

    def say(self, text: str, *, remember_code: bool = True) -> None:
        """Print a line; its last tracking code becomes {code} unless it is somebody else's (a group card)."""
        codes = _CODE.findall(text) if remember_code else []
        if codes:
            self.last_code = codes[-1]
        print(text, flush=True)

    @property
    def me(self) -> str:
        return self.wecom_user or self.openid

    async def start(self) -> None:
        """(Re)introduce ourselves; a new identity sees what reached it since the simulator started."""
        if self.session_start_index is None:
            everything = await self.control.messages()
            self.generation = self.control.generation
            self.session_start_index = max((m["index"] for m in everything), default=-1)
            self.seen_group_index = self.session_start_index
        self.seen_index = self.seen_by.setdefault(self.me, self.session_start_index)
        who = f"企业微信用户 {self.wecom_user}" if self.wecom_user else f"群众 {self.openid}"
        self.say(f"码上商模拟器：你现在是{who}（/help 查看命令）")
        await self.show_pushed(wait_s=0)

    async def show_result(self, result: CallbackResult) -> None:
        if result.status is None:
            self.say(f"  ✗ 服务没有应答（{result.error}）：微信会显示「该公众号暂时无法提供服务」")
        elif result.status != 200:
            self.say(f"  ✗ 服务拒绝了请求：HTTP {result.status} {result.body}")
        elif result.reply:
            source = "企业微信应用回复" if self.wecom_user else "公众号回复"
            self.say(f"  ← [{source}] {result.reply.get('Content', result.reply)}")
        await self.show_pushed(wait_s=1.5)

    async def show_pushed(self, wait_s: float, *, whole_wait: bool = False) -> None:
        """Show what was pushed to us and to the triage group: up to `wait_s` for the first of it, or
        (`whole_wait`, the /wait command) everything that comes within `wait_s`."""
        deadline = time.monotonic() + wait_s
        while True:
            pushed = await self.control.messages(self.me)
            generation = self.control.generation
            everyone = await self.control.messages(self.group_key) if self.group_key else []
            if self.control.generation != generation:
                continue  # the service restarted between the two reads: read both again
            self.notice_restart()
            messages = [m for m in pushed if m["index"] > self.seen_index]
            for message in messages:
                self.seen_index = max(self.seen_index, message["index"])
                self.seen_by[self.me] = self.seen_index
                label = _CHANNEL_ZH.get(message["channel"], message["channel"])
                self.say(f"  ← [{label}] {as_shown(message)}")
            group = [m for m in everyone if m["index"] > self.seen_group_index]
            for message in group:
                self.seen_group_index = max(self.seen_group_index, int(str(message["index"])))
                self.say(f"  ⇢ [分拣群] {as_shown(message)}", remember_code=False)
            if ((messages or group) and not whole_wait) or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.25)

    def notice_restart(self) -> None:
        """The service (and its fake platform) restarted: its message numbers start again from 0, so
        what we had seen says nothing any more; show everything that reached us since."""
        if self.control.generation == self.generation:
            return
        if self.generation is not None:
            self.say("  （服务刚刚重新启动；之后收到的消息照常显示）")
        self.generation = self.control.generation
        self.session_start_index = self.seen_index = self.seen_group_index = -1
        self.seen_by = {}

    async def handle(self, line: str) -> bool:
        """Run one line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if "{code}" in line:
            line = line.replace("{code}", self.last_code or "{code}")
        if not line.startswith("/"):
            if self.wecom_user:
                await self.show_result(await self.wecom.text(self.wecom_user, line))
            else:
                await self.show_result(await self.sender.text(self.openid, line))
            return True
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if command in {"/quit", "/exit"}:
            return False
        if command == "/help":
            self.say(HELP)
        elif command == "/points":
            await self.list_points()
        elif command in {"/scan", "/follow"}:
            if not rest:
                self.say("  用法：/scan <联系点key>，例如 /scan hz-hospital-1（/points 列出全部）")
            elif command == "/scan":
                await self.show_result(await self.sender.event(self.openid, "SCAN", f"cp:{rest}"))
            else:
                await self.show_result(await self.sender.event(self.openid, "subscribe", f"qrscene_cp:{rest}"))
        elif command == "/image":
            media_id = rest or f"sim-image-{next(self._media_ids)}"
            await self.control.add_media(media_id, b"\x89PNG\r\n\x1a\n simulated photo", "image/png")
            await self.show_result(await self.sender.image(self.openid, media_id))
        elif command == "/voice":
            media_id = f"sim-voice-{next(self._media_ids)}"
            # 3 seconds of AMR frames (20 ms each, mode 7: a header byte and 31 bytes), as WeChat stores voice.
            await self.control.add_media(media_id, b"#!AMR\n" + (b"\x3c" + b"\0" * 31) * 150, "audio/amr")
            await self.show_result(await self.sender.voice(self.openid, media_id, recognition=rest or None))
        elif command == "/location":
            await self.show_result(await self.sender.location(self.openid, 30.8930, 120.0880, 15, rest or "湖州市"))
        elif command == "/link":
            title, _, url = rest.partition(" ")
            await self.show_result(
                await self.sender.link(self.openid, title or "链接", title, url or "https://example.com")
            )
        elif command == "/me":
            if rest:
                self.openid, self.wecom_user = rest, None
                await self.start()
            else:
                self.say(f"  你现在是 {self.me}")
        elif command == "/as":
            if not rest:
                self.say("  用法：/as <企业微信userid>，例如 /as lisi（工作人员）、/as zhangsan（委员）")
            else:
                self.wecom_user = rest
                await self.start()
        elif command == "/citizen":
            self.wecom_user = None
            await self.start()
        elif command == "/wait":
            seconds = float(rest) if rest.replace(".", "", 1).isdigit() else 5.0
            await self.show_pushed(wait_s=seconds, whole_wait=True)
        elif command == "/outage":
            await self.control.fail(rest, count=None, http_status=503)
            self.say(f"  模拟平台：{'接口 ' + rest if rest else '全部接口'}从现在起返回 503，直到 /recover")
        elif command == "/recover":
            await self.control.recover()
            self.say("  模拟平台：故障已恢复；积压的消息会由发送队列补发")
        elif command == "/misconfigure":
            if not rest.isdigit() or int(rest) not in MISCONFIGURATIONS:
                known = "、".join(str(code) for code in MISCONFIGURATIONS)
                self.say(f"  用法：/misconfigure <错误码>，错误码之一：{known}")
            else:
                await self.control.misconfigure(int(rest))
                answer = MISCONFIGURATIONS[int(rest)][0]
                self.say(f"  模拟平台：从现在起按配置错误 {rest} 拒绝相关接口（{answer}），直到 /fix")
        elif command == "/fix":
            await self.control.fix(int(rest) if rest.isdigit() else None)
            self.say(f"  模拟平台：配置错误{' ' + rest if rest.isdigit() else ''}已修复；等待的消息在下一次重试时发出")
        elif command == "/expire":
            await self.control.expire_tokens()
            self.say("  模拟平台：全部 access_token 已失效；服务下次调用时会刷新一次")
        else:
            self.say(f"  未知命令 {command}。\n{HELP}")
        return True

    async def list_points(self) -> None:
        from models.db import close_db, init_db
        from models.entities import ContactPoint

        await init_db(self.config.database.url, create_tables=False)
        try:
            points = await ContactPoint.all().order_by("key")
        finally:
            await close_db()
        for point in points:
            status = "（已停用）" if point.revoked_at else ""
            self.say(f"  {point.key:<20} {point.name}{status}")


async def _lines(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.script:
        script = await asyncio.to_thread(Path(args.script).read_text, encoding="utf-8")
        for line in script.splitlines():
            print(f"> {line}", flush=True)
            yield line
        return
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, "> ")
        except EOFError:
            return
        yield line


async def run_simulator(config: Config, args: argparse.Namespace) -> int:
    platform_url = args.platform or config.simulator.url
    async with aiohttp.ClientSession() as session:
        simulator = Simulator(config, session, args.openid, args.mode, platform_url)
        try:
            await simulator.start()
        except aiohttp.ClientError:
            print(
                f"无法连接模拟平台 {platform_url}：请先在另一个终端运行 `make run`（mashang serve --demo）；"
                "改过端口的话，两边要用同一份配置（同样的 --config、MASHANG_* 环境变量）。",
                file=sys.stderr,
            )
            return 1
        async for line in _lines(args):
            try:
                if not await simulator.handle(line):
                    break
            except aiohttp.ClientError as exc:
                print(f"  ✗ 连接失败：{exc}", file=sys.stderr)
        with contextlib.suppress(Exception):
            await simulator.show_pushed(wait_s=0)
    return 0
