"""`mashang simulate --miniprogram`: be a mini-program citizen in a terminal against `make run`.

What the 码上商 mini-program's front end would do, over its API (/api/v1): sign in with a demo wx.login
code, scan a contact point's code, file a case, list one's cases, rate a reply, open a 码上商量 topic,
post an opinion and support someone else's. Subscribe messages the service sends to this citizen are
read from the fake platform and shown as WeChat would show them.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from typing import Any

import aiohttp

from bot.config import Config
from bot.demo.fake_callbacks import WeComAppSender
from bot.demo.fake_platform import FakePlatform, FakePlatformControl
from bot.demo.simulator import _lines

_CODE = re.compile(r"[A-Za-z]{1,8}\d{11,}")
HELP = """小程序模拟器命令（直接输入文字即在当前联系点提交一件诉求）：
  /scan <联系点key>     扫联系点的小程序码（场景 cp=<key>）
  /topic <议题代号>     扫议题的小程序码（场景 tp=<key>），看议题和最新的意见
  /opinion <意见>       就当前议题发表意见            /opinions [support]  看意见（最新 / 附议最多）
  /support <意见编号>   附议一条意见                  /cases               我的诉求
  /case <编号>          一件诉求的办理情况             /rate <编号> 1|2|3   评价（1 满意 2 基本满意 3 不满意）
  /consent              同意接收订阅消息（答复、回访各一次）
  /me <登录名>          换一个小程序用户               /wait [秒]           等待推送的订阅消息
  /as <企业微信userid> <文字>  以工作人员或委员身份在企业微信里发一句（示例花名册：lisi 工作人员，zhangsan 委员）
  /help 显示本帮助      /quit 退出
