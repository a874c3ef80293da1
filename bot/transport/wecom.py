"""WeCom callback transports: the self-built app at /wecom/callback and the smart bot at /wecom/bot.

This module alone knows WeCom's wire formats. Both callbacks are always encrypted: msg_signature is
sha1 of the sorted [token, timestamp, nonce, ciphertext], the ciphertext is AES-CBC with a receive id
(the corp id for the app, "" for a company's own smart bot). The edge rules are the official
account's: constant-time signature checks, a timestamp tolerance, the app's body limit (413),
malformed bodies 400 without a stack trace, forged ones 403; retries are deduplicated by the inbox
(same MsgId / msgid).

What becomes a `ChatEvent`, and what is only acknowledged:
- App: text messages only. Other message types, events (enter_agent, click, ...) and messages for
  another AgentID get an empty 200 and are stored nowhere: staff and members act through text commands.
  A reply ready within the budget goes back as an encrypted passive reply, otherwise through the outbox.
- Bot: text messages, and the text parts of mixed (text + image) messages, with the bot's @-mention
  removed wherever it stands (`wecom.bot_names`, a name may have a space in it). Events (enter_chat,
  ...), images, voice, files and stream refreshes get an empty 200 and are stored nowhere. WeCom takes
  no passive text reply to a message (only stream or template cards), so the bot accepts with a zero
  budget: the answer is enqueued as send.bot_reply (response_url).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from aiohttp import web
from multidict import MultiMapping
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.enterprise.replies import TextReply

from bot.ingest.inbox import Inbox
from bot.ingest.limits import RefusedEvent
from bot.transport.official_account import BadCallback, text_field
from bot.transport.replay import ReplayGuard, refuse_replays
from bot.transport.signing import nonce_ok, read_body, sha1_signature, signature_matches, timestamp_fresh, unix_time
from handlers.events import ChatEvent
from handlers.texts.markdown import plain
from models.timeutil import now

log = logging.getLogger(__name__)

EMPTY_ACK = ""  # WeCom takes an empty 200 as "received, no passive reply"
_LEADING_MENTION = re.compile(r"^\s*@\S+\s*")


class CallbackCrypto:
    """Signature, freshness and AES of one WeCom callback (token, EncodingAESKey, receive id)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str, timestamp_tolerance_s: float) -> None:
        self.token = token
        self.receive_id = receive_id
        self.tolerance_s = timestamp_tolerance_s
        self.configured = bool(token and encoding_aes_key)
        key = base64.b64decode(encoding_aes_key + "=") if encoding_aes_key else b"\0" * 32
        self._prp = PrpCrypto(key)

    def check_query(self, query: MultiMapping[str]) -> tuple[str, str, str]:
        """(msg_signature, timestamp, nonce) of a signed, fresh request; 403 otherwise."""
        if not self.configured:
            raise web.HTTPForbidden(text="this callback is not configured")
        signature = query.get("msg_signature", "")
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature:
            raise web.HTTPForbidden(text="missing msg_signature")
        if not timestamp_fresh(timestamp, self.tolerance_s):
            raise web.HTTPForbidden(text="stale or missing timestamp")
        if not nonce_ok(nonce):
            raise web.HTTPForbidden(text="missing or malformed nonce")
        return signature, timestamp, nonce

    def open(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """The plaintext of `encrypt` once its signature holds: 403 when forged, BadCallback when garbled."""
        if not signature_matches((self.token, timestamp, nonce, encrypt), signature):
            raise web.HTTPForbidden(text="invalid msg_signature")
        try:
            return str(self._prp.decrypt(encrypt, self.receive_id))
        except InvalidCorpIdException:
            raise web.HTTPForbidden(text="message is for another receiver") from None
        except Exception as exc:  # bad base64, padding, lengths or UTF-8: raised as many types
            log.info("WeCom decrypt failed: %r", exc)
            raise BadCallback("cannot decrypt body") from None

    def seal(self, plain: str, timestamp: str, nonce: str) -> tuple[str, str]:
        """(ciphertext, msg_signature) of a passive reply."""
        encrypt = self._prp.encrypt(plain, self.receive_id).decode()
        return encrypt, sha1_signature(self.token, timestamp, nonce, encrypt)

    async def verify(self, request: web.Request) -> web.Response:
        """GET URL check: decrypt echostr and answer it as plain text (WeCom waits 1 s)."""
        signature, timestamp, nonce = self.check_query(request.query)
        # Base64 has no spaces: a space is a "+" that reached us without URL encoding.
        echostr = request.query.get("echostr", "").replace(" ", "+")
        if not echostr:
            return web.Response(status=400, text="bad callback: missing echostr")
        try:
            plain = self.open(signature, timestamp, nonce, echostr)
        except BadCallback as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        return web.Response(text=plain)


_BOT_ENVELOPE = re.compile(
    rb'[ \t\r\n]*\{[ \t\r\n]*"encrypt"[ \t\r\n]*:[ \t\r\n]*"([A-Za-z0-9+/=]+)"[ \t\r\n]*\}[ \t\r\n]*'
)


def _json(text: str | bytes, what: str) -> Any:
    """Parsed JSON, or BadCallback: `[` 30,000 times is a RecursionError, which is no ValueError."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also UnicodeDecodeError
        raise BadCallback(what) from None


def _parse_xml(text: str) -> dict[str, Any]:
    try:
        parsed = xmltodict.parse(text)
    except (ExpatError, ValueError, TypeError) as exc:
        raise BadCallback(f"malformed XML: {type(exc).__name__}") from None
    data = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(data, dict):
        raise BadCallback("no <xml> element")
    return data


def app_event_from_xml(xml: str, agent_id: int | None = None) -> ChatEvent | None:
    """The ChatEvent of a decrypted app push; None for what is only acknowledged (see the module doc)."""
    data = _parse_xml(xml)
    sender = text_field(data, "FromUserName", required=True)
    created_at = unix_time(text_field(data, "CreateTime", required=True))
    if created_at is None:
        raise BadCallback("CreateTime is not a Unix time")
    msg_type = text_field(data, "MsgType", required=True).lower()
    agent = text_field(data, "AgentID")
    if agent_id is not None and agent and agent != str(agent_id):
        log.info("WeCom push for agent %s ignored (ours is %s)", agent, agent_id)
        return None
    if msg_type != "text":
        return None
    return ChatEvent(
        channel="wecom_app",
        sender=sender,
        text=text_field(data, "Content"),
        created_at=created_at,
        msg_id=text_field(data, "MsgId", required=True),
        extra={"agent_id": agent} if agent else {},
    )


def _mention_pattern(name: str) -> re.Pattern[str]:
    """`@<name>` as WeCom writes it into the text: the name's words apart by any whitespace (WeCom puts a
    U+2005 after a mention), ended by whitespace, the end, or a comma or colon (eaten with the mention)."""
    words = r"\s+".join(re.escape(word) for word in name.split())
    return re.compile(rf"@{words}(?:[\s,，:：]+|$)", re.IGNORECASE)


def _gap(match: re.Match[str]) -> str:
    """What a mention leaves: nothing after whitespace or at the start, else a space (`MS1@码上商 张三`)."""
    start = match.start()
    return "" if start == 0 or match.string[start - 1].isspace() else " "


def strip_mention(content: str, bot_names: Sequence[str] = ()) -> str:
    """The bot's own @-mention removed wherever it stands: `@码上商 派 MS… 张三`, `派 MS… @码上商 张三` and
    `派 MS… 张三 @码上商 助手` (names `码上商`, `码上商 助手`) all become `派 MS… 张三`. The longest name is
    tried first, so `@码上商 助手` is not read as `@码上商` and a first word `助手`. When no configured name
    is in the text (the bot renamed in WeCom, no names configured), a leading @-mention is taken for it."""
    text, found = content, 0
    for name in sorted({n for n in bot_names if n.strip()}, key=len, reverse=True):
        text, count = _mention_pattern(name).subn(_gap, text)
        found += count
    if not found:
        text = _LEADING_MENTION.sub("", text, count=1)
    return text.strip()


def _bot_text(data: dict[str, Any], msgtype: str) -> str | None:
    if msgtype == "text":
        part = data.get("text")
        if not isinstance(part, dict) or not isinstance(part.get("content"), str):
            raise BadCallback("text message without text.content")
        return str(part["content"])
    if msgtype == "mixed":
        mixed = data.get("mixed")
        if isinstance(mixed, str):  # some pushes carry the mixed part as a JSON string
            mixed = _json(mixed, "mixed part is not JSON")
        items = mixed.get("msg_item") if isinstance(mixed, dict) else None
        if not isinstance(items, list):
            raise BadCallback("mixed message without msg_item")
        texts = [
            str(item["text"]["content"])
            for item in items
            if isinstance(item, dict)
            and item.get("msgtype") == "text"
            and isinstance(item.get("text"), dict)
            and isinstance(item["text"].get("content"), str)
        ]
        return " ".join(texts) if texts else None
    return None


def bot_event_from_json(plain: str, bot_names: Sequence[str] = ()) -> ChatEvent | None:
    """The ChatEvent of a decrypted smart-bot push; None for what is only acknowledged. `bot_names`: the
    bot's names, whose @-mentions a group message's text loses (`strip_mention`)."""
    data = _json(plain, "body is not JSON")
    if not isinstance(data, dict):
        raise BadCallback("body is not a JSON object")
    msgtype = str(data.get("msgtype") or "").lower()
    if not msgtype:
        raise BadCallback("missing field msgtype")
    content = _bot_text(data, msgtype)
    if content is None:
        return None
    msgid = data.get("msgid")
    sender = data.get("from")
    userid = sender.get("userid") if isinstance(sender, dict) else None
    if not isinstance(msgid, str | int) or isinstance(msgid, bool) or not str(msgid):  # bool is an int
        raise BadCallback("missing field msgid")
    if not isinstance(userid, str) or not userid:
        raise BadCallback("missing field from.userid")
    chattype = str(data.get("chattype") or "single")
    chat_id = data.get("chatid")
    response_url = data.get("response_url")
    # Optional in the bot's JSON: when absent or unreadable, the time it arrived.
    created_at = unix_time(data.get("create_time")) or now()
    extra = {"chattype": chattype}
    if isinstance(data.get("aibotid"), str):
        extra["aibotid"] = data["aibotid"]
    return ChatEvent(
        channel="wecom_bot",
        sender=userid,
        text=strip_mention(content, bot_names) if chattype == "group" else content.strip(),
        created_at=created_at,
        msg_id=str(msgid),
        chat_id=chat_id if isinstance(chat_id, str) and chat_id else None,
        response_url=response_url if isinstance(response_url, str) and response_url else None,
        extra=extra,
    )


class WeComAppTransport:
    """The self-built app's callback: encrypted XML, receive id = corp id, passive replies."""

    def __init__(
        self,
        inbox: Inbox,
        *,
        token: str,
        encoding_aes_key: str,
        corp_id: str,
        agent_id: int,
        timestamp_tolerance_s: float,
        passive_reply_budget_s: float,
        replay_guard: ReplayGuard | None = None,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.inbox = inbox
        self.replay_guard = replay_guard
        self.read_timeout_s = read_timeout_s
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.crypto = CallbackCrypto(token, encoding_aes_key, corp_id, timestamp_tolerance_s)
        self.budget_s = passive_reply_budget_s

    async def verify(self, request: web.Request) -> web.Response:
        return await self.crypto.verify(request)

    async def receive(self, request: web.Request) -> web.Response:
        signature, timestamp, nonce = self.crypto.check_query(request.query)
        body = await read_body(request, self.read_timeout_s)
        try:
            envelope = _parse_xml(body.decode("utf-8"))
            encrypt = envelope.get("Encrypt")
            if not isinstance(encrypt, str) or not encrypt:
                raise BadCallback("missing field Encrypt")
            opened = self.crypto.open(signature, timestamp, nonce, encrypt)
            event = app_event_from_xml(opened, self.agent_id)
        except UnicodeDecodeError:
            return web.Response(status=400, text="body is not UTF-8")
        except BadCallback as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        await refuse_replays(self.replay_guard, "wecom_app", timestamp, nonce, opened)
        if event is None:
            return web.Response(text=EMPTY_ACK)
        try:
            acceptance = await self.inbox.accept(event, self.budget_s)
        except RefusedEvent as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        if not acceptance.reply:
            return web.Response(text=EMPTY_ACK)
        # A passive reply is plain text (markdown markers would show as typed). wechatpy puts the text in
        # CDATA without escaping "]]>", which would end it early.
        content = plain(acceptance.reply).replace("]]>", "]] >")
        reply = TextReply(source=self.corp_id, target=event.sender, content=content, agent=self.agent_id)
        reply_timestamp = str(int(time.time()))
        encrypt, reply_signature = self.crypto.seal(reply.render(), reply_timestamp, nonce)
        xml = (
            f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{reply_signature}]]></MsgSignature>"
            f"<TimeStamp>{reply_timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
        return web.Response(text=xml, content_type="application/xml")


