"""A month of a city against the real service, in accelerated time (issue 4 §5).

Builds a temporary world (a SQLite file and an embedded Redis under a temporary directory, or
--database-url / --redis-url), generates a roster (contact points, members, staff with one admin,
departments, categories) and imports it, runs the business clock `speed` times faster than real time
(models.timeutil.ScaledClock) and starts the real service in-process, with its workers, against the
fake WeChat/WeCom platform, with the real service levels (2d / 7d / return visit after 1d / 3d timeout,
reminder at 0.75). Then people act on the business clock, reacting to what the platform delivers to them:

- citizens scan a contact point's code and write (the signed, encrypted official-account callback),
  answer a member's question, answer the return-visit survey (1/2/3) or not;
- staff read the triage group: assign most cases within hours (some late), mark urgent ones, transfer
  some to departments and enter the departments' answers, merge duplicates, reject spam, reassign cases
  whose member does not answer after the second overdue notice, record phone return visits;
- members read their WeCom messages: accept, sometimes ask the citizen, reply (some late, some never).

Staff and members write through the service's inbox (`ChatEvent`, as the WeCom transport hands them on).
At the end (the month plus a drain period, which stops early once nothing will move any more) it prints
the committee's figures and checks what must be zero: cases lost, deadlines missed without a reminder and
an overdue notice, cases closed without a recorded return visit, and return visits past their timeout
without a phone task (a case that can never close breaks "100% return visits" as surely), messages
delivered twice and dead jobs; plus the real time taken and jobs per second. In the middle of the month
WeChat is away for a few hours (HTTP 503) and later an operator's configuration mistake (the server's IP
missing from the whitelists: 40164 / 60020) lasts a few hours: what was sent meanwhile waits and arrives.
Exit status 1 when a must-be-zero figure is not zero.

WeCom's rate limits are per real minute; with the month compressed into a minute they would hold the
triage group's messages back for hours of real time, so the limiter windows are scaled to business time
(--real-time-rate-limits keeps them as they are). The fake platform's clock is the business clock.

Speed: the service must keep up, or timers fire late and the deadline check fails (as it should). On a
2-core machine with SQLite the service sustains about 5 cases per real second early in the month and less
as the database grows, so the default world is 300 cases in 60 s; give 5,000 cases 40 minutes or more.
The progress lines show the backlog of due jobs by kind: a growing `send.triage` backlog means too fast.

    .venv/bin/python scripts/simulate_month.py                            # 300 cases, month in 60 s
    .venv/bin/python scripts/simulate_month.py --cases 5000 --minutes 40  # the full city
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import heapq
import itertools
import json
import logging
import math
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestServer
from tortoise.expressions import Q

from bot.app import INBOX, JOBS, SETTINGS, WECOM_DELIVERY, create_app
from bot.config import DEMO_TEMPLATES, build_config
from bot.demo.fake_callbacks import OfficialAccountSender, next_msg_id
from bot.demo.fake_platform import DeliveredMessage, FakePlatform, create_fake_platform
from handlers.admin.roster import import_roster
from handlers.cases import deadlines
from handlers.cases import figures as case_figures
from handlers.events import ChatEvent
from models.entities import Case, CaseEvent, CaseMessage, CaseState, InboundMessage, InboxStatus
from models.jobs import Job, JobStatus
from models.sla import SlaPolicy
from models.state import HELD_BY_MEMBER
from models.timeutil import Clock, ScaledClock, get_clock, now, set_clock

log = logging.getLogger("simulate_month")

DAY = 86400.0
HOUR = 3600.0
MONTH_DAYS = 30
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
PREFIX = "MS"
CODE_RE = re.compile(rf"{PREFIX}\d{{11,}}")
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECOM_AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
TRIAGE_HOOK = "sim-triage-hook"

# ---- the world -------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅志宏文斌辉鹏飞云海峰宁慧婷雪琳颖晨旭东"
DISTRICTS = ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县"]
STREETS = ["凤凰", "仁皇", "龙溪", "月河", "飞英", "爱山", "碧浪", "白雀", "康山", "杨家埠", "织里", "双林", "练市"]
PARKS = ["丝绸", "新材料", "装备制造", "数字经济", "生物医药", "绿色家居"]
SECTORS = ["经济界", "医药卫生界", "教育界", "科技界", "农业界", "社会福利界", "文化艺术界", "无党派人士"]
COMMITTEES = ["经济委员会", "教科卫体委员会", "社会和法制委员会", "人口资源环境委员会", "文化文史委员会"]

CATEGORIES: list[tuple[str, str, list[str]]] = [
    ("health", "医疗卫生", ["医院", "看病", "医保", "挂号", "医生", "门诊", "住院"]),
    ("education", "教育", ["学校", "老师", "学生", "上学", "食堂", "校车", "课后"]),
    ("transport", "交通出行", ["公交", "停车", "红绿灯", "道路", "堵车", "路口"]),
    ("economy", "营商环境", ["企业", "审批", "税", "用工", "融资", "招聘"]),
    ("housing", "城建住房", ["小区", "电梯", "物业", "路灯", "楼道", "车库"]),
    ("environment", "生态环境", ["河道", "噪音", "油烟", "垃圾", "异味"]),
    ("elderly", "养老服务", ["老人", "养老", "老年"]),
    ("safety", "公共安全", ["漏电", "燃气", "裂缝", "消防"]),
]
DEPARTMENTS: list[tuple[str, str]] = [
    ("d-health", "市卫生健康委员会"),
    ("d-edu", "市教育局"),
    ("d-transport", "市交通运输局"),
    ("d-econ", "市经济和信息化局"),
    ("d-housing", "市住房和城乡建设局"),
    ("d-env", "市生态环境局"),
    ("d-civil", "市民政局"),
    ("d-emergency", "市应急管理局"),
]
CATEGORY_DEPARTMENT = {
    "health": "d-health",
    "education": "d-edu",
    "transport": "d-transport",
    "economy": "d-econ",
    "housing": "d-housing",
    "environment": "d-env",
    "elderly": "d-civil",
    "safety": "d-emergency",
}
TEXTS: dict[str, list[str]] = {
    "health": [
        "医院挂号排队时间太长，希望增加自助挂号机",
        "门诊楼停车位太少，看病要排队半小时停车",
        "医保报销手续复杂，希望简化流程",
        "夜间急诊医生太少，看病要等很久",
        "住院部电梯经常坏，老人上下楼很不方便",
    ],
    "education": [
        "学校门口上下学时段堵车严重，希望增派交警",
        "学校食堂饭菜价格偏高，质量一般",
        "课后服务收费不透明，希望公开收费标准",
        "校车接送时间太早，学生休息不够",
    ],
    "transport": [
        "公交站没有雨棚，下雨天等车很难受",
        "路口红绿灯时间太短，老人过马路来不及",
        "道路施工围挡太久，出行很不方便",
        "附近乱停车严重，消防通道经常被占",
    ],
    "economy": [
        "企业用工招聘难，希望组织专场招聘会",
        "审批材料要求太多，希望一网通办",
        "小微企业融资难，贷款利率偏高",
        "园区企业对税费政策不清楚，希望上门宣讲",
    ],
    "housing": [
        "老旧小区加装电梯推进太慢",
        "小区物业服务差，垃圾清运不及时",
        "楼道灯坏了很久没人修",
        "雨天小区地下车库积水",
    ],
    "environment": [
        "河道有异味，夏天特别明显",
        "工地夜间施工噪音扰民",
        "餐饮店油烟直排，影响居民生活",
    ],
    "elderly": [
        "社区老年食堂饭菜品种太少",
        "居家养老服务上门次数太少",
        "老人不会用智能手机，办事很难",
    ],
}
# Realistic texts that start with a number ("3号楼…", "2路公交…").
NUMBERED_TEXTS = [
    "3号楼电梯经常停运，老人上下楼困难",
    "2路公交车间隔太长，上班经常迟到",
    "1号门早上不开，学生要绕很远的路",
    "12号楼下的路灯不亮，晚上很黑",
    "2楼卫生间漏水半个月了没人修",
]
URGENT_TEXTS = [
    "输液室插座漏电，非常危险，请尽快处理",
    "楼下燃气管道有泄漏气味，很担心出事",
    "围墙出现裂缝，随时可能倒塌",
]
URGENT_WORDS = ("漏电", "燃气", "裂缝", "倒塌")
# Junk that still makes a case for staff to reject (a bare greeting gets the how-to instead, never a case).
JUNK_TEXTS = ["测试一下", "哈哈哈", "广告：专业代办各类证件，价格优惠", "转发有奖，点开链接领红包"]
WISHES = ["希望尽快解决。", "请有关部门重视。", "谢谢！", "", "麻烦帮忙反映一下。"]
INFO_ANSWERS = [
    "就在{point}东门附近，已经持续两个多月了",
    "主要是早上七点到九点，工作日天天这样",
    "我拍了照片，可以提供，联系电话也可以留给您",
]
SOLUTIONS = [
    "已与相关部门沟通，已安排专人跟进，预计两周内整改到位",
    "已实地查看并协调有关单位，问题已列入本月整改清单",
    "已向主管部门反映，对方答复将于近期处理并公开进展",
    "经了解，相关政策已调整，具体办理方式已请社区上门说明",
]
SURVEY_TEXTS = {
    1: ["1", "1 谢谢", "满意", "1 处理及时"],
    2: ["2", "基本满意", "2 还可以"],
    3: ["3 问题没解决", "不满意 没变化", "3"],
}
PHONE_COMMENTS = {1: "群众表示满意", 2: "群众表示基本满意", 3: "群众表示问题仍未解决"}


@dataclass
class PointSpec:
    key: str
    name: str
    kind: str
    district: str
    category: str | None
    members: list[str]


@dataclass
class MemberSpec:
    key: str
    name: str
    userid: str
    sector: str
    committee: str
    profile: str  # punctual | slow | never


@dataclass
class StaffSpec:
    key: str
    name: str
    userid: str
    role: str


@dataclass
class World:
    points: list[PointSpec]
    members: list[MemberSpec]
    staff: list[StaffSpec]


def unique_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def build_world(rng: random.Random, points: int, members: int, staff: int) -> World:
    taken: set[str] = set()
    member_specs = []
    for index, name in enumerate(unique_names(rng, members, taken), start=1):
        roll = rng.random()
        profile = "punctual" if roll < 0.80 else "slow" if roll < 0.94 else "never"
        member_specs.append(
            MemberSpec(
                f"m-{index:04d}", name, f"member{index:04d}", rng.choice(SECTORS), rng.choice(COMMITTEES), profile
            )
        )
    staff_specs = [
        StaffSpec(f"s-{index:02d}", name, f"staff{index:02d}", "triage")
        for index, name in enumerate(unique_names(rng, staff, taken), start=1)
    ]
    staff_specs.append(StaffSpec("s-admin", unique_names(rng, 1, taken)[0], "admin01", "admin"))
    point_specs: list[PointSpec] = []
    used: set[str] = set()
    kinds = ["hospital", "school", "enterprise", "community", "community", "studio", "room"]
    counters: Counter[str] = Counter()
    for index in range(1, points + 1):
        kind = kinds[(index - 1) % len(kinds)]
        district = rng.choice(DISTRICTS)
        linked = rng.sample(member_specs, k=min(len(member_specs), rng.choice((1, 2, 2, 3))))
        category = {"hospital": "health", "school": "education", "enterprise": "economy"}.get(kind)
        for _ in range(100):
            counters[f"{kind}{district}"] += 1
            n = counters[f"{kind}{district}"]
            name = {
                "hospital": f"{district}第{n}人民医院",
                "school": f"{district}第{n}中学",
                "enterprise": f"{district}{rng.choice(PARKS)}产业园",
                "community": f"{district}{rng.choice(STREETS)}社区",
                "studio": f"{linked[0].name}委员工作室",
                "room": f"{district}{rng.choice(STREETS)}街道协商议事室",
            }[kind]
            if name not in used:
                break
        used.add(name)
        point_specs.append(PointSpec(f"cp-{index:03d}", name, kind, district, category, [m.key for m in linked]))
    return World(point_specs, member_specs, staff_specs)


def roster_toml(world: World) -> str:
    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines: list[str] = ["# Generated by scripts/simulate_month.py", ""]
    for key, name in DEPARTMENTS:
        lines += ["[[departments]]", f"key = {q(key)}", f"name = {q(name)}", ""]
    for key, name, keywords in CATEGORIES:
        words = ", ".join(q(word) for word in keywords)
        lines += ["[[categories]]", f"key = {q(key)}", f"name = {q(name)}", f"keywords = [{words}]", ""]
    for member in world.members:
        lines += [
            "[[members]]",
            f"key = {q(member.key)}",
            f"name = {q(member.name)}",
            f"sector = {q(member.sector)}",
            f"committee = {q(member.committee)}",
            f"wecom_userid = {q(member.userid)}",
            "",
        ]
    for person in world.staff:
        lines += [
            "[[staff]]",
            f"key = {q(person.key)}",
            f"name = {q(person.name)}",
            f"wecom_userid = {q(person.userid)}",
            f"role = {q(person.role)}",
            "",
        ]
    for point in world.points:
        members = ", ".join(q(key) for key in point.members)
        lines += [
            "[[contact_points]]",
            f"key = {q(point.key)}",
            f"name = {q(point.name)}",
            f"kind = {q(point.kind)}",
            f"district = {q(point.district)}",
            f"members = [{members}]",
            "",
        ]
    return "\n".join(lines)


# ---- what citizens write ---------------------------------------------------------------------------


@dataclass
class Sent:
    """A text a citizen sent that must end up in a case (a complaint, or an answer to a question)."""

    kind: str  # complaint | info
    openid: str
    text: str
    offset_s: float = 0.0  # complaints: when, after the start of the month
    point: str = ""
    msg_id: int = 0
    sent: bool = False
    status: int | None = None
    reply: str = ""
    code: str | None = None
    outcome: str = ""


HOUR_WEIGHTS = [0.05] * 7 + [0.6, 0.8] + [1.0] * 3 + [0.7, 0.7] + [1.0] * 4 + [0.8] * 4 + [0.3, 0.2]


def plan_complaints(rng: random.Random, world: World, count: int, start: datetime) -> list[Sent]:
    offsets: list[float] = []
    while len(offsets) < count:
        offset = rng.uniform(0, MONTH_DAYS * DAY)
        hour = (start + timedelta(seconds=offset)).astimezone(LOCAL_TZ).hour
        if rng.random() < HOUR_WEIGHTS[hour]:
            offsets.append(offset)
    offsets.sort()
    complaints: list[Sent] = []
    by_point: dict[str, list[Sent]] = defaultdict(list)
    for index, offset in enumerate(offsets):
        point = rng.choice(world.points)
        openid = f"o-sim{index:05d}"
        if complaints and rng.random() < 0.12:
            openid = rng.choice(complaints).openid  # somebody who wrote before
        recent = [c for c in by_point[point.key] if offset - c.offset_s < 3 * DAY]
        roll = rng.random()
        if recent and roll < 0.015:
            text = rng.choice(recent).text  # the same problem, seen by another citizen
        elif roll < 0.045:
            text = rng.choice(JUNK_TEXTS)
        elif roll < 0.065:
            text = rng.choice(URGENT_TEXTS)
        elif roll < 0.11:
            text = rng.choice(NUMBERED_TEXTS) + rng.choice(WISHES)
        else:
            category = point.category if point.category and rng.random() < 0.7 else rng.choice(list(TEXTS))
            text = rng.choice(TEXTS[category]) + "，" + rng.choice(WISHES)
            text = text.rstrip("，")
        complaint = Sent("complaint", openid, text, offset_s=offset, point=point.key)
        complaints.append(complaint)
        by_point[point.key].append(complaint)
    return complaints


# ---- the business-time scheduler -------------------------------------------------------------------

Action = Callable[[], Awaitable[None]]


class FrozenClock(Clock):
    """Business time stopped at the end of the simulation (the checks read one consistent moment)."""

    def __init__(self, moment: datetime, speed: float) -> None:
        self.moment = moment
        self.speed = speed

    def now(self) -> datetime:
        return self.moment

    def to_real_seconds(self, business_seconds: float) -> float:
        return business_seconds / self.speed


class Scheduler:
    """Runs actions at business times, a bounded number at once; records how late each one started."""

    def __init__(self, concurrency: int) -> None:
        self._heap: list[tuple[float, int, str, Action]] = []
        self._ids = itertools.count()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.lags: list[float] = []
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def at(self, when: datetime, label: str, action: Action) -> None:
        heapq.heappush(self._heap, (when.timestamp(), next(self._ids), label, action))
        self._wake.set()

    @property
    def planned(self) -> int:
        return len(self._heap)

    @property
    def idle(self) -> bool:
        return not self._heap and not self._running

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sim-scheduler")

    async def _loop(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            ahead = self._heap[0][0] - now().timestamp()
            if ahead > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.001, get_clock().to_real_seconds(ahead)))
                continue
            await self._slots.acquire()
            due, _, label, action = heapq.heappop(self._heap)
            task = asyncio.create_task(self._run(due, label, action))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, due: float, label: str, action: Action) -> None:
        self.lags.append(max(0.0, now().timestamp() - due))
        try:
            await action()
        except Exception:
            log.exception("action %s failed", label)
            self.failed[label] += 1
        else:
            self.done[label] += 1
        finally:
            self._slots.release()

    async def stop(self) -> None:
        self._heap.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            await asyncio.wait(set(self._running), timeout=30)


# ---- the people ------------------------------------------------------------------------------------


@dataclass
class Track:
    """What the people involved know about one case (by its tracking code)."""

    code: str
    created_at: datetime | None = None
    point_name: str = ""
    content: str = ""
    triaged: bool = False
    closed: bool = False
    urgent: bool = False
    holder: str | None = None  # member userid
    round: int = 0  # a new handling round: assignment, transfer, reopen
    replied: set[int] = field(default_factory=set)
    escalated: set[int] = field(default_factory=set)
    returned: bool = False
    surveys: int = 0


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def days(value: float) -> timedelta:
    return timedelta(days=value)


SUCCESS_MARKS = ("已将", "已答复", "已对", "已记录", "已接收", "已向", "急件")


class City:
    def __init__(
        self,
        args: argparse.Namespace,
        rng: random.Random,
        world: World,
        platform: FakePlatform,
        app: Any,
        oa: OfficialAccountSender,
    ) -> None:
        self.args = args
        self.rng = rng
        self.world = world
        self.platform = platform
        self.inbox = app[INBOX]
        self.oa = oa
        self.sched = Scheduler(args.concurrency)
        self.tracks: dict[str, Track] = {}
        self.complaints: list[Sent] = []
        self.infos: list[Sent] = []
        self.awaiting: dict[str, dict[str, str]] = defaultdict(dict)  # openid -> code -> replied | survey
        self.members_by_userid = {m.userid: m for m in world.members}
        self.members_by_key = {m.key: m for m in world.members}
        self.points_by_name = {p.name: p for p in world.points}
        self.triage_staff = [s.userid for s in world.staff if s.role == "triage"]
        self.staff_userids = {s.userid for s in world.staff}
        self.recent: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._chat_ids = itertools.count(1)
        self._watcher: asyncio.Task[None] | None = None
        self.delivered = 0
        self.month_jobs = 0
        self.month_real = 0.0

    # -- plumbing --

    def track(self, code: str) -> Track:
        track = self.tracks.get(code)
        if track is None:
            track = self.tracks[code] = Track(code)
        return track

    def plan(self, when: datetime, label: str, func: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Do `func(*args)` at business time `when` (never before a minute from now: people read first)."""
        earliest = now() + timedelta(minutes=1)
        self.sched.at(max(when, earliest), label, functools.partial(func, *args))

    def start(self) -> None:
        self.sched.start()
        self._watcher = asyncio.create_task(self._watch(), name="sim-watcher")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.sched.stop()

    async def _watch(self) -> None:
        """Everyone reads what the platform delivered to them."""
        cursor = 0
        while True:
            messages = self.platform.messages
            while cursor < len(messages):
                message = messages[cursor]
                cursor += 1
                self.delivered += 1
                try:
                    self.route(message)
                except Exception:
                    log.exception("reading message %s failed", message.index)
            await asyncio.sleep(0.005)

    def route(self, message: DeliveredMessage) -> None:
        recipient = message.recipient
        if recipient == TRIAGE_HOOK:
            self.staff_reads(message.text)
        elif recipient in self.members_by_userid:
            self.member_reads(self.members_by_userid[recipient], message.text)
        elif recipient in self.staff_userids:
            self.counts["admin: 督办 received" if "督办" in message.text else "staff: other direct messages"] += 1
        elif recipient.startswith("o-"):
            self.citizen_reads(recipient, message)

    async def chat(self, userid: str, text: str, verb: str) -> str:
        """A WeCom single-chat message from staff or a member, handed to the inbox as the transport does."""
        event = ChatEvent(
            channel="wecom_app",
            sender=userid,
            text=text,
            created_at=datetime.now(UTC),
            msg_id=f"sim-{next(self._chat_ids)}",
        )
        acceptance = await self.inbox.accept(event, budget_s=60.0)
        reply = acceptance.reply or ""
        self.counts[f"command {verb}"] += 1
        if not any(mark in reply for mark in SUCCESS_MARKS):
            self.errors[f"{verb}: {CODE_RE.sub('<编号>', reply)[:60]}"] += 1
        return reply

    async def staff_says(self, text: str, verb: str) -> str:
        return await self.chat(self.rng.choice(self.triage_staff), text, verb)

    # -- citizens --

    async def complain(self, complaint: Sent) -> None:
        await self.oa.event(complaint.openid, "SCAN", f"cp:{complaint.point}")
        complaint.msg_id = next_msg_id()
        before = now()
        complaint.sent = True
        result = await self.oa.text(complaint.openid, complaint.text, msg_id=complaint.msg_id)
        complaint.status = result.status
        complaint.reply = str(result.reply.get("Content", "")) if result.reply else ""
        match = CODE_RE.search(complaint.reply)
        complaint.code = match.group(0) if match else None
        if "查询编号" in complaint.reply and complaint.code:
            complaint.outcome = "a new case"
            track = self.track(complaint.code)
            track.created_at = track.created_at or before
        elif "已并入诉求" in complaint.reply:
            complaint.outcome = "joined an open case"
        elif "感谢您的评价" in complaint.reply or "没有让您满意" in complaint.reply:
            complaint.outcome = "taken as a survey answer"
        elif not complaint.reply:
            complaint.outcome = "no passive reply"
        else:
            complaint.outcome = "other reply"
        self.counts[f"complaint: {complaint.outcome}"] += 1

    def citizen_reads(self, openid: str, message: DeliveredMessage) -> None:
        text = message.text
        match = CODE_RE.search(text)
        if not match:
            return
        code = match.group(0)
        track = self.track(code)
        mine = self.awaiting[openid]
        # Past the window the survey is the visit template (its typed keys carry no 【回访】).
        template = message.payload.get("template_id") if message.channel == "template" else None
        if "【回访】" in text or template == DEMO_TEMPLATES["visit"].id:
            mine[code] = "survey"
            self.plan_survey_answer(openid, track)
        elif "想进一步了解" in text:
            if self.rng.random() < 0.85:
                point = track.point_name or "联系点"
                answer = self.rng.choice(INFO_ANSWERS).format(point=point)
                self.plan(
                    now() + hours(self.rng.uniform(0.1, 20)),
                    "citizen: answer question",
                    self.inform,
                    openid,
                    track,
                    answer,
                )
            else:
                self.counts["citizen: question left unanswered"] += 1
        elif "【答复】" in text:
            if mine.get(code) != "survey":
                mine[code] = "replied"
        elif "不予受理" in text or "合并办理" in text:
            mine.pop(code, None)

    async def inform(self, openid: str, track: Track, answer: str) -> None:
        info = Sent("info", openid, answer, msg_id=next_msg_id())
        self.infos.append(info)
        info.sent = True
        result = await self.oa.text(openid, answer, msg_id=info.msg_id)
        info.status = result.status
        info.reply = str(result.reply.get("Content", "")) if result.reply else ""
        info.outcome = "joined the asked case" if track.code in info.reply else "elsewhere"
        self.counts[f"citizen answer to a question: {info.outcome}"] += 1

    def plan_survey_answer(self, openid: str, track: Track) -> None:
        track.surveys += 1
        rng = self.rng
        if rng.random() >= (0.7 if track.surveys == 1 else 0.6):
            self.counts["citizen: survey not answered"] += 1
            return
        if rng.random() < 0.02:
            delay = days(rng.uniform(3.3, 4.5))  # long after the 3-day timeout
            self.counts["citizen: survey answered late"] += 1
        else:
            delay = hours(min(62.0, max(0.05, rng.lognormvariate(math.log(3.0), 1.3))))
        weights = (62, 24, 14) if track.surveys == 1 else (60, 34, 6)
        score = rng.choices((1, 2, 3), weights=weights)[0]
        self.plan(now() + delay, "citizen: answer survey", self.answer_survey, openid, track, score)

    async def answer_survey(self, openid: str, track: Track, score: int) -> None:
        mine = self.awaiting[openid]
        text = self.rng.choice(SURVEY_TEXTS[score])
        if len([code for code in mine if code != track.code]) > 0:
            text = f"{track.code} {text}"  # more than one case waiting: say which one
            self.counts["citizen: survey answer with the code"] += 1
        mine.pop(track.code, None)
        result = await self.oa.text(openid, text)
        reply = str(result.reply.get("Content", "")) if result.reply else ""
        if "感谢您的评价" in reply:
            outcome = "recorded"
        elif "没有让您满意" in reply:
            outcome = "recorded, reopened"
        elif "查询编号" in reply:
            outcome = "became a new case"
        elif "校验未通过" in reply or "当前状态" in reply:
            outcome = "read as a tracking-code query"
        else:
            outcome = f"other ({reply[:20]})"
        self.counts[f"citizen survey answer: {outcome}"] += 1

    # -- staff --

    def staff_reads(self, text: str) -> None:
        match = CODE_RE.search(text)
        if not match:
            return
        track = self.track(match.group(0))
        rng = self.rng
        if "**新诉求" in text:
            self.triage(track, text)
        elif "【电话回访】" in text:
            self.plan(now() + hours(rng.uniform(1, 30)), "staff: phone visit", self.phone_visit, track)
        elif "被退回分拣" in text:
            self.plan(now() + hours(rng.uniform(0.5, 12)), "staff: reassign", self.reassign, track, track.round)
        elif "【督办·第" in text and "仍未答复" in text and "承办：委员" in text:
            if track.round not in track.escalated:
                track.escalated.add(track.round)
                if rng.random() < 0.7:
                    self.plan(now() + hours(rng.uniform(1, 10)), "staff: reassign", self.reassign, track, track.round)
        elif ("【重办】" in text or "【二次不满意】" in text) and "承办：工作人员" in text:
            track.round += 1
            self.plan_department_reply(track, late=False)
        elif "【超期】" in text and "交办期限" in text and not track.triaged:
            self.triage(track, text)

    def triage(self, track: Track, card: str) -> None:
        if track.triaged:
            return
        track.triaged = True
        rng = self.rng
        point = re.search(r"> 联系点：(.+)", card)
        content = re.search(r"> 内容：(.+)", card)
        suggested = re.search(r"建议委员：(\S+?)（", card)
        track.point_name = point.group(1).strip() if point else ""
        track.content = content.group(1).strip() if content else ""
        created = track.created_at or now()
        if track.content in JUNK_TEXTS or len(track.content) <= 8:
            self.plan(created + hours(rng.uniform(0.5, 20)), "staff: reject", self.reject, track)
            return
        target = self.duplicate_of(track)
        self.recent[track.point_name].append((now(), track.code, track.content))
        if target is not None:
            self.plan(created + hours(rng.uniform(1, 20)), "staff: merge", self.merge, track, target)
            return
        if any(word in track.content for word in URGENT_WORDS):
            marked = created + hours(rng.uniform(0.1, 3))
            self.plan(marked, "staff: urgent", self.urgent, track)
            act = marked + hours(rng.uniform(0.5, 6))
        elif rng.random() < self.args.late_triage:
            act = created + days(rng.uniform(2.25, 4.0))  # past the 2-day deadline
            self.counts["staff: triage planned late"] += 1
        else:
            act = created + hours(min(40.0, max(0.1, rng.lognormvariate(math.log(5.0), 1.0))))
        roll = rng.random()
        if roll < 0.08:
            self.plan(act, "staff: transfer", self.transfer, track)
        elif roll < 0.11:
            self.plan(act, "staff: answer directly", self.answer_directly, track)
        else:
            name = suggested.group(1) if suggested and rng.random() < 0.7 else None
            self.plan(act, "staff: assign", self.assign, track, name)

    def duplicate_of(self, track: Track) -> str | None:
        horizon = now() - days(5)
        for seen_at, code, content in reversed(self.recent[track.point_name]):
            if seen_at >= horizon and content == track.content and code != track.code:
                if not self.track(code).closed:
                    return code
        return None

    def pick_member(self, track: Track, exclude: str | None = None) -> MemberSpec:
        point = self.points_by_name.get(track.point_name)
        pool = self.world.members
        if point is not None and self.rng.random() < 0.75:
            pool = [self.members_by_key[key] for key in point.members]
        choices = [m for m in pool if m.userid != exclude] or [m for m in self.world.members if m.userid != exclude]
        return self.rng.choice(choices)

    async def assign(self, track: Track, name: str | None) -> None:
        name = name or self.pick_member(track).name
        await self.staff_says(f"派 {track.code} {name}", "派")

    async def reassign(self, track: Track, round_no: int) -> None:
        if track.round != round_no or round_no in track.replied or track.closed:
            return
        member = self.pick_member(track, exclude=track.holder)
        self.counts["staff: reassigned"] += 1
        await self.staff_says(f"派 {track.code} {member.name}", "派")

    async def urgent(self, track: Track) -> None:
        track.urgent = True
        await self.staff_says(f"急 {track.code}", "急")

    async def reject(self, track: Track) -> None:
        reply = await self.staff_says(f"退 {track.code} 内容不属于政协委员联系群众事项，已建议拨打12345热线", "退")
        if "不予受理" in reply:
            track.closed = True

    async def merge(self, track: Track, target: str) -> None:
        reply = await self.staff_says(f"并 {track.code} {target}", "并")
        if "已将" in reply:
            track.closed = True

    async def transfer(self, track: Track) -> None:
        department = self.department_for(track.content)
        reply = await self.staff_says(f"转 {track.code} {department} 请按期反馈办理结果", "转")
        if "已将" in reply:
            track.round += 1
            track.holder = None
            self.plan_department_reply(track, late=self.rng.random() < 0.1)

    def department_for(self, content: str) -> str:
        for key, _, keywords in CATEGORIES:
            if any(word in content for word in keywords):
                return CATEGORY_DEPARTMENT[key]
        return self.rng.choice(DEPARTMENTS)[0]

    def plan_department_reply(self, track: Track, late: bool) -> None:
        delay = days(self.rng.uniform(7.4, 9.5)) if late else days(self.rng.uniform(1, 5.5))
        self.plan(now() + delay, "staff: department answer", self.department_reply, track, track.round)

    async def department_reply(self, track: Track, round_no: int) -> None:
        if track.round != round_no or round_no in track.replied:
            return
        name = dict(DEPARTMENTS).get(self.department_for(track.content), "承办部门")
        reply = await self.staff_says(f"答 {track.code} {name}：{self.rng.choice(SOLUTIONS)}。", "答")
        if "已答复" in reply:
            track.replied.add(round_no)

    async def answer_directly(self, track: Track) -> None:
        await self.staff_says(f"答 {track.code} 您好，已电话联系您并作了说明：{self.rng.choice(SOLUTIONS)}。", "答")

    async def phone_visit(self, track: Track) -> None:
        score = self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        await self.staff_says(f"回访 {track.code} {score} 电话回访，{PHONE_COMMENTS[score]}", "回访")

    # -- members --

    def member_reads(self, member: MemberSpec, text: str) -> None:
        match = CODE_RE.search(text)
        if not match:
            return
        track = self.track(match.group(0))
        rng = self.rng
        if "【新交办】" in text:
            track.round += 1
            track.holder = member.userid
            urgent = "（急件）" in text
            if member.profile == "never":
                self.counts["member: assignment ignored"] += 1
                return
            if not track.returned and rng.random() < 0.02:
                track.returned = True
                self.plan(
                    now() + hours(rng.uniform(2, 20)), "member: return", self.give_back, member, track, track.round
                )
                return
            scale = 0.5 if urgent else 1.0
            if member.profile == "punctual":
                accept_at = now() + hours(rng.uniform(0.2, 20) * scale)
                reply_at = now() + days(rng.uniform(0.8, 6.2) * scale)
                if rng.random() < 0.12:
                    ask_at = accept_at + hours(rng.uniform(0.5, 8))
                    self.plan(ask_at, "member: ask", self.ask, member, track, track.round)
                    reply_at = max(reply_at, min(ask_at + days(1.2), now() + days(6.2 * scale)))
            else:
                accept_at = now() + days(rng.uniform(1, 3) * scale)
                reply_at = now() + days(rng.uniform(7.4, 11) * scale)  # late
            self.plan(accept_at, "member: accept", self.accept, member, track, track.round)
            self.plan(reply_at, "member: reply", self.reply, member, track, track.round)
        elif "【重办】" in text:
            track.round += 1
            track.holder = member.userid
            if member.profile == "never":
                return
            window = (0.5, 5.0) if member.profile == "punctual" else (7.4, 10.0)
            self.plan(now() + days(rng.uniform(*window)), "member: reply again", self.reply, member, track, track.round)
        elif "【超期提醒】" in text and member.profile == "slow":
            self.plan(
                now() + days(rng.uniform(0.3, 2.0)),
                "member: reply after overdue notice",
                self.reply,
                member,
                track,
                track.round,
            )

    def still_mine(self, member: MemberSpec, track: Track, round_no: int) -> bool:
        return track.round == round_no and track.holder == member.userid and round_no not in track.replied

    async def accept(self, member: MemberSpec, track: Track, round_no: int) -> None:
        if self.still_mine(member, track, round_no):
            await self.chat(member.userid, f"收 {track.code}", "收")

    async def ask(self, member: MemberSpec, track: Track, round_no: int) -> None:
        if self.still_mine(member, track, round_no):
            await self.chat(member.userid, f"问 {track.code} 请问具体在什么位置？大概从什么时候开始的？", "问")

    async def reply(self, member: MemberSpec, track: Track, round_no: int) -> None:
        if not self.still_mine(member, track, round_no):
            return
        text = f"答 {track.code} 您好，{self.rng.choice(SOLUTIONS)}。感谢您的监督！"
        reply = await self.chat(member.userid, text, "答")
        if "已答复" in reply:
            track.replied.add(round_no)

    async def give_back(self, member: MemberSpec, track: Track, round_no: int) -> None:
        if self.still_mine(member, track, round_no):
            await self.chat(member.userid, f"退回 {track.code} 该问题不在本人联系领域，请改派", "退回")


