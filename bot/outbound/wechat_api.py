"""Async outbound clients for the WeChat official account, the mini-program and WeCom.

All calls go through aiohttp with a timeout. Access tokens live in Redis so that every process
shares one token, and a Redis lock makes sure only one process fetches a new token at a time.

A token error on a call (WeChat 40001/40014/42001, WeCom 40014/42001) is handled without fighting
the other systems that share the AppID:

1. the rejected token is dropped and the token is fetched again in normal mode (stable_token with
   `force_refresh: false`, WeCom gettoken); when that gives a different token (someone rotated it),
   the call is retried once with it;
2. when normal mode hands back the very token that was just rejected, nothing is forced the first
   time: the call fails with `TokenRejected` ("retry later"; the job tries again), and for the next
   5 s no process asks the token endpoint about that token again;
3. only when the same token is still rejected on a later try (at least `confirm_s` after it was first
   rejected) does the official account or mini-program force a refresh (`force_refresh: true`), at most
   once per 30 s and `max_forced_per_day` times a Beijing day for all our processes (counted in Redis),
   far below WeChat's 20. WeCom has no forced mode: its gettoken returns the current token while it is
   valid and a new one once WeCom expired it, so WeCom only ever refetches (once per rejected call).

A second token error after the bounded refresh is `TokenRejected`, never a loop and never a dead job.

Sources: getStableAccessToken (developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken):
normal mode does not change the token while it is valid and renews it in its last 5 minutes with a
5-minute overlap; "强制刷新模式每天限用 20 次且需间隔 30 秒" and a forced refresh invalidates the token for
every other caller. WeCom gettoken (developer.work.weixin.qq.com/document/path/91039): "有效期内重复获取返回
相同结果，过期后获取会返回新的access_token", and WeCom may expire a token early. wechatpy's clients
(wechatpy/client/base.py `_handle_result`) refetch and retry on these codes without any bound and are
blocking (requests), so they are not used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis

log = logging.getLogger(__name__)

# 40001 invalid credential (or not the latest token), 40014 invalid access_token, 42001 expired.
TOKEN_INVALID_CODES = frozenset({40001, 40014, 42001})
# WeCom answers a call with 40014 or 42001; its 40001 means a bad secret (at gettoken), not a token error.
WECOM_TOKEN_INVALID_CODES = frozenset({40014, 42001})
FORCE_GAP_S = 30.0  # WeChat: forced refreshes at least 30 s apart (closer ones do not refresh)
WECHAT_FORCED_PER_DAY = 20  # WeChat's own daily cap on forced refreshes
DEFAULT_MAX_FORCED_PER_DAY = 10  # ours: half of it, so that other systems sharing the AppID keep some
CONFIRM_REJECTION_S = 5.0  # a token rejected this long after its first rejection is really bad
REFETCH_GAP_S = 5.0  # once normal mode handed back a rejected token, no refetch of it for this long
BEIJING_OFFSET_S = 8 * 3600  # WeChat's quota day is Beijing's calendar day
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
    def out_of_window(self) -> bool:
        """The customer-service window is closed: fall back to a template or subscription message."""
        return self.errcode in CS_WINDOW_CODES

    @property
    def retriable(self) -> bool:
        """-1 is WeChat's "system busy": worth trying again later."""
        return self.errcode == -1


class WeChatUnavailable(Exception):
    """Network error, timeout, HTTP 5xx or an unparseable answer: retry later."""


class OutcomeUnknown(WeChatUnavailable):
    """The request went out and no answer came in time: it may have been carried out (a message sent)."""


class TokenRejected(WeChatUnavailable):
    """The platform keeps rejecting our access token after the bounded refresh: retry the call later.

    `retry_after_s` (real seconds) says when a new try can do more than the last one (the 30 s gap
    between forced refreshes, the confirmation delay, the next Beijing day when the daily cap is used).
    """

    def __init__(self, message: str, *, errcode: int | None = None, retry_after_s: float = FORCE_GAP_S) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.retry_after_s = retry_after_s


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


