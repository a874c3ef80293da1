"""A fake WeChat + WeCom platform (aiohttp app) for tests and the local simulator.

Serves the official-account and mini-program endpoints under `/wechat` and the WeCom endpoints
under `/wecom`, so the configured base URLs are e.g. `http://127.0.0.1:8090/wechat` and
`http://127.0.0.1:8090/wecom`. It behaves like the real APIs where our service depends on it
(credentials, token expiry and stable_token's rules, the customer-service window, quotas, length limits,
one-time codes and consents), records every call and every delivered message, and can inject failures.
Length limits as the platforms apply them: custom/send refuses a text over 2,048 bytes (45002); WeCom
app messages (message/send, appchat/send) are cut at 2,048 bytes and recorded cut, so a test sees the
loss; the group robot refuses a text over 2,048 or markdown over 4,096 bytes. appchat/send reaches only
chats created through appchat/create (86003 otherwise); media/get hands a user's file out for 3 days.

Tests drive the `FakePlatform` object in-process; a separate process (the terminal simulator) uses
the JSON control API under `/_control/` or `FakePlatformControl`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import qrcode
from aiohttp import web

if TYPE_CHECKING:
    from bot.config import Config

WECHAT_PREFIX = "/wechat"
WECOM_PREFIX = "/wecom"
CONTROL_PREFIX = "/_control"

CS_MESSAGE_WINDOW_S = 48 * 3600.0  # after a user message: 5 customer-service messages within 48 h
CS_MESSAGE_LIMIT = 5
CS_EVENT_WINDOW_S = 60.0  # after a subscribe, scan or menu click: 3 within 1 minute
CS_EVENT_LIMIT = 3
RESPONSE_URL_TTL_S = 3600.0
MEDIA_TTL_S = 3 * 86400.0  # media/get: a user's image, voice or video, 3 days after it was sent
# getStableAccessToken: normal mode renews the token in its last 5 minutes (the old one stays valid until it
# expires); forced refreshes at most 20 a day and 30 s apart ("否则不会刷新": a closer one returns the
# current token), each invalidating the previous token for every caller. Over the daily cap: 45009.
STABLE_RENEW_BEFORE_S = 300.0
STABLE_FORCE_GAP_S = 30.0
STABLE_FORCED_PER_DAY = 20
BEIJING_OFFSET_S = 8 * 3600
# Official-account customer-service text over 2,048 bytes is refused; WeCom app messages are cut there.
CS_TEXT_MAX_BYTES = 2048
WECOM_TEXT_MAX_BYTES = 2048
WEBHOOK_MARKDOWN_MAX_BYTES = 4096
# WeCom temporary media (media/upload, developer.work.weixin.qq.com/document/path/90253 "上传临时素材"):
# multipart/form-data with the file in the part named "media"; image ≤ 10 MB (JPG, PNG), voice ≤ 2 MB
# (AMR), video ≤ 10 MB (MP4), file ≤ 20 MB (any kind); every file larger than 5 bytes; the media_id is
# valid for 3 days. Error codes from the global list (developer.work.weixin.qq.com/document/path/90313):
# 40004 invalid media type, 40005 invalid file type, 40006 invalid file size, 40007 invalid media_id,
# 41005 media data missing.
WECOM_MEDIA_RULES: dict[str, tuple[int, tuple[str, ...] | None]] = {
    "image": (10 * 1024 * 1024, (".jpg", ".jpeg", ".png")),
    "voice": (2 * 1024 * 1024, (".amr",)),
    "video": (10 * 1024 * 1024, (".mp4",)),
    "file": (20 * 1024 * 1024, None),
}
WECOM_MEDIA_MIN_BYTES = 6  # "所有文件size必须大于5个字节"
WECOM_MEDIA_TTL_S = 3 * 86400.0
# Not a documented WeChat code: the fake's answer to an unknown, used or expired smart-bot response_url.
INVALID_RESPONSE_CODE = 600039

# wx.login codes the fake accepts without set-up: "demo-<name>" or "demo-<name>.<anything>", each once;
# <name> always gives the same mini-program openid (and a unionid once linked, `link_unionid`).
_DEMO_LOGIN = re.compile(r"^demo-([A-Za-z0-9_-]{1,32})(?:\.[A-Za-z0-9_-]{1,32})?$")
# getPhoneNumber codes the fake accepts without set-up: "phone-<11 digits>", each once.
_DEMO_PHONE = re.compile(r"^phone-(1\d{10})$")
# Subscribe-message data: the key's type decides what WeChat accepts (else 47003).
_SUBSCRIBE_VALUE_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: 0 < len(v) <= 20,
    "character_string": lambda v: 0 < len(v) <= 32 and v.isascii(),
    "phrase": lambda v: 0 < len(v) <= 5 and not any(ch.isdigit() or (ch.isascii() and ch.isalpha()) for ch in v),
    "time": lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?|\d{1,2}:\d{2}", v) is not None,
    "date": lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?", v) is not None,
    "number": lambda v: 0 < len(v) <= 32 and re.fullmatch(r"[\d.]+", v) is not None,
    "letter": lambda v: 0 < len(v) <= 32 and v.isascii() and v.isalpha(),
    "name": lambda v: 0 < len(v) <= 10,
}
_SUBSCRIBE_KEY = re.compile(r"^([a-z_]+?)(\d+)$")
# config.example.toml's template ids (DEMO_TEMPLATES in bot/config.py), and the old keyword layout.
DEMO_TEMPLATE_KEYS: dict[str, tuple[str, ...]] = {
    "demo-reply-template": ("character_string1", "thing2", "phrase3", "time4"),
    "demo-visit-template": ("character_string1", "thing2", "time3"),
    "demo-legacy-template": ("keyword1", "keyword2", "keyword3"),
}
TEMPLATE_DROPPED_KEYS = ("first", "remark")  # no longer shown (WeChat's template message rules, May 2023)
CLIENT_MSG_ID_TTL_S = 600.0  # "one openid + client_msg_id sends one message, valid 10 minutes" (docs)

# appchat/create (https://developer.work.weixin.qq.com/document/path/90245): chatid at most 32 characters of
# 0-9a-zA-Z, unique; 2 to 2,000 members; the name at most 50 characters ("超过将截断"). Error codes from WeCom's
# global table (https://developer.work.weixin.qq.com/document/path/90313): 86001 chatid 不合法, 86003 chatid
# 不存在, 86004 群名不合法, 86005 群主不合法, 86006 群成员数过多或过少. A chatid already taken has no code of its
# own in that table: the fake answers 86001 (chatid 不合法), the closest documented one.
_APPCHAT_ID = re.compile(r"^[0-9A-Za-z]{1,32}$")
APPCHAT_MEMBERS = (2, 2000)
APPCHAT_NAME_MAX = 50
# What a misconfigured account answers (`FakePlatform.misconfigure`), by errcode: the errmsg as the platforms
# word it, and the calls it refuses when no path is given. Sources: the official account's 全局返回码
# (developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html): 40164 调用接口的IP地址
# 不在白名单中 (every call, the token endpoint too), 40125 不合法的secret (the token endpoint: a token
# fetched before keeps working until it expires), 48001 api功能未授权, 40037 不合法的template_id, 47003 模板
# 参数不准确, 45009 接口调用超过限制 (the daily quota, reset at Beijing midnight; 模板消息运营规范). WeCom's
# 全局错误码 (developer.work.weixin.qq.com/document/path/90313): 60020 不安全的访问IP (企业可信IP: the app's
# API, not the group robot), 48001 API接口无权限调用, 93000 机器人webhookurl不合法或者机器人已经被移除出群,
# 86003 chatid 不存在, 60011 指定的成员/部门/标签参数无权限.
MISCONFIGURATIONS: dict[int, tuple[str, tuple[str, ...]]] = {
    40164: ("invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist", ("/wechat/",)),
    40125: ("invalid appsecret", ("/wechat/cgi-bin/stable_token",)),
    48001: ("api unauthorized", ("/wechat/cgi-bin/message/template/send",)),
    40037: ("invalid template_id", ("/wechat/cgi-bin/message/template/send",)),
    47003: ("argument invalid! data.thing2.value invalid", ("/wechat/cgi-bin/message/template/send",)),
    45009: ("reach max api daily quota limit", ("/wechat/cgi-bin/message/",)),
    60020: (
        "not allow to access from your ip, from ip: 203.0.113.7",
        ("/wecom/cgi-bin/gettoken", "/wecom/cgi-bin/message/", "/wecom/cgi-bin/appchat/"),
    ),
    93000: ("invalid webhook url, hint: the robot was removed from the chat", ("/wecom/cgi-bin/webhook/send",)),
    86003: ("chatid not exist", ("/wecom/cgi-bin/appchat/send",)),
    60011: ("no privilege to access/modify contact/party/agent", ("/wecom/cgi-bin/appchat/send",)),
}

_WXACODE_SCENE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")


@dataclass
class RecordedCall:
    """One API call received by the fake (control calls are not recorded)."""

    index: int
    method: str
    path: str  # full path, e.g. /wechat/cgi-bin/message/custom/send
    api: str  # without the platform prefix, e.g. /cgi-bin/message/custom/send
    platform: str  # "wechat" | "wecom"
    query: dict[str, str]
    body: Any  # parsed JSON, the raw text when not JSON, or None
    time: float
    errcode: int  # 0 on success (also for file answers), -1 for HTTP-level failures
    http_status: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveredMessage:
    """A message that reached a recipient (openid, userid, chat id, webhook key or smart-bot chat)."""

    index: int
    # custom | template | notice | subscribe | wecom_text | wecom_markdown | wecom_file | appchat | webhook | smartbot
    channel: str
    recipient: str
    sender: str  # app_id, corp_id or "webhook"/"smartbot"
    msgtype: str
    text: str  # the content, the template fields rendered as "key: value" lines, or a file's name
    payload: dict[str, Any]
    time: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UploadedMedia:
    """A file uploaded to WeCom's temporary media (media/upload)."""

    media_id: str
    media_type: str  # image | voice | video | file
    filename: str
    content_type: str
    data: bytes
    uploaded_at: float