# ---- checks ----------------------------------------------------------------------------------------


def chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def lost_messages(sent: list[Sent]) -> list[tuple[Sent, str]]:
    """Citizen texts that should be in a case but are not, with what the service answered instead."""
    keys = {f"oa:msg:{message.openid}:{message.msg_id}": message for message in sent if message.sent}
    stored: set[str] = set()
    for part in chunks(list(keys)):
        stored.update(await CaseMessage.filter(inbound_key__in=part).values_list("inbound_key", flat=True))
    lost = []
    for key, message in keys.items():
        if key not in stored:
            row = await InboundMessage.get_or_none(dedupe_key=key)
            answer = "never reached the service" if row is None else f"{row.status}: {row.reply_text or ''}"
            lost.append((message, answer))
    return lost


@dataclass
class Episode:
    stage: str  # assign | reply
    start: datetime
    urgent: bool
    end: datetime | None = None


@dataclass
class DeadlineReport:
    deadlines: int = 0
    missed: int = 0
    missed_with_both: int = 0
    violations: list[str] = field(default_factory=list)
    without_timer: list[str] = field(default_factory=list)
    due_mismatch: list[str] = field(default_factory=list)
    overdue_lag_s: list[float] = field(default_factory=list)


def deadline_periods(created_at: datetime, timeline: list[dict[str, Any]]) -> list[Episode]:
    """The assign and reply periods of one case, rebuilt from its timeline."""
    urgent = False
    episodes: list[Episode] = []
    current: dict[str, Episode | None] = {"assign": Episode("assign", created_at, False), "reply": None}

    def close(stage: str, moment: datetime) -> None:
        episode = current[stage]
        if episode is not None:
            episode.end = moment
            episodes.append(episode)
            current[stage] = None

    for event in timeline:
        kind, moment = event["kind"], event["created_at"]
        if kind == "urgent":
            urgent = True
            for episode in current.values():
                if episode is not None:
                    episode.urgent = True
        elif kind.startswith("state:"):
            name = kind[6:]
            if name in ("assign", "transfer"):
                close("assign", moment)
                close("reply", moment)
                current["reply"] = Episode("reply", moment, urgent)
            elif name in ("reply", "merge", "reject"):
                close("assign", moment)
                close("reply", moment)
            elif name == "reopen":
                close("reply", moment)
                current["reply"] = Episode("reply", moment, urgent)
            elif name == "return_to_triage":
                close("reply", moment)
                current["assign"] = Episode("assign", moment, urgent)
    return episodes + [episode for episode in current.values() if episode is not None]


