"""The async WeChat/WeCom clients against the fake platform, with a real Redis for the token cache."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis
import zxingcpp
from aiohttp.test_utils import TestServer
from PIL import Image

from bot.demo.fake_platform import FakePlatform, create_fake_platform
from bot.outbound.wechat_api import (
    CONFIRM_REJECTION_S,
    MiniProgramClient,
    TokenCache,
    TokenRejected,
    WeChatAPIError,
    WeChatClient,
    WeChatUnavailable,
    WeComClient,
)

APP_ID, APP_SECRET = "wxtestapp0000001", "app-secret"
MINI_ID, MINI_SECRET = "wxtestmini000001", "mini-secret"
CORP_ID, CORP_SECRET = "wwtestcorp000001", "corp-secret"
OPENID = "o-citizen-1"


@pytest.fixture
def platform() -> FakePlatform:
    # "tpl", "tpl-1", "tpl-sub": templates the tests send through, without key rules of their own.
    return FakePlatform(
        apps={APP_ID: APP_SECRET, MINI_ID: MINI_SECRET},
        corps={CORP_ID: CORP_SECRET},
        templates={"tpl", "tpl-1", "tpl-sub"},
    )


@pytest.fixture
async def server(platform: FakePlatform) -> AsyncIterator[TestServer]:
    srv = TestServer(create_fake_platform(platform))
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _wechat(
    session: aiohttp.ClientSession,
    redis: aioredis.Redis,
    server: TestServer,
    *,
    app_secret: str = APP_SECRET,
    timeout_s: float = 2.0,
) -> WeChatClient:
    return WeChatClient(
        session,
        redis,
        app_id=APP_ID,
        app_secret=app_secret,
        base_url=str(server.make_url("/wechat")),
        timeout_s=timeout_s,
    )


@pytest.fixture
def wechat(session: aiohttp.ClientSession, redis_client: aioredis.Redis, server: TestServer) -> WeChatClient:
    return _wechat(session, redis_client, server)


@pytest.fixture
def mini(session: aiohttp.ClientSession, redis_client: aioredis.Redis, server: TestServer) -> MiniProgramClient:
    base_url = str(server.make_url("/wechat"))
    return MiniProgramClient(session, redis_client, app_id=MINI_ID, app_secret=MINI_SECRET, base_url=base_url)


@pytest.fixture
def wecom(session: aiohttp.ClientSession, redis_client: aioredis.Redis, server: TestServer) -> WeComClient:
    return WeComClient(
        session,
        redis_client,
        corp_id=CORP_ID,
        secret=CORP_SECRET,
        agent_id=1000002,
        base_url=str(server.make_url("/wecom")),
    )


# --- access tokens ---


async def test_token_fetched_once_and_shared_through_redis(
    wechat: WeChatClient,
    platform: FakePlatform,
    session: aiohttp.ClientSession,
    redis_client: aioredis.Redis,
    server: TestServer,
) -> None:
    platform.note_user_message(OPENID)
    await wechat.send_custom_text(OPENID, "one")
    await wechat.send_custom_text(OPENID, "two")
    # A second client (another worker process) finds the token in Redis.
    other = _wechat(session, redis_client, server)
    await other.send_custom_text(OPENID, "three")

    assert platform.token_fetch_count == 1
    assert [m.text for m in platform.sent_to(OPENID)] == ["one", "two", "three"]
    ttl = await redis_client.ttl(f"ms:token:{APP_ID}")
    assert 6000 < ttl <= 6900  # a margin under expires_in=7200
    sends = platform.calls_to("custom/send")
    assert len({c.query["access_token"] for c in sends}) == 1


async def test_twenty_concurrent_calls_on_a_cold_cache_fetch_one_token(
    wechat: WeChatClient, platform: FakePlatform
) -> None:
    platform.fail_next("stable_token", delay_s=0.2)  # a slow token endpoint widens the race
    msgids = await asyncio.gather(*(wechat.send_template(f"o-{i}", "tpl-1", {"first": f"case {i}"}) for i in range(20)))
    assert platform.token_fetch_count == 1
    assert len(set(msgids)) == 20
    assert len([m for m in platform.messages if m.channel == "template"]) == 20


async def test_rotated_token_is_fetched_again_in_normal_mode(
    wechat: WeChatClient, platform: FakePlatform, redis_client: aioredis.Redis
) -> None:
    platform.note_user_message(OPENID)
    await wechat.send_custom_text(OPENID, "before")
    old = await redis_client.get(f"ms:token:{APP_ID}")
    platform.expire_tokens()

    await wechat.send_custom_text(OPENID, "after")

    assert platform.token_fetch_count == 2
    token_calls = platform.calls_to("stable_token")
    assert [c.body["force_refresh"] for c in token_calls] == [False, False]  # never forced on a first failure
    assert [c.errcode for c in platform.calls_to("custom/send")] == [0, 40001, 0]
    assert await redis_client.get(f"ms:token:{APP_ID}") not in (None, old)
    assert [m.text for m in platform.sent_to(OPENID)] == ["before", "after"]


async def test_stale_token_left_by_another_process_is_replaced(
    wechat: WeChatClient, platform: FakePlatform, redis_client: aioredis.Redis
) -> None:
    await redis_client.set(f"ms:token:{APP_ID}", "stale-token", ex=600)
    await wechat.send_template(OPENID, "tpl", {"k": "v"})
    assert platform.token_fetch_count == 1
    assert [c.errcode for c in platform.calls_to("template/send")] == [40001, 0]


async def test_a_fresh_token_rejected_again_is_retry_later(wechat: WeChatClient, platform: FakePlatform) -> None:
    platform.note_user_message(OPENID)
    await wechat.send_custom_text(OPENID, "one")
    platform.expire_tokens()  # the cached token is rejected; normal mode hands out a new one ...
    platform.fail_next("custom/send", 2, errcode=40001)  # ... which is rejected too
    with pytest.raises(TokenRejected) as info:
        await wechat.send_custom_text(OPENID, "hello")
    assert isinstance(info.value, WeChatUnavailable)  # "retry later" to every caller
    assert info.value.errcode == 40001
    assert platform.token_fetch_count == 2  # the first fetch and exactly one normal refetch
    assert len(platform.calls_to("custom/send")) == 3
    assert [c.body["force_refresh"] for c in platform.calls_to("stable_token")] == [False, False]


async def test_a_token_error_on_a_valid_token_is_not_forced(wechat: WeChatClient, platform: FakePlatform) -> None:
    """A 40001 blip: normal mode hands back the same token; we wait instead of forcing a refresh."""
    platform.note_user_message(OPENID)
    platform.fail_next("custom/send", errcode=40001)
    with pytest.raises(TokenRejected) as info:
        await wechat.send_custom_text(OPENID, "hello")
    assert 0 < info.value.retry_after_s <= CONFIRM_REJECTION_S
    assert len(platform.calls_to("custom/send")) == 1  # the same token is not tried again at once
    await wechat.send_custom_text(OPENID, "hello")  # the job's retry: the token works again
    assert [c.body["force_refresh"] for c in platform.calls_to("stable_token")] == [False, False]
    assert platform.forced_refreshes_today(APP_ID) == 0
    assert [m.text for m in platform.sent_to(OPENID)] == ["hello"]


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(platform: FakePlatform, wechat: WeChatClient) -> _Clock:
    """One clock for the fake platform and the client's token rules (the lock and gap keys use Redis time)."""
    clock = _Clock()
    platform.clock = clock
    wechat.tokens.clock = clock
    return clock


