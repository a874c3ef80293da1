"""The console's figures over `/api/v1/stats/...` with the real app (handlers/reports/, bot/api/stats.py):
on planted cases each figure gives the numbers a person counts by hand; the filters narrow them; a bad
filter is 422 naming it; only a live staff token opens the routes; the CSV and XLSX exports read back
to the same numbers; `mashang staff token` and `mashang report members`."""

from __future__ import annotations

import csv
import importlib
import io
import itertools
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from tortoise import Tortoise

from bot.cli.main import build_parser
from bot.cli.report import run_report
from bot.cli.staff import run_staff
from models.entities import (
    Case,
    CaseEvent,
    CaseSource,
    CaseState,
    Category,
    Citizen,
    ContactPoint,
    Department,
    Member,
    Staff,
)
from models.qr import ContactPointDaily, QrCode, QrKind
from models.timeutil import now
from models.topics import ConsultationTopic, Opinion, OpinionStatus
from models.tracking import LOCAL_TZ
from tests.harness import Stack
from tests.mini_client import Answer, call, signed_in

fill_marks = importlib.import_module("models.migrations.0037_member_record_marks").upgrade
WEEK = date(2026, 10, 5)  # a Monday: the planted week
_codes = itertools.count(1)


def at(day: date, hour: int = 12) -> datetime:
    """Beijing time on `day`."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ)


async def plant(
    created: datetime,
    point: str | None = "hz-hospital-1",
    category: str | None = "health",
    state: CaseState = CaseState.RECEIVED,
    member: str | None = None,
    department: str | None = None,
    **fields: Any,
) -> Case:
    citizen, _ = await Citizen.get_or_create(openid="o-stats-citizen")
    return await Case.create(
        code=f"MS{next(_codes):011d}",
        citizen=citizen,
        contact_point=await ContactPoint.get(key=point) if point else None,
        category=await Category.get(key=category) if category else None,
        member=await Member.get(key=member) if member else None,
        department=await Department.get(key=department) if department else None,
        state=state,
        created_at=created,
        updated_at=created,
        last_citizen_message_at=created,
        **fields,
    )


async def event(case: Case, transition: str, actor: str, moment: datetime) -> None:
    """A timeline entry, and the mark the action leaves on the case for the members' record."""
    await CaseEvent.create(case=case, kind=f"state:{transition}", actor=actor, detail={}, created_at=moment)
    if transition == "accept":
        await Case.filter(id=case.id).update(accepted_at=moment)
    elif transition == "reply" and actor.startswith("member:"):
        await Case.filter(id=case.id, member_replied_at__isnull=True).update(member_replied_at=moment)


async def make_token(stack: Stack, key: str = "s-li") -> tuple[int, str, str]:
    assert stack.config is not None
    args = build_parser().parse_args(["staff", "token", key])
    out, err = io.StringIO(), io.StringIO()
    code = await run_staff(stack.config, args, out=out, err=err, init_database=False)
    return code, out.getvalue(), err.getvalue()


async def staff_token(stack: Stack) -> str:
    code, out, err = await make_token(stack)
    assert code == 0, err
    return next(word for line in out.splitlines() for word in line.split() if word.startswith("mst_"))


async def stats(stack: Stack, figure: str, token: str, **params: str) -> Answer:
    return await call(stack, "GET", f"/stats/{figure}", token=token, params=params)


async def download(stack: Stack, figure: str, token: str, **params: str) -> tuple[bytes, dict[str, str]]:
    assert stack.session is not None
    headers = {"Authorization": f"Bearer {token}"}
    async with stack.session.get(stack.url(f"/api/v1/stats/{figure}"), headers=headers, params=params) as response:
        assert response.status == 200, await response.text()
        return await response.read(), dict(response.headers)


def cells(body: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(c["place_key"], c["category_key"]): c for c in body["cells"]}


# ---- tokens -----------------------------------------------------------------------------------------