async def check_deadlines(sla: SlaPolicy, end: datetime) -> DeadlineReport:
    """Every assign and reply deadline that passed before the action (or before the end) must have had a
    reminder and an overdue notice on the case's timeline before the action.

    Deadline periods are rebuilt from the timeline (assign, transfer, reply, merge, reject, reopen, return);
    the exact due of each comes from the timer the service scheduled for it and is checked against the
    service levels; a period without a timer is a violation by itself.
    """
    report = DeadlineReport()
    cases = {row["id"]: row for row in await Case.all().values("id", "code", "created_at")}
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        await CaseEvent.filter(Q(kind__startswith="state:") | Q(kind__in=["urgent", "sla.reminder", "sla.overdue"]))
        .order_by("case_id", "created_at", "id")
        .values("case_id", "kind", "created_at", "detail")
    )
    for row in rows:
        events[row["case_id"]].append(row)
    timers: dict[tuple[int, str], list[tuple[datetime, str]]] = defaultdict(list)
    for row in await Job.filter(kind=deadlines.SLA_OVERDUE).values("case_id", "payload", "created_at"):
        if int(row["payload"].get("round", 1)) == 1 and row["case_id"] is not None:
            timers[(row["case_id"], row["payload"]["stage"])].append((row["created_at"], row["payload"]["due"]))
    for case_id, case in cases.items():
        timeline = events.get(case_id, [])
        episodes = deadline_periods(case["created_at"], timeline)
        for episode in episodes:
            report.deadlines += 1
            action = episode.end or end
            scheduled = [
                due
                for created, due in timers.get((case_id, episode.stage), [])
                if episode.start <= created and (episode.end is None or created < episode.end)
            ]
            if episode.stage == "assign":
                base = case["created_at"] if episode.start == case["created_at"] else episode.start
                expected = sla.assign_deadline(base, urgent=episode.urgent)
            else:
                expected = sla.reply_deadline(episode.start, urgent=episode.urgent)
            where = f"{case['code']} {episode.stage} period from {episode.start:%m-%d %H:%M}"
            if not scheduled:
                report.without_timer.append(where)
                if action > expected:
                    report.missed += 1
                    report.violations.append(f"{where}: no timer, due {expected:%m-%d %H:%M}")
                continue
            due_text = scheduled[-1]
            due = datetime.fromisoformat(due_text)
            if abs((due - expected).total_seconds()) > HOUR:
                report.due_mismatch.append(
                    f"{where}: timer due {due:%m-%d %H:%M}, service level {expected:%m-%d %H:%M}"
                )
            if action <= due:
                continue
            report.missed += 1
            kinds_before = {
                (event["kind"], event["detail"].get("stage"), event["detail"].get("due"))
                for event in timeline
                if event["created_at"] <= action and event["kind"] in ("sla.reminder", "sla.overdue")
            }
            reminded = ("sla.reminder", episode.stage, due_text) in kinds_before
            notified = ("sla.overdue", episode.stage, due_text) in kinds_before
            if reminded and notified:
                report.missed_with_both += 1
            else:
                report.violations.append(
                    f"{where}: due {due:%m-%d %H:%M}, acted {action:%m-%d %H:%M}, "
                    f"reminder {'yes' if reminded else 'NO'}, overdue notice {'yes' if notified else 'NO'}"
                )
        for event in timeline:
            if event["kind"] == "sla.overdue" and int(event["detail"].get("round", 1)) == 1:
                due = datetime.fromisoformat(event["detail"]["due"])
                report.overdue_lag_s.append((event["created_at"] - due).total_seconds())
    return report


