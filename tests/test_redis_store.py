import redis.asyncio as aioredis


async def test_redis_fixture_is_a_real_server(redis_client: aioredis.Redis) -> None:
    await redis_client.set("ms:probe", "1", px=5000)
    assert await redis_client.get("ms:probe") == b"1"
    assert 0 < await redis_client.pttl("ms:probe") <= 5000
