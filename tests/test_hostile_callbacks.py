"""Issue 15: what a black-box attack found at the edge, each over real HTTP against the running service."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from typing import Any

import pytest

from bot.demo.fake_callbacks import CallbackResult, build_xml
from handlers.events import CitizenEvent
from models.entities import Case, InboundMessage, InboxStatus
from models.timeutil import now
from tests.harness import Stack


async def test_slow_header_connections_are_closed_and_a_trickling_body_gets_408(stack: Stack) -> None:
    await stack.restart_with(server={"idle_timeout_s": 1.0, "read_timeout_s": 1.0})
    assert stack.port is not None

    async def slow_headers() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
        try:
            writer.write(b"POST /wechat/callback HTTP/1.1\r\nHost: mashang\r\n")
            for number in range(40):  # a header line every 0.1 s, never the blank line that ends them
                writer.write(f"X-Slow-{number}: 1\r\n".encode())
                await writer.drain()
                if reader.at_eof():
                    break
                await asyncio.sleep(0.1)
            return await asyncio.wait_for(reader.read(), timeout=1.0)
        finally:
            writer.close()

    began = asyncio.get_running_loop().time()
    answers = await asyncio.wait_for(asyncio.gather(*(slow_headers() for _ in range(50))), timeout=6.0)
    assert all(answer == b"" for answer in answers)  # closed without an answer
    assert asyncio.get_running_loop().time() - began < 3.0  # after the idle timeout, not the default hour

    reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
    try:
        from bot.transport.signing import sha1_signature

        timestamp = str(int(time.time()))
        query = (
            f"signature={sha1_signature('testtoken', timestamp, '1')}&timestamp={timestamp}&nonce=1&encrypt_type=aes"
        )
        head = f"POST /wechat/callback?{query} HTTP/1.1\r\nHost: mashang\r\nContent-Length: 200\r\n\r\n<xml>"
        writer.write(head.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readline(), timeout=3.0)
        assert head.startswith(b"HTTP/1.1 408"), head
    finally:
        writer.close()

    # An over-long request line is refused before any handler runs.
    async with stack.session.post(stack.callback_url + "?nonce=" + "1" * 5000, data="<xml/>") as response:
        assert response.status in (400, 414)
    status, _ = await stack.citizen().verify("still-serving")
    assert status == 200


async def test_a_callback_without_a_nonce_is_refused_on_every_endpoint_not_a_500(stack: Stack) -> None:
    import time

    from bot.transport.signing import sha1_signature

    timestamp = str(int(time.time()))
    # Signed as if the nonce were empty: the signature holds, the nonce is simply not there.
    oa = {"signature": sha1_signature("testtoken", timestamp, ""), "timestamp": timestamp}
    body = (
        "<xml><FromUserName>o-x</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>"
    )
    for params in (oa, {**oa, "encrypt_type": "aes", "msg_signature": "0" * 40}):
        async with stack.session.post(stack.callback_url, params=params, data=body) as response:
            assert response.status == 403, await response.text()
    encrypt = stack.wecom_user()._encrypt("<xml/>")
    for path, token in (("/wecom/callback", "testwecomtoken"), ("/wecom/bot", "testbottoken")):
        params = {"msg_signature": sha1_signature(token, timestamp, "", encrypt), "timestamp": timestamp}
        wecom_body = (
            f"<xml><Encrypt>{encrypt}</Encrypt></xml>" if path == "/wecom/callback" else f'{{"encrypt": "{encrypt}"}}'
        )
        async with stack.session.post(stack.url(path), params={**params, "nonce": ""}, data=wecom_body) as response:
            assert response.status == 403, (path, await response.text())


async def test_with_a_key_configured_a_plaintext_callback_is_refused_whatever_the_query_says(stack: Stack) -> None:
    """Plain mode's signature covers the query string only: with plain callbacks accepted, one captured
    query string let made-up bodies from made-up openids in for the whole timestamp tolerance."""
    safe, compat, plain = stack.citizen(mode="safe"), stack.citizen(mode="compat"), stack.citizen(mode="plain")
    forged = await plain.text("o-made-up", "伪造的诉求")  # signed, fresh, but no encrypt_type
    assert forged.status == 403
    assert "plaintext" in forged.body
    assert (await safe.text("o-safe", "路灯坏了")).reply is not None
    assert (await compat.text("o-compat", "路灯坏了")).reply is not None
    assert await InboundMessage.filter(sender="o-made-up").count() == 0

    # While the account switches modes both can be listed.
    await stack.restart_with(wechat={"accepted_modes": ("plain", "safe")})
    assert (await plain.text("o-switching", "井盖丢了")).reply is not None
    assert (await safe.text("o-switching-2", "井盖丢了")).reply is not None
    # Without a key only plain mode is possible: an encrypted callback cannot be read.
    await stack.restart_with(wechat={"accepted_modes": (), "encoding_aes_key": ""})
    assert (await plain.text("o-plain", "公园长椅坏了")).reply is not None
    assert (await safe.text("o-safe-3", "公园长椅坏了")).status == 403


def code_of(result: CallbackResult) -> str:
    assert result.status == 200, result
    assert result.reply is not None, result
    found = re.search(r"MS\d{11,}", result.reply["Content"])
    assert found, result.reply["Content"]
    return found.group(0)


async def post_bot_json(stack: Stack, plain: str) -> tuple[int, str]:
    """POST the smart bot's JSON exactly as written (the sender would re-encode it), encrypted and signed."""
    from bot.transport.signing import sha1_signature

    encrypt = stack.bot()._encrypt(plain)
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    params = {"msg_signature": sha1_signature("testbottoken", timestamp, nonce, encrypt)}
    params |= {"timestamp": timestamp, "nonce": nonce}
    async with stack.session.post(stack.url("/wecom/bot"), params=params, json={"encrypt": encrypt}) as response:
        return response.status, await response.text()