def _digest(token: str) -> str:
    """A token's name in Redis keys and logs (the token itself is a credential)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenCache:
    """Access tokens in Redis under `<prefix>token:<id>`, one refresher at a time across processes.

    A refresher holds `<prefix>token-lock:<id>` (SET NX PX with a random owner value); the others poll
    the cache until a usable token appears, the lock disappears (then they try to take it) or
    `wait_s` passes (then WeChatUnavailable).

    Besides the token: `token-rejected:<id>:<digest>` (when a token was first rejected),
    `token-stuck:<id>:<digest>` (normal mode handed that rejected token back in the last `refetch_gap_s`:
    the processes do not all ask again), `token-force-gap:<id>` (a forced refresh in the last 30 s) and
    `token-forced:<id>:<yyyymmdd>` (forced refreshes this Beijing day), shared by every process.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        key_prefix: str = "ms:",
        *,
        lock_ttl_s: float = 15.0,
        wait_s: float = 10.0,
        poll_interval_s: float = 0.05,
        max_forced_per_day: int = DEFAULT_MAX_FORCED_PER_DAY,
        force_gap_s: float = FORCE_GAP_S,
        confirm_s: float = CONFIRM_REJECTION_S,
        refetch_gap_s: float = REFETCH_GAP_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= max_forced_per_day <= WECHAT_FORCED_PER_DAY:
            raise ValueError(f"max_forced_per_day must be 0 to {WECHAT_FORCED_PER_DAY}")
        self._redis = redis
        self._prefix = key_prefix
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._wait_s = wait_s
        self._poll_s = poll_interval_s
        self.max_forced_per_day = max_forced_per_day
        self.force_gap_s = force_gap_s
        self.confirm_s = confirm_s
        self.refetch_gap_s = refetch_gap_s
        self.clock = clock
        self._cap_logged: set[str] = set()

    def key(self, ident: str) -> str:
        return f"{self._prefix}token:{ident}"

    def _lock_key(self, ident: str) -> str:
        return f"{self._prefix}token-lock:{ident}"

    def _rejected_key(self, ident: str, token: str) -> str:
        return f"{self._prefix}token-rejected:{ident}:{_digest(token)}"

    def _stuck_key(self, ident: str, token: str) -> str:
        return f"{self._prefix}token-stuck:{ident}:{_digest(token)}"

    def _gap_key(self, ident: str) -> str:
        return f"{self._prefix}token-force-gap:{ident}"

    def _forced_key(self, ident: str) -> str:
        day = time.strftime("%Y%m%d", time.gmtime(self.clock() + BEIJING_OFFSET_S))
        return f"{self._prefix}token-forced:{ident}:{day}"

    def _seconds_to_beijing_midnight(self) -> float:
        return 86400.0 - (self.clock() + BEIJING_OFFSET_S) % 86400.0

    async def get(self, ident: str) -> str | None:
        return _text(await self._redis.get(self.key(ident)))

    async def put(self, ident: str, token: str, expires_in: int) -> None:
        # Keep a margin so a token is never used in its last minutes: stable_token renews it in its last
        # 5 minutes, so a fetch after the margin gets the next one while the old one still works.
        ttl = max(1, expires_in - min(300, expires_in // 5))
        await self._redis.set(self.key(ident), token, ex=ttl)

    async def invalidate(self, ident: str, token: str) -> bool:
        """Drop the cached token only if it is still `token` (another process may have refreshed it)."""
        return bool(await self._redis.eval(_COMPARE_AND_DELETE, 1, self.key(ident), token))

    async def forced_today(self, ident: str) -> int:
        """Forced refreshes of `ident` this Beijing day, by any of our processes."""
        return int(_text(await self._redis.get(self._forced_key(ident))) or 0)

    async def get_or_fetch(self, ident: str, fetch: TokenFetcher) -> str:
        """The cached token, or one fetched in normal mode (`fetch(False)`)."""
        cached = await self.get(ident)
        if cached is not None:
            return cached

        async def normal() -> str:
            token, expires_in = await fetch(False)
            await self.put(ident, token, expires_in)
            return token

        return await self._locked(ident, None, normal)

    async def note_rejected(self, ident: str, token: str) -> float:
        """Remember that the platform rejected `token`; returns when it was first rejected."""
        key = self._rejected_key(ident, token)
        moment = self.clock()
        await self._redis.set(key, repr(moment), nx=True, ex=7200)
        first = _text(await self._redis.get(key))
        try:
            return float(first) if first is not None else moment
        except ValueError:
            return moment

    async def after_rejection(self, ident: str, bad_token: str, fetch: TokenFetcher, *, can_force: bool) -> str:
        """A token to use instead of `bad_token`, which the platform just rejected.

        Normal mode first; a forced refresh only for a token that normal mode still hands out and that
        was already rejected `confirm_s` ago or more, within the 30 s gap and the daily cap. Raises
        TokenRejected when no other token can be had now.
        """
        first_rejected = await self.note_rejected(ident, bad_token)

        async def refresh() -> str:
            waited = self.clock() - first_rejected
            may_force = can_force and waited >= self.confirm_s
            stuck_key = self._stuck_key(ident, bad_token)
            if not may_force and await self._redis.exists(stuck_key):
                # Normal mode handed this very token back a moment ago: asking again so soon only burns
                # quota (WeCom blocks frequent gettoken calls).
                raise TokenRejected(f"{ident}: the token endpoint handed back the rejected token moments ago")
            await self.invalidate(ident, bad_token)  # should the fetch fail, the next call fetches afresh
            token, expires_in = await fetch(False)
            await self.put(ident, token, expires_in)  # normal mode's answer is the platform's current token
            if token != bad_token:
                return token  # rotated (by WeChat, WeCom or another system sharing the AppID)
            await self._redis.set(stuck_key, "1", px=max(1, int(self.refetch_gap_s * 1000)))
            if not can_force:
                raise TokenRejected(f"{ident}: gettoken still returns the token just rejected")
            if not may_force:
                # The first failure of this token: never force on it (it may be a blip, and a forced
                # refresh knocks out every other system using the AppID).
                raise TokenRejected(
                    f"{ident}: stable_token returned the token just rejected; not forcing on a first failure",
                    retry_after_s=max(self.confirm_s - waited, 1.0),
                )
            await self._take_force(ident)
            token, expires_in = await fetch(True)
            if token == bad_token:  # within 30 s of another system's forced refresh WeChat does not refresh
                raise TokenRejected(f"{ident}: a forced refresh returned the rejected token")
            await self.put(ident, token, expires_in)
            return token

        return await self._locked(ident, bad_token, refresh)

    async def _take_force(self, ident: str) -> None:
        """Count a forced refresh now (under the token lock), or raise TokenRejected when none is allowed."""
        forced = await self.forced_today(ident)
        if forced >= self.max_forced_per_day:
            day_key = self._forced_key(ident)
            if day_key not in self._cap_logged:  # once a day per process, not at every try of every job
                self._cap_logged.add(day_key)
                log.error(
                    "token of %s: still rejected, and the %d forced refreshes of today are used; waiting for tomorrow",
                    ident,
                    self.max_forced_per_day,
                )
            raise TokenRejected(
                f"{ident}: daily cap of {self.max_forced_per_day} forced token refreshes reached",
                retry_after_s=min(self._seconds_to_beijing_midnight(), 3600.0),
            )
        gap_ms = max(1, int(self.force_gap_s * 1000))
        if not await self._redis.set(self._gap_key(ident), "1", nx=True, px=gap_ms):
            left_ms = await self._redis.pttl(self._gap_key(ident))
            raise TokenRejected(
                f"{ident}: a token was force-refreshed less than {self.force_gap_s:g} s ago",
                retry_after_s=max(0.1, (left_ms if left_ms > 0 else gap_ms) / 1000.0),
            )
        key = self._forced_key(ident)
        count = await self._redis.incr(key)
        await self._redis.expire(key, 2 * 86400)
        log.warning(
            "token of %s: rejected twice and still handed out; forced refresh %d of %d today",
            ident,
            count,
            self.max_forced_per_day,
        )

    async def _locked(self, ident: str, bad_token: str | None, produce: Callable[[], Awaitable[str]]) -> str:
        """A cached token other than `bad_token`, or `produce()` run while holding the lock."""
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
                    return await produce()
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

    token_codes: frozenset[int] = TOKEN_INVALID_CODES  # errcodes of a call that mean "token rejected"
    can_force_refresh = False  # whether the token endpoint has a forced mode (stable_token)

    def __init__(
        self,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        *,
        ident: str,
        base_url: str,
        timeout_s: float,
        key_prefix: str,
        max_forced_refreshes_per_day: int = DEFAULT_MAX_FORCED_PER_DAY,
    ) -> None:
        self._session = session
        self._ident = ident
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.tokens = TokenCache(redis, key_prefix, max_forced_per_day=max_forced_refreshes_per_day)

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        raise NotImplementedError

    async def access_token(self) -> str:
        """The cached access token, or one fetched in normal mode."""
        try:
            return await self.tokens.get_or_fetch(self._ident, self._fetch_token)
        except aioredis.RedisError as exc:
            raise WeChatUnavailable(f"token cache: {type(exc).__name__}") from exc

    async def _token_after_rejection(self, bad_token: str) -> str:
        try:
            return await self.tokens.after_rejection(
                self._ident, bad_token, self._fetch_token, can_force=self.can_force_refresh
            )
        except aioredis.RedisError as exc:
            raise WeChatUnavailable(f"token cache: {type(exc).__name__}") from exc

    async def _with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call(token)`; on a token error get another token once and retry once (module docstring)."""
        token = await self.access_token()
        try:
            return await call(token)
        except WeChatAPIError as exc:
            if exc.errcode not in self.token_codes:
                raise
        token = await self._token_after_rejection(token)
        try:
            return await call(token)
        except WeChatAPIError as exc:
            if exc.errcode not in self.token_codes:
                raise
            try:  # remembered, so that a later try may force a refresh if normal mode keeps handing it out
                await self.tokens.note_rejected(self._ident, token)
            except aioredis.RedisError:
                pass
            raise TokenRejected(
                f"{exc.api}: errcode {exc.errcode} again with a fresh token", errcode=exc.errcode
            ) from exc

    async def _http(
        self,
        method: str,
        url: str,
        api: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        upload: Upload | None = None,
    ) -> tuple[bytes, str]:
        """(body, content type); transport failures and HTTP errors mapped to our exceptions."""
        data: Any = None
        headers = None
        if upload is not None:  # multipart/form-data, made anew for each try (a FormData is sent once)
            # quote_fields=False: the file name as UTF-8, as browsers send it; aiohttp's default percent-encodes
            # it, and WeCom shows a file message's name as the upload's filename says, %E7%A4%BE… and all.
            form = aiohttp.FormData(quote_fields=False)
            form.add_field(upload.field, upload.data, filename=upload.filename, content_type=upload.content_type)
            data = form
        elif json_body is not None:
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
            raise OutcomeUnknown(f"{api}: timeout") from exc
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
        upload: Upload | None = None,
    ) -> dict[str, Any]:
        """One JSON call without an access token (token endpoints, webhooks, jscode2session)."""
        body, _ = await self._http(
            method, url or self._base_url + api, api, params=params, json_body=json_body, upload=upload
        )
        return self._parse_json(body, api)

    async def _token_call(
        self,
        method: str,
        api: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        upload: Upload | None = None,
    ) -> dict[str, Any]:
        """One JSON call with `access_token` in the query, with the token-error retry."""

        async def call(token: str) -> dict[str, Any]:
            return await self._call(
                method, api, params={**(params or {}), "access_token": token}, json_body=json_body, upload=upload
            )

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
    """Official account and mini-program: tokens from cgi-bin/stable_token.

    Normal mode hands every caller of the AppID the same token, so other systems sharing it are not
    knocked out; a forced refresh (which would) only under the rules of the module docstring.
    """

    can_force_refresh = True

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
        max_forced_refreshes_per_day: int = DEFAULT_MAX_FORCED_PER_DAY,
    ) -> None:
        super().__init__(
            session,
            redis,
            ident=app_id,
            base_url=base_url,
            timeout_s=timeout_s,
            key_prefix=key_prefix,
            max_forced_refreshes_per_day=max_forced_refreshes_per_day,
        )
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
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        url: str | None = None,
        *,
        miniprogram: Mapping[str, str] | None = None,
        client_msg_id: str | None = None,
    ) -> int:
        """A template message; its msgid. `client_msg_id`: WeChat refuses a second send with the same id
        (within 24 h), so a retry after a crash between the send and our bookkeeping sends nothing twice."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _template_data(data)}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = dict(miniprogram)
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        result = await self._token_call("POST", "/cgi-bin/message/template/send", json_body=body)
        return int(result.get("msgid", 0))

    async def send_subscription_notice(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        page: str | None = None,
        miniprogram: Mapping[str, str] | None = None,
    ) -> None:
        """A subscription notice (订阅通知, cgi-bin/message/subscribe/bizsend), the service account's
        successor of template messages: `page` is the web page it opens; 43101 when the user has no
        subscription to it (a one-time one used up, or never given)."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _template_data(data)}
        if page:
            body["page"] = page
        if miniprogram:
            body["miniprogram"] = dict(miniprogram)
        await self._token_call("POST", "/cgi-bin/message/subscribe/bizsend", json_body=body)

    async def user_info(self, openid: str) -> dict[str, Any]:
        """A follower's profile (cgi-bin/user/info): `unionid` is there when the account is bound to an
        Open Platform account, `subscribe` 0 when the user does not follow (then nothing else is)."""
        return await self._token_call("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"})

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


SEC_CHECK_SCENE = 2  # 评论: an opinion is a comment on a topic someone posted


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

    async def msg_sec_check(self, openid: str, content: str, scene: int = SEC_CHECK_SCENE) -> dict[str, Any]:
        """WeChat's text check, version 2 (wxa/msg_sec_check): {"suggest": pass|review|risky, "label",
        "trace_id"}. `openid` is the author's, who must have opened the mini-program in the last two hours.

        Source: developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/sec-center/sec-check/msgSecCheck.html
        (version 2; scene 1 资料, 2 评论, 3 论坛, 4 社交日志; result.suggest and result.label)."""
        body = {"content": content, "version": 2, "scene": scene, "openid": openid}
        result = await self._token_call("POST", "/wxa/msg_sec_check", json_body=body)
        verdict = result.get("result")
        suggest = verdict.get("suggest") if isinstance(verdict, dict) else None
        if suggest not in ("pass", "review", "risky"):
            raise WeChatUnavailable("/wxa/msg_sec_check: no result.suggest in the answer")
        label = verdict.get("label") if isinstance(verdict, dict) else None
        return {
            "suggest": suggest,
            "label": label if isinstance(label, int) else 0,
            "trace_id": str(result.get("trace_id") or "")[:64],
        }

    async def media_check_async(self, openid: str, media_url: str, scene: int = SEC_CHECK_SCENE) -> str:
        """Ask for WeChat's image check (wxa/media_check_async, version 2, media_type 2 = image): the
        trace_id, which the wxa_media_check event on the message-push URL carries with the verdict.

        Source: developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/sec-center/sec-check/mediaCheckAsync.html"""
        body = {"media_url": media_url, "media_type": 2, "version": 2, "scene": scene, "openid": openid}
        result = await self._token_call("POST", "/wxa/media_check_async", json_body=body)
        trace_id = result.get("trace_id")
        if not isinstance(trace_id, str) or not trace_id:
            raise WeChatUnavailable("/wxa/media_check_async: no trace_id in the answer")
        return trace_id[:64]

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> None:
        """Needs a consent left for (openid, template); else WeChatAPIError 43101."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _template_data(data)}
        if page:
            body["page"] = page
        await self._token_call("POST", "/cgi-bin/message/subscribe/send", json_body=body)


@dataclass(frozen=True)
class Upload:
    """A file sent as multipart/form-data (WeCom media/upload: part "media")."""

    field: str
    filename: str
    data: bytes
    content_type: str


class WeComClient(_BaseClient):
    """WeCom (企业微信) self-built app, group robot webhooks and smart-bot response URLs.

    gettoken has no forced mode: on 40014/42001 the token is fetched again once (WeCom hands out a new
    one when it expired the old one early) and the call retried once.
    """

    token_codes = WECOM_TOKEN_INVALID_CODES

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
                # A resend of the same content within 30 minutes is suppressed by WeCom: a retry after a
                # timeout (outcome unknown) or a crash between send and bookkeeping does not send twice.
                "enable_duplicate_check": 1,
                "duplicate_check_interval": 1800,
            },
        )

    async def send_text(self, userid: str, text: str) -> None:
        await self._send(userid, "text", text)

    async def send_markdown(self, userid: str, markdown: str) -> None:
        await self._send(userid, "markdown", markdown)

    async def appchat_create(self, name: str, owner: str, members: list[str], chat_id: str = "") -> str:
        """A group chat of `members` (2-2,000, the owner among them) that this app may post to with
        appchat/send; returns its chat id (WeCom makes one up when `chat_id` is empty)."""
        body: dict[str, Any] = {"name": name, "owner": owner, "userlist": members}
        if chat_id:
            body["chatid"] = chat_id
        result = await self._token_call("POST", "/cgi-bin/appchat/create", json_body=body)
        return str(result.get("chatid", ""))

    async def upload_media(self, media_type: str, filename: str, data: bytes, content_type: str) -> str:
        """Temporary media (media/upload, multipart part "media"): its media_id, valid 3 days. A file
        message shows `filename`. Limits: image 10 MB, voice 2 MB, video 10 MB, file 20 MB."""
        result = await self._token_call(
            "POST",
            "/cgi-bin/media/upload",
            params={"type": media_type},
            upload=Upload("media", filename, data, content_type),
        )
        media_id = result.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WeChatUnavailable("/cgi-bin/media/upload: no media_id in the answer")
        return media_id

    async def send_file(self, userid: str, media_id: str) -> None:
        """An app message with an uploaded file (msgtype file) to one user."""
        await self._token_call(
            "POST",
            "/cgi-bin/message/send",
            json_body={
                "touser": userid,
                "msgtype": "file",
                "agentid": self.agent_id,
                "file": {"media_id": media_id},
                "enable_duplicate_check": 1,
                "duplicate_check_interval": 1800,
            },
        )

    async def appchat_send_file(self, chat_id: str, media_id: str) -> None:
        """An uploaded file (msgtype file) to a group chat created through appchat/create."""
        body = {"chatid": chat_id, "msgtype": "file", "file": {"media_id": media_id}}
        await self._token_call("POST", "/cgi-bin/appchat/send", json_body=body)

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