命令里的 {code} 会换成最近一次看到的查询编号，例如 /rate {code} 1"""


class MiniSimulator:
    def __init__(self, config: Config, session: aiohttp.ClientSession, name: str, platform_url: str) -> None:
        self.config = config
        self.session = session
        self.name = name
        self.openid = FakePlatform.mini_openid(name)
        self.base = f"{config.server.public_base_url}/api/v1"
        self.control = FakePlatformControl(session, platform_url)
        self.wecom = WeComAppSender(
            session,
            f"{config.server.public_base_url}/wecom/callback",
            token=config.wecom.token,
            encoding_aes_key=config.wecom.encoding_aes_key,
            corp_id=config.wecom.corp_id,
            agent_id=config.wecom.agent_id,
        )
        self.token = ""
        self.point: str | None = None
        self.topic: str | None = None
        self.seen_index = -1
        self.last_code = ""

    def say(self, text: str) -> None:
        codes = _CODE.findall(text)
        if codes:
            self.last_code = codes[-1]
        print(text, flush=True)

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if method == "POST" and path.endswith(("/cases", "/opinions")):
            headers["Idempotency-Key"] = secrets.token_hex(8)  # as a front end retrying on a bad network would
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(
            method, self.base + path, data=data, headers=headers, params=params or None
        ) as answer:
            return answer.status, await answer.json()

    async def start(self) -> None:
        everything = await self.control.messages()
        self.seen_index = max((m["index"] for m in everything), default=-1)
        status, body = await self.call("POST", "/session", {"code": f"demo-{self.name}.{secrets.token_hex(4)}"})
        if status != 201:
            raise RuntimeError(f"sign-in refused: {status} {body}")
        self.token = body["token"]
        self.say(f"码上商小程序模拟器：你是小程序用户 {self.name}（openid {self.openid}；/help 查看命令）")

    def _error(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.say(f"  ✗ HTTP {status} {error.get('code', '')}：{error.get('message', body)}")

    async def show_pushed(self, wait_s: float = 1.5) -> None:
        import asyncio
        import time

        deadline = time.monotonic() + wait_s
        while True:
            fresh = [m for m in await self.control.messages(self.openid) if m["index"] > self.seen_index]
            for message in fresh:
                self.seen_index = max(self.seen_index, message["index"])
                page = message.get("payload", {}).get("page", "")
                self.say(f"  ← [订阅消息] {' / '.join(message['text'].splitlines())}（打开 {page}）")
            if fresh or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.25)

    async def handle(self, line: str) -> bool:
        line = line.strip()
        if not line:
            return True
        if "{code}" in line:
            line = line.replace("{code}", self.last_code or "{code}")
        if not line.startswith("/"):
            await self.file_case(line)
            return True
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if command in {"/quit", "/exit"}:
            return False
        handlers = {
            "/help": self.help,
            "/scan": self.scan,
            "/topic": self.open_topic,
            "/opinion": self.opinion,
            "/opinions": self.opinions,
            "/support": self.support,
            "/cases": self.cases,
            "/case": self.case,
            "/rate": self.rate,
            "/consent": self.consent,
            "/wait": self.wait,
            "/me": self.switch,
            "/as": self.as_wecom_user,
        }
        handler = handlers.get(command)
        if handler is None:
            self.say(f"  未知命令 {command}。\n{HELP}")
        else:
            await handler(rest)
        return True

    async def help(self, rest: str) -> None:
        self.say(HELP)

    async def scan(self, key: str) -> None:
        if not key:
            self.say("  用法：/scan <联系点key>，例如 /scan hz-hospital-1")
            return
        status, body = await self.call("GET", f"/contact-points/{key}")
        if status != 200:
            self._error(status, body)
            return
        self.point = key
        self.say(f"  [联系点] {body['name']}（{body['district']}）\n  {body['prompt']}")

    async def file_case(self, text: str) -> None:
        if self.point is None:
            self.say("  请先扫联系点的码：/scan <联系点key>")
            return
        status, body = await self.call("POST", "/cases", {"contact_point": self.point, "text": text})
        if status != 201:
            self._error(status, body)
            return
        self.say(f"  ← {body['message']}")
        await self.show_pushed()

    async def cases(self, rest: str) -> None:
        status, body = await self.call("GET", "/cases")
        if status != 200:
            self._error(status, body)
            return
        if not body["cases"]:
            self.say("  还没有诉求。")
        for case in body["cases"]:
            where = case["contact_point"]["name"] if case["contact_point"] else "—"
            self.say(f"  {case['tracking_code']}  {case['status_text']}  {where}  {case['summary']}")

    async def case(self, code: str) -> None:
        status, body = await self.call("GET", f"/cases/{code}")
        if status != 200:
            self._error(status, body)
            return
        self.say(f"  {body['tracking_code']}  {body['status_text']}")
        for entry in body["timeline"]:
            self.say(f"    {entry['time'][:16].replace('T', ' ')}  {entry['title']}  {entry['note']}")
        for reply in body["replies"]:
            self.say(f"    答复（{reply['signature']}）：{reply['text']}")

    async def rate(self, rest: str) -> None:
        code, _, score = rest.partition(" ")
        if not code or score.strip() not in {"1", "2", "3"}:
            self.say("  用法：/rate <编号> 1|2|3")
            return
        status, body = await self.call("POST", f"/cases/{code}/rating", {"score": int(score)})
        if status != 200:
            self._error(status, body)
            return
        self.say(f"  ← {body['message']}")
        await self.show_pushed()

    async def open_topic(self, key: str) -> None:
        if not key:
            self.say("  用法：/topic <议题代号>")
            return
        status, body = await self.call("GET", f"/topics/{key}")
        if status != 200:
            self._error(status, body)
            return
        self.topic = key
        self.say(
            f"  [议题] {body['title']}（{body['status_text']}，截止 {body['until']}，{body['opinion_count']} 条意见）"
        )
        self.say(f"  {body['body']}")
        if body["summary"]:
            self.say(f"  结果：{body['summary']}")
        await self.opinions("")

    async def opinions(self, order: str) -> None:
        if self.topic is None:
            self.say("  请先打开一个议题：/topic <议题代号>")
            return
        status, body = await self.call(
            "GET", f"/topics/{self.topic}/opinions", order="support" if order else "newest", limit="5"
        )
        if status != 200:
            self._error(status, body)
            return
        for item in body["opinions"]:
            author = f"{item['author']['label']}{item['author']['nickname']}"
            self.say(f"    #{item['opinion_id']} {author}  附议 {item['support_count']}：{item['text']}")

    async def opinion(self, text: str) -> None:
        if self.topic is None:
            self.say("  请先打开一个议题：/topic <议题代号>")
            return
        status, body = await self.call("POST", f"/topics/{self.topic}/opinions", {"text": text})
        if status != 201:
            self._error(status, body)
            return
        self.say(f"  ← 意见 #{body['opinion_id']}（{body['status']}）：{body['message']}")

    async def support(self, opinion_id: str) -> None:
        status, body = await self.call("POST", f"/opinions/{opinion_id or '-'}/support")
        if status != 200:
            self._error(status, body)
            return
        self.say(f"  ← {body['message']}")

    async def consent(self, rest: str) -> None:
        templates = [self.config.miniprogram.reply_template_id, self.config.miniprogram.visit_template_id]
        for template in templates:  # what wx.requestSubscribeMessage would do: WeChat counts it, and so do we
            await self.control.grant_subscription(self.openid, template)
        status, body = await self.call("POST", "/subscriptions", {"accepted": templates})
        if status != 200:
            self._error(status, body)
            return
        self.say(f"  ← 已同意接收订阅消息：{body['consents']}")

    async def as_wecom_user(self, rest: str) -> None:
        userid, _, text = rest.partition(" ")
        if not userid or not text.strip():
            self.say("  用法：/as <企业微信userid> <文字>，例如 /as lisi 派 {code} 张三")
            return
        result = await self.wecom.text(userid, text.strip())
        if result.status != 200 or not result.reply:
            self.say(f"  ✗ 企业微信回调：HTTP {result.status} {result.body}")
        else:
            self.say(f"  ← [企业微信应用回复 {userid}] {result.reply.get('Content', result.reply)}")
        await self.show_pushed()

    async def switch(self, name: str) -> None:
        if not name:
            self.say(f"  你现在是小程序用户 {self.name}")
            return
        self.name, self.openid, self.token = name, FakePlatform.mini_openid(name), ""
        await self.start()

    async def wait(self, rest: str) -> None:
        await self.show_pushed(float(rest) if rest.replace(".", "", 1).isdigit() else 5.0)


async def run_mini_simulator(config: Config, args: argparse.Namespace) -> int:
    platform_url = args.platform or f"http://{config.simulator.host}:{config.simulator.port}"
    async with aiohttp.ClientSession() as session:
        simulator = MiniSimulator(config, session, args.name, platform_url)
        try:
            await simulator.start()
        except (aiohttp.ClientError, RuntimeError) as exc:
            print(
                f"无法连接服务或模拟平台（{exc}）：请先在另一个终端运行 `make run`（mashang serve --demo）。",
                file=sys.stderr,
            )
            return 1
        async for line in _lines(args):
            try:
                if not await simulator.handle(line):
                    break
            except aiohttp.ClientError as exc:
                print(f"  ✗ 连接失败：{exc}", file=sys.stderr)
    return 0
