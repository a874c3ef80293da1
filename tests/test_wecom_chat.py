"""The triage group chat: appchat/send reaches only chats the app created through appchat/create
(the fake refuses the others as WeCom does), and `mashang wecom create-chat` creates one."""

from __future__ import annotations

import io

from bot.cli.main import build_parser
from bot.cli.wecom import run_wecom
from bot.demo.fake_platform import FakePlatform
from handlers.cases.outbox import send_to_triage
from models.jobs import Job, JobStatus
from tests.harness import Stack

OUTPUT: dict[str, str] = {}


async def create_chat(stack: Stack, *argv: str, name: str = "码上商分拣群", members: str = "chenqi,wangwu") -> int:
    """`mashang wecom create-chat` as an operator runs it, against the stack's fake WeCom."""
    args = build_parser().parse_args(
        ["wecom", "create-chat", "--name", name, "--owner", "lisi", "--members", members, *argv]
    )
    out, err = io.StringIO(), io.StringIO()
    assert stack.config is not None
    code = await run_wecom(stack.config, args, out=out, err=err)
    OUTPUT.update(out=out.getvalue(), err=err.getvalue())
    return code


async def test_create_chat_prints_the_chat_id_to_configure(stack: Stack) -> None:
    assert await create_chat(stack, members="chenqi，WangWu lisi") == 0, OUTPUT["err"]
    [call] = stack.platform.calls_to("/cgi-bin/appchat/create")
    assert call.body["owner"] == "lisi"
    assert call.body["userlist"] == ["lisi", "chenqi", "WangWu"]  # the owner once, first
    assert "chatid" not in call.body  # WeCom makes one up
    [chat_id] = stack.platform.app_chats
    assert chat_id.isalnum()
    assert stack.platform.app_chats[chat_id].name == "码上商分拣群"
    out = OUTPUT["out"]
    assert "已建立群聊「码上商分拣群」（3 人，群主 lisi）" in out
    assert f'triage_chat_id = "{chat_id}"' in out
    assert f"MASHANG_WECOM_TRIAGE_CHAT_ID={chat_id}" in out

    # Configured, the chat gets the triage messages.
    await stack.restart_with(wecom={"triage_chat_id": chat_id})
    await send_to_triage("# 待分拣 1 件")
    await stack.run_jobs()
    assert [(m.channel, m.text) for m in stack.platform.sent_to(chat_id)] == [("appchat", "# 待分拣 1 件")]


async def test_appchat_send_to_a_chat_the_app_did_not_create_is_refused(stack: Stack) -> None:
    # An ordinary group's id (or a typo) in the configuration: WeCom answers 86003, nothing arrives.
    await stack.restart_with(wecom={"triage_chat_id": "wrORDINARYGROUP"})
    await send_to_triage("# 待分拣 1 件")
    await stack.run_jobs()
    assert stack.platform.sent_to("wrORDINARYGROUP") == []
    sends = stack.platform.calls_to("/cgi-bin/appchat/send")
    assert sends
    assert {call.errcode for call in sends} == {86003}
    assert await Job.filter(status=JobStatus.DONE, kind="send.triage").count() == 0

    # Created through the API with that id, the same configuration works: the refused message was held
    # back (a configuration error, issue 14 §4), and at its next slow retry both go, in order.
    assert await create_chat(stack, "--chat-id", "wrORDINARYGROUP") == 0, OUTPUT["err"]
    await send_to_triage("# 待分拣 2 件")
    await stack.run_jobs()
    await stack.make_jobs_due()
    await stack.run_jobs()
    texts = [m.text for m in stack.platform.sent_to("wrORDINARYGROUP")]
    assert [t for t in texts if t.startswith("# 待分拣")] == ["# 待分拣 1 件", "# 待分拣 2 件"]


async def test_create_chat_refuses_what_wecom_would_refuse(stack: Stack) -> None:
    # Checked before any call: too few members, a chat id WeCom does not take, a bad userid, a long name.
    assert await create_chat(stack, members="lisi,LISI") == 2
    assert "群成员（含群主）至少 2 人，现在只有 1 人" in OUTPUT["err"]
    assert await create_chat(stack, "--chat-id", "triage-chat") == 2
    assert "群聊 ID「triage-chat」不合格" in OUTPUT["err"]
    assert await create_chat(stack, members="chenqi,张三") == 2
    assert "「张三」不是企业微信 userid" in OUTPUT["err"]
    assert await create_chat(stack, name="群" * 51) == 2
    assert "群名最多 50 个字" in OUTPUT["err"]
    assert stack.platform.calls_to("/cgi-bin/appchat/create") == []

    # A chat id already taken: WeCom's refusal, said in Chinese with what to do.
    assert await create_chat(stack, "--chat-id", "triage1") == 0
    assert await create_chat(stack, "--chat-id", "triage1") == 2
    assert "企业微信拒绝建群（错误码 86001" in OUTPUT["err"]
    assert "换一个 --chat-id" in OUTPUT["err"]
    assert list(stack.platform.app_chats) == ["triage1"]


async def test_create_chat_with_the_demo_credentials_never_calls_the_real_wecom(stack: Stack) -> None:
    from dataclasses import replace

    from bot.config import WeComConfig

    assert stack.config is not None
    demo = WeComConfig()  # config.example.toml's corp id and secret, pointed at the real host
    stack.config = replace(stack.config, wecom=replace(demo, api_base_url="https://qyapi.weixin.qq.com"))
    assert await create_chat(stack) == 2
    assert "wecom.corp_id, wecom.secret" in OUTPUT["err"]
    assert "加 --demo" in OUTPUT["err"]


def test_the_demo_fake_knows_the_configured_triage_chat_only() -> None:
    # `serve --demo` starts a fresh fake: the configured chat is one the app created earlier.
    from dataclasses import replace

    from bot.config import build_config

    config = build_config({}, environ={})
    assert FakePlatform.for_config(config).app_chats == {}
    configured = replace(config, wecom=replace(config.wecom, triage_chat_id="wrDEMO"))
    assert list(FakePlatform.for_config(configured).app_chats) == ["wrDEMO"]


def test_help_is_chinese() -> None:
    parser = build_parser()
    action = parser._subparsers._group_actions[0].choices["wecom"]  # type: ignore[union-attr]
    text = action._subparsers._group_actions[0].choices["create-chat"].format_help()  # type: ignore[union-attr]
    assert "appchat/send 只能发到本应用通过 appchat/create 建立的群" in text
    assert "成员的企业微信 userid，用逗号分隔" in text
