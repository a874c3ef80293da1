"""Hot spots (handlers/reports/hotspots.py): the Poisson tail, a hot spot planted in generated data is
found (by district and by contact point, with its count, baseline and hotline share), a flat week finds
none, fewer than 5 cases are never one; `mashang report hotspots` and `统计 热点` in the staff chat."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from bot.cli.main import build_parser
from bot.cli.report import run_report
from bot.config import Config, build_config
from handlers.admin.roster import import_roster
from handlers.reports.hotspots import BY_DISTRICT, BY_POINT, find_hotspots, poisson_upper_tail
from models.entities import Case, CaseState, Category, Citizen, ContactPoint
from models.timeutil import now
from tests.harness import ROSTER, Stack
from tests.hotline_files import beijing, order, write_csv, write_mapping
from tests.test_hotline_import import hotline, say

CATEGORIES = {"transport": "交通出行", "health": "医疗卫生", "education": "教育"}  # mapping.toml's values
DISTRICTS = ("吴兴区", "南浔区", "德清县")
FLAT = 6  # cases a week for every category and district


def test_the_poisson_upper_tail() -> None:
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert poisson_upper_tail(1, 2.0) == pytest.approx(1 - math.exp(-2))
    lower = math.exp(-1) * (1 + 1 + 1 / 2 + 1 / 6 + 1 / 24)
    assert poisson_upper_tail(5, 1.0) == pytest.approx(1 - lower)  # 0.00366
    assert poisson_upper_tail(5, 0.0) == 0.0  # nothing before: anything now is new
    exact = math.exp(-6) * float(sum(Fraction(6**k, math.factorial(k)) for k in range(20, 120)))
    assert poisson_upper_tail(20, 6.0) == pytest.approx(exact, rel=1e-9)
    # Large means: both ways of summing agree around the mean, and the tail keeps falling.
    assert poisson_upper_tail(901, 900.0) == pytest.approx(poisson_upper_tail(901, 900.0 - 1e-9), rel=1e-6)
    tails = [poisson_upper_tail(x, 900.0) for x in (850, 900, 950, 1000, 1100)]
    assert tails == sorted(tails, reverse=True)
    assert 0 < tails[-1] < 1e-9


def weekly_rows(moment: datetime, counts: dict[tuple[str, str], list[int]], prefix: str = "W") -> list[list[str]]:
    """Hotline rows: counts[(category, district)][period] cases in period 0 (the last 7 days), 1, 2, …,
    each an hour or more inside its period."""
    rows = []
    for (category, district), periods in counts.items():
        for period, count in enumerate(periods):
            for index in range(count):
                received = moment - timedelta(days=7 * period + 1, minutes=5 * index + 60)
                number = f"{prefix}-{category}-{district}-{period}-{index}"
                rows.append(order(number, beijing(received), "反映问题", district, CATEGORIES[category]))
    return rows


def flat(weeks: int = 8) -> dict[tuple[str, str], list[int]]:
    return {(category, district): [FLAT] * (weeks + 1) for category in CATEGORIES for district in DISTRICTS}


async def qr_cases(point_key: str, category_key: str, count: int, moment: datetime) -> None:
    """QR cases scanned at a contact point in the last 7 days (district: the point's)."""
    citizen, _ = await Citizen.get_or_create(openid="o-hotspot-citizen")
    point = await ContactPoint.get(key=point_key)
    category = await Category.get(key=category_key)
    for index in range(count):
        at = moment - timedelta(hours=2 + index)
        await Case.create(
            code=f"QR{point_key}{index}",
            citizen=citizen,
            contact_point=point,
            category=category,
            state=CaseState.RECEIVED,
            created_at=at,
            updated_at=at,
            last_citizen_message_at=at,
        )


@pytest.fixture
async def config(db: None, database_url: str) -> Config:
    await import_roster(ROSTER)
    return build_config({"database": {"url": database_url}}, environ={})


async def test_a_planted_hot_spot_is_found_and_a_flat_week_finds_none(config: Config, tmp_path: Path) -> None:
    moment = now()
    mapping = write_mapping(tmp_path)
    code, _, err = await hotline(
        config, write_csv(tmp_path / "flat.csv", weekly_rows(moment, flat())), "--mapping", mapping
    )
    assert code == 0, err
    report = await find_hotspots(moment)
    assert report.hotspots == []  # every place as busy as in its 8 weeks before
    assert report.total == FLAT * 9
    assert report.hotline_total == FLAT * 9
    assert report.tested == 9

    # Planted: 14 more hotline cases about traffic in 吴兴区, and 6 QR cases scanned at 湖州中学 (吴兴区).
    planted = {("transport", "吴兴区"): [14]}
    rows = weekly_rows(moment, planted, prefix="P")
    code, _, err = await hotline(config, write_csv(tmp_path / "planted.csv", rows), "--mapping", mapping)
    assert code == 0, err
    await qr_cases("hz-school-1", "transport", 6, moment)
    # Fewer than 5 cases are never a hot spot, even where there were none before.
    await qr_cases("hz-ent-1", "economy", 4, moment)

    report = await find_hotspots(moment)
    by_kind = {spot.kind: spot for spot in report.hotspots}
    assert len(report.hotspots) == 2, report.hotspots
    district = by_kind[BY_DISTRICT]
    assert (district.category_key, district.district) == ("transport", "吴兴区")
    assert district.count == FLAT + 14 + 6
    assert district.baseline == FLAT
    assert district.weekly == (FLAT,) * 8
    assert district.hotline == FLAT + 14
    assert district.hotline_share == pytest.approx(20 / 26)
    assert district.p_value == pytest.approx(poisson_upper_tail(26, FLAT))
    point = by_kind[BY_POINT]
    assert (point.point_key, point.point_name, point.district) == ("hz-school-1", "湖州中学", "吴兴区")
    assert (point.count, point.baseline, point.hotline) == (6, 0.0, 0)
    assert [spot.kind for spot in report.hotspots] == [BY_POINT, BY_DISTRICT]  # the smaller p first
    assert report.total == FLAT * 9 + 14 + 6 + 4
    assert report.hotline_total == FLAT * 9 + 14

    # --weeks: against the 4 weeks before.
    args = build_parser().parse_args(["report", "hotspots", "--weeks", "4"])
    out = io.StringIO()
    assert await run_report(config, args, out=out, init_database=False) == 0
    text = out.getvalue()
    assert "2. 交通出行 · 吴兴区：本周 26 件，前 4 周平均 6.0 件/周，约为平时的 4.3 倍；热线占 77%（20 件）" in text
    assert (
        "交通出行 · 湖州中学（联系点，吴兴区）：本周 6 件，前 4 周平均 0.0 件/周，此前没有；热线占 0%（0 件）" in text
    )
    assert "泊松分布上尾检验" in text
    assert "前 4 周" in text
    assert "营商环境" not in text


async def test_the_report_command_refuses_a_bad_number_of_weeks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["report", "hotspots", "--weeks", "0"])
    assert exit_info.value.code == 2
    assert "应在 1 到 52 之间" in capsys.readouterr().err