async def test_a_token_still_rejected_later_is_forced_once(
    wechat: WeChatClient, platform: FakePlatform, clock: _Clock, redis_client: aioredis.Redis
) -> None:
    platform.note_user_message(OPENID)
    await wechat.send_custom_text(OPENID, "one")
    platform.spoil_tokens()  # rejected, but stable_token's normal mode keeps handing it out

    with pytest.raises(TokenRejected):  # the first failure: normal mode only, nothing forced
        await wechat.send_custom_text(OPENID, "two")
    assert [c.body["force_refresh"] for c in platform.calls_to("stable_token")] == [False, False]

    clock.now += CONFIRM_REJECTION_S  # the job's retry, later: the same token comes back again
    await wechat.send_custom_text(OPENID, "two")
    assert [c.body["force_refresh"] for c in platform.calls_to("stable_token")] == [False, False, False, True]
    assert platform.forced_refreshes_today(APP_ID) == 1
    assert await wechat.tokens.forced_today(APP_ID) == 1
    assert [m.text for m in platform.sent_to(OPENID)] == ["one", "two"]
    # The forced token is shared: a second process uses it without fetching.
    used = platform.calls_to("custom/send")[-1].query["access_token"]
    assert await redis_client.get(f"ms:token:{APP_ID}") == used.encode()


