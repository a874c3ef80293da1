"""`mashang report hotspots [--weeks N]`, `mashang report similar [--since DATE] [--threshold X]`,
`mashang report members [--month YYYY-MM] [--format xlsx|csv] [--out FILE]`,
`mashang report draft <专题名> --format docx|pdf [--out DIR]`: the committee's reports from the command line.

The figures come from handlers/reports/ (the same data the triage group's `统计 热点` shows).
Exit codes: 0 done, 2 a bad option (or, for `draft`, no such topic, or a topic without cases).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, time, timedelta
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


def _since(text: str) -> datetime:
    """YYYY-MM-DD: from the start of that day, Beijing time."""
    from models.tracking import LOCAL_TZ

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是 YYYY-MM-DD 格式的日期：{text}") from None
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是数：{text}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"应在 0 和 1 之间（不含）：{text}")
    return value


SIMILAR_DAYS = 90  # --since by default: the last 90 days


def add_report_parser(commands: Any) -> None:
    from handlers.reports.hotspots import DEFAULT_WEEKS

    parser = commands.add_parser(
        "report", help="报表：热点、类似诉求、委员履职、专题报告草稿", description="委员会的报表。"
    )
    reports = parser.add_subparsers(dest="report_kind", required=True, metavar="REPORT", title="报表")
    hotspots = reports.add_parser(
        "hotspots",
        help="最近 7 天明显多于前几周的类别 × 区县（及联系点）",
        description="热点：最近 7 天里，某类别在某区县（或某联系点）的件数明显多于它自己前 N 周的水平"
        "（泊松分布上尾检验，p < 0.001，且不少于 5 件）。含扫码件和 12345 热线件。",
    )
    hotspots.add_argument(
        "--weeks", type=_weeks, default=DEFAULT_WEEKS, metavar="N", help=f"与前 N 周比较（默认 {DEFAULT_WEEKS}）"
    )
    similar = reports.add_parser(
        "similar",
        help="文字描述同一类问题的诉求分组（一件事 → 一类事）",
        description="类似诉求分组：扫码件和 12345 热线件的文字分词后按 TF-IDF 比较，描述同一类问题的归为一组，"
        "列出每组的件数、区县和代表性的一件。",
    )
    similar.add_argument(
        "--since",
        type=_since,
        default=None,
        metavar="DATE",
        help=f"从这一天起（YYYY-MM-DD，北京时间；默认最近 {SIMILAR_DAYS} 天）",
    )
    similar.add_argument(
        "--threshold", type=_threshold, default=None, metavar="X", help="相似度阈值（0 到 1，默认 [similar] threshold）"
    )
    members = reports.add_parser(
        "members",
        help="委员履职：每位委员某月交办、接收、答复、按时答复、平均答复天数、满意率",
        description="委员履职画像：某月交办给每位委员的件，以及其中接收、答复、按时答复的件数，"
        "平均答复天数和回访满意率（与控制台「委员」页同一口径）。",
    )
    members.add_argument("--month", type=_month, default=None, metavar="YYYY-MM", help="月份（默认本月，北京时间）")
    members.add_argument("--format", dest="fmt", choices=["csv", "xlsx"], default="csv", help="文件格式（默认 csv）")
    members.add_argument(
        "--out", metavar="FILE", help="写入这个文件（默认：csv 输出到屏幕，xlsx 写 members-YYYY-MM.xlsx）"
    )

    draft = reports.add_parser(
        "draft",
        help="专题的社情民意信息草稿（Word 或 PDF）",
        description="把一个专题（分拣群里用「线索」列入的件）写成社情民意信息草稿：标题、基本情况（件数、周数、"
        "区县和联系点、热线件数、满意率）、各周件数图、3 到 5 段有代表性的群众原话（个人信息已隐去）、"
        "全部编号的附件。",
    )
    draft.add_argument("topic", metavar="专题名", help="专题名（「专题」命令列出的名称）")
    draft.add_argument(
        "--format", dest="draft_format", choices=("docx", "pdf"), default="docx", help="文件格式（默认 docx）"
    )
    draft.add_argument("--out", dest="out_dir", default=".", metavar="DIR", help="写到这个目录（默认当前目录）")


def _month(text: str) -> date:
    from handlers.reports.filters import FilterError, month_value

    try:
        return month_value(text)
    except FilterError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


async def run_report(
    config: Config,
    args: argparse.Namespace,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    init_database: bool = True,
) -> int:
    from handlers.reports.hotspots import find_hotspots
    from handlers.reports.leads import TopicError
    from handlers.texts.reports import hotspots_lines
    from models.db import close_db, init_db

    out = out or sys.stdout
    if init_database:
        await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        if args.report_kind == "members":
            return await _members(args, out)
        if args.report_kind == "draft":
            try:
                lines = await _draft_lines(args)
            except TopicError as exc:
                print(f"错误：{exc}", file=err or sys.stderr)
                return 2
        elif args.report_kind == "similar":
            lines = await _similar_lines(config, args)
        else:
            lines = hotspots_lines(await find_hotspots(weeks=args.weeks), markdown=False)
    finally:
        if init_database:
            await close_db()
    print("\n".join(lines), file=out)
    return 0


async def _similar_lines(config: Config, args: argparse.Namespace) -> list[str]:
    from handlers.reports.similar import find_groups
    from handlers.texts.reports import similar_report_lines
    from models.timeutil import now

    since = args.since or now() - timedelta(days=SIMILAR_DAYS)
    threshold = args.threshold or config.similar.threshold
    report = await find_groups(since, threshold, config.similar.min_size, config.similar.max_cases)
    return similar_report_lines(report)


async def _members(args: argparse.Namespace, out: IO[str]) -> int:
    """The members figure of one month: the CSV on `out` (or --out), the XLSX into a file."""
    from pathlib import Path

    from handlers.reports.export import export
    from handlers.reports.filters import next_month, parse_filters, today
    from handlers.reports.members import member_figures
    from handlers.texts import stats as texts

    month = args.month or today().replace(day=1)
    last = next_month(month) - timedelta(days=1)
    filters = await parse_filters({"since": month.isoformat(), "until": last.isoformat()}, monthly=True)
    figure = await member_figures(filters)
    exported = await export(figure, args.fmt, "members")
    if args.fmt == "csv" and not args.out:
        out.write(exported.body.decode("utf-8-sig"))
        return 0
    path = Path(args.out or f"members-{month:%Y-%m}.{args.fmt}")
    await asyncio.to_thread(path.write_bytes, exported.body)
    print(texts.report_written(str(path), len(figure.tables["members"].rows)), file=out)
    return 0


async def _draft_lines(args: argparse.Namespace) -> list[str]:
    import asyncio
    from pathlib import Path

    from handlers.reports.draft import draft_file
    from handlers.reports.leads import TopicError
    from handlers.texts.markdown import plain
    from handlers.texts.reports import draft_written

    try:
        draft = await draft_file(args.topic, args.draft_format)
    except TopicError as exc:
        raise TopicError(plain(str(exc))) from None  # written for the chat's markdown, read on a terminal

    def write() -> Path:
        folder = Path(args.out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / draft.filename
        path.write_bytes(draft.data)
        return path

    return [draft_written(str(await asyncio.to_thread(write)))]
