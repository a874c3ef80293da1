"""Job handlers that talk to WeChat: messages to citizens and media downloads.

Messages to citizens use the customer-service API while the 48-hour window is open and fewer than 5
messages went out in it; otherwise (or when WeChat answers 45015) a template message. The case
timeline records which channel carried each message.

A text over 2,048 bytes (WeChat refuses it with 45002) goes out in numbered parts (bot/outbound/parts.py),
in order, each taking one send of the window. The job records how many parts went out, so a retry sends
only the rest. When the window runs out part-way, one template message tells of the rest (its text
stays reachable: the citizen's next message, the code, shows the case with the reply).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from pathlib import Path
from typing import Any

from bot.job_runner import GiveUp, RetryLater
from bot.outbound.parts import OA_TEXT_MAX_BYTES, split_text
from bot.outbound.retry import unavailable
from bot.outbound.wechat_api import OutcomeUnknown, WeChatAPIError, WeChatClient, WeChatUnavailable
from handlers import payloads
from models import window
from models.entities import Case, CaseMessage, Citizen
from models.jobs import Job
from models.state import record_event

log = logging.getLogger(__name__)

RETRIABLE_CODES = {-1, 45009, 45011}  # system busy, rate limits


class CitizenDelivery:
    def __init__(self, wechat: WeChatClient, reply_template_id: str) -> None:
        self.wechat = wechat
        self.reply_template_id = reply_template_id
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
        payload = payloads.read(job.payload, payloads.SendCitizen)
        citizen = await Citizen.get_or_none(openid=payload["openid"])
        if citizen is None:
            raise GiveUp(f"unknown citizen {payload['openid']}")
        parts = split_text(payload["text"], OA_TEXT_MAX_BYTES, code=payload.get("case_code"))
        channels: list[str] = list(payload.get("part_channels") or [])
        for index in range(len(channels), len(parts)):
            slot = await window.reserve(citizen)
            channel = "custom" if slot is not None else "template"
            if channel == "custom":
                try:
                    await self.wechat.send_custom_text(citizen.openid, parts[index])
                except WeChatAPIError as exc:
                    await window.release(citizen, slot)
                    if exc.errcode not in window.REFUSED_CODES:
                        raise self._classify(exc) from exc
                    channel = "template"
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
            if channel == "template":
                # The window is closed: one template message for this part and the ones after it.
                await self._send_template(citizen, payload, None if index == 0 else parts[index])
                channels += ["template"] * (len(parts) - index)
            else:
                channels.append(channel)
            # A retry (say the timeline write below failed) sends only what did not go out.
            payload["part_channels"] = list(channels)
            job.payload = dict(payload)
            await Job.filter(id=job.id).update(payload=job.payload)
            if channel == "template":
                break
        channel = channels[0]
        if job.case_id is not None:  # type: ignore[attr-defined]
            case = await Case.get(id=job.case_id)  # type: ignore[attr-defined]
            to = "member" if payload.get("audience") == "member" else "citizen"
            detail: dict[str, Any] = {"parts": len(parts)} if len(parts) > 1 else {}
            if "template" in channels and channel == "custom":
                detail["template_from_part"] = channels.index("template") + 1
            await record_event(
                case, "message.out", "system", channel=channel, job_id=job.id, text=payload["text"], to=to, **detail
            )
        return {"channel": channel, "parts": len(parts)} if len(parts) > 1 else {"channel": channel}

    async def _send_template(self, citizen: Citizen, payload: payloads.SendCitizen, rest: str | None = None) -> None:
        """A template message for the text, or for `rest` (a part and those after it) when the window
        closed part-way through a long text."""
        if not self.reply_template_id:
            raise GiveUp("outside the customer-service window and wechat.reply_template_id is not set")
        code = payload.get("case_code") or "—"
        text = payload["text"] if rest is None else rest
        if payload.get("audience") == "member":  # a member who bound the official account
            data = {
                "first": "委员您好，您有一条履职消息",
                "keyword1": code,
                "keyword2": payload.get("case_state") or "办理中",
                "keyword3": text[:180],
                "remark": f"请进入公众号查看；答复群众请发送「答 {code} 答复内容」。"
                if payload.get("case_code")
                else "请进入公众号查看。",
            }
        else:
            data = {
                "first": "您反映的问题有新的消息",
                "keyword1": code,
                "keyword2": payload.get("case_state") or "处理中",
                "keyword3": text[:180],
                "remark": f"回复编号 {code} 可查看完整内容。" if payload.get("case_code") else "感谢您的参与。",
            }
        try:
            await self.wechat.send_template(citizen.openid, self.reply_template_id, data)
        except WeChatAPIError as exc:
            raise self._classify(exc) from exc
        except WeChatUnavailable as exc:
            raise unavailable(exc) from exc

    @staticmethod
    def _classify(exc: WeChatAPIError) -> Exception:
        if exc.errcode in RETRIABLE_CODES:
            return RetryLater(f"WeChat error {exc.errcode}: {exc.errmsg}")
        return GiveUp(f"WeChat error {exc.errcode}: {exc.errmsg}")


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
            if exc.errcode in RETRIABLE_CODES:
                raise RetryLater(f"WeChat error {exc.errcode}") from exc
            raise GiveUp(f"WeChat error {exc.errcode}: {exc.errmsg}") from exc
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        case: Case = message.case
        safe_id = "".join(ch for ch in payload["media_id"] if ch.isalnum() or ch in "-_")[:80] or "media"
        path = self.media_dir / case.code / f"{message.id}-{safe_id}{extension}"
        await _write_file(path, content)
        message.media_path = str(path)
        await message.save(update_fields=["media_path"])
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
