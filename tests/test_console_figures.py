"""The console's figure pages over HTTP (图谱, 时限, 委员, 联系点): on planted cases each page shows the
numbers a person counts by hand, every number leads to the cases behind it, the exports hold the same
rows, a code and its poster download, and a bad filter is named on the page instead of failing it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import openpyxl
import pytest

from models.entities import CaseState, ContactPoint
from models.qr import QrCode, QrKind
from models.timeutil import now
from tests.console_client import ConsoleClient
from tests.harness import Stack
from tests.test_stats_api import WEEK, at, plant
from tests.test_triage_and_members import new_case, say

RANGE = f"since={WEEK}&until={WEEK + timedelta(days=6)}"


def heat_row(page: str, point_key: str) -> str:
    match = re.search(rf'<tr><th scope="row"><a href="/console/points/{point_key}">.*?</tr>', page, re.S)
    assert match, page[page.find('id="heat"') :][:2000]
    return match.group(0)


def links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]


def table(page: str, name: str) -> str:
    start = page.index(f'id="table-{name}"')
    return page[start : page.index("</section>", start)]


async def test_the_map_marks_the_hot_spot_and_each_cell_opens_its_cases(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    hot = [await plant(at(WEEK + timedelta(days=1), 8 + hour)) for hour in range(6)]  # none the 8 weeks before
    school = await plant(at(WEEK + timedelta(days=2)), "hz-school-1", "education")
    await browser.login("s-zhou")  # a viewer reads every figure
    status, page = await browser.get(f"/console/map?{RANGE}")
    assert status == 200
    row = heat_row(page, "hz-hospital-1")
    assert "湖州市中心医院" in row
    assert '<td class="heat heat-5 hot">' in row
    assert "6 ▲" in row
    assert "1 ▲" not in heat_row(page, "hz-school-1")
    hot_spots = table(page, "hot")
    assert "医疗卫生" in hot_spots
    assert "湖州市中心医院" in hot_spots
    assert ">6<" in hot_spots
    # The cell opens the list of exactly those cases.
    cell = next(href for href in links(row) if href.startswith("/console/cases?"))
    status, listed = await browser.get(cell)
    assert status == 200
    assert all(case.code in listed for case in hot)
    assert school.code not in listed
    # The weekly chart counts both points' cases, with its axis titles in Chinese.
    assert "件数（件）" in page
    assert "10-05 件数：7" in page
    # The points with coordinates (the example roster gives them) are drawn and listed.
    assert '<svg class="chart map"' in page
    assert "湖州市中心医院：6 件" in page


async def test_the_map_by_district_and_a_bad_filter_named_on_the_page(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    await plant(at(WEEK + timedelta(days=1)), "hz-ent-1", "health")
    await browser.login("s-li")
    status, page = await browser.get(f"/console/map?{RANGE}&by=district")
    assert status == 200
    assert "南浔区" in page[page.index('id="heat"') :]
    for query, named in (("since=2026-13-01", "从："), ("point=nowhere", "联系点："), ("district=吴兴%00区", "区县：")):
        status, page = await browser.get(f"/console/map?{query}")
        assert status == 200, page
        assert '<p class="error" role="alert">' + named in page
    status, page = await browser.get("/console/map?by=street")
    assert "只能选联系点或区县" in page


async def test_deadlines_show_the_promise_and_who_holds_each_overdue_case(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    stack = console_stack
    on_time = await new_case(stack, "o-f1", "小区路灯不亮")
    await say(stack, "lisi", f"派 {on_time.code} 张三")
    assigned_late = await new_case(stack, "o-f6", "公交站台缺少遮雨棚")
    late = await new_case(stack, "o-f2", "医院门口停车难")
    assert stack.clock is not None
    stack.clock.advance(timedelta(days=3).total_seconds())  # past the 2 days for assigning
    await say(stack, "lisi", f"派 {assigned_late.code} 张三")
    await browser.login("s-li")
    status, page = await browser.get("/console/deadlines")
    assert status == 200
    assert "2 天内交办、7 天内答复、答复的件 100% 回访" in page
    overdue = table(page, "overdue")
    assert late.code in overdue
    assert on_time.code not in overdue
    assert f"/console/cases/{late.code}" in links(overdue)
    weeks = table(page, "weeks")
    assert "50.0%" in weeks  # of the two assigned, one in time
    assert "承诺 100%" in page  # the promise drawn on the chart
    # The overdue list exports with the page's filters.
    csv_link = next(href for href in links(overdue) if "format=csv" in href)
    async with browser.http.get(stack.url(csv_link)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0][0] == "编号"
    assert [row[0] for row in rows[1:]] == [late.code]


async def test_members_record_and_one_members_portrait(console_stack: Stack, browser: ConsoleClient) -> None:
    stack = console_stack
    case = await new_case(stack, "o-f3", "校门口早高峰拥堵")
    await say(stack, "lisi", f"派 {case.code} 张三")
    await say(stack, "zhangsan", f"收 {case.code}")
    still_open = await new_case(stack, "o-f4", "路面坑洼")
    await say(stack, "lisi", f"派 {still_open.code} 张三")
    await say(stack, "zhangsan", f"答 {case.code} 已协调交警早高峰疏导")
    await stack.run_jobs()
    await browser.login("s-zhou")
    status, page = await browser.get("/console/members")
    assert status == 200
    members = table(page, "members")
    row = next(r for r in members.split("<tr>") if "张三" in r)
    cells = re.findall(r"<td[^>]*>(?:<a [^>]*>)?([^<]*)", row)
    assert cells[:4] == ["张三", "2", "1", "1"]  # assigned, accepted, replied
    portrait = next(href for href in links(row) if href.startswith("/console/members/m-zhang"))
    status, page = await browser.get(portrait)
    assert status == 200
    assert "张三 · 履职画像" in page
    open_cases = table(page, "open_cases")
    assert still_open.code in open_cases
    assert case.code not in open_cases
    assert '<svg class="chart"' in page
    status, page = await browser.get("/console/members/m-nobody")
    assert status == 404
    status, page = await browser.get("/console/members/m%00x")
    assert status == 404


async def test_points_list_every_point_and_a_points_code_and_poster_download(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    stack = console_stack
    await new_case(stack, "o-f5", "医院挂号排队太久")
    point = await ContactPoint.get(key="hz-hospital-1")
    await QrCode.create(
        contact_point=point, kind=QrKind.OA, scene="cp:hz-hospital-1", url="http://weixin.qq.com/q/x", created_at=now()
    )
    await browser.login("s-li")
    status, page = await browser.get("/console/points")
    assert status == 200
    totals = table(page, "totals")
    for name in ("湖州市中心医院", "湖州中学", "湖州丝绸产业园"):  # a point that brings nothing in is listed too
        assert name in totals
    status, page = await browser.get("/console/points/hz-hospital-1")
    assert status == 200
    codes = table(page, "codes")
    downloads = [href for href in links(codes) if ".png?scene=cp%3Ahz-hospital-1" in href]
    assert len(downloads) == 2
    for href in downloads:
        async with browser.http.get(stack.url(href)) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert (await response.read()).startswith(b"\x89PNG")
    status, _ = await browser.get("/console/points/hz-hospital-1/code.png?scene=cp%3Aelsewhere")
    assert status == 404
    # The whole page exports as one workbook: a sheet of the filters, then one per table.
    xlsx = next(href for href in links(page) if "format=xlsx" in href)
    async with browser.http.get(stack.url(xlsx)) as response:
        assert response.status == 200
        book = openpyxl.load_workbook(io.BytesIO(await response.read()))
    assert len(book.sheetnames) >= 3


@pytest.mark.parametrize("path", ["map", "deadlines", "members", "points"])
async def test_a_figure_page_escapes_what_a_roster_or_citizen_wrote(
    console_stack: Stack, browser: ConsoleClient, path: str
) -> None:
    await ContactPoint.filter(key="hz-hospital-1").update(name="<script>alert(1)</script>医院")
    await plant(at(now().date()), "hz-hospital-1", "health", state=CaseState.RECEIVED)
    await browser.login("s-li")
    status, page = await browser.get(f"/console/{path}")
    assert status == 200
    assert "<script>alert(1)" not in page
