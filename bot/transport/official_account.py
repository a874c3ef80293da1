"""Official-account callback transport: GET verification and POST messages at /wechat/callback.

This module alone knows WeChat's wire format. It checks signatures, timestamps and body size,
decrypts safe-mode bodies, parses XML into a plain `CitizenEvent`, hands it to the inbox, and
renders the passive reply (encrypted again in safe mode).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

from bot.ingest.inbox import Inbox
from bot.ingest.limits import RefusedEvent
from bot.transport.replay import ReplayGuard, refuse_replays
from bot.transport.signing import (
    QuickPrpCrypto,
    nonce_ok,
    read_body,
    sha1_signature,
    signature_matches,
    timestamp_fresh,
    unix_time,
)
from handlers.events import CitizenEvent
from qr.scenes import contact_point_from_event_key

log = logging.getLogger(__name__)

SUCCESS = "success"
# A safe-mode body as WeChat sends it: Encrypt and ToUserName in CDATA. A body that matches this whole is
# well-formed XML, so its Encrypt is read without building a parser; anything else goes to ElementTree.
_ENVELOPE = re.compile(
    r"[ \t\r\n]*<xml>[ \t\r\n]*(?:<ToUserName><!\[CDATA\[[^\]<>&]*\]\]></ToUserName>[ \t\r\n]*)?"
    r"<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]></Encrypt>[ \t\r\n]*"
    r"(?:<ToUserName><!\[CDATA\[[^\]<>&]*\]\]></ToUserName>[ \t\r\n]*)?</xml>[ \t\r\n]*"
)
_ENCRYPTED_REPLY = (
    "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
    "<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
)
_MESSAGE_TYPES = {"text", "image", "voice", "video", "shortvideo", "location", "link"}


class BadCallback(Exception):
    """The body is not a well-formed WeChat callback; the message says what is wrong."""


def text_field(data: dict[str, Any], name: str, *, required: bool = False) -> str:
    """A text element of a parsed callback; BadCallback when a required one is missing."""
    value = data.get(name)
    if type(value) is str:
        return value
    if value is None or isinstance(value, dict | list):
        if required:
            raise BadCallback(f"missing field {name}")
        return ""
    return str(value)


def xml_fields(xml: str) -> dict[str, Any]:
    """The children of a callback's <xml> root as {tag: text}, nested elements as dicts.

    WeChat's pushes are flat: `<Tag><![CDATA[text]]></Tag>` or `<Tag>123</Tag>` under <xml>. Those are
    read by `_flat_fields` without building a parser; anything else (nesting, entities, attributes,
    a prolog, a broken document) goes to ElementTree's C parser, which also gives the error."""
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:  # WeChat never sends a DTD; entities can explode
        raise BadCallback("malformed XML: DTDs and entities are not accepted")
    flat = _flat_fields(xml)
    if flat is not None:
        return flat
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        raise BadCallback("malformed XML: ParseError") from None
    if root.tag != "xml":
        raise BadCallback("malformed XML: the root element is not <xml>")
    return {child.tag: _element_value(child) for child in root}


# XML white space is exactly these four characters (Python's \s also takes \x85, \xa0, \u3000 and more).
_FLAT_OPEN = re.compile(r"[ \t\r\n]*<xml>")
_FLAT_ELEMENT = re.compile(r"[ \t\r\n]*<([A-Za-z_][A-Za-z0-9_]*)>(?:<!\[CDATA\[(.*?)\]\]>|([^<&]*))</\1>", re.DOTALL)
_FLAT_CLOSE = re.compile(r"[ \t\r\n]*</xml>[ \t\r\n]*")
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\r]|]]>")


def _flat_fields(xml: str) -> dict[str, Any] | None:
    """{tag: text} of a flat <xml> document, exactly as ElementTree would read it (empty text is None);
    None when the document is not of that simple shape, or holds something a parser treats specially
    (a carriage return, a character XML forbids, "]]>" outside CDATA)."""
    opened = _FLAT_OPEN.match(xml)
    if opened is None:
        return None
    fields: dict[str, Any] = {}
    position = opened.end()
    while True:
        element = _FLAT_ELEMENT.match(xml, position)
        if element is None:
            break
        tag, cdata, plain = element.groups()
        text = cdata if cdata is not None else plain
        if _NOT_XML_TEXT.search(text):
            return None
        fields[tag] = text or None
        position = element.end()
    if _FLAT_CLOSE.fullmatch(xml, position) is None:
        return None
    return fields


# WeChat nests at most three levels below <xml> (SendPicsInfo > PicList > item > PicMd5Sum); reading 900
# levels recursed until RecursionError, a 500 and a traceback of thousands of lines.
MAX_XML_DEPTH = 8


