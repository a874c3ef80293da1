"""How the delivery workers turn platform failures into job retries.

Three kinds of failure besides "try again soon":

- a configuration error an administrator fixes in minutes (`misconfigured`): the job waits and is tried
  again slowly without counting attempts, up to `[jobs] misconfigured_ceiling` (bot/job_runner.py,
  `Misconfigured`); the operators are told once per cause what to fix (bot/outbound/alerts.py);
- today's API quota used up (official account 45009, `daily_quota`): the job waits for the next
  Beijing day, when WeChat resets the quota, without counting attempts;
- a token the platform keeps rejecting (`unavailable` with TokenRejected): retried, never counted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.job_runner import GiveUp, Misconfigured, RetryLater
from bot.outbound.wechat_api import TokenRejected, WeChatAPIError, WeChatUnavailable
from models.timeutil import get_clock, now

BEIJING = ZoneInfo("Asia/Shanghai")
# Official account and mini-program (全局返回码, developers.weixin.qq.com/doc/offiaccount/Getting_Started/
# Global_Return_Code.html): 40164 调用接口的IP地址不在白名单中 ("invalid ip ..., not in whitelist"),
# 40125 不合法的secret ("invalid appsecret"), 40013 不合法的AppID, 48001 api功能未授权 ("api unauthorized":
# a subscription account has no template messages, or the interface is not granted), 40037 不合法的
# template_id, 47003 模板参数不准确 ("argument invalid!": a data key missing, or a value not of its type).
WECHAT_MISCONFIGURED = frozenset({40164, 40125, 40013, 48001, 40037, 47003})
# WeCom (全局错误码, developer.work.weixin.qq.com/document/path/90313): 60020 不安全的访问IP (the server is
# not among the app's 企业可信IP), 48001 API接口无权限调用, 40013 不合法的CorpID, 40056 不合法的agentid,
# 93000 机器人webhookurl不合法或者机器人已经被移除出群 (the robot's key), 86003 chatid 不存在 (a chat the app did
# not create: appchat/send works only for those), 60011 指定的成员/部门/标签参数无权限 (the app's 可见范围).
WECOM_MISCONFIGURED = frozenset({60020, 48001, 40013, 40056, 93000, 86003, 60011})
WECOM_BAD_SECRET = 40001  # at gettoken only: 不合法的secret参数 (elsewhere WeCom's token errors are 40014/42001)
DAILY_QUOTA = 45009  # official account: "reach max api daily quota limit" (the quota resets at Beijing midnight)
QUOTA_JITTER_S = (60.0, 900.0)  # after midnight, spread out: not every waiting message at 00:00:00
PLATFORM_NAMES = {"wechat": "WeChat", "miniprogram": "WeChat mini-program", "wecom": "WeCom", "webhook": "WeCom robot"}


@dataclass(frozen=True)
class Cause:
    """What refused a job, as the operators are told about it: `platform` is wechat (the official
    account), miniprogram, wecom (the WeCom app: app messages, the triage appchat, its token) or
    webhook (the triage group's robot)."""

    platform: str
    errcode: int
    errmsg: str


def business_seconds(real_s: float) -> float:
    """A real-time wait as business seconds (the job queue runs on the business clock)."""
    return real_s / get_clock().to_real_seconds(1.0)


def unavailable(exc: WeChatUnavailable, platform: str = "WeChat") -> RetryLater:
    """Retry later. A token the platform keeps rejecting is no fault of the message: the try is not
    counted against the job's attempts (it must never die of it) and waits until a new try can do more
    (the 30 s between forced refreshes, the next day once today's are used)."""
    if isinstance(exc, TokenRejected):
        return RetryLater(
            f"{platform} token rejected: {exc}",
            delay_s=business_seconds(exc.retry_after_s),
            count_attempt=False,
        )
    return RetryLater(f"{platform} unavailable: {exc}")


def misconfigured(exc: WeChatAPIError, platform: str) -> Misconfigured | None:
    """The job's `Misconfigured` when `exc` is an error an administrator fixes (the tables above)."""
    code = exc.errcode
    if platform in ("wecom", "webhook"):
        known = code in WECOM_MISCONFIGURED or (code == WECOM_BAD_SECRET and exc.api.endswith("/gettoken"))
    else:
        known = code in WECHAT_MISCONFIGURED
    if not known:
        return None
    name = PLATFORM_NAMES.get(platform, platform)
    return Misconfigured(
        f"{name} configuration error {code} ({exc.api}): {exc.errmsg}",
        Cause(platform, code, exc.errmsg[:200]),
    )


def next_beijing_day(moment: datetime | None = None) -> datetime:
    """00:00 of the next Beijing (Asia/Shanghai) day after `moment` (now)."""
    local = (moment or now()).astimezone(BEIJING)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=BEIJING)


def daily_quota(exc: WeChatAPIError, platform: str = "wechat") -> RetryLater:
    """Today's quota of the API is used up: wait for the next Beijing day (plus a little jitter), the
    try not counted. The operators are told once a day (the cause)."""
    delay = (next_beijing_day() - now()).total_seconds() + random.uniform(*QUOTA_JITTER_S)
    return RetryLater(
        f"{PLATFORM_NAMES.get(platform, platform)} daily quota used up ({exc.api}): {exc.errmsg}; "
        "waiting for the next day",
        delay_s=delay,
        count_attempt=False,
        cause=Cause(platform, exc.errcode, exc.errmsg[:200]),
    )


def classify_wechat(exc: WeChatAPIError, retriable: frozenset[int] | set[int], platform: str = "wechat") -> Exception:
    """An official-account (or mini-program) error as the job's outcome: a configuration error, the
    daily quota, a retriable error, else a permanent one (the job gives up)."""
    found = misconfigured(exc, platform)
    if found is not None:
        return found
    if exc.errcode == DAILY_QUOTA:
        return daily_quota(exc, platform)
    if exc.errcode in retriable:
        return RetryLater(f"WeChat error {exc.errcode}: {exc.errmsg}")
    return GiveUp(f"WeChat error {exc.errcode}: {exc.errmsg}")
