"""The mini-program's message-push URL (消息推送), `/wxa/callback`: WeChat's verdicts on images of 码上商量
opinions (the `wxa_media_check` event), and `/wxa/media/<token>`, where WeChat fetches those images.

As for the official account (bot/transport/official_account.py, sharing bot/transport/signing.py): GET
echoes `echostr` when `signature` (sha1 of sorted token, timestamp, nonce) is right; a POST has the same
signature, a fresh timestamp and a nonce, and in safe mode (`encrypt_type=aes`) an `Encrypt` field
signed by `msg_signature` and decrypted with wechatpy's AES framing under the mini-program's app id.
The push may be JSON or XML (the format chosen in the admin console); both are read, plain or encrypted.

Source: developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html and the
event's fields in .../OpenApiDoc/sec-center/sec-check/mediaCheckAsync.html (trace_id, result.suggest).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

from bot.transport.official_account import BadCallback, xml_fields
from bot.transport.replay import ReplayGuard, refuse_replays
from bot.transport.signing import QuickPrpCrypto, nonce_ok, read_body, signature_matches, timestamp_fresh

log = logging.getLogger(__name__)

SUCCESS = "success"
MEDIA_CHECK_EVENT = "wxa_media_check"
SUGGESTS = ("pass", "review", "risky")
MediaVerdict = Callable[[str, str], Awaitable[bool]]  # (trace_id, suggest) -> known
MediaFile = Callable[[str], Awaitable[tuple[str, str] | None]]  # fetch token -> (path, content type)


def _fields(text: str) -> dict[str, Any]:
    """A push's fields, JSON or XML."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise BadCallback("malformed JSON") from None
        if not isinstance(data, dict):
            raise BadCallback("not a JSON object")
        return data
    return xml_fields(text)


def media_verdict_of(data: dict[str, Any]) -> tuple[str, str] | None:
    """(trace_id, suggest) of a wxa_media_check event; None for any other push."""
    if data.get("Event") != MEDIA_CHECK_EVENT:
        return None
    trace_id = data.get("trace_id")
    result = data.get("result")
    suggest = result.get("suggest") if isinstance(result, dict) else None
    if not isinstance(trace_id, str) or not 0 < len(trace_id) <= 64 or suggest not in SUGGESTS:
        raise BadCallback("wxa_media_check without trace_id or result.suggest")
    return trace_id, str(suggest)


class MiniProgramPushTransport:
    def __init__(
        self,
        *,
        token: str,
        app_id: str,
        encoding_aes_key: str,
        timestamp_tolerance_s: float,
        on_media_verdict: MediaVerdict,
        media_file: MediaFile,
        replay_guard: ReplayGuard | None = None,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.cipher = QuickPrpCrypto(WeChatCrypto(token, encoding_aes_key, app_id).key) if encoding_aes_key else None
        self.tolerance_s = timestamp_tolerance_s
        self.on_media_verdict = on_media_verdict
        self.media_file = media_file
        self.replay_guard = replay_guard
        self.read_timeout_s = read_timeout_s

    def _check_signature(self, request: web.Request) -> None:
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature_matches((self.token, timestamp, nonce), query.get("signature")):
            raise web.HTTPForbidden(text="invalid signature")
        if not timestamp_fresh(timestamp, self.tolerance_s):
            raise web.HTTPForbidden(text="stale or missing timestamp")
        if not nonce_ok(nonce):
            raise web.HTTPForbidden(text="missing or malformed nonce")

    async def verify(self, request: web.Request) -> web.Response:
        self._check_signature(request)
        return web.Response(text=request.query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        self._check_signature(request)
        query = request.query
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        body = await read_body(request, self.read_timeout_s)
        timestamp, nonce = query["timestamp"], query["nonce"]
        try:
            text = body.decode("utf-8")
            data = _fields(text)
            if encrypted:
                text = self._decrypt(data, query.get("msg_signature"), timestamp, nonce)
                data = _fields(text)
            elif self.cipher is not None:
                raise web.HTTPForbidden(text="plaintext pushes are not accepted in safe mode")
            verdict = media_verdict_of(data)
        except UnicodeDecodeError:
            return web.Response(status=400, text="body is not UTF-8")
        except BadCallback as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        await refuse_replays(self.replay_guard, "wxa", timestamp, nonce, text)
        if verdict is not None:
            known = await self.on_media_verdict(*verdict)
            if not known:
                log.warning("wxa_media_check for an unknown trace_id %s", verdict[0][:64])
        return web.Response(text=SUCCESS)

    def _decrypt(self, data: dict[str, Any], msg_signature: str | None, timestamp: str, nonce: str) -> str:
        if self.cipher is None:
            raise web.HTTPForbidden(text="safe mode is not configured (miniprogram.push_encoding_aes_key)")
        encrypt = data.get("Encrypt")
        if not isinstance(encrypt, str) or not signature_matches(
            (self.token, timestamp, nonce, encrypt), msg_signature
        ):
            raise web.HTTPForbidden(text="invalid msg_signature")
        try:
            return str(self.cipher.decrypt(encrypt, self.app_id))
        except InvalidAppIdException:
            raise web.HTTPForbidden(text="message is for another app") from None
        except Exception as exc:  # bad base64, padding, lengths (cryptography's own types too)
            log.info("decrypt failed: %r", exc)
            raise BadCallback("cannot decrypt body") from None

    async def media(self, request: web.Request) -> web.StreamResponse:
        """GET /wxa/media/<token>: an opinion's image while WeChat checks it (the token is random, 256 bits)."""
        found = await self.media_file(request.match_info["token"][:64])
        if found is None:
            raise web.HTTPNotFound(text="no such media")
        path, content_type = found
        if not await asyncio.to_thread(Path(path).is_file):
            raise web.HTTPNotFound(text="no such media")
        return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