async def test_forced_refreshes_are_30_s_apart_for_all_processes(
    wechat: WeChatClient,
    platform: FakePlatform,
    clock: _Clock,
    session: aiohttp.ClientSession,
    redis_client: aioredis.Redis,
    server: TestServer,
) -> None:
    platform.note_user_message(OPENID)
    wechat.tokens.force_gap_s = 0.5  # Redis keeps the gap (in real time): shortened for the test
    other = _wechat(session, redis_client, server)  # another process
    other.tokens.clock = clock
    other.tokens.force_gap_s = 0.5
    await wechat.send_custom_text(OPENID, "w")
    platform.spoil_tokens()
    for client in (wechat, other):
        with pytest.raises(TokenRejected):
            await client.send_custom_text(OPENID, "x")
    clock.now += CONFIRM_REJECTION_S
    await wechat.send_custom_text(OPENID, "x")  # forced
    clock.now += 60  # past the fake's own 30 s gap: only our Redis gap holds the next one back
    platform.spoil_tokens()
    for _ in range(2):
        with pytest.raises(TokenRejected):
            await other.send_custom_text(OPENID, "y")
    clock.now += CONFIRM_REJECTION_S
    with pytest.raises(TokenRejected) as info:
        await other.send_custom_text(OPENID, "y")
    assert "less than" in str(info.value)
    assert 0 < info.value.retry_after_s <= 0.5
    assert platform.forced_refreshes_today(APP_ID) == 1
    await asyncio.sleep(0.55)
    await other.send_custom_text(OPENID, "y")
    assert platform.forced_refreshes_today(APP_ID) == 2
    assert await wechat.tokens.forced_today(APP_ID) == 2


async def test_forced_refreshes_stop_at_the_daily_cap(
    wechat: WeChatClient, platform: FakePlatform, clock: _Clock, redis_client: aioredis.Redis
) -> None:
    platform.note_user_message(OPENID)
    wechat.tokens.max_forced_per_day = 2
    day = time.strftime("%Y%m%d", time.gmtime(clock.now + 8 * 3600))  # Beijing's day
    await redis_client.set(f"ms:token-forced:{APP_ID}:{day}", 2)
    await wechat.send_custom_text(OPENID, "w")
    platform.spoil_tokens()
    with pytest.raises(TokenRejected):
        await wechat.send_custom_text(OPENID, "x")
    clock.now += CONFIRM_REJECTION_S
    with pytest.raises(TokenRejected) as info:
        await wechat.send_custom_text(OPENID, "x")
    assert "daily cap" in str(info.value)
    assert info.value.retry_after_s > 0
    assert not [c for c in platform.calls_to("stable_token") if c.body["force_refresh"]]
    assert [m.text for m in platform.sent_to(OPENID)] == ["w"]


