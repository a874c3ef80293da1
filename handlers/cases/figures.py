"""The figures against the committee's promise: on-time assignment and reply, return visits, satisfaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.texts import staff as texts
from models.entities import Case, CaseSource, CaseState, ContactPoint, Member
from models.state import OWES_REPLY
from models.timeutil import now
from models.tracking import LOCAL_TZ


@dataclass
class Figures:
    new_cases: int = 0
    triaged: int = 0
    triaged_on_time: int = 0
    replied: int = 0
    replied_on_time: int = 0
    visits_due: int = 0
    visits_recorded: int = 0
    satisfied: int = 0

    @staticmethod
    def percent(part: int, whole: int) -> str:
        return texts.percent(part, whole)

    def line(self, label: str) -> str:
        return texts.figures_line(
            label,
            self.new_cases,
            self.percent(self.triaged_on_time, self.triaged),
            self.percent(self.replied_on_time, self.replied),
            self.percent(self.visits_recorded, self.visits_due),
            self.percent(self.satisfied, self.visits_recorded),
        )


async def figures_since(start: datetime, **filters: Any) -> Figures:
    cases = await Case.filter(created_at__gte=start, **filters).values(
        "state",
        "triaged_at",
        "triaged_on_time",
        "first_replied_at",
        "replied_on_time",
        "visit_sent_at",
        "visit_recorded_at",
        "satisfaction",
    )
    figures = Figures(new_cases=len(cases))
    for row in cases:
        if row["triaged_at"] is not None:
            figures.triaged += 1
            figures.triaged_on_time += bool(row["triaged_on_time"])
        if row["first_replied_at"] is not None:
            figures.replied += 1
            figures.replied_on_time += bool(row["replied_on_time"])
        if row["visit_sent_at"] is not None or row["visit_recorded_at"] is not None:
            figures.visits_due += 1  # the survey went out (or staff called): the visit is due
        if row["visit_recorded_at"] is not None:
            figures.visits_recorded += 1
            figures.satisfied += row["satisfaction"] in (1, 2)
    return figures


async def overdue_now() -> int:
    moment = now()
    late_triage = await Case.filter(state=CaseState.RECEIVED, assign_due_at__lt=moment).count()
    late_reply = await Case.filter(state__in=list(OWES_REPLY), reply_due_at__lt=moment).count()
    return late_triage + late_reply


def period_starts(moment: datetime) -> list[tuple[str, datetime]]:
    local = moment.astimezone(LOCAL_TZ)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    # In UTC: SQLite compares the stored timestamps as text, so every bound must be written the same way.
    return [(label, start.astimezone(UTC)) for label, start in zip(texts.PERIODS_ZH, (today, week, month), strict=True)]


async def stats_text(member: Member | None = None) -> str:
    moment = now()
    filters: dict[str, Any] = {"member": member} if member else {}
    lines = [texts.stats_title(member.name if member else None)]
    for label, start in period_starts(moment):
        lines.append((await figures_since(start, **filters)).line(label))
    lines.append(texts.stats_overdue(await overdue_now()))
    if member is None:
        month_start = period_starts(moment)[2][1]
        per_point = []
        for point in await ContactPoint.all().order_by("key"):
            figures = await figures_since(month_start, contact_point=point)
            if figures.new_cases:
                per_point.append((figures.new_cases, point.name, figures))
        direct = await figures_since(month_start, contact_point_id__isnull=True, source=CaseSource.QR)
        if direct.new_cases:  # written without scanning a contact point's code first
            per_point.append((direct.new_cases, texts.NO_POINT_ZH, direct))
        hotline = await figures_since(month_start, source=CaseSource.HOTLINE)
        if hotline.new_cases:  # imported work orders (mashang import hotline)
            per_point.append((hotline.new_cases, texts.HOTLINE_ZH, hotline))
        if per_point:
            lines.append(texts.STATS_PER_POINT)
            for count, name, figures in sorted(per_point, key=lambda item: -item[0])[:10]:
                lines.append(
                    texts.stats_point(
                        name,
                        count,
                        figures.percent(figures.replied_on_time, figures.replied),
                        figures.percent(figures.satisfied, figures.visits_recorded),
                    )
                )
        lines.append(texts.STATS_BY_MEMBER)
    return "\n".join(lines)
