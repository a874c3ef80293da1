"""What citizens are promised follows the configured service levels, not fixed text."""

from __future__ import annotations

from handlers.settings import Settings
from handlers.texts import citizen as texts
from models.sla import SlaPolicy


def settings_with(assign: str, reply: str, calendar: str = "natural", window_s: float = 600.0) -> Settings:
    sla = SlaPolicy.from_values(
        assign_within=assign,
        reply_within=reply,
        urgent_factor=0.5,
        remind_at=0.75,
        return_visit_after="1d",
        return_visit_timeout="3d",
        calendar=calendar,
    )
    return Settings(sla=sla, group_window_s=window_s)


def test_the_default_promise_is_the_committees_rule() -> None:
    received = texts.case_received("MS26113000017", "湖州市中心医院", Settings())
    assert "MS26113000017" in received
    assert "湖州市中心医院" in received
    assert "我们将在2天内交办、1周内答复。" in received
    assert "10分钟内直接继续发送" in received


def test_a_committee_with_other_service_levels_promises_those() -> None:
    settings = settings_with("3d", "10d", calendar="workdays", window_s=300)
    received = texts.case_received("MS26113000017", None, settings)
    assert "我们将在3个工作日内交办、10个工作日内答复。" in received
    assert "5分钟内直接继续发送" in received
    assert "2天" not in texts.greeting_general(settings)
    assert "3个工作日内交办" in texts.greeting_for_contact_point("湖州市第一中学", settings)
    hours = settings_with("12h", "14d")
    assert "12小时内交办、2周内答复" in texts.greeting_general(hours)


def test_a_status_without_a_contact_point_keeps_the_code_apart_from_the_text() -> None:
    from datetime import UTC, datetime

    created = datetime(2026, 11, 30, 2, 5, tzinfo=UTC)
    status = texts.case_status("MS26113000022", "已受理", None, None, created)
    assert status.startswith("编号 MS26113000022 于11月30日 10:05受理，当前状态：已受理。")
    placed = texts.case_status("MS26113000022", "已受理", "湖州市中心医院", None, created)
    assert placed.startswith("编号 MS26113000022（湖州市中心医院）于11月30日 10:05受理")
    # Written as deadlines are ("12月1日", not "12月01日"): one way to write a date in every message.
    early = texts.case_status("MS26120100019", "已受理", None, None, datetime(2026, 11, 30, 16, 33, tzinfo=UTC))
    assert "于12月1日 00:33受理" in early
