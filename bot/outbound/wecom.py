"""Job handlers that talk to WeCom: app messages to staff and members, the triage group, smart-bot answers.

- send.wecom_user {userid, text, markdown}: message/send to one user: a markdown message as built, or a
  text message in the plain form of the same text (WeCom shows a text message's markers as typed).
- send.triage {markdown}: the triage group, through appchat/send when wecom.triage_chat_id is set, else
  the group robot webhook (wecom.triage_webhook_key).
- send.bot_reply {response_url, text}: the smart bot's answer through its response_url, once. When the
  job has no response_url, the URL is used up or expired (1 h), or it is not WeCom's, the text goes to
  the triage group instead (a send.triage job). WeCom's own host (https://qyapi.weixin.qq.com) is WeCom's
  whatever `wecom.api_base_url` says: when the outbound calls go through a proxy there, the URL is posted
  to the same path under the proxy, like every other WeCom call.
- send.report_file {topic, userid}: a topic's draft 社情民意信息 written as DOCX (handlers/reports/draft.py),
  uploaded as temporary media (media/upload, type file; its media_id kept in the job for a retry, valid
  3 days) and sent as a file message to the triage group's appchat, or to the staff member who asked
  (message/send) when the group is a robot webhook.

WeCom drops messages over its rate limits without an error, so every send first takes a slot from a
Redis sliding-window limiter (per user, per group); when none is free the job waits
(`RetryLater(count_attempt=False)`) until one frees: messages wait, they are never dropped.

One recipient's messages keep their queue order: within a process a lock per recipient runs them one
at a time, and a job waits while an older job to the same recipient is held back (rate limit, WeCom
failure) so that it cannot overtake it. A user's messages marked `low_priority` (a citizen's follow-ups)
are a lane of their own behind the rest: they keep their order among themselves, wait while any other
message to that user is due or held back, and never hold one back, so an assignment or an urgent notice
takes the next free slot however many follow-ups wait. A text longer than WeCom accepts goes out in parts;
the job remembers how many parts went out, so a retry sends only the rest (bot/outbound/parts.py:
numbered （1/3）, the tracking code in the first). A smart-bot answer too long for its response_url sends
its first part through it and queues the others for the triage group. The case timeline records every
delivered message with its channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from yarl import URL

from bot.job_runner import GiveUp, RetryLater
from bot.outbound.parts import BOT_RESPONSE_MAX_BYTES, WEBHOOK_MAX_BYTES, WECOM_TEXT_MAX_BYTES, fits, split_text
from bot.outbound.rate_limit import Limits, RateLimiter
from bot.outbound.retry import BEIJING, business_seconds, misconfigured, unavailable
from bot.outbound.wechat_api import WeChatAPIError, WeChatUnavailable, WeComClient
from handlers import payloads
from handlers.cases.outbox import SEND_BOT_REPLY, SEND_TRIAGE, SEND_WECOM_USER
from handlers.reports.draft import draft_file
from handlers.reports.leads import TopicError
from handlers.texts import staff as staff_texts
from handlers.texts.markdown import plain
from models.entities import Case, Member, Staff
from models.jobs import Job, JobStatus, backoff_seconds, enqueue
from models.state import record_event
from models.timeutil import get_clock, now

log = logging.getLogger(__name__)

# WeCom's documented limits (developer.work.weixin.qq.com/document/path/90454), with a margin:
# an app may send one member 30 messages a minute and 1,000 an hour; a member receives at most 200 app
# messages a minute and 10,000 a day in group chats; a group robot takes about 20 a minute.
USER_LIMITS: Limits = ((28, 60.0), (950, 3600.0))
APPCHAT_LIMITS: Limits = ((180, 60.0), (9500, 86400.0))
WEBHOOK_LIMITS: Limits = ((18, 60.0),)

RESPONSE_URL_TTL_S = 3600.0
RESPONSE_URL_MARGIN_S = 60.0
# Where WeCom's smart-bot pushes point their response_url (developer.work.weixin.qq.com/document/path/101138:
# https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=…).
WECOM_ORIGIN = URL("https://qyapi.weixin.qq.com")
RESPONSE_PATH = "/cgi-bin/aibot/response"
RETRIABLE_CODES = {-1, 6000, 45009, 45033}  # system busy, version conflict, frequency, concurrency
RATE_CODES = {45009, 45033}
INVALID_MEDIA_ID = 40007
UNCONFIGURED_RETRY_S = 300.0
# message/send: "如果全部接收人无权限或不存在，则本次调用返回失败，errcode为81013" (发送应用消息,
# developer.work.weixin.qq.com/document/path/90236); the usual reason is a user outside the app's 可见范围.
UNREACHABLE_USER = 81013
# media/upload (developer.work.weixin.qq.com/document/path/90253): a file of at most 20 MB, its media_id
# valid 3 days; a retry more than 2 days after the upload uploads again.
FILE_MAX_BYTES = 20 * 1024 * 1024
MEDIA_REUSE_S = 2 * 86400.0


def _retry_delay(job: Job, exc: BaseException) -> float:
    """The delay the job runner will give `job` after `exc` (see models.jobs.retry_later)."""
    if isinstance(exc, RetryLater):
        if exc.delay_s is not None:
            return exc.delay_s
        return backoff_seconds(job.attempts + (1 if exc.count_attempt else 0))
    return backoff_seconds(job.attempts + 1)


def _classify(exc: WeChatAPIError | WeChatUnavailable, platform: str = "wecom") -> Exception:
    """`platform`: wecom (the app's API) or webhook (the triage group's robot)."""
    if isinstance(exc, WeChatUnavailable):
        return unavailable(exc, "WeCom")
    found = misconfigured(exc, platform)
    if found is not None:
        return found
    if exc.errcode in RATE_CODES:
        return RetryLater(f"WeCom error {exc.errcode}: {exc.errmsg}", delay_s=business_seconds(60.0))
    if exc.errcode in RETRIABLE_CODES:
        return RetryLater(f"WeCom error {exc.errcode}: {exc.errmsg}")
    return GiveUp(f"WeCom error {exc.errcode}: {exc.errmsg}")


def _low(payload: dict[str, Any]) -> bool:
    return bool(payload.get("low_priority"))


def _lane(recipient: str, low: bool) -> str:
    """Held-back jobs are remembered per recipient and lane."""
    return f"{recipient}#low" if low else recipient


class WeComDelivery:
    def __init__(
        self,
        wecom: WeComClient,
        limiter: RateLimiter,
        *,
        api_base_url: str,
        triage_webhook_key: str = "",
        triage_chat_id: str = "",
        user_limits: Limits = USER_LIMITS,
        appchat_limits: Limits = APPCHAT_LIMITS,
        webhook_limits: Limits = WEBHOOK_LIMITS,
    ) -> None:
        self.wecom = wecom
        self.limiter = limiter
        self.triage_webhook_key = triage_webhook_key
        self.triage_chat_id = triage_chat_id
        self.user_limits = user_limits
        self.appchat_limits = appchat_limits
        self.webhook_limits = webhook_limits
        base = URL(api_base_url.rstrip("/"))
        self._response_origin = base.origin()
        self._response_path = base.path.rstrip("/") + RESPONSE_PATH
        self._locks: dict[str, asyncio.Lock] = {}
        # recipient -> {job id: when it runs again} for jobs of this process that failed or were held back
        self._held: dict[str, dict[int, datetime]] = {}
        self._warned_unconfigured = False

    # --- job handlers ---

    async def send_user(self, job: Job) -> dict[str, Any]:
        userid = payloads.read(job.payload, payloads.SendWecomUser)["userid"]
        return await self._in_order(job, f"user:{userid}", lambda: self._send_user(job), low=_low(job.payload))

    async def send_triage(self, job: Job) -> dict[str, Any]:
        return await self._in_order(job, "triage", lambda: self._send_triage(job))

    async def send_bot_reply(self, job: Job) -> dict[str, Any]:
        return await self._in_order(job, "bot", lambda: self._send_bot_reply(job))

    async def send_report_file(self, job: Job) -> dict[str, Any]:
        payload = payloads.read(job.payload, payloads.SendReportFile)
        userid = payload.get("userid")
        recipient = f"user:{userid}" if userid else "triage"
        return await self._in_order(job, f"file:{recipient}", lambda: self._send_report_file(job))

    # --- senders ---

    async def _send_report_file(self, job: Job) -> dict[str, Any]:
        payload = payloads.read(job.payload, payloads.SendReportFile)
        userid, chat_id = payload.get("userid"), self.triage_chat_id
        if not userid and not chat_id:
            raise GiveUp("report file for the triage group, but wecom.triage_chat_id is no longer set")
        if userid:
            bucket, limits = f"user:{userid}", self.user_limits
        else:
            bucket, limits = f"appchat:{chat_id}", self.appchat_limits
        media_id = payload.get("media_id")
        uploaded_at = payload.get("uploaded_at")
        if media_id and uploaded_at and (now() - datetime.fromisoformat(uploaded_at)).total_seconds() > MEDIA_REUSE_S:
            media_id = None  # about to expire: uploaded again
        if not media_id:
            try:
                draft = await draft_file(payload["topic"], "docx")
            except TopicError as exc:  # the topic was emptied since: nothing to send
                raise GiveUp(f"report of topic {payload['topic']!r}: {exc}") from exc
            if len(draft.data) > FILE_MAX_BYTES:
                raise GiveUp(f"report of {len(draft.data)} bytes: over WeCom's {FILE_MAX_BYTES} for a file")
            try:
                media_id = await self.wecom.upload_media("file", draft.filename, draft.data, draft.content_type)
            except (WeChatAPIError, WeChatUnavailable) as exc:
                raise _classify(exc) from exc
            # Kept: a retry (rate limit, a failed send) sends this upload instead of writing the file again.
            uploaded = {"media_id": media_id, "uploaded_at": now().isoformat(), "filename": draft.filename}
            job.payload = {**job.payload, **uploaded}
            await Job.filter(id=job.id).update(payload=job.payload)
        wait_s = await self.limiter.acquire(bucket, limits)
        if wait_s > 0:
            raise RetryLater(
                f"rate limit of {bucket}: next slot in {wait_s:.1f} s",
                delay_s=business_seconds(wait_s + 0.05),
                count_attempt=False,
            )
        try:
            if userid:
                await self.wecom.send_file(str(userid), str(media_id))
            else:
                await self.wecom.appchat_send_file(chat_id, str(media_id))
        except (WeChatAPIError, WeChatUnavailable) as exc:
            if isinstance(exc, WeChatAPIError) and exc.errcode == INVALID_MEDIA_ID:  # expired: upload again
                job.payload = {key: value for key, value in job.payload.items() if key != "media_id"}
                await Job.filter(id=job.id).update(payload=job.payload)
                raise RetryLater(f"WeCom error {exc.errcode}: {exc.errmsg}") from exc
            raise _classify(exc) from exc
        channel = "wecom_file" if userid else "triage_appchat_file"
        return {"channel": channel, "media_id": media_id, "filename": job.payload.get("filename")}

    async def _send_user(self, job: Job) -> dict[str, Any]:
        payload = payloads.read(job.payload, payloads.SendWecomUser)
        markdown = bool(payload.get("markdown"))
        # Rendered for the channel it goes out on: a text message shows markdown markers as typed, so
        # it gets the plain form (handlers/texts/markdown.py: plain); a markdown message is sent as built.
        text = str(payload["text"]) if markdown else plain(str(payload["text"]))
        userid = str(payload["userid"])
        send = self.wecom.send_markdown if markdown else self.wecom.send_text
        parts = split_text(text, WECOM_TEXT_MAX_BYTES, code=payload.get("case_code"))
        try:
            await self._send_parts(job, f"user:{userid}", self.user_limits, parts, lambda part: send(userid, part))
        except GiveUp as exc:
            refused = exc.__cause__
            if isinstance(refused, WeChatAPIError) and refused.errcode == UNREACHABLE_USER:
                await self._tell_unreachable(job, userid, payload.get("case_code"))
            raise
        channel = "wecom_markdown" if markdown else "wecom_text"
        await self._record(job, channel, text, parts=len(parts), to=f"wecom:{userid}")
        return {"channel": channel, "parts": len(parts)}

    async def _send_triage(self, job: Job) -> dict[str, Any]:
        triage = payloads.read(job.payload, payloads.SendTriage)
        text, code = triage["markdown"], triage.get("case_code")
        if self.triage_chat_id:
            chat_id = self.triage_chat_id
            parts = split_text(text, WECOM_TEXT_MAX_BYTES, code=code)
            await self._send_parts(
                job,
                f"appchat:{chat_id}",
                self.appchat_limits,
                parts,
                lambda part: self.wecom.appchat_send_markdown(chat_id, part),
            )
            channel = "triage_appchat"
        elif self.triage_webhook_key:
            key = self.triage_webhook_key
            parts = split_text(text, WEBHOOK_MAX_BYTES, code=code)
            await self._send_parts(
                job,
                f"webhook:{key}",
                self.webhook_limits,
                parts,
                lambda part: self.wecom.webhook_send_markdown(key, part),
            )
            channel = "triage_webhook"
        else:
            if not self._warned_unconfigured:
                log.warning("no triage group: set wecom.triage_webhook_key or wecom.triage_chat_id")
                self._warned_unconfigured = True
            raise RetryLater(
                "no triage group configured (wecom.triage_webhook_key or wecom.triage_chat_id)",
                delay_s=UNCONFIGURED_RETRY_S,
                count_attempt=False,
            )
        await self._record(job, channel, text, parts=len(parts))
        return {"channel": channel, "parts": len(parts)}

    async def _send_bot_reply(self, job: Job) -> dict[str, Any]:
        payload = payloads.read(job.payload, payloads.SendBotReply)
        text = str(payload["text"])
        # The response_url takes one message: a longer answer goes out in parts, the first through it and
        # the others to the triage group (send.triage jobs, each with its own key, in order behind it).
        parts = [text]
        if not fits(text, BOT_RESPONSE_MAX_BYTES):
            limit = min(BOT_RESPONSE_MAX_BYTES, self._triage_max_bytes())
            parts = split_text(text, limit, code=payload.get("case_code"))
        url = payload.get("response_url")
        reason = payload.get("response_url_failed")
        if payload.get("response_parts_sent"):
            pass  # the first part went out on an earlier try: only the rest is left to queue
        elif not url:
            reason = reason or "no response_url"
        elif not reason:
            age_s = get_clock().to_real_seconds((now() - job.created_at).total_seconds())
            target = self._response_target(str(url))
            if target is None:
                reason = "response_url is not WeCom's"
                log.warning("job %s: response_url outside %s ignored", job.id, self._response_origin)
            elif age_s > RESPONSE_URL_TTL_S - RESPONSE_URL_MARGIN_S:
                reason = "response_url expired"
            else:
                body = {"msgtype": "markdown", "markdown": {"content": parts[0]}}
                try:
                    await self.wecom.post_response_url(target, body)
                except WeChatUnavailable as exc:
                    raise unavailable(exc, "WeCom") from exc
                except WeChatAPIError as exc:
                    if exc.errcode in RETRIABLE_CODES:
                        raise _classify(exc) from exc
                    reason = f"response_url refused: {exc.errcode} {exc.errmsg}"[:200]
                else:
                    # Remembered before anything else: the URL is used up, a retry must not send part 1 again.
                    payload["response_parts_sent"] = 1
                    job.payload = dict(payload)
                    await Job.filter(id=job.id).update(payload=job.payload)
        if payload.get("response_parts_sent"):
            for index, part in enumerate(parts[1:], start=2):
                await enqueue(
                    SEND_TRIAGE,
                    payloads.send_triage(part, case_code=payload.get("case_code")),
                    key=f"bot-reply-part:{job.id}:{index}",
                    case_id=job.case_id,  # type: ignore[attr-defined]
                )
            await self._record(job, "bot_response", text, parts=len(parts))
            return {"channel": "bot_response", "parts": len(parts)}
        # Remember it: a retry of this job must not use the URL again.
        await Job.filter(id=job.id).update(payload={**payload, "response_url_failed": reason})
        job.payload = {**payload, "response_url_failed": reason}
        await enqueue(
            SEND_TRIAGE,
            payloads.send_triage(text, case_code=payload.get("case_code")),
            key=f"bot-reply-fallback:{job.id}",
            case_id=job.case_id,  # type: ignore[attr-defined]
        )
        return {"channel": "triage_fallback", "reason": reason}

    async def _tell_unreachable(self, job: Job, userid: str, code: str | None) -> None:
        """WeCom will not deliver to `userid` (outside the app's visible range): the message is given up
        (kept: `mashang jobs retry` once the range is fixed), and staff are told once per person and case
        which member cannot be reached, so that they reach them another way or hand the case on."""
        member = await Member.filter(wecom_userid__iexact=userid).first()
        person = None if member is not None else await Staff.filter(wecom_userid__iexact=userid).first()
        name, key = (member.name, member.key) if member else (person.name, person.key) if person else (userid, userid)
        text = staff_texts.unreachable(name, key, userid, code, member=member is not None or person is None)
        once = code or now().astimezone(BEIJING).strftime("%Y%m%d")
        case_id = job.case_id  # type: ignore[attr-defined]
        queued = await enqueue(
            SEND_TRIAGE,
            payloads.send_triage(text, case_code=code),
            key=f"unreachable:{userid.lower()}:{once}",
            case_id=case_id,
        )
        log.warning("job %s: WeCom user %s is outside the app's visible range (81013)", job.id, userid)
        if queued is not None and case_id is not None:
            case = await Case.get_or_none(id=case_id)
            if case is not None:
                await record_event(case, "message.unreachable", "system", job_id=job.id, to=f"wecom:{userid}")

    def _triage_max_bytes(self) -> int:
        return WECOM_TEXT_MAX_BYTES if self.triage_chat_id else WEBHOOK_MAX_BYTES

    # --- shared machinery ---

    def _response_target(self, url: str) -> str | None:
        """Where to post an answer to `url`: the URL itself when it is under `wecom.api_base_url`; WeCom's
        real response URL moved under `api_base_url` when that is a proxy; None for any other URL (a
        forged push must not make us post to a host of its choosing)."""
        try:
            parsed = URL(url)
        except (TypeError, ValueError):
            return None
        if not parsed.is_absolute() or parsed.user is not None or parsed.fragment:
            return None
        if parsed.origin() == self._response_origin and parsed.path == self._response_path:
            return url
        if parsed.origin() == WECOM_ORIGIN and parsed.path == RESPONSE_PATH:
            query = parsed.raw_query_string
            return f"{self._response_origin}{self._response_path}" + (f"?{query}" if query else "")
        return None

    async def _send_parts(
        self,
        job: Job,
        bucket: str,
        limits: Limits,
        parts: list[str],
        send: Callable[[str], Awaitable[None]],
    ) -> None:
        """Send the parts not sent yet, each after taking a rate-limit slot."""
        sent = int(job.payload.get("parts_sent", 0))
        for index in range(sent, len(parts)):
            wait_s = await self.limiter.acquire(bucket, limits)
            if wait_s > 0:
                raise RetryLater(
                    f"rate limit of {bucket}: next slot in {wait_s:.1f} s",
                    delay_s=business_seconds(wait_s + 0.05),
                    count_attempt=False,
                )
            try:
                await send(parts[index])
            except (WeChatAPIError, WeChatUnavailable) as exc:
                raise _classify(exc, "webhook" if bucket.startswith("webhook:") else "wecom") from exc
            # A retry (say the timeline write below failed) sends only what did not go out.
            job.payload = {**job.payload, "parts_sent": index + 1}
            await Job.filter(id=job.id).update(payload=job.payload)

    async def _record(self, job: Job, channel: str, text: str, **detail: Any) -> None:
        case_id = job.case_id  # type: ignore[attr-defined]
        if case_id is None:
            return
        case = await Case.get_or_none(id=case_id)
        if case is not None:
            await record_event(case, "message.out", "system", channel=channel, job_id=job.id, text=text, **detail)

    async def _in_order(
        self, job: Job, recipient: str, send: Callable[[], Awaitable[dict[str, Any]]], low: bool = False
    ) -> dict[str, Any]:
        lock = self._locks.setdefault(recipient, asyncio.Lock())
        lane = _lane(recipient, low)
        try:
            async with lock:  # one recipient's messages go out one at a time
                await self._wait_for_older(job, recipient, low)
                held = self._held.setdefault(lane, {})
                try:
                    result = await send()
                except GiveUp:
                    held.pop(job.id, None)
                    raise
                except BaseException as exc:
                    # Before the lock opens (the runner writes the retry time only afterwards):
                    # younger jobs must not overtake this one.
                    held[job.id] = now() + timedelta(seconds=_retry_delay(job, exc))
                    raise
                held.pop(job.id, None)
                return result
        finally:
            if not lock.locked() and self._locks.get(recipient) is lock:
                del self._locks[recipient]
            if lane in self._held and not self._held[lane]:
                del self._held[lane]

    async def _wait_for_older(self, job: Job, recipient: str, low: bool = False) -> None:
        """RetryLater while an older job to `recipient` is held back, so that it goes first. A `low` job
        (a follow-up) also waits for every other job to `recipient` that is due or held back, however
        young; the other jobs do not wait for low ones."""
        moment = now()
        delays: list[float] = []
        blocked: list[datetime] = []  # since when the jobs it waits for are held back by a configuration error
        blocking = [(self._held.get(_lane(recipient, low), {}), True)]
        if low:
            blocking.append((self._held.get(recipient, {}), False))  # the other lane: younger ones too
        for held, only_older in blocking:
            waiting = [job_id for job_id in held if job_id < job.id or not only_older]
            if not waiting:
                continue
            rows = await Job.filter(id__in=waiting).values("id", "status", "run_at", "blocked_since")
            status = {row["id"]: (row["status"], row["run_at"]) for row in rows}
            blocked += [
                row["blocked_since"]
                for row in rows
                if row["blocked_since"] is not None and row["status"] in (JobStatus.PENDING, JobStatus.RUNNING)
            ]
            for job_id in waiting:
                state, run_at = status.get(job_id, (JobStatus.DONE, None))
                if state == JobStatus.PENDING:
                    delays.append((run_at - moment).total_seconds())
                elif state == JobStatus.RUNNING:  # the runner has not written its retry time yet
                    delays.append((held[job_id] - moment).total_seconds())
                else:
                    held.pop(job_id, None)
        # Older jobs anywhere that are due or were tried already (a job scheduled for later does not block);
        # for a low job, other jobs of any age.
        older = Job.filter(kind=job.kind, status=JobStatus.PENDING).exclude(id=job.id)
        if not low:
            older = older.filter(id__lt=job.id)
        older = older.filter(Q(run_at__lte=moment) | Q(last_error__not_isnull=True))
        if job.kind == SEND_TRIAGE:
            # One recipient: the earliest older card is enough, and a backlog of N cards waits N slots, so
            # the held-back cards do not all wake up (and re-read the queue) at every free slot.
            earliest = await older.order_by("run_at").first()
            if earliest is not None:
                if earliest.blocked_since is not None:
                    blocked.append(earliest.blocked_since)
                first = earliest.run_at
                backlog = await older.count()
                # The rate limiter's slots pass in real time (Redis' clock): as business seconds, so that
                # under an accelerated clock (the month simulation) a backlog does not re-read the queue
                # a thousand times a second.
                per_slot = business_seconds(self._slot_seconds())
                delays.append(max(0.0, (first - moment).total_seconds()) + backlog * per_slot)
        else:
            for row in await older.order_by("id").values("id", "payload", "run_at", "blocked_since"):
                if self._recipient_of(job.kind, row["payload"]) != recipient:
                    continue
                row_low = _low(row["payload"])
                # A normal job never waits for a low one; a low one for older low ones and all the others.
                if (not row_low and (low or row["id"] < job.id)) or (row_low and low and row["id"] < job.id):
                    delays.append((row["run_at"] - moment).total_seconds())
                    if row["blocked_since"] is not None:
                        blocked.append(row["blocked_since"])
        if delays:
            delay = max(business_seconds(0.2), min(delays) + business_seconds(0.1))
            raise RetryLater(
                f"waiting for an older message to {recipient}",
                delay_s=min(delay, 3600.0),
                count_attempt=False,
                blocked_since=min(blocked) if blocked else None,  # behind a configuration error: its ceiling
            )

    def _slot_seconds(self) -> float:
        """Seconds between two triage-group messages at the group's tightest rate limit."""
        limits = self.appchat_limits if self.triage_chat_id else self.webhook_limits
        return max(window / count for count, window in limits)

    @staticmethod
    def _recipient_of(kind: str, payload: dict[str, Any]) -> str:
        if kind == SEND_WECOM_USER:
            return f"user:{payload.get('userid')}"
        if kind == SEND_TRIAGE:
            return "triage"
        if kind == SEND_BOT_REPLY:
            return "bot"
        return kind
