"""`mashang staff token <key>`, `mashang staff set-password <key> [--stdin]`, `mashang staff disable
<key>`: accounts of roster staff (what they may do is their roster role: admin, triage, viewer).

token prints a read-only token for the statistics API (`/api/v1/stats/...`) once and stores it hashed;
a new one revokes the one before. set-password (the web console's password) asks twice on a terminal
(getpass, nothing echoed); `--stdin` reads one line instead (for scripts). disable locks the console
account at once (its live sessions end at their next request) and revokes the statistics token.
Exit codes: 0 done, 2 refused (unknown key, passwords differ, too short, …).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config


def add_staff_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "staff", help="工作人员账号：统计接口令牌、控制台密码、停用", description="工作人员的账号。"
    )
    actions = parser.add_subparsers(dest="staff_command", required=True, metavar="ACTION", title="操作")
    token = actions.add_parser(
        "token",
        help="生成统计接口（/api/v1/stats）的只读令牌，之前的令牌作废",
        description="为名册里的工作人员生成统计接口（/api/v1/stats/...）的只读令牌。令牌只显示这一次，"
        "数据库里只保存它的哈希；再次生成时之前的令牌作废。工作人员停用后令牌随之失效。",
    )
    token.add_argument("staff_key", metavar="KEY", help="名册里工作人员的 key，例如 s-li")
    set_password = actions.add_parser(
        "set-password",
        help="设置（或重设）控制台密码：在终端输入两次；--stdin 从标准输入读一行",
        description="设置（或重设）工作人员的控制台密码（argon2 存储）。重设后，该账号已登录的会话全部失效。",
    )
    set_password.add_argument("key", metavar="KEY", help="名册里的工作人员编号，如 s-li")
    set_password.add_argument("--stdin", action="store_true", help="从标准输入读一行作为密码（不再确认）")
    disable = actions.add_parser(
        "disable",
        help="停用控制台账号：立即生效，已登录的会话随即结束",
        description="停用工作人员的控制台账号；重新设置密码即恢复。",
    )
    disable.add_argument("key", metavar="KEY", help="名册里的工作人员编号，如 s-li")


def read_password(use_stdin: bool, stdin: IO[str], ask: Any = getpass.getpass) -> str | None:
    """The new password, or None (and a line on stderr) when the two entries differ or input ended."""
    from handlers.texts import console as texts

    if use_stdin:
        line = stdin.readline()
        if not line:
            print(texts.PASSWORD_NO_INPUT, file=sys.stderr)
            return None
        return line.rstrip("\r\n")
    try:
        first = ask(texts.PASSWORD_PROMPT)
        second = ask(texts.PASSWORD_AGAIN)
    except EOFError:
        print(texts.PASSWORD_NO_INPUT, file=sys.stderr)
        return None
    if first != second:
        print(texts.PASSWORDS_DIFFER, file=sys.stderr)
        return None
    return str(first)


async def run_staff(
    config: Config,
    args: argparse.Namespace,
    *,
    stdin: IO[str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    init_database: bool = True,
) -> int:
    from handlers.admin import accounts
    from handlers.admin.stats_tokens import TokenError, make_token
    from handlers.texts import console as texts
    from handlers.texts import stats as stats_texts
    from models.db import close_db, init_db

    out, err = out or sys.stdout, err or sys.stderr
    password = None
    if args.staff_command == "set-password":
        password = read_password(args.stdin, stdin or sys.stdin)
        if password is None:
            return 2
    if init_database:
        await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        if args.staff_command == "token":
            staff, token = await make_token(args.staff_key)
            print(stats_texts.token_made(staff.name, staff.key, token), file=out)
        elif password is not None:
            staff = await accounts.set_password(args.key, password)
            print(texts.password_set(staff.name, staff.key, staff.role), file=out)
        else:
            staff = await accounts.disable(args.key)
            print(texts.account_disabled(staff.name, staff.key), file=out)
    except (TokenError, accounts.AccountError) as exc:
        print(exc, file=err)
        return 2
    finally:
        if init_database:
            await close_db()
    return 0
