"""`mashang report hotspots [--weeks N]`: the committee's reports from the command line.

The figures come from handlers/reports/ (the same data the triage group's `统计 热点` shows).
Exit codes: 0 done, 2 a bad option.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config


def _weeks(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是整数：{text}") from None
    if not 1 <= value <= 52:
        raise argparse.ArgumentTypeError(f"应在 1 到 52 之间：{value}")
    return value


def add_report_parser(commands: Any) -> None:
    from handlers.reports.hotspots import DEFAULT_WEEKS

    parser = commands.add_parser("report", help="报表：热点", description="委员会的报表。")
    parser.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    reports = parser.add_subparsers(dest="report_kind", required=True, metavar="REPORT")
    hotspots = reports.add_parser(
        "hotspots",
        help="最近 7 天明显多于前几周的类别 × 区县（及联系点）",
        description="热点：最近 7 天里，某类别在某区县（或某联系点）的件数明显多于它自己前 N 周的水平"
        "（泊松分布上尾检验，p < 0.001，且不少于 5 件）。含扫码件和 12345 热线件。",
    )
    hotspots.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    hotspots.add_argument(
        "--weeks", type=_weeks, default=DEFAULT_WEEKS, metavar="N", help=f"与前 N 周比较（默认 {DEFAULT_WEEKS}）"
    )


async def run_report(
    config: Config, args: argparse.Namespace, *, out: IO[str] | None = None, init_database: bool = True
) -> int:
    from handlers.reports.hotspots import find_hotspots
    from handlers.texts.reports import hotspots_lines
    from models.db import close_db, init_db

    out = out or sys.stdout
    if init_database:
        await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        report = await find_hotspots(weeks=args.weeks)
    finally:
        if init_database:
            await close_db()
    print("\n".join(hotspots_lines(report, markdown=False)), file=out)
    return 0