def _element_value(element: ElementTree.Element, depth: int = 1) -> Any:
    if len(element):
        if depth >= MAX_XML_DEPTH:
            raise BadCallback(f"malformed XML: nested deeper than {MAX_XML_DEPTH} levels")
        return {child.tag: _element_value(child, depth + 1) for child in element}
    return element.text


def event_from_xml(xml: str, channel: str = "oa") -> tuple[CitizenEvent, dict[str, Any]]:
    """Parse a decrypted callback body into a CitizenEvent; raises BadCallback on anything malformed."""
    data = xml_fields(xml)
    sender = text_field(data, "FromUserName", required=True)
    created_at = unix_time(text_field(data, "CreateTime", required=True))
    if created_at is None:
        raise BadCallback("CreateTime is not a Unix time")
    msg_type = text_field(data, "MsgType", required=True).lower()
    common: dict[str, Any] = {"channel": channel, "sender": sender, "created_at": created_at}
    if msg_type == "event":
        event_name = text_field(data, "Event").lower()
        key = text_field(data, "EventKey")
        if event_name in {"subscribe", "subscribe_scan"}:
            scene = key if event_name == "subscribe_scan" else key.removeprefix("qrscene_")
            return CitizenEvent(
                kind="subscribe",
                event_name="subscribe",
                contact_point_key=contact_point_from_event_key(scene),
                new_follower=True,
                extra={"scene": scene} if scene else {},
                **common,
            ), data
        if event_name == "scan":
            return CitizenEvent(
                kind="scan",
                event_name="scan",
                contact_point_key=contact_point_from_event_key(key),
                extra={"scene": key},
                **common,
            ), data
        if event_name == "unsubscribe":
            return CitizenEvent(kind="unsubscribe", event_name=event_name, **common), data
        if event_name == "templatesendjobfinish":  # how a template message ended: MsgID, Status
            msgid = text_field(data, "MsgID")
            # A BIGINT (the template_send key): ASCII digits below 2**63, not '²' nor 20 digits.
            if not (msgid.isascii() and msgid.isdigit()) or len(msgid) > 19 or int(msgid) >= 2**63:
                raise BadCallback("TEMPLATESENDJOBFINISH without a numeric MsgID")
            status = text_field(data, "Status")[:64]
            return CitizenEvent(
                kind="template_outcome", event_name=event_name, extra={"key": msgid, "status": status}, **common
            ), data
        return CitizenEvent(kind="other", event_name=event_name, extra={"key": key}, **common), data
    msg_id = text_field(data, "MsgId", required=msg_type in _MESSAGE_TYPES)
    if msg_type == "text":
        return CitizenEvent(
            kind="message", msg_type="text", text=text_field(data, "Content"), msg_id=msg_id, **common
        ), data
    if msg_type == "image":
        return CitizenEvent(
            kind="message",
            msg_type="image",
            media_id=text_field(data, "MediaId", required=True),
            msg_id=msg_id,
            extra={"pic_url": text_field(data, "PicUrl")},
            **common,
        ), data
    if msg_type == "voice":
        return CitizenEvent(
            kind="message",
            msg_type="voice",
            media_id=text_field(data, "MediaId", required=True),
            text=text_field(data, "Recognition"),
            msg_id=msg_id,
            extra={"format": text_field(data, "Format")},
            **common,
        ), data
    if msg_type in {"video", "shortvideo"}:
        return CitizenEvent(
            kind="message",
            msg_type="video",
            media_id=text_field(data, "MediaId", required=True),
            msg_id=msg_id,
            extra={"thumb_media_id": text_field(data, "ThumbMediaId")},
            **common,
        ), data
    if msg_type == "location":
        try:
            lat, lon = (
                float(text_field(data, "Location_X", required=True)),
                float(text_field(data, "Location_Y", required=True)),
            )
        except ValueError:
            raise BadCallback("location is not a number") from None
        if not (abs(lat) <= 90 and abs(lon) <= 180):  # also NaN and infinities, which JSON cannot hold
            raise BadCallback("location is not a latitude and longitude")
        label = text_field(data, "Label")
        return CitizenEvent(
            kind="message",
            msg_type="location",
            text=label,
            msg_id=msg_id,
            extra={"latitude": lat, "longitude": lon, "scale": text_field(data, "Scale"), "label": label},
            **common,
        ), data
    if msg_type == "link":
        title = text_field(data, "Title")
        return CitizenEvent(
            kind="message",
            msg_type="link",
            text=title,
            msg_id=msg_id,
            extra={"title": title, "description": text_field(data, "Description"), "url": text_field(data, "Url")},
            **common,
        ), data
    return CitizenEvent(kind="message", msg_type=msg_type, msg_id=msg_id or None, **common), data


def _cdata(text: str) -> str:
    return text.replace("]]>", "]] >")  # "]]>" would end the CDATA section early


