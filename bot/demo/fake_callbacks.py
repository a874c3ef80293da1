"""Send callbacks to our service the way WeChat and WeCom do (tests and the local simulator).

`OfficialAccountSender` plays WeChat posting to our official-account callback in plain, compat or
safe mode; `WeComAppSender` plays WeCom posting to a self-built app's callback; `WeComBotSender` plays
WeCom posting a smart bot's (智能机器人) encrypted JSON callback with a response_url. All sign like the
real platforms, wait `timeout_s` (5 s on the real ones) for the answer and try again with the same
request, three tries in all, and decrypt and parse the passive reply.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from xml.parsers.expat import ExpatError

import aiohttp
import xmltodict
from wechatpy.crypto import PrpCrypto as OfficialPrpCrypto
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import PrpCrypto as EnterprisePrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import WeChatException

from bot.demo.fake_platform import FakePlatform, FakePlatformControl

CallbackMode = Literal["plain", "compat", "safe"]
Tamper = Literal["signature", "msg_signature", "body"]
UserActivitySink = FakePlatform | FakePlatformControl
XmlValue = str | int | float

# Increasing and unique across senders and runs (seeded from the clock), like WeChat's MsgId.
_msg_ids = itertools.count(time.time_ns() // 1000)

# Events after which WeChat opens the short customer-service window (3 messages within 1 minute).
_WINDOW_EVENTS = frozenset({"subscribe", "SCAN", "CLICK"})
# A passive text reply longer than this: WeChat silently shows nothing, WeCom shows the first 2,048 bytes.
PASSIVE_REPLY_MAX_BYTES = 2048

_REPLY_ERRORS = (WeChatException, ValueError, KeyError, TypeError, IndexError, ExpatError)


def next_msg_id() -> int:
    return next(_msg_ids)


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: Mapping[str, XmlValue]) -> str:
    """`<xml>` with strings as CDATA and numbers bare, like WeChat's pushes."""
    parts = []
    for key, value in fields.items():
        text = str(value) if isinstance(value, int | float) else _cdata(value)
        parts.append(f"<{key}>{text}</{key}>")
    return "<xml>" + "".join(parts) + "</xml>"


def _forge(value: str) -> str:
    forged = _sign(value, secrets.token_hex(8))
    return forged if forged != value else forged[::-1]


def _corrupt_ciphertext(encrypt: str) -> str:
    """Random ciphertext of the same length: decrypts to garbage (bad padding, length or app id)."""
    size = len(base64.b64decode(encrypt))
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _parse_xml(text: str) -> dict[str, Any]:
    parsed = xmltodict.parse(text)["xml"]
    if not isinstance(parsed, dict):
        raise ValueError("empty <xml>")
    return dict(parsed)


@dataclass
class CallbackResult:
    status: int | None  # None: no HTTP answer (every try timed out or failed)
    body: str  # the raw answer
    reply: dict[str, Any] | None  # the (decrypted) passive reply; None for "success" or empty
    attempts: int
    error: str | None = None  # why there was no answer, or why the reply is unusable

    @property
    def timed_out(self) -> bool:
        return self.status is None


