from pathlib import Path

import pytest

from bot.config import ConfigError, build_config, load_config


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
        ({}, {"MASHANG_WECHAT_REPLY_TEMPLATE_ID": ""}, "wechat.reply_template_id"),
        ({"wecom": {"triage_webhook_key": "", "triage_chat_id": ""}}, {}, "wecom.triage_webhook_key"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(data: dict, environ: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(data, environ=environ)
    message = str(info.value)
    assert message.startswith(key)
    assert "\n" not in message


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