async def test_hotspots_in_the_triage_group(stack: Stack, tmp_path: Path) -> None:
    assert stack.config is not None
    moment = now()
    counts = flat()
    counts[("health", "南浔区")] = [FLAT + 15] + [FLAT] * 8
    rows = weekly_rows(moment, counts)
    code, _, err = await hotline(
        stack.config, write_csv(tmp_path / "h.csv", rows), "--mapping", write_mapping(tmp_path)
    )
    assert code == 0, err
    answer = await say(stack, "lisi", "统计 热点")
    assert answer.startswith("热点（")  # single chat: the markdown marks are taken off
    assert f"本周共 {FLAT * 9 + 15} 件，其中 12345 热线 {FLAT * 9 + 15} 件" in answer
    assert "1. 医疗卫生 · 南浔区：本周 21 件，前 8 周平均 6.0 件/周，约为平时的 3.5 倍；热线占 100%（21 件）" in answer
    assert "2." not in answer
    assert "泊松分布上尾检验" in answer
    assert "P(X≥x) 小于 0.001" in answer
    assert "本周不少于 5 件" in answer
    assert "统计 [委员|热点]" in await say(stack, "lisi", "帮助")
    # 统计 with a member's name still is that member's figures.
    assert "委员张三" in await say(stack, "lisi", "统计 张三")


async def test_a_quiet_week_in_the_triage_group(stack: Stack) -> None:
    answer = await say(stack, "lisi", "统计 热点")
    assert "本周共 0 件" in answer
    assert "没有热点" in answer
