"""Async outbound clients for the WeChat official account, the mini-program and WeCom.

All calls go through aiohttp with a timeout. Access tokens live in Redis so that every process
shares one token, and a Redis lock makes sure only one process fetches a new token at a time.
A token error (40001/40014/42001) drops the cached token, refreshes it once and retries the call
once; a second token error is raised, never looped on.

wechatpy's clients are blocking (requests) and retry token errors without limit, so they are not
used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis

TOKEN_INVALID_CODES = frozenset({40001, 40014, 42001})
# Customer-service sends outside the window: 45015 past 48 h, 45047 more than the allowed count.
CS_WINDOW_CODES = frozenset({45015, 45047})

DEFAULT_WECHAT_BASE_URL = "https://api.weixin.qq.com"
DEFAULT_WECOM_BASE_URL = "https://qyapi.weixin.qq.com"

T = TypeVar("T")


class WeChatAPIError(Exception):
    """WeChat (or WeCom) answered with errcode != 0."""

    def __init__(self, errcode: int, errmsg: str, api: str) -> None:
        super().__init__(f"{api}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api

    @property
    def token_invalid(self) -> bool:
        return self.errcode in TOKEN_INVALID_CODES

    @property
    def out_of_window(self) -> bool:
        """The customer-service window is closed: fall back to a template or subscription message."""
        return self.errcode in CS_WINDOW_CODES

    @property
    def retriable(self) -> bool:
        """-1 is WeChat's "system busy": worth trying again later."""
        return self.errcode == -1


class WeChatUnavailable(Exception):
    """Network error, timeout, HTTP 5xx or an unparseable answer: retry later."""


# Release or delete a key only when it still holds the value we put there.
_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


TokenFetcher = Callable[[bool], Awaitable[tuple[str, int]]]


