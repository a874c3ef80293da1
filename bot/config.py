"""Configuration: TOML file, then `MASHANG_<SECTION>_<KEY>` environment overrides, validated at start.

Loaded by the app factory and the CLI, never at import time. A missing or malformed value raises
`ConfigError` whose message is one line naming the key.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bot import examples
from models.timeutil import parse_duration

DEFAULT_CONFIG = Path("config.toml")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # The address WeChat and the simulator reach us at; empty: http://<host>:<port> (see `base_url`).
    public_base_url: str = ""
    max_body_bytes: int = 65536
    workers: int = 4
    access_log: bool = False
    # A connection that has not sent a whole request (line and headers) this long after it opened or after
    # its last answer is closed: slow or idle clients cannot hold sockets. Also the keep-alive idle time,
    # so a reverse proxy's upstream keep-alive must be shorter (see bot/app.py `server_options`).
    idle_timeout_s: float = 15.0
    read_timeout_s: float = 10.0  # a request body not received whole within this long gets 408


def local_url(host: str, port: int) -> str:
    """http://host:port for a listening address, reachable from this machine: a wildcard address
    (0.0.0.0, ::, empty) is reached as 127.0.0.1, an IPv6 address in brackets."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite://data/mashang.sqlite3"
    auto_upgrade: bool = True  # apply pending migrations at start; false: refuse to start, `mashang db upgrade`


@dataclass(frozen=True)
class RedisConfig:
    url: str = ""  # empty: start an embedded redis-server under data/redis
    data_dir: str = "data/redis"
    key_prefix: str = "ms:"


@dataclass(frozen=True)
class TrackingConfig:
    prefix: str = "MS"


# What a template's data key may carry (`[wechat.templates.<purpose>] fields`, key = value name).
TEMPLATE_VALUES = ("code", "state", "time", "summary", "point")
# The data key types WeChat's category templates and subscribe messages use (bot/outbound/template_data.py
# says what each takes). `const` takes only a value approved on the admin page: give it as "=<value>";
# `keyword` is an old (pre-category) template's untyped key.
TEMPLATE_KEY_TYPES = (
    "thing", "character_string", "phrase", "number", "letter", "symbol", "name", "time", "date",
    "amount", "phone_number", "car_number", "const", "keyword",
)  # fmt: skip
TEMPLATE_PURPOSES = ("reply", "visit")
LEGACY_TEMPLATE_FIELDS = (("keyword1", "code"), ("keyword2", "state"), ("keyword3", "summary"))


@dataclass(frozen=True)
class TemplateConfig:
    """An official-account template message as added on the admin page: its id and what each typed
    data key (thing2, character_string1, ...) carries. `legacy`: the pre-2023 keyword1..3 layout of
    `wechat.reply_template_id` (with first/remark, which WeChat no longer shows)."""

    id: str
    fields: tuple[tuple[str, str], ...]
    miniprogram_page: str = ""  # when set, the message opens this mini-program page instead of the case page
    legacy: bool = False


# The fake platform's templates, as config.example.toml names them (demo_credentials refuses them
# against the real WeChat).
DEMO_TEMPLATES = {
    "reply": TemplateConfig(
        "demo-reply-template",
        (("character_string1", "code"), ("thing2", "summary"), ("phrase3", "state"), ("time4", "time")),
    ),
    "visit": TemplateConfig(
        "demo-visit-template", (("character_string1", "code"), ("thing2", "point"), ("time3", "time"))
    ),
}