async def test_only_a_live_staff_token_opens_the_stats_routes(stack: Stack) -> None:
    assert (await call(stack, "GET", "/stats/map")).status == 401  # none
    forged = "mst_" + "Z" * 43
    assert (await stats(stack, "map", forged)).status == 401
    citizen = await signed_in(stack, "alice")
    assert citizen.token is not None
    refused = await stats(stack, "map", citizen.token)
    assert refused.status == 401
    assert refused.error["code"] == "unauthorized"

    token = await staff_token(stack)
    assert (await stats(stack, "map", token)).status == 200
    assert (await call(stack, "GET", "/me", token=token)).status == 401  # and not the other way round
    assert (await call(stack, "GET", "/me", token=citizen.token)).status == 200
    from handlers.admin.stats_tokens import token_hash
    from models.stats import StaffToken

    stored = await StaffToken.get(staff__key="s-li")
    assert stored.token_hash == token_hash(token)
    assert token not in stored.token_hash

    newer = await staff_token(stack)  # a new token revokes the one before
    assert (await stats(stack, "deadlines", token)).status == 401
    assert (await stats(stack, "deadlines", newer)).status == 200

    await Staff.filter(key="s-li").update(active=False)  # disabled (roster `active = false`)
    disabled = await stats(stack, "points", newer)
    assert disabled.status == 403
    assert disabled.error["code"] == "staff_disabled"
    code, _, err = await make_token(stack)
    assert code == 2
    assert "已停用" in err
    code, _, err = await make_token(stack, "s-nobody")
    assert code == 2
    assert "s-nobody" in err


# ---- 图谱 -------------------------------------------------------------------------------------------


async def plant_map() -> None:
    for weeks_before in range(1, 9):  # one case a week before: the baseline is 1
        await plant(at(WEEK - timedelta(weeks=weeks_before), 10))
    planted = [await plant(at(WEEK + timedelta(days=index % 7), 9 + index)) for index in range(7)]
    await planted[0].filter(id=planted[0].id).update(visit_recorded_at=at(WEEK, 20), satisfaction=1)
    await planted[1].filter(id=planted[1].id).update(visit_recorded_at=at(WEEK, 20), satisfaction=3)
    await plant(at(WEEK, 15), state=CaseState.REJECTED)  # spam: not counted
    for day in (1, 2):
        await plant(at(WEEK + timedelta(days=day)), "hz-school-1", "education")
    await plant(at(WEEK + timedelta(days=3)), None, "health", source=CaseSource.HOTLINE, district="南浔区")
    await plant(at(WEEK + timedelta(days=7)))  # the week after: outside the range


async def test_the_map_counts_cases_per_place_category_and_week_and_marks_the_hot_spot(stack: Stack) -> None:
    await plant_map()
    token = await staff_token(stack)
    answer = await stats(stack, "map", token, since="2026-10-07", until="2026-10-08")  # grows to the whole week
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["weeks"] == ["2026-10-05"]
    assert body["filters"]["since"] == "2026-10-05"
    assert body["filters"]["until"] == "2026-10-11"
    found = cells(body)
    assert set(found) == {("hz-hospital-1", "health"), ("hz-school-1", "education"), ("", "health")}
    hospital = found[("hz-hospital-1", "health")]
    assert (hospital["count"], hospital["baseline"], hospital["hot"]) == (7, 1.0, True)  # P(X>=7 | 1) < 0.001
    school = found[("hz-school-1", "education")]
    assert (school["count"], school["baseline"], school["hot"]) == (2, 0.0, False)  # fewer than 5: never hot
    hotline = found[("", "health")]
    assert (hotline["count"], hotline["hotline"], hotline["hot"]) == (1, 1, False)

    on_map = {p["key"]: p for p in body["points"]}
    assert set(on_map) == {"hz-hospital-1", "hz-school-1", "hz-ent-1"}  # the studio has no coordinates
    assert on_map["hz-hospital-1"] == {
        "key": "hz-hospital-1",
        "name": "湖州市中心医院",
        "district": "吴兴区",
        "latitude": 30.8742,
        "longitude": 120.0935,
        "cases": 7,
        "rated": 2,
        "satisfied": 1,
        "satisfaction": 0.5,
    }
    assert (on_map["hz-school-1"]["cases"], on_map["hz-ent-1"]["cases"]) == (2, 0)

    by_district = cells((await stats(stack, "map", token, since="2026-10-05", until="2026-10-11", by="district")).body)
    assert {key: (c["count"], c["hot"]) for key, c in by_district.items()} == {
        ("吴兴区", "health"): (7, True),
        ("吴兴区", "education"): (2, False),
        ("南浔区", "health"): (1, False),
    }
    two_weeks = await stats(stack, "map", token, since="2026-10-05", until="2026-10-12")
    assert two_weeks.body["weeks"] == ["2026-10-05", "2026-10-12"]
    hospital_weeks = [(c["week"], c["count"]) for c in two_weeks.body["cells"] if c["place_key"] == "hz-hospital-1"]
    assert hospital_weeks == [("2026-10-05", 7), ("2026-10-12", 1)]


