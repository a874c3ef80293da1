"""`mashang import hotline FILE --mapping MAPPING.toml [--dry-run] [--sheet NAME]`: 12345 hotline work
orders from a CSV or XLSX export into cases (handlers/hotline/importer.py; docs/operations.md).

Exit codes: 0 every row went in (or was there already), 2 some rows were refused (the others went in),
1 the file or the mapping cannot be used (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config
    from handlers.hotline.importer import ImportReport

MAX_REFUSALS_SHOWN = 100


def add_import_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "import",
        help="导入外部数据：12345 热线工单",
        description="导入外部数据。目前支持 12345 热线工单（hotline）。",
    )
    kinds = parser.add_subparsers(dest="import_kind", required=True, metavar="KIND", title="数据")
    hotline = kinds.add_parser(
        "hotline",
        help="12345 热线工单（CSV 或 XLSX），每行一件，重复导入不会重复",
        description="把 12345 热线导出的工单（CSV：UTF-8、带 BOM 的 UTF-8 或 GB18030，自动识别；或 XLSX）"
        "导入为来源为「热线」的件。热线件不进分拣队列、没有期限、不给任何人发消息，但计入统计和热点。"
        "重复导入同一文件不改变任何数据；状态有变化的工单会更新。"
        "退出码：0 全部导入，2 有行被拒绝（其余已导入），1 文件或映射无法使用。",
    )
    hotline.add_argument("file", metavar="FILE", help="热线导出的 CSV 或 XLSX 文件（第一行是中文表头）")
    hotline.add_argument(
        "--mapping",
        required=True,
        metavar="MAPPING.toml",
        help="列名、时间格式、类别和状态的映射（见 docs/operations.md）",
    )
    hotline.add_argument("--dry-run", action="store_true", help="只检查并报告，不写入数据库")
    hotline.add_argument("--sheet", metavar="NAME", help="XLSX 的工作表名（默认第一个）")


def print_report(report: ImportReport, dry_run: bool, out: IO[str], err: IO[str]) -> None:
    from handlers.texts import hotline as texts

    for refusal in report.refusals[:MAX_REFUSALS_SHOWN]:
        print(refusal.text(), file=err)
    if report.refused > MAX_REFUSALS_SHOWN:
        print(texts.more_refused(report.refused - MAX_REFUSALS_SHOWN), file=err)
    if report.unmapped:
        print(texts.unmapped_categories(report.unmapped.most_common(), report.other_category), file=out)
    print(
        texts.summary(
            report.rows,
            report.new,
            report.updated,
            report.status_changed,
            report.unchanged,
            report.duplicates,
            report.refused,
            dry_run,
        ),
        file=out,
    )
    print(texts.outcome(report.refused, dry_run), file=out)


async def run_import(
    config: Config,
    args: argparse.Namespace,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    init_database: bool = True,
) -> int:
    from handlers.hotline.files import FileUnreadable, open_table
    from handlers.hotline.importer import import_orders
    from handlers.hotline.mapping import MappingError, load_mapping
    from handlers.texts import hotline as texts
    from models.db import close_db, init_db

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        mapping = load_mapping(args.mapping)
    except MappingError as exc:
        print(texts.bad_mapping(args.mapping, str(exc)), file=err)
        return 1
    try:
        with open_table(args.file, args.sheet) as table:
            if init_database:
                await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
            try:
                print(texts.heading(args.file, table.kind, table.encoding, table.sheet, args.dry_run), file=out)
                with _progress(table.estimated_rows, err) as progress:
                    report = await import_orders(
                        table, mapping, config.tracking.prefix.upper(), dry_run=args.dry_run, progress=progress
                    )
            finally:
                if init_database:
                    await close_db()
    except FileUnreadable as exc:
        print(texts.cannot_read(args.file, str(exc)), file=err)
        return 1
    except MappingError as exc:
        print(texts.bad_mapping(args.mapping, str(exc)), file=err)
        return 1
    print_report(report, args.dry_run, out, err)
    return report.exit_code


class _progress:
    """A tqdm bar on stderr when it is a terminal (rows read, of about `total`); nothing otherwise."""

    def __init__(self, total: int | None, stream: IO[str]) -> None:
        self.bar: Any = None
        if stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="行", file=stream, dynamic_ncols=True, desc="导入")

    def __enter__(self) -> Any:
        return self.update if self.bar is not None else None

    def update(self, rows: int) -> None:
        self.bar.update(rows - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.total = self.bar.n  # the estimate counted blank lines and lines inside quoted cells
            self.bar.refresh()
            self.bar.close()