class _CallbackSender:
    """Signing-independent part: POST with WeChat's timeout-and-retry, reply parsing."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        callback_url: str,
        *,
        timeout_s: float,
        tries: int,
    ) -> None:
        self._session = session
        self.callback_url = callback_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tries = max(1, tries)

    async def _get(self, params: Mapping[str, str]) -> tuple[int, str]:
        async with self._session.get(self.callback_url, params=params, timeout=self._timeout) as resp:
            return resp.status, await resp.text()

    async def _post(
        self,
        params: Mapping[str, str],
        body: str,
        *,
        retries_on_timeout: bool,
        content_type: str = "text/xml",
    ) -> CallbackResult:
        tries = self._tries if retries_on_timeout else 1
        error = None
        for attempt in range(1, tries + 1):
            try:
                async with self._session.post(
                    self.callback_url,
                    params=params,
                    data=body.encode(),
                    headers={"Content-Type": content_type},
                    timeout=self._timeout,
                ) as resp:
                    text = await resp.text()
                    status = resp.status
            except TimeoutError:
                error = "timeout"
                continue
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            result = CallbackResult(status, text, None, attempt)
            if status == 200 and text.strip() not in ("", "success"):
                try:
                    result.reply, result.error = self._parse_reply(text)
                except _REPLY_ERRORS as exc:
                    result.error = f"unusable reply: {type(exc).__name__}: {exc}"
            return result
        return CallbackResult(None, "", None, tries, error)

    def _parse_reply(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        raise NotImplementedError


class OfficialAccountSender(_CallbackSender):
    """WeChat posting to our official-account callback."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        callback_url: str,
        *,
        token: str,
        app_id: str,
        encoding_aes_key: str | None = None,
        mode: CallbackMode = "plain",
        platform: UserActivitySink | None = None,
        timeout_s: float = 5.0,
        tries: int = 3,
        original_id: str = "gh_fake0000000",
    ) -> None:
        super().__init__(session, callback_url, timeout_s=timeout_s, tries=tries)
        if mode not in ("plain", "compat", "safe"):
            raise ValueError(f"unknown mode {mode!r}")
        self.token = token
        self.app_id = app_id
        self.mode = mode
        self.platform = platform
        self.original_id = original_id  # the account's gh_ id: ToUserName of every push
        self._crypto: Any = None
        if mode != "plain":
            if not encoding_aes_key:
                raise ValueError(f"mode {mode!r} needs encoding_aes_key")
            self._crypto = WeChatCrypto(token, encoding_aes_key, app_id)

    async def verify(self, echostr: str, *, tamper: Tamper | None = None) -> tuple[int, str]:
        """The server-address check: GET with signature, timestamp, nonce and echostr."""
        timestamp = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        signature = _sign(self.token, timestamp, nonce)
        if tamper is not None:
            signature = _forge(signature)
        return await self._get({"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr})

    async def send_xml(
        self,
        xml: str,
        *,
        timestamp: str | int | None = None,
        nonce: str | None = None,
        retries_on_timeout: bool = True,
        tamper: Tamper | None = None,
    ) -> CallbackResult:
        """POST one push (plain XML as WeChat builds it), encrypted as the mode requires."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        fields = _parse_xml(xml)
        signature = _sign(self.token, ts, nonce)
        params = {"signature": signature, "timestamp": ts, "nonce": nonce}
        if "FromUserName" in fields:
            params["openid"] = str(fields["FromUserName"])
        if tamper == "signature":
            params["signature"] = _forge(signature)
        if self.mode == "plain":
            body = xml[: len(xml) // 2] if tamper == "body" else xml
        else:
            encrypt = OfficialPrpCrypto(self._crypto.key).encrypt(xml, self.app_id).decode()
            if tamper == "body":
                encrypt = _corrupt_ciphertext(encrypt)
            msg_signature = _sign(self.token, ts, nonce, encrypt)
            if tamper == "msg_signature":
                msg_signature = _forge(msg_signature)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = msg_signature
            if self.mode == "safe":
                to_user = str(fields.get("ToUserName", self.original_id))
                body = build_xml({"ToUserName": to_user, "Encrypt": encrypt})
            else:  # compat: the plaintext fields and the ciphertext side by side
                stripped = xml.rstrip()
                body = stripped[: -len("</xml>")] + f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        return await self._post(params, body, retries_on_timeout=retries_on_timeout)

    def _parse_reply(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        parsed = _parse_xml(text)
        if "Encrypt" in parsed:
            if self._crypto is None:
                return None, "encrypted reply in plain mode"
            plain = self._crypto.decrypt_message(
                text, parsed.get("MsgSignature"), parsed.get("TimeStamp"), parsed.get("Nonce")
            )
            parsed = _parse_xml(plain)
        elif self.mode == "safe":
            return None, "plaintext reply in safe mode"
        if len(str(parsed.get("Content") or "").encode()) > PASSIVE_REPLY_MAX_BYTES:
            return None, f"passive reply over {PASSIVE_REPLY_MAX_BYTES} bytes: WeChat does not show it"
        return parsed, None

    async def _note(self, openid: str, *, event: bool) -> None:
        """Open the fake platform's customer-service window as the user's action does on WeChat."""
        platform = self.platform
        if platform is None:
            return
        if isinstance(platform, FakePlatform):
            (platform.note_user_event if event else platform.note_user_message)(openid)
        elif event:
            await platform.note_user_event(openid)
        else:
            await platform.note_user_message(openid)

    async def _message(
        self,
        openid: str,
        msgtype: str,
        fields: Mapping[str, XmlValue],
        msg_id: int | None,
        create_time: int | None,
        tamper: Tamper | None = None,
        timestamp: str | int | None = None,
    ) -> CallbackResult:
        await self._note(openid, event=False)
        xml = build_xml(
            {
                "ToUserName": self.original_id,
                "FromUserName": openid,
                "CreateTime": create_time if create_time is not None else int(time.time()),
                "MsgType": msgtype,
                **fields,
                "MsgId": msg_id if msg_id is not None else next_msg_id(),
            }
        )
        return await self.send_xml(xml, tamper=tamper, timestamp=timestamp)

    async def text(
        self,
        openid: str,
        content: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
        tamper: Tamper | None = None,
        timestamp: str | int | None = None,
    ) -> CallbackResult:
        return await self._message(openid, "text", {"Content": content}, msg_id, create_time, tamper, timestamp)

    async def image(
        self,
        openid: str,
        media_id: str,
        pic_url: str = "http://mmbiz.qpic.cn/fake/0",
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> CallbackResult:
        return await self._message(openid, "image", {"PicUrl": pic_url, "MediaId": media_id}, msg_id, create_time)

    async def voice(
        self,
        openid: str,
        media_id: str,
        recognition: str | None = None,
        fmt: str = "amr",
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> CallbackResult:
        fields = {"MediaId": media_id, "Format": fmt}
        if recognition is not None:
            fields["Recognition"] = recognition
        return await self._message(openid, "voice", fields, msg_id, create_time)

    async def video(
        self,
        openid: str,
        media_id: str,
        thumb_media_id: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> CallbackResult:
        return await self._message(
            openid, "video", {"MediaId": media_id, "ThumbMediaId": thumb_media_id}, msg_id, create_time
        )

    async def location(
        self,
        openid: str,
        lat: float,
        lon: float,
        scale: int = 15,
        label: str = "",
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> CallbackResult:
        fields: dict[str, XmlValue] = {"Location_X": lat, "Location_Y": lon, "Scale": scale, "Label": label}
        return await self._message(openid, "location", fields, msg_id, create_time)

    async def link(
        self,
        openid: str,
        title: str,
        description: str,
        url: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> CallbackResult:
        fields = {"Title": title, "Description": description, "Url": url}
        return await self._message(openid, "link", fields, msg_id, create_time)

    async def event(
        self,
        openid: str,
        event: str,
        event_key: str | None = None,
        *,
        ticket: str | None = None,
        create_time: int | None = None,
        extra: Mapping[str, XmlValue] | None = None,
    ) -> CallbackResult:
        """subscribe / unsubscribe / SCAN / CLICK / ...; events carry no MsgId.

        A scan by a non-follower is event="subscribe", event_key="qrscene_<scene>", with `ticket`.
        """
        if event in _WINDOW_EVENTS:
            await self._note(openid, event=True)
        fields: dict[str, XmlValue] = {
            "ToUserName": self.original_id,
            "FromUserName": openid,
            "CreateTime": create_time if create_time is not None else int(time.time()),
            "MsgType": "event",
            "Event": event,
        }
        if event_key is not None:
            fields["EventKey"] = event_key
        if ticket is not None:
            fields["Ticket"] = ticket
        fields.update(extra or {})
        return await self.send_xml(build_xml(fields))


class _WeComSender(_CallbackSender):
    """WeCom callbacks (app and smart bot): the URL check sends an encrypted echostr."""

    token: str

    def _encrypt(self, plain: str) -> str:
        raise NotImplementedError

    async def verify(self, echostr: str, *, tamper: Tamper | None = None) -> tuple[int, str]:
        """URL check: GET with msg_signature, timestamp, nonce and the encrypted `echostr`.

        Our service must answer with the decrypted `echostr`.
        """
        timestamp = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        encrypted = self._encrypt(echostr)
        if tamper == "body":
            encrypted = _corrupt_ciphertext(encrypted)
        signature = _sign(self.token, timestamp, nonce, encrypted)
        if tamper in ("signature", "msg_signature"):
            signature = _forge(signature)
        return await self._get(
            {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": encrypted}
        )


class WeComAppSender(_WeComSender):
    """WeCom posting to a self-built app's callback (always encrypted, receive id = corp_id)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        callback_url: str,
        *,
        token: str,
        encoding_aes_key: str,
        corp_id: str,
        agent_id: int = 1000002,
        timeout_s: float = 5.0,
        tries: int = 3,
    ) -> None:
        super().__init__(session, callback_url, timeout_s=timeout_s, tries=tries)
        self.token = token
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._crypto: Any = WeComCrypto(token, encoding_aes_key, corp_id)

    def _encrypt(self, plain: str) -> str:
        return str(EnterprisePrpCrypto(self._crypto.key).encrypt(plain, self.corp_id).decode())

    async def send_xml(
        self,
        xml: str,
        *,
        timestamp: str | int | None = None,
        nonce: str | None = None,
        retries_on_timeout: bool = True,
        tamper: Tamper | None = None,
    ) -> CallbackResult:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypt = self._encrypt(xml)
        if tamper == "body":
            encrypt = _corrupt_ciphertext(encrypt)
        signature = _sign(self.token, ts, nonce, encrypt)
        if tamper in ("signature", "msg_signature"):
            signature = _forge(signature)
        body = build_xml({"ToUserName": self.corp_id, "AgentID": str(self.agent_id), "Encrypt": encrypt})
        params = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
        return await self._post(params, body, retries_on_timeout=retries_on_timeout)

    def _parse_reply(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        parsed = _parse_xml(text)
        if "Encrypt" not in parsed:
            return None, "plaintext reply (WeCom needs an encrypted one)"
        plain = self._crypto.decrypt_message(
            text, parsed.get("MsgSignature"), parsed.get("TimeStamp"), parsed.get("Nonce")
        )
        reply = _parse_xml(plain)
        content = reply.get("Content")
        if isinstance(content, str) and len(content.encode()) > PASSIVE_REPLY_MAX_BYTES:
            # WeCom shows the first 2,048 bytes of a longer passive reply.
            reply["Content"] = content.encode()[:PASSIVE_REPLY_MAX_BYTES].decode(errors="ignore")
        return reply, None

    def _base_fields(self, userid: str, msgtype: str, create_time: int | None) -> dict[str, XmlValue]:
        return {
            "ToUserName": self.corp_id,
            "FromUserName": userid,
            "CreateTime": create_time if create_time is not None else int(time.time()),
            "MsgType": msgtype,
        }

    async def text(
        self,
        userid: str,
        content: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
        tamper: Tamper | None = None,
        timestamp: str | int | None = None,
    ) -> CallbackResult:
        fields = self._base_fields(userid, "text", create_time)
        fields["Content"] = content
        fields["MsgId"] = msg_id if msg_id is not None else next_msg_id()
        fields["AgentID"] = self.agent_id
        return await self.send_xml(build_xml(fields), tamper=tamper, timestamp=timestamp)

    async def event(
        self,
        userid: str,
        event: str,
        event_key: str | None = None,
        *,
        create_time: int | None = None,
    ) -> CallbackResult:
        """enter_agent / click / view / ..."""
        fields = self._base_fields(userid, "event", create_time)
        fields["Event"] = event
        if event_key is not None:
            fields["EventKey"] = event_key
        fields["AgentID"] = self.agent_id
        return await self.send_xml(build_xml(fields))


class WeComBotSender(_WeComSender):
    """WeCom posting a smart bot's (智能机器人) callback: JSON {"encrypt": ...}, receive id "".

    Each message carries a fresh response_url from the fake platform (valid 1 h, usable once), issued for
    the group (chatid) or, in a single chat, for the user. `last_response_url` is the latest one.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        callback_url: str,
        *,
        token: str,
        encoding_aes_key: str,
        api_base_url: str = "",
        platform: UserActivitySink | None = None,
        aibotid: str = "aibot-fake-0001",
        bot_name: str = "码上商",
        chat_id: str = "wr-triage-group",
        response_host: str = "",
        timeout_s: float = 5.0,
        tries: int = 3,
    ) -> None:
        super().__init__(session, callback_url, timeout_s=timeout_s, tries=tries)
        self.token = token
        self.api_base_url = api_base_url.rstrip("/")  # the fake's WeCom base, for response URLs
        # The origin written into response URLs instead: WeCom writes its own (https://qyapi.weixin.qq.com)
        # whatever proxy our outbound calls go through.
        self.response_host = response_host.rstrip("/")
        self.platform = platform
        self.aibotid = aibotid
        self.bot_name = bot_name
        self.chat_id = chat_id
        self.last_response_url: str | None = None
        self._crypto: Any = WeComCrypto(token, encoding_aes_key, "")

    def _encrypt(self, plain: str) -> str:
        return str(EnterprisePrpCrypto(self._crypto.key).encrypt(plain, "").decode())

    async def response_url(self, recipient: str) -> str:
        """A new response_url as WeCom would put in the push."""
        if isinstance(self.platform, FakePlatform):
            code = self.platform.issue_response_code(recipient)
            return f"{self.response_host or self.api_base_url}/cgi-bin/aibot/response?response_code={code}"
        if isinstance(self.platform, FakePlatformControl):
            return await self.platform.issue_response_url(recipient)
        return f"{self.api_base_url}/cgi-bin/aibot/response?response_code={secrets.token_urlsafe(24)}"

    async def send_json(
        self,
        message: Mapping[str, Any],
        *,
        timestamp: str | int | None = None,
        nonce: str | None = None,
        retries_on_timeout: bool = True,
        tamper: Tamper | None = None,
    ) -> CallbackResult:
        """POST one push (the plaintext JSON as WeCom builds it), encrypted and signed."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypt = self._encrypt(json.dumps(message, ensure_ascii=False))
        if tamper == "body":
            encrypt = _corrupt_ciphertext(encrypt)
        signature = _sign(self.token, ts, nonce, encrypt)
        if tamper in ("signature", "msg_signature"):
            signature = _forge(signature)
        params = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
        body = json.dumps({"encrypt": encrypt})
        return await self._post(params, body, retries_on_timeout=retries_on_timeout, content_type="application/json")

    def _parse_reply(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        envelope = json.loads(text)
        if not isinstance(envelope, dict) or "encrypt" not in envelope:
            return None, "plaintext reply (the smart bot needs an encrypted one)"
        expected = _sign(self.token, str(envelope.get("timestamp")), str(envelope.get("nonce")), envelope["encrypt"])
        if expected != envelope.get("msgsignature"):
            return None, "reply signature does not match"
        plain = EnterprisePrpCrypto(self._crypto.key).decrypt(envelope["encrypt"], "")
        reply = json.loads(plain)
        return (reply if isinstance(reply, dict) else None), None

    async def message(
        self,
        userid: str,
        msgtype: str,
        part: Any,
        *,
        chat_id: str | None = None,
        single: bool = False,
        msg_id: str | None = None,
        tamper: Tamper | None = None,
        timestamp: str | int | None = None,
    ) -> CallbackResult:
        """Any message push: `part` is the body under `msgtype` (e.g. {"content": "..."} for text)."""
        chat = None if single else (chat_id or self.chat_id)
        self.last_response_url = await self.response_url(chat or userid)
        message: dict[str, Any] = {
            "msgid": msg_id or f"fake-{next_msg_id()}",
            "aibotid": self.aibotid,
            "chattype": "single" if single else "group",
            "from": {"userid": userid},
            "response_url": self.last_response_url,
            "msgtype": msgtype,
            msgtype: part,
        }
        if chat is not None:
            message["chatid"] = chat
        return await self.send_json(message, tamper=tamper, timestamp=timestamp)

    async def text(
        self,
        userid: str,
        content: str,
        *,
        chat_id: str | None = None,
        single: bool = False,
        mention: bool = True,
        msg_id: str | None = None,
        tamper: Tamper | None = None,
        timestamp: str | int | None = None,
    ) -> CallbackResult:
        """A text to the bot: in a group (the default) it starts with "@<bot name> " as WeCom sends it."""
        if mention and not single:
            content = f"@{self.bot_name} {content}"
        return await self.message(
            userid,
            "text",
            {"content": content},
            chat_id=chat_id,
            single=single,
            msg_id=msg_id,
            tamper=tamper,
            timestamp=timestamp,
        )

    async def event(self, userid: str, eventtype: str = "enter_chat", *, single: bool = True) -> CallbackResult:
        """An event push (enter_chat, template_card_event, ...): no response is expected from us."""
        message: dict[str, Any] = {
            "msgid": f"fake-{next_msg_id()}",
            "create_time": int(time.time()),
            "aibotid": self.aibotid,
            "chattype": "single" if single else "group",
            "from": {"userid": userid},
            "msgtype": "event",
            "event": {"eventtype": eventtype},
        }
        if not single:
            message["chatid"] = self.chat_id
        return await self.send_json(message)


class MiniProgramPushSender(_CallbackSender):
    """WeChat posting to the mini-program's message-push URL (/wxa/callback): the wxa_media_check event
    in JSON or XML, plain or in safe mode (its Encrypt field signed by msg_signature)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        callback_url: str,
        *,
        token: str,
        app_id: str,
        encoding_aes_key: str | None = None,
        data_format: str = "json",
        timeout_s: float = 5.0,
    ) -> None:
        super().__init__(session, callback_url, timeout_s=timeout_s, tries=3)
        self.token = token
        self.app_id = app_id
        self.data_format = data_format
        self._key = WeChatCrypto(token, encoding_aes_key, app_id).key if encoding_aes_key else None

    async def verify(self, echostr: str, *, tamper: Tamper | None = None) -> tuple[int, str]:
        timestamp = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        signature = _sign(self.token, timestamp, nonce)
        if tamper is not None:
            signature = _forge(signature)
        return await self._get({"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr})

    def media_check_event(self, trace_id: str, suggest: str, openid: str = "") -> dict[str, Any]:
        """The event as WeChat documents it (mediaCheckAsync.html: the asynchronous result push)."""
        label = 100 if suggest == "pass" else 20002
        return {
            "ToUserName": "gh_fakemini0000",
            "FromUserName": openid or "o-fake-push",
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "wxa_media_check",
            "appid": self.app_id,
            "trace_id": trace_id,
            "version": 2,
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
        }

    def _render(self, fields: Mapping[str, Any]) -> str:
        if self.data_format == "json":
            return json.dumps(fields, ensure_ascii=False)
        parts = []
        for key, value in fields.items():
            if key == "detail":
                continue  # a list: XML pushes carry it as repeated elements, which we do not read
            if isinstance(value, dict):
                parts.append(f"<{key}>" + build_xml(value)[len("<xml>") : -len("</xml>")] + f"</{key}>")
            else:
                parts.append(build_xml({key: value})[len("<xml>") : -len("</xml>")])
        return "<xml>" + "".join(parts) + "</xml>"

    async def push(self, fields: Mapping[str, Any], *, tamper: Tamper | None = None) -> CallbackResult:
        ts = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        params = {"signature": _sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if tamper == "signature":
            params["signature"] = _forge(params["signature"])
        text = self._render(fields)
        if self._key is None:
            body = text
        else:
            encrypt = OfficialPrpCrypto(self._key).encrypt(text, self.app_id).decode()
            msg_signature = _sign(self.token, ts, nonce, encrypt)
            if tamper == "msg_signature":
                msg_signature = _forge(msg_signature)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = msg_signature
            envelope = {"ToUserName": "gh_fakemini0000", "Encrypt": encrypt}
            body = json.dumps(envelope) if self.data_format == "json" else build_xml(envelope)
        content_type = "application/json" if self.data_format == "json" else "text/xml"
        return await self._post(params, body, retries_on_timeout=True, content_type=content_type)

    def _parse_reply(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        return None, None if text == "success" else f"unexpected answer {text[:80]!r}"