async def test_the_filters_narrow_every_figure_and_a_bad_one_is_422_naming_it(stack: Stack) -> None:
    await plant_map()
    token = await staff_token(stack)
    week = {"since": "2026-10-05", "until": "2026-10-11"}
    expected = {
        "category": ("education", {("hz-school-1", "education")}),
        "point": ("hz-school-1", {("hz-school-1", "education")}),
        "district": ("南浔区", {("", "health")}),
        "source": ("hotline", {("", "health")}),
    }
    for name, (value, keys) in expected.items():
        answer = await stats(stack, "map", token, **week, **{name: value})
        assert answer.status == 200, answer.body
        assert set(cells(answer.body)) == keys, name
        assert answer.body["filters"][name] == value
    qr_only = cells((await stats(stack, "map", token, **week, source="qr")).body)
    assert set(qr_only) == {("hz-hospital-1", "health"), ("hz-school-1", "education")}
    on_map = (await stats(stack, "map", token, **week, district="南浔区")).body["points"]
    assert [p["key"] for p in on_map] == ["hz-ent-1"]
    points = (await stats(stack, "points", token, **week, point="hz-school-1")).body["totals"]
    assert [(p["point_key"], p["cases"]) for p in points] == [("hz-school-1", 2)]
    deadlines = (await stats(stack, "deadlines", token, **week, category="education")).body
    assert [w["new_cases"] for w in deadlines["weeks"]] == [2]

    bad = {
        "since": {"since": "2026-13-01"},
        "until": {"until": "yesterday"},
        "point": {"point": "no-such-point"},
        "category": {"category": "weather"},
        "source": {"source": "email"},
        "format": {"format": "pdf"},
        "by": {"by": "street"},
        "table": {"format": "csv", "table": "nothing"},
        "colour": {"colour": "red"},  # unknown: not taken for "no filter"
        "district": {"district": "吴兴\x00区"},  # PostgreSQL refuses NUL: never sent to it
    }
    for field, params in bad.items():
        answer = await stats(stack, "map", token, **params)
        assert answer.status == 422, (field, answer.body)
        assert answer.error["field"] == field
        assert answer.error["message"]
    reversed_range = await stats(stack, "points", token, since="2026-10-12", until="2026-10-01")
    assert (reversed_range.status, reversed_range.error["field"]) == (422, "since")
    too_long = await stats(stack, "deadlines", token, since="2024-01-01", until="2026-10-01")
    assert (too_long.status, too_long.error["field"]) == (422, "since")
    member = await stats(stack, "members", token, member="m-nobody")
    assert (member.status, member.error["field"]) == (422, "member")
    assert (await stats(stack, "map", token, member="m-zhang")).error["field"] == "member"  # the members' only


# ---- 时限 -------------------------------------------------------------------------------------------


