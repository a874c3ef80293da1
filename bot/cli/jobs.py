"""`mashang jobs list [--dead] [--limit N]`, `mashang jobs retry <id>... | --all-dead`: the durable jobs
(outbound messages, timers) an operator looks at after a configuration error or an outage.

A dead job (given up: an error retrying cannot help, its attempts used up, or a configuration error not
fixed within `[jobs] misconfigured_ceiling`) is kept, never dropped; `retry` puts it back in the queue
with its attempts counted from zero. A running service picks it up within its poll interval.
Exit codes: 0 done, 1 an id that is not a dead or waiting job (nothing is retried then).
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config


def add_jobs_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "jobs",
        help="后台任务：查看待发、已放弃的消息，重新发送",
        description="后台任务（发给群众、委员、分拣群的消息，期限计时）。配置错误或微信中断期间的消息不会丢失："
        "它们在队列里等待；已放弃的任务（dead）可以用 retry 重新发送。",
    )
    parser.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="列出未完成的任务（待发、重试中）或已放弃的任务", description="列出未完成或已放弃的后台任务。"
    )
    listing.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    listing.add_argument("--dead", action="store_true", help="只列已放弃的任务（dead）")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="最多列出 N 个（默认 50）")
    retry = actions.add_parser(
        "retry",
        help="把已放弃（或等待重试）的任务立即重新执行",
        description="把已放弃的任务（或在等待重试的任务）立即重新执行，已试次数从零算起。",
    )
    retry.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", type=int, default=[], metavar="ID", help="任务编号（jobs list 第一列）")
    which.add_argument("--all-dead", action="store_true", help="全部已放弃的任务")


async def run_jobs_command(config: Config, args: argparse.Namespace, *, out: IO[str] | None = None) -> int:
    from handlers.texts import operators as texts
    from models import jobs
    from models.db import close_db, init_db

    out = out or sys.stdout
    await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        if args.jobs_command == "list":
            total, rows = await jobs.listed(dead=args.dead, limit=args.limit)
            print(texts.jobs_heading(total, dead=args.dead, shown=len(rows)), file=out)
            for job in rows:
                code = job.case.code if job.case is not None else None
                print(texts.job_line(job, code), file=out)
            return 0
        if args.all_dead:
            ids = await jobs.dead_ids()
        else:
            ids = list(dict.fromkeys(args.ids))
            found = await jobs.retriable_ids(ids)
            missing = [job_id for job_id in ids if job_id not in found]
            if missing:
                print(texts.jobs_not_retriable(missing), file=sys.stderr)
                return 1
        print(texts.jobs_retried(await jobs.retry_now(ids)), file=out)
        return 0
    finally:
        await close_db()
