"""Issue 15: what a black-box attack found at the edge, each over real HTTP against the running service."""

from __future__ import annotations

import asyncio

from models.entities import InboundMessage
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
        writer.write(b"POST /wechat/callback?signature=x HTTP/1.1\r\nHost: mashang\r\nContent-Length: 200\r\n\r\n<xml>")
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
