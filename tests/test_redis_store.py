import redis.asyncio as aioredis


async def test_redis_fixture_is_a_real_server(redis_client: aioredis.Redis) -> None:
    await redis_client.set("ms:probe", "1", px=5000)
    assert await redis_client.get("ms:probe") == b"1"
    assert 0 < await redis_client.pttl("ms:probe") <= 5000


async def test_a_second_embedded_start_shares_the_running_server(tmp_path) -> None:
    from bot.redis_store import EmbeddedRedis, connect

    first = EmbeddedRedis(tmp_path, persistent=False)
    await first.start()
    client = connect(first.url)
    try:
        await client.set("ms:shared", "yes")
        second = EmbeddedRedis(tmp_path, persistent=False)
        await second.start()  # must not replace the socket of the running server
        await second.stop()  # and must not stop a server it did not start
        assert await client.get("ms:shared") == b"yes"
    finally:
        await client.aclose()
        await first.stop()
