"""WeChat's content checks for 码上商量 opinions: the `opinion.media_check` job asks wxa/media_check_async
about one image (WeChat fetches it at `<public_base_url>/wxa/media/<token>`) and keeps the trace_id the
verdict event will carry (bot/transport/miniprogram_push.py). The text check (msg_sec_check) is asked
in the request itself (bot/api/routes.py), since a risky text is refused there and then."""

from __future__ import annotations

from typing import Any

from bot.job_runner import GiveUp, RetryLater
from bot.outbound.citizen import RETRIABLE_CODES
from bot.outbound.wechat_api import MiniProgramClient, WeChatAPIError, WeChatUnavailable
from handlers.topics import opinions
from models.jobs import Job


class MediaChecks:
    def __init__(self, mini: MiniProgramClient, public_base_url: str) -> None:
        self.mini = mini
        self.base = public_base_url.rstrip("/")

    async def check(self, job: Job) -> dict[str, Any]:
        image_id = int(job.payload["image_id"])
        found = await opinions.image_to_check(image_id)
        if found is None:
            return {"asked": False}
        image, openid = found
        try:
            trace_id = await self.mini.media_check_async(openid, f"{self.base}/wxa/media/{image.fetch_token}")
        except WeChatUnavailable as exc:
            raise RetryLater(f"WeChat unavailable: {exc}") from exc
        except WeChatAPIError as exc:
            if exc.errcode in RETRIABLE_CODES:
                raise RetryLater(f"WeChat error {exc.errcode}") from exc
            raise GiveUp(f"WeChat error {exc.errcode}: {exc.errmsg}") from exc  # the image stays hidden
        await opinions.record_trace(image_id, trace_id)
        return {"asked": True, "trace_id": trace_id}
