"""Console accounts: `mashang staff set-password` / `disable`, argon2 hashes, and the viewer role in chat."""

from __future__ import annotations

import io
from argparse import Namespace

import pytest

from bot.cli.staff import read_password, run_staff
from bot.config import build_config
from handlers.admin import accounts
from handlers.admin.roster import import_roster
from handlers.admin.stats_tokens import make_token, staff_of
from models.entities import Staff
from tests.harness import ROSTER, Stack
from tests.test_triage_and_members import new_case, say


def config_for(database_url: str):  # type: ignore[no-untyped-def]
    return build_config({"database": {"url": database_url}}, environ={})


async def test_set_password_stores_an_argon2_hash_and_checks_it(db: None) -> None:
    await import_roster(ROSTER)
    await accounts.set_password("s-li", "correct horse 1")
    staff = await Staff.get(key="s-li")
    assert staff.password_hash is not None
    assert staff.password_hash.startswith("$argon2id$")
    assert "correct horse 1" not in staff.password_hash
    assert (await accounts.check_login("s-li", "correct horse 1")) is not None
    assert await accounts.check_login("s-li", "correct horse 2") is None
    assert await accounts.check_login("nobody", "correct horse 1") is None
    # A roster import afterwards keeps the password.
    await import_roster(ROSTER)
    assert (await accounts.check_login("s-li", "correct horse 1")) is not None

    _staff, token = await make_token("s-li")
    assert await staff_of(token) is not None
    await accounts.disable("s-li")
    assert await accounts.check_login("s-li", "correct horse 1") is None
    assert await staff_of(token) is None  # a disabled account's statistics token goes too
    with pytest.raises(accounts.AccountError, match="至少 8 个字符"):
        await accounts.set_password("s-li", "short")
    with pytest.raises(accounts.AccountError, match="没有编号为 s-nobody"):
        await accounts.set_password("s-nobody", "long enough pass")


async def test_the_cli_reads_one_line_from_stdin_and_refuses_bad_input(
    database_url: str, db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    await import_roster(ROSTER)
    from models.db import close_db

    await close_db()  # the command opens the database itself
    config = config_for(database_url)
    args = Namespace(staff_command="set-password", key="s-zhou", stdin=True)
    assert await run_staff(config, args, stdin=io.StringIO("leader password\n")) == 0
    assert "周八（s-zhou，只读（领导））" in capsys.readouterr().out
    unknown = Namespace(staff_command="set-password", key="s-x", stdin=True)
    assert await run_staff(config, unknown, stdin=io.StringIO("p" * 9)) == 2
    assert "没有编号为 s-x" in capsys.readouterr().err
    assert await run_staff(config, args, stdin=io.StringIO("")) == 2
    assert await run_staff(config, Namespace(staff_command="disable", key="s-zhou")) == 0
    assert "已停用 周八（s-zhou）" in capsys.readouterr().out
    from models.db import init_db

    await init_db(database_url)
    staff = await Staff.get(key="s-zhou")
    assert staff.password_hash is None
    assert staff.console_disabled_at is not None


def test_on_a_terminal_the_password_is_asked_twice(capsys: pytest.CaptureFixture[str]) -> None:
    answers = iter(["secret pass 1", "secret pass 1"])
    assert read_password(False, io.StringIO(), ask=lambda _prompt: next(answers)) == "secret pass 1"
    answers = iter(["secret pass 1", "secret pass 2"])
    assert read_password(False, io.StringIO(), ask=lambda _prompt: next(answers)) is None
    assert "不一致" in capsys.readouterr().err


async def test_a_viewer_reads_in_chat_and_changes_nothing(stack: Stack) -> None:
    case = await new_case(stack, "o-v1", "医院门口停车太难")
    answer = await say(stack, "zhouba", f"派 {case.code} 张三")
    assert "只读账号" in answer
    await case.refresh_from_db()
    assert case.state == "received"
    assert case.code in await say(stack, "zhouba", f"查 {case.code}")
    assert "待分拣 1 件" in await say(stack, "zhouba", "待办")
