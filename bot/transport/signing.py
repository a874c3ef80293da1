"""What the WeChat and WeCom callbacks share at the edge: signature checks (constant-time comparisons),
timestamps and nonces, and reading the body under a deadline."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, datetime

from aiohttp import web
from wechatpy.crypto import PrpCrypto


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_matches(expected_parts: tuple[str, ...], given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(sha1_signature(*expected_parts), given.lower())


# Unix seconds as WeChat writes them: ASCII digits, at most 12 (str.isdigit also takes "²" and
# other digits int() refuses, and a long enough number overflows datetime).
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def unix_time(value: object) -> datetime | None:
    """A callback's CreateTime / create_time / timestamp as an aware datetime; None if it is not one."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not _UNIX_SECONDS.fullmatch(text):
        return None
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):  # beyond what the platform's time functions take
        return None


# WeChat's nonce is a number of about ten digits, WeCom's a short string: printable ASCII, no spaces.
_NONCE = re.compile(r"[\x21-\x7e]{1,64}")


def nonce_ok(nonce: str | None) -> bool:
    """A callback's nonce is present and short (it is signed, and names the request in the replay guard)."""
    return bool(nonce) and _NONCE.fullmatch(nonce or "") is not None


def timestamp_fresh(timestamp: str | None, tolerance_s: float, now: float | None = None) -> bool:
    """WeChat's timestamp is real Unix time; a captured request replayed later falls outside the window."""
    if not timestamp or not _UNIX_SECONDS.fullmatch(timestamp):
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= tolerance_s


class QuickPrpCrypto(PrpCrypto):
    """wechatpy's AES framing for safe-mode messages, with the 16-byte random prefix from `secrets`:
    wechatpy draws it with random.sample one letter at a time, a third of the cost of encrypting a
    reply (the receiver discards these bytes; any 16 random ASCII bytes are valid)."""

    def get_random_string(self) -> str:
        return secrets.token_hex(8)


async def read_body(request: web.Request, timeout_s: float) -> bytes:
    """The request body, read within `timeout_s` or 408: a body trickling in byte by byte would hold its
    handler for as long as the client likes. A callback's body usually came whole with its headers: then
    no timer is set. Past `client_max_size` aiohttp answers 413."""
    if request.content.is_eof():
        return await request.read()
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text="request body not received in time", headers={"Connection": "close"}
        ) from None