def oa_text(openid: str, text: str, msg_id: int) -> str:
    return build_xml(
        {
            "ToUserName": "gh_test",
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": text,
            "MsgId": msg_id,
        }
    )


async def test_a_timestamp_and_nonce_are_taken_once_on_every_endpoint_a_retry_with_the_same_body_again(
    stack: Stack,
) -> None:
    """Within the timestamp tolerance a captured (timestamp, nonce) carried another body; a WeChat retry
    may repeat the pair, so the same body again is answered as the retry it is."""
    await stack.restart_with(wechat={"accepted_modes": ("plain", "safe")})
    timestamp = str(int(time.time()))
    plain = stack.citizen(mode="plain")
    first = await plain.send_xml(oa_text("o-real", "路灯坏了", 81001), timestamp=timestamp, nonce="1111")
    code = first.reply["Content"] if first.reply else ""
    assert "查询编号" in code
    # The captured query string with a made-up body from a made-up openid.
    forged = await plain.send_xml(oa_text("o-made-up", "伪造的诉求", 81002), timestamp=timestamp, nonce="1111")
    assert forged.status == 403
    again = await plain.send_xml(oa_text("o-real", "路灯坏了", 81001), timestamp=timestamp, nonce="1111")
    assert again.status == 200  # the same request again: a retry, answered as one
    assert again.reply is None or again.reply["Content"] == code
    assert await InboundMessage.filter(sender="o-made-up").count() == 0
    assert await Case.filter(citizen__openid="o-real").count() == 1

    # Safe mode, the WeCom app and the smart bot: a second body under a pair already taken is refused
    # (signed here with the token, which an attacker would not have: the guard does not rely on it).
    safe = stack.citizen(mode="safe")
    assert (await safe.send_xml(oa_text("o-safe", "井盖丢了", 81003), timestamp=timestamp, nonce="2222")).status == 200
    assert (await safe.send_xml(oa_text("o-safe", "又一条", 81004), timestamp=timestamp, nonce="2222")).status == 403
    assert (await safe.send_xml(oa_text("o-safe", "井盖丢了", 81003), timestamp=timestamp, nonce="2222")).status == 200
    # The same pair on another endpoint is another request.
    user = stack.wecom_user()
    app_xml = build_xml(
        {
            "ToUserName": "wwdemo0000000000",
            "FromUserName": "lisi",
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": "待办",
            "MsgId": 81005,
            "AgentID": 1000002,
        }
    )
    assert (await user.send_xml(app_xml, timestamp=timestamp, nonce="2222")).status == 200
    other_xml = app_xml.replace("81005", "81006")
    assert (await user.send_xml(other_xml, timestamp=timestamp, nonce="2222")).status == 403
    bot = stack.bot()
    message = {"msgid": "bot-81007", "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "text"}
    assert (
        await bot.send_json({**message, "text": {"content": "帮助"}}, timestamp=timestamp, nonce="3333")
    ).status == 200
    replayed = await bot.send_json({**message, "text": {"content": "统计"}}, timestamp=timestamp, nonce="3333")
    assert replayed.status == 403


async def test_without_redis_the_replay_guard_lets_signed_callbacks_through() -> None:
    """A Redis outage must not lose citizens' messages: signature and timestamp still hold."""
    from bot.redis_store import connect
    from bot.transport.replay import ReplayGuard

    client = connect("redis://127.0.0.1:1")
    try:
        guard = ReplayGuard(client, "ms:", 300.0)
        assert await guard.admits("oa", str(int(time.time())), "1", "<xml/>")
    finally:
        await client.aclose()


async def test_a_field_the_database_cannot_hold_is_refused_alone_and_the_rest_of_the_burst_is_stored(
    stack: Stack,
) -> None:
    """One 65-character FromUserName (or a 300-digit MsgId) among 60 concurrent callbacks made the other
    59 answer 500: it failed their group INSERT."""
    citizen = stack.citizen()
    sends = [citizen.text(f"o-burst-{index}", "小区路灯坏了", msg_id=82_000 + index) for index in range(58)]
    sends.append(citizen.text("o" * 65, "小区路灯坏了"))
    sends.append(citizen.text("o-long-id", "小区路灯坏了", msg_id=int("9" * 300)))
    results = await asyncio.gather(*sends)
    *good, long_sender, long_id = results
    assert all(result.status == 200 and result.reply is not None for result in good)
    assert (long_sender.status, long_id.status) == (400, 400)
    assert "sender" in long_sender.body
    assert "message id" in long_id.body
    assert await InboundMessage.filter(sender__startswith="o-burst-").count() == 58
    assert await InboundMessage.all().count() == 58

    # A MediaId longer than the column, a location that is not one, a lone surrogate in the smart
    # bot's JSON: refused at the door, not retried every 15 s for 41 hours.
    assert (await citizen.image("o-media", "m" * 129)).status == 400
    assert (await citizen.image("o-media", "m" * 128)).status == 200
    for lat, lon in ((float("nan"), 120.1), (30.2, float("inf")), (91.0, 120.1)):
        assert (await citizen.location("o-where", lat, lon, label="3号楼")).status == 400, (lat, lon)
    assert (await citizen.location("o-where", 30.2, 120.1, label="3号楼")).status == 200
    message = {"msgid": "bot-82100", "chattype": "single", "from": {"userid": "lisi"}, "msgtype": "text"}
    status, body = await post_bot_json(stack, json.dumps({**message, "text": {"content": "待办\ud800"}}))
    assert (status, body) == (400, "bad callback: text is not valid Unicode (a lone surrogate)")
    assert await InboundMessage.filter(sender__in=["o-where", "lisi"]).count() == 1


async def test_rows_that_fail_every_time_are_marked_failed_once_and_keep_no_other_row_waiting(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """510 rows an earlier version stored, which can never be handled (SQLite: a lone surrogate in the
    text; PostgreSQL: a MediaId longer than the column), were retried every 15 s for 41 hours with a
    traceback each time, and the sweep's first 500 were all it ever took: 5 good rows behind them waited."""
    postgres = stack.database_url.startswith("postgres")

    def stored(sender: str, msg_id: int, poisoned: bool) -> InboundMessage:
        kind = "image" if postgres and poisoned else "text"
        event = CitizenEvent(
            channel="oa",
            sender=sender,
            kind="message",
            created_at=now(),
            msg_type=kind,
            text="路灯坏了\ud800" if poisoned and not postgres else "路灯坏了",
            media_id="m" * 300 if kind == "image" else None,
            msg_id=str(msg_id),
        )
        payload = event.to_dict()
        return InboundMessage(
            dedupe_key=event.dedupe_key, channel="oa", sender=sender, payload=payload, received_at=now()
        )

    await InboundMessage.bulk_create([stored(f"o-poison-{index}", 83_000 + index, True) for index in range(510)])
    await InboundMessage.bulk_create([stored(f"o-good-{index}", 84_000 + index, False) for index in range(5)])
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert await stack.recover_inbox() == 515
    assert await InboundMessage.filter(sender__startswith="o-good-", status=InboxStatus.DONE).count() == 5
    assert await Case.filter(citizen__openid__startswith="o-good-").count() == 5
    failed = await InboundMessage.filter(sender__startswith="o-poison-", status=InboxStatus.FAILED)
    assert len(failed) == 510
    assert all(("media_id" if postgres else "UnicodeEncodeError") in (row.error or "") for row in failed)
    assert not [record for record in caplog.records if record.exc_info]  # no tracebacks
    assert len([record for record in caplog.records if "marked failed" in record.getMessage()]) == 510
    caplog.clear()
    assert await stack.recover_inbox() == 0  # nothing is tried again
    assert not caplog.records


async def test_two_citizens_messages_under_one_msgid_are_two_messages(stack: Stack) -> None:
    """The dedupe key ignored the sender: another openid with the same MsgId got the first sender's reply
    and tracking code, and their message was lost."""
    citizen = stack.citizen()
    first = await citizen.text("o-first", "小区路灯坏了", msg_id=85001)
    second = await citizen.text("o-second", "菜市场垃圾没人清", msg_id=85001)
    first_code, second_code = (code_of(result) for result in (first, second))
    assert first_code != second_code
    assert await Case.filter(citizen__openid="o-second", code=second_code).count() == 1
    retry = await citizen.text("o-second", "菜市场垃圾没人清", msg_id=85001)  # a retry is still one
    assert retry.reply is None or code_of(retry) == second_code
    assert await Case.filter(citizen__openid__in=["o-first", "o-second"]).count() == 2


async def test_deeply_nested_bodies_get_400_without_a_traceback(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """`[` 30,000 times to /wecom/bot (any signature will do) and XML nested 900 deep to /wechat/callback
    answered 500, with about 3,000 log lines per request."""
    from bot.transport.signing import sha1_signature

    await stack.restart_with(wechat={"accepted_modes": ("plain", "safe")})
    deep_xml = "<xml>" + "<a>" * 900 + "x" + "</a>" * 900 + "</xml>"

    def query(**extra: str) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(4)
        return {
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": sha1_signature("testtoken", timestamp, nonce),
        } | extra

    requests = [
        ("/wecom/bot", query(msg_signature="forged"), "[" * 30000),
        ("/wecom/callback", query(msg_signature="forged"), deep_xml),
        ("/wechat/callback", query(), deep_xml),  # plain mode: signed, nested
        ("/wechat/callback", query(encrypt_type="aes", msg_signature="forged"), deep_xml),
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for path, params, body in requests:
            async with stack.session.post(stack.url(path), params=params, data=body) as response:
                assert response.status in (400, 403), (path, response.status)
                assert "Traceback" not in await response.text()
        # Nested inside a correctly signed and encrypted message too.
        status, _ = await post_bot_json(stack, "[" * 30000)
        assert status == 400
        safe = stack.citizen(mode="safe")
        assert (
            await safe.send_xml("<xml><a>x</a></xml>".replace("<a>x</a>", "<a>" * 900 + "x" + "</a>" * 900))
        ).status == 400
    assert not [record for record in caplog.records if record.exc_info]
    assert len(caplog.records) <= 10


async def test_a_code_followed_by_a_number_is_still_that_code(stack: Stack) -> None:
    """`MS… 3号楼门口也有` was read as a 12-digit code and answered as a typo."""
    citizen = stack.citizen()
    code = code_of(await citizen.text("o-code", "3号楼门口的路灯坏了"))
    answer = (await citizen.text("o-code", f"{code} 3号楼门口也有")).reply
    assert answer is not None
    assert code in answer["Content"]
    assert "校验" not in answer["Content"]
    assert "补充" in answer["Content"]  # the code with more to say: a follow-up stored on that case


async def test_a_retry_racing_its_dropped_original_still_gets_the_code_to_the_citizen(stack: Stack) -> None:
    """WeChat drops the original request and retries at once: the original, still being handled, carried
    the passive reply into the closed connection and the retry got an empty answer (13 of 50 codes lost)."""
    from bot.app import INBOX

    inbox = stack.app[INBOX]
    original_batch = inbox.batch_handler
    assert original_batch is not None
    gate = asyncio.Event()

    async def slow_batch(items: Any) -> Any:
        await gate.wait()
        return await original_batch(items)

    inbox.batch_handler = slow_batch
    impatient = stack.citizen(timeout_s=0.3, tries=1)  # gives up on the original, as WeChat does
    retrying = stack.citizen()
    openids = [f"o-race-{index}" for index in range(20)]
    originals = await asyncio.gather(
        *(impatient.text(openid, "小区路灯坏了", msg_id=86_000 + index) for index, openid in enumerate(openids))
    )
    assert all(result.timed_out for result in originals)
    retries = [
        asyncio.create_task(retrying.text(openid, "小区路灯坏了", msg_id=86_000 + index))
        for index, openid in enumerate(openids)
    ]
    await asyncio.sleep(0.1)
    gate.set()
    answers = await asyncio.gather(*retries)
    await stack.run_jobs()
    lost = []
    for openid, answer in zip(openids, answers, strict=True):
        (code,) = await Case.filter(citizen__openid=openid).values_list("code", flat=True)
        carried = answer.reply is not None and code in answer.reply["Content"]
        if not carried and not any(code in text for text in stack.texts_to(openid)):
            lost.append(openid)
    assert not lost

    # Both requests still open (a retry 0 ms after its original): the retry waits for the same answer,
    # and both carry the same passive reply.
    gate.clear()
    openids = [f"o-twin-{index}" for index in range(20)]
    sends = [retrying.text(openid, "公交站台遮雨棚破了", msg_id=87_000 + index) for index, openid in enumerate(openids)]
    sends += [
        retrying.text(openid, "公交站台遮雨棚破了", msg_id=87_000 + index) for index, openid in enumerate(openids)
    ]
    pending = asyncio.gather(*sends)
    await asyncio.sleep(0.2)
    gate.set()
    results = await pending
    for index, openid in enumerate(openids):
        (code,) = await Case.filter(citizen__openid=openid).values_list("code", flat=True)
        assert code_of(results[index]) == code_of(results[index + 20]) == code
