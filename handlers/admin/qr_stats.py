"""Daily figures per contact point: scans, first-time followers and new cases.

The intake handlers call `record_scan` and `record_follow` inside the inbox transaction (new cases are
counted by the new-case plan, models.intake_sql.add_new_cases, in its own), so a callback handled twice
(a crash, a retry) never counts twice: the increment commits or rolls back with the inbox row. Each
increment is one atomic UPDATE ... SET n = n + 1; the first event of a day inserts the row, and when
another process inserted it first (unique (point_key, day)) the insert is rolled back to a savepoint and
the UPDATE runs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from models.entities import ContactPoint
from models.qr import ContactPointDaily
from models.tracking import LOCAL_TZ

NO_POINT = ""  # the bucket for follows and cases without a contact point


def local_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of an aware datetime."""
    return moment.astimezone(LOCAL_TZ).date()


async def _increment(point_key: str, moment: datetime, **amounts: int) -> None:
    day = local_day(moment)
    updates = {name: F(name) + amount for name, amount in amounts.items() if amount}
    if not updates:
        return
    rows = ContactPointDaily.filter(point_key=point_key, day=day)
    if await rows.update(**updates):
        return
    try:
        async with in_transaction():  # a savepoint inside the caller's transaction
            await ContactPointDaily.create(
                point_key=point_key,
                day=day,
                scans=amounts.get("scans", 0),
                new_followers=amounts.get("new_followers", 0),
                new_cases=amounts.get("new_cases", 0),
            )
        return
    except IntegrityError:
        pass  # another process inserted today's row first: add to it
    await rows.update(**updates)


async def record_scan(point: ContactPoint | None, moment: datetime, *, new_follower: bool) -> None:
    """A scan of a contact point's code: a SCAN by a follower, or a subscribe with the code's scene
    (then also a first-time follower). `point` None: the scene named no contact point we know."""
    await _increment(point.key if point else NO_POINT, moment, scans=1, new_followers=int(new_follower))


async def record_follow(moment: datetime) -> None:
    """A subscribe without any code (search, a shared card): a new follower of no contact point."""
    await _increment(NO_POINT, moment, new_followers=1)


@dataclass
class PointFigures:
    key: str
    name: str
    revoked: bool = False
    scans: int = 0
    new_followers: int = 0
    new_cases: int = 0


@dataclass
class FiguresReport:
    since: date | None
    until: date | None
    rows: list[PointFigures] = field(default_factory=list)

    @property
    def total(self) -> PointFigures:
        total = PointFigures(key="", name="合计")
        for row in self.rows:
            total.scans += row.scans
            total.new_followers += row.new_followers
            total.new_cases += row.new_cases
        return total


async def figures(since: date | None = None, until: date | None = None) -> FiguresReport:
    """Every contact point (roster order, zeros included) with its sums over [since, until], then
    the bucket without a contact point and any keys no longer in the roster, when they have figures."""
    query = ContactPointDaily.all()
    if since is not None:
        query = query.filter(day__gte=since)
    if until is not None:
        query = query.filter(day__lte=until)
    sums = (
        await query.annotate(scans_sum=Sum("scans"), followers_sum=Sum("new_followers"), cases_sum=Sum("new_cases"))
        .group_by("point_key")
        .values("point_key", "scans_sum", "followers_sum", "cases_sum")
    )
    by_key = {
        str(row["point_key"]): (
            int(row["scans_sum"] or 0),
            int(row["followers_sum"] or 0),
            int(row["cases_sum"] or 0),
        )
        for row in sums
    }
    report = FiguresReport(since=since, until=until)
    for point in await ContactPoint.all().order_by("id"):
        scans, followers, cases = by_key.pop(point.key, (0, 0, 0))
        report.rows.append(PointFigures(point.key, point.name, not point.is_active, scans, followers, cases))
    for key in sorted(by_key):
        scans, followers, cases = by_key[key]
        name = "（无联系点）" if key == NO_POINT else "（已不在名册中）"
        report.rows.append(PointFigures(key, name, False, scans, followers, cases))
    return report