@dataclass(frozen=True)
class WeChatConfig:
    app_id: str = "wxdemo0000000000"
    app_secret: str = "demo-secret"
    token: str = "demo-token"
    encoding_aes_key: str = ""
    # Which of the official account's message modes (plain, compat, safe) /wechat/callback takes; empty:
    # what the key implies (see `modes`). Only during a switch of modes in the admin console list both.
    accepted_modes: tuple[str, ...] = ()
    api_base_url: str = "https://api.weixin.qq.com"
    reply_template_id: str = ""  # the old single template (keyword1..3); [wechat.templates.reply] replaces it
    # [wechat.templates.reply] / [wechat.templates.visit]: see TemplateConfig (parsed by _templates).
    templates: Mapping[str, TemplateConfig] = field(default_factory=lambda: dict(DEMO_TEMPLATES))
    # How a citizen is reached past the customer-service window: template messages, subscription notices
    # (subscribe/bizsend), or not at all (a subscription account 订阅号 has neither: the message waits).
    out_of_window: str = "template"
    timestamp_tolerance_s: float = 300.0
    request_timeout_s: float = 10.0

    def template(self, purpose: str) -> TemplateConfig | None:
        """The template for `purpose` (reply | visit): the visit falls back to the reply's template, and
        the reply to the old `reply_template_id` in its keyword layout."""
        if purpose in self.templates:
            return self.templates[purpose]
        if purpose == "visit":
            return self.template("reply")
        if self.reply_template_id:
            return TemplateConfig(self.reply_template_id, LEGACY_TEMPLATE_FIELDS, legacy=True)
        return None

    def warnings(self) -> list[str]:
        """What start-up logs about this section (nothing stops the service)."""
        if self.reply_template_id and "reply" not in self.templates:
            return [
                "wechat.reply_template_id 使用旧版模板（keyword1..3）：新申请的类目模板须按其字段配置 "
                "[wechat.templates.reply]（见 docs/operations.md），否则微信拒绝发送（47003）"
            ]
        return []

    def modes(self) -> frozenset[str]:
        """The accepted modes: `accepted_modes`, else safe and compat with an EncodingAESKey, plain without.

        Plain mode's signature covers only the query string, not the body: with it accepted, one captured
        query string lets made-up bodies in for the whole timestamp tolerance. With a key configured,
        WeChat is set to an encrypted mode, so a plaintext callback can only be forged."""
        if self.accepted_modes:
            return frozenset(self.accepted_modes)
        return frozenset({"safe", "compat"}) if self.encoding_aes_key else frozenset({"plain"})


@dataclass(frozen=True)
class IntakeConfig:
    group_window_s: float = 600.0
    scan_binding_ttl_s: float = 86400.0
    media_dir: str = "data/media"
    passive_reply_budget_s: float = 3.0
    media_link_ttl: float = 30 * 86400.0  # staff's links to a citizen's voice, image or video


@dataclass(frozen=True)
class WeComConfig:
    corp_id: str = "wwdemo0000000000"
    agent_id: int = 1000002
    secret: str = "demo-wecom-secret"
    token: str = "demo-wecom-token"
    encoding_aes_key: str = ""
    api_base_url: str = "https://qyapi.weixin.qq.com"
    triage_webhook_key: str = "demo-triage-webhook"
    triage_chat_id: str = ""
    bot_token: str = ""
    bot_encoding_aes_key: str = ""
    # The smart bot's names as WeCom shows them (a name may contain a space): their @-mentions are taken
    # out of a group message wherever they stand.
    bot_names: tuple[str, ...] = ("码上商",)


@dataclass(frozen=True)
class SlaConfig:
    assign_within: float = 2 * 86400.0
    reply_within: float = 7 * 86400.0
    urgent_factor: float = 0.5
    remind_at: float = 0.75
    return_visit_after: float = 86400.0
    return_visit_timeout: float = 3 * 86400.0
    calendar: str = "natural"  # natural | workdays


@dataclass(frozen=True)
class MiniProgramConfig:
    app_id: str = "wxminidemo000000"
    app_secret: str = "demo-mini-secret"
    api_base_url: str = "https://api.weixin.qq.com"
    page: str = "pages/index/index"
    # /api/v1: our own session token (never WeChat's session_key) lives this long in Redis.
    session_ttl: float = 7 * 86400.0
    # Requests a minute to /api/v1, per mini-program openid and per client address; past them 429.
    rate_limit_per_openid: int = 60
    rate_limit_per_ip: int = 300
    # The client address is the first X-Forwarded-For entry (set only behind a proxy that writes it).
    trust_forwarded_for: bool = False
    # Subscribe messages (message/subscribe/send): replies and questions, and the return-visit survey.
    reply_template_id: str = "demo-mini-reply-template"
    visit_template_id: str = "demo-mini-visit-template"
    # The template's data keys, in the order: tracking code, title, content, time (reply) /
    # tracking code, prompt, time (visit). The key's type (thing, character_string, ...) sets its length.
    reply_template_keys: str = "character_string1 thing2 thing3 time4"
    visit_template_keys: str = "character_string1 thing2 time3"
    case_page: str = "pages/case/index"  # the page a subscribe message opens, with ?code=<tracking code>
    topic_page: str = "pages/topic/index"  # a consultation topic's page, with ?key=<topic key>
    # The message-push URL (/wxa/callback, 消息推送 in the mini-program's admin console): its Token and,
    # in safe mode (安全模式), its EncodingAESKey; empty key: plain mode only.
    push_token: str = "demo-mini-push-token"
    push_encoding_aes_key: str = ""