async def stuck_return_visits(sla: SlaPolicy, end: datetime) -> list[str]:
    """Cases waiting for a survey answer past the timeout with no phone task since the survey went out:
    nobody will ever call, the case never closes (the "100% return visits" promise, broken silently)."""
    stuck = []
    for case in await Case.filter(state=CaseState.RETURN_VISIT, visit_sent_at__isnull=False):
        if sla.return_visit_deadline(case.visit_sent_at) > end:
            continue
        tasks = await CaseEvent.filter(case=case, kind="visit.phone_task", created_at__gte=case.visit_sent_at).count()
        if not tasks:
            recorded = f"{case.visit_recorded_at:%m-%d %H:%M}" if case.visit_recorded_at else "none"
            stuck.append(
                f"{case.code}: survey sent {case.visit_sent_at:%m-%d %H:%M}, reopened {case.reopen_count}×, "
                f"earlier visit recorded {recorded}"
            )
    return stuck


# ---- running it ------------------------------------------------------------------------------------


def service_config(args: argparse.Namespace, tmp: Path, fake_url: str) -> Any:
    return build_config(
        {
            "server": {"workers": args.workers},
            "database": {"url": args.database_url or f"sqlite://{tmp / 'mashang.sqlite3'}"},
            "redis": {"url": args.redis_url or "", "data_dir": str(tmp / "redis"), "key_prefix": "mssim:"},
            "wechat": {
                "app_id": "wxsimapp00000001",
                "app_secret": "sim-secret",
                "token": "simtoken",
                "encoding_aes_key": AES_KEY,
                "api_base_url": f"{fake_url}/wechat",
            },
            "wecom": {
                "api_base_url": f"{fake_url}/wecom",
                "triage_webhook_key": TRIAGE_HOOK,
                "token": "simwecomtoken",
                "encoding_aes_key": WECOM_AES_KEY,
            },
            "miniprogram": {"api_base_url": f"{fake_url}/wechat"},
            "intake": {"media_dir": str(tmp / "media"), "passive_reply_budget_s": "3s"},
            "sla": {
                "assign_within": "2d",
                "reply_within": "7d",
                "urgent_factor": 0.5,
                "remind_at": 0.75,
                "return_visit_after": "1d",
                "return_visit_timeout": "3d",
                "calendar": "natural",
            },
        },
        environ={},
    )


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:160]}")


