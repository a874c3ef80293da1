"""The committee's reports as text: hot spots (handlers/reports/hotspots.py) for the triage group
(`统计 热点`, markdown, names escaped) and for `mashang report hotspots` (plain lines); similar cases
(handlers/reports/similar.py) for `类似 <编号>` (markdown) and `mashang report similar` (plain lines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from handlers.cases.masking import excerpt
from handlers.reports.hotspots import BY_POINT, HotSpot, HotSpotReport
from handlers.reports.leads import Excerpt, TopicFigures, TopicSummary
from handlers.reports.similar import CODES_LISTED, SHOWN_FROM, SimilarCases, SimilarReport
from handlers.texts import staff as staff_texts
from handlers.texts.markdown import bold, escape
from models.entities import CASE_STATE_ZH, CaseSource, CaseState
from models.tracking import LOCAL_TZ

OTHER_CATEGORY_ZH = "其他"
NO_DISTRICT_ZH = "未填区县"
CHAT_LIMIT = 10


def _when(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def p_text(p_value: float) -> str:
    return "p<0.0001" if p_value < 0.0001 else f"p={p_value:.4f}"


def place(spot: HotSpot, clean: Callable[[str], str]) -> str:
    district = clean(spot.district) if spot.district else NO_DISTRICT_ZH
    if spot.kind == BY_POINT:
        return f"{clean(spot.point_name or spot.point_key or '')}（联系点，{district}）"
    return district


def hotspot_line(number: int, spot: HotSpot, clean: Callable[[str], str]) -> str:
    category = clean(spot.category_name) if spot.category_name else OTHER_CATEGORY_ZH
    ratio = f"，约为平时的 {spot.ratio:.1f} 倍" if spot.ratio is not None else "，此前没有"
    return (
        f"{number}. {category} · {place(spot, clean)}：本周 {spot.count} 件，"
        f"前 {len(spot.weekly)} 周平均 {spot.baseline:.1f} 件/周{ratio}；"
        f"热线占 {spot.hotline_share * 100:.0f}%（{spot.hotline} 件）；{p_text(spot.p_value)}"
    )


def footnote(report: HotSpotReport) -> str:
    return (
        f"注：「本周」指最近 7 天。检验方法为泊松分布上尾检验：以同一类别、同一区县（或联系点）前 {report.weeks} 周"
        f"每 7 天的平均件数为期望 λ，本周件数 x 在「没有变化」时出现的概率 P(X≥x) 小于 {report.alpha:g}，"
        f"且本周不少于 {report.min_count} 件，才列为热点。含扫码件和 12345 热线件，不含不予受理的件。"
    )


def hotspots_lines(report: HotSpotReport, *, markdown: bool, limit: int | None = None) -> list[str]:
    clean: Callable[[str], str] = escape if markdown else str
    title = f"热点（{_when(report.start)} 至 {_when(report.end)}，北京时间）"
    lines = [bold(title) if markdown else title]
    lines.append(
        f"本周共 {report.total} 件，其中 12345 热线 {report.hotline_total} 件；"
        f"不少于 {report.min_count} 件的类别 × 地点 {report.tested} 组，逐一检验。"
    )
    shown = report.hotspots if limit is None else report.hotspots[:limit]
    if not report.hotspots:
        lines.append(f"没有热点：没有哪个类别在哪个区县或联系点明显多于前 {report.weeks} 周。")
    for number, spot in enumerate(shown, start=1):
        lines.append(hotspot_line(number, spot, clean))
    if len(shown) < len(report.hotspots):
        lines.append(f"……另有 {len(report.hotspots) - len(shown)} 个热点，完整列表：mashang report hotspots")
    lines.append(footnote(report))
    return lines


def hotspots_chat(report: HotSpotReport) -> str:
    return "\n".join(hotspots_lines(report, markdown=True, limit=CHAT_LIMIT))


# ---- similar cases (handlers/reports/similar.py) -------------------------------------------------------

SIMILAR_EXCERPT = 60  # characters of a case's text `类似` shows
MEDOID_EXCERPT = 120  # characters of a group's representative text the report shows


def _similar_excerpt(text: str, limit: int, markdown: bool) -> str:
    """A case's text as staff may read it: phone and ID numbers masked, markdown escaped first
    (escaping after masking could undo a mask), on one line, cut to `limit`."""
    return excerpt(escape(text) if markdown else text, limit)


def _source_zh(source: str) -> str:
    return "12345 热线" if source == CaseSource.HOTLINE else "扫码"


def similar_cases_chat(result: SimilarCases) -> str:
    """`类似 <编号>` in the triage group (markdown)."""
    lines = [bold(f"与 {result.code} 最相似的件")]
    if not result.neighbours:
        lines.append(f"在 {result.compared} 件中没有找到相似度不低于 {SHOWN_FROM:.2f} 的件。")
        return "\n".join(lines)
    for number, case in enumerate(result.neighbours, start=1):
        district = escape(case.district) if case.district else NO_DISTRICT_ZH
        same = "，同类" if case.similarity >= result.threshold else ""
        lines.append(
            f"{number}. {case.code}（相似度 {case.similarity:.2f}{same}，{district}，{_source_zh(case.source)}）："
            f"{_similar_excerpt(case.text, SIMILAR_EXCERPT, markdown=True)}"
        )
    lines.append(
        f"注：在最近的 {result.compared} 件中比较（含 12345 热线件，不含不予受理的件）；相似度为两段文字分词后"
        f"TF-IDF 向量的余弦值，1 为用词完全相同；不低于 {result.threshold:.2f} 的标为「同类」。"
    )
    return "\n".join(lines)


def _districts_text(districts: list[tuple[str, int]]) -> str:
    return "、".join(f"{name or NO_DISTRICT_ZH} {count} 件" for name, count in districts)


def similar_report_lines(report: SimilarReport) -> list[str]:
    """`mashang report similar` (plain lines)."""
    since = report.since.astimezone(LOCAL_TZ)
    lines = [f"类似诉求分组（{since.year}年{since.month}月{since.day}日以来，北京时间）"]
    scope = f"共比较 {report.compared} 件（含 12345 热线件，不含不予受理的件）"
    if report.truncated:
        scope += f"，件数超过上限，只比较了最近的 {report.compared} 件"
    lines.append(
        f"{scope}；相似度阈值 {report.threshold:.2f}，每组不少于 {report.min_size} 件："
        f"提出 {len(report.groups)} 组，涵盖 {report.grouped} 件。"
    )
    if not report.groups:
        lines.append(f"没有不少于 {report.min_size} 件的类似诉求。")
    for number, group in enumerate(report.groups, start=1):
        lines.append(
            f"{number}. {group.size} 件（12345 热线 {group.hotline} 件）；区县：{_districts_text(group.districts)}"
        )
        lines.append(
            f"   代表：{group.medoid_code}「{_similar_excerpt(group.medoid_text, MEDOID_EXCERPT, markdown=False)}」"
        )
        shown = group.codes[:CODES_LISTED]
        more = f" 等 {group.size} 件" if group.size > len(shown) else ""
        lines.append(f"   编号：{'、'.join(shown)}{more}")
    lines.append(
        "注：两件诉求的文字分词（jieba）后按 TF-IDF 加权，一件与某组的中心（组内各件向量之和）的余弦相似度"
        f"不低于 {report.threshold:.2f} 即归入该组；「代表」是与组内其他各件相似度之和最大的一件（medoid）。"
        "分组是提议，请人工确认。"
    )
    return lines


# ---- topics (handlers/reports/leads.py) in the triage group ---------------------------------------------


def _day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def topics_chat(topics: list[TopicSummary]) -> str:
    """`专题`."""
    return staff_texts.topics_list([(topic.name, topic.cases, topic.hotline) for topic in topics])


PLACES_LISTED = 10  # districts, contact points and weeks `专题 <名>` lists (the most cases first; weeks: the last)


def _some(items: list[str], more: str) -> list[str]:
    return items if len(items) <= PLACES_LISTED else [*items[:PLACES_LISTED], more.format(len(items))]


def topic_chat(figures: TopicFigures) -> str:
    """`专题 <名>`: cases (with the hotline's numbers), districts, contact points and weeks."""
    codes = [f"{case.code}（热线 {case.external_id}）" if case.external_id else case.code for case in figures.cases]
    weeks = [staff_texts.week_label(_day(monday), count) for monday, count in figures.weeks]
    if len(weeks) > PLACES_LISTED:
        recent = weeks[-PLACES_LISTED:]
        weeks = [f"共 {len(weeks)} 周，最近 {PLACES_LISTED} 周：{recent[0]}", *recent[1:]]
    return staff_texts.topic_detail(
        figures.name,
        figures.total,
        figures.hotline,
        weeks=weeks,
        districts=_some([f"{name or NO_DISTRICT_ZH} {count} 件" for name, count in figures.districts], "等 {} 个区县"),
        points=_some([f"{name} {count} 件" for name, count in figures.points], "等 {} 个联系点"),
        codes=codes,
    )


# ---- the draft 社情民意信息 (handlers/reports/draft.py) ------------------------------------------------
# Its reader is the party and government office the committee reports to: every sentence of the document
# is here; handlers/reports/documents.py only lays them out (DOCX, PDF).

DRAFT_KIND = "社情民意信息（草稿）"
APPENDIX_COLUMNS = ["序号", "编号", "12345 工单号", "受理日期", "区县 / 联系点", "状态"]
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class DraftText:
    title: str
    kind: str
    dateline: str
    summary_heading: str
    summary: str
    chart_caption: str
    chart_labels: list[str]
    chart_counts: list[int]
    excerpts_heading: str
    excerpts_note: str
    excerpts: list[str]
    suggestions_heading: str
    suggestions: str
    appendix_heading: str
    appendix_columns: list[str]
    appendix_rows: list[list[str]]
    footnote: str

    def all_text(self) -> str:
        """Every character the document shows (the PDF embeds a font subset of exactly these)."""
        parts = [
            self.title,
            self.kind,
            self.dateline,
            self.summary_heading,
            self.summary,
            self.chart_caption,
            *self.chart_labels,
            *map(str, self.chart_counts),
            self.excerpts_heading,
            self.excerpts_note,
            *self.excerpts,
            self.suggestions_heading,
            self.suggestions,
            self.appendix_heading,
            *self.appendix_columns,
            *(cell for row in self.appendix_rows for cell in row),
            self.footnote,
        ]
        return "".join(parts)


def _long_day(moment: date) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _counted(items: list[tuple[str, int]], empty: str) -> str:
    return "、".join(f"{name or empty} {count} 件" for name, count in items)


def draft_summary(figures: TopicFigures) -> str:
    """The paragraph with the figures: cases, weeks, districts and contact points, hotline, satisfaction."""
    first, last = figures.weeks[0][0], figures.weeks[-1][0] + timedelta(days=6)
    span = f"{_long_day(first)}至{_long_day(last)}（共 {len(figures.weeks)} 周）"
    qr = figures.total - figures.hotline
    parts = [
        f"{span}，码上商收到与「{figures.name}」有关的群众诉求共 {figures.total} 件，"
        f"其中扫码留言 {qr} 件、12345 热线 {figures.hotline} 件。",
        f"涉及区县：{_counted(figures.districts, NO_DISTRICT_ZH)}。",
    ]
    if figures.points:
        parts.append(f"涉及联系点：{_counted(figures.points, '')}。")
    busiest = max(figures.weeks, key=lambda week: (week[1], week[0]))
    parts.append(f"件数最多的一周是 {_long_day(busiest[0])}起的一周，{busiest[1]} 件。")
    if figures.answered:
        rate = figures.satisfied * 100 / figures.answered
        parts.append(
            f"已回访并作出评价的 {figures.answered} 件中，满意 {figures.satisfaction.get(1, 0)} 件、"
            f"基本满意 {figures.satisfaction.get(2, 0)} 件、不满意 {figures.satisfaction.get(3, 0)} 件，"
            f"满意率（含基本满意）{rate:.0f}%。"
        )
    else:
        parts.append("这些件尚无回访评价。")
    return "".join(parts)


def _where(district: str, point: str | None) -> str:
    district = district or NO_DISTRICT_ZH
    return f"{district} / {point}" if point else district


def _excerpt_line(excerpt_: Excerpt) -> str:
    text = " ".join(excerpt_.text.split())
    text = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
    source = f"12345 热线 {excerpt_.external_id}" if excerpt_.external_id else (excerpt_.point_name or "扫码留言")
    day = excerpt_.created_at.astimezone(LOCAL_TZ).date()
    return f"「{text}」（{excerpt_.code}，{source}，{excerpt_.district or NO_DISTRICT_ZH}，{_long_day(day)}）"


def draft_text(figures: TopicFigures, excerpts: list[Excerpt], generated: datetime) -> DraftText:
    rows = []
    for number, case in enumerate(figures.cases, start=1):
        day = case.created_at.astimezone(LOCAL_TZ).date()
        rows.append(
            [
                str(number),
                case.code,
                case.external_id or "",
                f"{day:%Y-%m-%d}",
                _where(case.district, case.point_name),
                CASE_STATE_ZH[CaseState(case.state)],
            ]
        )
    return DraftText(
        title=figures.name,
        kind=DRAFT_KIND,
        dateline=f"码上商 {_long_day(generated.astimezone(LOCAL_TZ).date())}生成，供撰稿参考",
        summary_heading="一、基本情况",
        summary=draft_summary(figures),
        chart_caption="图 1　各周件数（按受理时间，北京时间，每周自周一起）",
        chart_labels=[f"{monday.month}/{monday.day}" for monday, _ in figures.weeks],
        chart_counts=[count for _, count in figures.weeks],
        excerpts_heading="二、群众反映摘录",
        excerpts_note=(
            f"以下 {len(excerpts)} 件是专题中用词与全部 {figures.total} 件整体最接近的（分词后 TF-IDF 向量与专题中心的"
            "余弦相似度最高，几乎相同的只取一件）；手机号、身份证号和姓名已隐去。"
        ),
        excerpts=[_excerpt_line(item) for item in excerpts],
        suggestions_heading="三、意见建议",
        suggestions="（请撰稿人根据以上情况，写明问题的症结和建议。）",
        appendix_heading=f"附件：线索清单（共 {figures.total} 件）",
        appendix_columns=list(APPENDIX_COLUMNS),
        appendix_rows=rows,
        footnote="本稿由码上商根据专题中的线索自动生成，数字截至生成时；正式报送前请核实。",
    )


def draft_written(path: str) -> str:
    return f"已生成：{path}"