def test_the_daily_cap_stays_below_wechats(redis_client: aioredis.Redis) -> None:
    assert TokenCache(redis_client).max_forced_per_day == 10
    with pytest.raises(ValueError, match="max_forced_per_day"):
        TokenCache(redis_client, max_forced_per_day=21)


async def test_concurrent_rejections_force_one_refresh(
    wechat: WeChatClient, platform: FakePlatform, clock: _Clock
) -> None:
    await wechat.send_template(OPENID, "tpl", {"k": "v"})
    platform.spoil_tokens()
    first = await asyncio.gather(
        *(wechat.send_template(f"o-{i}", "tpl", {"k": "v"}) for i in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, TokenRejected) for result in first)  # a burst of first failures forces nothing
    assert not [c for c in platform.calls_to("stable_token") if c.body["force_refresh"]]
    clock.now += CONFIRM_REJECTION_S
    await asyncio.gather(*(wechat.send_template(f"o-{i}", "tpl", {"k": "v"}) for i in range(10)))
    assert len([c for c in platform.calls_to("stable_token") if c.body["force_refresh"]]) == 1
    assert len([m for m in platform.messages if m.channel == "template"]) == 11


async def test_wrong_secret_raises_at_the_token_fetch(
    session: aiohttp.ClientSession, redis_client: aioredis.Redis, server: TestServer, platform: FakePlatform
) -> None:
    client = _wechat(session, redis_client, server, app_secret="wrong")
    with pytest.raises(WeChatAPIError) as info:
        await client.send_template(OPENID, "tpl", {"k": "v"})
    assert info.value.errcode == 40125
    assert len(platform.calls_to("stable_token")) == 1
    assert platform.calls_to("template/send") == []


async def test_another_systems_forced_refresh_does_not_make_us_force(
    wechat: WeChatClient, platform: FakePlatform, session: aiohttp.ClientSession, server: TestServer
) -> None:
    platform.note_user_message(OPENID)
    await wechat.send_custom_text(OPENID, "one")
    body = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET, "force_refresh": True}
    async with session.post(server.make_url("/wechat/cgi-bin/stable_token"), json=body) as resp:
        theirs = (await resp.json())["access_token"]  # the other system's leaked-token procedure
    await wechat.send_custom_text(OPENID, "two")  # ours was invalidated: normal mode gives us theirs
    assert platform.calls_to("custom/send")[-1].query["access_token"] == theirs
    assert [c.body["force_refresh"] for c in platform.calls_to("stable_token")] == [False, True, False]
    assert platform.forced_refreshes_today(APP_ID) == 1  # theirs only: their token still works


# --- the token lock ---


async def test_token_cache_waits_for_the_refresher_in_another_process(redis_client: aioredis.Redis) -> None:
    cache = TokenCache(redis_client, "ms:", wait_s=2.0, poll_interval_s=0.02)
    await redis_client.set("ms:token-lock:app", "other-process", px=5000)
    fetched: list[bool] = []

    async def fetch(force: bool) -> tuple[str, int]:
        fetched.append(force)
        return "mine", 7200

    async def other_process_finishes() -> None:
        await asyncio.sleep(0.1)  # real time: the lock is another process's, in Redis
        await redis_client.set("ms:token:app", "theirs", ex=100)
        await redis_client.delete("ms:token-lock:app")

    task = asyncio.create_task(other_process_finishes())
    assert await cache.get_or_fetch("app", fetch) == "theirs"
    await task
    assert fetched == []


async def test_token_cache_wait_is_bounded(redis_client: aioredis.Redis) -> None:
    cache = TokenCache(redis_client, "ms:", wait_s=0.3, poll_interval_s=0.02)
    await redis_client.set("ms:token-lock:app", "stuck-process", px=5000)

    async def fetch(force: bool) -> tuple[str, int]:
        raise AssertionError("must not fetch while another process holds the lock")

    with pytest.raises(WeChatUnavailable):
        await cache.get_or_fetch("app", fetch)


