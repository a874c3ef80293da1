"""The fake platform's own behaviour, its control API, and the callback senders checked with wechatpy."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import aiohttp
import pytest
import redis.asyncio as aioredis
import zxingcpp
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import parse_message as parse_wecom_message
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.demo.fake_callbacks import CallbackMode, OfficialAccountSender, WeComAppSender
from bot.demo.fake_platform import FakePlatform, FakePlatformControl, create_fake_platform
from bot.outbound.wechat_api import WeChatAPIError, WeChatClient

APP_ID, APP_SECRET = "wxtestapp0000001", "app-secret"
CORP_ID, CORP_SECRET = "wwtestcorp000001", "corp-secret"
TOKEN = "cbtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECOM_AES_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform(clock: Clock) -> FakePlatform:
    return FakePlatform(apps={APP_ID: APP_SECRET}, corps={CORP_ID: CORP_SECRET}, clock=clock)


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.fixture
async def server(platform: FakePlatform) -> AsyncIterator[TestServer]:
    srv = await _serve(create_fake_platform(platform))
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Api:
    """Raw HTTP calls to the fake, to see exactly what it answers."""

    def __init__(self, session: aiohttp.ClientSession, server: TestServer) -> None:
        self.session = session
        self.server = server

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        async with self.session.get(self.server.make_url(path), params=params) as resp:
            result: dict[str, Any] = await resp.json(content_type=None)
            return result

    async def post(self, path: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        async with self.session.post(self.server.make_url(path), params=params, json=body) as resp:
            result: dict[str, Any] = await resp.json(content_type=None)
            return result

    async def wechat_token(self, force: bool = False) -> str:
        answer = await self.post(
            "/wechat/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": APP_ID,
                "secret": APP_SECRET,
                "force_refresh": force,
            },
        )
        return str(answer["access_token"])

    async def wecom_token(self) -> str:
        answer = await self.get("/wecom/cgi-bin/gettoken", corpid=CORP_ID, corpsecret=CORP_SECRET)
        return str(answer["access_token"])

    async def custom_text(self, token: str, openid: str, text: str) -> int:
        answer = await self.post(
            "/wechat/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": text}},
            access_token=token,
        )
        return int(answer["errcode"])


@pytest.fixture
def api(session: aiohttp.ClientSession, server: TestServer) -> Api:
    return Api(session, server)


# --- the fake's platform rules ---


async def test_tokens_and_credentials(api: Api, platform: FakePlatform, clock: Clock) -> None:
    bad_secret = await api.post(
        "/wechat/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": APP_ID, "secret": "no"}
    )
    assert bad_secret["errcode"] == 40125
    unknown_app = await api.post(
        "/wechat/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": "wx0", "secret": "x"}
    )
    assert unknown_app["errcode"] == 40013

    token = await api.wechat_token()
    assert await api.wechat_token() == token  # stable_token hands out the same token while valid
    platform.note_user_message("o-1")
    assert await api.custom_text(token, "o-1", "hi") == 0
    assert await api.custom_text("forged", "o-1", "hi") == 40001
    assert await api.custom_text("", "o-1", "hi") == 41001

    forced = await api.wechat_token(force=True)
    assert forced != token
    assert await api.custom_text(token, "o-1", "hi") == 40001
    assert await api.custom_text(forced, "o-1", "hi") == 0

    clock.now += 7201
    assert await api.custom_text(forced, "o-1", "hi") == 42001
    assert platform.token_fetch_count == 3  # the failed fetches are not counted


async def test_stable_token_normal_mode_renews_early_with_an_overlap(
    api: Api, platform: FakePlatform, clock: Clock
) -> None:
    platform.note_user_message("o-1", when=clock.now + 7000)
    token = await api.wechat_token()
    clock.now += 7200 - 301
    assert await api.wechat_token() == token  # still more than 5 minutes left: the same token
    clock.now += 2
    renewed = await api.wechat_token()  # its last 5 minutes: a new one
    assert renewed != token
    assert await api.wechat_token() == renewed
    assert await api.custom_text(token, "o-1", "old still works") == 0  # the overlap
    assert await api.custom_text(renewed, "o-1", "new works") == 0
    clock.now += 300
    assert await api.custom_text(token, "o-1", "old expired") == 42001
    assert await api.custom_text(renewed, "o-1", "new works") == 0


async def test_stable_token_forced_refresh_rules(api: Api, platform: FakePlatform, clock: Clock) -> None:
    platform.note_user_message("o-1")
    token = await api.wechat_token()
    forced = await api.wechat_token(force=True)
    assert forced != token
    assert await api.custom_text(token, "o-1", "hi") == 40001  # invalid for every caller at once
    assert await api.wechat_token() == forced  # normal mode now hands out the forced one
    clock.now += 29
    assert await api.wechat_token(force=True) == forced  # under 30 s after the last one: not refreshed
    assert await api.custom_text(forced, "o-1", "hi") == 0
    for _ in range(19):
        clock.now += 30
        assert await api.wechat_token(force=True) != forced
        forced = await api.wechat_token()
    assert platform.forced_refreshes_today(APP_ID) == 20
    clock.now += 30
    refused = await api.post(
        "/wechat/cgi-bin/stable_token",
        {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET, "force_refresh": True},
    )
    assert refused["errcode"] == 45009  # 20 a day
    assert await api.custom_text(forced, "o-1", "hi") == 0  # the refused call changed nothing
    clock.now += 86400  # the next (Beijing) day
    assert await api.wechat_token(force=True) != forced
    assert platform.forced_refreshes_today(APP_ID) == 1
    bad = await api.post(
        "/wechat/cgi-bin/stable_token",
        {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET, "force_refresh": "yes"},
    )
    assert bad["errcode"] == 47001


async def test_spoiled_tokens_are_handed_out_until_forced(api: Api, platform: FakePlatform, clock: Clock) -> None:
    platform.note_user_message("o-1")
    token = await api.wechat_token()
    wecom = await api.wecom_token()
    platform.spoil_tokens()
    assert await api.wechat_token() == token  # normal mode keeps handing out the rejected token
    assert await api.custom_text(token, "o-1", "hi") == 40001
    assert await api.wecom_token() == wecom
    body = {"touser": "u1", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
    assert (await api.post("/wecom/cgi-bin/message/send", body, access_token=wecom))["errcode"] == 42001
    forced = await api.wechat_token(force=True)
    assert forced != token
    assert await api.custom_text(forced, "o-1", "hi") == 0
    assert await api.wechat_token() == forced
    platform.expire_tokens()
    assert await api.wecom_token() != wecom  # WeCom replaces a token it expired


async def test_classic_token_endpoint_is_not_served(api: Api) -> None:
    """The product uses stable_token only; cgi-bin/token would hand out tokens outside its rules."""
    async with api.session.get(api.server.make_url("/wechat/cgi-bin/token")) as resp:
        assert resp.status == 404


async def test_wecom_token_errors(api: Api, platform: FakePlatform) -> None:
    token = await api.wecom_token()
    body = {"touser": "u1", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
    assert (await api.post("/wecom/cgi-bin/message/send", body, access_token=token))["errcode"] == 0
    assert (await api.post("/wecom/cgi-bin/message/send", body, access_token="bad"))["errcode"] == 40014
    platform.expire_tokens()
    assert (await api.post("/wecom/cgi-bin/message/send", body, access_token=token))["errcode"] == 42001
    # WeChat tokens are not WeCom tokens.
    wechat_token = await api.wechat_token()
    answer = await api.post("/wecom/cgi-bin/message/send", body, access_token=wechat_token)
    assert answer["errcode"] == 40014


async def test_length_limits_as_the_platforms_apply_them(api: Api, platform: FakePlatform) -> None:
    platform.note_user_message("o-1")
    token = await api.wechat_token()
    exactly = "字" * 682 + "ab"  # 2,048 bytes
    assert await api.custom_text(token, "o-1", exactly + "c") == 45002  # refused ...
    assert platform.sent_to("o-1") == []
    assert await api.custom_text(token, "o-1", exactly) == 0  # ... without using a send of the window
    assert [await api.custom_text(token, "o-1", "x") for _ in range(4)] == [0, 0, 0, 0]

    # WeCom app messages are cut at 2,048 bytes, never refused: the fake records what WeCom shows.
    wecom = await api.wecom_token()
    long_text = "群众反映" * 200  # 2,400 bytes
    for msgtype in ("text", "markdown"):
        body = {"touser": "u1", "msgtype": msgtype, "agentid": 1000002, msgtype: {"content": long_text}}
        assert (await api.post("/wecom/cgi-bin/message/send", body, access_token=wecom))["errcode"] == 0
    created = {"name": "分拣群", "owner": "u1", "userlist": ["u1", "u2"], "chatid": "c1"}
    assert (await api.post("/wecom/cgi-bin/appchat/create", created, access_token=wecom))["chatid"] == "c1"
    chat = {"chatid": "c1", "msgtype": "markdown", "markdown": {"content": long_text}}
    assert (await api.post("/wecom/cgi-bin/appchat/send", chat, access_token=wecom))["errcode"] == 0
    shown = [m.text for m in platform.sent_to("u1") + platform.sent_to("c1")]
    assert shown == [long_text[:682]] * 3  # 2,046 bytes: the character cut in two is dropped
    assert all(m.payload[m.msgtype]["content"] == long_text for m in platform.sent_to("u1"))

    # The group robot refuses markdown over 4,096 bytes.
    over = {"msgtype": "markdown", "markdown": {"content": "超" * 1366}}
    assert (await api.post("/wecom/cgi-bin/webhook/send", over, key="k"))["errcode"] == 45002
    fits = {"msgtype": "markdown", "markdown": {"content": "超" * 1365}}
    assert (await api.post("/wecom/cgi-bin/webhook/send", fits, key="k"))["errcode"] == 0


async def test_customer_service_windows(api: Api, platform: FakePlatform, clock: Clock) -> None:
    token = await api.wechat_token()
    assert await api.custom_text(token, "o-1", "unprompted") == 45015

    platform.note_user_event("o-1")  # a scan: 3 messages within a minute
    assert [await api.custom_text(token, "o-1", f"m{i}") for i in range(4)] == [0, 0, 0, 45047]
    clock.now += 61
    assert await api.custom_text(token, "o-1", "late") == 45015

    platform.note_user_message("o-1")  # a message: 5 within 48 h
    clock.now += 47 * 3600
    token = await api.wechat_token()  # the old one expired meanwhile
    assert await api.custom_text(token, "o-1", "still open") == 0
    clock.now += 3601
    assert await api.custom_text(token, "o-1", "closed") == 45015

    platform.enforce_cs_window = False
    assert await api.custom_text(token, "o-1", "no rules") == 0
    assert [m.text for m in platform.sent_to("o-1")] == ["m0", "m1", "m2", "still open", "no rules"]


async def test_webhook_rate_limit(api: Api, platform: FakePlatform, clock: Clock) -> None:
    body = {"msgtype": "markdown", "markdown": {"content": "x"}}
    codes = [(await api.post("/wecom/cgi-bin/webhook/send", body, key="k"))["errcode"] for _ in range(21)]
    assert codes == [0] * 20 + [45009]
    clock.now += 60
    assert (await api.post("/wecom/cgi-bin/webhook/send", body, key="k"))["errcode"] == 0
    platform.webhook_keys = {"known"}
    assert (await api.post("/wecom/cgi-bin/webhook/send", body, key="k"))["errcode"] == 93000


async def test_bad_json_body(api: Api, session: aiohttp.ClientSession, server: TestServer) -> None:
    token = await api.wechat_token()
    url = server.make_url("/wechat/cgi-bin/message/custom/send")
    async with session.post(url, params={"access_token": token}, data=b"{not json") as resp:
        assert (await resp.json(content_type=None))["errcode"] == 47001


async def test_delay_only_fault_still_answers(api: Api, platform: FakePlatform) -> None:
    platform.fail_next("gettoken", delay_s=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await api.wecom_token()
    assert loop.time() - started >= 0.2
    assert platform.calls_to("gettoken")[0].errcode == 0


async def test_showqrcode_image(api: Api, platform: FakePlatform, session: aiohttp.ClientSession) -> None:
    token = await api.wechat_token()
    created = await api.post(
        "/wechat/cgi-bin/qrcode/create",
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "cp:1"}}},
        access_token=token,
    )
    async with session.get(api.server.make_url("/wechat/cgi-bin/showqrcode"), params=created) as resp:
        assert resp.content_type == "image/png"
        image = Image.open(io.BytesIO(await resp.read()))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [created["url"]]


# --- control API ---


async def test_control_api(
    session: aiohttp.ClientSession,
    server: TestServer,
    platform: FakePlatform,
    redis_client: aioredis.Redis,
) -> None:
    control = FakePlatformControl(session, str(server.make_url("/")))
    client = WeChatClient(
        session, redis_client, app_id=APP_ID, app_secret=APP_SECRET, base_url=str(server.make_url("/wechat"))
    )
    await control.note_user_message("o-1")
    await client.send_custom_text("o-1", "first")
    await client.send_custom_text("o-1", "second")
    messages = await control.messages("o-1")
    assert [(m["index"], m["channel"], m["text"]) for m in messages] == [
        (0, "custom", "first"),
        (1, "custom", "second"),
    ]
    assert [m["text"] for m in await control.messages("o-1", after=0)] == ["second"]
    assert await control.messages("o-2") == []

    await control.fail("custom/send", errcode=45009)
    with pytest.raises(WeChatAPIError) as info:
        await client.send_custom_text("o-1", "third")
    assert info.value.errcode == 45009
    await control.fail("custom/send", count=None, http_status=503)
    await control.recover()
    await client.send_custom_text("o-1", "third")

    await control.expire_tokens()
    await client.send_custom_text("o-1", "fourth")
    calls = await control.calls()
    sends = [c["errcode"] for c in calls if c["api"] == "/cgi-bin/message/custom/send"]
    assert sends == [0, 0, 45009, 0, 40001, 0]
    assert platform.token_fetch_count == 2

    await control.add_media("m1", b"\x89PNG...", "image/png")
    assert await client.get_media("m1") == (b"\x89PNG...", "image/png")
    await control.add_login_code("c1", "o-mini")
    await control.grant_subscription("o-mini", "tpl", n=2)
    assert platform.subscriptions_left("o-mini", "tpl") == 2
    ticket = (await client.create_qrcode("cp:7"))["ticket"]
    assert await control.qr_scene(ticket) == "cp:7"
    assert await control.qr_scene("gQnope") is None

    response_url = await control.issue_response_url("chat-9")
    assert response_url.startswith(str(server.make_url("/wecom/cgi-bin/aibot/response")))

    await control.reset()
    assert platform.calls == []
    assert platform.messages == []
    assert platform.token_fetch_count == 0


# --- callback senders, checked by a receiver built on wechatpy ---


class OAReceiver:
    """A callback endpoint that checks WeChat's signatures with wechatpy and echoes text messages."""

    def __init__(self, delays: list[float] | None = None) -> None:
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.delays = list(delays or [])
        self.requests: list[tuple[dict[str, str], str]] = []
        self.messages: list[Any] = []

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        raw = await request.text()
        self.requests.append((query, raw))
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        try:
            check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
        except InvalidSignatureException:
            return web.Response(status=403)
        if request.method == "GET":
            return web.Response(text=query["echostr"])
        aes = query.get("encrypt_type") == "aes"
        try:
            xml = self.crypto.decrypt_message(raw, query["msg_signature"], query["timestamp"], query["nonce"])
        except InvalidSignatureException:
            return web.Response(status=403)
        except Exception:
            if aes:
                return web.Response(status=400)
            xml = raw
        try:
            message = parse_message(xml)
        except Exception:
            return web.Response(status=400)
        self.messages.append(message)
        if message.type != "text":
            return web.Response(text="success")
        # wechatpy does not escape "]]>" inside CDATA: strip it from the echo.
        reply = TextReply(message=message, content=f"echo: {message.content.replace(']]>', '')}").render()
        if aes:
            reply = self.crypto.encrypt_message(reply, query["nonce"], query["timestamp"])
        return web.Response(text=reply, content_type="application/xml")