def text_reply_xml(*, source: str, target: str, text: str, at: float | None = None) -> str:
    """A passive text reply, as wechatpy's TextReply renders it but with the current CreateTime
    (wechatpy's default is the time its module was imported) and without its per-field machinery."""
    created = int(time.time() if at is None else at)
    return (
        f"<xml>\n<ToUserName><![CDATA[{_cdata(target)}]]></ToUserName>\n"
        f"<FromUserName><![CDATA[{_cdata(source)}]]></FromUserName>\n<CreateTime>{created}</CreateTime>\n"
        f"<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[{_cdata(text)}]]></Content>\n</xml>"
    )


class OfficialAccountTransport:
    def __init__(
        self,
        inbox: Inbox,
        *,
        token: str,
        app_id: str,
        encoding_aes_key: str,
        accepted_modes: frozenset[str],
        timestamp_tolerance_s: float,
        passive_reply_budget_s: float,
        replay_guard: ReplayGuard | None = None,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.inbox = inbox
        self.token = token
        self.app_id = app_id
        self.replay_guard = replay_guard
        self.read_timeout_s = read_timeout_s
        # Safe and compat mode both carry the message encrypted (compat also in plaintext, which is not read).
        self.takes_plain = "plain" in accepted_modes
        self.takes_encrypted = bool({"safe", "compat"} & accepted_modes)
        # WeChatCrypto decodes and checks the key; the cipher made from it serves every message.
        self.cipher = QuickPrpCrypto(WeChatCrypto(token, encoding_aes_key, app_id).key) if encoding_aes_key else None
        self.tolerance_s = timestamp_tolerance_s
        self.budget_s = passive_reply_budget_s

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
        """GET: WeChat checks that we own the URL; echo echostr when the signature is right."""
        self._check_signature(request)
        return web.Response(text=request.query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        self._check_signature(request)
        query = request.query
        # The caller names the mode: only one this account is set to is taken (wechat.accepted_modes).
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if not (self.takes_encrypted if encrypted else self.takes_plain):
            raise web.HTTPForbidden(text=f"{'encrypted' if encrypted else 'plaintext'} callbacks are not accepted")
        body = await read_body(request, self.read_timeout_s)
        timestamp, nonce = query["timestamp"], query["nonce"]
        try:
            xml_text = body.decode("utf-8")
            if encrypted:
                xml_text = self._decrypt(xml_text, query.get("msg_signature"), timestamp, nonce)
            event, data = event_from_xml(xml_text)
        except UnicodeDecodeError:
            return web.Response(status=400, text="body is not UTF-8")
        except BadCallback as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        await refuse_replays(self.replay_guard, "oa", timestamp, nonce, xml_text)
        try:
            acceptance = await self.inbox.accept(event, self.budget_s)
        except RefusedEvent as exc:
            return web.Response(status=400, text=f"bad callback: {exc}")
        if not acceptance.reply:
            return web.Response(text=SUCCESS)
        reply_xml = text_reply_xml(source=text_field(data, "ToUserName"), target=event.sender, text=acceptance.reply)
        if encrypted and self.cipher is not None:
            reply_xml = self._encrypt(reply_xml, nonce, timestamp)
        return web.Response(text=reply_xml, content_type="application/xml")

    def _encrypt(self, xml_text: str, nonce: str, timestamp: str) -> str:
        """What wechatpy's encrypt_message writes, with the cipher made once instead of per reply."""
        assert self.cipher is not None
        encrypt = self.cipher.encrypt(xml_text, self.app_id).decode()
        signature = sha1_signature(self.token, timestamp, nonce, encrypt)
        return _ENCRYPTED_REPLY.format(encrypt=encrypt, signature=signature, timestamp=timestamp, nonce=nonce)

    def _decrypt(self, xml_text: str, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        if self.cipher is None:
            raise web.HTTPForbidden(text="safe mode is not configured (wechat.encoding_aes_key)")
        envelope = _ENVELOPE.fullmatch(xml_text)
        if envelope is not None:
            encrypt: Any = envelope.group(1)
        else:
            try:
                encrypt = xml_fields(xml_text)["Encrypt"]
            except (BadCallback, KeyError):
                raise BadCallback("malformed encrypted envelope") from None
        if not isinstance(encrypt, str) or not signature_matches(
            (self.token, timestamp, nonce, encrypt), msg_signature
        ):
            raise web.HTTPForbidden(text="invalid msg_signature")
        try:
            # The signature is checked above; wechatpy's decrypt_message would parse the envelope again.
            return str(self.cipher.decrypt(encrypt, self.app_id))
        except InvalidAppIdException:
            raise web.HTTPForbidden(text="message is for another app") from None
        except (ValueError, TypeError, KeyError, UnicodeDecodeError, ExpatError):
            raise BadCallback("cannot decrypt body") from None
        except Exception as exc:  # cryptography raises its own types for bad padding / lengths
            log.info("decrypt failed: %r", exc)
            raise BadCallback("cannot decrypt body") from None