class WeComBotTransport:
    """The smart bot's callback: encrypted JSON {"encrypt": ...}, receive id "", answers via response_url."""

    def __init__(
        self,
        inbox: Inbox,
        *,
        token: str,
        encoding_aes_key: str,
        timestamp_tolerance_s: float,
        replay_guard: ReplayGuard | None = None,
        read_timeout_s: float = 10.0,
        bot_names: Sequence[str] = (),
    ) -> None:
        self.inbox = inbox
        self.replay_guard = replay_guard
        self.read_timeout_s = read_timeout_s
        self.bot_names = tuple(bot_names)
        self.crypto = CallbackCrypto(token, encoding_aes_key, "", timestamp_tolerance_s)

    async def verify(self, request: web.Request) -> web.Response:
        return await self.crypto.verify(request)

    async def receive(self, request: web.Request) -> web.Response:
        signature, timestamp, nonce = self.crypto.check_query(request.query)
        body = await read_body(request, self.read_timeout_s)
        try:
            # {"encrypt": "…"} as WeCom sends it is read without a JSON parser, so that no nesting a forger
            # sends is parsed before the signature is checked; other layouts go to the parser.
            fast = _BOT_ENVELOPE.fullmatch(body)
            envelope = {"encrypt": fast.group(1).decode()} if fast else _json(body, "body is not JSON")
            encrypt = envelope.get("encrypt") if isinstance(envelope, dict) else None
            if not isinstance(encrypt, str) or not encrypt:
                raise BadCallback("missing field encrypt")
            plain = self.crypto.open(signature, timestamp, nonce, encrypt)
            event = bot_event_from_json(plain, self.bot_names)
        except BadCallback as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        await refuse_replays(self.replay_guard, "wecom_bot", timestamp, nonce, plain)
        if event is not None:
            try:
                # Zero budget: the handler runs on; its answer goes out as send.bot_reply.
                await self.inbox.accept(event, 0.0)
            except RefusedEvent as exc:
                return web.Response(status=400, text=f"bad callback: {exc}")
        return web.Response(text=EMPTY_ACK)