async def test_deadlines_count_on_time_rates_and_list_the_overdue_with_their_holders(stack: Stack) -> None:
    day = at(WEEK, 9)
    hour = timedelta(hours=1)
    replied = {"triaged_at": day + hour, "first_replied_at": day + 30 * hour}
    await plant(
        day,
        triaged_on_time=True,
        replied_on_time=True,
        visit_sent_at=day + 80 * hour,
        visit_recorded_at=day + 90 * hour,
        satisfaction=1,
        state=CaseState.CLOSED,
        **replied,
    )
    await plant(
        day,
        triaged_on_time=False,
        replied_on_time=False,
        visit_sent_at=day + 80 * hour,
        state=CaseState.RETURN_VISIT,
        **replied,
    )
    await plant(
        day,
        triaged_at=day + hour,
        triaged_on_time=True,
        state=CaseState.ASSIGNED,
        member="m-zhang",
        reply_due_at=now() + timedelta(days=3),
    )
    await plant(day + 2 * hour, assign_due_at=at(WEEK + timedelta(days=2), 9))  # waiting for triage, overdue
    await plant(
        day,
        "hz-school-1",
        "education",
        triaged_at=day + hour,
        triaged_on_time=True,
        state=CaseState.ACCEPTED,
        member="m-wang",
        reply_due_at=at(WEEK + timedelta(days=5)),
    )
    await plant(
        day,
        triaged_at=day + hour,
        triaged_on_time=True,
        state=CaseState.TRANSFERRED,
        department="d-health",
        reply_due_at=at(WEEK + timedelta(days=7)),
    )
    token = await staff_token(stack)
    answer = await stats(stack, "deadlines", token, since="2026-10-05", until="2026-10-11")
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["promise"] == {"assign_within_hours": 48.0, "reply_within_days": 7.0, "visit_rate": 1.0}
    [week] = body["weeks"]
    assert week == {
        "week": "2026-10-05",
        "new_cases": 6,
        "triaged": 5,
        "triaged_on_time": 4,
        "triage_rate": 0.8,
        "replied": 2,
        "replied_on_time": 1,
        "reply_rate": 0.5,
        "visits_due": 2,  # the survey went out for both answered cases
        "visits_recorded": 1,
        "visit_rate": 0.5,
        "satisfied": 1,
        "satisfaction": 1.0,
    }
    per_point = {p["point_key"]: p for p in body["points"]}
    assert (per_point["hz-hospital-1"]["new_cases"], per_point["hz-school-1"]["new_cases"]) == (5, 1)
    assert per_point["hz-school-1"]["triage_rate"] == 1.0
    assert per_point["hz-school-1"]["reply_rate"] is None
    overdue = [(c["stage"], c["holder_kind"], c["holder_name"]) for c in body["overdue"]]
    assert overdue == [
        ("assign", "triage", ""),
        ("reply", "member", "王五"),
        ("reply", "department", "市卫生健康委员会"),
    ]
    assert body["overdue_total"] == 3
    assert body["overdue"][1]["point_name"] == "湖州中学"
    assert body["overdue"][1]["holder_key"] == "m-wang"
    # Overdue is now, whatever the date range; the other filters apply.
    later = await stats(stack, "deadlines", token, since="2026-11-02", until="2026-11-08", point="hz-school-1")
    assert [c["holder_name"] for c in later.body["overdue"]] == ["王五"]
    assert later.body["weeks"][0]["new_cases"] == 0
    assert later.body["weeks"][0]["triage_rate"] is None


# ---- 委员 -------------------------------------------------------------------------------------------