@dataclass(frozen=True)
class PosterConfig:
    committee_name: str = "政协湖州市委员会"
    headline: str = "扫码反映社情民意"
    instructions: str = "微信扫一扫，说出您的意见和建议；我们将给您一个查询编号，并在一周内答复。"
    font_path: str = ""  # empty: look for a system CJK font


@dataclass(frozen=True)
class RetentionConfig:
    inbox: float = 90 * 86400.0  # handled inbox rows (raw callbacks); 0 keeps them forever
    jobs: float = 90 * 86400.0  # finished jobs (dead ones are always kept); 0 keeps them forever
    uploads: float = 7 * 86400.0  # mini-program uploads never used in a message (row and file)
    requests: float = 7 * 86400.0  # stored answers to Idempotency-Key requests (retries come within minutes)


@dataclass(frozen=True)
class JobsConfig:
    # A configuration error (IP whitelist, secret, template, webhook key, ...) holds messages back: they
    # are tried again this often, without counting attempts, and given up (kept: `mashang jobs retry`)
    # once it has not been fixed for `misconfigured_ceiling`.
    misconfigured_retry: float = 600.0
    misconfigured_ceiling: float = 86400.0


@dataclass(frozen=True)
class CasePageConfig:
    link_ttl: float = 30 * 86400.0  # how long a case page link (behind a template message's url) opens


@dataclass(frozen=True)
class SimilarConfig:
    # Similar cases (类似, `mashang report similar`): a case joins a group when the cosine similarity of its
    # TF-IDF vector with the group's centre is at least this (tuned on tests/data/similar_cases.csv).
    threshold: float = 0.2
    min_size: int = 3  # a proposed group has at least this many cases
    max_cases: int = 200_000  # at most this many cases (the newest) are compared at once: memory stays bounded


@dataclass(frozen=True)
class ConsoleConfig:
    # The web console (/console): a session ends after this many minutes without a request.
    idle_minutes: int = 30


