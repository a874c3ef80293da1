"""A staff member's browser on the web console, over HTTP (cookies, the forms' CSRF tokens)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from handlers.admin import accounts
from tests.harness import Stack

PASSWORD = "demo password 1"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


class ConsoleClient:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        # unsafe: keep cookies of 127.0.0.1 (aiohttp's jar refuses IP hosts otherwise)
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(self.stack.url(path), allow_redirects=kwargs.pop("follow", True), **kwargs) as r:
            return r.status, await r.text()

    async def post(self, path: str, data: dict[str, str], follow: bool = True) -> tuple[int, str]:
        async with self.http.post(self.stack.url(path), data=data, allow_redirects=follow) as r:
            return r.status, await r.text()

    async def login(self, key: str, password: str = PASSWORD) -> tuple[int, str]:
        status, page = await self.get("/console/login")
        assert status == 200, page
        return await self.post("/console/login", {"username": key, "password": password, "csrf": csrf_of(page)})

    async def act(self, code: str, action: str, **fields: str) -> tuple[int, str]:
        status, page = await self.get(f"/console/cases/{code}")
        assert status == 200, page
        return await self.post(f"/console/cases/{code}/{action}", {"csrf": csrf_of(page), **fields})


async def with_password(key: str, password: str = PASSWORD) -> None:
    await accounts.set_password(key, password)


def tiny_png() -> bytes:
    """A 40×30 PNG, a citizen's photo."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (180, 35, 42)).save(buffer, "PNG")
    return buffer.getvalue()
