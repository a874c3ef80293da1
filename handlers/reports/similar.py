"""Similar cases (一件事 → 一类事): the cases most like one case (`类似 <编号>`), and cases grouped by the
kind of problem their texts describe (`mashang report similar`). Plain data, rendered by
handlers/texts/reports.py; the text similarity itself is handlers/reports/similarity.py.

A case's text is its first message (a QR case's first message from the citizen; a hotline work order's
text, which the import stores as the first message), or its summary when that message has no text.
Cases from both sources count; rejected ones (不予受理: spam and the like) do not.

Terms are stored (models/similar.py, table `case_terms`) the first time a case is compared, segmented in a
worker thread; the TF-IDF weights are computed from the stored terms each time, over the cases compared.
Nothing here runs jieba or the matrix arithmetic on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import Tortoise

from handlers.reports.hotspots import _bound
from handlers.reports.similarity import SEGMENTER, Vectors, group_rows, medoids, most_similar, vectorize
from models.bulk import placeholders
from models.entities import Case, CaseSource, CaseState
from models.plans import Plan, Rows, insert_plan, run_in_transaction
from models.similar import CaseTerms

SEGMENT_CHUNK = 2000  # cases segmented and stored per transaction
PAGE = 5000  # rows read per query
NEIGHBOURS = 10  # cases `类似` lists
SHOWN_FROM = 0.1  # `类似` lists no case less similar than this
CODES_LISTED = 10  # codes the report lists per group


@dataclass(frozen=True)
class CaseEntry:
    case_id: int
    code: str
    source: str
    district: str  # "" when unknown


@dataclass(frozen=True)
class Neighbour:
    code: str
    similarity: float
    district: str
    source: str
    text: str  # the case's text as written (mask and escape before showing)


@dataclass(frozen=True)
class SimilarCases:
    code: str
    threshold: float
    compared: int  # cases compared with it
    neighbours: list[Neighbour]


@dataclass(frozen=True)
class CaseGroup:
    size: int
    hotline: int  # of which from the 12345 hotline
    districts: list[tuple[str, int]]  # most cases first; "" for unknown
    medoid_code: str
    medoid_text: str
    codes: list[str]  # every case of the group, oldest first


@dataclass(frozen=True)
class SimilarReport:
    since: datetime
    threshold: float
    min_size: int
    compared: int  # cases compared
    truncated: bool  # more cases than max_cases since `since`: the newest were compared
    groups: list[CaseGroup]

    @property
    def grouped(self) -> int:
        return sum(group.size for group in self.groups)


def _dialect() -> str:
    return str(Tortoise.get_connection("default").capabilities.dialect)


async def _query(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return await Tortoise.get_connection("default").execute_query_dict(sql, params)


_FIRST_TEXT = (
    '(SELECT m."content" FROM "case_message" m WHERE m."case_id" = c."id" AND m."direction" = \'in\' '
    'ORDER BY m."id" LIMIT 1)'
)


async def load_segmenter() -> None:
    """jieba's dictionary, once per process, in a worker thread."""
    if not SEGMENTER.loaded:
        await asyncio.to_thread(SEGMENTER.load)


def _scope(dialect: str, since: datetime | None, case_id: int | None, first: int) -> tuple[str, list[Any]]:
    """The cases compared: not rejected, and created since `since`; or the one case `case_id`, whatever its state.
    Placeholders are numbered from `first`."""
    if case_id is not None:
        return f'c."id" = {placeholders(dialect, first, 1)}', [case_id]
    condition = f"c.\"state\" <> '{CaseState.REJECTED.value}'"
    if since is not None:
        return f'{condition} AND c."created_at" >= {placeholders(dialect, first, 1)}', [_bound(dialect, since)]
    return condition, []


