"""`mashang db …`: the version of the database schema and its migrations (models/migrations/).

    mashang db status     current version, pending migrations (changes nothing)
    mashang db upgrade    apply the pending migrations, oldest first

Exit codes: 0 done, 1 a migration failed (rolled back; the ones before it stay applied) or the
migrations of the code and of the database disagree.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bot.config import Config
    from models.migrate import Applied, Status

UPGRADE_COMMAND = "mashang db upgrade"


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    # `mashang db status --config x.toml` as well as `mashang --config x.toml db status`
    parser.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_db_parser(commands: Any) -> None:
    """Add `db` and its actions to the `mashang` sub-command parsers."""
    db = commands.add_parser(
        "db",
        help="数据库结构：查看版本、执行迁移",
        description="数据库结构的版本与迁移。升级前请先备份数据库；"
        "[database] auto_upgrade = false 时服务不自动升级，由运维用 mashang db upgrade 执行。",
    )
    _add_config_option(db)
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", title="操作")
    status = actions.add_parser(
        "status",
        help="显示当前版本和待执行的迁移（不修改数据库）",
        description="显示数据库的当前版本和待执行的迁移，不修改数据库。",
    )
    _add_config_option(status)
    upgrade = actions.add_parser(
        "upgrade",
        help="按顺序执行全部待执行的迁移",
        description="按顺序执行全部待执行的迁移，每个迁移在一个事务里，失败即回滚；"
        "几个进程同时执行也只执行一次。请先备份数据库。",
    )
    _add_config_option(upgrade)


def database_text(url: str) -> str:
    """Where the database is, without the password."""
    if url.startswith("sqlite://"):
        return f"SQLite {url[len('sqlite://') :].split('?', 1)[0]}"
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL {parts.hostname or ''}{port}{parts.path}"


def status_lines(state: Status) -> list[str]:
    if state.current is not None:
        lines = [f"当前版本：{state.current:04d}（{state.current_name}）"]
    elif state.legacy:
        baseline = state.pending[0].name if state.pending else "0001"
        lines = [f"当前版本：无迁移记录（由之前的版本创建；执行 {UPGRADE_COMMAND} 时记为基线 {baseline}，数据不变）"]
    else:
        lines = ["当前版本：空数据库"]
    if state.pending:
        lines.append(f"待执行的迁移（{len(state.pending)} 个）：")
        lines.extend(f"  {migration.name}" for migration in state.pending)
        lines.append(f"执行：{UPGRADE_COMMAND}")
    else:
        lines.append("待执行的迁移：无")
    if state.unknown:
        lines.append(f"注意：数据库里有本程序没有的迁移 {'、'.join(state.unknown)}（由更新的版本升级过）")
    return lines


def applied_line(applied: Applied) -> str:
    if applied.stamped:
        return f"已记为基线：{applied.migration.name}（数据库由之前的版本创建，数据不变）"
    return f"已升级：{applied.migration.name}"


def up_to_date_line(state: Status) -> str:
    version = f"版本 {state.current:04d}" if state.current is not None else "无迁移"
    return f"数据库已是最新（{version}）"


async def run_db(config: Config, action: str) -> int:
    from models import migrate
    from models.db import close_db, init_db

    logging.getLogger(migrate.__name__).setLevel(logging.WARNING)  # what it logs is printed here
    await init_db(config.database.url, create_tables=False)
    try:
        if action == "status":
            state = await migrate.status()
            print(f"数据库：{database_text(config.database.url)}")
            print("\n".join(status_lines(state)))
            return 0
        await migrate.upgrade(on_applied=lambda applied: print(applied_line(applied), flush=True))
        print(up_to_date_line(await migrate.status()))
        return 0
    except migrate.MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        await close_db()
