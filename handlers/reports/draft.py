"""The draft 社情民意信息 (public-opinion report) of a topic: `mashang report draft` and the triage group's
`报告 <专题名>` (a job uploads it to WeCom: bot/outbound/wecom.py).

What goes in: the topic's name as the title; a paragraph of figures (cases, the weeks they span, districts
and contact points, how many from the hotline, the satisfaction of those whose return visit was answered);
a chart of cases per week; 3 to 5 representative excerpts; an appendix of every case's tracking code and
hotline number. The excerpts are the topic's most typical texts by the similar-case machinery
(handlers/reports/similarity.py: jieba terms, TF-IDF, the cosine to the topic's centre, as a group's medoid
is chosen), leaving out near-duplicates; each is masked (handlers/cases/masking.py: phone and ID numbers,
e-mail addresses, names) before it goes into the document. Segmenting, drawing and writing the file run in
a worker thread.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from handlers.cases.masking import mask_personal
from handlers.reports import documents
from handlers.reports.leads import Excerpt, TopicError, TopicFigures, figures_of, find_topic, topic_cases
from handlers.reports.similar import SEGMENTER, case_texts, load_segmenter
from handlers.reports.similarity import representatives, vectorize
from handlers.texts import staff as staff_texts
from handlers.texts.reports import DraftText, draft_text
from models.timeutil import now
from models.tracking import LOCAL_TZ

FORMATS = ("docx", "pdf")
CONTENT_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\s]+')  # not in a file name on Windows, and no spaces


@dataclass(frozen=True)
class DraftFile:
    filename: str
    content_type: str
    data: bytes
    cases: int


def excerpt_count(cases: int) -> int:
    """3 to 5 excerpts: 5 for a topic of 8 cases or more, else 3 (or all of a smaller one)."""
    return min(cases, 5 if cases >= 8 else 3)


async def representative_excerpts(figures: TopicFigures) -> list[Excerpt]:
    cases = figures.cases
    if not cases:
        return []
    texts = await case_texts([case.case_id for case in cases])
    written = [texts.get(case.case_id, "") for case in cases]
    await load_segmenter()

    def choose() -> list[int]:
        return representatives(vectorize(SEGMENTER.many(written)), excerpt_count(len(cases)))

    rows = await asyncio.to_thread(choose)
    return [
        Excerpt(
            code=cases[row].code,
            external_id=cases[row].external_id,
            district=cases[row].district,
            point_name=cases[row].point_name,
            created_at=cases[row].created_at,
            text=mask_personal(written[row]),
        )
        for row in rows
    ]


async def draft_of(name: str) -> DraftText:
    """The draft's text for the topic `name` (TopicError when there is no such topic or it has no case)."""
    topic = await find_topic(name)
    figures = figures_of(topic.name, await topic_cases(topic))
    if not figures.cases:
        raise TopicError(staff_texts.topic_empty(topic.name))
    return draft_text(figures, await representative_excerpts(figures), now())


def file_name(title: str, fmt: str) -> str:
    day = now().astimezone(LOCAL_TZ).strftime("%Y%m%d")
    return f"社情民意信息-{_UNSAFE.sub('_', title).strip('._') or '专题'}-{day}.{fmt}"


def _render(text: DraftText, fmt: str) -> bytes:
    chart = documents.chart_png(text.chart_labels, text.chart_counts)
    return documents.render_pdf(text, chart) if fmt == "pdf" else documents.render_docx(text, chart)


async def draft_file(name: str, fmt: str) -> DraftFile:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    text = await draft_of(name)
    data = await asyncio.to_thread(_render, text, fmt)
    return DraftFile(file_name(text.title, fmt), CONTENT_TYPES[fmt], data, len(text.appendix_rows))
