"""The committee's reports as text: hot spots (handlers/reports/hotspots.py) for the triage group
(`统计 热点`, markdown, names escaped) and for `mashang report hotspots` (plain lines)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from handlers.reports.hotspots import BY_POINT, HotSpot, HotSpotReport
from handlers.texts.markdown import bold, escape
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
