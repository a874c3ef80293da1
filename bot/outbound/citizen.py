"""Job handlers that talk to WeChat: messages to citizens and media downloads.

Messages to citizens use the customer-service API while the 48-hour window is open and fewer than 5
messages went out in it; otherwise (or when WeChat answers 45015) the channel `[wechat] out_of_window`
names: a template message (the operator's typed keys, the case page behind its link; its
TEMPLATESENDJOBFINISH later tells whether it arrived), a subscription notice (subscribe/bizsend), or
none: then the message waits for the citizen's next message, which opens the window again. The case
timeline records which channel carried each message. A message of a case never overtakes an older one
of the same case that is held back (a retry after WeChat was busy).

A text over 2,048 bytes (WeChat refuses it with 45002) goes out in numbered parts (bot/outbound/parts.py),
in order, each taking one send of the window. The job records how many parts went out, so a retry sends
only the rest. When the window runs out part-way, one template message tells of the rest (its text is on
the case page the message opens).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from pathlib import Path
from typing import Any

from tortoise.expressions import Q

from bot.config import TemplateConfig, WeChatConfig
from bot.job_runner import GiveUp, RetryLater
from bot.outbound.parts import OA_TEXT_MAX_BYTES, split_text
from bot.outbound.retry import business_seconds, classify_wechat, unavailable
from bot.outbound.template_data import fit, local_time
from bot.outbound.wechat_api import OutcomeUnknown, WeChatAPIError, WeChatClient, WeChatUnavailable
from handlers import payloads
from handlers.cases.case_page import case_page_url
from handlers.cases.media import media_extension, voice_duration_s
from handlers.cases.outbox import SEND_CITIZEN, WAITING_FOR_CITIZEN
from handlers.cases.visits import make_phone_task, record_template_send
from handlers.settings import Settings
from handlers.texts import citizen as citizen_texts
from handlers.texts import member as member_texts
from models import window
from models.entities import Case, CaseMessage, CaseState, Citizen
from models.jobs import Job, JobStatus
from models.state import record_event
from models.timeutil import now

log = logging.getLogger(__name__)

RETRIABLE_CODES = frozenset({-1, 45011})  # system busy, rate limit (45009, the daily quota: bot/outbound/retry.py)
# template/send's client_msg_id (防重入id): "for one openid + client_msg_id only one message is sent,
# valid for 10 minutes" (模板消息接口 docs). WeChat then answers ok with the first send's msgid; answers
# seen for a repeat elsewhere (45065 "clientmsgid exist" on mass sends, 40241 "The message is duplicate
# in 60 seconds", developers.weixin.qq.com community) also mean it went out before: not again.
DUPLICATE_SEND_CODES = frozenset({45065, 40241})
NO_SUBSCRIPTION = 43101  # subscribe/bizsend: "user refuse to accept the msg" (no subscription left)
# The channel of a message past the customer-service window, by wechat.out_of_window.
LATE_CHANNELS = {"template": "template", "subscribe": "notice", "none": "waiting"}
# A waiting message looks again this often: the citizen's message wakes it at once where it can
# (handlers.cases.outbox.wake_waiting_messages), and this look catches the rest (a member writing on the
# official account, a linked mini-program citizen, a message that began to wait as the citizen wrote).
WAIT_FOR_CITIZEN_S = 3600.0


class CitizenDelivery:
    def __init__(self, wechat: WeChatClient, config: WeChatConfig, settings: Settings, mini_app_id: str = "") -> None:
        self.wechat = wechat
        self.config = config
        self.settings = settings
        self.mini_app_id = mini_app_id
        self._locks: dict[str, asyncio.Lock] = {}

    async def send(self, job: Job) -> dict[str, Any]:
        openid = payloads.read(job.payload, payloads.SendCitizen)["openid"]
        lock = self._locks.setdefault(openid, asyncio.Lock())
        try:
            async with lock:  # one citizen's messages go out one at a time, in queue order
                return await self._send(job)
        finally:
            if not lock.locked() and self._locks.get(openid) is lock:
                del self._locks[openid]

    async def _send(self, job: Job) -> dict[str, Any]:
        await self.wait_for_older(job)
        late = LATE_CHANNELS[self.config.out_of_window]
        payload = payloads.read(job.payload, payloads.SendCitizen)
        citizen = await Citizen.get_or_none(openid=payload["openid"])
        if citizen is None:
            raise GiveUp(f"unknown citizen {payload['openid']}")
        parts = split_text(payload["text"], OA_TEXT_MAX_BYTES, code=payload.get("case_code"))
        channels: list[str] = list(payload.get("part_channels") or [])
        for index in range(len(channels), len(parts)):
            slot = await window.reserve(citizen)
            channel = "custom" if slot is not None else late
            if channel == "custom":
                try:
                    await self.wechat.send_custom_text(citizen.openid, parts[index])
                except WeChatAPIError as exc:
                    await window.release(citizen, slot)
                    if exc.errcode not in window.REFUSED_CODES:
                        raise self._classify(exc) from exc
                    channel = late
                except OutcomeUnknown as exc:
                    # It may have arrived (and used its send of the window: not given back). Tried once
                    # more, then taken as maybe sent: custom/send has no idempotency key, and every
                    # further try risks one more copy and another of the citizen's five sends.
                    timed_out = list(payload.get("timed_out_parts") or [])
                    if index not in timed_out:
                        payload["timed_out_parts"] = [*timed_out, index]
                        job.payload = dict(payload)
                        await Job.filter(id=job.id).update(payload=job.payload)
                        raise unavailable(exc) from exc
                    channel = "maybe"
                except WeChatUnavailable as exc:
                    await window.release(citizen, slot)
                    raise unavailable(exc) from exc
            if channel == late:
                # The window is closed: one template message (or subscription notice) for this part and
                # the ones after it; with neither (out_of_window = "none") the text waits for the citizen.
                if late == "waiting" or not await self._send_template(
                    job, citizen, payload, index, None if index == 0 else parts[index]
                ):
                    await self._wait_for_citizen(job, citizen, payload)
                channels += [late] * (len(parts) - index)
            else:
                channels.append(channel)
            # A retry (say the timeline write below failed) sends only what did not go out.
            payload["part_channels"] = list(channels)
            job.payload = dict(payload)
            await Job.filter(id=job.id).update(payload=job.payload)
            if channel == late:
                break
        channel = channels[0]
        if job.case_id is not None:  # type: ignore[attr-defined]
            case = await Case.get(id=job.case_id)  # type: ignore[attr-defined]
            to = "member" if payload.get("audience") == "member" else "citizen"
            detail: dict[str, Any] = {"parts": len(parts)} if len(parts) > 1 else {}
            if late in channels and channel == "custom":
                detail["template_from_part"] = channels.index(late) + 1
            await record_event(
                case, "message.out", "system", channel=channel, job_id=job.id, text=payload["text"], to=to, **detail
            )
        return {"channel": channel, "parts": len(parts)} if len(parts) > 1 else {"channel": channel}

    async def _send_template(
        self, job: Job, citizen: Citizen, payload: payloads.SendCitizen, part: int, rest: str | None = None
    ) -> bool:
        """A template message for the text, or for `rest` (part `part` and those after it) when the window
        closed part-way through a long text. Its data keys are the configured template's, each value cut
        to its key's type (bot/outbound/template_data.py); the whole text is behind its link."""
        purpose = "visit" if payload.get("purpose") == "survey" else "reply"
        template = self.config.template(purpose)
        if template is None:
            raise GiveUp("outside the customer-service window and no template is configured (wechat.templates.reply)")
        case = await Case.get_or_none(id=job.case_id).prefetch_related("contact_point") if job.case_id else None  # type: ignore[attr-defined]
        text = payload["text"] if rest is None else rest
        data = self._template_data(template, payload, text, case)
        url, miniprogram = None, None
        member = payload.get("audience") == "member"
        if case is not None and not member:  # the case page is the citizen's own
            if template.miniprogram_page and self.mini_app_id:
                miniprogram = {"appid": self.mini_app_id, "pagepath": f"{template.miniprogram_page}?code={case.code}"}
            else:
                # The link is the case's citizen's: the one reached here may be their linked other openid.
                owner = citizen if citizen.id == case.citizen_id else await Citizen.get(id=case.citizen_id)  # type: ignore[attr-defined]
                url = await case_page_url(case, owner, self.settings)
        try:
            if self.config.out_of_window == "subscribe":
                await self.wechat.send_subscription_notice(
                    citizen.openid, template.id, data, page=url, miniprogram=miniprogram
                )
                return True
            msgid = await self.wechat.send_template(
                citizen.openid,
                template.id,
                data,
                url,
                miniprogram=miniprogram,
                client_msg_id=f"mashang-{job.id}-{part}",
            )
        except WeChatAPIError as exc:
            if exc.errcode in DUPLICATE_SEND_CODES:
                return True  # sent on an earlier try (a crash before our bookkeeping): not again
            if exc.errcode == NO_SUBSCRIPTION and self.config.out_of_window == "subscribe":
                return False  # the citizen has not subscribed (or used it up): the message waits
            raise self._classify(exc) from exc
        except OutcomeUnknown as exc:
            # It may have gone out. A template's client_msg_id lets WeChat refuse a copy for a while, a
            # subscription notice has no such key: tried once more, then taken as maybe sent, as the
            # customer-service path does (every further try risks one more copy).
            timed_out = list(payload.get("timed_out_late") or [])
            if part not in timed_out:
                payload["timed_out_late"] = [*timed_out, part]
                job.payload = dict(payload)
                await Job.filter(id=job.id).update(payload=job.payload)
                raise unavailable(exc) from exc
            log.warning("job %s: no answer twice from WeChat for part %d: taken as maybe sent", job.id, part + 1)
            return True
        except WeChatUnavailable as exc:
            raise unavailable(exc) from exc
        if msgid:
            purpose_sent = payload.get("purpose") or ("notice" if case is None else "reply")
            await record_template_send(msgid, case, purpose_sent)
        return True

    async def _wait_for_citizen(self, job: Job, citizen: Citizen, payload: payloads.SendCitizen) -> None:
        """No channel reaches the citizen past the window: the message waits for them to write again
        (handlers.cases.outbox.wake_waiting_messages), the timeline says so once, and a survey that
        waits makes the return visit a phone task at once."""
        if not payload.get("waiting"):
            payload["waiting"] = True
            job.payload = dict(payload)
            await Job.filter(id=job.id).update(payload=job.payload)
            if job.case_id is not None:  # type: ignore[attr-defined]
                case = await Case.get(id=job.case_id).prefetch_related("citizen")  # type: ignore[attr-defined]
                await record_event(case, "message.waiting", "system", job_id=job.id, text=payload["text"])
                if payload.get("purpose") == "survey" and case.state == CaseState.RETURN_VISIT:
                    await make_phone_task(case)
        raise RetryLater(WAITING_FOR_CITIZEN, delay_s=business_seconds(WAIT_FOR_CITIZEN_S), count_attempt=False)

    async def wait_for_older(self, job: Job) -> None:
        """A message never overtakes an older one to the same person of the same case that is held back
        (a retry after WeChat was busy, an outage): it waits until that one went. A member's message on
        the case (a member who bound the official account) is somebody else's and holds nothing back."""
        if job.case_id is None:  # type: ignore[attr-defined]
            return
        audience = job.payload.get("audience")
        candidates = await (
            Job.filter(
                kind=SEND_CITIZEN,
                case_id=job.case_id,  # type: ignore[attr-defined]
                # RUNNING too: another worker may be sending the older one right now.
                status__in=[JobStatus.PENDING, JobStatus.RUNNING],
                id__lt=job.id,
            )
            .filter(Q(last_error__isnull=True) | Q(last_error__not=WAITING_FOR_CITIZEN))
            .order_by("run_at")
            .limit(20)
        )
        older = next((other for other in candidates if other.payload.get("audience") == audience), None)
        if older is not None:
            running = older.status == JobStatus.RUNNING
            # A running one ends in real time (another worker sends it); a pending one runs at its run_at.
            floor = business_seconds(0.2)
            delay = business_seconds(1.0) if running else max(floor, (older.run_at - now()).total_seconds() + floor)
            raise RetryLater(
                f"waiting for the older message {older.id} of the case",
                delay_s=min(delay, 3600.0),
                count_attempt=False,
                after_job=older.id,  # as soon as it is through (when it runs in this process)
                after_running=running,
                blocked_since=older.blocked_since,  # held back by a configuration error: its ceiling too
            )

    @staticmethod
    def _template_data(
        template: TemplateConfig, payload: payloads.SendCitizen, text: str, case: Case | None
    ) -> dict[str, str]:
        code = payload.get("case_code") or "—"
        if template.legacy:
            if payload.get("audience") == "member":  # a member who bound the official account
                return {
                    "first": "委员您好，您有一条履职消息",
                    "keyword1": code,
                    "keyword2": payload.get("case_state") or "办理中",
                    "keyword3": text[:180],
                    "remark": f"请进入公众号查看；答复群众请发送「答 {code} 答复内容」。"
                    if payload.get("case_code")
                    else "请进入公众号查看。",
                }
            return {
                "first": "您反映的问题有新的消息",
                "keyword1": code,
                "keyword2": payload.get("case_state") or "处理中",
                "keyword3": text[:180],
                "remark": f"回复编号 {code} 可查看完整内容。" if payload.get("case_code") else "感谢您的参与。",
            }
        summary = case.summary if case is not None else None
        point = case.contact_point.name if case is not None and case.contact_point is not None else "码上商"
        values = {
            "code": code,
            "state": payload.get("case_state") or "处理中",
            "time": local_time(now()),
            "summary": member_texts.template_summary(summary)
            if payload.get("audience") == "member"
            else citizen_texts.template_summary(payload.get("purpose"), summary)
            if case is not None
            else text,
            "point": point,
        }
        return {key: name[1:] if name.startswith("=") else fit(key, values[name]) for key, name in template.fields}

    @staticmethod
    def _classify(exc: WeChatAPIError) -> Exception:
        return classify_wechat(exc, RETRIABLE_CODES)