async def plant_members() -> None:
    october = date(2026, 10, 1)

    def on(day: int, hour: int = 12) -> datetime:
        return at(october + timedelta(days=day - 1), hour)

    zhang = "member:m-zhang"
    topic = await ConsultationTopic.create(key="park", title="停车", body="怎么停车", until=october, created_at=on(1))
    member = await Member.get(key="m-zhang")
    for day, status in ((3, OpinionStatus.PUBLISHED), (4, OpinionStatus.REJECTED)):
        await Opinion.create(topic=topic, member=member, text="多建车位", status=status, created_at=on(day))
    a1 = await plant(
        on(1),
        state=CaseState.CLOSED,
        member="m-zhang",
        assigned_at=on(2),
        reply_due_at=on(9),
        replied_at=on(4),
        visit_recorded_at=on(6),
        satisfaction=2,
    )
    await event(a1, "accept", zhang, on(2, 13))
    await event(a1, "reply", zhang, on(4))
    a2 = await plant(
        on(9),
        state=CaseState.CLOSED,
        member="m-zhang",
        assigned_at=on(10),
        reply_due_at=on(17),
        replied_at=on(20),
        visit_recorded_at=on(22),
        satisfaction=3,
    )
    await event(a2, "accept", zhang, on(11))
    await event(a2, "reply", zhang, on(20))
    await plant(on(14), state=CaseState.ASSIGNED, member="m-zhang", assigned_at=on(15), reply_due_at=on(22))
    a4 = await plant(
        on(19), state=CaseState.REPLIED, member="m-zhang", assigned_at=on(20), reply_due_at=on(27), replied_at=on(21)
    )
    await event(a4, "reply", "staff:s-li", on(21))  # answered by staff: not the member's reply
    await plant(
        on(1) - timedelta(days=5), state=CaseState.CLOSED, member="m-zhang", assigned_at=on(1) - timedelta(days=3)
    )
    b1 = await plant(
        on(4),
        "hz-school-1",
        "education",
        state=CaseState.ACCEPTED,
        member="m-wang",
        assigned_at=on(5),
        reply_due_at=on(12),
    )
    await event(b1, "accept", "member:m-wang", on(5, 14))


ZHANG_OCTOBER = {
    "member_key": "m-zhang",
    "member_name": "张三",
    "assigned": 4,
    "accepted": 2,
    "replied": 2,
    "replied_on_time": 1,
    "avg_days_to_reply": 6.0,  # 2 days and 10 days
    "rated": 2,
    "satisfied": 1,
    "satisfaction": 0.5,
    "opinions": 1,  # given in a topic; the refused one is not counted
}


async def test_the_members_record_counts_per_month_what_each_member_did(stack: Stack) -> None:
    await plant_members()
    token = await staff_token(stack)
    answer = await stats(stack, "members", token, since="2026-09-01", until="2026-10-31")
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["months"] == ["2026-09", "2026-10"]
    rows = {(r["member_key"], r["month"]): r for r in body["rows"]}
    assert len(rows) == 3 * 2  # every active member, every month, zeros included
    assert rows[("m-zhang", "2026-10")] == {**ZHANG_OCTOBER, "month": "2026-10"}
    assert rows[("m-zhang", "2026-09")]["assigned"] == 1
    wang = rows[("m-wang", "2026-10")]
    assert (wang["assigned"], wang["accepted"], wang["replied"], wang["avg_days_to_reply"]) == (1, 1, 0, None)
    assert rows[("m-zhao", "2026-10")]["assigned"] == 0
    totals = {m["member_key"]: m for m in body["members"]}
    assert (totals["m-zhang"]["assigned"], totals["m-zhang"]["open_cases"]) == (5, 1)
    assert (totals["m-wang"]["open_cases"], totals["m-zhao"]["open_cases"]) == (1, 0)
    assert "open_cases" not in body

    # A database of an earlier release: the marks are made from the timeline by migration 0037.
    await Case.all().update(accepted_at=None, member_replied_at=None)
    await fill_marks(Tortoise.get_connection("default"), Tortoise.get_connection("default").capabilities.dialect)
    again = await stats(stack, "members", token, since="2026-09-01", until="2026-10-31")
    assert again.body == body

    one = (await stats(stack, "members", token, since="2026-10-01", until="2026-10-31", member="m-zhang")).body
    assert [m["member_key"] for m in one["members"]] == ["m-zhang"]
    assert [(c["state"], c["overdue"]) for c in one["open_cases"]] == [("assigned", True)]
    assert one["open_cases"][0]["reply_due_at"].startswith("2026-10-22T04:00:00")  # 12:00 Beijing, in UTC