@dataclass(frozen=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8090

    @property
    def url(self) -> str:
        """Where the fake platform of `mashang serve --demo` listens (and `mashang simulate` finds it)."""
        return local_url(self.host, self.port)


# `mashang serve --demo`: short clocks, so that a return visit comes while somebody tries the service
# (the survey a minute after the reply, reminders and overdue notices within minutes). Production
# clocks ([sla]) are days; the demo does not read them.
DEMO_SLA = SlaConfig(
    assign_within=5 * 60.0,
    reply_within=10 * 60.0,
    urgent_factor=0.5,
    remind_at=0.75,
    return_visit_after=60.0,
    return_visit_timeout=5 * 60.0,
    calendar="natural",
)


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    wechat: WeChatConfig = field(default_factory=WeChatConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    wecom: WeComConfig = field(default_factory=WeComConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    miniprogram: MiniProgramConfig = field(default_factory=MiniProgramConfig)
    poster: PosterConfig = field(default_factory=PosterConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    case_page: CasePageConfig = field(default_factory=CasePageConfig)
    similar: SimilarConfig = field(default_factory=SimilarConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)


_DURATION_KEYS = {
    ("server", "idle_timeout_s"),
    ("server", "read_timeout_s"),
    ("sla", "assign_within"),
    ("sla", "reply_within"),
    ("sla", "return_visit_after"),
    ("sla", "return_visit_timeout"),
    ("intake", "group_window_s"),
    ("intake", "scan_binding_ttl_s"),
    ("intake", "passive_reply_budget_s"),
    ("intake", "media_link_ttl"),
    ("wechat", "timestamp_tolerance_s"),
    ("wechat", "request_timeout_s"),
    ("retention", "inbox"),
    ("retention", "jobs"),
    ("retention", "uploads"),
    ("retention", "requests"),
    ("jobs", "misconfigured_retry"),
    ("jobs", "misconfigured_ceiling"),
    ("case_page", "link_ttl"),
    ("miniprogram", "session_ttl"),
}
_URL_KEYS = {
    ("server", "public_base_url"),
    ("wechat", "api_base_url"),
    ("wecom", "api_base_url"),
    ("miniprogram", "api_base_url"),
}


_TEMPLATE_KEY_NAME = re.compile(r"[a-z_]+\d+")


def parse_templates(raw: Any) -> dict[str, TemplateConfig]:
    """[wechat.templates.reply] id = "...", fields = { character_string1 = "code", thing2 = "summary", ... }"""
    if not isinstance(raw, Mapping):
        raise ConfigError("wechat.templates：应是 [wechat.templates.reply] / [wechat.templates.visit] 这样的表")
    parsed = {}
    for purpose, table in raw.items():
        name = f"wechat.templates.{purpose}"
        if purpose not in TEMPLATE_PURPOSES:
            raise ConfigError(f"{name}：未知的模板（已知：{', '.join(TEMPLATE_PURPOSES)}）")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name}：应是含 id 和 fields 的表")
        unknown = set(table) - {"id", "fields", "miniprogram_page"}
        if unknown:
            raise ConfigError(f"{name}.{sorted(unknown)[0]}：未知的项")
        template_id, mapping = table.get("id"), table.get("fields")
        if not isinstance(template_id, str) or not template_id:
            raise ConfigError(f"{name}.id：应是公众号后台的模板 ID")
        if not isinstance(mapping, Mapping) or not mapping:
            raise ConfigError(f"{name}.fields：应把模板的每个数据项对应到 {', '.join(TEMPLATE_VALUES)} 之一")
        for key, value in mapping.items():
            if not _TEMPLATE_KEY_NAME.fullmatch(str(key)):
                raise ConfigError(f"{name}.fields：{key!r} 不是 thing2 这样的模板数据项")
            kind = str(key).rstrip("0123456789")
            if kind not in TEMPLATE_KEY_TYPES:
                raise ConfigError(
                    f"{name}.fields.{key}：{kind!r} 不是微信模板数据项的类型（{', '.join(TEMPLATE_KEY_TYPES)}）"
                )
            literal = isinstance(value, str) and value.startswith("=") and len(value) > 1
            if not literal and value not in TEMPLATE_VALUES:
                raise ConfigError(
                    f"{name}.fields.{key}：应是 {', '.join(TEMPLATE_VALUES)} 之一，"
                    f"或写成「=<固定值>」的固定值，实际是 {value!r}"
                )
            if kind == "const" and not literal:
                raise ConfigError(f"{name}.fields.{key}：const 项只能填审核通过的固定值，写成「=<固定值>」")
            if kind in ("time", "date") and not literal and value != "time":
                raise ConfigError(f"{name}.fields.{key}：{kind} 项应填时间（\"time\"），实际是 {value!r}")
        page = table.get("miniprogram_page", "")
        if not isinstance(page, str) or page.startswith("/"):
            raise ConfigError(f"{name}.miniprogram_page：应是不以「/」开头的页面路径")
        parsed[purpose] = TemplateConfig(template_id, tuple((str(k), str(v)) for k, v in mapping.items()), page)
    return parsed


def _coerce(section: str, key: str, raw: Any, default: Any) -> Any:
    name = f"{section}.{key}"
    if (section, key) == ("wechat", "templates"):
        if isinstance(raw, str):  # MASHANG_WECHAT_TEMPLATES: the same tables as JSON
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise ConfigError(f"{name}：不是 JSON（{exc}）") from None
        return parse_templates(raw)
    if (section, key) in _DURATION_KEYS:
        try:
            return parse_duration(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}：{exc}") from None
    if isinstance(default, tuple):  # a TOML array, or a comma-separated list in the environment
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
            raise ConfigError(f"{name}：应是名称的列表，实际是 {raw!r}")
        return tuple(item.strip().lower() for item in items if item.strip())
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {"1", "true", "yes", "0", "false", "no"}:
            return raw.lower() in {"1", "true", "yes"}
        raise ConfigError(f"{name}：应是 true 或 false，实际是 {raw!r}")
    if isinstance(default, int):
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}：应是整数，实际是 {raw!r}") from None
    if isinstance(default, float):
        try:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}：应是数字，实际是 {raw!r}") from None
    if not isinstance(raw, str):
        raise ConfigError(f"{name}：应是文字，实际是 {raw!r}")
    return raw


def _validate(config: Config) -> None:
    def fail(key: str, why: str) -> None:
        raise ConfigError(f"{key}：{why}")

    if not 0 < config.server.port < 65536:
        fail("server.port", f"应在 1 到 65535 之间，实际是 {config.server.port}")
    if config.server.max_body_bytes < 1024:
        fail("server.max_body_bytes", "至少 1024")
    if config.server.workers < 1:
        fail("server.workers", "至少 1")
    for key in ("idle_timeout_s", "read_timeout_s"):
        if getattr(config.server, key) <= 0:
            fail(f"server.{key}", "应大于零")
    for section, key in _URL_KEYS:
        value = getattr(getattr(config, section), key)
        if not re.match(r"^https?://[^\s/]+", value):
            fail(f"{section}.{key}", f"应是 http(s) 地址，实际是 {value!r}")
    db = config.database.url
    if not (db.startswith("sqlite://") or db.startswith(("postgres://", "postgresql://", "asyncpg://"))):
        fail("database.url", f"应以 sqlite:// 或 postgres:// 开头，实际是 {db!r}")
    if config.redis.url and not config.redis.url.startswith(("redis://", "rediss://", "unix://")):
        fail("redis.url", f"应为空（内置 Redis）或 redis:// 地址，实际是 {config.redis.url!r}")
    if not re.fullmatch(r"[A-Za-z]{1,8}", config.tracking.prefix):
        fail("tracking.prefix", f"应是 1 至 8 个字母，实际是 {config.tracking.prefix!r}")
    for section in ("wechat", "miniprogram"):
        for key in ("app_id", "app_secret"):
            if not getattr(getattr(config, section), key):
                fail(f"{section}.{key}", "不能为空")
    if not config.wechat.token or not re.fullmatch(r"[A-Za-z0-9]{3,32}|[\w-]{3,64}", config.wechat.token):
        fail("wechat.token", "应是 3 至 32 个字母或数字")
    for section, key in (
        ("wechat", "encoding_aes_key"),
        ("wecom", "encoding_aes_key"),
        ("wecom", "bot_encoding_aes_key"),
    ):
        value = getattr(getattr(config, section), key)
        if value and not re.fullmatch(r"[A-Za-z0-9]{43}", value):
            fail(f"{section}.{key}", "应为空，或恰好 43 个字母和数字")
    unknown_modes = set(config.wechat.accepted_modes) - {"plain", "compat", "safe"}
    if unknown_modes:
        fail("wechat.accepted_modes", f"只能写 plain、compat、safe，实际有 {', '.join(sorted(unknown_modes))}")
    if {"compat", "safe"} & config.wechat.modes() and not config.wechat.encoding_aes_key:
        fail("wechat.accepted_modes", "兼容模式和安全模式需要 wechat.encoding_aes_key")
    if config.wechat.out_of_window not in {"template", "subscribe", "none"}:
        fail("wechat.out_of_window", f"应是 template、subscribe 或 none，实际是 {config.wechat.out_of_window!r}")
    if config.wechat.out_of_window != "none" and config.wechat.template("reply") is None:
        fail(
            "wechat.templates.reply",
            '必须配置（id 和 fields），除非 wechat.out_of_window = "none"：超过 48 小时客服消息窗口的答复要用它',

        )
    if not config.wecom.corp_id:
        fail("wecom.corp_id", "不能为空")
    if not config.wecom.triage_webhook_key and not config.wecom.triage_chat_id:
        fail("wecom.triage_webhook_key", "wecom.triage_chat_id 为空时不能为空（新件发到哪里）")
    if config.wecom.agent_id <= 0:
        fail("wecom.agent_id", "应是正整数")
    if config.sla.calendar not in {"natural", "workdays"}:
        fail("sla.calendar", f"应是 'natural' 或 'workdays'，实际是 {config.sla.calendar!r}")
    if not 0 < config.sla.urgent_factor <= 1:
        fail("sla.urgent_factor", "应大于 0、不超过 1")
    if not 0 < config.sla.remind_at < 1:
        fail("sla.remind_at", "应在 0 到 1 之间（所给时间的比例）")
    for key in ("assign_within", "reply_within", "return_visit_after", "return_visit_timeout"):
        if getattr(config.sla, key) <= 0:
            fail(f"sla.{key}", "应大于零")
    if config.intake.group_window_s < 0:
        fail("intake.group_window_s", "不能是负数")
    for key in ("inbox", "jobs", "uploads", "requests"):
        if 0 < getattr(config.retention, key) < 86400:
            fail(f"retention.{key}", "应是 0（永久保留）或至少一天（'1d'）")
    if not 60 <= config.jobs.misconfigured_retry <= 86400:
        fail("jobs.misconfigured_retry", "应在一分钟到一天之间（'10m'）")
    if config.jobs.misconfigured_ceiling < max(3600, config.jobs.misconfigured_retry):
        fail("jobs.misconfigured_ceiling", "至少一小时，且不短于 jobs.misconfigured_retry（'24h'）")
    _validate_miniprogram(config.miniprogram, fail)
    if config.case_page.link_ttl < 3600:
        fail("case_page.link_ttl", "至少一小时（'1h'）；答复常在几天后才读（'30d'）")
    if config.intake.media_link_ttl < 3600:
        fail("intake.media_link_ttl", "至少一小时（'1h'）；工作人员常在几天后才打开卡片（'30d'）")
    if not 0 < config.similar.threshold < 1:
        fail("similar.threshold", f"应在 0 到 1 之间（余弦相似度），实际是 {config.similar.threshold}")
    if config.similar.min_size < 2:
        fail("similar.min_size", "至少 2（一组的件数）")
    if config.similar.max_cases < 1000:
        fail("similar.max_cases", "至少 1000")
    if not 1 <= config.console.idle_minutes <= 24 * 60:
        fail("console.idle_minutes", f"应在 1 到 1440（分钟）之间，实际是 {config.console.idle_minutes}")
    if not 0 < config.intake.passive_reply_budget_s < 5:
        fail("intake.passive_reply_budget_s", "应短于微信的 5 秒期限")


TEMPLATE_KEY = re.compile(
    r"(thing|character_string|phrase|time|date|number|letter|symbol|name|amount|phone_number|car_number)\d+"
)


def _validate_miniprogram(mini: MiniProgramConfig, fail: Any) -> None:
    if mini.session_ttl < 60:
        fail("miniprogram.session_ttl", "至少一分钟（如 '7d'）")
    for key in ("rate_limit_per_openid", "rate_limit_per_ip"):
        if getattr(mini, key) < 1:
            fail(f"miniprogram.{key}", "至少 1（每分钟请求数）")
    for key, count in (("reply_template_keys", 4), ("visit_template_keys", 3)):
        value = getattr(mini, key)
        keys = value.split()
        if len(keys) != count or not all(TEMPLATE_KEY.fullmatch(k) for k in keys):
            fail(f"miniprogram.{key}", f"应是 {count} 个 thing2 这样的模板数据项，实际是 {value!r}")
    for key in ("reply_template_id", "visit_template_id", "case_page"):
        if not getattr(mini, key):
            fail(f"miniprogram.{key}", "不能为空")
    if mini.case_page.startswith("/") or "?" in mini.case_page:
        fail("miniprogram.case_page", "应是不以「/」开头、不带查询参数的页面路径，如 pages/case/index")


def build_config(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Build a validated Config from parsed TOML data plus environment overrides."""
    environ = os.environ if environ is None else environ
    base = Config()
    sections: dict[str, Any] = {}
    known_sections = {f.name for f in fields(Config)}
    for section_name in data:
        if section_name not in known_sections:
            raise ConfigError(f"{section_name}：未知的段（已知：{', '.join(sorted(known_sections))}）")
    for section_field in fields(Config):
        section_name = section_field.name
        current = getattr(base, section_name)
        raw_section = data.get(section_name, {})
        if not isinstance(raw_section, Mapping):
            raise ConfigError(f"{section_name}：应是一个表")
        known_keys = {f.name for f in fields(current)}
        for key in raw_section:
            if key not in known_keys:
                raise ConfigError(f"{section_name}.{key}：未知的项")
        values: dict[str, Any] = {}
        for key_field in fields(current):
            key = key_field.name
            default = getattr(current, key)
            env_name = f"MASHANG_{section_name.upper()}_{key.upper()}"
            if env_name in environ:
                values[key] = _coerce(section_name, key, environ[env_name], default)
            elif key in raw_section:
                values[key] = _coerce(section_name, key, raw_section[key], default)
        if section_name == "wechat" and values.get("reply_template_id") and "templates" not in values:
            values["templates"] = {}  # the old single template stands for the reply (TemplateConfig.legacy)
        sections[section_name] = replace(current, **values)
    server = sections["server"]
    if not server.public_base_url:  # not configured: where we listen
        sections["server"] = replace(server, public_base_url=local_url(server.host, server.port))
    config = Config(**sections)
    _validate(config)
    return config


# Credentials whose example values only the fake platform accepts (section -> keys).
_CREDENTIALS = {
    "wechat": ("app_id", "app_secret", "token", "encoding_aes_key", "reply_template_id", "templates"),
    "wecom": (
        "corp_id",
        "secret",
        "token",
        "encoding_aes_key",
        "triage_webhook_key",
        "bot_token",
        "bot_encoding_aes_key",
    ),
}
_REAL_PLATFORM = re.compile(r"^https?://([^/]*\.)?qq\.com(:\d+)?(/|$)")  # api.weixin.qq.com, qyapi.weixin.qq.com


def demo_credentials(config: Config, keys: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    """Keys still holding config.example.toml's demo values while their section talks to the real
    WeChat/WeCom: a production config that forgot them would start and then fail on every call.
    `keys`: only these (section -> key names), e.g. what one command sends.
    Raises ConfigError when the packaged example cannot be read: without it the guard cannot work."""
    example = example_config()
    found = []
    for section_name, names in (_CREDENTIALS if keys is None else keys).items():
        section = getattr(config, section_name)
        if not _REAL_PLATFORM.match(section.api_base_url):
            continue
        demo = example.get(section_name, {})
        for key in names:
            value = getattr(section, key)
            if key == "templates":
                demo_ids = {t.get("id") for t in demo.get("templates", {}).values() if isinstance(t, Mapping)}
                found += [f"wechat.templates.{purpose}.id" for purpose, t in value.items() if t.id in demo_ids]
                continue
            if key == "triage_webhook_key" and config.wecom.triage_chat_id:
                continue  # the group chat id is used instead of the robot webhook
            if value and key in demo and value == demo[key]:
                found.append(f"{section_name}.{key}")
    return found


def example_config() -> dict[str, Any]:
    """config.example.toml as it ships inside the package (bot/examples), whatever the current
    directory and however mashang is installed. Raises ConfigError when it is missing or broken."""
    try:
        return tomllib.loads(examples.example_text(examples.CONFIG))
    except examples.ExampleMissingError as exc:
        raise ConfigError(f"config：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        message = f"config：随包安装的 {examples.CONFIG} 不是合法的 TOML（{exc}），请重新安装 mashang"
        raise ConfigError(message) from None


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load `path` (default config.toml, falling back to config.example.toml's demo values)."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return build_config(example_config(), environ)
        candidate = DEFAULT_CONFIG
    else:
        candidate = Path(path)
        if not candidate.exists():
            raise ConfigError(f"config：文件 {candidate} 不存在")
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config：{candidate} 不是合法的 TOML：{exc}") from None
    return build_config(data, environ)