async def due_backlog() -> int:
    return await Job.filter(Q(status=JobStatus.RUNNING) | Q(status=JobStatus.PENDING, run_at__lte=now())).count()


async def backlog_by_kind() -> str:
    kinds = await Job.filter(status=JobStatus.PENDING, run_at__lte=now()).values_list("kind", flat=True)
    return " ".join(f"{kind} {count}" for kind, count in Counter(kinds).most_common(3))


async def quiet(sla: SlaPolicy, silent_members: set[str]) -> bool:
    """Nothing left that people or timers will move: no case waits for staff, a department, an active
    member or a return visit still open (cases held by members who never answer only escalate)."""
    waiting = [CaseState.RECEIVED, CaseState.TRANSFERRED, CaseState.REPLIED]
    if await Case.filter(state__in=waiting).count() or await due_backlog():
        return False
    holders = await Case.filter(state__in=list(HELD_BY_MEMBER)).values_list("member__key", flat=True)
    if any(key not in silent_members for key in holders):
        return False
    # A survey still open may get an answer or become a phone task; one past its timeout will not move.
    surveyed_after = now() - timedelta(seconds=sla.return_visit_timeout)
    return not await Case.filter(state=CaseState.RETURN_VISIT, visit_sent_at__gt=surveyed_after).exists()