async def test_token_cache_releases_only_its_own_lock(redis_client: aioredis.Redis) -> None:
    cache = TokenCache(redis_client, "ms:")

    async def slow_fetch(force: bool) -> tuple[str, int]:
        # Our lock expired meanwhile and another process took it.
        await redis_client.set("ms:token-lock:app", "someone-else", px=5000)
        return "tok", 7200

    assert await cache.get_or_fetch("app", slow_fetch) == "tok"
    assert await redis_client.get("ms:token-lock:app") == b"someone-else"

    async def fetch(force: bool) -> tuple[str, int]:
        return "tok2", 7200

    await redis_client.delete("ms:token-lock:app")
    assert await cache.after_rejection("app", "tok", fetch, can_force=True) == "tok2"
    assert await redis_client.exists("ms:token-lock:app") == 0


# --- transport failures ---


async def test_http_5xx_and_garbage_are_unavailable(wechat: WeChatClient, platform: FakePlatform) -> None:
    platform.fail_next("template/send", http_status=502)
    with pytest.raises(WeChatUnavailable):
        await wechat.send_template(OPENID, "tpl", {"k": "v"})
    platform.fail_next("template/send", http_status=200)  # a 200 with a non-JSON body
    with pytest.raises(WeChatUnavailable):
        await wechat.send_template(OPENID, "tpl", {"k": "v"})
    assert await wechat.send_template(OPENID, "tpl", {"k": "v"}) > 0


async def test_timeout_is_unavailable(
    session: aiohttp.ClientSession, redis_client: aioredis.Redis, server: TestServer, platform: FakePlatform
) -> None:
    client = _wechat(session, redis_client, server, timeout_s=0.3)
    await client.access_token()
    platform.fail_next("template/send", delay_s=2.0)
    with pytest.raises(WeChatUnavailable, match="timeout"):
        await client.send_template(OPENID, "tpl", {"k": "v"})