async def test_report_members_writes_the_month_as_csv_and_xlsx(stack: Stack, tmp_path: Path) -> None:
    await plant_members()
    assert stack.config is not None

    async def report(*argv: str) -> tuple[int, str]:
        args = build_parser().parse_args(["report", "members", *argv])
        out = io.StringIO()
        code = await run_report(stack.config, args, out=out, init_database=False)  # type: ignore[arg-type]
        return code, out.getvalue()

    code, out = await report("--month", "2026-10")
    assert code == 0
    lines = list(csv.reader(io.StringIO(out)))
    assert lines[0][:4] == ["委员代码", "委员", "交办", "接收"]
    zhang = dict(zip(lines[0], next(line for line in lines if line[0] == "m-zhang"), strict=True))
    assert (zhang["交办"], zhang["接收"], zhang["已答复"], zhang["按时答复（1 周内）"]) == ("4", "2", "2", "1")
    assert (zhang["平均答复天数"], zhang["满意率"], zhang["在办件"]) == ("6.0", "0.5", "1")
    assert zhang["议题意见（条）"] == "1"  # opinions given in 码上商量 topics
    assert len(lines) == 1 + 3

    path = tmp_path / "members.xlsx"
    code, out = await report("--month", "2026-10", "--format", "xlsx", "--out", str(path))
    assert code == 0
    assert str(path) in out
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = book["委员合计"]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["委员代码", "委员", "交办"]
    assert next(row for row in values if row[0] == "m-zhang")[2:6] == [4, 2, 2, 1]
    assert dict((row[0], row[1]) for row in book["筛选条件"].iter_rows(values_only=True))["日期范围（北京时间）"] == (
        "2026-10-01 至 2026-10-31"
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "members", "--month", "2026-13"])


# ---- 联系点 -----------------------------------------------------------------------------------------


async def test_points_count_scans_followers_cases_and_list_their_codes(stack: Stack) -> None:
    for day, scans, followers in ((WEEK, 10, 3), (WEEK + timedelta(days=6), 5, 1), (WEEK + timedelta(days=7), 7, 0)):
        await ContactPointDaily.create(point_key="hz-hospital-1", day=day, scans=scans, new_followers=followers)
    await ContactPointDaily.create(point_key="hz-school-1", day=WEEK - timedelta(days=1), scans=99)  # before
    await plant(at(WEEK), visit_recorded_at=at(WEEK, 20), satisfaction=2)
    await plant(at(WEEK + timedelta(days=2)))
    await plant(at(WEEK + timedelta(days=2)), state=CaseState.REJECTED)
    hospital = await ContactPoint.get(key="hz-hospital-1")
    await QrCode.create(
        contact_point=hospital,
        kind=QrKind.OA,
        scene="cp:hz-hospital-1",
        slot="oa:hz-hospital-1",
        url="http://weixin.qq.com/q/x",
        created_at=now(),
    )
    token = await staff_token(stack)
    answer = await stats(stack, "points", token, since="2026-10-05", until="2026-10-18")
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["weeks_counted"] == ["2026-10-05", "2026-10-12"]
    weeks = {(w["point_key"], w["week"]): w for w in body["weeks"]}
    assert len(weeks) == 4 * 2  # every point of the roster, every week
    first = weeks[("hz-hospital-1", "2026-10-05")]
    assert (first["scans"], first["new_followers"], first["cases"], first["rated"], first["satisfaction"]) == (
        15,
        4,
        2,
        1,
        1.0,
    )
    assert (weeks[("hz-hospital-1", "2026-10-12")]["scans"], weeks[("hz-school-1", "2026-10-05")]["scans"]) == (7, 0)
    totals = {t["point_key"]: t for t in body["totals"]}
    assert (totals["hz-hospital-1"]["scans"], totals["hz-hospital-1"]["cases"], totals["hz-hospital-1"]["codes"]) == (
        22,
        2,
        1,
    )
    assert totals["hz-ent-1"]["codes"] == 0
    [code] = body["codes"]
    assert (code["point_key"], code["kind_name"], code["url"], code["revoked"]) == (
        "hz-hospital-1",
        "公众号永久码",
        "http://weixin.qq.com/q/x",
        False,
    )


# ---- exports ------------------------------------------------------------------------------------------