async def refresh_terms(since: datetime | None, limit: int, case_id: int | None = None) -> int:
    """Segment and store the terms of the newest `limit` cases since `since` (or of the one case
    `case_id`) that have none, or terms of another version. Returns how many cases were segmented."""
    await load_segmenter()
    dialect = _dialect()
    version = SEGMENTER.version
    # Placeholders in the order they appear (SQLite's are all "?"): the scope's, the limit, the version.
    scope, params = _scope(dialect, since, case_id, 1)
    limit_mark, version_mark = placeholders(dialect, len(params) + 1, 2).split(", ")
    sql = (
        f'SELECT c."id" AS id, c."summary" AS summary, {_FIRST_TEXT} AS first_text FROM ('
        f'SELECT c."id" AS id FROM "case" c WHERE {scope} '
        f'ORDER BY c."created_at" DESC, c."id" DESC LIMIT {limit_mark}'
        ') newest JOIN "case" c ON c."id" = newest.id '
        'LEFT JOIN "case_terms" t ON t."case_id" = c."id" '
        f'WHERE t."id" IS NULL OR t."version" <> {version_mark} ORDER BY c."id" LIMIT {SEGMENT_CHUNK}'
    )
    params = [*params, limit, version]
    done = 0
    # Bounded: each round stores its rows; a process running other rules could otherwise undo them forever.
    for _ in range(limit // SEGMENT_CHUNK + 2):
        rows = await _query(sql, params)
        if not rows:
            break
        texts = [str(row["first_text"] or row["summary"] or "") for row in rows]
        terms = await asyncio.to_thread(SEGMENTER.many, texts)
        stored = [
            {"case_id": int(row["id"]), "version": version, "terms": " ".join(words)}
            for row, words in zip(rows, terms, strict=True)
        ]
        await run_in_transaction(functools.partial(_store_plan, stored))
        done += len(rows)
    return done


def _store_plan(stored: list[dict[str, Any]], dialect: str, _in_loop: bool) -> Plan[Rows]:
    upsert = 'ON CONFLICT ("case_id") DO UPDATE SET "version" = excluded."version", "terms" = excluded."terms"'
    return insert_plan(dialect, CaseTerms, stored, on_conflict=upsert)


async def _entries(since: datetime | None, limit: int, case_id: int | None = None) -> list[dict[str, Any]]:
    """The newest `limit` cases in scope with their terms, newest first, read a page at a time: turning
    100,000 rows into dicts in one go would hold the event loop for a noticeable while."""
    dialect = _dialect()
    scope, params = _scope(dialect, since, case_id, 1)
    limit_mark, offset_mark = placeholders(dialect, len(params) + 1, 2).split(", ")
    sql = (
        'SELECT c."id" AS id, c."code" AS code, c."source" AS source, '
        'COALESCE(NULLIF(c."district", \'\'), p."district", \'\') AS district, t."terms" AS terms '
        'FROM "case" c JOIN "case_terms" t ON t."case_id" = c."id" '
        'LEFT JOIN "contact_point" p ON p."id" = c."contact_point_id" '
        f'WHERE {scope} ORDER BY c."created_at" DESC, c."id" DESC LIMIT {limit_mark} OFFSET {offset_mark}'
    )
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    offset = 0
    while len(rows) < limit:
        page = await _query(sql, [*params, min(PAGE, limit - len(rows)), offset])
        offset += len(page)
        # A case filed meanwhile moves the pages by one: a row read twice is read once.
        rows.extend(row for row in page if int(row["id"]) not in seen)
        seen.update(int(row["id"]) for row in page)
        if len(page) < PAGE:
            break
    return rows[:limit]


async def _corpus(
    since: datetime | None, limit: int, case_id: int | None = None
) -> tuple[list[CaseEntry], list[list[str]], bool]:
    """The newest `limit` cases since `since` with their terms, oldest first (and `case_id` among them,
    whatever its age or state); whether more cases than `limit` matched."""
    await refresh_terms(since, limit)
    if case_id is not None:
        await refresh_terms(None, 1, case_id)
    rows = await _entries(since, limit + 1)
    truncated = len(rows) > limit
    rows = rows[:limit]
    if case_id is not None and all(int(row["id"]) != case_id for row in rows):
        rows = [*await _entries(None, 1, case_id), *rows[: limit - 1]]
    rows.reverse()
    entries, documents = await asyncio.to_thread(_converted, rows)  # 100,000 rows: not on the event loop
    return entries, documents, truncated


def _converted(rows: list[dict[str, Any]]) -> tuple[list[CaseEntry], list[list[str]]]:
    entries = [CaseEntry(int(r["id"]), str(r["code"]), str(r["source"]), str(r["district"] or "")) for r in rows]
    return entries, [str(r["terms"]).split() for r in rows]


async def case_texts(case_ids: list[int]) -> dict[int, str]:
    """Each case's text (its first message, else its summary), as written."""
    if not case_ids:
        return {}
    dialect = _dialect()
    texts: dict[int, str] = {}
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start : start + 500]
        marks = placeholders(dialect, 1, len(chunk))
        rows = await _query(
            f'SELECT c."id" AS id, c."summary" AS summary, {_FIRST_TEXT} AS first_text '
            f'FROM "case" c WHERE c."id" IN ({marks})',
            list(chunk),
        )
        texts.update({int(row["id"]): str(row["first_text"] or row["summary"] or "") for row in rows})
    return texts


