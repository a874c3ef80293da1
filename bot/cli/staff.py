"""`mashang staff token <key>`: a read-only token for the statistics API (`/api/v1/stats/...`) for a staff
member of the roster. It is printed once and stored hashed; a new one revokes the one before.
Exit codes: 0 made, 2 no such (or no longer active) staff member."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config


def add_staff_parser(commands: Any) -> None:
    parser = commands.add_parser("staff", help="工作人员：统计接口令牌", description="工作人员的账号。")
    parser.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    token = actions.add_parser(
        "token",
        help="生成统计接口（/api/v1/stats）的只读令牌，之前的令牌作废",
        description="为名册里的工作人员生成统计接口（/api/v1/stats/...）的只读令牌。令牌只显示这一次，"
        "数据库里只保存它的哈希；再次生成时之前的令牌作废。工作人员停用后令牌随之失效。",
    )
    token.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    token.add_argument("staff_key", metavar="KEY", help="名册里工作人员的 key，例如 s-li")


async def run_staff(
    config: Config,
    args: argparse.Namespace,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    init_database: bool = True,
) -> int:
    from handlers.admin.stats_tokens import TokenError, make_token
    from handlers.texts import stats as texts
    from models.db import close_db, init_db

    out, err = out or sys.stdout, err or sys.stderr
    if init_database:
        await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        staff, token = await make_token(args.staff_key)
    except TokenError as exc:
        print(exc, file=err)
        return 2
    finally:
        if init_database:
            await close_db()
    print(texts.token_made(staff.name, staff.key, token), file=out)
    return 0