async def test_every_figure_exports_as_csv_with_a_bom_and_as_xlsx_with_the_filters_applied(stack: Stack) -> None:
    await plant_map()
    token = await staff_token(stack)
    week = {"since": "2026-10-05", "until": "2026-10-11", "source": "qr"}
    raw, headers = await download(stack, "map", token, **week, format="csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with it
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == 'attachment; filename="stats-map-cells-2026-10-05-2026-10-11.csv"'
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == [
        "联系点或区县代码",
        "联系点或区县",
        "区县",
        "类别代码",
        "类别",
        "周（周一）",
        "件数",
        "其中 12345 热线",
        "前 8 周平均（件）",
        "热点",
    ]
    assert lines[1:] == [
        ["hz-hospital-1", "湖州市中心医院", "吴兴区", "health", "医疗卫生", "2026-10-05", "7", "0", "1.0", "是"],
        ["hz-school-1", "湖州中学", "吴兴区", "education", "教育", "2026-10-05", "2", "0", "0.0", "否"],
    ]  # source=qr: the hotline's case is left out
    raw, _ = await download(stack, "map", token, **week, format="csv", table="points")
    points = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert points[0][:2] == ["代码", "名称"]
    assert [row[0] for row in points[1:]] == ["hz-ent-1", "hz-hospital-1", "hz-school-1"]  # by key
    assert points[2][5] == "7"  # 件数

    raw, headers = await download(stack, "map", token, **week, format="xlsx")
    assert headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)
    assert book.sheetnames == ["筛选条件", "热力图（联系点或区县 × 类别 × 周）", "联系点"]
    filters = {row[0]: row[1] for row in book["筛选条件"].iter_rows(values_only=True)}
    assert filters["来源"] == "扫码"
    assert filters["日期范围（北京时间）"] == "2026-10-05 至 2026-10-11"
    sheet = [list(row) for row in book["热力图（联系点或区县 × 类别 × 周）"].iter_rows(values_only=True)]
    assert sheet[1] == ["hz-hospital-1", "湖州市中心医院", "吴兴区", "health", "医疗卫生", "2026-10-05", 7, 0, 1, "是"]
    for figure, first_sheet in (("deadlines", "每周"), ("members", "委员每月"), ("points", "每周")):
        raw, _ = await download(stack, figure, token, format="xlsx")
        assert openpyxl.load_workbook(io.BytesIO(raw), read_only=True).sheetnames[1] == first_sheet
        raw, _ = await download(stack, figure, token, format="csv")
        assert raw.startswith(b"\xef\xbb\xbf")


async def test_a_text_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(stack: Stack) -> None:
    await ContactPoint.filter(key="hz-ent-1").update(name='=HYPERLINK("http://evil","x")')
    token = await staff_token(stack)
    raw, _ = await download(stack, "points", token, format="csv", table="totals")
    names = [row[1] for row in csv.reader(io.StringIO(raw.decode("utf-8-sig")))]
    assert '\'=HYPERLINK("http://evil","x")' in names


async def test_the_members_record_follows_what_members_do_in_the_chat(stack: Stack) -> None:
    from tests.test_triage_and_members import new_case, say

    case = await new_case(stack, "o-stats-chat", "医院门口停车太难了")
    await say(stack, "lisi", f"派 {case.code} 王五")
    await say(stack, "lisi", f"派 {case.code} 张三")  # handed on before 王五 did anything
    assert "已接收" in await say(stack, "zhangsan", f"收 {case.code}")
    await say(stack, "zhangsan", f"答 {case.code} 已协调增设停车位")
    token = await staff_token(stack)
    month = now().astimezone(LOCAL_TZ).date().replace(day=1).isoformat()
    body = (await stats(stack, "members", token, since=month)).body
    totals = {m["member_key"]: m for m in body["members"]}
    zhang = totals["m-zhang"]
    assert (zhang["assigned"], zhang["accepted"], zhang["replied"], zhang["replied_on_time"]) == (1, 1, 1, 1)
    assert 0 <= zhang["avg_days_to_reply"] < 0.01
    assert totals["m-wang"]["assigned"] == 0  # the case counts for the member who holds it last