def fmt_days(seconds: float) -> str:
    return f"{seconds / DAY:.1f} d" if seconds >= DAY else f"{seconds / HOUR:.1f} h"


# What goes wrong in a month (issue 14 §9): WeChat itself is away for a while, and an operator's
# configuration mistake (the server's IP missing from the whitelists) is made and fixed later. Messages
# sent meanwhile must wait and arrive once; nothing may die.
OUTAGE_PATH = "/cgi-bin/"
MISCONFIGURED = (
    ("/cgi-bin/message/custom/send", 40164),
    ("/cgi-bin/message/template/send", 40164),
    ("/cgi-bin/message/send", 60020),
)


def plan_incidents(city: City, platform: FakePlatform, start: datetime, args: argparse.Namespace) -> None:
    if args.outage_hours > 0:

        async def outage_begins() -> None:
            print("   !! WeChat and WeCom unreachable (HTTP 503)", flush=True)
            platform.fail_all(OUTAGE_PATH, http_status=503)

        async def outage_ends() -> None:
            print("   !! WeChat and WeCom back", flush=True)
            platform.recover(OUTAGE_PATH)

        began = start + days(12.4)
        city.sched.at(began, "incident: outage", outage_begins)
        city.sched.at(began + timedelta(hours=args.outage_hours), "incident: outage over", outage_ends)
    if args.misconfigured_hours > 0:

        async def mistake_made() -> None:
            print("   !! configuration error: the server's IP is not whitelisted (40164 / 60020)", flush=True)
            for path, errcode in MISCONFIGURED:
                platform.fail_all(path, errcode=errcode)

        async def mistake_fixed() -> None:
            print("   !! configuration fixed", flush=True)
            for path, _ in MISCONFIGURED:
                platform.recover(path)

        began = start + days(20.6)
        city.sched.at(began, "incident: configuration error", mistake_made)
        city.sched.at(began + timedelta(hours=args.misconfigured_hours), "incident: configuration fixed", mistake_fixed)