class MediaDownloader:
    def __init__(self, wechat: WeChatClient, media_dir: str | Path) -> None:
        self.wechat = wechat
        self.media_dir = Path(media_dir)

    async def download(self, job: Job) -> dict[str, Any]:
        payload = payloads.read(job.payload, payloads.DownloadMedia)
        message = await CaseMessage.get_or_none(id=payload["message_id"]).prefetch_related("case")
        if message is None:
            raise GiveUp(f"case message {payload['message_id']} is gone")
        try:
            content, content_type = await self.wechat.get_media(payload["media_id"])
        except WeChatUnavailable as exc:
            raise unavailable(exc) from exc
        except WeChatAPIError as exc:
            raise classify_wechat(exc, RETRIABLE_CODES) from exc
        extension = (
            media_extension(content_type) or mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        )
        case: Case = message.case
        safe_id = "".join(ch for ch in payload["media_id"] if ch.isalnum() or ch in "-_")[:80] or "media"
        path = self.media_dir / case.code / f"{message.id}-{safe_id}{extension}"
        await _write_file(path, content)
        message.media_path = str(path)
        update = ["media_path"]
        if message.msg_type == "voice":  # no Recognition nowadays: staff see at least how long it is
            duration = await asyncio.to_thread(voice_duration_s, content)
            if duration is not None:
                message.extra = {**(message.extra or {}), "duration_s": round(duration, 2)}
                update.append("extra")
        await message.save(update_fields=update)
        await record_event(case, "media.saved", "system", message_id=message.id, path=str(path), bytes=len(content))
        return {"path": str(path), "bytes": len(content)}


async def _write_file(path: Path, content: bytes) -> None:
    """Write through a thread: file I/O never blocks the event loop."""

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(content)
        tmp.replace(path)

    await asyncio.to_thread(write)
