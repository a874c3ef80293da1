from pathlib import Path

import pytest

from bot.cli.main import demo_config
from bot.config import ConfigError, build_config, demo_credentials, load_config


def test_example_config_loads_with_demo_values() -> None:
    config = load_config(Path(__file__).resolve().parent.parent / "config.example.toml", environ={})
    assert config.tracking.prefix == "MS"
    assert config.sla.assign_within == 2 * 86400
    assert config.intake.group_window_s == 600
    assert config.wechat.api_base_url == "https://api.weixin.qq.com"


def test_environment_overrides_every_key() -> None:
    config = build_config(
        {"wechat": {"token": "fromfile"}},
        environ={
            "MASHANG_WECHAT_TOKEN": "fromenv",
            "MASHANG_SERVER_PORT": "9000",
            "MASHANG_SLA_REPLY_WITHIN": "3d",
        },
    )
    assert config.wechat.token == "fromenv"
    assert config.server.port == 9000
    assert config.sla.reply_within == 3 * 86400


def test_retention_is_in_days_and_zero_keeps_forever() -> None:
    assert build_config({}, environ={}).retention.inbox == 90 * 86400
    config = build_config({"retention": {"inbox": "30d", "jobs": 0}}, environ={})
    assert (config.retention.inbox, config.retention.jobs) == (30 * 86400, 0)


