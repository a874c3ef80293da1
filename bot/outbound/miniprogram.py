"""Reaching a citizen who uses the mini-program, and linking the two openids of one person.

A `send.citizen` job goes to the channel the person can be reached on now (`CitizenChannels.send`):

1. the official account's customer-service window, when their official-account openid has it open;
2. a subscribe message (message/subscribe/send) to their mini-program openid, for a reply, a member's
   question or the return-visit survey (payload `purpose`), while a one-time consent is left
   (handlers.miniprogram.subscriptions: one consent, one send; WeChat's 43101 says none is left);
3. a template message through the official account, when they follow it;
4. otherwise the message waits in the case: the mini-program shows it on the next visit and the
   timeline records that it was not pushed (`message.out` with channel "none").

A citizen with no mini-program openid (no unionid link) goes straight to `CitizenDelivery`, as before.
Retries, backoff and exactly-once follow the outbox's rules: a consent taken for a send that failed is
given back before the job is retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.config import MiniProgramConfig
from bot.job_runner import GiveUp, RetryLater
from bot.outbound.citizen import RETRIABLE_CODES, CitizenDelivery
from bot.outbound.retry import classify_wechat
from bot.outbound.template_data import fit, key_type, local_time
from bot.outbound.wechat_api import MiniProgramClient, WeChatAPIError, WeChatClient, WeChatUnavailable
from handlers import payloads
from handlers.miniprogram import identity, subscriptions
from handlers.texts import miniprogram as texts
from models import window
from models.entities import Case, Citizen
from models.jobs import Job
from models.state import record_event
from models.timeutil import now

NO_CONSENT = 43101
PUSHED: frozenset[str] = frozenset({"reply", "question", "survey", "topic", "case_filed"})
PHRASES = {
    "reply": "已答复",
    "question": "待补充",
    "survey": "待评价",
    "topic": "已结束",
    "case_filed": "已受理",
}  # a `phrase` key: at most 5 characters


class SubscribeDelivery:
    def __init__(self, mini: MiniProgramClient, config: MiniProgramConfig) -> None:
        self.mini = mini
        self.config = config

    def message(self, payload: payloads.SendCitizen) -> tuple[str, dict[str, str], str]:
        """(template id, data, page) of the subscribe message carrying `payload`."""
        purpose = payload.get("purpose") or "reply"
        code = payload.get("case_code") or ""
        when = local_time(now())
        title = PHRASES[purpose] if key_type(self._keys(purpose)[1]) == "phrase" else texts.SUBSCRIBE_TITLES[purpose]
        if purpose == "survey":
            template = self.config.visit_template_id
            values = [code, texts.SUBSCRIBE_CONTENT["survey"], when]
        elif purpose == "topic":  # a consultation topic's outcome, in the reply template's layout
            topic_key = payload.get("topic_key") or ""
            template = self.config.reply_template_id
            values = [topic_key, title, payload["text"], when]
            data = {k: fit(k, v) for k, v in zip(self._keys(purpose), values, strict=True)}
            return template, data, f"{self.config.topic_page}?key={topic_key}"
        else:
            template = self.config.reply_template_id
            values = [code, title, texts.SUBSCRIBE_CONTENT[purpose], when]
        keys = self._keys(purpose)
        data = {key: fit(key, value) for key, value in zip(keys, values, strict=True)}
        page = f"{self.config.case_page}?code={code}" if code else self.config.page
        return template, data, page

    def _keys(self, purpose: str) -> list[str]:
        keys = self.config.visit_template_keys if purpose == "survey" else self.config.reply_template_keys
        return keys.split()

    async def try_send(self, citizen: Citizen, payload: payloads.SendCitizen) -> str | None:
        """The template id when sent; None when no consent is left (ours, or WeChat's 43101)."""
        template, data, page = self.message(payload)
        if not await subscriptions.take(citizen.id, template):
            return None
        try:
            await self.mini.send_subscribe_message(citizen.openid, template, data, page)
        except WeChatAPIError as exc:
            if exc.errcode == NO_CONSENT:
                await subscriptions.used_up(citizen.id, template)
                return None
            await subscriptions.give_back(citizen.id, template)
            # A template or data WeChat refuses waits for an administrator (Misconfigured), it is not dropped.
            failure = classify_wechat(exc, RETRIABLE_CODES, "miniprogram")
            if isinstance(failure, GiveUp):
                failure = RetryLater(f"WeChat error {exc.errcode}: {exc.errmsg}", delay_s=600.0)
            raise failure from exc
        except WeChatUnavailable as exc:
            await subscriptions.give_back(citizen.id, template)
            raise RetryLater(f"WeChat unavailable: {exc}") from exc
        return template


def _latest_follower(people: list[Citizen]) -> Citizen | None:
    """The person's official-account openid that wrote last (not a member's bound one), if any."""
    followers = [p for p in people if p.channel != identity.CHANNEL and p.member_id is None]  # type: ignore[attr-defined]
    if not followers:
        return None
    return max(followers, key=lambda p: (p.last_inbound_at is not None, p.last_inbound_at or p.created_at, p.id))


def _window_open(citizen: Citizen) -> bool:
    opened = citizen.last_inbound_at
    return opened is not None and opened > now() - window.LENGTH and citizen.window_sends < window.MAX_SENDS


class CitizenChannels:
    """The `send.citizen` runner (see the module's doc)."""

    def __init__(self, official: CitizenDelivery, subscribe: SubscribeDelivery) -> None:
        self.official = official
        self.subscribe = subscribe
        self._locks: dict[str, asyncio.Lock] = {}

    async def send(self, job: Job) -> dict[str, Any]:
        payload = payloads.read(job.payload, payloads.SendCitizen)
        if payload.get("audience") == "member":
            return await self.official.send(job)
        citizen = await Citizen.get_or_none(openid=payload["openid"])
        people = await identity.linked(citizen) if citizen is not None else []
        minis = [p for p in people if p.channel == identity.CHANNEL]
        if not minis:
            return await self.official.send(job)
        person = people[0].unionid or people[0].openid
        lock = self._locks.setdefault(person, asyncio.Lock())
        try:
            async with lock:  # one person's messages go out one at a time, in queue order
                return await self._send(job, payload, people, minis)
        finally:
            if not lock.locked() and self._locks.get(person) is lock:
                del self._locks[person]

    async def _send(
        self, job: Job, payload: payloads.SendCitizen, people: list[Citizen], minis: list[Citizen]
    ) -> dict[str, Any]:
        await self.official.wait_for_older(job)  # the subscribe message too keeps the case's order
        follower = _latest_follower(people)
        if follower is not None and _window_open(follower):
            return await self._official(job, follower)
        purpose = payload.get("purpose")
        if purpose in PUSHED:
            for mini in sorted(minis, key=lambda p: -p.id):
                template = await self.subscribe.try_send(mini, payload)
                if template is not None:
                    await self._record(job, payload, "subscribe", template=template, openid=mini.openid)
                    return {"channel": "subscribe"}
        if follower is not None:
            return await self._official(job, follower)
        reason = "no_consent" if purpose in PUSHED else "not_pushed_kind"
        await self._record(job, payload, "none", pushed=False, reason=reason)
        return {"channel": "none", "reason": reason}

    async def _official(self, job: Job, follower: Citizen) -> dict[str, Any]:
        if job.payload.get("openid") != follower.openid:
            job.payload = {**job.payload, "openid": follower.openid}  # in memory: a retry decides afresh
        return await self.official.send(job)

    @staticmethod
    async def _record(job: Job, payload: payloads.SendCitizen, channel: str, **detail: Any) -> None:
        case_id = job.case_id  # type: ignore[attr-defined]
        if case_id is None:
            return
        case = await Case.get(id=case_id)
        await record_event(
            case, "message.out", "system", channel=channel, job_id=job.id, text=payload["text"], to="citizen", **detail
        )


class UnionidFetcher:
    """The `citizen.unionid` runner: an official-account follower's unionid from cgi-bin/user/info."""

    def __init__(self, wechat: WeChatClient) -> None:
        self.wechat = wechat

    async def fetch(self, job: Job) -> dict[str, Any]:
        openid = payloads.read(job.payload, payloads.FetchUnionid)["openid"]
        try:
            info = await self.wechat.user_info(openid)
        except WeChatUnavailable as exc:
            raise RetryLater(f"WeChat unavailable: {exc}") from exc
        except WeChatAPIError as exc:
            raise classify_wechat(exc, RETRIABLE_CODES) from exc
        unionid = info.get("unionid")
        if not isinstance(unionid, str) or not unionid:
            return {"unionid": None}
        await Citizen.filter(openid=openid).update(unionid=unionid[:64])
        return {"unionid": "set"}