async def simulate(args: argparse.Namespace) -> int:
    real_start = time.monotonic()
    main_task = asyncio.current_task()
    if main_task is not None:  # Ctrl-C or kill: stop the service and remove the world, not leave them behind
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)
    rng = random.Random(args.seed)
    world = build_world(rng, args.points, args.members, args.staff)
    tmp = Path(tempfile.mkdtemp(prefix="mashang-month-"))
    roster = tmp / "roster.toml"
    await asyncio.to_thread(roster.write_text, roster_toml(world), "utf-8")
    speed = args.speed or MONTH_DAYS * DAY / (args.minutes * 60 if args.minutes else args.seconds)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    previous_clock = get_clock()
    clock = ScaledClock(speed)
    set_clock(clock)
    platform = FakePlatform(
        apps={"wxsimapp00000001": "sim-secret", "wxminidemo000000": "demo-mini-secret"},
        corps={"wwdemo0000000000": "demo-wecom-secret"},
        # WeChat's windows and quotas run on the city's time (and go on while the checks read a frozen clock).
        clock=lambda: clock.now().timestamp(),
        # The service caches access tokens in Redis, whose expiry counts real time: tokens live 2 real hours.
        token_ttl_s=int(7200 * speed),
    )
    fake_server = TestServer(create_fake_platform(platform))
    server: TestServer | None = None
    session: aiohttp.ClientSession | None = None
    city: City | None = None
    status = 1
    try:
        await fake_server.start_server()
        config = service_config(args, tmp, str(fake_server.make_url("")).rstrip("/"))
        app = create_app(config, run_workers=True)
        server = TestServer(app)
        await server.start_server()
        imported = await import_roster(roster)
        if not args.real_time_rate_limits:
            delivery = app[WECOM_DELIVERY]
            for name in ("user_limits", "appchat_limits", "webhook_limits"):
                limits = getattr(delivery, name)
                setattr(delivery, name, tuple((count, max(window / speed, 0.001)) for count, window in limits))
        session = aiohttp.ClientSession()
        oa = OfficialAccountSender(
            session,
            str(server.make_url("/wechat/callback")),
            token=config.wechat.token,
            app_id=config.wechat.app_id,
            encoding_aes_key=AES_KEY,
            mode="safe",
            platform=platform,
        )
        city = City(args, rng, world, platform, app, oa)
        start = now()
        month_end = start + days(MONTH_DAYS)
        hard_end = month_end + days(args.drain_days)
        city.complaints = plan_complaints(rng, world, args.cases, start)
        for complaint in city.complaints:
            city.sched.at(
                start + timedelta(seconds=complaint.offset_s),
                "citizen: complain",
                functools.partial(city.complain, complaint),
            )
        plan_incidents(city, platform, start, args)
        city.start()
        print(
            f"== 码上商 month simulation: {args.cases:,} cases, {len(world.points)} contact points, "
            f"{len(world.members)} members, {len(world.staff)} staff; 30 days in "
            f"{MONTH_DAYS * DAY / speed:.0f} s (speed ×{speed:,.0f}), drain up to {args.drain_days} days; "
            f"seed {args.seed} ==",
            flush=True,
        )
        print(f"   roster: {imported.summary()}; world in {tmp}", flush=True)
        sim_real_start = time.monotonic()
        last_jobs, last_tick = 0, sim_real_start
        drain_announced = False
        silent = {m.key for m in world.members if m.profile == "never"}
        while True:
            await asyncio.sleep(args.progress)
            moment = now()
            jobs_done = await Job.filter(status=JobStatus.DONE).count()
            tick = time.monotonic()
            rate = (jobs_done - last_jobs) / max(0.001, tick - last_tick)
            last_jobs, last_tick = jobs_done, tick
            lags = city.sched.lags[-500:]
            print(
                f"[{tick - real_start:6.1f}s] day {(moment - start).total_seconds() / DAY:5.1f} | "
                f"complaints {sum(c.sent for c in city.complaints)}/{len(city.complaints)} | "
                f"cases {await Case.all().count()} | jobs done {jobs_done} ({rate:.0f}/s), due {await due_backlog()} "
                f"[{await backlog_by_kind()}] | "
                f"inbox {await InboundMessage.all().count()} | actions {sum(city.sched.done.values())}, "
                f"planned {city.sched.planned}, late p95 {fmt_days(percentile(lags, 95))}",
                flush=True,
            )
            if moment >= month_end and not drain_announced:
                drain_announced = True
                city.month_jobs, city.month_real = jobs_done, tick - sim_real_start
                print(f"   month over after {city.month_real:.1f} s real; draining", flush=True)
            if moment >= hard_end or (moment >= month_end and await quiet(app[SETTINGS].sla, silent)):
                break
        # Stop the city at one moment: the clock stands still, the due timers run, then the checks.
        end = now()
        sim_real = time.monotonic() - sim_real_start
        set_clock(FrozenClock(end, speed))
        await city.stop()
        for _ in range(600):
            if await due_backlog() == 0:
                break
            await asyncio.sleep(0.1)
        await app[JOBS].stop()
        status = await report(args, app, city, start, end, speed, sim_real, real_start, errors)
    except asyncio.CancelledError:
        print(f"\ninterrupted after {time.monotonic() - real_start:.1f} s; stopping the service", flush=True)
        status = 130
    finally:
        if city is not None:
            await city.stop()
        if session is not None:
            await session.close()
        if server is not None:
            await server.close()
        await fake_server.close()
        set_clock(previous_clock)
        logging.getLogger().removeHandler(errors)
        if args.keep:
            print(f"   world kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


async def report(
    args: argparse.Namespace,
    app: Any,
    city: City,
    start: datetime,
    end: datetime,
    speed: float,
    sim_real: float,
    real_start: float,
    errors: ErrorCounter,
) -> int:
    checks_start = time.monotonic()
    figures = await case_figures.figures_since(start)
    overdue = await case_figures.overdue_now()
    print(f"\n== figures: {fmt_days((end - start).total_seconds())} of business time ==")
    print(figures.line("模拟期") + f"；当前超期 {overdue} 件")
    print(
        f"   new cases {figures.new_cases} | triaged {figures.triaged}, on time {figures.triaged_on_time} | "
        f"replied {figures.replied}, on time {figures.replied_on_time} | return visits due {figures.visits_due}, "
        f"recorded {figures.visits_recorded} | satisfied {figures.satisfied} | overdue now {overdue}"
    )
    states = Counter(await Case.all().values_list("state", flat=True))
    print("   states: " + ", ".join(f"{state} {count}" for state, count in states.most_common()))
    visits = Counter(await Case.filter(visit_channel__isnull=False).values_list("visit_channel", flat=True))
    reopened = await Case.filter(reopen_count__gt=0).count()
    print(f"   return visits by channel: {dict(visits)}; cases reopened at least once: {reopened}")

    lost = await lost_messages(city.complaints + city.infos)
    lost_cases = [(m, answer) for m, answer in lost if m.kind == "complaint"]
    deadlines = await check_deadlines(app[SETTINGS].sla, end)
    unvisited = await Case.filter(state=CaseState.CLOSED, visit_recorded_at__isnull=True).values_list("code", flat=True)
    stuck_visits = await stuck_return_visits(app[SETTINGS].sla, end)
    sent = [c for c in city.complaints if c.sent]
    outcomes = Counter(c.outcome for c in sent)
    print("\n== must be zero ==")
    print(
        f"   cases lost: {len(lost_cases)}  ({len(sent)} complaints sent: "
        + ", ".join(f"{count} {outcome}" for outcome, count in outcomes.most_common())
        + f"; {len(lost) - len(lost_cases)} of {len(city.infos)} answers to members' questions lost)"
    )
    for message, answer in lost[:8]:
        print(f"      lost {message.kind} from {message.openid}: {message.text!r} -> {answer[:110]!r}")
    print(
        f"   deadlines missed without a reminder and an overdue notice: {len(deadlines.violations)}  "
        f"({deadlines.deadlines} deadline periods, {deadlines.missed} missed, "
        f"{deadlines.missed_with_both} of them with both)"
    )
    for line in deadlines.violations[:8]:
        print(f"      {line}")
    print(f"   cases closed without a recorded return visit: {len(unvisited)}")
    for code in unvisited[:8]:
        print(f"      {code}")
    print(f"   return visits past their timeout without a phone task: {len(stuck_visits)}")
    for line in stuck_visits[:8]:
        print(f"      {line}")

    print("\n== other checks ==")
    dead = await Job.filter(status=JobStatus.DEAD).values("kind", "last_error")
    print(f"   dead jobs: {len(dead)}")
    for row in dead[:5]:
        print(f"      {row['kind']}: {(row['last_error'] or '')[:120]}")
    inbox = Counter(await InboundMessage.all().values_list("status", flat=True))
    not_done = sum(count for status, count in inbox.items() if status != InboxStatus.DONE)
    print(f"   inbox rows not done: {not_done} ({dict(inbox)})")
    outbound = await CaseEvent.filter(kind="message.out").values_list("detail", flat=True)
    channels = Counter(str(detail.get("channel")) for detail in outbound)
    job_ids = Counter(detail.get("job_id") for detail in outbound if detail.get("job_id") is not None)
    duplicates = sum(count - 1 for count in job_ids.values() if count > 1)
    print(f"   messages delivered by channel: {dict(channels.most_common())}")
    print(f"   messages delivered twice by the same job: {duplicates}")
    print(f"   access tokens fetched from the platform: {city.platform.token_fetch_count}")
    print(
        f"   deadline periods without a timer: {len(deadlines.without_timer)}; "
        f"timer due differs from the service level: {len(deadlines.due_mismatch)}"
    )
    for line in deadlines.due_mismatch[:3]:
        print(f"      {line}")
    lags = deadlines.overdue_lag_s
    print(
        f"   overdue notices after the deadline (business time): p50 {fmt_days(percentile(lags, 50))}, "
        f"p95 {fmt_days(percentile(lags, 95))}, max {fmt_days(max(lags, default=0.0))}"
    )
    actor_lags = city.sched.lags
    print(
        f"   people acting after their planned time: p50 {fmt_days(percentile(actor_lags, 50))}, "
        f"p95 {fmt_days(percentile(actor_lags, 95))}, max {fmt_days(max(actor_lags, default=0.0))}"
    )
    print("   what people did: " + ", ".join(f"{label} {count}" for label, count in sorted(city.sched.done.items())))
    print("   what happened: " + ", ".join(f"{label} {count}" for label, count in sorted(city.counts.items())))
    if city.errors:
        print("   commands the service refused (the case had moved on, or a real error):")
        for line, count in city.errors.most_common(8):
            print(f"      {count} × {line}")
    if city.sched.failed:
        print(f"   actions that raised: {dict(city.sched.failed)}")
    print(f"   service errors logged: {len(errors.records)}")
    for line in errors.records[:5]:
        print(f"      {line}")

    jobs_done = await Job.filter(status=JobStatus.DONE).count()
    inbox_rows = sum(inbox.values())
    total = time.monotonic() - real_start
    print("\n== performance ==")
    print(
        f"   real time {total:.1f} s (simulation {sim_real:.1f} s at ×{speed:,.0f}, checks "
        f"{time.monotonic() - checks_start:.1f} s); jobs processed {jobs_done:,} ({jobs_done / sim_real:.0f}/s); "
        f"inbox messages {inbox_rows:,} ({inbox_rows / sim_real:.0f}/s); platform deliveries {city.delivered:,}; "
        f"people's actions {sum(city.sched.done.values()):,}"
    )
    if city.month_real:
        print(
            f"   during the 30 days: {city.month_jobs:,} jobs in {city.month_real:.1f} s "
            f"({city.month_jobs / city.month_real:.0f} jobs/s)"
        )
    failed = [
        name
        for name, value in (
            ("cases lost", len(lost_cases)),
            ("deadlines missed without reminder and overdue notice", len(deadlines.violations)),
            ("cases closed without a return visit", len(unvisited)),
            ("return visits past their timeout without a phone task", len(stuck_visits)),
            ("messages delivered twice", duplicates),
            ("dead jobs", len(dead)),
        )
        if value
    ]
    print("\nRESULT: " + ("OK, every must-be-zero figure is 0" if not failed else "FAILED: " + "; ".join(failed)))
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="citizens' complaints in the month (default 300)")
    parser.add_argument("--points", type=int, default=50, help="contact points (default 50)")
    parser.add_argument("--members", type=int, default=200, help="members (default 200)")
    parser.add_argument("--staff", type=int, default=4, help="triage staff, plus one admin (default 4)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--seconds", type=float, default=60.0, help="real seconds for the 30 days (default 60)")
    pace.add_argument("--minutes", type=float, help="real minutes for the 30 days")
    pace.add_argument("--speed", type=float, help="business seconds per real second (overrides the above)")
    parser.add_argument("--drain-days", type=float, default=25.0, help="business days after the month at most")
    parser.add_argument("--late-triage", type=float, default=0.06, help="share of cases staff assign late")
    parser.add_argument("--workers", type=int, default=4, help="the service's job workers (server.workers)")
    parser.add_argument("--concurrency", type=int, default=16, help="people acting at the same moment at most")
    parser.add_argument("--database-url", help="an empty database instead of a temporary SQLite file")
    parser.add_argument("--redis-url", help="a Redis instead of an embedded one (keys under mssim:)")
    parser.add_argument("--real-time-rate-limits", action="store_true", help="keep WeCom limits in real time")
    parser.add_argument("--progress", type=float, default=5.0, help="real seconds between progress lines")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--outage-hours", type=float, default=6.0, help="business hours WeChat is away mid-month (0: none; default 6)"
    )
    parser.add_argument(
        "--misconfigured-hours",
        type=float,
        default=3.0,
        help="business hours the server's IP is missing from the whitelists, from day 20 (0: none; default 3)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary world (database, Redis)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(simulate(args))


if __name__ == "__main__":
    sys.exit(main())