@pytest.fixture
async def receiver_server() -> AsyncIterator[Callable[[Any], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(receiver: Any) -> str:
        app = web.Application()
        app.router.add_route("*", "/callback", receiver.handle)
        server = await _serve(app)
        servers.append(server)
        return str(server.make_url("/callback"))

    yield start
    for server in servers:
        await server.close()


def _oa_sender(session: aiohttp.ClientSession, url: str, mode: str, **kw: Any) -> OfficialAccountSender:
    mode_ = cast(CallbackMode, mode)
    return OfficialAccountSender(session, url, token=TOKEN, app_id=APP_ID, encoding_aes_key=AES_KEY, mode=mode_, **kw)


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_oa_sender_modes(
    mode: str, session: aiohttp.ClientSession, receiver_server: Callable[[Any], Awaitable[str]]
) -> None:
    receiver = OAReceiver()
    sender = _oa_sender(session, await receiver_server(receiver), mode)
    result = await sender.text("o-citizen", "路灯坏了 <b>&]]>", msg_id=123456)

    assert result.status == 200
    assert result.attempts == 1
    assert result.error is None
    assert result.reply is not None
    assert result.reply["Content"] == "echo: 路灯坏了 <b>&"
    assert result.reply["ToUserName"] == "o-citizen"
    [message] = receiver.messages
    assert (message.source, message.id, message.content) == ("o-citizen", 123456, "路灯坏了 <b>&]]>")
    query, body = receiver.requests[0]
    assert query["openid"] == "o-citizen"
    if mode == "plain":
        assert "msg_signature" not in query
        assert "<Encrypt>" not in body
    else:
        assert query["encrypt_type"] == "aes"
        assert "<Encrypt>" in body
        assert ("路灯坏了" in body) == (mode == "compat")  # compat keeps the plaintext fields too


async def test_oa_passive_reply_over_2048_bytes_is_not_shown(
    session: aiohttp.ClientSession, receiver_server: Callable[[Any], Awaitable[str]]
) -> None:
    sender = _oa_sender(session, await receiver_server(OAReceiver()), "safe")
    shown = await sender.text("o-citizen", "字" * 680)  # "echo: " + 2,040 bytes
    assert shown.reply is not None
    hidden = await sender.text("o-citizen", "字" * 681)
    assert (hidden.status, hidden.reply) == (200, None)
    assert hidden.error is not None
    assert "does not show" in hidden.error


@pytest.mark.parametrize(
    ("mode", "tamper", "status"),
    [
        ("plain", "signature", 403),
        ("plain", "body", 400),
        ("compat", "signature", 403),
        ("compat", "msg_signature", 403),
        ("safe", "msg_signature", 403),
        ("safe", "body", 400),
    ],
)
async def test_oa_sender_tampering(
    mode: str,
    tamper: Any,
    status: int,
    session: aiohttp.ClientSession,
    receiver_server: Callable[[Any], Awaitable[str]],
) -> None:
    receiver = OAReceiver()
    sender = _oa_sender(session, await receiver_server(receiver), mode)
    xml = "<xml><ToUserName>gh_x</ToUserName><FromUserName>o-1</FromUserName><CreateTime>1</CreateTime>"
    xml += "<MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>"
    result = await sender.send_xml(xml, tamper=tamper)
    assert result.status == status
    assert receiver.messages == []


async def test_oa_verify(session: aiohttp.ClientSession, receiver_server: Callable[[Any], Awaitable[str]]) -> None:
    sender = _oa_sender(session, await receiver_server(OAReceiver()), "safe")
    assert await sender.verify("echo-123") == (200, "echo-123")
    assert (await sender.verify("echo-123", tamper="signature"))[0] == 403


async def test_oa_message_types(
    session: aiohttp.ClientSession,
    receiver_server: Callable[[Any], Awaitable[str]],
    platform: FakePlatform,
    api: Api,
) -> None:
    receiver = OAReceiver()
    sender = _oa_sender(session, await receiver_server(receiver), "safe", platform=platform)
    await sender.image("o-1", "media-img")
    await sender.voice("o-1", "media-voice", recognition="路灯不亮")
    await sender.video("o-1", "media-video", "media-thumb")
    await sender.location("o-1", 30.87, 120.09, 15, "湖州市吴兴区")
    await sender.link("o-1", "标题", "描述", "https://example.com/a")
    result = await sender.event("o-2", "subscribe", "qrscene_cp:1", ticket="gQticket")
    assert result.reply is None  # "success"
    await sender.event("o-3", "unsubscribe")

    types = [m.type for m in receiver.messages]
    assert types == ["image", "voice", "video", "location", "link", "event", "event"]
    image, voice, video, location, link, subscribe, unsubscribe = receiver.messages
    assert image.media_id == "media-img"
    assert voice.recognition == "路灯不亮"
    assert video.thumb_media_id == "media-thumb"
    assert tuple(map(float, location.location)) == (30.87, 120.09)
    assert location.label == "湖州市吴兴区"
    assert link.url == "https://example.com/a"
    assert (subscribe.event, subscribe.scene_id, subscribe.ticket) == ("subscribe_scan", "cp:1", "gQticket")
    assert unsubscribe.event == "unsubscribe"
    assert len({m.id for m in receiver.messages[:5]}) == 5  # unique MsgIds

    # The user's messages and the scan opened the fake's customer-service windows; the unsubscribe did not.
    token = await api.wechat_token()
    assert [await api.custom_text(token, openid, "x") for openid in ("o-1", "o-2", "o-3")] == [0, 0, 45015]


async def test_oa_sender_retries_on_timeout(
    session: aiohttp.ClientSession, receiver_server: Callable[[Any], Awaitable[str]]
) -> None:
    # Real time: the sender's HTTP timeout (WeChat's 5 s, 0.3 s here) on a receiver that takes 1 s.
    receiver = OAReceiver(delays=[1.0])
    sender = _oa_sender(session, await receiver_server(receiver), "safe", timeout_s=0.3)
    result = await sender.text("o-1", "hello")
    assert result.status == 200
    assert result.attempts == 2
    assert result.reply is not None
    assert result.reply["Content"] == "echo: hello"
    assert len(receiver.requests) == 2
    assert receiver.requests[0] == receiver.requests[1]  # the same query and body again

    receiver.delays = [1.0, 1.0, 1.0]
    result = await sender.text("o-1", "again")
    assert (result.status, result.attempts, result.error) == (None, 3, "timeout")
    assert result.timed_out

    receiver.delays = [1.0]
    result = await sender.send_xml(
        "<xml><FromUserName>o-1</FromUserName><MsgType>text</MsgType></xml>", retries_on_timeout=False
    )
    assert (result.status, result.attempts) == (None, 1)


class WeComReceiver:
    def __init__(self) -> None:
        self.crypto = WeComCrypto(TOKEN, WECOM_AES_KEY, CORP_ID)
        self.messages: list[Any] = []

    async def handle(self, request: web.Request) -> web.Response:
        q = request.query
        signed = (q["msg_signature"], q["timestamp"], q["nonce"])
        try:
            if request.method == "GET":
                return web.Response(text=self.crypto.check_signature(*signed, q["echostr"]))
            xml = self.crypto.decrypt_message(await request.text(), *signed)
        except InvalidSignatureException:
            return web.Response(status=403)
        except Exception:
            return web.Response(status=400)
        message = parse_wecom_message(xml)
        self.messages.append(message)
        if message.type != "text":
            return web.Response(text="")
        reply = TextReply(message=message, content=f"收到: {message.content}").render()
        return web.Response(text=self.crypto.encrypt_message(reply, q["nonce"], q["timestamp"]))


async def test_wecom_app_sender(
    session: aiohttp.ClientSession, receiver_server: Callable[[Any], Awaitable[str]]
) -> None:
    receiver = WeComReceiver()
    sender = WeComAppSender(
        session,
        await receiver_server(receiver),
        token=TOKEN,
        encoding_aes_key=WECOM_AES_KEY,
        corp_id=CORP_ID,
        agent_id=1000002,
    )
    assert await sender.verify("wecom-echo") == (200, "wecom-echo")
    assert (await sender.verify("wecom-echo", tamper="signature"))[0] == 403

    result = await sender.text("zhangsan", "交办 MS26112300421")
    assert result.status == 200
    assert result.reply is not None
    assert result.reply["Content"] == "收到: 交办 MS26112300421"
    message = receiver.messages[0]
    assert (message.source, message.agent, message.content) == ("zhangsan", 1000002, "交办 MS26112300421")

    long = await sender.text("zhangsan", "交办" * 400)  # the echo is 2,410 bytes
    assert long.reply is not None
    assert long.reply["Content"] == ("收到: " + "交办" * 400).encode()[:2048].decode(errors="ignore")  # cut

    assert (await sender.event("zhangsan", "enter_agent")).reply is None
    assert (await sender.text("zhangsan", "x", msg_id=1)).status == 200
    result = await sender.send_xml("<xml><MsgType>text</MsgType></xml>", tamper="body")
    assert result.status == 400


# --- the mini-program's calls ---


async def test_demo_logins_unionid_links_and_phone_codes(api: Api, platform: FakePlatform) -> None:
    async def login(code: str) -> dict[str, Any]:
        params = {"appid": APP_ID, "secret": APP_SECRET, "js_code": code, "grant_type": "authorization_code"}
        return await api.get("/wechat/sns/jscode2session", **params)

    first = await login("demo-alice")
    assert first["openid"] == platform.mini_openid("alice")
    assert "unionid" not in first
    assert (await login("demo-alice"))["errcode"] == 40163  # a code is good once
    unionid = platform.link_unionid("alice", "o-alice-oa")
    again = await login("demo-alice.2")
    assert (again["openid"], again["unionid"]) == (first["openid"], unionid)
    assert (await login("nonsense"))["errcode"] == 40029
    token = await api.wechat_token()
    info = await api.get("/wechat/cgi-bin/user/info", access_token=token, openid="o-alice-oa")
    assert info["unionid"] == unionid
    assert "unionid" not in await api.get("/wechat/cgi-bin/user/info", access_token=token, openid="o-other")
    platform.add_phone_code("pc-1", "13700000000")
    for code, phone in (("pc-1", "13700000000"), ("phone-13812345678", "13812345678")):
        answer = await api.post("/wechat/wxa/business/getuserphonenumber", {"code": code}, access_token=token)
        assert answer["phone_info"]["purePhoneNumber"] == phone
        reused = await api.post("/wechat/wxa/business/getuserphonenumber", {"code": code}, access_token=token)
        assert reused["errcode"] == 40029


async def test_subscribe_messages_count_consents_and_check_their_data(api: Api, platform: FakePlatform) -> None:
    token = await api.wechat_token()

    async def send(data: dict[str, str], page: str = "pages/case/index?code=MS1") -> int:
        body = {
            "touser": "wxa-1",
            "template_id": "tpl",
            "page": page,
            "data": {k: {"value": v} for k, v in data.items()},
        }
        answer = await api.post("/wechat/cgi-bin/message/subscribe/send", body, access_token=token)
        return int(answer["errcode"])

    good = {"character_string1": "MS26120100017", "thing2": "您的诉求已有答复", "time3": "2026-12-01 10:00"}
    assert await send(good) == 43101  # no consent
    platform.grant_subscription("wxa-1", "tpl", 1)
    assert await send({**good, "thing2": "长" * 21}) == 47003  # a thing shows 20 characters
    assert await send({**good, "character_string1": "编号"}) == 47003
    assert await send({**good, "time3": "明天"}) == 47003
    assert await send(good, page="/pages/case/index") == 41030
    assert await send(good) == 0
    assert await send(good) == 43101  # one consent, one send
    assert len(platform.sent_to("wxa-1")) == 1


async def test_a_misconfigured_account_refuses_until_fixed(
    api: Api, platform: FakePlatform, session: aiohttp.ClientSession, server: TestServer
) -> None:
    token, wecom = await api.wechat_token(), await api.wecom_token()
    control = FakePlatformControl(session, str(server.make_url("/")))
    await control.misconfigure(40164)  # our IP is not whitelisted: every official-account call, tokens too
    await control.misconfigure(60020)  # not a WeCom trusted IP: the app's API, not the group robot
    assert await api.custom_text(token, "o-1", "hi") == 40164
    assert await api.custom_text(token, "o-1", "hi") == 40164  # a state, not a one-off fault
    refused = await api.post("/wechat/cgi-bin/stable_token", {"grant_type": "client_credential"})
    assert refused["errcode"] == 40164
    assert "not in whitelist" in refused["errmsg"]
    app_message = {"touser": "zhangsan", "msgtype": "text", "agentid": 1, "text": {"content": "x"}}
    assert (await api.post("/wecom/cgi-bin/message/send", app_message, access_token=wecom))["errcode"] == 60020
    robot = {"msgtype": "text", "text": {"content": "x"}}
    assert (await api.post("/wecom/cgi-bin/webhook/send", robot, key="k"))["errcode"] == 0
    await control.fix(40164)
    platform.note_user_message("o-1")
    assert await api.custom_text(token, "o-1", "hi") == 0
    assert (await api.post("/wecom/cgi-bin/message/send", app_message, access_token=wecom))["errcode"] == 60020
    await control.fix()
    assert (await api.post("/wecom/cgi-bin/message/send", app_message, access_token=wecom))["errcode"] == 0


async def test_users_outside_the_apps_visible_range_are_left_out_then_81013(api: Api, platform: FakePlatform) -> None:
    wecom = await api.wecom_token()
    platform.wecom_outside_range.add("WangWu")
    body = {"touser": "zhangsan|wangwu", "msgtype": "text", "agentid": 1, "text": {"content": "x"}}
    answer = await api.post("/wecom/cgi-bin/message/send", body, access_token=wecom)
    assert (answer["errcode"], answer["invaliduser"]) == (0, "wangwu")
    assert [m.recipient for m in platform.messages] == ["zhangsan"]
    alone = await api.post("/wecom/cgi-bin/message/send", {**body, "touser": "wangwu"}, access_token=wecom)
    assert alone["errcode"] == 81013


async def test_content_checks_want_version_2_an_openid_and_a_scene(api: Api, platform: FakePlatform) -> None:
    token = await api.wechat_token()
    ok = {"content": "多建停车位", "version": 2, "scene": 2, "openid": "o-1"}
    answer = await api.post("/wechat/wxa/msg_sec_check", ok, access_token=token)
    assert (answer["errcode"], answer["result"]["suggest"]) == (0, "pass")
    assert answer["trace_id"]
    risky = await api.post("/wechat/wxa/msg_sec_check", {**ok, "content": "赌博网站"}, access_token=token)
    assert (risky["result"]["suggest"], risky["result"]["label"]) == ("risky", 20001)
    review = await api.post("/wechat/wxa/msg_sec_check", {**ok, "content": "待审词"}, access_token=token)
    assert review["result"]["suggest"] == "review"
    for broken, errcode in [
        ({**ok, "version": 1}, 47001),
        ({k: v for k, v in ok.items() if k != "openid"}, 40003),
        ({**ok, "scene": 9}, 47001),
        ({**ok, "content": "x" * 2501}, 47001),
    ]:
        assert (await api.post("/wechat/wxa/msg_sec_check", broken, access_token=token))["errcode"] == errcode
    assert (await api.post("/wechat/wxa/msg_sec_check", ok, access_token="bad"))["errcode"] == 40001
    media = {"media_url": "http://127.0.0.1/x.jpg", "media_type": 2, "version": 2, "scene": 2, "openid": "o-1"}
    asked = await api.post("/wechat/wxa/media_check_async", media, access_token=token)
    assert asked["errcode"] == 0
    assert platform.take_media_checks() == [(asked["trace_id"], media["media_url"], "o-1")]
    for broken in ({**media, "media_type": 3}, {**media, "media_url": "ftp://x"}, {**media, "version": 1}):
        assert (await api.post("/wechat/wxa/media_check_async", broken, access_token=token))["errcode"] == 47001
    assert platform.media_suggest(b"...RISKY...") == "risky"
    assert platform.media_suggest(b"\xff\xd8") == "pass"
