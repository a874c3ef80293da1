"""Similar-case grouping at scale: N cases generated from the hand-labelled texts with variations, grouped
by the product's own code (handlers/reports/similarity.py); prints the time of each step and the memory.

    .venv/bin/python scripts/bench_similar.py               # 100,000 cases, in memory
    .venv/bin/python scripts/bench_similar.py -n 20000 --threshold 0.25
    .venv/bin/python scripts/bench_similar.py --db          # through a database: import, report, 类似
    .venv/bin/python scripts/bench_similar.py --db --db-url postgres://postgres@127.0.0.1:5432/bench

Variations of a labelled text: place names swapped for others, greetings and closing requests added or
taken off (您好, 市民来电反映, 希望尽快处理), one clause dropped, a house number added, clauses in another
order. Each generated case keeps its text's label, so the pairwise precision and recall are printed too
(estimated on a sample of 2,000 cases: the exact count needs every pair). Memory: the peak resident size
of the process (ru_maxrss) after segmenting and after grouping, and the most that vectors and grouping
allocate at once (tracemalloc, in a second untimed run).

With --db the same cases are imported as 12345 work orders (`mashang import hotline`, into a temporary
SQLite file or the PostgreSQL database given, emptied first), then `mashang report similar` runs twice as
an operator runs it (a process each): the first segments and stores every case's terms, the second finds
them stored. Then `类似` for one case (handlers.reports.similar.similar_to, in this process), twice.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from handlers.reports.similarity import SEGMENTER, group_rows, medoids, pairwise_scores, vectorize
from scripts.similar_quality import load

PLACES = ["幸福里小区", "凤凰花园", "龙溪苑", "碧浪湖小区", "东白鱼潭小区", "月河小区", "仁皇山庄", "金色地中海"]
ROADS = ["人民路", "红旗路", "凤凰路", "青铜路", "二环东路", "衣裳街", "劳动路", "环城西路", "湖州大道"]
OPENINGS = ["", "", "您好，", "你好，", "市民来电反映：", "来电人称", "我想反映一下，", "请问，"]
CLOSINGS = ["", "", "希望尽快处理。", "请相关部门解决。", "谢谢！", "麻烦管一管。", "要求尽快处理。"]


def vary(text: str, rng: random.Random) -> str:
    for place in PLACES:
        if place in text:
            text = text.replace(place, rng.choice(PLACES))
    for road in ROADS:
        if road in text:
            text = text.replace(road, rng.choice(ROADS))
    text = re.sub(r"^(市民来电反映：|来电人称|来电反映|市民反映|市民投诉)", "", text)
    clauses = [c for c in re.split(r"[，。！？]", text) if c]
    if len(clauses) > 2 and rng.random() < 0.4:
        clauses.pop(rng.randrange(1, len(clauses)))
    if len(clauses) > 2 and rng.random() < 0.3:
        clauses[1], clauses[2] = clauses[2], clauses[1]
    if rng.random() < 0.3:
        clauses.insert(0, f"{rng.randint(1, 30)}幢{rng.randint(1, 6)}单元")
    return rng.choice(OPENINGS) + "，".join(clauses) + "。" + rng.choice(CLOSINGS)


def through_database(texts: list[str], db_url: str | None, threshold: float) -> None:
    import asyncio
    import os
    import tempfile

    from scripts.bench_import import MAPPING, ROOT, empty_postgres, mashang, write_export

    tmp = Path(tempfile.mkdtemp(prefix="bench-similar-"))
    url = db_url or f"sqlite://{tmp / 'bench.sqlite3'}"
    if db_url:
        asyncio.run(empty_postgres(db_url))
    env = {**os.environ, "MASHANG_DATABASE_URL": url}
    mashang(env, "roster", "import", str(ROOT / "roster.example.toml"))
    (tmp / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    received = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 86400))
    districts = ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县"]
    rows = [
        [f"SIM{index:08d}", received, text, districts[index % 5], "交通出行", "办理中", "", ""]
        for index, text in enumerate(texts)
    ]
    export = write_export(tmp / "export.csv", rows, "csv", "utf-8-sig")
    elapsed, _ = mashang(env, "import", "hotline", str(export), "--mapping", str(tmp / "mapping.toml"))
    print(f"imported {len(rows):,} work orders in {elapsed:.1f} s; database {url.split('@')[-1]}")
    since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 7 * 86400))
    command = ["report", "similar", "--since", since, "--threshold", str(threshold)]
    for run in ("first (segments, stores terms)", "second (terms stored)"):
        elapsed, out = mashang(env, *command)
        resident = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"mashang report similar, {run}: {elapsed:6.1f} s; largest child so far {resident:.0f} MiB")
    print("  " + out.splitlines()[1])

    async def similar_twice() -> None:
        from handlers.reports.similar import similar_to
        from models.db import close_db, init_db
        from models.entities import Case

        await init_db(url)
        try:
            case = await Case.filter(code__isnull=False).order_by("id").first()
            assert case is not None
            for run in ("first", "second"):
                started = time.perf_counter()
                found = await similar_to(case, threshold, 200_000)
                elapsed = time.perf_counter() - started
                print(f"类似 {case.code} ({run}): {elapsed:.2f} s, {len(found.neighbours)} listed")
        finally:
            await close_db()

    asyncio.run(similar_twice())
    for path in sorted(tmp.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    tmp.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--mixed", type=float, default=0.0, help="this share of cases joins clauses of two unrelated texts"
    )
    parser.add_argument(
        "--unique", type=float, default=0.0, help="this share of cases is 12 random words of jieba's dictionary"
    )
    parser.add_argument("--db", action="store_true", help="through a database and the real commands")
    parser.add_argument("--db-url", help="with --db: PostgreSQL (emptied first); default a temporary SQLite file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = load()
    picked = [rng.choice(rows) for _ in range(args.n)]
    texts = [vary(row["text"], rng) for row in picked]
    truth = [row["group"] for row in picked]
    for index in range(args.n):
        if rng.random() < args.mixed:  # a case unlike the others: many small groups, the hard case for speed
            other = vary(rng.choice(rows)["text"], rng)
            texts[index] = texts[index].split("，")[0] + "，" + other.split("，")[-1]
            truth[index] = f"mixed-{index}"
    if args.unique:  # cases like no other: as many groups as cases, the worst case for the grouping's cost
        SEGMENTER.load()
        words = sorted(word for word, count in SEGMENTER.dictionary().items() if count and len(word) > 1)
        for index in range(args.n):
            if rng.random() < args.unique:
                texts[index] = "，".join(rng.sample(words, 12))
                truth[index] = f"unique-{index}"
    if args.db:
        through_database(texts, args.db_url, args.threshold)
        return

    started = time.perf_counter()
    SEGMENTER.load()
    loaded = time.perf_counter()
    documents = SEGMENTER.many(texts)
    segmented = time.perf_counter()
    resident_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vectors = vectorize(documents)
    vectorized = time.perf_counter()
    labels = group_rows(vectors, args.threshold)
    grouped = time.perf_counter()
    centres = medoids(vectors, labels)
    done = time.perf_counter()
    resident_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Memory of the same steps again, traced (tracemalloc slows Python down: not in the times above).
    tracemalloc.start()
    group_rows(vectorize(documents), args.threshold)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    sample = rng.sample(range(args.n), min(2000, args.n))
    precision, recall, *_ = pairwise_scores([truth[i] for i in sample], [int(labels[i]) for i in sample])
    sizes = sorted((int(n) for n in np.bincount(labels)), reverse=True)
    matrix = vectors.matrix
    print(f"cases: {args.n:,}; threshold {args.threshold}; features {matrix.shape[1]:,}; non-zeros {matrix.nnz:,}")
    print(f"jieba dictionary loaded:      {loaded - started:7.2f} s")
    each = (segmented - loaded) / args.n * 1e6
    print(f"segmented (jieba):            {segmented - loaded:7.2f} s  ({each:.0f} µs a case)")
    print(f"TF-IDF vectors:               {vectorized - segmented:7.2f} s")
    print(f"grouped (two passes):         {grouped - vectorized:7.2f} s")
    print(f"medoids:                      {done - grouped:7.2f} s")
    print(f"vectors to groups, in all:    {done - segmented:7.2f} s")
    print(f"groups: {len(sizes):,}; of 3 or more: {sum(1 for s in sizes if s >= 3):,}; largest: {sizes[:5]}")
    print(f"medoids found: {len(centres):,}")
    print(f"pairwise precision {precision:.3f}, recall {recall:.3f} (sample of {len(sample):,})")
    print(
        f"memory: vectors and grouping allocate at most {peak / 2**20:.0f} MiB (tracemalloc); peak resident "
        f"{resident_before:.0f} MiB after segmenting, {resident_after:.0f} MiB after grouping"
    )


if __name__ == "__main__":
    main()
