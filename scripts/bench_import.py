"""12345 hotline import at scale: generate an export of N work orders, import it with the real
`mashang import hotline` (a separate process, as an operator runs it), and print the time.

Three runs over one database: the first import (every row new), the same file again (every row
unchanged: nothing written), and a later export in which a tenth of the statuses changed. Each run
is timed from the start of the process to its end (Python start-up, reading, writing, commit).

    .venv/bin/python scripts/bench_import.py                       # 100,000 rows, CSV, SQLite
    .venv/bin/python scripts/bench_import.py --format xlsx
    .venv/bin/python scripts/bench_import.py --db-url postgres://postgres@127.0.0.1:5432/bench
    .venv/bin/python scripts/bench_import.py -n 20000 --encoding gb18030 --keep

With --db-url the database is emptied first (every table of the current schema dropped): give it a
database of its own. Exits 1 if a run does not exit 0 or the counts it reports are not the expected
ones.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import csv
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADERS = ["工单编号", "受理时间", "诉求内容", "所属区县", "诉求类别", "办理状态", "事发地址", "来电号码"]
DISTRICTS = ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县"]
CATEGORIES = {"交通出行": "transport", "医疗卫生": "health", "教育": "education", "营商环境": "economy"}
UNMAPPED = ["市容环卫", "噪声扰民"]  # to 其他
STATUSES = {"已受理": "open", "办理中": "open", "已办结": "closed"}
COMPLAINTS = [
    "小区门口路灯坏了一个多月，晚上出行很不方便",
    "公交站台缺少遮雨棚，下雨天候车的老人淋雨",
    "医院挂号排队时间太长，希望增加自助机",
    "学校门口早晚高峰乱停车，孩子过马路危险",
    "企业办理审批材料反复补正，希望一次告知",
    "楼下餐馆油烟扰民，多次反映未解决",
]

MAPPING = f"""\
[columns]
external_id = "工单编号"
received_at = "受理时间"
text = "诉求内容"
district = "所属区县"
category = "诉求类别"
status = "办理状态"
address = "事发地址"
phone = "来电号码"
[time]
format = "%Y-%m-%d %H:%M:%S"
[categories]
{chr(10).join(f'"{value}" = "{key}"' for value, key in CATEGORIES.items())}
[status]
{chr(10).join(f'"{value}" = "{target}"' for value, target in STATUSES.items())}
"""


def work_orders(count: int, seed: int) -> list[list[str]]:
    """`count` work orders over the last 180 days (Beijing time), each with its own number."""
    rng = random.Random(seed)
    start = datetime.now() - timedelta(days=180)
    categories = [*CATEGORIES, *UNMAPPED]
    rows = []
    for index in range(count):
        received = start + timedelta(seconds=rng.randrange(180 * 86400 - 3600))
        rows.append(
            [
                f"GD{index:09d}",
                received.strftime("%Y-%m-%d %H:%M:%S"),
                f"{rng.choice(COMPLAINTS)}（第 {index} 号）",
                rng.choice(DISTRICTS),
                rng.choice(categories),
                rng.choice(list(STATUSES)),
                f"{rng.choice(DISTRICTS)}{rng.randrange(1, 300)}号",
                f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}",
            ]
        )
    return rows


def write_export(path: Path, rows: list[list[str]], file_format: str, encoding: str) -> Path:
    if file_format == "xlsx":
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("工单")
        sheet.append(HEADERS)
        for row in rows:
            sheet.append(row)
        workbook.save(path)
        return path
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    data = buffer.getvalue()
    bom = codecs.BOM_UTF8 if encoding == "utf-8-sig" else b""
    path.write_bytes(bom + data.encode("gb18030" if encoding == "gb18030" else "utf-8"))
    return path


def mashang(env: dict[str, str], *argv: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *argv], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(f"mashang {' '.join(argv)} exited {result.returncode}")
    return elapsed, result.stdout


def expect(output: str, pattern: str) -> None:
    if not re.search(pattern, output):
        print(output, file=sys.stderr)
        raise SystemExit(f"expected {pattern!r} in the summary")


async def empty_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--encoding", choices=["utf-8-sig", "utf-8", "gb18030"], default="utf-8-sig", help="CSV only")
    parser.add_argument("--db-url", help="PostgreSQL URL (emptied first); default a temporary SQLite file")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (export, database)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        db_url = args.db_url or f"sqlite://{tmp / 'bench.sqlite3'}"
        if args.db_url:
            asyncio.run(empty_postgres(args.db_url))
        env = {**os.environ, "MASHANG_DATABASE_URL": db_url}
        mashang(env, "roster", "import", str(ROOT / "roster.example.toml"))
        mapping = tmp / "mapping.toml"
        mapping.write_text(MAPPING, encoding="utf-8")
        started = time.perf_counter()
        rows = work_orders(args.rows, args.seed)
        export = write_export(tmp / f"export.{args.format}", rows, args.format, args.encoding)
        print(
            f"generated {args.rows:,} work orders ({args.format}, {export.stat().st_size / 2**20:.1f} MiB) "
            f"in {time.perf_counter() - started:.1f} s; database: {db_url.split('?')[0].split('@')[-1]}",
            flush=True,
        )
        command = ["import", "hotline", str(export), "--mapping", str(mapping)]

        elapsed, out = mashang(env, *command)
        expect(out, rf"新增 {args.rows}，更新 0，未变 0，拒绝 0")
        print(f"first import:   {elapsed:6.1f} s  ({args.rows / elapsed:,.0f} rows/s), every row new")
        elapsed, out = mashang(env, *command)
        expect(out, rf"新增 0，更新 0，未变 {args.rows}，拒绝 0")
        print(f"same file again:{elapsed:6.1f} s  ({args.rows / elapsed:,.0f} rows/s), every row unchanged")

        rng = random.Random(args.seed + 1)
        changed = 0
        for row in rows:
            if rng.random() < 0.1:
                old = STATUSES[row[5]]
                row[5] = "已办结" if old == "open" else "办理中"
                changed += 1
        later = write_export(tmp / f"later.{args.format}", rows, args.format, args.encoding)
        elapsed, out = mashang(env, "import", "hotline", str(later), "--mapping", str(mapping))
        expect(out, rf"新增 0，更新 {changed}（其中办理状态变化 {changed}），未变 {args.rows - changed}，拒绝 0")
        print(f"later export:   {elapsed:6.1f} s  ({args.rows / elapsed:,.0f} rows/s), {changed:,} statuses changed")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            for path in sorted(tmp.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            tmp.rmdir()


if __name__ == "__main__":
    main()