async def similar_to(case: Case, threshold: float, max_cases: int) -> SimilarCases:
    """The cases whose texts are most like `case`'s, among the newest `max_cases`."""
    entries, documents, _ = await _corpus(None, max_cases, case.id)
    row = next(index for index, entry in enumerate(entries) if entry.case_id == case.id)

    def compute() -> list[tuple[int, float]]:
        return most_similar(vectorize(documents), row, NEIGHBOURS, SHOWN_FROM)

    found = await asyncio.to_thread(compute)
    texts = await case_texts([entries[index].case_id for index, _ in found])
    neighbours = [
        Neighbour(
            code=entries[index].code,
            similarity=score,
            district=entries[index].district,
            source=entries[index].source,
            text=texts.get(entries[index].case_id, ""),
        )
        for index, score in found
    ]
    return SimilarCases(code=case.code, threshold=threshold, compared=len(entries) - 1, neighbours=neighbours)


def _grouping(documents: list[list[str]], threshold: float) -> tuple[Vectors, Any, dict[int, int]]:
    vectors = vectorize(documents)
    labels = group_rows(vectors, threshold)
    return vectors, labels, medoids(vectors, labels)


async def find_groups(since: datetime, threshold: float, min_size: int, max_cases: int) -> SimilarReport:
    """Cases since `since` grouped by the kind of problem, groups of at least `min_size`, largest first."""
    entries, documents, truncated = await _corpus(since, max_cases)
    _, labels, centre_rows = await asyncio.to_thread(_grouping, documents, threshold)
    members: dict[int, list[int]] = {}
    for row, label in enumerate(labels.tolist()):
        members.setdefault(int(label), []).append(row)
    kept = [(label, rows) for label, rows in members.items() if len(rows) >= min_size]
    kept.sort(key=lambda item: (-len(item[1]), item[1][0]))
    texts = await case_texts([entries[centre_rows[label]].case_id for label, _ in kept])
    groups = []
    for label, rows in kept:
        medoid = entries[centre_rows[label]]
        districts = Counter(entries[row].district for row in rows)
        groups.append(
            CaseGroup(
                size=len(rows),
                hotline=sum(entries[row].source == CaseSource.HOTLINE for row in rows),
                districts=sorted(districts.items(), key=lambda item: (-item[1], item[0] == "", item[0])),
                medoid_code=medoid.code,
                medoid_text=texts.get(medoid.case_id, ""),
                codes=[entries[row].code for row in rows],
            )
        )
    return SimilarReport(
        since=since, threshold=threshold, min_size=min_size, compared=len(entries), truncated=truncated, groups=groups
    )