@pytest.mark.parametrize(
    ("data", "environ", "key"),
    [
        ({"server": {"port": "http"}}, {}, "server.port"),
        ({}, {"MASHANG_SERVER_PORT": "70000"}, "server.port"),
        ({"sla": {"assign_within": "soon"}}, {}, "sla.assign_within"),
        ({"sla": {"calendar": "lunar"}}, {}, "sla.calendar"),
        ({"wechat": {"encoding_aes_key": "short"}}, {}, "wechat.encoding_aes_key"),
        ({"wechat": {"api_base_url": "ftp://x"}}, {}, "wechat.api_base_url"),
        ({"database": {"url": "mysql://x"}}, {}, "database.url"),
        ({"tracking": {"prefix": "M1"}}, {}, "tracking.prefix"),
        ({"wechat": {"tokn": "x"}}, {}, "wechat.tokn"),
        ({"wechat": {"app_id": ""}}, {}, "wechat.app_id"),
        ({"wechat": {"templates": {}}}, {}, "wechat.templates.reply"),
        ({"wechat": {"out_of_window": "sms"}}, {}, "wechat.out_of_window"),
        ({"wechat": {"templates": {"reply": {"id": "t", "fields": {"thing2": "weather"}}}}}, {}, "wechat.templates"),
        ({"wechat": {"templates": {"reply": {"id": "t", "fields": {"标题": "code"}}}}}, {}, "wechat.templates"),
        ({"wechat": {"templates": {"notice": {"id": "t", "fields": {"thing2": "code"}}}}}, {}, "wechat.templates"),
        ({}, {"MASHANG_WECHAT_TEMPLATES": "{not json"}, "wechat.templates"),
        ({"wecom": {"triage_webhook_key": "", "triage_chat_id": ""}}, {}, "wecom.triage_webhook_key"),
        ({"retention": {"inbox": "90"}}, {}, "retention.inbox"),  # 90 seconds: surely meant days
        ({}, {"MASHANG_RETENTION_JOBS": "soon"}, "retention.jobs"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(data: dict, environ: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(data, environ=environ)
    message = str(info.value)
    assert message.startswith(key)
    assert "\n" not in message


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="不存在"):
        load_config(tmp_path / "nope.toml", environ={})


EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
REAL_VALUES = {
    "MASHANG_WECHAT_APP_ID": "wx1234567890abcdef",
    "MASHANG_WECHAT_APP_SECRET": "0123456789abcdef0123456789abcdef",
    "MASHANG_WECHAT_TOKEN": "realtoken2026",
    "MASHANG_WECHAT_ENCODING_AES_KEY": "Zyxwvutsrqponmlkjihgfedcba9876543210ABCDEFG",
    "MASHANG_WECHAT_TEMPLATES": '{"reply": {"id": "TmPl-Real-Reply", "fields": {"character_string1": "code", '
    '"thing2": "summary"}}, "visit": {"id": "TmPl-Real-Visit", "fields": {"character_string1": "code"}}}',
    "MASHANG_WECOM_CORP_ID": "ww1234567890abcdef",
    "MASHANG_WECOM_SECRET": "real-wecom-secret",
    "MASHANG_WECOM_TOKEN": "realwecomtoken",
    "MASHANG_WECOM_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ZYXWVUT",
    "MASHANG_WECOM_TRIAGE_WEBHOOK_KEY": "3f6c1d2e-real-hook",
    "MASHANG_WECOM_BOT_TOKEN": "realbottoken",
    "MASHANG_WECOM_BOT_ENCODING_AES_KEY": "0987654321abcdefghijklmnopqrstuvwxyzABCDEFG",
}


def test_demo_credentials_against_the_real_platform_are_named() -> None:
    demo = demo_credentials(load_config(EXAMPLE, environ={}))
    assert "wechat.app_id" in demo
    assert "wechat.templates.reply.id" in demo
    assert "wecom.triage_webhook_key" in demo
    assert len(demo) == len(REAL_VALUES) + 1  # both templates' ids come from one variable
    one_forgotten = {k: v for k, v in REAL_VALUES.items() if k != "MASHANG_WECHAT_TEMPLATES"}
    assert demo_credentials(load_config(EXAMPLE, environ=one_forgotten)) == [
        "wechat.templates.reply.id",
        "wechat.templates.visit.id",
    ]
    assert demo_credentials(load_config(EXAMPLE, environ=REAL_VALUES)) == []


def test_demo_credentials_are_fine_against_the_fake_platform() -> None:
    assert demo_credentials(demo_config(load_config(EXAMPLE, environ={}))) == []


def test_the_robot_webhook_is_not_asked_for_when_a_group_chat_is_used() -> None:
    environ = {k: v for k, v in REAL_VALUES.items() if k != "MASHANG_WECOM_TRIAGE_WEBHOOK_KEY"}
    assert demo_credentials(load_config(EXAMPLE, environ=environ)) == ["wecom.triage_webhook_key"]
    environ["MASHANG_WECOM_TRIAGE_CHAT_ID"] = "wrTriageGroup"
    assert demo_credentials(load_config(EXAMPLE, environ=environ)) == []


def test_accepted_callback_modes_follow_the_key_unless_listed() -> None:
    key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    assert build_config({}, environ={}).wechat.modes() == {"plain"}
    assert build_config({"wechat": {"encoding_aes_key": key}}, environ={}).wechat.modes() == {"safe", "compat"}
    listed = build_config({"wechat": {"encoding_aes_key": key, "accepted_modes": ["plain", "Safe"]}}, environ={})
    assert listed.wechat.modes() == {"plain", "safe"}
    from_env = build_config({"wechat": {"encoding_aes_key": key}}, environ={"MASHANG_WECHAT_ACCEPTED_MODES": "safe"})
    assert from_env.wechat.modes() == {"safe"}
    for wrong in ({"accepted_modes": ["aes"]}, {"accepted_modes": ["safe"]}, {"accepted_modes": [1]}):
        with pytest.raises(ConfigError) as info:
            build_config({"wechat": wrong}, environ={})
        assert str(info.value).startswith("wechat.accepted_modes"), wrong


def test_the_template_keys_come_from_the_config_and_the_old_template_id_still_works() -> None:
    fields = {"character_string1": "code", "thing7": "summary"}
    config = build_config({"wechat": {"templates": {"reply": {"id": "T1", "fields": fields}}}}, environ={})
    reply = config.wechat.template("reply")
    assert reply is not None
    assert reply.id == "T1"
    assert reply.fields == (("character_string1", "code"), ("thing7", "summary"))
    assert config.wechat.template("visit") == reply  # no visit template: the survey goes as a reply template
    assert config.wechat.warnings() == []
    old = build_config({"wechat": {"reply_template_id": "OLD-1"}}, environ={})
    legacy = old.wechat.template("reply")
    assert legacy is not None
    assert legacy.legacy
    assert legacy.id == "OLD-1"
    assert [key for key, _ in legacy.fields] == ["keyword1", "keyword2", "keyword3"]
    assert "47003" in old.wechat.warnings()[0]
    waiting = build_config({"wechat": {"out_of_window": "none", "templates": {}}}, environ={})
    assert waiting.wechat.template("reply") is None


def test_bot_names_may_have_spaces_in_the_file_and_the_environment() -> None:
    assert load_config(EXAMPLE, environ={}).wecom.bot_names == ("码上商",)
    environ = {"MASHANG_WECOM_BOT_NAMES": "码上商, 码上商 助手"}
    assert load_config(EXAMPLE, environ=environ).wecom.bot_names == ("码上商", "码上商 助手")
    assert build_config({"wecom": {"bot_names": ["码上商 助手"]}}, environ={}).wecom.bot_names == ("码上商 助手",)
