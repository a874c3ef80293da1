"""The draft 社情民意信息 of a topic of N cases: how long `mashang report draft` takes (DOCX and PDF) and how
large the files are. The cases are 12345 work orders made from the hand-labelled texts (tests/data), spread
over 12 weeks and four districts, in a temporary SQLite file (or the PostgreSQL database given, emptied).

    .venv/bin/python scripts/bench_report_draft.py              # 50, 500 and 5,000 cases
    .venv/bin/python scripts/bench_report_draft.py -n 1000 --db-url postgres://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
DISTRICTS = ["吴兴区", "南浔区", "德清县", "长兴县"]


async def make_topic(name: str, count: int) -> None:
    from handlers.hotline.importer import hotline_citizen_id
    from handlers.reports.leads import MAX_CODES, mark_leads
    from models.entities import Case, CaseMessage, CaseSource, CaseState
    from models.hotline import HotlineOrder
    from models.timeutil import now
    from models.tracking import reserve_codes

    with (ROOT / "tests" / "data" / "similar_cases.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(7)
    citizen_id = await hotline_citizen_id()
    end = now()
    numbers = []
    for start in range(0, count, 500):
        size = min(500, count - start)
        at = end - timedelta(days=rng.uniform(0, 84))
        codes = await reserve_codes("MS", at, size)
        cases = [
            Case(
                code=code,
                source=CaseSource.HOTLINE,
                district=rng.choice(DISTRICTS),
                citizen_id=citizen_id,
                state=CaseState.TRANSFERRED,
                satisfaction=rng.choice([None, None, 1, 2, 3]),
                created_at=end - timedelta(days=rng.uniform(0, 84)),
                updated_at=at,
                last_citizen_message_at=at,
            )
            for code in codes
        ]
        await Case.bulk_create(cases)
        stored = await Case.filter(code__in=codes)
        await CaseMessage.bulk_create(
            [
                CaseMessage(case_id=c.id, direction="in", author="hotline", content=rng.choice(texts), created_at=at)
                for c in stored
            ]
        )
        await HotlineOrder.bulk_create(
            [
                HotlineOrder(external_id=f"B{start + i}", case_id=c.id, imported_at=at, updated_at=at)
                for i, c in enumerate(stored)
            ]
        )
        numbers += [f"B{start + i}" for i in range(len(stored))]
    for start in range(0, len(numbers), MAX_CODES):
        await mark_leads(numbers[start : start + MAX_CODES], name, "staff:bench", "MS")


async def run(counts: list[int], db_url: str | None) -> None:
    from handlers.admin.roster import import_roster
    from handlers.reports.draft import draft_file
    from models.db import close_db, init_db

    for count in counts:
        with tempfile.TemporaryDirectory() as folder:
            url = db_url or f"sqlite://{Path(folder) / 'bench.sqlite3'}"
            if db_url:
                import asyncpg

                conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
                await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                await conn.close()
            await init_db(url)
            await import_roster(ROOT / "roster.example.toml")
            name = f"专题{count}"
            await make_topic(name, count)
            for fmt in ("docx", "pdf", "docx", "pdf"):
                started = time.perf_counter()
                draft = await draft_file(name, fmt)
                took = time.perf_counter() - started
                print(f"{count:>6} cases  {fmt:<4}  {took:6.2f} s  {len(draft.data) / 1024:8.1f} KiB")
            await close_db()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, action="append", help="cases in the topic (repeatable)")
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    asyncio.run(run(args.n or [50, 500, 5000], args.db_url))


if __name__ == "__main__":
    main()
