"""Idempotency-Key: a POST retried with the same key gets the first answer and does nothing again.

The answer is stored in the same transaction as what the request did (`IdempotentRequest`), so either
both exist or neither does. Two requests with one key at the same moment: the unique constraint lets
one commit; the other rolls back and answers what the first stored. The same key with a different body
is refused (422), as a client reusing a key by mistake must not get somebody else's answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from handlers.miniprogram.errors import invalid
from handlers.texts import miniprogram as texts
from models.after_commit import collecting, run_all
from models.entities import Citizen
from models.miniprogram import IdempotentRequest
from models.timeutil import now

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,100}")  # printable ASCII, no spaces

Answer = tuple[int, dict[str, Any]]


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not KEY.fullmatch(key):
        raise invalid(HEADER, texts.field_invalid(HEADER))
    return key


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def stored(citizen: Citizen, route: str, key: str, body: Any) -> Answer | None:
    """The answer stored for `key`, if any (422 when it was stored for another body)."""
    row = await IdempotentRequest.get_or_none(citizen=citizen, route=route, key=key)
    if row is None:
        return None
    if row.response.get("fingerprint") != fingerprint(body):
        raise invalid(HEADER, texts.IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
    return row.status, dict(row.response["body"])


async def once(
    citizen: Citizen, route: str, key: str | None, body: Any, action: Callable[[], Awaitable[Answer]]
) -> Answer:
    """Run `action` in one transaction (Redis updates after the commit), recording its answer under
    `key`; with a key already used, the stored answer instead."""
    print_ = fingerprint(body)
    if key is not None and (earlier := await stored(citizen, route, key, body)) is not None:
        return earlier
    try:
        with collecting() as deferred:
            async with in_transaction():
                status, answer = await action()
                if key is not None:
                    await IdempotentRequest.create(
                        citizen=citizen,
                        route=route,
                        key=key,
                        status=status,
                        response={"fingerprint": print_, "body": answer},
                        created_at=now(),
                    )
    except IntegrityError:
        if key is None:
            raise
        found = await stored(citizen, route, key, body)  # the same key committed first meanwhile
        if found is None:
            raise
        return found
    await run_all(deferred)
    return status, answer