async def test_connection_refused_is_unavailable(session: aiohttp.ClientSession, redis_client: aioredis.Redis) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WeChatClient(
        session, redis_client, app_id=APP_ID, app_secret=APP_SECRET, base_url=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(WeChatUnavailable):
        await client.access_token()


async def test_system_busy_is_a_retriable_api_error(wechat: WeChatClient, platform: FakePlatform) -> None:
    platform.fail_next("template/send")
    with pytest.raises(WeChatAPIError) as info:
        await wechat.send_template(OPENID, "tpl", {"k": "v"})
    assert info.value.errcode == -1
    assert info.value.retriable


async def test_outage_until_recover(wechat: WeChatClient, platform: FakePlatform) -> None:
    platform.fail_all("template/send", http_status=503)
    for _ in range(3):
        with pytest.raises(WeChatUnavailable):
            await wechat.send_template(OPENID, "tpl", {"k": "v"})
    platform.recover()
    await wechat.send_template(OPENID, "tpl", {"k": "v"})
    assert [c.http_status for c in platform.calls_to("template/send")] == [503, 503, 503, 200]


# --- official account ---


async def test_custom_send_outside_the_window(wechat: WeChatClient, platform: FakePlatform) -> None:
    with pytest.raises(WeChatAPIError) as info:
        await wechat.send_custom_text(OPENID, "nobody asked")
    assert info.value.errcode == 45015
    assert info.value.out_of_window

    platform.note_user_message(OPENID)
    for i in range(5):
        await wechat.send_custom_text(OPENID, f"reply {i}")
    with pytest.raises(WeChatAPIError) as info:
        await wechat.send_custom_text(OPENID, "sixth")
    assert info.value.errcode == 45047  # the count, not the time, ran out
    assert info.value.out_of_window
    assert len(platform.sent_to(OPENID)) == 5


async def test_template_send(wechat: WeChatClient, platform: FakePlatform) -> None:
    msgid = await wechat.send_template(
        OPENID,
        "demo-reply-template",
        {
            "first": "您的意见已答复",
            "character_string1": "MS26112300421",
            "thing2": "路灯已修好",
            "phrase3": "已答复",
            "time4": "2026-12-02 10:00",
        },
        url="https://x.test/c/1",
        client_msg_id="mashang-1-0",
    )
    [message] = platform.sent_to(OPENID)
    assert isinstance(msgid, int)
    assert message.channel == "template"
    assert message.payload["template_id"] == "demo-reply-template"
    assert message.payload["url"] == "https://x.test/c/1"
    assert message.payload["data"]["character_string1"] == {"value": "MS26112300421"}
    assert "first" not in message.text  # WeChat no longer shows first and remark
    assert "thing2: 路灯已修好" in message.text
    assert platform.take_template_finish_events() == [(OPENID, msgid, "success")]


async def test_template_send_is_refused_unless_every_typed_key_fits(
    wechat: WeChatClient, platform: FakePlatform
) -> None:
    good = {"character_string1": "MS1", "thing2": "短", "phrase3": "已答复", "time4": "2026-12-02 10:00"}
    for bad in (
        {"keyword1": "MS1", "keyword2": "已答复", "keyword3": "路灯"},  # the old layout on a category template
        {**good, "thing2": "超" * 21},  # a thing shows 20 characters
        {**good, "character_string1": "编号MS1"},  # no Chinese in a character_string
        {**good, "phrase3": "已经答复完毕了"},  # 5 Chinese characters at most
        {**good, "time4": "昨天"},
    ):
        with pytest.raises(WeChatAPIError) as info:
            await wechat.send_template(OPENID, "demo-reply-template", bad)
        assert info.value.errcode == 47003
    assert platform.sent_to(OPENID) == []
    await wechat.send_template(OPENID, "demo-reply-template", good)
    assert len(platform.sent_to(OPENID)) == 1


async def test_a_template_sent_again_with_its_client_msg_id_arrives_once(
    wechat: WeChatClient, platform: FakePlatform
) -> None:
    data = {"character_string1": "MS1", "thing2": "答复", "phrase3": "已答复", "time4": "2026-12-02 10:00"}
    first = await wechat.send_template(OPENID, "demo-reply-template", data, client_msg_id="mashang-7-0")
    again = await wechat.send_template(OPENID, "demo-reply-template", data, client_msg_id="mashang-7-0")
    assert first == again
    assert len(platform.sent_to(OPENID)) == 1


async def test_a_subscription_account_may_not_send_template_messages(
    wechat: WeChatClient, platform: FakePlatform
) -> None:
    platform.account_type = "subscription"
    with pytest.raises(WeChatAPIError) as info:
        await wechat.send_template(OPENID, "tpl", {"k": "v"})
    assert info.value.errcode == 48001


async def test_template_send_unknown_template(wechat: WeChatClient, platform: FakePlatform) -> None:
    platform.templates = {"tpl-known"}
    with pytest.raises(WeChatAPIError) as info:
        await wechat.send_template(OPENID, "tpl-unknown", {"k": "v"})
    assert info.value.errcode == 40037


async def test_get_media(wechat: WeChatClient, platform: FakePlatform) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
    platform.add_media("media-1", jpeg, "image/jpeg")
    assert await wechat.get_media("media-1") == (jpeg, "image/jpeg")
    with pytest.raises(WeChatAPIError) as info:
        await wechat.get_media("media-unknown")
    assert info.value.errcode == 40007
    # Binary calls get the token retry too.
    platform.expire_tokens()
    assert await wechat.get_media("media-1") == (jpeg, "image/jpeg")
    assert platform.token_fetch_count == 2


async def test_qrcode_create(wechat: WeChatClient, platform: FakePlatform) -> None:
    first = await wechat.create_qrcode("cp:hospital-1")
    again = await wechat.create_qrcode("cp:hospital-1")
    assert first == again  # permanent tickets are stable per scene
    assert set(first) == {"ticket", "url"}
    assert platform.permanent_qr_count == 1
    assert platform.qr_scene(first["ticket"]) == "cp:hospital-1"

    temporary = await wechat.create_qrcode("bind:42", expire_seconds=600)
    assert temporary["expire_seconds"] == 600
    assert temporary["ticket"] != first["ticket"]
    assert platform.calls_to("qrcode/create")[-1].body["action_name"] == "QR_STR_SCENE"
    assert platform.permanent_qr_count == 1

    platform.permanent_qr_limit = 1
    with pytest.raises(WeChatAPIError) as info:
        await wechat.create_qrcode("cp:school-2")
    assert info.value.errcode == 45029
    with pytest.raises(ValueError, match="scene_str"):
        await wechat.create_qrcode("x" * 65)


# --- mini-program ---


async def test_unlimited_code_is_a_jpeg_encoding_the_scene(mini: MiniProgramClient, platform: FakePlatform) -> None:
    png = await mini.get_unlimited_code("cp=hospital-1", "pages/index/index", width=300)
    assert png.startswith(b"\xff\xd8\xff")  # WeChat answers image/jpeg
    image = Image.open(io.BytesIO(png))
    assert image.size == (300, 300)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == ["cp=hospital-1"]
    assert platform.calls_to("stable_token")[0].body["appid"] == MINI_ID

    with pytest.raises(WeChatAPIError) as info:
        await mini.get_unlimited_code("x" * 33, "pages/index/index")
    assert info.value.errcode == 40169
    platform.mini_pages = {"pages/index/index"}
    with pytest.raises(WeChatAPIError) as info:
        await mini.get_unlimited_code("ok", "pages/missing/missing", check_path=True)
    assert info.value.errcode == 41030


async def test_code_to_session(mini: MiniProgramClient, platform: FakePlatform) -> None:
    platform.add_login_code("code-1", "o-mini-1", unionid="u-1")
    platform.add_login_code("code-2", "o-mini-2")
    session = await mini.code_to_session("code-1")
    assert session["openid"] == "o-mini-1"
    assert session["unionid"] == "u-1"
    assert session["session_key"]
    assert "unionid" not in await mini.code_to_session("code-2")
    for code, errcode in (("code-1", 40163), ("code-unknown", 40029)):
        with pytest.raises(WeChatAPIError) as info:
            await mini.code_to_session(code)
        assert info.value.errcode == errcode
    assert platform.token_fetch_count == 0  # jscode2session needs no access token


async def test_subscribe_message_consumes_consent(mini: MiniProgramClient, platform: FakePlatform) -> None:
    platform.grant_subscription("o-mini-1", "tpl-sub")
    await mini.send_subscribe_message("o-mini-1", "tpl-sub", {"thing1": "已答复"}, page="pages/case/case")
    with pytest.raises(WeChatAPIError) as info:
        await mini.send_subscribe_message("o-mini-1", "tpl-sub", {"thing1": "again"})
    assert info.value.errcode == 43101
    [message] = platform.sent_to("o-mini-1")
    assert message.channel == "subscribe"
    assert message.payload["page"] == "pages/case/case"
    assert message.text == "thing1: 已答复"


# --- WeCom ---


async def test_wecom_sends(wecom: WeComClient, platform: FakePlatform) -> None:
    await wecom.send_text("zhangsan", "新案件 MS26112300421")
    await wecom.send_markdown("zhangsan", "**新案件**")
    assert await wecom.appchat_create("分拣群", "lisi", ["lisi", "chenqi"], "triagechat") == "triagechat"
    await wecom.appchat_send_markdown("triagechat", "# 待分拣 3 件")
    await wecom.webhook_send_markdown("hook-key", "> 超期 1 件")

    assert [(m.channel, m.text) for m in platform.sent_to("zhangsan")] == [
        ("wecom_text", "新案件 MS26112300421"),
        ("wecom_markdown", "**新案件**"),
    ]
    assert platform.sent_to("zhangsan")[0].payload["agentid"] == 1000002
    assert [(m.channel, m.text) for m in platform.sent_to("triagechat")] == [("appchat", "# 待分拣 3 件")]
    assert [(m.channel, m.text) for m in platform.sent_to("hook-key")] == [("webhook", "> 超期 1 件")]
    assert platform.token_fetch_count == 1
    assert "access_token" not in platform.calls_to("webhook/send")[0].query


async def test_wecom_expired_token_refresh(wecom: WeComClient, platform: FakePlatform) -> None:
    await wecom.send_text("lisi", "one")
    platform.expire_tokens()
    await wecom.send_text("lisi", "two")
    assert [c.errcode for c in platform.calls_to("/wecom/cgi-bin/message/send")] == [0, 42001, 0]
    assert platform.token_fetch_count == 2
    assert [c.query for c in platform.calls_to("gettoken")] == [
        {"corpid": CORP_ID, "corpsecret": CORP_SECRET}
    ] * 2  # gettoken has no forced mode
    platform.fail_next("/wecom/cgi-bin/message/send", errcode=40014)
    with pytest.raises(TokenRejected) as info:  # gettoken handed back the same (valid) token: retry later
        await wecom.send_text("lisi", "three")
    assert info.value.retry_after_s > 0
    assert platform.token_fetch_count == 3  # one refetch, bounded
    await wecom.send_text("lisi", "three")
    assert [m.text for m in platform.sent_to("lisi")] == ["one", "two", "three"]


async def test_wecom_token_rejected_but_handed_out_is_retry_later(
    wecom: WeComClient, platform: FakePlatform, redis_client: aioredis.Redis
) -> None:
    await wecom.send_text("lisi", "one")
    platform.spoil_tokens()
    for _ in range(3):  # each try gives up after at most one refetch: never a loop, never a dead end
        with pytest.raises(TokenRejected):
            await wecom.send_text("lisi", "two")
    # One refetch for the three tries: gettoken handed the rejected token back a moment ago.
    assert len(platform.calls_to("gettoken")) == 2
    assert len(platform.calls_to("/wecom/cgi-bin/message/send")) == 4
    [stuck] = await redis_client.keys(f"ms:token-stuck:{CORP_ID}:*")
    assert 0 < await redis_client.pttl(stuck) <= 5000
    await redis_client.delete(stuck)  # the 5 s pass
    with pytest.raises(TokenRejected):
        await wecom.send_text("lisi", "two")
    assert len(platform.calls_to("gettoken")) == 3
    platform.expire_tokens()  # WeCom replaces the token
    await redis_client.delete(stuck)
    await wecom.send_text("lisi", "two")
    assert [m.text for m in platform.sent_to("lisi")] == ["one", "two"]


async def test_wecom_wrong_secret_does_not_loop(
    session: aiohttp.ClientSession, redis_client: aioredis.Redis, server: TestServer, platform: FakePlatform
) -> None:
    client = WeComClient(
        session,
        redis_client,
        corp_id=CORP_ID,
        secret="wrong",
        agent_id=1000002,
        base_url=str(server.make_url("/wecom")),
    )
    with pytest.raises(WeChatAPIError) as info:
        await client.send_text("lisi", "x")
    assert info.value.errcode == 40001  # WeCom's answer to a wrong secret looks like a token error
    assert len(platform.calls_to("gettoken")) == 1


async def test_wecom_response_url_is_usable_once(
    wecom: WeComClient, platform: FakePlatform, server: TestServer
) -> None:
    code = platform.issue_response_code("group-1")
    url = str(server.make_url(f"/wecom/cgi-bin/aibot/response?response_code={code}"))
    await wecom.post_response_url(url, {"msgtype": "markdown", "markdown": {"content": "已受理"}})
    with pytest.raises(WeChatAPIError):
        await wecom.post_response_url(url, {"msgtype": "markdown", "markdown": {"content": "again"}})
    assert [(m.channel, m.text) for m in platform.sent_to("group-1")] == [("smartbot", "已受理")]