@dataclass
class _Fault:
    path_substring: str
    remaining: int | None  # None: until recover()
    errcode: int | None
    http_status: int | None
    delay_s: float | None
    skip: int = 0  # matching calls to let through first


@dataclass
class _Token:
    owner: str
    platform: str
    expires_at: float
    revoked: bool = False
    stale: bool = False  # revoked, yet still handed out by the normal-mode token endpoint (spoil_tokens)


@dataclass
class _Window:
    start: float
    length: float
    limit: int
    used: int = 0


@dataclass
class _QrCode:
    app_id: str
    scene: str
    expires_at: float | None


@dataclass
class _LoginCode:
    openid: str
    unionid: str | None
    used: bool = False


@dataclass
class AppChat:
    """A group chat an app created through appchat/create: the only chats appchat/send reaches."""

    corp_id: str
    name: str
    owner: str
    members: list[str]


@dataclass
class _ResponseCode:
    recipient: str
    expires_at: float
    used: bool = False


class _APIError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(eq=False)
class FakePlatform:
    """State of the fake platform; every field can be inspected by tests."""

    apps: dict[str, str] = field(default_factory=dict)  # official-account and mini-program app_id -> secret
    corps: dict[str, str] = field(default_factory=dict)  # WeCom corp_id -> app secret
    enforce_cs_window: bool = True
    permanent_qr_limit: int = 100_000
    token_ttl_s: int = 7200
    templates: set[str] | None = None  # subscribe/send: None accepts any; template/send: ids without key rules
    # The official account's templates as added on its admin page: id -> typed data keys. A template
    # message must fill every key with a value of the key's type (47003 otherwise); other keys, among
    # them `first` and `remark`, are dropped as WeChat has since May 2023. An id neither here nor in
    # `templates` is 40037.
    template_keys: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEMO_TEMPLATE_KEYS))
    # "service" (服务号) may send template messages and subscription notices; "subscription" (订阅号)
    # gets 48001 (api unauthorized) for both.
    account_type: str = "service"
    long_term_notices: set[str] = field(default_factory=set)  # openids with a long-term 订阅通知 subscription
    mini_pages: set[str] | None = None  # checked when check_path is true; None: any page
    webhook_keys: set[str] | None = None  # None: any key is accepted
    # WeCom users outside the app's visible range (可见范围): message/send leaves them out (invaliduser),
    # and answers 81013 when nobody is left ("如果全部接收人无权限或不存在，则本次调用返回失败，errcode为
    # 81013", 发送应用消息, developer.work.weixin.qq.com/document/path/90236). Compared case-folded.
    wecom_outside_range: set[str] = field(default_factory=set)
    webhook_rate_per_min: int = 20
    clock: Callable[[], float] = time.time
    callback_base_url: str = ""  # where our service listens (informational, for the simulator)
    # The chats created through appchat/create, by chat id. WeCom keeps them: `reset` does not forget them.
    app_chats: dict[str, AppChat] = field(default_factory=dict)
    # Content checks (wxa/msg_sec_check, wxa/media_check_async): a text with one of these words comes back
    # `risky` or `review`; an image whose bytes hold `risky_image_marker` gets `risky` in its event.
    risky_words: tuple[str, ...] = ("赌博", "诈骗链接")
    review_words: tuple[str, ...] = ("待审词",)
    risky_image_marker: bytes = b"RISKY"

    calls: list[RecordedCall] = field(default_factory=list)
    messages: list[DeliveredMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    @classmethod
    def for_config(cls, config: Config, *, callback_base_url: str = "") -> FakePlatform:
        """The fake for `mashang serve --demo`: it knows the configured app ids, corp id and secrets.

        A configured `wecom.triage_chat_id` is known as a chat the app created earlier (with `mashang
        wecom create-chat`, which WeCom would have kept while this in-memory fake was not running); any
        other chat id is refused as WeCom refuses it."""
        platform = cls(
            apps={
                config.wechat.app_id: config.wechat.app_secret,
                config.miniprogram.app_id: config.miniprogram.app_secret,
            },
            corps={config.wecom.corp_id: config.wecom.secret},
            callback_base_url=callback_base_url,
        )
        if config.wecom.triage_chat_id:
            platform.app_chats[config.wecom.triage_chat_id] = AppChat(config.wecom.corp_id, "分拣群", "", [])
        return platform

    # --- state set-up (tests and the simulator) ---

    def reset(self) -> None:
        """Forget every call, message, token, fault and user interaction; keep the configuration."""
        self.calls = []
        self.messages = []
        # Message and call indexes start again from 0: a reader that remembers the last index it saw
        # (the simulator) tells a restart or a reset by this changing.
        self.generation = secrets.token_hex(4)
        self._faults: list[_Fault] = []
        self._misconfigured: list[tuple[str, int, str]] = []  # (path substring, errcode, errmsg) until fixed
        self._tokens: dict[str, _Token] = {}
        self._current_token: dict[tuple[str, str], str] = {}
        self._forced_at: dict[str, list[float]] = {}  # app_id -> times of forced stable_token refreshes
        self._windows: dict[str, dict[str, _Window]] = {}
        self._media: dict[str, tuple[bytes, str, float]] = {}  # media_id -> (content, type, when sent)
        self._wecom_media: dict[str, UploadedMedia] = {}  # media/upload: media_id -> the file
        self._qrcodes: dict[str, _QrCode] = {}
        self._permanent_scenes: set[tuple[str, str]] = set()
        self._login_codes: dict[str, _LoginCode] = {}
        self._subscriptions: dict[tuple[str, str], int] = {}
        self._used_demo_codes: set[str] = set()
        self._unionids: dict[str, str] = {}  # official-account openid -> unionid (linked demo names)
        self._linked_names: set[str] = set()
        self._phone_codes: dict[str, str] = {}
        self._used_phone_codes: set[str] = set()
        self._response_codes: dict[str, _ResponseCode] = {}
        self._webhook_sends: dict[str, list[float]] = {}
        self._msgids = itertools.count(int(self.clock() * 1000))
        self._client_msg_ids: dict[tuple[str, str], tuple[int, float]] = {}
        # TEMPLATESENDJOBFINISH events WeChat owes our callback: (openid, msgid, status), in send order.
        self.template_finish_events: list[tuple[str, int, str]] = []
        self._template_outcomes: dict[str, list[str]] = {}  # openid -> statuses for its next sends
        # media_check_async requests whose verdict WeChat owes the mini-program's message-push URL:
        # (trace_id, media_url, openid), in request order (`take_media_checks`).
        self.media_checks: list[tuple[str, str, str]] = []

    def note_user_message(self, openid: str, when: float | None = None) -> None:
        """A user message opens the customer-service window: 5 messages within 48 h."""
        start = self.clock() if when is None else when
        window = _Window(start, CS_MESSAGE_WINDOW_S, CS_MESSAGE_LIMIT)
        self._windows.setdefault(openid, {})["message"] = window

    def note_user_event(self, openid: str, when: float | None = None) -> None:
        """A subscribe, scan or menu click opens a short window: 3 messages within 1 minute."""
        start = self.clock() if when is None else when
        self._windows.setdefault(openid, {})["event"] = _Window(start, CS_EVENT_WINDOW_S, CS_EVENT_LIMIT)

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """A file a user sent: media/get hands it out for 3 days (MEDIA_TTL_S), as WeChat does."""
        self._media[media_id] = (data, content_type, self.clock())

    def uploaded(self, media_id: str) -> UploadedMedia:
        """A file uploaded through WeCom media/upload (KeyError when there is none)."""
        return self._wecom_media[media_id]

    def add_login_code(self, code: str, openid: str, unionid: str | None = None) -> None:
        """A mini-program wx.login() code, usable once."""
        self._login_codes[code] = _LoginCode(openid, unionid)

    @staticmethod
    def mini_openid(name: str) -> str:
        """The mini-program openid of the demo login name `name` (code "demo-<name>")."""
        return "wxa-" + hashlib.sha256(f"openid\0{name}".encode()).hexdigest()[:24]

    @staticmethod
    def unionid_of(name: str) -> str:
        return "uid-" + hashlib.sha256(f"unionid\0{name}".encode()).hexdigest()[:24]

    def link_unionid(self, name: str, oa_openid: str) -> str:
        """The demo login name `name` and the official-account follower `oa_openid` are one person: both
        jscode2session and user/info answer the same unionid from now on."""
        unionid = self.unionid_of(name)
        self._unionids[oa_openid] = unionid
        self._linked_names.add(name)
        return unionid

    def add_phone_code(self, code: str, phone: str) -> None:
        """A getPhoneNumber code, usable once."""
        self._phone_codes[code] = phone

    def grant_subscription(self, openid: str, template_id: str, n: int = 1) -> None:
        """The user accepted `n` one-time subscribe messages of this template."""
        key = (openid, template_id)
        self._subscriptions[key] = self._subscriptions.get(key, 0) + n

    def subscriptions_left(self, openid: str, template_id: str) -> int:
        return self._subscriptions.get((openid, template_id), 0)

    def issue_response_code(self, recipient: str, ttl_s: float = RESPONSE_URL_TTL_S) -> str:
        """A smart-bot response code, used as `<wecom base>/cgi-bin/aibot/response?response_code=<code>`."""
        code = secrets.token_urlsafe(24)
        self._response_codes[code] = _ResponseCode(recipient, self.clock() + ttl_s)
        return code

    def fail_template_delivery(self, openid: str, status: str = "failed:user block") -> None:
        """The next template message to `openid` is accepted (a msgid) but its TEMPLATESENDJOBFINISH
        event says `status` ("failed:user block": the user refuses them; "failed: system failed")."""
        self._template_outcomes.setdefault(openid, []).append(status)

    def take_template_finish_events(self) -> list[tuple[str, int, str]]:
        """The TEMPLATESENDJOBFINISH events due to our callback, handed over once (the caller posts them)."""
        events, self.template_finish_events = self.template_finish_events, []
        return events

    def take_media_checks(self) -> list[tuple[str, str, str]]:
        """The media checks asked for since the last call: (trace_id, media_url, openid)."""
        taken, self.media_checks = self.media_checks, []
        return taken

    def media_suggest(self, image: bytes) -> str:
        return "risky" if self.risky_image_marker and self.risky_image_marker in image else "pass"

    def qr_scene(self, ticket: str) -> str | None:
        """The scene of a QR ticket that is still valid (lets the simulator "scan" a code)."""
        qr = self._qrcodes.get(ticket)
        if qr is None or (qr.expires_at is not None and qr.expires_at < self.clock()):
            return None
        return qr.scene

    @property
    def permanent_qr_count(self) -> int:
        return len(self._permanent_scenes)

    # --- fault injection ---

    def fail_next(
        self,
        path_substring: str,
        count: int = 1,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay_s: float | None = None,
        skip: int = 0,
    ) -> None:
        """The next `count` calls whose path contains `path_substring` fail (after `skip` that succeed).

        `delay_s` alone delays the answer (a hang when long); `http_status` answers with that status;
        `errcode` answers with that WeChat error; nothing at all means errcode -1 (system busy).
        """
        self._faults.append(_Fault(path_substring, count, errcode, http_status, delay_s, skip))

    def fail_all(
        self,
        path_substring: str,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay_s: float | None = None,
    ) -> None:
        """Like fail_next, for every call until recover() (an outage)."""
        self._faults.append(_Fault(path_substring, None, errcode, http_status, delay_s))

    def recover(self, path_substring: str | None = None) -> None:
        """Every fault ends (or only those set for `path_substring`)."""
        self._faults = [] if path_substring is None else [f for f in self._faults if f.path_substring != path_substring]

    def misconfigure(self, errcode: int, path_substring: str | None = None) -> None:
        """The account is misconfigured as `errcode` says (MISCONFIGURATIONS: 40164 our IP not whitelisted,
        93000 a removed robot, ...): every call whose path contains `path_substring` (by default the calls
        that error refuses) answers it until `fix()`. Unlike a fault, it is the account's state: it stays."""
        errmsg, default_paths = MISCONFIGURATIONS[errcode]
        for path in (path_substring,) if path_substring else default_paths:
            self._misconfigured.append((path, errcode, errmsg))

    def fix(self, errcode: int | None = None) -> None:
        """The administrator fixed it (`errcode`, or every misconfiguration)."""
        self._misconfigured = [m for m in self._misconfigured if errcode is not None and m[1] != errcode]

    def _misconfiguration(self, path: str) -> tuple[int, str] | None:
        for path_substring, errcode, errmsg in self._misconfigured:
            if path_substring in path:
                return errcode, errmsg
        return None

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (WeChat answers 40001, WeCom 42001); the token
        endpoints hand out new ones (as after a rotation, or another system's forced refresh)."""
        for token in self._tokens.values():
            token.revoked = True
        self._current_token.clear()

    def spoil_tokens(self) -> None:
        """The current tokens are rejected (40001 / 42001) but the normal-mode token endpoints keep
        handing them out: only a forced stable_token refresh replaces them (the case it exists for)."""
        for token in self._tokens.values():
            token.revoked = True
        for current in self._current_token.values():
            self._tokens[current].stale = True

    def forced_refreshes_today(self, app_id: str) -> int:
        """Forced stable_token refreshes of `app_id` this Beijing day."""
        day = self._beijing_day(self.clock())
        return sum(1 for at in self._forced_at.get(app_id, []) if self._beijing_day(at) == day)

    # --- inspection ---

    def sent_to(self, recipient: str) -> list[DeliveredMessage]:
        return [m for m in self.messages if m.recipient == recipient]

    def calls_to(self, path_substring: str) -> list[RecordedCall]:
        return [c for c in self.calls if path_substring in c.path]

    @property
    def token_fetch_count(self) -> int:
        """Tokens handed out (successful stable_token and gettoken calls)."""
        return sum(1 for c in self.calls if c.api in ("/cgi-bin/stable_token", "/cgi-bin/gettoken") and c.errcode == 0)

    # --- internals used by the handlers ---

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path_substring in path and (fault.remaining is None or fault.remaining > 0):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _beijing_day(moment: float) -> int:
        return int((moment + BEIJING_OFFSET_S) // 86400)

    def _current(self, owner: str, platform: str) -> tuple[str, _Token] | None:
        """The token the normal-mode endpoint hands out now, if any (an expired one is not)."""
        current = self._current_token.get((platform, owner))
        if current is None:
            return None
        info = self._tokens[current]
        if info.expires_at <= self.clock() or (info.revoked and not info.stale):
            return None
        return current, info

    def _new_token(self, owner: str, platform: str) -> tuple[str, int]:
        token = secrets.token_urlsafe(48)
        self._tokens[token] = _Token(owner, platform, self.clock() + self.token_ttl_s)
        self._current_token[(platform, owner)] = token
        return token, self.token_ttl_s

    def _issue_token(self, owner: str, platform: str) -> tuple[str, int]:
        """WeCom gettoken: the same token while it is valid, a new one once it expired or was revoked."""
        found = self._current(owner, platform)
        if found is not None:
            token, info = found
            return token, int(info.expires_at - self.clock())
        return self._new_token(owner, platform)

    def _issue_stable_token(self, app_id: str, *, force: bool) -> tuple[str, int]:
        now = self.clock()
        found = self._current(app_id, "wechat")
        if not force:
            if found is not None:
                token, info = found
                left = info.expires_at - now
                if left > STABLE_RENEW_BEFORE_S:
                    return token, int(left)
                # Renewed early: the old token keeps working until it expires (at most 5 minutes).
            return self._new_token(app_id, "wechat")
        forced = self._forced_at.setdefault(app_id, [])
        if forced and now - forced[-1] < STABLE_FORCE_GAP_S and found is not None:
            token, info = found
            return token, int(info.expires_at - now)  # too soon after the last forced refresh: not refreshed
        if self.forced_refreshes_today(app_id) >= STABLE_FORCED_PER_DAY:
            raise _APIError(45009, "reach max api daily quota limit")
        forced.append(now)
        previous = self._current_token.get(("wechat", app_id))
        if previous is not None:
            self._tokens[previous].revoked = True  # for every caller, at once
            self._tokens[previous].stale = False
        return self._new_token(app_id, "wechat")

    def _check_token(self, platform: str, token: str | None) -> str:
        """The owner (app_id or corp_id) of a valid token, else _APIError like the real platform."""
        if not token:
            raise _APIError(41001, "access_token missing")
        info = self._tokens.get(token)
        if info is None or info.platform != platform:
            if platform == "wecom":
                raise _APIError(40014, "invalid access_token")
            raise _APIError(40001, "invalid credential, access_token is invalid or not latest")
        if info.revoked:
            if platform == "wecom":
                raise _APIError(42001, "access_token expired")
            raise _APIError(40001, "invalid credential, access_token is invalid or not latest")
        if info.expires_at <= self.clock():
            raise _APIError(42001, "access_token expired")
        return info.owner

    def _consume_cs_window(self, openid: str) -> None:
        if not self.enforce_cs_window:
            return
        now = self.clock()
        open_windows = [w for w in self._windows.get(openid, {}).values() if now - w.start <= w.length]
        for window in open_windows:
            if window.used < window.limit:
                window.used += 1
                return
        if open_windows:
            raise _APIError(45047, "out of response count limit")
        raise _APIError(45015, "response out of time limit or subscription is canceled")

    def _deliver(
        self, channel: str, recipient: str, sender: str, msgtype: str, text: str, payload: dict[str, Any]
    ) -> DeliveredMessage:
        message = DeliveredMessage(len(self.messages), channel, recipient, sender, msgtype, text, payload, self.clock())
        self.messages.append(message)
        return message


FAKE_PLATFORM = web.AppKey("fake_platform", FakePlatform)


def _ok(**data: Any) -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok", **data})


def _error(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: fake-{secrets.token_hex(4)}"})


def _parse_body(raw: bytes) -> Any:
    """Parsed JSON, the text when it is not JSON, None when empty."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return raw.decode(errors="replace")


async def _body(request: web.Request) -> dict[str, Any]:
    body = _parse_body(await request.read())  # read() caches: the middleware read it first
    if not isinstance(body, dict):
        raise _APIError(47001, "data format error")
    return body


def _platform(request: web.Request) -> FakePlatform:
    return request.app[FAKE_PLATFORM]


def _wechat_owner(request: web.Request) -> str:
    return _platform(request)._check_token("wechat", request.query.get("access_token"))


def _wecom_owner(request: web.Request) -> str:
    return _platform(request)._check_token("wecom", request.query.get("access_token"))


def _check_app(state: FakePlatform, app_id: Any, secret: Any) -> str:
    if not isinstance(app_id, str) or app_id not in state.apps:
        raise _APIError(40013, "invalid appid")
    if state.apps[app_id] != secret:
        raise _APIError(40125, "invalid appsecret")
    return app_id


def _template_text(data: Any) -> tuple[str, dict[str, str]]:
    if not isinstance(data, dict):
        raise _APIError(47001, "data format error")
    values: dict[str, str] = {}
    for key, item in data.items():
        values[str(key)] = str(item.get("value", "")) if isinstance(item, dict) else str(item)
    return "\n".join(f"{key}: {value}" for key, value in values.items()), values


def _png_qrcode(payload: str, width: int, image_format: str = "PNG") -> bytes:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(payload)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    image = image.resize((width, width), resample=0)  # nearest neighbour keeps the modules sharp
    out = io.BytesIO()
    image.save(out, format=image_format, **({"quality": 95} if image_format == "JPEG" else {}))
    return out.getvalue()


# --- official account and mini-program ---


async def _stable_token(request: web.Request) -> web.Response:
    state = _platform(request)
    body = await _body(request)
    if body.get("grant_type") != "client_credential":
        raise _APIError(40002, "invalid grant_type")
    app_id = _check_app(state, body.get("appid"), body.get("secret"))
    force = body.get("force_refresh", False)
    if not isinstance(force, bool):
        raise _APIError(47001, "data format error")
    token, expires_in = state._issue_stable_token(app_id, force=force)
    return web.json_response({"access_token": token, "expires_in": expires_in})


async def _custom_send(request: web.Request) -> web.Response:
    state = _platform(request)
    app_id = _wechat_owner(request)
    body = await _body(request)
    openid = body.get("touser")
    msgtype = body.get("msgtype")
    if not isinstance(openid, str) or not openid:
        raise _APIError(40003, "invalid openid")
    if not isinstance(msgtype, str) or not isinstance(body.get(msgtype), dict):
        raise _APIError(40008, "invalid message type")
    text = str(body[msgtype].get("content", "")) if msgtype == "text" else json.dumps(body[msgtype])
    if msgtype == "text" and not text:
        raise _APIError(44003, "empty news data")
    if msgtype == "text" and len(text.encode()) > CS_TEXT_MAX_BYTES:
        raise _APIError(45002, "content size out of limit")  # refused, and no send of the window used
    state._consume_cs_window(openid)
    state._deliver("custom", openid, app_id, msgtype, text, body)
    return _ok()


async def _template_send(request: web.Request) -> web.Response:
    state = _platform(request)
    app_id = _wechat_owner(request)
    body = await _body(request)
    openid = body.get("touser")
    template_id = body.get("template_id")
    if not isinstance(openid, str) or not openid:
        raise _APIError(40003, "invalid openid")
    if state.account_type != "service":
        raise _APIError(48001, "api unauthorized")  # a subscription account has no template messages
    keys = state.template_keys.get(template_id) if isinstance(template_id, str) else None
    if keys is None and not (isinstance(template_id, str) and template_id in (state.templates or set())):
        raise _APIError(40037, "invalid template_id")
    _, values = _template_text(body.get("data"))
    if keys is not None:
        for data_key in keys:
            if data_key not in values:
                raise _APIError(47003, f"argument invalid! data.{data_key}.value empty")
            typed = _SUBSCRIBE_KEY.match(data_key)
            rule = _SUBSCRIBE_VALUE_RULES.get(typed.group(1)) if typed else None
            if rule is not None and not rule(values[data_key]):
                raise _APIError(47003, f"argument invalid! data.{data_key}.value invalid")
        values = {key: values[key] for key in keys}  # first, remark and unknown keys are not shown
    else:
        values = {key: value for key, value in values.items() if key not in TEMPLATE_DROPPED_KEYS}
    url = body.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise _APIError(40039, "invalid url")
    client_msg_id = body.get("client_msg_id")
    moment = state.clock()
    if client_msg_id is not None:
        if not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= 64:
            raise _APIError(45067, "clientmsgid size out of limit")
        earlier = state._client_msg_ids.get((openid, client_msg_id))
        if earlier is not None and moment - earlier[1] < CLIENT_MSG_ID_TTL_S:
            return _ok(msgid=earlier[0])  # sent already: one message, the same msgid
    msgid = next(state._msgids)
    if client_msg_id is not None:
        state._client_msg_ids[(openid, client_msg_id)] = (msgid, moment)
    text = "\n".join(f"{key}: {value}" for key, value in values.items())
    outcomes = state._template_outcomes.get(openid)
    status = outcomes.pop(0) if outcomes else "success"
    if status == "success":
        state._deliver("template", openid, app_id, "template", text, body)
    state.template_finish_events.append((openid, msgid, status))
    return _ok(msgid=msgid)


async def _media_get(request: web.Request) -> web.StreamResponse:
    state = _platform(request)
    _wechat_owner(request)
    media = state._media.get(request.query.get("media_id", ""))
    # A user's media is kept 3 days ("临时素材…保存时间为3天", cgi-bin/media/get,
    # https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html).
    if media is None or state.clock() - media[2] > MEDIA_TTL_S:
        raise _APIError(40007, "invalid media_id")
    data, content_type, _ = media
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{request.query["media_id"]}"'},
    )


async def _qrcode_create(request: web.Request) -> web.Response:
    state = _platform(request)
    app_id = _wechat_owner(request)
    body = await _body(request)
    action = body.get("action_name")
    if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
        raise _APIError(40052, "invalid action name")
    scene_info = (body.get("action_info") or {}).get("scene") or {}
    if action.endswith("STR_SCENE"):
        scene = scene_info.get("scene_str")
        if not isinstance(scene, str) or not 1 <= len(scene) <= 64:
            raise _APIError(40053, "invalid action info, please check document")
    else:
        scene_id = scene_info.get("scene_id")
        if not isinstance(scene_id, int) or scene_id <= 0:
            raise _APIError(40053, "invalid action info, please check document")
        scene = str(scene_id)
    if action.startswith("QR_LIMIT"):
        key = (app_id, scene)
        if key not in state._permanent_scenes and len(state._permanent_scenes) >= state.permanent_qr_limit:
            raise _APIError(45029, "qrcode count out of limit")
        state._permanent_scenes.add(key)
        digest = hashlib.sha256(f"{app_id}\0{scene}".encode()).digest()
        ticket = "gQ" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
        state._qrcodes[ticket] = _QrCode(app_id, scene, None)
        return _ok(ticket=ticket, url=f"http://weixin.qq.com/q/{ticket[2:24]}")
    expire_seconds = body.get("expire_seconds", 60)
    if not isinstance(expire_seconds, int) or expire_seconds <= 0:
        raise _APIError(40009, "invalid expire_seconds")
    expire_seconds = min(expire_seconds, 2_592_000)
    ticket = "gQ" + secrets.token_urlsafe(32)
    state._qrcodes[ticket] = _QrCode(app_id, scene, state.clock() + expire_seconds)
    return _ok(ticket=ticket, url=f"http://weixin.qq.com/q/{ticket[2:24]}", expire_seconds=expire_seconds)


async def _showqrcode(request: web.Request) -> web.StreamResponse:
    """The image of a QR ticket (the real one lives at mp.weixin.qq.com/cgi-bin/showqrcode)."""
    state = _platform(request)
    ticket = request.query.get("ticket", "")
    if state.qr_scene(ticket) is None:
        raise web.HTTPNotFound()
    png = await asyncio.to_thread(_png_qrcode, f"http://weixin.qq.com/q/{ticket[2:24]}", 430)
    return web.Response(body=png, content_type="image/png")


async def _wxacode_unlimit(request: web.Request) -> web.StreamResponse:
    state = _platform(request)
    _wechat_owner(request)
    body = await _body(request)
    scene = body.get("scene")
    if not isinstance(scene, str) or not _WXACODE_SCENE.match(scene):
        raise _APIError(40169, "invalid length for scene, or the data is not json string")
    page = body.get("page")
    if page is not None:
        if not isinstance(page, str) or page.startswith("/"):
            raise _APIError(41030, "invalid page")
        if body.get("check_path", True) and state.mini_pages is not None and page not in state.mini_pages:
            raise _APIError(41030, "invalid page")
    width = body.get("width", 430)
    width = min(max(int(width) if isinstance(width, int) else 430, 280), 1280)
    # WeChat answers getwxacodeunlimit with image/jpeg bytes (wechat-facts.md), JSON only on errors.
    jpeg = await asyncio.to_thread(_png_qrcode, scene, width, "JPEG")
    return web.Response(body=jpeg, content_type="image/jpeg")


async def _jscode2session(request: web.Request) -> web.Response:
    state = _platform(request)
    query = request.query
    _check_app(state, query.get("appid"), query.get("secret"))
    if query.get("grant_type") != "authorization_code":
        raise _APIError(40002, "invalid grant_type")
    js_code = query.get("js_code", "")
    login = state._login_codes.get(js_code)
    demo = _DEMO_LOGIN.match(js_code)
    if login is None and demo is not None:
        name = demo.group(1)
        login = _LoginCode(state.mini_openid(name), state.unionid_of(name) if name in state._linked_names else None)
        if js_code in state._used_demo_codes:
            login.used = True
        state._used_demo_codes.add(js_code)
    if login is None:
        raise _APIError(40029, "invalid code")
    if login.used:
        raise _APIError(40163, "code been used")
    login.used = True
    data: dict[str, Any] = {
        "openid": login.openid,
        "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
    }
    if login.unionid:
        data["unionid"] = login.unionid
    return web.json_response(data)  # the real answer has no errcode on success


async def _subscribe_bizsend(request: web.Request) -> web.Response:
    """订阅通知 (cgi-bin/message/subscribe/bizsend): a service account only (48001 otherwise), a template
    of the account with its typed keys (as template/send), and a subscription of the user: one-time
    ones are used up by a send (`grant_subscription`), long-term ones (government and public-service
    accounts, `long_term_notices`) are not; none is 43101."""
    state = _platform(request)
    app_id = _wechat_owner(request)
    body = await _body(request)
    openid = body.get("touser")
    template_id = body.get("template_id")
    if not isinstance(openid, str) or not openid:
        raise _APIError(40003, "invalid openid")
    if state.account_type != "service":
        raise _APIError(48001, "api unauthorized")
    keys = state.template_keys.get(template_id) if isinstance(template_id, str) else None
    if keys is None:
        raise _APIError(40037, "invalid template_id")
    _, values = _template_text(body.get("data"))
    for data_key in keys:
        typed = _SUBSCRIBE_KEY.match(data_key)
        rule = _SUBSCRIBE_VALUE_RULES.get(typed.group(1)) if typed else None
        if data_key not in values or (rule is not None and not rule(values[data_key])):
            raise _APIError(47003, f"argument invalid! data.{data_key}.value invalid")
    key = (openid, str(template_id))
    if openid not in state.long_term_notices:
        if state._subscriptions.get(key, 0) <= 0:
            raise _APIError(43101, "user refuse to accept the msg")
        state._subscriptions[key] -= 1
    text = "\n".join(f"{data_key}: {values[data_key]}" for data_key in keys)
    state._deliver("notice", openid, app_id, "notice", text, body)
    return _ok()


async def _subscribe_send(request: web.Request) -> web.Response:
    state = _platform(request)
    app_id = _wechat_owner(request)
    body = await _body(request)
    openid = body.get("touser")
    template_id = body.get("template_id")
    if not isinstance(openid, str) or not openid:
        raise _APIError(40003, "invalid openid")
    if not isinstance(template_id, str) or not template_id:
        raise _APIError(40037, "invalid template_id")
    known = state.templates
    if known is not None and template_id not in known:
        raise _APIError(40037, "invalid template_id")
    text, values = _template_text(body.get("data"))
    if not values:
        raise _APIError(47003, "argument invalid! data is empty")
    for data_key, value in values.items():
        typed = _SUBSCRIBE_KEY.match(data_key)
        rule = _SUBSCRIBE_VALUE_RULES.get(typed.group(1)) if typed else None
        if rule is not None and not rule(value):
            raise _APIError(47003, f"argument invalid! data.{data_key}.value invalid")
    page = body.get("page")
    if page is not None and (not isinstance(page, str) or page.startswith("/")):
        raise _APIError(41030, "invalid page")
    key = (openid, template_id)
    if state._subscriptions.get(key, 0) <= 0:
        raise _APIError(43101, "user refuse to accept the msg")
    state._subscriptions[key] -= 1
    state._deliver("subscribe", openid, app_id, "subscribe", text, body)
    return _ok(msgid=next(state._msgids))


async def _user_info(request: web.Request) -> web.Response:
    state = _platform(request)
    _wechat_owner(request)
    openid = request.query.get("openid", "")
    if not openid:
        raise _APIError(40003, "invalid openid")
    data: dict[str, Any] = {"subscribe": 1, "openid": openid, "language": "zh_CN"}
    if openid in state._unionids:
        data["unionid"] = state._unionids[openid]
    return web.json_response(data)


async def _get_phone_number(request: web.Request) -> web.Response:
    state = _platform(request)
    _wechat_owner(request)
    body = await _body(request)
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise _APIError(47001, "data format error")
    demo = _DEMO_PHONE.match(code)
    phone = state._phone_codes.get(code) or (demo.group(1) if demo else None)
    if phone is None:
        raise _APIError(40029, "invalid code")
    if code in state._used_phone_codes:
        raise _APIError(40029, "invalid code")  # a getPhoneNumber code is good for one exchange
    state._used_phone_codes.add(code)
    info = {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86"}
    return _ok(phone_info={**info, "watermark": {"timestamp": int(state.clock()), "appid": "fake"}})


# Content security, version 2. Sources: developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/sec-center/
# sec-check/msgSecCheck.html and .../mediaCheckAsync.html: `version` must be 2, `openid` and `scene`
# (1 资料, 2 评论, 3 论坛, 4 社交日志) are required; a text is at most 2,500 characters; the answer's
# result.suggest is pass / review / risky (label 100 = normal); media_type is 1 (audio) or 2 (image) and the
# verdict comes later as the wxa_media_check event with the request's trace_id. Missing or bad arguments
# answer 40003 (openid) or 47001 (data format).
SEC_CHECK_SCENES = (1, 2, 3, 4)
SEC_CHECK_TEXT_MAX = 2500


def _sec_check_common(body: dict[str, Any]) -> None:
    if body.get("version") != 2:
        raise _APIError(47001, "data format error: version")
    openid = body.get("openid")
    if not isinstance(openid, str) or not openid:
        raise _APIError(40003, "invalid openid")
    if body.get("scene") not in SEC_CHECK_SCENES:
        raise _APIError(47001, "data format error: scene")


async def _msg_sec_check(request: web.Request) -> web.Response:
    state = _platform(request)
    _wechat_owner(request)
    body = await _body(request)
    _sec_check_common(body)
    content = body.get("content")
    if not isinstance(content, str) or not content or len(content) > SEC_CHECK_TEXT_MAX:
        raise _APIError(47001, "data format error: content")
    suggest, label = "pass", 100
    if any(word in content for word in state.risky_words):
        suggest, label = "risky", 20001
    elif any(word in content for word in state.review_words):
        suggest, label = "review", 21000
    trace_id = f"fake-{secrets.token_hex(12)}"
    detail = [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}]
    return _ok(result={"suggest": suggest, "label": label}, detail=detail, trace_id=trace_id)


async def _media_check_async(request: web.Request) -> web.Response:
    state = _platform(request)
    _wechat_owner(request)
    body = await _body(request)
    _sec_check_common(body)
    media_url = body.get("media_url")
    if not isinstance(media_url, str) or not media_url.startswith(("http://", "https://")):
        raise _APIError(47001, "data format error: media_url")
    if body.get("media_type") not in (1, 2):
        raise _APIError(47001, "data format error: media_type")
    trace_id = f"fake-{secrets.token_hex(12)}"
    state.media_checks.append((trace_id, media_url, str(body["openid"])))
    return _ok(trace_id=trace_id)


# --- WeCom ---


async def _wecom_gettoken(request: web.Request) -> web.Response:
    state = _platform(request)
    corp_id = request.query.get("corpid", "")
    if corp_id not in state.corps:
        raise _APIError(40013, "invalid corpid")
    if state.corps[corp_id] != request.query.get("corpsecret"):
        raise _APIError(40001, "invalid secret")
    token, expires_in = state._issue_token(corp_id, "wecom")
    return _ok(access_token=token, expires_in=expires_in)


def _content(body: dict[str, Any], msgtype: str) -> str:
    part = body.get(msgtype)
    if not isinstance(part, dict):
        raise _APIError(40008, "invalid message type")
    content = part.get("content")
    if not isinstance(content, str) or not content:
        raise _APIError(44004, "empty content")
    return content


def _cut(content: str, max_bytes: int = WECOM_TEXT_MAX_BYTES) -> str:
    """What a WeCom app message shows of `content`: its first `max_bytes` bytes ("超过将截断"), without the
    broken character a cut inside a UTF-8 sequence leaves."""
    return content.encode()[:max_bytes].decode(errors="ignore")


def _webhook_content(body: dict[str, Any], msgtype: str) -> str:
    """A group robot refuses an over-long text (2,048 bytes) or markdown (4,096 bytes)."""
    content = _content(body, msgtype)
    limit = WECOM_TEXT_MAX_BYTES if msgtype == "text" else WEBHOOK_MARKDOWN_MAX_BYTES
    if len(content.encode()) > limit:
        raise _APIError(45002, "content size out of limit")
    return content


async def _wecom_message_send(request: web.Request) -> web.Response:
    state = _platform(request)
    corp_id = _wecom_owner(request)
    body = await _body(request)
    agent_id = body.get("agentid")
    if not isinstance(agent_id, int) and not (isinstance(agent_id, str) and agent_id.isdigit()):
        raise _APIError(40056, "invalid agentid")
    msgtype = body.get("msgtype")
    if msgtype not in ("text", "markdown", "file"):
        raise _APIError(40008, "invalid message type")
    touser = body.get("touser")
    if not isinstance(touser, str) or not touser:
        raise _APIError(81013, "user & party & tag all invalid")
    content = _file_name(state, body) if msgtype == "file" else _cut(_content(body, msgtype))
    outside = {userid.casefold() for userid in state.wecom_outside_range}
    users = touser.split("|")
    invalid = [userid for userid in users if userid.casefold() in outside]
    if len(invalid) == len(users):
        raise _APIError(81013, "user & party & tag all invalid")
    for userid in users:
        if userid not in invalid:
            state._deliver(f"wecom_{msgtype}", userid, corp_id, msgtype, content, body)
    return _ok(invaliduser="|".join(invalid), invalidparty="", invalidtag="", msgid=str(next(state._msgids)))


async def _wecom_appchat_create(request: web.Request) -> web.Response:
    """appchat/create (https://developer.work.weixin.qq.com/document/path/90245), rules at _APPCHAT_ID."""
    state = _platform(request)
    corp_id = _wecom_owner(request)
    body = await _body(request)
    members = body.get("userlist")
    if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
        raise _APIError(40031, "invalid userid list")
    # userids are case-insensitive (document/path/90195): ZhangSan and zhangsan are one member.
    distinct = list(dict.fromkeys(m.lower() for m in members))
    if not APPCHAT_MEMBERS[0] <= len(distinct) <= APPCHAT_MEMBERS[1]:
        raise _APIError(86006, "invalid chat member list size")
    owner = body.get("owner") or members[0]  # "如果不指定，系统会随机从userlist中选一人作为群主"
    if not isinstance(owner, str):
        raise _APIError(86005, "invalid chat owner")
    chat_id = body.get("chatid") or f"wr{secrets.token_hex(15)}"
    if not isinstance(chat_id, str) or not _APPCHAT_ID.fullmatch(chat_id):
        raise _APIError(86001, "invalid chatid")
    if chat_id in state.app_chats:
        raise _APIError(86001, "invalid chatid: already exists")
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise _APIError(86004, "invalid chat name")
    state.app_chats[chat_id] = AppChat(corp_id, name[:APPCHAT_NAME_MAX], owner, distinct)
    return _ok(chatid=chat_id)


async def _wecom_appchat_send(request: web.Request) -> web.Response:
    state = _platform(request)
    corp_id = _wecom_owner(request)
    body = await _body(request)
    chat_id = str(body.get("chatid") or "")
    # Only a chat this app created through appchat/create ("只允许企业自建应用调用…", appchat/send,
    # https://developer.work.weixin.qq.com/document/path/90248): an ordinary group's id, or none, is
    # 86003 (chatid 不存在, https://developer.work.weixin.qq.com/document/path/90313).
    chat = state.app_chats.get(chat_id)
    if chat is None or chat.corp_id != corp_id:
        raise _APIError(86003, "chat not exist")
    msgtype = body.get("msgtype")
    if msgtype not in ("text", "markdown", "file"):
        raise _APIError(40008, "invalid message type")
    content = _file_name(state, body) if msgtype == "file" else _cut(_content(body, msgtype))
    state._deliver("appchat", chat_id, corp_id, msgtype, content, body)
    return _ok()


def _file_name(state: FakePlatform, body: dict[str, Any]) -> str:
    """A file message (msgtype file, {"file": {"media_id": …}}): the uploaded file's name, as WeCom shows it.
    An unknown or expired media_id is 40007 (message/send, appchat/send: document/path/90236, 90248)."""
    part = body.get("file")
    media_id = part.get("media_id") if isinstance(part, dict) else None
    media = state._wecom_media.get(media_id) if isinstance(media_id, str) else None
    if media is None or state.clock() - media.uploaded_at > WECOM_MEDIA_TTL_S:
        raise _APIError(40007, "invalid media_id")
    return media.filename


def _multipart_file(request: web.Request, raw: bytes, name: str) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of the part `name` of a multipart/form-data body, None without one.
    Parsed from the bytes the middleware read already (the request's stream is consumed)."""
    import email.parser
    import email.policy

    header = request.headers.get("Content-Type", "")
    if not header.lower().startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {header}\r\nMIME-Version: 1.0\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != name:
            continue
        filename = part.get_filename() or ""
        data = part.get_payload(decode=True)
        return filename, part.get_content_type(), data if isinstance(data, bytes) else b""
    return None


async def _wecom_media_upload(request: web.Request) -> web.Response:
    state = _platform(request)
    _wecom_owner(request)
    media_type = request.query.get("type", "")
    if media_type not in WECOM_MEDIA_RULES:
        raise _APIError(40004, "invalid media type")
    found = _multipart_file(request, await request.read(), "media")
    if found is None:
        raise _APIError(41005, "media data missing")
    filename, content_type, data = found
    max_bytes, suffixes = WECOM_MEDIA_RULES[media_type]
    if suffixes is not None and not filename.lower().endswith(suffixes):
        raise _APIError(40005, "invalid file type")
    if not WECOM_MEDIA_MIN_BYTES <= len(data) <= max_bytes:
        raise _APIError(40006, "invalid file size")
    media_id = f"fake-media-{secrets.token_hex(12)}"
    uploaded = state.clock()
    state._wecom_media[media_id] = UploadedMedia(media_id, media_type, filename, content_type, data, uploaded)
    return _ok(type=media_type, media_id=media_id, created_at=str(int(uploaded)))


async def _wecom_webhook_send(request: web.Request) -> web.Response:
    state = _platform(request)
    key = request.query.get("key", "")
    if not key or (state.webhook_keys is not None and key not in state.webhook_keys):
        raise _APIError(93000, "invalid webhook url")
    body = await _body(request)
    msgtype = body.get("msgtype")
    if msgtype not in ("text", "markdown"):
        raise _APIError(40008, "invalid message type")
    content = _webhook_content(body, msgtype)
    now = state.clock()
    recent = [t for t in state._webhook_sends.get(key, []) if now - t < 60]
    if len(recent) >= state.webhook_rate_per_min:
        raise _APIError(45009, "api freq out of limit")
    state._webhook_sends[key] = [*recent, now]
    state._deliver("webhook", key, "webhook", msgtype, content, body)
    return _ok()


async def _wecom_aibot_response(request: web.Request) -> web.Response:
    state = _platform(request)
    code = state._response_codes.get(request.query.get("response_code", ""))
    if code is None or code.used or code.expires_at < state.clock():
        raise _APIError(INVALID_RESPONSE_CODE, "invalid response_code")
    body = await _body(request)
    msgtype = str(body.get("msgtype", ""))
    part = body.get(msgtype)
    text = str(part.get("content", "")) if isinstance(part, dict) else json.dumps(part, ensure_ascii=False)
    code.used = True
    state._deliver("smartbot", code.recipient, "smartbot", msgtype, text, body)
    return _ok()


# --- recording, fault injection and error answers ---


@web.middleware
async def _platform_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    path = request.path
    if path.startswith(CONTROL_PREFIX):
        return await handler(request)
    state = request.app[FAKE_PLATFORM]
    platform, api = "wechat", path
    for name, prefix in (("wechat", WECHAT_PREFIX), ("wecom", WECOM_PREFIX)):
        if path.startswith(prefix + "/"):
            platform, api = name, path[len(prefix) :]
    raw = await request.read()
    multipart = request.headers.get("Content-Type", "").lower().startswith("multipart/")
    body = {"multipart_bytes": len(raw)} if multipart else _parse_body(raw)
    call = RecordedCall(
        index=len(state.calls),
        method=request.method,
        path=path,
        api=api,
        platform=platform,
        query=dict(request.query),
        body=body,
        time=state.clock(),
        errcode=0,
        http_status=200,
    )
    state.calls.append(call)

    fault = state._take_fault(path)
    misconfigured = state._misconfiguration(path) if fault is None else None
    if misconfigured is not None:
        call.errcode = misconfigured[0]
        return _error(*misconfigured)
    if fault is not None and fault.delay_s:
        # A slow platform goes on with the call when the caller has given up waiting, as WeChat does: the
        # rest runs as a task of its own, which the cancellation of this request does not stop.
        return await asyncio.shield(asyncio.ensure_future(_answer(request, handler, call, fault)))
    return await _answer(request, handler, call, fault)


async def _answer(request: web.Request, handler: Any, call: RecordedCall, fault: _Fault | None) -> web.StreamResponse:
    if fault is not None:
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.http_status is not None:
            call.http_status, call.errcode = fault.http_status, -1
            return web.Response(status=fault.http_status, text=f"injected HTTP {fault.http_status}")
        if fault.errcode is not None or not fault.delay_s:
            errcode = -1 if fault.errcode is None else fault.errcode
            call.errcode = errcode
            return _error(errcode, "injected error" if errcode != -1 else "system error")
    try:
        response = await handler(request)
    except _APIError as exc:
        call.errcode = exc.errcode
        return _error(exc.errcode, exc.errmsg)
    except web.HTTPException as exc:
        call.http_status, call.errcode = exc.status, -1
        raise
    call.http_status = response.status  # handlers answer errors by raising _APIError
    return response


# --- control API (JSON) for the simulator process ---


async def _control_calls(request: web.Request) -> web.Response:
    state = _platform(request)
    after = int(request.query.get("after", "-1"))
    return web.json_response({"calls": [c.to_json() for c in state.calls if c.index > after]})


async def _control_messages(request: web.Request) -> web.Response:
    state = _platform(request)
    after = int(request.query.get("after", "-1"))
    recipient = request.match_info.get("recipient")
    selected = [
        m.to_json() for m in state.messages if m.index > after and (recipient is None or m.recipient == recipient)
    ]
    last = selected[-1]["index"] if selected else after
    return web.json_response({"messages": selected, "last": last, "generation": state.generation})


async def _control_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body is not JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body is not a JSON object")
    return body


def _control_ok(**data: Any) -> web.Response:
    return web.json_response({"ok": True, **data})


async def _control_fail(request: web.Request) -> web.Response:
    state = _platform(request)
    body = await _control_body(request)
    path = body.get("path")
    if not isinstance(path, str):
        raise web.HTTPBadRequest(text="path is required")
    options: dict[str, Any] = {
        "errcode": body.get("errcode"),
        "http_status": body.get("http_status"),
        "delay_s": body.get("delay_s"),
    }
    count = body.get("count", 1)
    if count is None:
        state.fail_all(path, **options)
    else:
        state.fail_next(path, int(count), **options, skip=int(body.get("skip") or 0))
    return _control_ok()


async def _control_recover(request: web.Request) -> web.Response:
    _platform(request).recover()
    return _control_ok()


async def _control_misconfigure(request: web.Request) -> web.Response:
    body = await _control_body(request)
    errcode, path = body.get("errcode"), body.get("path")
    if errcode not in MISCONFIGURATIONS or not (path is None or isinstance(path, str)):
        raise web.HTTPBadRequest(text=f"errcode must be one of {sorted(MISCONFIGURATIONS)}; path a string")
    _platform(request).misconfigure(int(errcode), path)
    return _control_ok()


async def _control_fix(request: web.Request) -> web.Response:
    body = await _control_body(request)
    errcode = body.get("errcode")
    _platform(request).fix(int(errcode) if isinstance(errcode, int) else None)
    return _control_ok()


async def _control_expire_tokens(request: web.Request) -> web.Response:
    _platform(request).expire_tokens()
    return _control_ok()


async def _control_spoil_tokens(request: web.Request) -> web.Response:
    _platform(request).spoil_tokens()
    return _control_ok()


async def _control_reset(request: web.Request) -> web.Response:
    _platform(request).reset()
    return _control_ok()


async def _control_user_message(request: web.Request) -> web.Response:
    body = await _control_body(request)
    state = _platform(request)
    if body.get("kind") == "event":
        state.note_user_event(str(body["openid"]), body.get("when"))
    else:
        state.note_user_message(str(body["openid"]), body.get("when"))
    return _control_ok()


async def _control_media(request: web.Request) -> web.Response:
    body = await _control_body(request)
    data = base64.b64decode(str(body["data_b64"]))
    _platform(request).add_media(str(body["media_id"]), data, str(body.get("content_type", "image/jpeg")))
    return _control_ok()


async def _control_login_code(request: web.Request) -> web.Response:
    body = await _control_body(request)
    unionid = body.get("unionid")
    _platform(request).add_login_code(str(body["code"]), str(body["openid"]), str(unionid) if unionid else None)
    return _control_ok()


async def _control_subscription(request: web.Request) -> web.Response:
    body = await _control_body(request)
    state = _platform(request)
    state.grant_subscription(str(body["openid"]), str(body["template_id"]), int(body.get("n", 1)))
    return _control_ok()


async def _control_link_unionid(request: web.Request) -> web.Response:
    body = await _control_body(request)
    unionid = _platform(request).link_unionid(str(body["name"]), str(body["openid"]))
    return _control_ok(unionid=unionid)


async def _control_response_code(request: web.Request) -> web.Response:
    body = await _control_body(request)
    code = _platform(request).issue_response_code(str(body["recipient"]))
    url = request.url.origin().join(request.app.router["wecom_aibot_response"].url_for().with_query(response_code=code))
    return _control_ok(response_code=code, response_url=str(url))


async def _control_qrcode(request: web.Request) -> web.Response:
    scene = _platform(request).qr_scene(request.match_info["ticket"])
    if scene is None:
        raise web.HTTPNotFound(text="unknown or expired ticket")
    return _control_ok(scene=scene)


def create_fake_platform(state: FakePlatform | None = None) -> web.Application:
    """The fake platform app; pass `state` to inspect and drive it in-process."""
    # Large enough for the largest upload WeCom takes (a 20 MB file) and its multipart framing.
    max_upload = WECOM_MEDIA_RULES["file"][0] + 1024 * 1024
    app = web.Application(middlewares=[_platform_middleware], client_max_size=max_upload)
    app[FAKE_PLATFORM] = state if state is not None else FakePlatform()
    wechat = WECHAT_PREFIX
    wecom = WECOM_PREFIX
    control = CONTROL_PREFIX
    app.router.add_post(f"{wechat}/cgi-bin/stable_token", _stable_token)
    app.router.add_post(f"{wechat}/cgi-bin/message/custom/send", _custom_send)
    app.router.add_post(f"{wechat}/cgi-bin/message/template/send", _template_send)
    app.router.add_get(f"{wechat}/cgi-bin/media/get", _media_get)
    app.router.add_post(f"{wechat}/cgi-bin/qrcode/create", _qrcode_create)
    app.router.add_get(f"{wechat}/cgi-bin/showqrcode", _showqrcode)
    app.router.add_post(f"{wechat}/wxa/getwxacodeunlimit", _wxacode_unlimit)
    app.router.add_get(f"{wechat}/sns/jscode2session", _jscode2session)
    app.router.add_post(f"{wechat}/cgi-bin/message/subscribe/send", _subscribe_send)
    app.router.add_post(f"{wechat}/cgi-bin/message/subscribe/bizsend", _subscribe_bizsend)
    app.router.add_get(f"{wechat}/cgi-bin/user/info", _user_info)
    app.router.add_post(f"{wechat}/wxa/business/getuserphonenumber", _get_phone_number)
    app.router.add_post(f"{wechat}/wxa/msg_sec_check", _msg_sec_check)
    app.router.add_post(f"{wechat}/wxa/media_check_async", _media_check_async)
    app.router.add_get(f"{wecom}/cgi-bin/gettoken", _wecom_gettoken)
    app.router.add_post(f"{wecom}/cgi-bin/message/send", _wecom_message_send)
    app.router.add_post(f"{wecom}/cgi-bin/appchat/create", _wecom_appchat_create)
    app.router.add_post(f"{wecom}/cgi-bin/appchat/send", _wecom_appchat_send)
    app.router.add_post(f"{wecom}/cgi-bin/media/upload", _wecom_media_upload)
    app.router.add_post(f"{wecom}/cgi-bin/webhook/send", _wecom_webhook_send)
    app.router.add_post(f"{wecom}/cgi-bin/aibot/response", _wecom_aibot_response, name="wecom_aibot_response")
    app.router.add_get(f"{control}/calls", _control_calls)
    app.router.add_get(f"{control}/messages", _control_messages)
    app.router.add_get(f"{control}/messages/{{recipient}}", _control_messages)
    app.router.add_post(f"{control}/fail", _control_fail)
    app.router.add_post(f"{control}/recover", _control_recover)
    app.router.add_post(f"{control}/misconfigure", _control_misconfigure)
    app.router.add_post(f"{control}/fix", _control_fix)
    app.router.add_post(f"{control}/expire_tokens", _control_expire_tokens)
    app.router.add_post(f"{control}/spoil_tokens", _control_spoil_tokens)
    app.router.add_post(f"{control}/reset", _control_reset)
    app.router.add_post(f"{control}/user_message", _control_user_message)
    app.router.add_post(f"{control}/media", _control_media)
    app.router.add_post(f"{control}/login_code", _control_login_code)
    app.router.add_post(f"{control}/subscription", _control_subscription)
    app.router.add_post(f"{control}/link_unionid", _control_link_unionid)
    app.router.add_post(f"{control}/response_code", _control_response_code)
    app.router.add_get(f"{control}/qrcode/{{ticket}}", _control_qrcode)
    return app


class FakePlatformControl:
    """Client of the control API, for a process that does not hold the FakePlatform object."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout_s: float = 5.0) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + CONTROL_PREFIX
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.generation: str | None = None  # of the platform's record, as of the last `messages()`

    async def _get(self, path: str, **params: str) -> dict[str, Any]:
        async with self._session.get(self._base + path, params=params, timeout=self._timeout) as resp:
            resp.raise_for_status()
            result: dict[str, Any] = await resp.json()
            return result

    async def _post(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        url = self._base + path
        async with self._session.post(url, json=dict(body or {}), timeout=self._timeout) as resp:
            resp.raise_for_status()
            result: dict[str, Any] = await resp.json()
            return result

    async def calls(self, after: int = -1) -> list[dict[str, Any]]:
        return list((await self._get("/calls", after=str(after)))["calls"])

    async def messages(self, recipient: str | None = None, after: int = -1) -> list[dict[str, Any]]:
        path = "/messages" if recipient is None else f"/messages/{recipient}"
        answer = await self._get(path, after=str(after))
        self.generation = answer.get("generation")
        return list(answer["messages"])

    async def fail(
        self,
        path_substring: str,
        count: int | None = 1,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay_s: float | None = None,
    ) -> None:
        """count=None: until recover()."""
        await self._post(
            "/fail",
            {
                "path": path_substring,
                "count": count,
                "errcode": errcode,
                "http_status": http_status,
                "delay_s": delay_s,
            },
        )

    async def recover(self) -> None:
        await self._post("/recover")

    async def misconfigure(self, errcode: int, path_substring: str | None = None) -> None:
        await self._post("/misconfigure", {"errcode": errcode, "path": path_substring})

    async def fix(self, errcode: int | None = None) -> None:
        await self._post("/fix", {"errcode": errcode})

    async def expire_tokens(self) -> None:
        await self._post("/expire_tokens")

    async def spoil_tokens(self) -> None:
        await self._post("/spoil_tokens")

    async def reset(self) -> None:
        await self._post("/reset")

    async def note_user_message(self, openid: str, when: float | None = None) -> None:
        await self._post("/user_message", {"openid": openid, "when": when})

    async def note_user_event(self, openid: str, when: float | None = None) -> None:
        await self._post("/user_message", {"openid": openid, "when": when, "kind": "event"})

    async def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        await self._post(
            "/media",
            {"media_id": media_id, "data_b64": base64.b64encode(data).decode(), "content_type": content_type},
        )

    async def add_login_code(self, code: str, openid: str, unionid: str | None = None) -> None:
        await self._post("/login_code", {"code": code, "openid": openid, "unionid": unionid})

    async def grant_subscription(self, openid: str, template_id: str, n: int = 1) -> None:
        await self._post("/subscription", {"openid": openid, "template_id": template_id, "n": n})

    async def link_unionid(self, name: str, oa_openid: str) -> str:
        return str((await self._post("/link_unionid", {"name": name, "openid": oa_openid}))["unionid"])

    async def issue_response_url(self, recipient: str) -> str:
        return str((await self._post("/response_code", {"recipient": recipient}))["response_url"])

    async def qr_scene(self, ticket: str) -> str | None:
        try:
            return str((await self._get(f"/qrcode/{ticket}"))["scene"])
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return None
            raise