class TokenCache:
    """Access tokens in Redis under `<prefix>token:<id>`, one refresher at a time across processes.

    A refresher holds `<prefix>token-lock:<id>` (SET NX PX with a random owner value); the others poll
    the cache until the new token appears, the lock disappears (then they try to take it) or
    `wait_s` passes (then WeChatUnavailable).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        key_prefix: str = "ms:",
        *,
        lock_ttl_s: float = 15.0,
        wait_s: float = 10.0,
        poll_interval_s: float = 0.05,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._wait_s = wait_s
        self._poll_s = poll_interval_s

    def key(self, ident: str) -> str:
        return f"{self._prefix}token:{ident}"

    def _lock_key(self, ident: str) -> str:
        return f"{self._prefix}token-lock:{ident}"

    async def get(self, ident: str) -> str | None:
        return _text(await self._redis.get(self.key(ident)))

    async def put(self, ident: str, token: str, expires_in: int) -> None:
        # Keep a margin so a token is never used in its last minutes (WeChat may expire it early).
        ttl = max(1, expires_in - min(300, expires_in // 5))
        await self._redis.set(self.key(ident), token, ex=ttl)

    async def invalidate(self, ident: str, token: str) -> bool:
        """Drop the cached token only if it is still `token` (another process may have refreshed it)."""
        return bool(await self._redis.eval(_COMPARE_AND_DELETE, 1, self.key(ident), token))

    async def get_or_fetch(self, ident: str, fetch: TokenFetcher, *, bad_token: str | None = None) -> str:
        """The cached token, or a fresh one from `fetch(force)`.

        `bad_token`: a token WeChat just rejected; it is dropped and never returned, and the
        refresh is forced (stable_token force_refresh=true).
        """
        force = bad_token is not None
        if bad_token is not None:
            await self.invalidate(ident, bad_token)
        cached = await self.get(ident)
        if cached is not None and cached != bad_token:
            return cached
        lock_key = self._lock_key(ident)
        owner = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        while True:
            if await self._redis.set(lock_key, owner, nx=True, px=self._lock_ttl_ms):
                try:
                    # Double check: the previous lock holder may have stored a token meanwhile.
                    cached = await self.get(ident)
                    if cached is not None and cached != bad_token:
                        return cached
                    token, expires_in = await fetch(force)
                    await self.put(ident, token, expires_in)
                    return token
                finally:
                    with contextlib.suppress(aioredis.RedisError):
                        await self._redis.eval(_COMPARE_AND_DELETE, 1, lock_key, owner)
            while True:
                if loop.time() >= deadline:
                    raise WeChatUnavailable(f"timed out waiting for another process to refresh token {ident}")
                await asyncio.sleep(self._poll_s)
                cached = await self.get(ident)
                if cached is not None and cached != bad_token:
                    return cached
                if not await self._redis.exists(lock_key):
                    break  # the holder gave up or died: try to take the lock


class _BaseClient:
    """Token handling and the HTTP/JSON call shared by the three clients."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        *,
        ident: str,
        base_url: str,
        timeout_s: float,
        key_prefix: str,
    ) -> None:
        self._session = session
        self._ident = ident
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.tokens = TokenCache(redis, key_prefix)

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        raise NotImplementedError

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """The cached access token; `force_refresh` replaces the cached one with a new one."""
        try:
            bad = None
            if force_refresh:
                bad = await self.tokens.get(self._ident) or ""
            return await self.tokens.get_or_fetch(self._ident, self._fetch_token, bad_token=bad)
        except aioredis.RedisError as exc:
            raise WeChatUnavailable(f"token cache: {type(exc).__name__}") from exc

    async def _refresh_after_error(self, bad_token: str) -> str:
        try:
            return await self.tokens.get_or_fetch(self._ident, self._fetch_token, bad_token=bad_token)
        except aioredis.RedisError as exc:
            raise WeChatUnavailable(f"token cache: {type(exc).__name__}") from exc

    async def _with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call(token)`; on a token error refresh once and retry once."""
        token = await self.access_token()
        try:
            return await call(token)
        except WeChatAPIError as exc:
            if not exc.token_invalid:
                raise
        token = await self._refresh_after_error(token)
        return await call(token)  # a second token error propagates

    async def _http(
        self,
        method: str,
        url: str,
        api: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[bytes, str]:
        """(body, content type); transport failures and HTTP errors mapped to our exceptions."""
        data = None
        headers = None
        if json_body is not None:
            # ensure_ascii=False: WeChat shows \\uXXXX escapes literally in some message types.
            data = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self._session.request(
                method, url, params=params, data=data, headers=headers, timeout=self._timeout
            ) as resp:
                body = await resp.read()
                status = resp.status
                content_type = resp.content_type
        except TimeoutError as exc:
            raise WeChatUnavailable(f"{api}: timeout") from exc
        except aiohttp.ClientError as exc:
            # The exception text may contain the URL with the access token: keep only its type.
            raise WeChatUnavailable(f"{api}: {type(exc).__name__}") from exc
        if status >= 500 or status == 429:
            raise WeChatUnavailable(f"{api}: HTTP {status}")
        if status >= 400:
            raise WeChatAPIError(-status, f"HTTP {status}", api)
        return body, content_type

    @staticmethod
    def _parse_json(body: bytes, api: str) -> dict[str, Any]:
        try:
            result = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WeChatUnavailable(f"{api}: answer is not JSON") from exc
        if not isinstance(result, dict):
            raise WeChatUnavailable(f"{api}: answer is not a JSON object")
        errcode = result.get("errcode", 0)
        if errcode not in (0, None):
            raise WeChatAPIError(int(errcode), str(result.get("errmsg", "")), api)
        return result

    async def _call(
        self,
        method: str,
        api: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        url: str | None = None,
    ) -> dict[str, Any]:
        """One JSON call without an access token (token endpoints, webhooks, jscode2session)."""
        body, _ = await self._http(method, url or self._base_url + api, api, params=params, json_body=json_body)
        return self._parse_json(body, api)

    async def _token_call(
        self,
        method: str,
        api: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> dict[str, Any]:
        """One JSON call with `access_token` in the query, with the token-error retry."""

        async def call(token: str) -> dict[str, Any]:
            return await self._call(method, api, params={**(params or {}), "access_token": token}, json_body=json_body)

        return await self._with_token(call)

    async def _token_binary_call(
        self,
        method: str,
        api: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[bytes, str]:
        """A call answering with a file, or with JSON when it fails."""

        async def call(token: str) -> tuple[bytes, str]:
            body, content_type = await self._http(
                method,
                self._base_url + api,
                api,
                params={**(params or {}), "access_token": token},
                json_body=json_body,
            )
            if content_type in ("application/json", "text/plain") or body[:1] == b"{":
                try:
                    result = json.loads(body)
                except (UnicodeDecodeError, ValueError):
                    result = None
                if isinstance(result, dict):
                    self._parse_json(body, api)  # raises on errcode != 0
                    video_url = result.get("video_url")
                    if isinstance(video_url, str) and video_url:
                        # Video media answers with a download URL instead of the file.
                        return await self._http("GET", video_url, api)
                    raise WeChatUnavailable(f"{api}: JSON answer instead of a file")
            return body, content_type

        return await self._with_token(call)


def _template_data(data: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {key: {"value": value} for key, value in data.items()}


class _StableTokenClient(_BaseClient):
    """Official account and mini-program: tokens from cgi-bin/stable_token (no invalidation races)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        *,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_WECHAT_BASE_URL,
        timeout_s: float = 10.0,
        key_prefix: str = "ms:",
    ) -> None:
        super().__init__(session, redis, ident=app_id, base_url=base_url, timeout_s=timeout_s, key_prefix=key_prefix)
        self.app_id = app_id
        self._app_secret = app_secret

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        result = await self._call(
            "POST",
            "/cgi-bin/stable_token",
            json_body={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._app_secret,
                "force_refresh": force,
            },
        )
        return _token_from(result, "/cgi-bin/stable_token")


def _token_from(result: Mapping[str, Any], api: str) -> tuple[str, int]:
    token = result.get("access_token")
    if not isinstance(token, str) or not token:
        raise WeChatUnavailable(f"{api}: no access_token in the answer")
    return token, int(result.get("expires_in", 7200))


class WeChatClient(_StableTokenClient):
    """Official account (公众号)."""

    async def send_custom_text(self, openid: str, text: str) -> None:
        """Customer-service message; WeChatAPIError.out_of_window when the 48 h window is closed."""
        await self._token_call(
            "POST",
            "/cgi-bin/message/custom/send",
            json_body={"touser": openid, "msgtype": "text", "text": {"content": text}},
        )

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str], url: str | None = None
    ) -> int:
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _template_data(data)}
        if url:
            body["url"] = url
        result = await self._token_call("POST", "/cgi-bin/message/template/send", json_body=body)
        return int(result.get("msgid", 0))

    async def user_info(self, openid: str) -> dict[str, Any]:
        """A follower's profile (cgi-bin/user/info): `unionid` is there when the account is bound to an
        Open Platform account, `subscribe` 0 when the user does not follow (then nothing else is)."""
        return await self._token_call(
            "GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"}
        )

    async def get_media(self, media_id: str) -> tuple[bytes, str]:
        """(content, content type) of a temporary media file (images, voice) sent by a user."""
        return await self._token_binary_call("GET", "/cgi-bin/media/get", params={"media_id": media_id})

    async def create_qrcode(self, scene_str: str, expire_seconds: int | None = None) -> dict[str, Any]:
        """Permanent code (QR_LIMIT_STR_SCENE) when `expire_seconds` is None, else a temporary one."""
        if not 1 <= len(scene_str) <= 64:
            raise ValueError("scene_str must be 1 to 64 characters")
        body: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
        if expire_seconds is None:
            body["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            if not 1 <= expire_seconds <= 2_592_000:
                raise ValueError("expire_seconds must be 1 to 2592000")
            body["action_name"] = "QR_STR_SCENE"
            body["expire_seconds"] = expire_seconds
        result = await self._token_call("POST", "/cgi-bin/qrcode/create", json_body=body)
        return {key: result[key] for key in ("ticket", "url", "expire_seconds") if key in result}


class MiniProgramClient(_StableTokenClient):
    """Mini-program (小程序); its own app_id and token."""

    async def get_unlimited_code(self, scene: str, page: str, width: int = 430, check_path: bool = False) -> bytes:
        """The image (JPEG, as WeChat sends it) of a mini-program code opening `page` with `scene` (≤ 32 chars)."""
        body, _ = await self._token_binary_call(
            "POST",
            "/wxa/getwxacodeunlimit",
            json_body={"scene": scene, "page": page, "width": width, "check_path": check_path},
        )
        return body

    async def code_to_session(self, js_code: str) -> dict[str, Any]:
        """openid, session_key and (when bound to an Open Platform account) unionid."""
        result = await self._call(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.app_id,
                "secret": self._app_secret,
                "js_code": js_code,
                "grant_type": "authorization_code",
            },
        )
        return {key: result[key] for key in ("openid", "session_key", "unionid") if key in result}

    async def get_phone_number(self, code: str) -> str:
        """The phone number behind a getPhoneNumber button's `code` (one use; 40029 when invalid)."""
        result = await self._token_call("POST", "/wxa/business/getuserphonenumber", json_body={"code": code})
        info = result.get("phone_info")
        number = info.get("purePhoneNumber") or info.get("phoneNumber") if isinstance(info, dict) else None
        if not isinstance(number, str) or not number:
            raise WeChatUnavailable("/wxa/business/getuserphonenumber: no phone_info in the answer")
        return number

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> None:
        """Needs a consent left for (openid, template); else WeChatAPIError 43101."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _template_data(data)}
        if page:
            body["page"] = page
        await self._token_call("POST", "/cgi-bin/message/subscribe/send", json_body=body)


class WeComClient(_BaseClient):
    """WeCom (企业微信) self-built app, group robot webhooks and smart-bot response URLs."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        *,
        corp_id: str,
        secret: str,
        agent_id: int,
        base_url: str = DEFAULT_WECOM_BASE_URL,
        timeout_s: float = 10.0,
        key_prefix: str = "ms:",
    ) -> None:
        super().__init__(session, redis, ident=corp_id, base_url=base_url, timeout_s=timeout_s, key_prefix=key_prefix)
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._secret = secret

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        result = await self._call(
            "GET", "/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
        )
        return _token_from(result, "/cgi-bin/gettoken")

    async def _send(self, userid: str, msgtype: str, content: str) -> None:
        await self._token_call(
            "POST",
            "/cgi-bin/message/send",
            json_body={
                "touser": userid,
                "msgtype": msgtype,
                "agentid": self.agent_id,
                msgtype: {"content": content},
            },
        )

    async def send_text(self, userid: str, text: str) -> None:
        await self._send(userid, "text", text)

    async def send_markdown(self, userid: str, markdown: str) -> None:
        await self._send(userid, "markdown", markdown)

    async def appchat_send_markdown(self, chat_id: str, markdown: str) -> None:
        """To a group chat created through appchat/create."""
        await self._token_call(
            "POST",
            "/cgi-bin/appchat/send",
            json_body={"chatid": chat_id, "msgtype": "markdown", "markdown": {"content": markdown}},
        )

    async def webhook_send_markdown(self, key: str, markdown: str) -> None:
        """Group robot webhook: no access token, about 20 messages a minute."""
        await self._call(
            "POST",
            "/cgi-bin/webhook/send",
            params={"key": key},
            json_body={"msgtype": "markdown", "markdown": {"content": markdown}},
        )

    async def post_response_url(self, response_url: str, payload: Mapping[str, Any]) -> None:
        """Smart-bot answer through the callback's response_url (valid 1 h, usable once)."""
        await self._call("POST", "/cgi-bin/aibot/response", url=response_url, json_body=dict(payload))
