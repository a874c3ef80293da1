"""The WeCom callbacks over HTTP with real signatures and AES: the self-built app and the smart bot."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime

import pytest
from wechatpy.enterprise.crypto import PrpCrypto

from bot.app import INBOX
from bot.transport.signing import sha1_signature
from bot.transport.wecom import bot_event_from_json, strip_mention
from handlers.events import ChatEvent, Reply
from handlers.routing import Router
from models.entities import InboundMessage
from tests.harness import BOT_AES_KEY, BOT_TOKEN, WECOM_AES_KEY, Stack

WECOM_TOKEN = "testwecomtoken"
CORP_ID = "wwdemo0000000000"


@pytest.fixture
def seen(stack: Stack) -> list[ChatEvent]:
    """Replace the root router with one that records every event and answers "echo ..." texts."""
    events: list[ChatEvent] = []
    router = Router("test", event_type=ChatEvent)

    @router.handler()
    async def record(event: ChatEvent) -> Reply | None:
        events.append(event)
        if event.text.startswith("echo "):
            return Reply("回声：" + event.text.removeprefix("echo "))
        return None

    stack.app[INBOX].router = router
    return events


def encrypt(plain: str, aes_key: str, receive_id: str) -> str:
    return PrpCrypto(base64.b64decode(aes_key + "=")).encrypt(plain, receive_id).decode()


def signed(token: str, ciphertext: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = str(secrets.randbelow(10**10))  # WeChat never signs two requests alike
    return {"msg_signature": sha1_signature(token, ts, nonce, ciphertext), "timestamp": ts, "nonce": nonce}


async def post(stack: Stack, path: str, params: dict[str, str], body: str | bytes) -> tuple[int, str]:
    assert stack.session is not None
    async with stack.session.post(stack.url(path), params=params, data=body) as response:
        return response.status, await response.text()


def app_envelope(plain: str) -> tuple[dict[str, str], str]:
    ciphertext = encrypt(plain, WECOM_AES_KEY, CORP_ID)
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    return signed(WECOM_TOKEN, ciphertext), body


def bot_envelope(plain: str) -> tuple[dict[str, str], str]:
    ciphertext = encrypt(plain, BOT_AES_KEY, "")
    return signed(BOT_TOKEN, ciphertext), json.dumps({"encrypt": ciphertext})


# --- the self-built app: /wecom/callback ---


async def test_app_url_verification(stack: Stack) -> None:
    user = stack.wecom_user()
    assert await user.verify("wecom-echo-1") == (200, "wecom-echo-1")
    assert (await user.verify("wecom-echo-1", tamper="signature"))[0] == 403
    assert (await user.verify("wecom-echo-1", tamper="body"))[0] in (400, 403)
    assert stack.session is not None
    async with stack.session.get(stack.url("/wecom/callback"), params={"echostr": "x"}) as response:
        assert response.status == 403
    stale = signed(WECOM_TOKEN, "abc", timestamp=int(time.time()) - 3600)
    async with stack.session.get(stack.url("/wecom/callback"), params={**stale, "echostr": "abc"}) as response:
        assert response.status == 403


async def test_app_text_reaches_the_handler_and_the_passive_reply_decrypts(stack: Stack, seen: list[ChatEvent]) -> None:
    result = await stack.wecom_user().text("lisi", "echo 你好 ]]> 世界", msg_id=987654321)
    assert result.status == 200, result.body
    assert "回声" not in result.body  # encrypted on the wire
    assert result.reply is not None, result.error
    assert result.reply["Content"] == "回声：你好 ]] > 世界"
    assert (result.reply["ToUserName"], result.reply["FromUserName"]) == ("lisi", CORP_ID)
    assert result.reply["AgentID"] == "1000002"
    [event] = seen
    assert (event.channel, event.sender, event.msg_id) == ("wecom_app", "lisi", "987654321")
    assert event.text == "echo 你好 ]]> 世界"
    assert event.chat_id is None
    assert event.response_url is None
    assert abs(event.created_at.timestamp() - time.time()) < 60


async def test_app_retry_is_handled_once_and_gets_the_same_reply(stack: Stack, seen: list[ChatEvent]) -> None:
    user = stack.wecom_user()
    first = await user.text("wangwu", "echo 一次", msg_id=55501)
    again = await user.text("wangwu", "echo 一次", msg_id=55501)
    assert first.reply is not None
    assert again.reply is not None
    assert first.reply["Content"] == again.reply["Content"] == "回声：一次"
    assert len(seen) == 1
    assert await InboundMessage.filter(channel="wecom_app").count() == 1
    quiet = await user.text("wangwu", "不需要回答", msg_id=55502)
    assert (quiet.status, quiet.body, quiet.reply) == (200, "", None)


async def test_app_events_and_other_message_types_are_acknowledged_and_not_stored(
    stack: Stack, seen: list[ChatEvent]
) -> None:
    user = stack.wecom_user()
    entered = await user.event("lisi", "enter_agent")
    assert (entered.status, entered.body) == (200, "")
    image = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[http://p/1]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>1</MsgId>"
        "<AgentID>1000002</AgentID></xml>"
    )
    assert (await user.send_xml(image)).body == ""
    other_agent = stack.wecom_user(agent_id=1000099)
    assert (await other_agent.text("lisi", "echo 别的应用")).body == ""
    assert seen == []
    assert await InboundMessage.all().count() == 0


async def test_app_forged_stale_oversized_and_malformed_posts(stack: Stack, seen: list[ChatEvent]) -> None:
    user = stack.wecom_user()
    assert (await user.text("mallory", "echo 伪造", tamper="signature")).status == 403
    assert (await user.text("mallory", "echo 坏密文", tamper="body")).status in (400, 403)
    stale = await user.text("mallory", "echo 旧的", timestamp=int(time.time()) - 3600)
    assert stale.status == 403

    params, _ = app_envelope("<xml/>")
    assert (await post(stack, "/wecom/callback", params, "<xml>" + "<a>x</a>" * 20000 + "</xml>"))[0] == 413
    assert (await post(stack, "/wecom/callback", {}, "<xml/>"))[0] == 403
    odd_time = {**params, "timestamp": "²"}  # unsigned junk in the query: refused, never a 500
    assert (await post(stack, "/wecom/callback", odd_time, "<xml/>"))[0] == 403
    broken = await post(stack, "/wecom/callback", params, "<xml><Encrypt>abc")
    assert broken[0] == 400
    assert "Traceback" not in broken[1]
    assert (await post(stack, "/wecom/callback", params, b"<xml>\xff\xfe</xml>"))[0] == 400
    for plain in (
        "this is not xml",
        "<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>",  # no FromUserName
        "<xml><FromUserName>a</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType></xml>",
        "<xml><FromUserName>a</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",  # no MsgId
        # Digits int() or datetime cannot take: a clear 400, not a 500 with a stack trace.
        "<xml><FromUserName>a</FromUserName><CreateTime>²</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
        "<xml><FromUserName>a</FromUserName><CreateTime>99999999999999999999</CreateTime>"
        "<MsgType>text</MsgType><MsgId>1</MsgId></xml>",
    ):
        status, text = await post(stack, "/wecom/callback", *app_envelope(plain))
        assert status == 400, plain
        assert "Traceback" not in text
    # Encrypted for another corp: the receive id does not match.
    ciphertext = encrypt("<xml/>", WECOM_AES_KEY, "wwsomeoneelse")
    body = f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    assert (await post(stack, "/wecom/callback", signed(WECOM_TOKEN, ciphertext), body))[0] == 403
    assert seen == []
    assert await InboundMessage.all().count() == 0


# --- the smart bot: /wecom/bot ---


async def test_bot_url_verification(stack: Stack) -> None:
    bot = stack.bot()
    assert await bot.verify("bot-echo-1") == (200, "bot-echo-1")
    assert (await bot.verify("bot-echo-1", tamper="signature"))[0] == 403
    # A garbled ciphertext with a valid signature: the bot's receive id is empty, so once in a while random
    # bytes decrypt to short garbage that cannot be told from an echostr. It must never crash or echo the original.
    for _ in range(20):
        status, text = await bot.verify("bot-echo-1", tamper="body")
        assert status in (200, 400, 403)
        assert text != "bot-echo-1"
    # The app's key and receive id do not open the bot's callback.
    app_cipher = encrypt("x", WECOM_AES_KEY, CORP_ID)
    assert stack.session is not None
    async with stack.session.get(
        stack.url("/wecom/bot"), params={**signed(WECOM_TOKEN, app_cipher), "echostr": app_cipher}
    ) as response:
        assert response.status == 403


async def test_bot_mention_reaches_the_handler_and_the_answer_uses_the_response_url(
    stack: Stack, seen: list[ChatEvent]
) -> None:
    bot = stack.bot()
    result = await bot.text("lisi", "echo 派件", msg_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=")
    assert (result.status, result.body) == (200, "")
    await stack.app[INBOX].drain()
    [event] = seen
    assert event.channel == "wecom_bot"
    assert (event.sender, event.text, event.chat_id) == ("lisi", "echo 派件", "wr-triage-group")
    assert event.msg_id == "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="
    assert event.response_url == bot.last_response_url
    assert event.extra["chattype"] == "group"
    await stack.run_jobs()
    assert stack.bot_answers() == ["回声：派件"]
    [answer] = [m for m in stack.platform.messages if m.channel == "smartbot"]
    assert answer.recipient == "wr-triage-group"
    assert answer.payload["msgtype"] == "markdown"
    assert stack.triage_messages() == []


async def test_bot_retry_is_handled_once(stack: Stack, seen: list[ChatEvent]) -> None:
    bot = stack.bot()
    await bot.text("lisi", "echo 重试", msg_id="retry-1")
    await bot.text("lisi", "echo 重试", msg_id="retry-1")
    await stack.app[INBOX].drain()
    await stack.run_jobs()
    assert len(seen) == 1
    assert await InboundMessage.filter(channel="wecom_bot").count() == 1
    assert stack.bot_answers() == ["回声：重试"]


async def test_bot_single_chat_mixed_events_and_images(stack: Stack, seen: list[ChatEvent]) -> None:
    bot = stack.bot()
    await bot.text("zhangsan", "echo 单聊", single=True)
    mixed = {
        "msg_item": [
            {"msgtype": "text", "text": {"content": "@码上商 echo 图文"}},
            {"msgtype": "image", "image": {"url": "https://example.invalid/1.png"}},
            {"msgtype": "text", "text": {"content": "说明"}},
        ]
    }
    await bot.message("lisi", "mixed", mixed)
    for result in (
        await bot.message("lisi", "image", {"url": "https://example.invalid/2.png"}),
        await bot.event("lisi", "enter_chat"),
    ):
        assert (result.status, result.body) == (200, "")
    await stack.app[INBOX].drain()
    assert [(e.sender, e.text, e.chat_id) for e in seen] == [
        ("zhangsan", "echo 单聊", None),
        ("lisi", "echo 图文 说明", "wr-triage-group"),
    ]
    assert await InboundMessage.filter(channel="wecom_bot").count() == 2


async def test_bot_forged_stale_oversized_and_malformed_posts(stack: Stack, seen: list[ChatEvent]) -> None:
    bot = stack.bot()
    assert (await bot.text("mallory", "echo 伪造", tamper="signature")).status == 403
    assert (await bot.text("mallory", "echo 坏密文", tamper="body")).status in (400, 403)
    assert (await bot.text("mallory", "echo 旧的", timestamp=int(time.time()) - 3600)).status == 403
    params, _ = bot_envelope("{}")
    assert (await post(stack, "/wecom/bot", params, json.dumps({"encrypt": "A" * 70000})))[0] == 413
    assert (await post(stack, "/wecom/bot", {}, "{}"))[0] == 403
    assert (await post(stack, "/wecom/bot", {**params, "timestamp": "²"}, "{}"))[0] == 403
    for body in ("{not json", "[]", json.dumps({"encrypt": 5}), json.dumps({"other": "x"}), b"\xff\xfe"):
        status, text = await post(stack, "/wecom/bot", params, body)
        assert status == 400, body
        assert "Traceback" not in text
    for plain in (
        "not json",
        json.dumps({"msgtype": "text", "text": {"content": "hi"}, "from": {"userid": "u"}}),  # no msgid
        json.dumps({"msgid": "1", "msgtype": "text", "text": {"content": "hi"}}),  # no sender
        json.dumps({"msgid": "1", "msgtype": "text", "from": {"userid": "u"}}),  # no text
        json.dumps({"msgid": True, "msgtype": "text", "text": {"content": "hi"}, "from": {"userid": "u"}}),
    ):
        status, text = await post(stack, "/wecom/bot", *bot_envelope(plain))
        assert status == 400, plain
        assert "Traceback" not in text
    assert seen == []
    assert await InboundMessage.all().count() == 0


# --- with the real staff handlers ---


async def test_staff_help_through_the_app_and_the_bot(stack: Stack) -> None:
    result = await stack.wecom_user().text("lisi", "帮助")
    assert result.reply is not None
    assert "派" in result.reply["Content"]
    await stack.bot().text("lisi", "帮助")
    await stack.app[INBOX].drain()
    await stack.run_jobs()
    [answer] = stack.bot_answers()
    assert "派" in answer


def test_mention_stripping_and_bot_payload_parsing() -> None:
    assert strip_mention("@码上商 派 MS1 张三") == "派 MS1 张三"
    assert strip_mention("@码上商\u2005查 MS1") == "查 MS1"
    assert strip_mention("  @码上商") == ""
    assert strip_mention("派 MS1 @张三") == "派 MS1 @张三"
    # The configured names, wherever they stand; the longest first, so a name with a space stays whole.
    names = ("码上商", "码上商 助手")
    for text in (
        "@码上商 派 MS1 张三",
        "派 MS1 @码上商 张三",
        "派 MS1 张三 @码上商",
        "@码上商 助手 派 MS1 张三",
        "派 MS1 @码上商 助手\u2005张三",
        "派 MS1 张三 @码上商  助手",
        "@码上商：派 MS1 张三",
        "派 MS1@码上商 张三",
    ):
        assert strip_mention(text, names) == "派 MS1 张三", text
    assert strip_mention("答 MS1 已解决\n@码上商 请查收", names) == "答 MS1 已解决\n请查收"  # lines kept
    assert strip_mention("派 MS1 @张三", names) == "派 MS1 @张三"  # somebody else's mention is text
    assert strip_mention("@码上商助理 查 MS1", names) == "查 MS1"  # not a configured name: the leading one
    event = bot_event_from_json(
        json.dumps(
            {
                "msgid": 42,
                "aibotid": "AIBOTID",
                "chatid": "CHATID",
                "chattype": "group",
                "from": {"userid": "USERID"},
                "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=X",
                "msgtype": "text",
                "text": {"content": "@RobotA hello robot"},
                "quote": {"msgtype": "text", "text": {"content": "earlier"}},
            }
        )
    )
    assert event is not None
    assert (event.msg_id, event.sender, event.text, event.chat_id) == ("42", "USERID", "hello robot", "CHATID")
    assert event.extra == {"chattype": "group", "aibotid": "AIBOTID"}
    assert bot_event_from_json(json.dumps({"msgtype": "stream", "stream": {"id": "s"}})) is None
    # create_time is optional: one that is no Unix time ("²", far too large) means "when it arrived", never a 500.
    for odd in ("²", 99999999999999999999, "1700000000.5"):
        payload = {"msgid": "9", "msgtype": "text", "text": {"content": "hi"}, "from": {"userid": "u"}}
        late = bot_event_from_json(json.dumps({**payload, "create_time": odd}))
        assert late is not None
        assert abs((late.created_at - datetime.now(UTC)).total_seconds()) < 60
    stamped = bot_event_from_json(json.dumps({**payload, "create_time": 1700000000}))
    assert stamped is not None
    assert stamped.created_at == datetime.fromtimestamp(1700000000, UTC)
