"""A mini-program front end for the tests: signs in with a demo wx.login code and calls /api/v1."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.harness import Stack

_logins = itertools.count(1)
LAMP = "小区门口路灯坏了一个月"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), self.body
        assert "error" in self.body, self.body
        return dict(self.body["error"])


async def call(
    stack: Stack,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Answer:
    assert stack.session is not None
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data = json.dumps(json_body, ensure_ascii=False).encode()
        sent.setdefault("Content-Type", "application/json")
    async with stack.session.request(method, stack.url("/api/v1" + path), data=data, headers=sent, params=params) as r:
        raw = await r.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        return Answer(r.status, body, dict(r.headers))


class MiniUser:
    """One mini-program citizen, by demo login name (the fake platform's "demo-<name>" codes)."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.stack = stack
        self.name = name
        self.token: str | None = None

    @property
    def openid(self) -> str:
        return self.stack.platform.mini_openid(self.name)

    async def sign_in(self) -> MiniUser:
        answer = await call(self.stack, "POST", "/session", json_body={"code": f"demo-{self.name}.{next(_logins)}"})
        assert answer.status == 201, answer.body
        self.token = answer.body["token"]
        return self

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        return await call(self.stack, method, path, token=self.token, **kwargs)

    async def file_case(self, text: str = LAMP, point: str = "hz-hospital-1", **fields: Any) -> Answer:
        headers = fields.pop("headers", None)
        body = {"contact_point": point, "text": text, **fields}
        return await self.request("POST", "/cases", json_body=body, headers=headers)

    async def new_case(self, text: str = LAMP, point: str = "hz-hospital-1") -> str:
        answer = await self.file_case(text, point)
        assert answer.status == 201, answer.body
        return str(answer.body["tracking_code"])

    async def upload(self, content: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg") -> Answer:
        form = aiohttp.FormData()
        form.add_field("file", content, filename=filename, content_type=content_type)
        return await self.request("POST", "/uploads", data=form)

    async def consent(self, *template_ids: str) -> Answer:
        return await self.request("POST", "/subscriptions", json_body={"accepted": list(template_ids)})


async def signed_in(stack: Stack, name: str) -> MiniUser:
    return await MiniUser(stack, name).sign_in()
